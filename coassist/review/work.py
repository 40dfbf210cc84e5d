"""People's work items: their own subtasks from the plan, and the AI drafts they rejected.

The allocator charges a reviewer the expected rework of a failed draft, so a rejection makes
the subtask that reviewer's work. Finishing a work item records its output, which then counts
as the subtask's result (what later subtasks' drafts are built on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from coassist.errors import NotInStore
from coassist.review.audit import current_user, record
from coassist.review.schema import Subtask, WorkItem, utcnow
from coassist.review.store import ReviewStore, as_utc


@dataclass(frozen=True)
class WorkItemView:
    """A person's piece of work. `origin` is 'plan' or 'rejected_draft' (then `draft_id` is set)."""

    id: int
    plan_id: int
    subtask: str
    title: str
    skill: str
    worker: str
    origin: str
    draft_id: int | None
    status: str
    output: str | None
    created_at: datetime


def work_items(
    store: ReviewStore,
    worker: str | None = None,
    plan_id: int | None = None,
    status: Literal["open", "done", "all"] = "open",
) -> list[WorkItemView]:
    """Work items, oldest first, filtered by person, plan and status."""
    query = select(WorkItem, Subtask).join(Subtask, WorkItem.subtask_id == Subtask.id).order_by(WorkItem.id)
    if worker is not None:
        query = query.where(WorkItem.worker == worker)
    if plan_id is not None:
        query = query.where(WorkItem.plan_id == plan_id)
    if status != "all":
        query = query.where(WorkItem.status == status)
    with store.session() as session:
        return [
            WorkItemView(
                item.id,
                item.plan_id,
                task.key,
                task.title,
                task.skill,
                item.worker,
                item.origin,
                item.draft_id,
                item.status,
                item.output,
                as_utc(item.created_at),  # type: ignore[arg-type]
            )
            for item, task in session.execute(query)
        ]


def submit_work(store: ReviewStore, item_id: int, output: str, actor: str | None = None) -> None:
    """Mark a work item done with its result, which later subtasks' drafts will build on.

    Raises
    ------
    NotInStore
        No work item has this id.
    ValueError
        The output is empty, or the item is already done (its output is kept, not replaced).
    """
    actor = actor or current_user()
    if not output.strip():
        raise ValueError(f"the output for work item {item_id} is empty; submit the subtask's result text")
    with store.session() as session:
        item = session.get(WorkItem, item_id)
        if item is None:
            raise NotInStore("work item", item_id, "List them with work_items(store, worker=...).")
        if item.status == "done":
            raise ValueError(
                f"work item {item_id} was already submitted by {item.worker!r} at {as_utc(item.done_at)}"
            )
        item.status, item.output, item.done_at = "done", output, utcnow()
        record(session, actor, "work.submitted", "work_item", item.id, worker=item.worker, chars=len(output))
