"""An agent's presence in the store: its row in ``agents``, the heartbeat, and noticing lost agents.

The heartbeat is also what keeps the agent's drafting claims alive: each beat moves the lease
of every claim it holds forward, so a batch may take longer than one lease while the agent
lives, and once it dies (``kill -9``, a lost machine) its claims lapse within one lease and
another agent drafts them.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import SQLAlchemyError

from coassist.agent.state import heartbeat_expired
from coassist.review.audit import record
from coassist.review.schema import AgentRecord, Assignment, utcnow
from coassist.review.store import ReviewStore, as_utc

log = logging.getLogger("coassist.agent")


def register(
    store: ReviewStore, agent_id: str, plan_id: int, worker: str, model: str, lease_seconds: float
) -> None:
    """Add the agent's row. An AI worker whose earlier agents are all gone has its hours back
    from now, which the trail records as ``agent.returned`` (a re-plan trigger)."""
    now = utcnow()
    with store.session() as session:
        earlier = session.scalars(
            select(AgentRecord.state).where(AgentRecord.plan_id == plan_id, AgentRecord.worker == worker)
        ).all()
        session.add(
            AgentRecord(
                id=agent_id,
                plan_id=plan_id,
                worker=worker,
                model=model,
                started_at=now,
                heartbeat_at=now,
                lease_seconds=lease_seconds,
            )
        )
        record(session, agent_id, "agent.started", "agent", plan_id, worker=worker, model=model)
        if earlier and "running" not in earlier:
            record(session, agent_id, "agent.returned", "plan", plan_id, worker=worker)


def beat(store: ReviewStore, agent_id: str, lease_seconds: float) -> None:
    """Say the agent is alive, and extend the leases of the claims it holds."""
    now = utcnow()
    with store.session() as session:
        session.execute(
            update(AgentRecord)
            .where(AgentRecord.id == agent_id, AgentRecord.state == "running")
            .values(heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Assignment)
            .where(Assignment.claimed_by == agent_id)
            .values(claimed_until=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )


def count_drafts(store: ReviewStore, agent_id: str, drafted: int) -> None:
    with store.session() as session:
        session.execute(
            update(AgentRecord)
            .where(AgentRecord.id == agent_id)
            .values(drafted=AgentRecord.drafted + drafted)
            .execution_options(synchronize_session=False)
        )


def sign_off(store: ReviewStore, agent_id: str, plan_id: int) -> None:
    """Mark the agent stopped (its claims were released by then)."""
    with store.session() as session:
        session.execute(
            update(AgentRecord)
            .where(AgentRecord.id == agent_id)
            .values(state="stopped", stopped_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        record(session, agent_id, "agent.stopped", "agent", plan_id)


def mark_lost(store: ReviewStore, plan_id: int, noticed_by: str) -> list[str]:
    """Mark the plan's running agents whose heartbeat is older than their lease as lost, each
    once (a conditional UPDATE: of two agents noticing at once, one records it); return their ids."""
    now = utcnow()
    lost: list[str] = []
    with store.session() as session:
        candidates = session.execute(
            select(
                AgentRecord.id, AgentRecord.worker, AgentRecord.heartbeat_at, AgentRecord.lease_seconds
            ).where(
                AgentRecord.plan_id == plan_id, AgentRecord.state == "running", AgentRecord.id != noticed_by
            )
        ).all()
    for agent_id, worker, heartbeat, lease in candidates:
        if not heartbeat_expired(as_utc(heartbeat) or now, lease, now):
            continue  # alive: no write, so idle agents polling SQLite never queue for its lock
        deadline = now - timedelta(seconds=lease)
        with store.session() as session:
            result = session.execute(
                update(AgentRecord)
                .where(
                    AgentRecord.id == agent_id,
                    AgentRecord.state == "running",
                    AgentRecord.heartbeat_at < deadline,
                )
                .values(state="lost")
                .execution_options(synchronize_session=False)
            )
            assert isinstance(result, CursorResult)
            if result.rowcount == 1:
                record(session, noticed_by, "agent.lost", "plan", plan_id, agent=agent_id, worker=worker)
                lost.append(agent_id)
    return lost


class Heartbeat:
    """A daemon thread beating four times a lease until `stop()`; generation never delays it."""

    def __init__(self, store: ReviewStore, agent_id: str, lease_seconds: float) -> None:
        self._store = store
        self._agent_id = agent_id
        self._lease = lease_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"coassist-heartbeat-{agent_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        # Four beats a lease: one late beat (a busy database) never lets a live agent look lost.
        while not self._stopped.wait(self._lease / 4):
            try:
                beat(self._store, self._agent_id, self._lease)
            except SQLAlchemyError as error:  # the database away for a moment: beat again next time
                log.warning("heartbeat failed", extra={"event": "heartbeat_failed", "error": str(error)})
