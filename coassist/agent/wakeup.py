"""How an idle agent waits for the next change: a nap on SQLite, a notification on PostgreSQL.

Every change to the review store writes an audit row in its own transaction. On PostgreSQL a
statement trigger on ``audit`` (migration 0003) sends ``NOTIFY coassist`` when such a
transaction commits, so an agent LISTENing wakes within milliseconds of a decision, a draft or
a capacity change instead of at its next poll. SQLite has no notifications: the agent sleeps,
backing off (`AgentConfig.max_poll_seconds`). Either way the wait ends at once when the agent is
asked to stop.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from coassist.review.store import ReviewStore

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
    """PostgreSQL: LISTEN on a connection of the store's own pool, held while the agent runs."""

    def __init__(self, store: ReviewStore) -> None:
        self._raw = store.engine.raw_connection()
        connection: Any = self._raw.driver_connection  # psycopg's own Connection
        connection.autocommit = True
        connection.execute(f"LISTEN {CHANNEL}")
        self._connection = connection

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        remaining = seconds
        while remaining > 0 and not stop.is_set():
            window = min(remaining, STOP_CHECK_SECONDS)
            if any(True for _ in self._connection.notifies(timeout=window, stop_after=1)):
                self._drain()
                return True
            remaining -= window
        return stop.is_set()

    def _drain(self) -> None:
        """Drop notifications already queued: one wake-up covers a burst of changes."""
        for _ in self._connection.notifies(timeout=0.0):
            pass

    def close(self) -> None:
        self._connection.execute(f"UNLISTEN {CHANNEL}")
        self._connection.autocommit = False
        self._raw.close()  # back to the pool


def wakeup_for(store: ReviewStore) -> Wakeup:
    return Listen(store) if store.engine.dialect.name == "postgresql" else Nap()
