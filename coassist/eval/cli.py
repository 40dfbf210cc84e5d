"""`coassist eval`: run the evaluation sets against one or more models and print the table.

Exit status: 0 when every task ran; 1 for bad input (a flag's value, the team data, the router
directory), with one line on stderr naming the flag; 130 when Ctrl-C stopped it (the table and
the JSON still cover the tasks that finished).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from coassist.errors import InvalidOption, InvalidSetting


def add_eval_command(subparsers: Any) -> None:
    """Register `eval` on the `coassist` command's subparsers."""
    from coassist.eval import DEFAULT_SETS, EVAL_SETS
    from coassist.llm.chat import BATCH_WIDTH

    parser = subparsers.add_parser(
        "eval",
        help="measure pass rates, looping and speed of assistant models",
        description="Answer the evaluation sets with each model (greedy, one answer per task) and print "
        "pass rates with 95%% intervals, degenerate and cut-off rates, time to first token and tok/s.",
    )
    parser.add_argument(
        "--model", action="append", required=True, metavar="SPEC",
        help="model spec (smollm2, a model or adapter directory, openai:URL#model); repeat to compare",
    )
    parser.add_argument(
        "--sets", default=",".join(DEFAULT_SETS),
        help=f"comma-separated sets from {', '.join(EVAL_SETS)} (default: %(default)s)",
    )
    parser.add_argument("--limit", default=None, metavar="N", help="only the first N tasks of each set")
    parser.add_argument(
        "--batch-size", default=None, metavar="N",
        help=f"answer up to N tasks at once (default: {BATCH_WIDTH}); 1 answers each alone",
    )
    parser.add_argument("--team-data", type=Path, default=None, metavar="FILE", help="SFT JSONL of reviewed drafts (team set)")
    parser.add_argument("--router", type=Path, default=None, metavar="DIR", help="router directory: notes its mean p_pass on the team set")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N' (default: auto)")
    parser.add_argument("--dtype", default="auto", help="'auto' or a dtype such as float32 or bfloat16, as Assist.dtype (default: auto)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write summaries and every answer as JSON")
    parser.add_argument("--verbose", action="store_true", help="print each failed task and why it failed")
    parser.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from coassist.eval import evaluate
    from coassist.llm.chat import BATCH_WIDTH

    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    limit = _whole_number("--limit", args.limit)
    batch_size = _whole_number("--batch-size", args.batch_size) or BATCH_WIDTH
    _check_device(args.device, args.dtype)
    if args.json is not None:
        _check_writable(args.json)
    report = evaluate(
        args.model, sets, limit=limit, team_data=args.team_data, router=args.router,  # type: ignore[arg-type]
        device=args.device, dtype=args.dtype, batch_size=batch_size,
    )
    if args.verbose:
        for result in report.results:
            if not result.passed:
                reason = result.detail.strip().splitlines()[-1] if result.detail.strip() else "failed"
                print(f"FAIL {result.model} {result.task_id}: {reason}")
        print()
    print(report)
    if args.json is not None:
        report.write_json(args.json)
    return 130 if report.interrupted else 0


def _whole_number(flag: str, text: str | None) -> int | None:
    """The flag's value as a whole number >= 1; None when it was not given."""
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        raise InvalidOption(flag, f"must be a whole number >= 1, got {text!r}") from None
    if number < 1:
        raise InvalidOption(flag, f"must be a whole number >= 1, got {number}")
    return number


def _check_device(device: str, dtype: str) -> None:
    """Refuse a bad --device or --dtype before the tasks load, under the flag's own name."""
    from coassist.llm.device import resolve_device, resolve_dtype

    try:
        resolve_dtype(dtype, resolve_device(device))
    except InvalidSetting as error:
        raise InvalidOption(f"--{error.option}", str(error).removeprefix(f"{error.option}: ")) from None


def _check_writable(path: Path) -> None:
    """Refuse an unusable --json before any model loads, not after an hour of answers."""
    if path.is_dir():
        raise InvalidOption("--json", f"{path} is a directory; pass a file path such as eval.json")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidOption("--json", f"the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidOption("--json", f"{path} cannot be written (permission denied)")
