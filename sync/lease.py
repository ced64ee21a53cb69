"""Pipeline leases: several instances share one ledger, each pipeline runs on one of them at a time.

Coordination goes through the ledger database itself, so there is nothing else to install:

* **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``) taken on a dedicated
  connection for the length of a run and released at its end. When the holder dies the server ends
  the session and drops the lock: at once for a killed process (the kernel closes its socket), and
  within about :data:`DEAD_PEER_S` seconds for a dead host or a cut cable, through the TCP keepalives
  and user timeout set on both ends of the lease connection. Another instance takes the pipeline
  over at its next scheduled run after that.
* **SQLite** (one host by nature): an exclusive ``flock`` on a file next to the database file; the
  kernel drops it when the process dies, however it dies.

The key of the advisory lock is a stable 64-bit hash of database, schema and pipeline name, so two
ledgers in different schemas of one database never block each other.

A lease only decides who *runs*; exactly-once delivery does not depend on it (targets are written
idempotently by our record id and every page is committed with its cursor), so the rare overlap
after a network partition costs time, not duplicates.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = structlog.get_logger("zhifa.lease")

# Client side (libpq): notice a dead database within ~30 s instead of the kernel's two hours.
KEEPALIVE_ARGS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
# Server side: the backend drops a silent peer (and with it the lock) after idle + interval × count.
SERVER_KEEPALIVES = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 30000",
)
DEAD_PEER_S = 10 + 5 * 3


def advisory_key(*parts: str) -> int:
    """A signed 64-bit lock key that is the same in every process, Python and PostgreSQL version."""
    digest = hashlib.blake2b(":".join(("zhifa", *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leases:
    """Hands out the right to run a pipeline, across every process that uses the same ledger."""

    def __init__(self, engine: Engine) -> None:
        self._url = engine.url
        self._dialect = engine.dialect.name
        self._engine: Engine | None = None
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, pipeline: str) -> Iterator[bool]:
        """Yield True while this process holds ``pipeline``; False (at once) when another one does."""
        if self._dialect == "postgresql":
            with self._hold_pg(pipeline) as held:
                yield held
        elif self._dialect == "sqlite":
            with self._hold_file(pipeline) as held:
                yield held
        else:  # no known cross-process lock: rely on the per-process one
            yield True

    # -- PostgreSQL --------------------------------------------------------------------------------
    def _lock_engine(self) -> Engine:
        with self._guard:
            if self._engine is None:
                # One fresh connection per lease, never pooled: closing it is what guarantees release.
                self._engine = create_engine(
                    self._url, poolclass=NullPool, connect_args=KEEPALIVE_ARGS, isolation_level="AUTOCOMMIT"
                )
            return self._engine

    @contextmanager
    def _hold_pg(self, pipeline: str) -> Iterator[bool]:
        conn = self._lock_engine().connect()
        try:
            for statement in SERVER_KEEPALIVES:
                conn.execute(text(statement))
            database, schema = conn.execute(text("select current_database(), current_schema()")).one()
            key = advisory_key(str(database), str(schema), pipeline)
            if not conn.scalar(text("select pg_try_advisory_lock(:k)"), {"k": key}):
                yield False
                return
            try:
                yield True
            finally:
                _unlock(conn, key, pipeline)
        finally:
            conn.close()

    # -- SQLite ------------------------------------------------------------------------------------
    def lock_path(self, pipeline: str) -> Path | None:
        """The lock file of ``pipeline``: next to the database file (None for an in-memory database)."""
        database = self._url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return None
        db_file = Path(database)
        return db_file.with_name(f"{db_file.name}.{pipeline}.lock")

    @contextmanager
    def _hold_file(self, pipeline: str) -> Iterator[bool]:
        path = self.lock_path(pipeline)
        if path is None:  # a private in-memory ledger: nobody else can see it
            yield True
            return
        # Never deleted: removing a lock file while another process waits on it would split the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a curious administrator
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _unlock(conn: Connection, key: int, pipeline: str) -> None:
    try:
        conn.execute(text("select pg_advisory_unlock(:k)"), {"k": key})
    except Exception as exc:  # the connection is closed next, which releases the lock server-side anyway
        log.warning("lease_unlock_failed", pipeline=pipeline, error=str(exc).splitlines()[0])
