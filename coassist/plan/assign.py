"""`allocate`: the team assignment model solved to a proven gap, then scheduled.

Solver strategy (`method="auto"`), all within one wall-clock `time_limit`:

1. the LP relaxation (HiGHS dual simplex on arrays): a lower bound on every plan's cost;
2. repair: keep what the LP assigned integrally, solve the few fractional subtasks exactly;
3. while the gap to the bound is above `gap`: small models (up to 5,000 variables) go to
   the HiGHS MILP warm-started with the repaired plan, which also tightens the bound;
   larger ones to a large-neighbourhood search that re-solves a few workers at a time
   (measured here: the full MILP stalls at 2-90% above the bound on 1,000 x 100 and up).

`method="exact"` runs the MILP alone (the bound is then HiGHS's own); `solver="cbc"` runs
PuLP + CBC, for machines without highspy. The gap returned is always against a proven bound.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from coassist.errors import InfeasiblePlan
from coassist.plan.formulation import Formulation, Solution, build
from coassist.plan.io import TableSource, as_subtasks, as_workers
from coassist.plan.model import AllocateOptions, PassRouter, Plan, PlanStatus, Subtask, Worker
from coassist.plan.schedule import schedule

_SMALL_MODEL = 5_000  # variables; beyond this the warm-started MILP rarely beats the search


def _highs_available() -> bool:
    try:
        import highspy  # noqa: F401
    except ImportError:
        return False
    return True


def solve_model(
    form: Formulation, opts: AllocateOptions, deadline: float, start: Solution | None = None
) -> tuple[Solution, str]:
    """Solve `form` by the strategy of `opts` before `deadline` (a `time.perf_counter()` value).

    `start`, a whole integral plan with a proven bound, takes the place of the LP and repair
    steps and seeds the MILP: re-planning passes one built from the current plan. The PuLP +
    CBC path solves cold.
    """
    solver = opts.solver
    if solver == "auto":
        solver = "highs" if _highs_available() else "cbc"
    remaining = deadline - time.perf_counter()
    if solver == "cbc":
        from coassist.plan.cbc import solve_cbc

        sol = solve_cbc(form, integer=not opts.relax, time_limit=remaining, gap=opts.gap)
        return sol, "cbc-lp" if opts.relax else "cbc-milp"

    from coassist.plan.highs import solve_highs
    from coassist.plan.repair import improve, repair

    if opts.method == "exact" and not opts.relax:
        seed = None if start is None else start.values
        milp = solve_highs(form, integer=True, time_limit=remaining, gap=opts.gap, start=seed)
        return milp, "highs-milp" if start is None else "warm+highs-milp"
    if start is None:
        lp = solve_highs(form, integer=False, time_limit=remaining)
        if opts.relax or lp.values is None:
            return lp, "highs-lp"
        best, method = repair(form, lp, deadline=deadline, gap=opts.gap), "lp+repair"
    else:
        best, method = start, "warm"
    if best.values is None or opts.method == "repair" or relative_gap(best.objective, best.bound) <= opts.gap:
        return best, method
    remaining = deadline - time.perf_counter()
    if form.n_cols <= _SMALL_MODEL and remaining > 0:
        milp = solve_highs(form, integer=True, time_limit=remaining, gap=opts.gap, start=best.values)
        if milp.values is not None and milp.objective <= best.objective + 1e-9:
            bound = max(best.bound, milp.bound)
            return Solution(
                milp.values, milp.objective, bound, milp.status, seconds=milp.seconds
            ), "highs-milp" if start is None else "warm+highs-milp"
        return Solution(best.values, best.objective, max(best.bound, milp.bound), "feasible"), method
    return improve(form, best, deadline=deadline, gap=opts.gap), f"{method}+search"


def relative_gap(cost: float, bound: float) -> float:
    """(cost - bound) / cost, the gap `Plan.gap` reports; inf without a finite bound."""
    if not np.isfinite(bound):
        return float("inf")
    return max(0.0, (cost - bound) / max(abs(cost), 1e-9))


def allocate(
    tasks: TableSource | Sequence[Subtask],
    workers: TableSource | Sequence[Worker],
    options: AllocateOptions | None = None,
    *,
    p_pass: PassRouter | None = None,
) -> Plan:
    """The cheapest plan: who does each subtask, who reviews each AI draft, and when.

    `tasks` and `workers` are lists of `Subtask`/`Worker`, DataFrames, CSV/YAML paths or
    lists of mappings. `p_pass`, when given, replaces the table's p_pass: it receives the
    subtasks and returns P(AI draft passes review) for each (the router classifier's seam).

    Raises `InvalidTaskTable` or `CyclicPlan` on bad input, and `InfeasiblePlan` (with an
    `Explanation`) when no plan fits the team.

    >>> tasks = [Subtask("etl", "sql", human_hours=4, ai_hours=1, review_hours=1, p_pass=0.5)]
    >>> team = [Worker("ann", "human", ("sql",), capacity_hours=8, cost_per_hour=50),
    ...         Worker("gpu", "ai", ("*",), capacity_hours=8, cost_per_hour=2)]
    >>> plan = allocate(tasks, team)
    >>> plan.assignments[["subtask", "worker", "role", "start", "end"]].values.tolist()
    [['etl', 'gpu', 'do', 0.0, 1.0], ['etl', 'ann', 'review', 1.0, 4.0]]
    >>> plan.cost, plan.status
    (152.0, 'optimal')
    """
    opts = options or AllocateOptions()
    started = time.perf_counter()
    deadline = started + opts.time_limit
    subtasks = as_subtasks(tasks)
    team = as_workers(workers)
    form = build(subtasks, team, p_pass)
    covered = np.zeros(form.n_tasks, bool)
    covered[form.col_task[~form.col_review]] = True
    if not covered.all():
        _raise_infeasible(subtasks, team, p_pass)
    sol, method = solve_model(form, opts, deadline)
    if sol.status == "infeasible":
        _raise_infeasible(subtasks, team, p_pass)
    if sol.values is None:
        raise InfeasiblePlan(
            f"no plan was found within the time limit of {opts.time_limit:g} s, although the capacities "
            f"add up: the model has {form.n_cols:,} variables ({form.n_tasks:,} subtasks x "
            f"{len(team):,} workers) and the solver ({method}) had no whole plan yet when time ran out. "
            f"Raise the time limit (--time-limit) and retry."
        )
    return _plan(form, sol, opts, method, time.perf_counter() - started)


def _raise_infeasible(subtasks: list[Subtask], team: list[Worker], p_pass: PassRouter | None) -> None:
    from coassist.plan.explain import explain_infeasibility

    why = explain_infeasibility(subtasks, team, p_pass)
    raise InfeasiblePlan(why.message, explanation=why)


def work_pieces(form: Formulation, values: np.ndarray) -> pd.DataFrame:
    """The columns chosen in `values` as pieces of work: `subtask, worker, role, share, hours, cost`."""
    used = np.flatnonzero(values > 1e-9)
    share = values[used]
    return pd.DataFrame(
        {
            "subtask": [form.subtasks[i].id for i in form.col_task[used]],
            "worker": [form.workers[w].id for w in form.col_worker[used]],
            "role": np.where(form.col_review[used], "review", "do"),
            "share": share,
            "hours": share * form.col_hours[used],
            "cost": share * form.col_cost[used],
        }
    )


def _plan(form: Formulation, sol: Solution, opts: AllocateOptions, method: str, seconds: float) -> Plan:
    values = np.asarray(sol.values, float)
    used = np.flatnonzero(values > 1e-9)
    share = values[used]
    sched = schedule(form.subtasks, work_pieces(form, values))
    assignments = sched.pieces.loc[:, ["subtask", "worker", "role", "start", "end", "share", "hours", "cost"]]
    m = len(form.workers)
    hours = np.bincount(form.col_worker[used], share * form.col_hours[used], minlength=m)
    cost = np.bincount(form.col_worker[used], share * form.col_cost[used], minlength=m)
    utilisation = pd.DataFrame(
        {
            "worker": [w.id for w in form.workers],
            "kind": [w.kind for w in form.workers],
            "capacity_hours": form.capacity,
            "used_hours": hours,
            "utilisation": np.divide(hours, form.capacity, out=np.full(m, np.nan), where=form.capacity > 0),
            "cost": cost,
        }
    )
    shadow = None
    if opts.relax and sol.capacity_duals is not None:
        shadow = pd.DataFrame(
            {
                "worker": utilisation["worker"],
                "kind": utilisation["kind"],
                # a <= row's dual is <= 0 when minimising; one more hour saves its negation
                "value_per_hour": np.abs(np.minimum(sol.capacity_duals, 0.0)).round(9),
            }
        )
    total = float(cost.sum())
    gap = relative_gap(total, sol.bound)
    status: PlanStatus = "relaxed" if opts.relax else ("optimal" if gap <= opts.gap + 1e-12 else "feasible")
    return Plan(
        assignments=assignments,
        utilisation=utilisation,
        cost=total,
        bound=float(sol.bound),
        gap=gap,
        status=status,
        method=method,
        makespan=sched.makespan,
        critical_path=sched.critical_path,
        critical_path_hours=sched.critical_path_hours,
        solve_seconds=seconds,
        shadow_prices=shadow,
    )
