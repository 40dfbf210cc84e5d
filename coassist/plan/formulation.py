"""The team assignment model as column arrays, shared by every solver path.

Columns are the decision variables:

* `x[i,w]` (`review=False`): worker w does subtask i, for w eligible (skill matches; for an
  AI worker, the subtask has `ai_hours` and someone can review it);
* `y[i,h]` (`review=True`): person h reviews the AI draft of subtask i.

Rows are the constraints:

* coverage, one per subtask:  sum_w x[i,w] = 1
* review link, one per AI-capable subtask:  sum_h y[i,h] - sum_ai x[i,ai] = 0
* capacity, one per worker:  sum of hours on w <= capacity_w, where a person's review of i
  costs review_hours_i + (1 - p_pass_i) * human_hours_i (the expected rework of a failed draft)

Objective: sum over columns of cost_per_hour(worker) * hours. Each column touches at most
three rows, so the model is built as numpy arrays in O(columns), never through Python
expression arithmetic (which is quadratic in PuLP for long sums).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coassist.errors import InvalidTaskTable
from coassist.plan.model import AI, HUMAN, PassRouter, Subtask, Worker, can_do


@dataclass(frozen=True, eq=False)
class Formulation:
    """Column arrays of the assignment model (one entry per variable) and its capacities."""

    subtasks: tuple[Subtask, ...]
    workers: tuple[Worker, ...]
    p_pass: np.ndarray  # (n,) resolved P(pass), 1.0 where the AI cannot do the subtask
    col_task: np.ndarray  # (ncol,) subtask index
    col_worker: np.ndarray  # (ncol,) worker index
    col_review: np.ndarray  # (ncol,) bool: y (review) column rather than x (do)
    col_ai: np.ndarray  # (ncol,) bool: x column on an AI worker
    col_hours: np.ndarray  # (ncol,) hours charged to the worker's capacity
    col_cost: np.ndarray  # (ncol,) cost_per_hour * hours
    capacity: np.ndarray  # (m,) hours per worker

    @property
    def n_tasks(self) -> int:
        return len(self.subtasks)

    @property
    def n_cols(self) -> int:
        return len(self.col_task)

    def restrict(
        self, keep: np.ndarray, capacity: np.ndarray, workers: np.ndarray | None = None
    ) -> tuple[Formulation, np.ndarray]:
        """The model over the subtasks where `keep` is True, with the given capacities.

        `workers` (bool per worker), when given, also drops the columns of other workers.
        Returns the sub-model and, for each of its columns, the column index in `self`.
        Used by the repair step, which re-solves only a few subtasks at a time.
        """
        new_index = np.cumsum(keep) - 1
        mask = keep[self.col_task] if workers is None else keep[self.col_task] & workers[self.col_worker]
        # a review column without any AI column left for its subtask would have no link row
        drafted = np.zeros(self.n_tasks, bool)
        drafted[self.col_task[mask & self.col_ai]] = True
        cols = np.flatnonzero(mask & ~(self.col_review & ~drafted[self.col_task]))
        sub = Formulation(
            subtasks=tuple(s for s, k in zip(self.subtasks, keep, strict=False) if k),
            workers=self.workers,
            p_pass=self.p_pass[keep],
            col_task=new_index[self.col_task[cols]],
            col_worker=self.col_worker[cols],
            col_review=self.col_review[cols],
            col_ai=self.col_ai[cols],
            col_hours=self.col_hours[cols],
            col_cost=self.col_cost[cols],
            capacity=capacity,
        )
        return sub, cols


def resolve_p_pass(subtasks: Sequence[Subtask], router: PassRouter | None) -> np.ndarray:
    """P(pass) per subtask: the router's numbers when given, else the table's.

    A subtask the AI cannot do needs none (1.0 is stored; it is never used).
    """
    if router is not None:
        values = np.asarray(list(router(list(subtasks))), dtype=float)
        if values.shape != (len(subtasks),):
            raise InvalidTaskTable(
                f"the p_pass router returned {values.size} values for {len(subtasks)} subtasks; "
                f"it must return one probability per subtask, in order."
            )
        bad = np.flatnonzero(~((values >= 0) & (values <= 1)))
        if bad.size:
            s = subtasks[bad[0]]
            raise InvalidTaskTable(
                f"the p_pass router gave {values[bad[0]]} for subtask {s.id!r}; probabilities must be in [0, 1].",
                row=s.id,
                column="p_pass",
            )
        return values
    values = np.ones(len(subtasks))
    for i, s in enumerate(subtasks):
        if s.p_pass is not None:
            values[i] = s.p_pass
        elif s.ai_capable:
            raise InvalidTaskTable(
                f"subtask {s.id!r} has ai_hours but no p_pass; give p_pass in the table or pass "
                f"a p_pass router.",
                row=s.id,
                column="p_pass",
            )
    return values


def eligibility(subtasks: Sequence[Subtask], workers: Sequence[Worker]) -> np.ndarray:
    """(m, n) bool: worker w has the skill of subtask i (ignoring whether the AI can do it).

    `can_do` is the rule; it is applied once per (worker, distinct skill), not per subtask,
    since a team has a handful of skills and a plan up to millions of (worker, subtask) pairs.
    """
    skills = np.array([s.skill for s in subtasks], dtype=object)
    distinct = sorted(set(skills.tolist()))
    rows = [np.isin(skills, [skill for skill in distinct if can_do(w, skill)]) for w in workers]
    return np.array(rows, dtype=bool).reshape(len(workers), len(subtasks))


def build(
    subtasks: Sequence[Subtask], workers: Sequence[Worker], router: PassRouter | None = None
) -> Formulation:
    """The column arrays of the assignment model for these (already validated) tables."""
    subtasks, workers = tuple(subtasks), tuple(workers)
    p_pass = resolve_p_pass(subtasks, router)
    human_h = np.array([s.human_hours for s in subtasks], float)
    ai_h = np.array([np.nan if s.ai_hours is None else s.ai_hours for s in subtasks], float)
    review_load = np.array([s.review_hours for s in subtasks], float) + (1 - p_pass) * human_h
    elig = eligibility(subtasks, workers)
    is_human = np.array([w.kind == HUMAN for w in workers])
    is_ai = np.array([w.kind == AI for w in workers])
    reviewable = elig[is_human].any(axis=0)
    ai_ok = ~np.isnan(ai_h) & reviewable
    # an AI draft needs a reviewer, so y columns exist only where some AI column does
    ai_drafts = (elig[is_ai] & ai_ok).any(axis=0) if is_ai.any() else np.zeros(len(subtasks), bool)

    parts: list[tuple[np.ndarray, int, bool, bool, np.ndarray]] = []
    for w_idx, w in enumerate(workers):
        if w.kind == HUMAN:
            tasks = np.flatnonzero(elig[w_idx])
            parts.append((tasks, w_idx, False, False, human_h[tasks]))
            tasks = np.flatnonzero(elig[w_idx] & ai_drafts)
            parts.append((tasks, w_idx, True, False, review_load[tasks]))
        else:
            tasks = np.flatnonzero(elig[w_idx] & ai_ok)
            parts.append((tasks, w_idx, False, True, ai_h[tasks]))
    col_task = np.concatenate([p[0] for p in parts]).astype(np.int64)
    col_worker = np.concatenate([np.full(p[0].size, p[1], np.int64) for p in parts])
    col_review = np.concatenate([np.full(p[0].size, p[2]) for p in parts]).astype(bool)
    col_ai = np.concatenate([np.full(p[0].size, p[3]) for p in parts]).astype(bool)
    col_hours = np.concatenate([p[4] for p in parts]).astype(float)
    rate = np.array([w.cost_per_hour for w in workers], float)
    return Formulation(
        subtasks=subtasks,
        workers=workers,
        p_pass=p_pass,
        col_task=col_task,
        col_worker=col_worker,
        col_review=col_review,
        col_ai=col_ai,
        col_hours=col_hours,
        col_cost=col_hours * rate[col_worker],
        capacity=np.array([w.capacity_hours for w in workers], float),
    )


@dataclass(frozen=True, eq=False)
class Matrix:
    """The constraint matrix in compressed-column form, with row bounds."""

    start: np.ndarray  # (ncol + 1,) where each column's entries begin
    index: np.ndarray  # (nnz,) row of each entry
    value: np.ndarray  # (nnz,) coefficient of each entry
    row_lower: np.ndarray  # (nrow,) -inf for capacity rows
    row_upper: np.ndarray  # (nrow,)
    n_link: int  # rows [n, n + n_link) are review links; capacity rows follow


def matrix(form: Formulation) -> Matrix:
    """Coverage rows (= 1), then review-link rows (= 0), then capacity rows (<= hours)."""
    n, m = form.n_tasks, len(form.workers)
    has_ai = np.zeros(n, bool)
    has_ai[form.col_task[form.col_ai]] = True
    link = np.where(has_ai, np.cumsum(has_ai) - 1, -1)
    n_link = int(has_ai.sum())
    is_do = ~form.col_review
    # each column has up to three entries, in row order: coverage, link, capacity
    rows = np.stack(
        [
            np.where(is_do, form.col_task, -1),
            np.where(form.col_review | form.col_ai, n + link[form.col_task], -1),
            n + n_link + form.col_worker,
        ],
        axis=1,
    )
    vals = np.stack([np.ones(form.n_cols), np.where(form.col_review, 1.0, -1.0), form.col_hours], axis=1)
    present = rows >= 0
    return Matrix(
        start=np.concatenate([[0], np.cumsum(present.sum(axis=1))]),
        index=rows[present],
        value=vals[present],
        row_lower=np.concatenate([np.ones(n), np.zeros(n_link), np.full(m, -np.inf)]),
        row_upper=np.concatenate([np.ones(n), np.zeros(n_link), form.capacity]),
        n_link=n_link,
    )


@dataclass(frozen=True, eq=False)
class Solution:
    """What a solver returned for a `Formulation` (values index its columns)."""

    values: np.ndarray | None  # (ncol,) or None when no solution was found
    objective: float
    bound: float  # proven lower bound on the optimum (= objective for a solved LP)
    status: str  # "optimal", "feasible" (time limit), "infeasible" or "nosolution"
    capacity_duals: np.ndarray | None = None  # (m,) LP duals of the capacity rows
    seconds: float = 0.0
