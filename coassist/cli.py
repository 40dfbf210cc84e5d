"""The `coassist` command: each subcommand lives next to the layer it drives."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coassist", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    # Each layer registers its own subcommands (one import line per layer).
    from coassist.demo import add_demo_command
    from coassist.plan.cli import add_allocate_command
    from coassist.train.cli import add_train_commands

    add_demo_command(subcommands)
    add_allocate_command(subcommands)
    add_train_commands(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
