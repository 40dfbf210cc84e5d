"""How a widget learns that its review store was closed, and the line it says then.

A notebook closes its store in a later cell (`store.close()`, or the end of a ``with
open_store(...)`` block) while the widgets drawn from it stay on screen. Closing disposes the
store's SQLAlchemy engine, which fires the engine's ``engine_disposed`` event; the widgets
listen for it, stop, and say so, instead of offering buttons that can only fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from coassist.review import ReviewStore


class StoreWatch:
    """Calls `on_closed` (once, with the time) when `store` is closed; `stop()` stops watching."""

    def __init__(self, store: ReviewStore, on_closed: Callable[[datetime], None]) -> None:
        self._engine = store.engine
        self._on_closed = on_closed
        self._fired = threading.Event()
        event.listen(self._engine, "engine_disposed", self._closed)

    @property
    def closed(self) -> bool:
        return self._fired.is_set()

    def stop(self) -> None:
        if event.contains(self._engine, "engine_disposed", self._closed):
            event.remove(self._engine, "engine_disposed", self._closed)

    def _closed(self, _engine: object) -> None:
        if not self._fired.is_set():
            self._fired.set()
            self._on_closed(datetime.now())


def closed_line(what: str, at: datetime) -> str:
    """The one line a widget shows once its store is closed.

    >>> closed_line("this queue takes no more decisions", datetime(2026, 3, 1, 14, 5, 9))
    'The review database was closed at 14:05:09 (store.close()): this queue takes no more decisions.'
    """
    return f"The review database was closed at {at:%H:%M:%S} (store.close()): {what}."


def failure_line(error: SQLAlchemyError, outcome: str) -> str:
    """A database failure in one line: the driver's first line, then what it means here.

    >>> from sqlalchemy.exc import OperationalError
    >>> failure_line(OperationalError("SELECT 1", {}, Exception("unable to open database file")), "nothing was stored")
    'The review database failed (unable to open database file): nothing was stored.'
    """
    reason = str(getattr(error, "orig", None) or error).splitlines()[0]
    return f"The review database failed ({reason}): {outcome}."
