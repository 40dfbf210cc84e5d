"""Solving a `Formulation` with PuLP and CBC: the fallback when highspy is unavailable.

The PuLP model is built row by row from `(variable, coefficient)` pairs with
`LpAffineExpression`, never by `sum()` or `+=` over expressions, which PuLP makes quadratic.
PuLP reports a time-limited CBC solve as "Optimal"; `sol_status` tells a proven optimum from
a mere incumbent, and the gap is measured against the LP relaxation we solve first.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pulp

from coassist.plan.formulation import Formulation, Solution, matrix


def new_variable(
    prob: pulp.LpProblem, name: str, low: float | None, up: float | None, cat: str
) -> pulp.LpVariable:
    """A variable attached to `prob`: PuLP 3.x wants `add_variable`, 2.x only has `LpVariable`."""
    if hasattr(prob, "add_variable"):
        return prob.add_variable(name, low, up, cat=cat)
    return pulp.LpVariable(name, low, up, cat=cat)


def cbc_solver(*, mip: bool, time_limit: float, gap: float) -> pulp.LpSolver:
    """CBC as bundled with PuLP < 4 (3.3 marks the bundled command deprecated; we pin < 4)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(mip=mip, msg=False, timeLimit=max(1, round(time_limit)), gapRel=gap)


def to_pulp(
    form: Formulation, *, integer: bool
) -> tuple[pulp.LpProblem, list[pulp.LpVariable], list[pulp.LpConstraint]]:
    """The model as a PuLP problem; returns it with its variables and its capacity constraints."""
    prob = pulp.LpProblem("allocate", pulp.LpMinimize)
    cat = pulp.LpBinary if integer else pulp.LpContinuous
    variables = [new_variable(prob, f"v{j}", 0, 1, cat) for j in range(form.n_cols)]
    prob.setObjective(pulp.LpAffineExpression(list(zip(variables, form.col_cost.tolist(), strict=False))))
    mat = matrix(form)
    cols = np.repeat(np.arange(form.n_cols), np.diff(mat.start))
    order = np.argsort(mat.index, kind="stable")
    bounds = np.searchsorted(mat.index[order], np.arange(mat.row_lower.size + 1))
    n_cap_start = form.n_tasks + mat.n_link
    capacity = []
    for r in range(mat.row_lower.size):
        entries = order[bounds[r] : bounds[r + 1]]
        expr = pulp.LpAffineExpression(
            [(variables[c], v) for c, v in zip(cols[entries], mat.value[entries].tolist(), strict=False)]
        )
        if r < n_cap_start:
            sense, rhs = pulp.LpConstraintEQ, float(mat.row_upper[r])
        else:
            sense, rhs = pulp.LpConstraintLE, float(mat.row_upper[r])
        constraint = pulp.LpConstraint(expr, sense, f"r{r}", rhs)
        prob.addConstraint(constraint)
        if r >= n_cap_start:
            capacity.append(constraint)
    return prob, variables, capacity


def solve_cbc(form: Formulation, *, integer: bool, time_limit: float, gap: float = 1e-4) -> Solution:
    """Solve with CBC; for the MILP, `bound` is the LP relaxation (CBC's own is not exposed)."""
    started = time.perf_counter()
    prob, variables, capacity = to_pulp(form, integer=False)
    prob.solve(cbc_solver(mip=False, time_limit=time_limit, gap=gap))
    if prob.status == pulp.LpStatusInfeasible:
        return Solution(None, np.inf, np.inf, "infeasible", seconds=time.perf_counter() - started)
    bound = float(pulp.value(prob.objective) or 0.0)
    if not integer:
        values = np.array([v.varValue or 0.0 for v in variables])
        duals = np.array([c.pi or 0.0 for c in capacity])
        return Solution(values, bound, bound, "optimal", duals, time.perf_counter() - started)
    remaining = time_limit - (time.perf_counter() - started)
    prob, variables, _ = to_pulp(form, integer=True)
    prob.solve(cbc_solver(mip=True, time_limit=remaining, gap=gap))
    seconds = time.perf_counter() - started
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        status = "infeasible" if prob.status == pulp.LpStatusInfeasible else "nosolution"
        return Solution(None, np.inf, bound, status, seconds=seconds)
    values = np.round([v.varValue or 0.0 for v in variables])
    # "Optimal" from PuLP after a time limit is only an incumbent: trust sol_status alone
    status = "optimal" if prob.sol_status == pulp.LpSolutionOptimal else "feasible"
    objective = float(form.col_cost @ values)
    if status == "optimal":  # CBC proved it within gapRel of its own (unexposed) bound
        bound = max(bound, objective * (1 - gap))
    return Solution(values, objective, bound, status, seconds=seconds)
