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

A lease can be *lost* while its run goes on, and :meth:`Leases.problems` says so (the alerts read it,
docs/alerts.md): on PostgreSQL when the session holding the lock ends (terminated by an administrator,
the server restarted, or the peer declared dead after a network cut — the run's other connections
may well have come back); on SQLite when the lock file is removed or replaced, so that a new
``flock`` on the new file succeeds beside ours. It is *taken over* when another holder has the lock
now (a PostgreSQL session, named by its ``application_name``; a process locking the new file, named
by what it wrote into it). Each held lease is checked when asked and once more when it is released,
so a loss is noticed by its end at the latest. What it does not do: stop the run that lost its lease
(the overlap costs time, not duplicates, see above), or tell about another instance's leases.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
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

# A bigint advisory key shows in pg_locks as its high half in classid, its low half in objid, objsubid 1.
_KEY_MATCH = (
    "l.locktype = 'advisory' and l.granted and l.classid::bigint = :hi and l.objid::bigint = :lo"
    " and l.objsubid = 1"
)
HELD_BY_ME = f"select exists (select 1 from pg_locks l where {_KEY_MATCH} and l.pid = pg_backend_pid())"
HOLDER = (
    "select coalesce(nullif(a.application_name, ''), 'pid ' || l.pid) from pg_locks l"
    " left join pg_stat_activity a on a.pid = l.pid"
    f" where {_KEY_MATCH}"
    " and l.database = (select oid from pg_database where datname = current_database()) limit 1"
)
APP_NAME_PREFIX = "zhifa-sync lease "


class LeaseLoss(StrEnum):
    """What became of a lease this process still thinks it holds."""

    LOST = "lost"  # no longer ours; nobody else holds it (yet)
    TAKEN_OVER = "taken_over"  # another holder has it now


@dataclass(frozen=True, slots=True)
class LeaseProblem:
    """A lease lost from under its run: how (in Chinese, for the operator) and who holds it now."""

    pipeline: str
    loss: LeaseLoss
    reason: str
    holder: str | None = None


@dataclass(eq=False, slots=True)
class _Held:
    """A lease held now: how to check it is still ours, how to give it up, and the loss once seen (a lost
    lease never comes back). Checks (the alerts' thread) and the release (the run's) take turns."""

    pipeline: str
    still_mine: Callable[[], str | None]  # None: still ours; else why not
    holder: Callable[[], str | None]  # who holds it now, if anybody else
    release: Callable[[], None]
    guard: threading.Lock = field(default_factory=threading.Lock)
    lost: str | None = None
    released: bool = False

    def check(self) -> LeaseProblem | None:
        with self.guard:
            return None if self.released else self._check()

    def finish(self) -> LeaseProblem | None:
        """Checked once more, then released (unless lost: nothing of ours left to release)."""
        with self.guard:
            problem = self._check()
            if problem is None:
                self.release()
            self.released = True
            return problem

    def _check(self) -> LeaseProblem | None:
        if self.lost is None:
            self.lost = self.still_mine()
        if self.lost is None:
            return None
        holder = self.holder()
        return LeaseProblem(
            self.pipeline, LeaseLoss.TAKEN_OVER if holder else LeaseLoss.LOST, self.lost, holder
        )


def advisory_key(*parts: str) -> int:
    """A signed 64-bit lock key that is the same in every process, Python and PostgreSQL version."""
    digest = hashlib.blake2b(":".join(("zhifa", *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leases:
    """Hands out the right to run a pipeline, across every process that uses the same ledger."""

    def __init__(self, engine: Engine, owner: str | None = None) -> None:
        self._url = engine.url
        self._dialect = engine.dialect.name
        self._engine: Engine | None = None
        self._guard = threading.Lock()
        self.owner = owner or f"pid {os.getpid()}"  # how another holder's problem names us
        self._held: dict[str, _Held] = {}
        self._unread: dict[str, LeaseProblem] = {}  # found at release, not yet asked for

    def problems(self) -> dict[str, LeaseProblem]:
        """Leases held now that are no longer ours, and those found lost when released since the last
        call (so a run that lost its lease and ended between two calls is still told once)."""
        with self._guard:
            held = list(self._held.values())
            out, self._unread = self._unread, {}
        for h in held:
            if (problem := h.check()) is not None:
                out[h.pipeline] = problem
        return out

    @contextmanager
    def _holding(self, held: _Held) -> Iterator[bool]:
        """Yield True with ``held`` known to :meth:`problems`; checked once more at the end."""
        with self._guard:
            self._held[held.pipeline] = held
        try:
            yield True
        finally:
            problem = held.finish()
            with self._guard:
                self._held.pop(held.pipeline, None)
                if problem is not None:
                    self._unread[held.pipeline] = problem
            if problem is not None:
                log.warning(
                    "lease_lost", pipeline=held.pipeline, loss=problem.loss, holder=problem.holder,
                    reason=problem.reason,
                )  # fmt: skip

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
                # application_name: who holds a lock shows in pg_stat_activity (and in problems())
                args = {**KEEPALIVE_ARGS, "application_name": (APP_NAME_PREFIX + self.owner)[:63]}
                self._engine = create_engine(
                    self._url, poolclass=NullPool, connect_args=args, isolation_level="AUTOCOMMIT"
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
            halves = {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}
            held = _Held(
                pipeline,
                still_mine=lambda: _pg_still_mine(conn, halves),
                holder=lambda: self._pg_holder(halves),
                release=lambda: _unlock(conn, key, pipeline),
            )
            with self._holding(held):
                yield True
        finally:
            conn.close()

    def _pg_holder(self, halves: dict[str, int]) -> str | None:
        """Who holds the lock now, seen from a fresh connection (ours may be gone)."""
        try:
            with self._lock_engine().connect() as conn:
                holder = conn.scalar(text(HOLDER), halves)
        except Exception:  # the database unreachable: nobody known
            return None
        return None if holder is None else str(holder)

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
            os.ftruncate(fd, 0)
            # who holds it, for a curious administrator and for problems() of the one it was taken from
            os.write(fd, f"{self.owner} (pid {os.getpid()})\n".encode())
            held = _Held(
                pipeline,
                still_mine=lambda: _file_still_mine(fd, path),
                holder=lambda: _file_holder(path),
                release=lambda: fcntl.flock(fd, fcntl.LOCK_UN),
            )
            with self._holding(held):
                yield True
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _pg_still_mine(conn: Connection, halves: dict[str, int]) -> str | None:
    """None while the lease's own session still holds the lock; else what happened to it."""
    try:
        if conn.scalar(text(HELD_BY_ME), halves):
            return None
    except Exception as exc:
        # the server ended the session (pg_terminate_backend, a restart, a dead peer after a cut)
        return f"持有租约锁的数据库会话已断开 ({type(exc).__name__}), 锁已被服务器释放"
    return "持有租约锁的数据库会话已不再持有该锁"


def _file_still_mine(fd: int, path: Path) -> str | None:
    """None while ``path`` is still the file we locked; else what happened to it."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return f"租约锁文件 {path} 已被删除, 其他进程可另建新文件并加锁"
    mine = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
        return f"租约锁文件 {path} 已被替换 (删除后重建), 其他进程可对新文件加锁"
    return None


def _file_holder(path: Path) -> str | None:
    """Who has locked the file now at ``path`` (what it wrote into it), if anybody."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:  # shared and at once: refused only while somebody holds it exclusively
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 200, 0).decode(errors="replace").strip() or "另一进程"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _unlock(conn: Connection, key: int, pipeline: str) -> None:
    try:
        conn.execute(text("select pg_advisory_unlock(:k)"), {"k": key})
    except Exception as exc:  # the connection is closed next, which releases the lock server-side anyway
        log.warning("lease_unlock_failed", pipeline=pipeline, error=str(exc).splitlines()[0])
