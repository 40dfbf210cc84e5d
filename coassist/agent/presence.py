"""An agent's presence in the store: its row in ``agents``, the heartbeat, and noticing lost agents.

The heartbeat is also what keeps the agent's drafting claim alive: each beat moves the lease of
the claim it drafts under forward (through the claim's fence), so a batch may take longer than
one lease while the agent lives, and once it dies (``kill -9``, a lost machine) its claim lapses
within one lease and another agent drafts the subtasks.

An agent that was only away (paused, cut off from the database) beats again when it is back:
its row is ``running`` again, and it is live to every status view from that beat on. If another
agent had marked it lost and its worker had no other agent, the trail records
``agent.returned``, so a re-plan gives the worker its hours back.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from coassist.agent.outage import Outage, is_outage
from coassist.agent.state import heartbeat_expired
from coassist.review.audit import record
from coassist.review.drafting import BatchClaim, extend_claim
from coassist.review.schema import AgentRecord, AgentState, utcnow
from coassist.review.store import ReviewStore, as_utc

log = logging.getLogger("coassist.agent")


def register(
    store: ReviewStore, agent_id: str, plan_id: int, worker: str, model: str, lease_seconds: float
) -> None:
    """Add the agent's row. An AI worker whose earlier agents are all gone has its hours back
    from now, which the trail records as ``agent.returned`` (a re-plan trigger)."""
    now = utcnow()
    with store.session() as session:
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
        _note_return(session, agent_id, plan_id, worker, was_lost=False)


def beat(store: ReviewStore, agent_id: str, lease_seconds: float, claim: BatchClaim | None = None) -> None:
    """Say the agent is alive (``running`` again if it had been marked lost), and extend the
    lease of `claim`, the claim it is drafting under, where it still holds it."""
    now = utcnow()
    with store.session() as session:
        if not _touch(session, agent_id, "running", now) and _touch(session, agent_id, "lost", now):
            row = session.get(AgentRecord, agent_id)
            assert row is not None  # just updated
            _note_return(session, agent_id, row.plan_id, row.worker, was_lost=True)
    if claim is not None:
        extend_claim(store, claim, lease_seconds)


def _touch(session: Session, agent_id: str, state: Literal["running", "lost"], now: datetime) -> bool:
    """Set the agent's heartbeat to `now` (and its state to running) if its row is in `state`."""
    result = session.execute(
        update(AgentRecord)
        .where(AgentRecord.id == agent_id, AgentRecord.state == state)
        .values(heartbeat_at=now, state="running")
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def _note_return(session: Session, agent_id: str, plan_id: int, worker: str, was_lost: bool) -> None:
    """Record ``agent.returned`` (a re-plan trigger) when this agent brings its AI worker back:
    the worker had agents (this one, marked lost, or earlier ones) and no other is running, so a
    re-plan took its hours away (`coassist.agent.replanning._team_now`)."""
    others: list[AgentState] = list(
        session.scalars(
            select(AgentRecord.state).where(
                AgentRecord.plan_id == plan_id, AgentRecord.worker == worker, AgentRecord.id != agent_id
            )
        )
    )
    if (was_lost or others) and "running" not in others:
        record(session, agent_id, "agent.returned", "plan", plan_id, worker=worker)


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
    """A daemon thread beating four times a lease until `stop()`; generation never delays it.

    A beat the database does not answer goes to `outage` (one log line per outage), and the
    next beat tries again.
    """

    def __init__(self, store: ReviewStore, agent_id: str, lease_seconds: float, outage: Outage) -> None:
        self._store = store
        self._agent_id = agent_id
        self._lease = lease_seconds
        self._outage = outage
        self.claim: BatchClaim | None = None
        """The claim the agent drafts under now, whose lease each beat extends (None between batches)."""
        self._last_beat = time.monotonic()  # registering was the first beat
        self._gap_at: float | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"coassist-heartbeat-{agent_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def since_gap(self) -> float:
        """Seconds since this agent's own heartbeat last had a gap: a beat the database did not
        answer, or a pause longer than a lease (SIGSTOP, a suspended machine); infinite when it
        never had one.

        After a gap of its own an agent must not judge the others' heartbeats until they had a
        lease to beat too: a database restart leaves every agent's heartbeat old at once."""
        gap = self._gap_at
        return math.inf if gap is None else time.monotonic() - gap

    def _run(self) -> None:
        # Four beats a lease: one late beat (a busy database) never lets a live agent look lost.
        while not self._stopped.wait(self._lease / 4):
            now = time.monotonic()
            try:
                beat(self._store, self._agent_id, self._lease, self.claim)
            except SQLAlchemyError as error:
                if is_outage(error):
                    self._outage.failed(error)
                    self._gap_at = now
                else:  # a statement refused: say so, and beat again next time
                    log.warning("heartbeat failed", extra={"event": "heartbeat_failed", "error": str(error)})
                continue
            self._outage.recovered(now)
            if now - self._last_beat > self._lease:  # back from a pause, or from an outage
                self._gap_at = now
            self._last_beat = now
