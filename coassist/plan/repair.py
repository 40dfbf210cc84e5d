"""LP relaxation plus repair: a near-optimal integral plan when the exact MILP is too slow.

A vertex of the LP relaxation has at most as many fractional subtasks as there are tight
capacity and link rows (tens, out of thousands of subtasks). The repair keeps every subtask
the LP already assigned integrally, takes those hours off the workers' capacities, and solves
the small MILP over the fractional subtasks alone. If that residual problem has no integral
solution, it frees the subtasks sharing workers with the fractional ones and tries again, and
in the end the whole model. The LP objective stays a proven lower bound, so the gap reported
with the repaired plan is honest.
"""

from __future__ import annotations

import time

import numpy as np

from coassist.plan.formulation import Formulation, Solution
from coassist.plan.highs import solve_highs

_TOL = 1e-6


def fractional_subtasks(form: Formulation, values: np.ndarray) -> np.ndarray:
    """(n,) bool: subtasks with some column strictly between 0 and 1 in `values`."""
    frac = (values > _TOL) & (values < 1 - _TOL)
    mask = np.zeros(form.n_tasks, bool)
    mask[form.col_task[frac]] = True
    return mask


def repair(form: Formulation, lp: Solution, *, deadline: float, gap: float = 1e-4) -> Solution:
    """An integral plan built from the LP solution `lp`; its `bound` is the LP bound.

    `deadline` is a `time.perf_counter()` value; the residual MILPs share what is left.
    """
    started = time.perf_counter()
    if lp.values is None:
        raise ValueError("repair needs a solved LP relaxation")
    values = np.where(lp.values > 1 - _TOL, 1.0, np.where(lp.values < _TOL, 0.0, lp.values))
    free = fractional_subtasks(form, values)
    m = len(form.workers)
    while True:
        fixed_cols = ~free[form.col_task] & (values > 0.5)
        used = np.bincount(form.col_worker[fixed_cols], form.col_hours[fixed_cols], minlength=m)
        if not free.any():
            break
        sub, cols = form.restrict(free, form.capacity - used)
        part = solve_highs(sub, integer=True, gap=gap / 10, time_limit=deadline - time.perf_counter())
        if part.values is not None:
            values = np.where(free[form.col_task], 0.0, values)
            values[cols] = part.values
            break
        if free.all() or time.perf_counter() >= deadline:
            return Solution(None, np.inf, lp.bound, part.status, seconds=time.perf_counter() - started)
        free = _widen(form, values, free)
    objective = float(form.col_cost @ values)
    return Solution(values, objective, lp.bound, "feasible", seconds=time.perf_counter() - started)


def _widen(form: Formulation, values: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Also free every subtask placed on a worker that the LP shares with a free subtask."""
    touched = np.zeros(len(form.workers), bool)
    touched[form.col_worker[free[form.col_task] & (values > _TOL)]] = True
    placed = (values > 0.5) & touched[form.col_worker]
    wider = free.copy()
    wider[form.col_task[placed]] = True
    return wider if wider.sum() > free.sum() else np.ones_like(free)


def improve(
    form: Formulation,
    plan: Solution,
    *,
    deadline: float,
    gap: float = 1e-4,
    neighbourhood: int = 6,
    seed: int = 0,
) -> Solution:
    """Large-neighbourhood search: re-solve small groups of workers exactly until the gap closes.

    Each round picks a few workers (always one AI worker when there is one), frees every
    subtask whose do and review work all lies within the group, and solves that small MILP
    with the group's remaining hours. The current plan is feasible in it, so the cost never
    rises; rounds favour the workers the LP bound says are tight, where the repair lost most.
    """
    if plan.values is None:
        return plan
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    values = plan.values.copy()
    m = len(form.workers)
    is_ai = np.array([w.kind == "ai" for w in form.workers])
    objective = float(form.col_cost @ values)
    while time.perf_counter() < deadline and objective - plan.bound > gap * objective:
        group = np.zeros(m, bool)
        group[rng.choice(m, min(neighbourhood, m), replace=False)] = True
        if is_ai.any() and not (group & is_ai).any():
            group[rng.choice(np.flatnonzero(is_ai))] = True
        chosen = values > 0.5
        outside = np.zeros(form.n_tasks, bool)
        outside[form.col_task[chosen & ~group[form.col_worker]]] = True
        free = ~outside
        if not free.any():
            continue
        fixed = chosen & ~free[form.col_task]
        residual = form.capacity - np.bincount(form.col_worker[fixed], form.col_hours[fixed], minlength=m)
        sub, cols = form.restrict(free, residual, workers=group)
        limit = min(2.0, deadline - time.perf_counter())
        part = solve_highs(sub, integer=True, gap=gap / 10, time_limit=limit, start=values[cols])
        if part.values is not None and part.objective < float(form.col_cost[cols] @ values[cols]) - 1e-9:
            values[cols] = part.values
            objective = float(form.col_cost @ values)
    return Solution(
        values, objective, plan.bound, "feasible", seconds=plan.seconds + time.perf_counter() - started
    )
