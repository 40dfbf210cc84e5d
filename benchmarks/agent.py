"""Agent benchmark, re-plan latency row: cold `allocate` of the whole instance vs `replan`, side by side.

The scheduling agent re-plans whenever a draft is rejected, a capacity changes or a subtask
arrives, so a re-plan must come back while the person is still looking (goal: under 5 s at
2,000 subtasks x 30 workers). One run: a generated instance is allocated (the plan in force),
the work that plan starts first is marked done (10 % of the planned hours) and the next few
subtasks in progress, then one worker's capacity drops (the person with the most planned
hours, by half). Then, on the same machine and the same changed team, the whole instance is
allocated cold and the not-started work is re-planned warm from the plan in force. Costs
include the committed work; CPU seconds are this process's (on a shared machine the wall clock
also counts other jobs' turns); "moved" counts subtasks whose doer or reviewer differs from the
plan in force (for the cold solve, committed ones too: that is why the agent re-plans).

The agent's other rows (drafts per second through the agent, claims per second on
PostgreSQL) come with the agent. For humans, not CI:

    python benchmarks/agent.py                   # 2000x30, gap 1e-3, 60 s limit
    python benchmarks/agent.py --size 10000x100 --time-limit 120
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import pandas as pd

from coassist.plan import AllocateOptions, Plan, Progress, allocate, generate_instance, replan

GOAL_SECONDS = 5.0


def _progress(current: Plan, done_share: float, in_progress: int) -> dict[str, Progress]:
    """The subtasks the plan starts first are done (up to `done_share` of its hours), the next few under way."""
    first = current.assignments.groupby("subtask").agg(start=("start", "min"), hours=("hours", "sum"))
    first = first.sort_values("start", kind="stable")
    done = first.index[first["hours"].cumsum() <= done_share * first["hours"].sum()]
    progress: dict[str, Progress] = dict.fromkeys(done, "done")
    progress.update(dict.fromkeys(first.index[len(done) : len(done) + in_progress], "in_progress"))
    return progress


def _roles(plan: Plan) -> pd.Series:
    """Per subtask, its doer and reviewer as one comparable value."""
    rows = plan.assignments.sort_values("role")
    return rows.groupby("subtask")["worker"].agg(tuple)


def _moved(before: Plan, after: Plan, among: set[str] | None = None) -> int:
    was, now = _roles(before), _roles(after)
    changed = was.index[was.ne(now.reindex(was.index))]
    return len(changed) if among is None else len(set(changed) & among)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="2000x30", help="NxM: subtasks x workers")
    parser.add_argument("--done", type=float, default=0.1, help="share of the planned hours already done")
    parser.add_argument("--in-progress", type=int, default=5, help="subtasks under way")
    parser.add_argument("--drop", type=float, default=0.5, help="share of one worker's capacity lost")
    parser.add_argument("--gap", type=float, default=1e-3, help="relative gap for both solves")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, m = (int(v) for v in args.size.lower().split("x"))
    opts = AllocateOptions(gap=args.gap, time_limit=args.time_limit)
    tasks, team = generate_instance(n, m, seed=args.seed)
    current = allocate(tasks, team, opts)
    progress = _progress(current, args.done, args.in_progress)
    busiest = current.utilisation.query("kind == 'human'").sort_values("used_hours")["worker"].iloc[-1]
    team = [
        dataclasses.replace(w, capacity_hours=round(w.capacity_hours * (1 - args.drop), 1))
        if w.id == busiest
        else w
        for w in team
    ]

    runs = []
    for limit in (args.time_limit, GOAL_SECONDS):
        budget = dataclasses.replace(opts, time_limit=limit)
        started, cpu = time.perf_counter(), time.process_time()
        cold = allocate(tasks, team, budget)
        runs.append(
            (
                f"cold allocate, whole instance, limit {limit:g} s",
                cold,
                time.perf_counter() - started,
                time.process_time() - cpu,
            )
        )
        started, cpu = time.perf_counter(), time.process_time()
        warm = replan(tasks, team, current, progress, options=budget)
        if warm.plan is None:
            raise SystemExit(f"no plan after the capacity drop: {warm.diff.why_not}")
        runs.append(
            (
                f"replan, warm, limit {limit:g} s",
                warm.plan,
                time.perf_counter() - started,
                time.process_time() - cpu,
            )
        )

    print(
        f"{n:,} subtasks x {m} workers; {len(progress) - args.in_progress} done, {args.in_progress} in progress; "
        f"{busiest} loses {args.drop:.0%} of their capacity; gap {args.gap:g}\n"
    )
    print("| re-plan | seconds | CPU seconds | cost | gap | moved (of them committed) | method |")
    print("|---|---|---|---|---|---|---|")
    committed = set(progress)
    for name, plan, seconds, cpu_seconds in runs:
        print(
            f"| {name} | {seconds:.1f} | {cpu_seconds:.1f} | {plan.cost:,.0f} | {100 * plan.gap:.2f}% | "
            f"{_moved(current, plan):,} ({_moved(current, plan, committed):,}) | {plan.method} |"
        )
    warm_s = runs[1][2]
    verdict = "met" if warm_s < GOAL_SECONDS and runs[1][1].gap <= args.gap else "missed"
    print(f"\ngoal: replan < {GOAL_SECONDS:g} s with gap <= {args.gap:g}: {verdict} ({warm_s:.1f} s)")


if __name__ == "__main__":
    main()
