"""Allocator benchmark: greedy, HiGHS MILP, PuLP + CBC, LP bound, LP + repair, side by side.

Each row is one generated instance (coassist.plan.generate_instance), solved by every method
in the same run; gaps are against the LP relaxation bound ((cost - bound) / cost), so they
are comparable across methods. For humans, not CI:

    python benchmarks/allocate.py                       # quick: 100x20 and 1000x20
    python benchmarks/allocate.py --sizes 1000x20,10000x100 --time-limit 60
    python benchmarks/allocate.py --sizes 100x20,100x100,1000x20,1000x100,10000x20,10000x100 --no-cbc
                                                          # the issue's full grid (~15 min)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from coassist.plan import AllocateOptions, allocate, generate_instance
from coassist.plan.cbc import solve_cbc
from coassist.plan.formulation import Formulation, build
from coassist.plan.highs import solve_highs
from coassist.plan.repair import repair


def greedy(form: Formulation) -> float:
    """What people do today: largest subtask first, to the cheapest eligible option with room."""
    left = form.capacity.copy()
    cost = 0.0
    by_task = np.argsort(form.col_task, kind="stable")
    bounds = np.searchsorted(form.col_task[by_task], np.arange(form.n_tasks + 1))
    for i in np.argsort([-s.human_hours for s in form.subtasks], kind="stable"):
        cols = by_task[bounds[i] : bounds[i + 1]]
        options = [
            (form.col_cost[c], ((c, form.col_worker[c], form.col_hours[c]),))
            for c in cols
            if not form.col_review[c] and not form.col_ai[c]
        ]
        reviews = [c for c in cols if form.col_review[c]]
        for a in (c for c in cols if form.col_ai[c]):
            for r in reviews:
                options.append(
                    (
                        form.col_cost[a] + form.col_cost[r],
                        (
                            (a, form.col_worker[a], form.col_hours[a]),
                            (r, form.col_worker[r], form.col_hours[r]),
                        ),
                    )
                )
        for price, parts in sorted(options, key=lambda o: o[0]):
            if all(left[w] >= h - 1e-9 for _, w, h in parts):
                for _, w, h in parts:
                    left[w] -= h
                cost += price
                break
        else:
            return float("nan")  # greedy got stuck: no option with room left
    return cost


def _cell(cost: float, bound: float, seconds: float) -> str:
    if not np.isfinite(cost):
        return f"no solution, {seconds:.1f} s"
    return f"+{100 * (cost - bound) / cost:.2f}%, {seconds:.1f} s"


def run(n: int, m: int, time_limit: float, cbc: bool) -> list[str]:
    tasks, workers = generate_instance(n, m, seed=0)
    t = time.perf_counter()
    form = build(tasks, workers)
    build_s = time.perf_counter() - t
    lp = solve_highs(form, integer=False, time_limit=time_limit)
    bound = lp.bound
    t = time.perf_counter()
    g = greedy(form)
    greedy_s = time.perf_counter() - t
    milp = solve_highs(form, integer=True, time_limit=time_limit)
    if lp.values is None:  # the LP itself ran out of time: nothing to repair, no bound
        return [
            f"{n:,} x {m}",
            f"{form.n_cols:,} ({build_s:.2f} s)",
            f"{g:,.0f}, {greedy_s:.1f} s",
            f"{milp.objective:,.0f}, {milp.seconds:.1f} s",
            "skipped",
            f"no LP in {lp.seconds:.0f} s",
            "-",
            "-",
        ]
    t = time.perf_counter()
    rep = repair(form, lp, deadline=time.perf_counter() + time_limit)
    rep_s = lp.seconds + time.perf_counter() - t
    auto = allocate(tasks, workers, AllocateOptions(time_limit=time_limit, gap=1e-3))
    cells = [
        f"{n:,} x {m}",
        f"{form.n_cols:,} ({build_s:.2f} s)",
        _cell(g, bound, greedy_s),
        _cell(milp.objective, bound, milp.seconds),
    ]
    if cbc:
        t = time.perf_counter()
        c = solve_cbc(form, integer=True, time_limit=time_limit)
        cells.append(
            _cell(c.objective, bound, time.perf_counter() - t) + ("" if c.status == "optimal" else " (limit)")
        )
    else:
        cells.append("skipped")
    cells += [
        f"{lp.seconds:.1f} s",
        _cell(rep.objective, bound, rep_s),
        f"{_cell(auto.cost, bound, auto.solve_seconds)} ({auto.method})",
    ]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100x20,1000x20", help="comma-separated NxM (subtasks x workers)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solver per instance")
    parser.add_argument(
        "--no-cbc", action="store_true", help="skip PuLP + CBC (slow to build at 10,000 x 100)"
    )
    args = parser.parse_args()
    head = [
        "size",
        "variables (build)",
        "greedy",
        "HiGHS MILP",
        "PuLP+CBC",
        "LP bound",
        "LP + repair",
        "allocate(gap=1e-3)",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for size in args.sizes.split(","):
        n, m = (int(v) for v in size.lower().split("x"))
        print("| " + " | ".join(run(n, m, args.time_limit, not args.no_cbc)) + " |", flush=True)


if __name__ == "__main__":
    main()
