"""Open the review database: find its URL, make SQLite safe for several processes, check the schema.

Where the database lives, first match wins:

1. the ``url`` passed to `open_store` (any SQLAlchemy URL, e.g.
   ``postgresql+psycopg://user@host/coassist`` for a team, or a plain file path);
2. the ``COASSIST_DB`` environment variable (a URL or a file path);
3. ``$XDG_DATA_HOME/coassist/coassist.db``, i.e. ``~/.local/share/coassist/coassist.db``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from coassist.errors import SchemaTooNew
from coassist.review.schema import SCHEMA_VERSION, Base, SchemaInfo

BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite writer waits for another process's write to finish before failing.

Writes here are a handful of rows (one drafting batch, one decision), milliseconds each; 30 s
only matters when a process holds the lock abnormally long, and then failing loudly is right.
"""


def default_db_url() -> str:
    """The database URL used when none is given: `$COASSIST_DB`, else the per-user SQLite file."""
    configured = os.environ.get("COASSIST_DB")
    if configured:
        return _as_url(configured)
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return _as_url(str(data_home / "coassist" / "coassist.db"))


class ReviewStore:
    """A connection to one review database; every function of `coassist.review` takes one.

    Examples
    --------
    >>> store = open_store("sqlite://")  # in memory, for a quick look
    >>> store.schema_version
    2
    >>> store.close()
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.schema_version = SCHEMA_VERSION

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReviewStore({self.url!r})"


def open_store(url: str | os.PathLike[str] | None = None) -> ReviewStore:
    """Open (creating if needed) the review database at `url` (a SQLAlchemy URL or an SQLite
    file path); see the module doc for the default.

    Raises
    ------
    SchemaTooNew
        The database was written by a newer coassist; this one would misread it.
    """
    url = _as_url(os.fspath(url)) if url else default_db_url()
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            # One shared connection, or every session would see its own empty in-memory database.
            from sqlalchemy.pool import StaticPool

            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    _create_or_check_schema(engine)
    return ReviewStore(engine)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time coassist stores is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _as_url(text: str) -> str:
    """A SQLAlchemy URL as is; anything else is taken as an SQLite file path."""
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (a review queue) work while another process writes (drafting), and the
    busy timeout makes a second writer wait for the first instead of failing at once."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes, the case here
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _create_or_check_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # Two processes opening a new file at once must not both create the tables: take the
            # write lock first (pysqlite would otherwise run each CREATE in its own transaction).
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        info = None
        if engine.dialect.has_table(connection, SchemaInfo.__tablename__):
            info = connection.execute(select(SchemaInfo.version)).scalar()
        if info is not None and info > SCHEMA_VERSION:
            connection.rollback()
            raise SchemaTooNew(
                f"the review database {engine.url.render_as_string(hide_password=True)} has schema "
                f"version {info}, but this coassist understands only up to version {SCHEMA_VERSION}. "
                f"Upgrade coassist (pip install -U coassist), or point COASSIST_DB at another database."
            )
        if info is not None and info < SCHEMA_VERSION:
            _upgrade(connection, info)
        Base.metadata.create_all(connection)
        if info is None:
            connection.execute(insert(SchemaInfo).values(id=1, version=SCHEMA_VERSION))
        connection.commit()


_ADDED_COLUMNS = {
    2: {"assignments": ("claimed_by", "claimed_until"), "work_items": ("done_by",)},
}
"""Columns each schema version added to existing tables (new tables need no step: create_all)."""


def _upgrade(connection: Connection, found: int) -> None:
    """Bring a database written by an older coassist up to `SCHEMA_VERSION`, in the caller's
    transaction, so a crash upgrades all of it or none. Only nullable columns have been added so
    far, which ``ALTER TABLE ... ADD COLUMN`` does in place on SQLite and PostgreSQL alike."""
    for version in range(found + 1, SCHEMA_VERSION + 1):
        for table, columns in _ADDED_COLUMNS.get(version, {}).items():
            present = {column["name"] for column in inspect(connection).get_columns(table)}
            for name in columns:
                if name in present:
                    continue
                column = Base.metadata.tables[table].c[name]
                kind = column.type.compile(dialect=connection.dialect)
                connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    connection.execute(update(SchemaInfo).values(version=SCHEMA_VERSION))
