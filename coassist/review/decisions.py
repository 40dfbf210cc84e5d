"""A reviewer's decision on an AI draft: approve, edit or reject, never silently overwritten.

Optimistic concurrency: each draft has a `version`. A decision is one conditional UPDATE
(``WHERE version = <the version the reviewer saw> AND status = 'pending'``), so of two reviewers
deciding at once exactly one matches; the other gets `DraftAlreadyDecided` (a `ReviewConflict`)
naming who decided first and when. The `reviews` table also holds at most one row per draft.
This works the same on SQLite (the writers queue on the file lock) and PostgreSQL (on the row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import get_args

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from coassist.errors import DraftAlreadyDecided, InvalidReviewInput, NotInStore, ReviewConflict
from coassist.review.audit import record
from coassist.review.schema import (
    Assignment,
    DecisionName,
    Draft,
    DraftStatus,
    Review,
    Subtask,
    WorkItem,
    utcnow,
)
from coassist.review.store import ReviewStore, as_utc


class Decision(str, Enum):
    """What a reviewer decided. An edit is a pass with changes: the reviewer's text is final.

    The values are `DecisionName`'s (a test holds them equal); the enum is what `DecisionResult`
    carries, for its `status`.
    """

    _value_: DecisionName

    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"

    @property
    def status(self) -> DraftStatus:
        """The draft's status after this decision."""
        return _STATUS_AFTER[self.value]


_STATUS_AFTER: dict[DecisionName, DraftStatus] = {
    "approve": "approved",
    "edit": "edited",
    "reject": "rejected",
}


@dataclass(frozen=True)
class DecisionResult:
    """A stored decision. `work_item_id` is the reviewer's new work item when the draft was rejected."""

    draft_id: int
    subtask: str
    decision: Decision
    reviewer: str
    decided_at: datetime
    version: int
    work_item_id: int | None
    assigned_to: str | None = None
    """The reviewer the draft's plan assigned (None when it names none); when that is not
    `reviewer`, the decision's audit entry names them as `assigned_to`."""


@dataclass(frozen=True)
class _PendingDraft:
    """A draft as read just before a decision on it: what the decision's write needs."""

    draft_id: int
    plan_id: int
    subtask_id: int
    subtask: str
    version: int
    """The version the decision expects (the caller's `expected_version`, else the one read)."""
    final_text: str | None
    """The result this decision gives the draft: its text, the reviewer's edit, or none."""
    assigned_to: str | None
    """The reviewer the draft's plan assigned (None when it names none)."""


def decide(
    store: ReviewStore,
    draft_id: int,
    reviewer: str,
    decision: Decision | DecisionName,
    edited_text: str | None = None,
    expected_version: int | None = None,
    note: str = "",
) -> DecisionResult:
    """Record `reviewer`'s decision on a draft.

    Parameters
    ----------
    decision:
        ``approve``, ``edit`` (then `edited_text` is the final result) or ``reject`` (the
        subtask becomes `reviewer`'s own work item, as the allocator's rework term assumes): a
        `Decision`, or a `DecisionName`. Typed ``str`` too, because callers pass what a button
        or a request body holds; anything else is refused at run time.
    expected_version:
        The draft's `version` when the reviewer read it (a `QueueItem` carries it). Give it
        from a UI where time passes between reading and deciding; left out, the version read
        now is used, which still refuses a draft that is already decided.

    Raises
    ------
    DraftAlreadyDecided
        Someone decided this draft first; nothing was stored.
    ReviewConflict
        The draft changed since `expected_version` (reload it).
    NotInStore
        No draft has this id.
    InvalidReviewInput
        (also a ValueError) Empty reviewer, unknown decision, `edited_text` missing or blank for
        an edit, given for another decision, or the draft unchanged; an argument of the wrong type.
        The message says what to pass instead.
    """
    chosen = _check_request(draft_id, reviewer, decision, edited_text, expected_version, note)
    reviewer = reviewer.strip()
    pending = _read_pending(store, draft_id, chosen, edited_text, expected_version)
    now = utcnow()
    review = Review(
        draft_id=draft_id,
        decision=chosen.value,
        edited_text=edited_text,
        reviewer=reviewer,
        note=note,
        decided_at=now,
    )
    work_item_id = None
    with store.session() as session:
        stored = _store_decision(session, pending, review)
        if stored and chosen is Decision.REJECT:
            work_item_id = _assign_rework(session, pending, reviewer)
    if not stored:
        raise _conflict(store, draft_id, pending.subtask, pending.version)
    return DecisionResult(
        draft_id, pending.subtask, chosen, reviewer, now, pending.version + 1, work_item_id, pending.assigned_to
    )


def _read_pending(
    store: ReviewStore,
    draft_id: int,
    decision: Decision,
    edited_text: str | None,
    expected_version: int | None,
) -> _PendingDraft:
    """The draft to decide, read in its own transaction.

    Raises `NotInStore` for no such draft, `DraftAlreadyDecided` for a decided one, and
    `InvalidReviewInput` for an edit that leaves the text as it is.
    """
    with store.session() as session:
        draft = session.get(Draft, draft_id)
        if draft is None:
            raise NotInStore("draft", draft_id, "See review_queue(store) for the drafts awaiting review.")
        subtask = session.get(Subtask, draft.subtask_id)
        assert subtask is not None  # a foreign key
        if draft.status != "pending":
            raise _already_decided(draft, subtask.key)
        if decision is Decision.EDIT and edited_text == draft.text:
            raise InvalidReviewInput(
                f"edited_text of draft {draft_id} is the draft unchanged; approve it instead",
                field="edited_text",
            )
        final_text = {Decision.APPROVE: draft.text, Decision.EDIT: edited_text, Decision.REJECT: None}[
            decision
        ]
        version = draft.version if expected_version is None else expected_version
        assigned_to = session.scalars(
            select(Assignment.worker).where(
                Assignment.plan_id == draft.plan_id,
                Assignment.subtask_id == draft.subtask_id,
                Assignment.role == "review",
            )
        ).first()
        return _PendingDraft(
            draft.id, draft.plan_id, draft.subtask_id, subtask.key, version, final_text, assigned_to
        )


def _store_decision(session: Session, pending: _PendingDraft, review: Review) -> bool:
    """Decide the draft if it is still pending at `pending.version`: the conditional UPDATE, then
    the review row and its audit event. False, with nothing written, when another write won."""
    status = Decision(review.decision).status
    # The write comes first in its transaction, so SQLite takes the write lock here and a
    # concurrent reviewer waits for it (busy timeout) and then matches no row.
    statement = (
        update(Draft)
        .where(Draft.id == pending.draft_id, Draft.version == pending.version, Draft.status == "pending")
        .values(
            status=status,
            version=pending.version + 1,
            decided_by=review.reviewer,
            decided_at=review.decided_at,
            final_text=pending.final_text,
        )
        .execution_options(synchronize_session=False)  # no pre-read: the UPDATE must come first
    )
    result = session.execute(statement)
    assert isinstance(result, CursorResult)  # an UPDATE's result carries its row count
    if result.rowcount != 1:
        return False
    session.add(review)
    record(
        session,
        review.reviewer,
        f"draft.{status}",
        "draft",
        pending.draft_id,
        subtask=pending.subtask,
        version=pending.version + 1,
        note=review.note,
        # Anyone may decide any draft (a colleague covers for someone away); the trail says
        # whose review it was.
        **({"assigned_to": pending.assigned_to} if pending.assigned_to not in (None, review.reviewer) else {}),
    )
    return True


def _assign_rework(session: Session, rejected: _PendingDraft, reviewer: str) -> int:
    """Make a rejected draft's subtask `reviewer`'s work item, in the rejection's transaction;
    return the item's id.

    The allocator charges the reviewer the rework of a failed draft, so the rejecting reviewer
    redoes the subtask; the output they submit becomes its result for later drafts.
    """
    item = WorkItem(
        plan_id=rejected.plan_id,
        subtask_id=rejected.subtask_id,
        worker=reviewer,
        origin="rejected_draft",
        draft_id=rejected.draft_id,
    )
    session.add(item)
    session.flush()
    record(
        session,
        reviewer,
        "work.assigned",
        "work_item",
        item.id,
        worker=reviewer,
        origin=item.origin,
        draft=rejected.draft_id,
    )
    return item.id


def _check_request(
    draft_id: object,
    reviewer: object,
    decision: object,
    edited_text: object,
    expected_version: object,
    note: object,
) -> Decision:
    """The decision, once every argument is known to be usable; `InvalidReviewInput` otherwise."""
    if isinstance(draft_id, bool) or not isinstance(draft_id, int):
        raise InvalidReviewInput(
            f"draft_id must be an integer, got {draft_id!r}; take it from review_queue(store)",
            field="draft_id",
        )
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise InvalidReviewInput(
            "a decision needs the reviewer's name; pass reviewer='your name'", field="reviewer"
        )
    if not isinstance(decision, str) or decision not in get_args(DecisionName):
        raise InvalidReviewInput(
            f"unknown decision {decision!r}; use one of {list(get_args(DecisionName))}", field="decision"
        )
    chosen = Decision(decision)
    if edited_text is not None and not isinstance(edited_text, str):
        raise InvalidReviewInput(
            f"edited_text must be text, got {type(edited_text).__name__}", field="edited_text"
        )
    if chosen is Decision.EDIT and not (edited_text or "").strip():
        raise InvalidReviewInput(
            f"an edit of draft {draft_id} needs edited_text, the corrected result (not blank)",
            field="edited_text",
        )
    if chosen is not Decision.EDIT and edited_text is not None:
        raise InvalidReviewInput(
            f"edited_text is only for decision='edit'; for {chosen.value!r} leave it out", field="edited_text"
        )
    if expected_version is not None and (
        isinstance(expected_version, bool) or not isinstance(expected_version, int)
    ):
        raise InvalidReviewInput(
            f"expected_version must be the integer version the queue showed (QueueItem.version), "
            f"got {expected_version!r}",
            field="expected_version",
        )
    if not isinstance(note, str):
        raise InvalidReviewInput(f"note must be text, got {type(note).__name__}", field="note")
    return chosen


def _already_decided(draft: Draft, subtask: str) -> DraftAlreadyDecided:
    return DraftAlreadyDecided(
        draft.id, subtask, draft.status, draft.decided_by or "?", as_utc(draft.decided_at)
    )


def _conflict(store: ReviewStore, draft_id: int, subtask: str, version: int) -> ReviewConflict:
    with store.session() as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None  # drafts are never deleted
        if draft.status != "pending":
            return _already_decided(draft, subtask)
        return ReviewConflict(
            f"draft {draft_id} of subtask {subtask!r} is at version {draft.version}, not {version} as you read it; "
            f"reload it from the review queue and decide again"
        )
