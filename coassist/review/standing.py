"""Where a subtask stands, and so what is ready for the AI and whose: the one rule.

Drafting reads it to pick what to claim (`coassist.review.drafting.ready_ai_subtasks`), and the
scheduling agent's plan state (`coassist.agent.state`) to count, forecast and re-plan: one
function, so the subtasks an agent drafts are exactly the ones every status view calls ready.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from coassist.review.schema import DraftStatus
from coassist.review.store import as_utc

SubtaskState = Literal["waiting", "ready", "drafting", "in_review", "rework", "with_person", "done"]
"""Where a subtask stands: `waiting` for a dependency; `ready` for the AI to draft; `drafting`
(an agent holds a live claim); `in_review` (a draft waits for its reviewer); `rework` (the draft
was rejected and the reviewer redoes it); `with_person` (a person's, dependencies finished);
`done` (an approved or edited draft, or submitted work)."""

DRAFTABLE: frozenset[SubtaskState] = frozenset({"ready", "drafting"})
"""The states of an AI subtask with no draft whose dependencies are finished: what drafting
offers (a claimed one with its holder, to be skipped by everyone else)."""


def subtask_state(
    *, finished: bool, draft: DraftStatus | None, ai_doer: bool, claimed: bool, blocked: bool
) -> SubtaskState:
    """Where a subtask stands (see `SubtaskState`).

    Parameters
    ----------
    finished:
        It has a result: its draft approved or edited, or a person's work on it submitted.
    draft:
        Its draft's review status; None when it has no draft.
    ai_doer:
        The plan gives it to an AI worker.
    claimed:
        A drafting run holds a live claim on it (`claim_live`).
    blocked:
        A dependency is not finished.

    Examples
    --------
    >>> subtask_state(finished=False, draft=None, ai_doer=True, claimed=False, blocked=False)
    'ready'
    >>> subtask_state(finished=False, draft="rejected", ai_doer=True, claimed=False, blocked=False)
    'rework'
    """
    if finished:
        return "done"
    if draft is not None:
        return "in_review" if draft == "pending" else "rework"
    if blocked:
        return "waiting"
    if ai_doer:
        return "drafting" if claimed else "ready"
    return "with_person"


def claim_live(claimed_by: str | None, claimed_until: datetime | None, now: datetime) -> bool:
    """Whether a drafting claim holds its subtask at `now`: it has a holder and its lease has
    not run out."""
    lease_end = as_utc(claimed_until)
    return claimed_by is not None and lease_end is not None and lease_end > now
