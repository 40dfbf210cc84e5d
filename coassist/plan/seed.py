"""The design documents' LP, exactly as written, and the project's reading of its case study.

    minimise    sum_i c_i x_i
    subject to  sum_i T_i x_i  = T     (the work to be covered)
                sum_i H_i x_i <= H     (total human capacity)
                sum_i A_i x_i <= A     (total AI capacity)
                x_i >= 0

In the case study (four requests, T_i = 1, H_i = A_i = 0.5, H = A = 2, equal c_i) every x on
the simplex sum_i x_i = T is optimal: the optimum is degenerate and a solver returns whichever
vertex it reaches first. The project reads T as the total work normalised to 1 and x_i as the
share of it that request i stands for, and breaks the tie by load balancing (the smallest
largest share), which gives x_i = 0.25 for each request: each request is a quarter of the
work, and since H_i = A_i it is handled half by a person and half by the AI.
See docs/planning.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pulp

from coassist.plan.cbc import cbc_solver, new_variable


@dataclass(frozen=True, eq=False)
class SeedResult:
    """The solution of the documents' LP."""

    x: np.ndarray
    """x_i, one per task, after the tie-break."""
    objective: float
    """sum_i c_i x_i at the optimum."""
    duals: dict[str, float]
    """Dual values (shadow prices) of the `work`, `human` and `ai` constraints of the LP as
    written: the change in the optimal objective per extra unit of T, H or A."""
    status: str


def _solver() -> pulp.LpSolver:
    solver = pulp.HiGHS(msg=False)
    return solver if solver.available() else cbc_solver(mip=False, time_limit=60, gap=0.0)


def seed_lp(
    T_i: Sequence[float],
    H_i: Sequence[float],
    A_i: Sequence[float],
    c: Sequence[float],
    T: float,
    H: float,
    A: float,
    tie_break: str | None = "balance",
) -> SeedResult:
    """Solve the documents' LP with PuLP; `tie_break="balance"` picks the most even optimum.

    The duals come from the LP as written (before the tie-break, which only chooses among
    equally cheap solutions).

    >>> r = seed_lp([1] * 4, [0.5] * 4, [0.5] * 4, c=[1] * 4, T=1, H=2, A=2)
    >>> r.x.tolist(), r.objective, r.duals
    ([0.25, 0.25, 0.25, 0.25], 1.0, {'work': 1.0, 'human': 0.0, 'ai': 0.0})
    """
    n = len(T_i)
    if not (len(H_i) == len(A_i) == len(c) == n):
        raise ValueError(
            f"T_i, H_i, A_i and c must have one entry per task; got {len(T_i)}, {len(H_i)}, {len(A_i)}, {len(c)}"
        )
    if tie_break not in (None, "balance"):
        raise ValueError(f"tie_break must be None or 'balance', got {tie_break!r}")
    tasks = range(n)
    prob = pulp.LpProblem("seed", pulp.LpMinimize)
    x = [new_variable(prob, f"x{i}", 0, None, pulp.LpContinuous) for i in tasks]
    cost = pulp.lpSum(c[i] * x[i] for i in tasks)
    prob += cost
    # The documents' three rows, kept by name so their duals can be read back.
    rows = {
        "work": pulp.lpSum(T_i[i] * x[i] for i in tasks) == T,
        "human": pulp.lpSum(H_i[i] * x[i] for i in tasks) <= H,
        "ai": pulp.lpSum(A_i[i] * x[i] for i in tasks) <= A,
    }
    for name, row in rows.items():
        prob += row, name
    prob.solve(_solver())
    status = pulp.LpStatus[prob.status]
    if prob.status != pulp.LpStatusOptimal:
        return SeedResult(np.full(n, np.nan), float("nan"), {}, status)
    objective = float(pulp.value(cost))
    duals = {name: float(row.pi or 0.0) + 0.0 for name, row in rows.items()}
    values = np.array([v.varValue for v in x], float)
    if tie_break == "balance":
        # among optima, minimise the largest share: the even split when the LP is degenerate
        largest = new_variable(prob, "largest", None, None, pulp.LpContinuous)
        prob += cost <= objective + 1e-9 * max(1.0, abs(objective)), "optimal"
        for i in tasks:
            prob += x[i] <= largest, f"share{i}"
        prob.setObjective(pulp.lpSum([largest]))
        prob.solve(_solver())
        values = np.array([v.varValue for v in x], float)
    return SeedResult(values.round(12) + 0.0, objective, duals, status)
