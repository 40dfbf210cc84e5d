"""Open the review database: find its URL, make SQLite safe for several processes, migrate the schema.

Where the database lives, first match wins:

1. the ``url`` passed to `open_store` (any SQLAlchemy URL, e.g.
   ``postgresql+psycopg://user@host/coassist`` for a team, or a plain file path);
2. the ``COASSIST_DB`` environment variable (a URL or a file path);
3. ``$XDG_DATA_HOME/coassist/coassist.db``, i.e. ``~/.local/share/coassist/coassist.db``.

The schema is Alembic's: opening a database creates it or brings it up to date, so nobody runs
a migration by hand. Users never run Alembic either: `alembic_config` is built in code, pointing
at the revisions shipped in ``coassist/review/migrations/versions`` (one schema change each; the
first, ``0002``, is the schema coassist created before Alembic, version 2).

``coassist_schema`` stays, and every revision that changes the schema sets its ``version`` to the
new `SCHEMA_VERSION`: coassists from before Alembic read only that number, and it is what makes
them refuse a database a newer coassist migrated instead of misreading it. The Alembic revision
is what this coassist goes by; the number is checked too, so either one written by a newer
coassist raises `SchemaTooNew`.

A new revision: change `coassist.review.schema`, then from the repository root::

    python -c "from alembic import command; from coassist.review.store import alembic_config; \\
    command.revision(alembic_config(), 'what changed', rev_id='0005')"

and write its ``upgrade``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from coassist.errors import SchemaTooNew
from coassist.review.schema import SCHEMA_VERSION, SchemaInfo

BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite writer waits for another process's write to finish before failing.

Writes here are a handful of rows (one drafting batch, one decision), milliseconds each; 30 s
only matters when a process holds the lock abnormally long, and then failing loudly is right.
"""

CONNECT_TIMEOUT_SECONDS = 10
"""How long connecting to PostgreSQL may take (unless the URL says): a server that does not answer
at all (a lost network) must not hold an agent, a widget or a server request forever."""


BASELINE = "0002"
"""The revision holding the schema coassist created before Alembic (schema version 2)."""

MIGRATION_LOCK = 0x636F6173_7369_7374
"""PostgreSQL advisory-lock key held while the schema is checked and migrated ("coassist" in
ASCII): two processes opening a new database at once must not both create the tables."""


def default_db_url() -> str:
    """The database URL used when none is given: `$COASSIST_DB`, else the per-user SQLite file."""
    configured = os.environ.get("COASSIST_DB")
    if configured:
        return as_db_url(configured)
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return as_db_url(str(data_home / "coassist" / "coassist.db"))


class ReviewStore:
    """A connection to one review database; every function of `coassist.review` takes one.

    Examples
    --------
    >>> store = open_store("sqlite://")  # in memory, for a quick look
    >>> store.schema_version, store.schema_revision
    (4, '0004')
    >>> store.close()
    """

    def __init__(self, engine: Engine, schema_revision: str) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.schema_version = SCHEMA_VERSION
        """The schema's version number (`coassist.review.schema.SCHEMA_VERSION`)."""
        self.schema_revision = schema_revision
        """The database's Alembic revision: the newest this coassist ships."""

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

    A new database gets the schema, an older one is migrated (see the module doc).
    For PostgreSQL the database itself must exist (``createdb coassist``); coassist creates
    the tables.

    Raises
    ------
    SchemaTooNew
        The database was written by a newer coassist; this one would misread it.
    """
    url = as_db_url(os.fspath(url)) if url else default_db_url()
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            # One shared connection, or every session would see its own empty in-memory database.
            from sqlalchemy.pool import StaticPool

            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs.update(connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    with engine.connect() as connection:
        revision = _migrate(connection)
        connection.commit()
    return ReviewStore(engine, revision)


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored time in UTC. SQLite hands back naive datetimes (every time coassist stores is
    UTC); PostgreSQL hands back aware ones in the server's time zone, which need not be UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def as_db_url(text: str) -> str:
    """A SQLAlchemy URL as is; anything else is taken as an SQLite file path."""
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (a review queue) work while another process writes (drafting), and the
    busy timeout makes a second writer wait for the first instead of failing at once."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes, the case here
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL once (the mode is stored in the file, so later connections only
    read it). Switching needs the file to itself, and SQLite answers "database is locked" at
    once, without its busy timeout, while another process holds it (a first open migrating the
    schema): wait for that as the busy timeout would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for coassist's migrations, run on `connection` (see ``env.py``)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


def _migrate(connection: Connection) -> str:
    """Bring the database on `connection` to this coassist's schema; return its revision.

    Everything happens in the connection's transaction, begun here under a lock that a second
    process opening the same database waits on (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a
    transaction-level advisory lock). The caller commits, so a failure migrates nothing.
    A database from before Alembic (``coassist_schema`` and no ``alembic_version``) is brought
    under Alembic: version 1 gets the columns version 2 added, then it is stamped `BASELINE`.

    Raises
    ------
    SchemaTooNew
        A newer coassist wrote the database (an unknown revision, or a higher schema version).
    """
    _lock(connection)
    legacy = _legacy_version(connection)
    current = MigrationContext.configure(connection).get_current_revision()
    head = _scripts().get_current_head()
    assert head is not None  # versions/ is shipped with the package
    if legacy is not None and legacy > SCHEMA_VERSION:
        raise _too_new(connection, f"schema version {legacy}", f"up to version {SCHEMA_VERSION}")
    if current is not None and current not in _known_revisions():
        raise _too_new(
            connection, f"schema revision {current!r}", f"up to revision {head!r} (version {SCHEMA_VERSION})"
        )
    if current is None and legacy is not None:
        _adopt(connection, legacy)
        current = BASELINE
    if current != head:
        command.upgrade(alembic_config(connection), "head")
    return head


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def _lock(connection: Connection) -> None:
    """Begin the migration's transaction holding the database's schema lock."""
    if connection.dialect.name == "sqlite":
        # pysqlite would otherwise run each CREATE in its own transaction: take the write lock first.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))


def _legacy_version(connection: Connection) -> int | None:
    """The schema version in ``coassist_schema``, or None for a database coassist never wrote."""
    if not inspect(connection).has_table(SchemaInfo.__tablename__):
        return None
    return connection.execute(select(SchemaInfo.version)).scalar()


def _version_2_columns() -> list[tuple[str, sa.Column[object]]]:
    """The nullable columns schema version 2 added to version 1's tables (new objects per call:
    a Column belongs to one table)."""
    return [
        ("assignments", sa.Column("claimed_by", sa.String(200), nullable=True)),
        ("assignments", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True)),
        ("work_items", sa.Column("done_by", sa.String(200), nullable=True)),
    ]


def _adopt(connection: Connection, version: int) -> None:
    """Bring a database coassist created before Alembic under it: a version-1 database first gets
    version 2's columns (``ADD COLUMN`` in place, its data kept), then it is stamped `BASELINE`."""
    if version < 2:
        operations = Operations(MigrationContext.configure(connection))
        for table, column in _version_2_columns():
            present = {c["name"] for c in inspect(connection).get_columns(table)}
            if column.name not in present:
                operations.add_column(table, column)
        connection.execute(update(SchemaInfo).values(version=2))
    command.stamp(alembic_config(connection), BASELINE)


def _too_new(connection: Connection, found: str, known: str) -> SchemaTooNew:
    url = connection.engine.url.render_as_string(hide_password=True)
    return SchemaTooNew(
        f"the review database {url} has {found}, but this coassist understands only {known}. "
        f"Upgrade coassist (pip install -U coassist), or point COASSIST_DB at another database."
    )
