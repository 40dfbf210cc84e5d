"""How an idle agent waits for the next change: a nap on SQLite, a notification on PostgreSQL.

Every change to the review store writes an audit row in its own transaction. On PostgreSQL a
statement trigger on ``audit`` (migration 0003) sends ``NOTIFY coassist`` when such a
transaction commits, so an agent LISTENing wakes within milliseconds of a decision, a draft or
a capacity change instead of at its next poll. SQLite has no notifications: the agent sleeps,
backing off (`AgentConfig.max_poll_seconds`). Either way the wait ends at once when the agent is
asked to stop.

The LISTEN connection is the agent's own (not the store's pool's), named ``coassist-agent <id>``
in ``pg_stat_activity``. When it breaks (the server restarted) the wait ends, so the agent looks
at the store at once and meets the outage there; the next wait connects and LISTENs again, and
ends at once too, since changes made while nobody listened were never notified.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from coassist.review.store import CONNECT_TIMEOUT_SECONDS, ReviewStore

CHANNEL = "coassist"
"""The channel the audit trigger notifies (see migrations/versions/0003_scheduling_agent.py)."""

STOP_CHECK_SECONDS = 0.25
"""How often a LISTENing wait looks at the stop request (psycopg's wait cannot watch an Event)."""


class Wakeup(Protocol):
    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to `seconds`; True when woken by a change (or asked to stop) before that."""

    def close(self) -> None: ...


class Nap:
    """SQLite: sleep, interrupted only by a stop request."""

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(seconds)

    def close(self) -> None:
        return None


class Listen:
    """PostgreSQL: LISTEN on a connection of its own, connected again after it breaks."""

    def __init__(self, store: ReviewStore, name: str) -> None:
        self._dialect = store.engine.dialect
        cargs, cparams = self._dialect.create_connect_args(store.engine.url)
        cparams.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        self._connect_args: tuple[list[Any], dict[str, Any]] = (
            list(cargs),
            {**cparams, "application_name": name, "autocommit": True},
        )
        self._connection: Any = None  # psycopg's own Connection, while LISTENing
        self._connect()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        import psycopg

        if self._connection is None:
            # Back (True): changes made meanwhile were never notified. Still away: a nap.
            return True if self._connect() else stop.wait(seconds)
        remaining = seconds
        try:
            while remaining > 0 and not stop.is_set():
                window = min(remaining, STOP_CHECK_SECONDS)
                if any(True for _ in self._connection.notifies(timeout=window, stop_after=1)):
                    self._drain()
                    return True
                remaining -= window
        except psycopg.Error:  # the connection broke: look at the store now
            self.close()
            return True
        return stop.is_set()

    def _connect(self) -> bool:
        """Connect and LISTEN; False (and no connection) while the server does not answer."""
        import psycopg

        cargs, cparams = self._connect_args
        try:
            connection = self._dialect.connect(*cargs, **cparams)
        except psycopg.Error:
            return False
        try:
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            connection.close()
            return False
        self._connection = connection
        return True

    def _drain(self) -> None:
        """Drop notifications already queued: one wake-up covers a burst of changes."""
        for _ in self._connection.notifies(timeout=0.0):
            pass

    def close(self) -> None:
        """Stop listening (closing the connection ends its LISTEN)."""
        import psycopg

        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except psycopg.Error:  # already broken
                pass


def wakeup_for(store: ReviewStore, name: str = "coassist-agent") -> Wakeup:
    """How an agent waits on `store`; `name` labels its LISTEN connection on PostgreSQL."""
    return Listen(store, name) if store.engine.dialect.name == "postgresql" else Nap()
