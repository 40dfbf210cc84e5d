"""Riding out a lost database: which errors mean it is away, one log line per outage, backoff,
and when to give up.

An agent runs for days against a team's database, which restarts now and then (an upgrade, a
failover). Nothing the agent does needs one connection to survive: each unit of work is its own
transaction, the pool reconnects, and every write under a drafting claim is fenced
(`coassist.review.drafting`), so after a reconnect the agent simply tries the unit again and the
fence re-checks its claims. What it must not do is die with a traceback, or log every retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from coassist.errors import DatabaseUnreachable

log = logging.getLogger("coassist.agent")

FIRST_RETRY_SECONDS = 0.1
RETRY_CAP_SECONDS = 2.0
"""Waits between tries double from `FIRST_RETRY_SECONDS` up to this: a database back from a
restart is in use again within 2 s, and a long outage costs a try every 2 s per agent."""


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached (refused, dropped, shutting down,
    locked past the busy timeout), as opposed to a statement it refused, which no retry mends."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def reason(error: BaseException) -> str:
    """The driver's own first line of `error` (SQLAlchemy's adds a URL to its docs, and psycopg's
    a hint on a second line)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Outage:
    """The database as an agent's threads find it: the first failure of an outage logs one line,
    the first success after it one more; `next_wait` gives the backoff and gives up after
    `give_up_seconds`. Thread-safe: the heartbeat reports here too.

    `fields` gives the agent's own log fields (its id changes with each run).
    """

    def __init__(self, url: str, give_up_seconds: float, fields: Callable[..., dict[str, object]]) -> None:
        self._url = url
        self._give_up = give_up_seconds
        self._fields = fields
        self._lock = threading.Lock()
        self._since: float | None = None
        self._tries = 0
        self._reason = ""

    def failed(self, error: BaseException) -> None:
        """Note that the database did not answer (`is_outage(error)`)."""
        with self._lock:
            self._reason = reason(error)
            if self._since is not None:
                return
            self._since, self._tries = time.monotonic(), 0
        log.warning(
            "database unreachable; retrying",
            extra=self._fields(event="db_unreachable", error=self._reason, give_up_seconds=self._give_up),
        )

    def recovered(self, started: float) -> None:
        """Note that the database answered a try begun at `started` (`time.monotonic()`).

        Only a try begun after the outage was noted ends it: during a shutdown a transaction
        already under way may still commit after another has been refused, and taking that as
        the database's return would log a second outage a moment later."""
        with self._lock:
            if self._since is None or started < self._since:
                return
            seconds, self._since = time.monotonic() - self._since, None
        log.info("database reachable again", extra=self._fields(event="db_back", seconds=round(seconds, 1)))

    def next_wait(self) -> float:
        """Seconds to wait before the next try during an outage (doubling up to `RETRY_CAP_SECONDS`).

        Raises
        ------
        DatabaseUnreachable
            The outage has lasted `give_up_seconds`.
        """
        with self._lock:
            since = time.monotonic() if self._since is None else self._since
            down = time.monotonic() - since
            if down >= self._give_up:
                raise DatabaseUnreachable(self._url, down, self._reason, self._give_up)
            wait = min(FIRST_RETRY_SECONDS * 2**self._tries, RETRY_CAP_SECONDS, self._give_up - down)
            self._tries = min(self._tries + 1, 8)  # past the cap already; and 2**n stays a small float
        return wait
