"""`coassist allocate`: plan a team's subtasks from CSV/YAML tables, write plan.csv.

Exit status: 0 with a plan, 1 when the input tables are invalid, 2 when no plan exists
(the explanation goes to stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from coassist.errors import CyclicPlan, InfeasiblePlan, InvalidOption, InvalidTaskTable


def add_allocate_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `allocate` on the `coassist` command's subparsers."""
    parser = subparsers.add_parser(
        "allocate",
        help="assign subtasks to people and AI workers at least cost, and schedule them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tasks",
        required=True,
        help="tasks table (.csv, .yaml): id, skill, human_hours, "
        "ai_hours, review_hours, p_pass, depends_on (';'-separated), [title]",
    )
    parser.add_argument(
        "--workers",
        required=True,
        help="workers table (.csv, .yaml): id, kind (human|ai), "
        "skills (';'-separated, '*' = any), capacity_hours, cost_per_hour",
    )
    parser.add_argument(
        "--out", required=True, help="where to write the plan (CSV: subtask, worker, role, start, end, ...)"
    )
    parser.add_argument(
        "--relax", action="store_true", help="solve the LP relaxation and report shadow prices"
    )
    parser.add_argument(
        "--gap", type=float, default=1e-4, help="relative MIP gap that counts as optimal (default 1e-4)"
    )
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds for the solve (default 60)")
    parser.add_argument("--gantt", help="also draw a Gantt chart to this image file (.png, .svg, .pdf)")
    parser.set_defaults(run=run_allocate)
    return parser


def _check_output(path: str, option: str, suffixes: Sequence[str] | None = None) -> None:
    """Refuse an output that cannot be written before the solve, not after minutes of it."""
    target = Path(path)
    if target.is_dir():
        raise InvalidOption(option, f"{path!r} is a directory; give a file name.")
    if not target.parent.is_dir():
        raise InvalidOption(option, f"the folder {str(target.parent)!r} does not exist; create it first.")
    if suffixes is not None and target.suffix.lower().lstrip(".") not in suffixes:
        raise InvalidOption(
            option, f"{path!r} has no image suffix matplotlib can write; use one of: .{', .'.join(suffixes)}."
        )


def run_allocate(args: argparse.Namespace) -> int:
    """Run `coassist allocate` with parsed arguments; returns the exit status."""
    from matplotlib.backend_bases import FigureCanvasBase

    from coassist.plan import (
        AllocateOptions,
        allocate,
        load_tasks,
        load_workers,
        plot_gantt,
        summary,
        write_plan_csv,
    )

    try:
        options = AllocateOptions(gap=args.gap, time_limit=args.time_limit, relax=args.relax)
        _check_output(args.out, "--out")
        if args.gantt:
            _check_output(args.gantt, "--gantt", sorted(FigureCanvasBase.get_supported_filetypes()))
        plan = allocate(load_tasks(args.tasks), load_workers(args.workers), options)
    except (InvalidTaskTable, CyclicPlan, InvalidOption) as err:
        print(f"coassist allocate: invalid input: {err}", file=sys.stderr)
        return 1
    except InfeasiblePlan as err:
        print(f"coassist allocate: {err}", file=sys.stderr)
        return 2
    write_plan_csv(plan, args.out)
    print(summary(plan))
    print(f"plan written to {args.out}")
    if args.gantt:
        plot_gantt(plan, args.gantt)
        print(f"Gantt chart written to {args.gantt}")
    return 0
