"""Training data from reviewers' decisions: SFT conversations for the assistant, labels for the router.

Router labels (one line per decided draft)::

    {"text": <title + blank line + description>, "label": 1 | 0, "skill": ..., "subtask": ...,
     "decision": "approve" | "edit" | "reject", "p_pass": <planning-time p_pass>, "draft_id": ...,
     "reviewer": ...}

``label`` is 1 only for a draft approved unchanged. An edit counts as not passed: the allocator's
p_pass is the chance a draft passes review with no rework, and an edit is rework (smaller than a
rejection, but not zero). Training the router on "approved as is" keeps its p_pass meaning the
same quantity the allocator prices.

SFT rows (approved and edited drafts)::

    {"messages": [<the exact prompt messages the draft was made from>...,
                  {"role": "assistant", "content": <approved draft, or the reviewer's edited text>}]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from coassist.review.schema import Draft, Plan, Project, Review, Subtask
from coassist.review.store import ReviewStore
from coassist.subtask_text import subtask_text


def export_sft_jsonl(
    store: ReviewStore, path: str | Path, plan_id: int | None = None, project: str | None = None
) -> int:
    """Write approved and edited drafts as chat-format SFT JSONL; return the number of rows.

    Rows are in decision order; `plan_id` or `project` (a name) narrows them.
    """
    rows = []
    for draft, _task, _review in _decided(store, plan_id, project, decisions=("approve", "edit")):
        assistant = {"role": "assistant", "content": draft.final_text}
        rows.append({"messages": [*draft.messages, assistant]})
    return _write_jsonl(path, rows)


def export_router_labels(
    store: ReviewStore, path: str | Path, plan_id: int | None = None, project: str | None = None
) -> int:
    """Write every decision as a router example (label 1 = approved unchanged); return the row count."""
    rows = [
        {
            "text": subtask_text(task.title, task.description),
            "label": int(review.decision == "approve"),
            "skill": task.skill,
            "subtask": task.key,
            "decision": review.decision,
            "p_pass": draft.p_pass,
            "draft_id": draft.id,
            "reviewer": review.reviewer,
        }
        for draft, task, review in _decided(store, plan_id, project, decisions=("approve", "edit", "reject"))
    ]
    return _write_jsonl(path, rows)


def _decided(
    store: ReviewStore, plan_id: int | None, project: str | None, decisions: tuple[str, ...]
) -> list[tuple[Draft, Subtask, Review]]:
    query = (
        select(Draft, Subtask, Review)
        .join(Subtask, Draft.subtask_id == Subtask.id)
        .join(Review, Review.draft_id == Draft.id)
        .where(Review.decision.in_(decisions))
        .order_by(Review.id)
    )
    if plan_id is not None:
        query = query.where(Draft.plan_id == plan_id)
    if project is not None:
        query = query.join(Plan, Draft.plan_id == Plan.id).join(Project, Plan.project_id == Project.id)
        query = query.where(Project.name == project)
    with store.session() as session:
        return list(session.execute(query))


def _write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)
