"""Change a plan in flight: what the team can give it (a person's hours, or away: 0 hours) and
what a subtask needs (its estimates, skill or p_pass).

Each change is audited (``worker.capacity_changed``, ``subtask.updated``), which is what tells a
scheduling agent to re-plan the work nobody has started (`coassist.agent`).
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

from sqlalchemy import select

from coassist.errors import InvalidOption, InvalidTaskTable, NoReplannableTeam, NotInStore
from coassist.plan.model import Subtask as PlannedSubtask
from coassist.plan.validate import check_subtasks
from coassist.review.audit import current_user, record
from coassist.review.plans import plan_project
from coassist.review.schema import Assignment, Subtask, Worker
from coassist.review.store import ReviewStore


def set_capacity(
    store: ReviewStore, plan_id: int, worker: str, hours: float, actor: str | None = None
) -> None:
    """Set `worker`'s capacity in `plan_id` to `hours` (0: away); the agent re-plans from it.

    Raises
    ------
    InvalidOption
        `hours` is not a finite number >= 0.
    NotInStore
        No such plan, or no such worker in it (the message lists the plan's workers).
    NoReplannableTeam
        The plan was imported with only ids and kinds, so it has no hours to change.
    """
    if (
        isinstance(hours, bool)
        or not isinstance(hours, (int, float))
        or not (math.isfinite(hours) and hours >= 0)
    ):
        raise InvalidOption("hours", f"must be a finite number of hours >= 0 (0 = away), got {hours!r}")
    plan_project(store, plan_id)
    actor = actor or current_user()
    with store.session() as session:
        rows = {w.key: w for w in session.scalars(select(Worker).where(Worker.plan_id == plan_id))}
        row = rows.get(worker)
        if row is None:
            raise NotInStore("worker", worker, f"Plan {plan_id} has: {', '.join(sorted(rows))}.")
        if row.capacity_hours is None:
            raise NoReplannableTeam(
                f"plan {plan_id} was imported with only the workers' ids and kinds, so it has no hours to "
                f"change; import it again with the full worker table (id, kind, skills, capacity_hours, "
                f"cost_per_hour)."
            )
        before = row.capacity_hours
        row.capacity_hours = float(hours)
        record(
            session,
            actor,
            "worker.capacity_changed",
            "worker",
            row.id,
            plan=plan_id,
            worker=worker,
            before=before,
            after=float(hours),
        )


SubtaskField = Literal["skill", "human_hours", "ai_hours", "review_hours", "p_pass", "title", "description"]
"""What `change_subtask` may change (dependencies stay: a re-plan cannot reorder finished work)."""


def change_subtask(
    store: ReviewStore, plan_id: int, key: str, actor: str | None = None, **changes: Any
) -> None:
    """Change subtask `key` of `plan_id` (e.g. ``human_hours=6``, ``ai_hours=None`` when the AI
    cannot do it after all); the agent re-plans from it. The subtask is shared by the project's
    plans, so each of them re-plans.

    Raises
    ------
    InvalidOption
        A field that is not a `SubtaskField`.
    InvalidTaskTable
        A value the allocator refuses (negative hours, p_pass outside [0, 1], ...), named.
    NotInStore
        No such plan, or no such subtask in it.
    """
    allowed = get_args(SubtaskField)
    unknown = [name for name in changes if name not in allowed]
    if unknown:
        raise InvalidOption(
            unknown[0], f"is not a subtask field that can change; use one of {', '.join(allowed)}"
        )
    plan_project(store, plan_id)
    actor = actor or current_user()
    with store.session() as session:
        row = session.scalars(
            select(Subtask)
            .join(Assignment, Assignment.subtask_id == Subtask.id)
            .where(Assignment.plan_id == plan_id, Subtask.key == key)
            .limit(1)
        ).first()
        if row is None:
            raise NotInStore("subtask", key, f"Plan {plan_id} has no subtask by that name.")
        fields = {name: getattr(row, name) for name in allowed}
        merged = {**fields, **changes}
        check_subtasks([PlannedSubtask(id=key, depends_on=(), **merged)])
        if merged.get("ai_hours") is not None and merged.get("p_pass") is None:
            raise InvalidTaskTable(
                f"subtask {key!r} can be drafted by the AI, so it needs a p_pass", key, "p_pass"
            )
        diff = {name: [fields[name], value] for name, value in changes.items() if fields[name] != value}
        for name, value in changes.items():
            setattr(row, name, value)
        if diff:
            record(session, actor, "subtask.updated", "subtask", row.id, key=key, plan=plan_id, changes=diff)
