"""The audit trail: every change to the review database, written in the same transaction.

Writing the event inside the change's own transaction means the trail can never disagree with
the data: a crash loses both or neither.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coassist.review.schema import AuditEvent
from coassist.review.store import ReviewStore, as_utc


@dataclass(frozen=True)
class AuditEntry:
    """One recorded change. `entity` is a table ('plan', 'draft', ...), `entity_id` its row id."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int
    detail: dict[str, Any]


def current_user() -> str:
    """Who to record when the caller names no one: the OS login, as git does."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def record(session: Session, actor: str, action: str, entity: str, entity_id: int, **detail: Any) -> None:
    session.add(AuditEvent(actor=actor, action=action, entity=entity, entity_id=entity_id, detail=detail))


def audit_trail(
    store: ReviewStore, entity: str | None = None, entity_id: int | None = None
) -> list[AuditEntry]:
    """The recorded changes, oldest first, optionally only those of one entity (e.g. a draft)."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if entity is not None:
        query = query.where(AuditEvent.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    with store.session() as session:
        return [
            AuditEntry(e.id, as_utc(e.at), e.actor, e.action, e.entity, e.entity_id, dict(e.detail))  # type: ignore[arg-type]
            for e in session.scalars(query)
        ]
