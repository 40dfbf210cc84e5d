"""Solving a `Formulation` with HiGHS, passing the constraint matrix as arrays.

Going through highspy's `HighsLp` directly (column-wise CSC arrays) builds a million-column
model in well under a second; a modelling layer would spend longer building than HiGHS
spends solving.
"""

from __future__ import annotations

import functools
import os
import sys
import time

import highspy
import numpy as np

from coassist.plan.formulation import Formulation, Solution, matrix

_INF = highspy.kHighsInf

# HiGHS's presolve does not look at the clock: on 50,000 subtasks x 200 workers (4.07M columns)
# it ran 15-19 s of a 10 s limit on this 2-core machine (about 4 us a column), and cancelSolve
# does not reach it either. When presolve alone would take more than half the time left, the
# simplex runs without it, which keeps to the limit give or take its clock checks: those are
# far apart on big models (1.3 s past a 3.7 s limit at 4.07M columns), so HiGHS is given the
# time left less about that much.
_PRESOLVE_SECONDS_PER_COLUMN = 5e-6
_OVERRUN_SECONDS_PER_COLUMN = 3e-7


def to_highs_lp(form: Formulation, *, integer: bool) -> highspy.HighsLp:
    """The model as a `HighsLp`: coverage rows, then review-link rows, then capacity rows."""
    mat = matrix(form)
    lp = highspy.HighsLp()
    lp.num_col_ = form.n_cols
    lp.num_row_ = mat.row_lower.size
    lp.col_cost_ = form.col_cost
    lp.col_lower_ = np.zeros(form.n_cols)
    lp.col_upper_ = np.ones(form.n_cols)
    lp.row_lower_ = np.where(np.isinf(mat.row_lower), -_INF, mat.row_lower)
    lp.row_upper_ = mat.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = mat.start.astype(np.int32)
    lp.a_matrix_.index_ = mat.index.astype(np.int32)
    lp.a_matrix_.value_ = mat.value
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * form.n_cols
    return lp


def new_highs(time_limit: float, gap: float = 1e-4) -> highspy.Highs:
    """A silent HiGHS instance with a wall-clock limit and a relative MIP gap."""
    _first_instance_without_banner()
    h = highspy.Highs()
    h.silent()
    h.setOptionValue("time_limit", max(float(time_limit), 0.01))
    h.setOptionValue("mip_rel_gap", float(gap))
    return h


@functools.cache
def _first_instance_without_banner() -> None:
    """Make the process's first HiGHS instance with file descriptor 1 pointed at /dev/null.

    HiGHS (1.16) prints its banner ("Running HiGHS ... see THIRD_PARTY_NOTICES.md") from C++
    straight to the process's stdout while the first instance is built, before `silent()` can
    be called; a notebook kernel forwards that into the cell's output, where nobody can act on
    it. Later instances print nothing."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def read_solution(h: highspy.Highs, form: Formulation, *, integer: bool, started: float) -> Solution:
    """Turn HiGHS's status into ours; a time-limited MIP with an incumbent is `feasible`."""
    status = h.getModelStatus()
    info = h.getInfo()
    has_primal = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    seconds = time.perf_counter() - started
    if status == highspy.HighsModelStatus.kInfeasible:
        return Solution(None, np.inf, np.inf, "infeasible", seconds=seconds)
    if not has_primal:
        bound = info.mip_dual_bound if integer else -np.inf
        return Solution(None, np.inf, float(bound), "nosolution", seconds=seconds)
    sol = h.getSolution()
    values = np.asarray(sol.col_value, float)
    objective = float(info.objective_function_value)
    if integer:
        values = np.round(values)
        bound = float(info.mip_dual_bound)
        done = status == highspy.HighsModelStatus.kOptimal
        return Solution(values, objective, bound, "optimal" if done else "feasible", seconds=seconds)
    duals = np.asarray(sol.row_dual, float)[-len(form.workers) :] if sol.dual_valid else None
    done = status == highspy.HighsModelStatus.kOptimal
    return Solution(
        values, objective, objective if done else -np.inf, "optimal" if done else "feasible", duals, seconds
    )


def solve_highs(
    form: Formulation,
    *,
    integer: bool,
    time_limit: float,
    gap: float = 1e-4,
    start: np.ndarray | None = None,
) -> Solution:
    """Solve the LP relaxation (`integer=False`) or the MILP, optionally from a start plan."""
    started = time.perf_counter()
    h = new_highs(time_limit, gap)
    if not integer:
        # a vertex solution: the repair step relies on few fractional subtasks
        h.setOptionValue("solver", "simplex")
    h.passModel(to_highs_lp(form, integer=integer))
    left = time_limit - (time.perf_counter() - started)  # building the arrays counts too
    h.setOptionValue("time_limit", max(left - min(left / 4, form.n_cols * _OVERRUN_SECONDS_PER_COLUMN), 0.01))
    if form.n_cols * _PRESOLVE_SECONDS_PER_COLUMN > left / 2:
        h.setOptionValue("presolve", "off")
    if start is not None:
        _set_start(h, start)
    h.run()
    return read_solution(h, form, integer=integer, started=started)


def _set_start(h: highspy.Highs, start: np.ndarray) -> None:
    sol = highspy.HighsSolution()
    sol.col_value = list(map(float, start))
    sol.value_valid = True
    h.setSolution(sol)
