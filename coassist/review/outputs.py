"""A plan's finished subtasks and their results: what later subtasks' drafts are built on.

A subtask is finished when its AI draft was approved or edited (the result is the final text),
or when a person submitted the work item for it (their own subtask, or a rejected draft redone).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from coassist.review.schema import Draft, DraftStatus, WorkItem

FINISHED: tuple[DraftStatus, ...] = ("approved", "edited")
"""The statuses of a draft whose text (`Draft.final_text`) is the subtask's result."""


def finished_outputs(session: Session, plan_id: int) -> dict[int, str]:
    """Result text per finished subtask id of a plan."""
    outputs: dict[int, str] = {}
    drafts = select(Draft.subtask_id, Draft.final_text).where(
        Draft.plan_id == plan_id, Draft.status.in_(FINISHED)
    )
    for subtask_id, text in session.execute(drafts):
        outputs[subtask_id] = text or ""
    done = select(WorkItem.subtask_id, WorkItem.output).where(
        WorkItem.plan_id == plan_id, WorkItem.status == "done"
    )
    for subtask_id, text in session.execute(done):
        outputs[subtask_id] = text or ""
    return outputs
