"""A throwaway PostgreSQL server for tests: a cluster in a temp dir, a fresh database per test.

The binaries are Debian's (``apt-get install postgresql``, which scripts/setup.sh does when
run as root): ``initdb`` and ``pg_ctl`` from /usr/lib/postgresql/<version>/bin. PostgreSQL
refuses to run as root, so as root the cluster belongs to, and runs as, the ``postgres`` user.

The server listens on a free port of 127.0.0.1 with trust authentication, and trades
durability for speed (no fsync: the cluster is deleted at the end anyway). Its time zone is
not UTC on purpose: coassist must hand back UTC times whatever the server's zone.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

INSTALL_HINT = (
    "PostgreSQL binaries (initdb, pg_ctl) not found: install them with "
    "`sudo apt-get install postgresql` (scripts/setup.sh does so when run as root)"
)

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
"""For a test that takes `db_url` where PostgreSQL adds no evidence (input checks made before
any write, or a reason given beside the test): each PostgreSQL run costs a fresh database."""

SERVER_TIME_ZONE = "Asia/Kolkata"
"""UTC+05:30 all year: a stored time read back as local time would be off by five and a half hours."""


def postgres_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl (newest Debian version first, then $PATH), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major_version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for directory in map(Path, candidates):
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def throwaway_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server of its own for a fixture to yield from, stopped after; skips the
    tests that need it, saying how to install it, where the binaries are missing."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip(INSTALL_HINT)
    cluster = PostgresCluster(bin_dir)
    yield cluster
    cluster.stop()


class PostgresCluster:
    """A running server in `root`; `database()` makes a database for one test."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        # Not pytest's tmp_path: its parents are private to root, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="coassist-pg-"))
        self.port = _free_port()
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        )
        self.start()

    def start(self) -> None:
        """Start the server (again, after `shut_down`: same data, same port) and wait until it
        accepts connections."""
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-k {self.root}",  # its Unix socket here, not in /var/run/postgresql
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                f"-c timezone={SERVER_TIME_ZONE}",
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def shut_down(self) -> None:
        """Stop the server as an administrator restarting it would (``pg_ctl stop -m fast``: open
        connections are terminated, committed data kept), and wait until it is down."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database for the block; dropped after it, with any connection still open."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            self._admin(f'DROP DATABASE "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(statement.encode())

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_owner, str(self.bin_dir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(
                f"{program} failed ({done.returncode}): {done.stderr.strip()}\n"
                + (log.read_text() if log.exists() else "")
            )


def _major_version(bin_dir: str) -> int:
    version = Path(bin_dir).parent.name
    return int(version) if version.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
