"""The quickstart, run top to bottom as `make demo` runs it, answers its own questions right.

The notebook's answers come from the default model (SmolLM2 with coassist's adapter); what they
must say is checked in `quickstart_facts`. Run here rather than by nbmake, so that its outputs
can be read.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from coassist.demo import QUICKSTART
from tests.quickstart_facts import check_quickstart

pytestmark = pytest.mark.slow


def test_the_quickstart_answers_its_questions_right() -> None:
    notebook = nbformat.read(QUICKSTART, as_version=4)
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(QUICKSTART.parent)}}).execute()
    check_quickstart(notebook)
