"""Review-store calls for the server, run on worker threads so the event loop never waits on them.

Every store call can block: SQLite makes a writer wait (up to its 30 s busy timeout) while another
process (a kernel drafting, a second server) holds the write lock, and a PostgreSQL store waits
on the network. On Jupyter's event loop that froze the whole server, `/api/status` included, for
as long as the lock was held. Here each call runs on a small bounded pool and the handler awaits it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy.engine import make_url

from coassist.errors import LinkedDatabaseGone
from coassist.review import ReviewStore, open_store

T = TypeVar("T")

STORE_THREADS = 4
"""Worker threads for store calls. SQLite runs one writer at a time anyway; four let the sidebar's
reads go on while a decision waits for another process's lock, and bound how many threads a
burst of requests can tie up (later calls queue, the event loop stays free)."""


class StoreAccess:
    """The server's review store, opened on first use (a server whose users never open the sidebar
    never touches the database), and every call on it run off the event loop."""

    def __init__(self, open_store: Callable[[], ReviewStore], threads: int = STORE_THREADS) -> None:
        self._open_store = open_store
        self._store: ReviewStore | None = None
        self._opening = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="coassist-store")

    async def run(self, work: Callable[[ReviewStore], T]) -> T:
        """`work(store)` on a store thread; its result, or its exception, comes back here."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.run_sync, work)

    def run_sync(self, work: Callable[[ReviewStore], T]) -> T:
        return work(self.store())

    def store(self) -> ReviewStore:
        """The open store. Opening creates or checks the schema under SQLite's write lock, so it too
        runs on a store thread; a failed open is tried again by the next request."""
        with self._opening:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._store is not None:
            self._store.close()


DatabaseSource = Literal["notebook", "server"]
"""Whose database a request read: the one the current notebook showed with `show_in_sidebar`,
or the server's own (`CoassistServer.db_url`)."""


@dataclass(frozen=True)
class Database:
    """The review database a request reads: its store, its URL as people see it (password
    hidden) and whose it is."""

    access: StoreAccess | None
    """None when it is gone: the SQLite file a notebook showed has been deleted since."""
    url: str
    source: DatabaseSource

    @property
    def gone(self) -> bool:
        return self.access is None

    def store(self) -> StoreAccess:
        """Its store, for a write; `LinkedDatabaseGone` when there is none (reads say so quietly)."""
        if self.access is None:
            raise LinkedDatabaseGone(self.url)
        return self.access


def shown_url(url: str) -> str:
    """A database URL with its password hidden, as replies and the sidebar show it.

    >>> shown_url("postgresql+psycopg://ana:secret@db/coassist")
    'postgresql+psycopg://ana:***@db/coassist'
    """
    return make_url(url).render_as_string(hide_password=True)


class LinkedStores:
    """The stores notebooks showed in the sidebar, one `StoreAccess` per database URL, opened
    on first use and kept while they are asked for (a notebook's sidebar polls every few
    seconds; opening a store checks its schema)."""

    def __init__(self) -> None:
        self._stores: dict[str, StoreAccess] = {}

    def get(self, url: str) -> StoreAccess:
        if url not in self._stores:
            self._stores[url] = StoreAccess(lambda: open_store(url))
        return self._stores[url]

    def forget(self, url: str) -> None:
        """Close the store of a database that is gone (its engine would read a deleted file)."""
        access = self._stores.pop(url, None)
        if access is not None:
            access.close()

    def close(self) -> None:
        for url in list(self._stores):
            self.forget(url)
