"""Why no plan exists, in the team lead's words, and what would fix it.

Three views, from coarse to exact: subtasks that nobody is eligible for (no capacity can fix
those, only a person or model with the skill); per skill, the people-hours the subtasks need
at least versus the hours of the people who have the skill; and the smallest capacity
additions that make a plan exist, from an elastic model where every worker may get extra
hours at a price of one per hour (GPU-hours short are the additions on AI workers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd

from coassist.plan.formulation import Formulation, build
from coassist.plan.highs import new_highs, to_highs_lp
from coassist.plan.model import AI, HUMAN, PassRouter, Subtask, Worker, can_do


@dataclass(frozen=True, eq=False)
class Explanation:
    """Structured reasons a plan is infeasible; `message` renders them for people.

    `unassignable`: `subtask, skill, reason` for subtasks nobody is eligible for.
    `skills`: `skill, needed_hours, available_hours, short_hours`, one row per skill.
    `additions`: `worker, kind, add_hours`, the smallest extra capacity that makes a plan
    exist (empty when capacity is not the problem).
    """

    unassignable: pd.DataFrame
    skills: pd.DataFrame
    gpu_hours_short: float
    additions: pd.DataFrame
    additions_minimal: bool
    """False when the elastic model hit its time limit: enough, maybe not the least."""
    message: str


def _unassignable(form: Formulation) -> pd.DataFrame:
    covered = np.zeros(form.n_tasks, bool)
    covered[form.col_task[~form.col_review]] = True
    humans = [w for w in form.workers if w.kind == HUMAN]
    rows = []
    for i in np.flatnonzero(~covered):
        s = form.subtasks[i]
        if s.ai_capable and any(
            w.kind == AI and can_do(w, s.skill) for w in form.workers
        ):
            reason = f"no person has skill {s.skill!r}, so nobody can do it or review the AI's draft"
        elif s.ai_capable or not humans:
            reason = f"no person and no AI worker has skill {s.skill!r}"
        else:
            reason = f"no person has skill {s.skill!r} and the AI cannot do it"
        rows.append({"subtask": s.id, "skill": s.skill, "reason": reason})
    return pd.DataFrame(rows, columns=["subtask", "skill", "reason"])


def _skill_hours(form: Formulation) -> pd.DataFrame:
    """Per skill: the fewest people-hours the subtasks can take vs people's hours with it."""
    drafted = np.zeros(form.n_tasks, bool)
    drafted[form.col_task[form.col_ai]] = True
    rows = []
    for skill in sorted({s.skill for s in form.subtasks}):
        needed = 0.0
        for i, s in enumerate(form.subtasks):
            if s.skill == skill:
                review = s.review_hours + (1 - form.p_pass[i]) * s.human_hours
                needed += min(s.human_hours, review) if drafted[i] else s.human_hours
        available = sum(
            w.capacity_hours
            for w in form.workers
            if w.kind == HUMAN and can_do(w, skill)
        )
        rows.append(
            {
                "skill": skill,
                "needed_hours": needed,
                "available_hours": available,
                "short_hours": max(0.0, needed - available),
            }
        )
    return pd.DataFrame(rows, columns=["skill", "needed_hours", "available_hours", "short_hours"])


def _elastic(form: Formulation, time_limit: float) -> tuple[np.ndarray, bool]:
    """Least total extra hours per worker so that an integral plan exists (elastic MILP)."""
    m = len(form.workers)
    lp = to_highs_lp(form, integer=True)
    lp.col_cost_ = np.zeros(form.n_cols)
    h = new_highs(time_limit, gap=1e-6)
    h.passModel(lp)
    # one slack column per worker: capacity row gets -slack, so load - slack <= capacity
    first_cap_row = lp.num_row_ - m
    h.addCols(
        m,
        np.ones(m),
        np.zeros(m),
        np.full(m, highspy.kHighsInf),
        m,
        np.arange(m, dtype=np.int32),
        np.arange(first_cap_row, first_cap_row + m, dtype=np.int32),
        -np.ones(m),
    )
    h.run()
    status = h.getModelStatus()
    slack = np.asarray(h.getSolution().col_value, float)[form.n_cols :]
    # hundredths of an hour, rounded up, so that the stated additions are enough
    slack = np.ceil(np.round(slack, 9) * 100) / 100
    return slack, status == highspy.HighsModelStatus.kOptimal


def explain_infeasibility(
    subtasks: Sequence[Subtask],
    workers: Sequence[Worker],
    p_pass: PassRouter | None = None,
    time_limit: float = 10.0,
) -> Explanation:
    """Why these subtasks cannot be allocated to these workers, and the cheapest fix.

    >>> tasks = [Subtask("etl", "sql", human_hours=10)]
    >>> team = [Worker("ann", "human", ("sql",), capacity_hours=6, cost_per_hour=50)]
    >>> why = explain_infeasibility(tasks, team)
    >>> why.additions.to_dict("records")
    [{'worker': 'ann', 'kind': 'human', 'add_hours': 4.0}]
    >>> print(why.message.splitlines()[1])
    - skill 'sql': the subtasks need at least 10 h of people's time, people with the skill have 6 h (4 h short)
    """
    started = time.perf_counter()
    form = build(subtasks, workers, p_pass)
    unassignable = _unassignable(form)
    skills = _skill_hours(form)
    stranded = np.isin([s.id for s in form.subtasks], unassignable["subtask"])
    sub, _ = form.restrict(~stranded, form.capacity)
    slack, minimal = (
        _elastic(sub, time_limit - (time.perf_counter() - started))
        if sub.n_tasks
        else (np.zeros(len(form.workers)), True)
    )
    additions = pd.DataFrame(
        [
            {"worker": w.id, "kind": w.kind, "add_hours": float(s)}
            for w, s in zip(form.workers, slack, strict=False)
            if s > 0
        ],
        columns=["worker", "kind", "add_hours"],
    )
    gpu_short = float(additions.loc[additions["kind"] == AI, "add_hours"].sum())
    return Explanation(
        unassignable=unassignable,
        skills=skills,
        gpu_hours_short=gpu_short,
        additions=additions,
        additions_minimal=minimal,
        message=_message(unassignable, skills, gpu_short, additions, minimal),
    )


def _h(hours: float) -> str:
    return f"{hours:.4g} h"


def _message(
    unassignable: pd.DataFrame, skills: pd.DataFrame, gpu_short: float, additions: pd.DataFrame, minimal: bool
) -> str:
    lines = ["No plan fits the team:"]
    for r in unassignable.itertuples():
        lines.append(f"- nobody can take subtask {r.subtask!r}: {r.reason}")
    for r in skills[skills["short_hours"] > 0].itertuples():
        lines.append(
            f"- skill {r.skill!r}: the subtasks need at least {_h(r.needed_hours)} of people's time, "
            f"people with the skill have {_h(r.available_hours)} ({_h(r.short_hours)} short)"
        )
    if gpu_short > 0:
        lines.append(f"- GPUs: {gpu_short:.4g} GPU-hours short")
    if len(additions):
        least = "smallest" if minimal else "enough (the search for the smallest ran out of time)"
        lines.append(f"Capacity additions that make a plan possible ({least}):")
        lines += [
            f"  + {r.worker} ({r.kind}): {_h(r.add_hours) if r.kind == HUMAN else f'{r.add_hours:.4g} GPU-h'}"
            for r in additions.itertuples()
        ]
    if len(unassignable):
        lines.append("Add a person (or an AI worker) with the missing skill(s): no extra hours fix those.")
    if len(lines) == 1:
        lines.append(
            "- every subtask has an eligible worker and the capacities add up; "
            "no integral plan was found in the time limit, so raise it and retry"
        )
    return "\n".join(lines)
