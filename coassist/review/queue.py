"""The review queue: drafts awaiting a decision, least confident first.

Ordering by the planning-time p_pass puts the drafts most likely to need rework at the top, so
reviewers spend their attention where the router expects failures (and their decisions on those
are the most informative labels for the router).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal, get_args

import pandas as pd
from sqlalchemy import and_, select

from coassist.review.schema import Assignment, Draft, Subtask
from coassist.review.store import ReviewStore, as_utc

QueueOrder = Literal["p_pass", "created"]
"""How `review_queue` lists drafts: least confident first (``p_pass``) or oldest first."""


@dataclass(frozen=True)
class QueueItem:
    """A pending draft. `reviewer` is the person the plan assigned to review it;
    pass `version` to `decide(..., expected_version=...)`."""

    draft_id: int
    plan_id: int
    subtask: str
    title: str
    skill: str
    p_pass: float
    reviewer: str | None
    text: str
    version: int
    model_spec: str
    created_at: datetime


def review_queue(
    store: ReviewStore,
    plan_id: int | None = None,
    reviewer: str | None = None,
    skill: str | None = None,
    order_by: QueueOrder = "p_pass",
) -> list[QueueItem]:
    """Pending drafts, filtered by plan, assigned reviewer and skill.

    ``order_by="p_pass"`` (default) lists the least confident first; ``"created"`` oldest first.
    Ties keep drafting order.
    """
    if order_by not in get_args(QueueOrder):
        accepted = " or ".join(repr(order) for order in get_args(QueueOrder))
        raise ValueError(f"order_by must be {accepted}, got {order_by!r}")
    review_row = and_(
        Assignment.plan_id == Draft.plan_id,
        Assignment.subtask_id == Draft.subtask_id,
        Assignment.role == "review",
    )
    query = (
        select(Draft, Subtask, Assignment.worker)
        .join(Subtask, Draft.subtask_id == Subtask.id)
        .outerjoin(Assignment, review_row)
        .where(Draft.status == "pending")
    )
    if plan_id is not None:
        query = query.where(Draft.plan_id == plan_id)
    if reviewer is not None:
        query = query.where(Assignment.worker == reviewer)
    if skill is not None:
        query = query.where(Subtask.skill == skill)
    query = query.order_by(Draft.p_pass, Draft.id) if order_by == "p_pass" else query.order_by(Draft.id)
    with store.session() as session:
        return [
            QueueItem(
                draft.id,
                draft.plan_id,
                task.key,
                task.title,
                task.skill,
                draft.p_pass,
                worker,
                draft.text,
                draft.version,
                draft.model_spec,
                as_utc(draft.created_at),  # type: ignore[arg-type]
            )
            for draft, task, worker in session.execute(query)
        ]


def review_queue_frame(
    store: ReviewStore,
    plan_id: int | None = None,
    reviewer: str | None = None,
    skill: str | None = None,
    order_by: QueueOrder = "p_pass",
) -> pd.DataFrame:
    """`review_queue` as a DataFrame (one row per draft, the `QueueItem` fields as columns)."""
    items = review_queue(store, plan_id=plan_id, reviewer=reviewer, skill=skill, order_by=order_by)
    columns = list(QueueItem.__dataclass_fields__)
    return pd.DataFrame([asdict(item) for item in items], columns=columns)
