"""People's work items: their own subtasks from the plan, and the AI drafts they rejected.

The allocator charges a reviewer the expected rework of a failed draft, so a rejection makes
the subtask that reviewer's work. Finishing a work item records its output, which then counts
as the subtask's result (what later subtasks' drafts are built on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import CursorResult, select, update

from coassist.errors import InvalidReviewInput, NotInStore, WorkAlreadySubmitted, WorkWithdrawn
from coassist.review.audit import current_user, record
from coassist.review.schema import Subtask, WorkItem, WorkOrigin, WorkStatus, utcnow
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
    origin: WorkOrigin
    draft_id: int | None
    status: WorkStatus
    output: str | None
    created_at: datetime


def work_items(
    store: ReviewStore,
    worker: str | None = None,
    plan_id: int | None = None,
    status: WorkStatus | Literal["all"] = "open",
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

    The submission is one conditional ``UPDATE ... WHERE id = ? AND status = 'open'``, the first
    statement of its transaction, so of two submissions of one item (two tabs, two people)
    exactly one is stored and the other is told who came first.

    Raises
    ------
    WorkAlreadySubmitted
        The item was already submitted (a `ReviewConflict` naming who and when); the first
        output is kept and nothing of this call is stored.
    NotInStore
        No work item has this id.
    InvalidReviewInput
        The output is empty or not text, or the id is not an integer.
    """
    actor = actor or current_user()
    if isinstance(item_id, bool) or not isinstance(item_id, int):
        raise InvalidReviewInput(
            f"work item id must be an integer, got {item_id!r}; take it from work_items(store, worker=...)",
            field="item_id",
        )
    if not isinstance(output, str) or not output.strip():
        what = "empty" if isinstance(output, str) else f"a {type(output).__name__}, not text"
        raise InvalidReviewInput(
            f"the output for work item {item_id} is {what}; submit the subtask's result as text",
            field="output",
        )
    now = utcnow()
    with store.session() as session:
        # The write comes first in its transaction (as in `decide`), so a concurrent submission
        # waits for this one's lock and then matches no row.
        statement = (
            update(WorkItem)
            .where(WorkItem.id == item_id, WorkItem.status == "open")
            .values(status="done", output=output, done_at=now, done_by=actor)
            .execution_options(synchronize_session=False)
        )
        result = session.execute(statement)
        assert isinstance(result, CursorResult)  # an UPDATE's result carries its row count
        if result.rowcount == 1:
            item = session.get(WorkItem, item_id)
            assert item is not None  # just updated
            record(
                session, actor, "work.submitted", "work_item", item_id, worker=item.worker, chars=len(output)
            )
            return
    raise _not_open(store, item_id)


def start_work(store: ReviewStore, item_id: int, actor: str | None = None) -> None:
    """Say that work on an open item has begun: from then a re-plan holds it (it stays with its
    person) and the schedule counts its actual start. Saying it twice keeps the first time.

    Raises
    ------
    NotInStore, WorkAlreadySubmitted, WorkWithdrawn
        No such item, or it is no longer open.
    """
    actor = actor or current_user()
    with store.session() as session:
        item = session.get(WorkItem, item_id)
        if item is not None and item.status == "open":
            if item.started_at is None:
                item.started_at = utcnow()
                record(session, actor, "work.started", "work_item", item_id, worker=item.worker)
            return
    raise _not_open(store, item_id)


def _not_open(store: ReviewStore, item_id: int) -> NotInStore | WorkAlreadySubmitted | WorkWithdrawn:
    """Why a submission matched no open item: there is no such item, it was already submitted,
    or a re-plan gave its subtask to someone else."""
    with store.session() as session:
        found = session.execute(
            select(WorkItem, Subtask.key)
            .join(Subtask, WorkItem.subtask_id == Subtask.id)
            .where(WorkItem.id == item_id)
        ).one_or_none()
    if found is None:
        return NotInStore("work item", item_id, "List them with work_items(store, worker=...).")
    item, key = found
    if item.status == "withdrawn":
        return WorkWithdrawn(item_id, key, item.worker)
    return WorkAlreadySubmitted(item_id, key, item.done_by or item.worker, as_utc(item.done_at))
