"""`python -m coassist`: the `coassist` command, for environments without its script on PATH."""

import sys

from coassist.cli import main

sys.exit(main())
