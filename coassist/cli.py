"""The `coassist` command: each subcommand lives next to the layer it drives."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn


class _Parser(argparse.ArgumentParser):
    """argparse, but a malformed command line is bad input like any other: exit 1, not 2.

    Exit 2 is kept for "the input is fine but no plan exists", so scripts can tell them apart.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="coassist", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    # Each layer registers its own subcommands (one import line per layer).
    from coassist.agent.cli import add_agent_command
    from coassist.agent.status_cli import add_status_command
    from coassist.demo import add_demo_command
    from coassist.eval.cli import add_eval_command
    from coassist.plan.cli import add_allocate_command
    from coassist.train.cli import add_train_commands

    add_agent_command(subcommands)
    add_demo_command(subcommands)
    add_eval_command(subcommands)
    add_allocate_command(subcommands)
    add_train_commands(subcommands)
    add_status_command(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; every CLI shares this exit policy.

    0: done; 1: bad input, the command line included (the message on stderr says what to fix, no
    traceback); 2: "no plan exists" (`allocate`); 130: interrupted.
    """
    from coassist.errors import CoassistError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CoassistError as error:
        print(f"coassist {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"coassist {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
