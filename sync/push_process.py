"""Pushes to one system from a process of their own, so that they get a core of their own.

A push to the municipal system is one HTTP call per record, and in CPython that call is Python work
(building the request, h11 parsing the answer) done under the interpreter lock. In one process,
validating, mapping and writing the ledger take that lock from the pushes; on a machine with two or
more cores the pushes of a big page therefore run in a child process (the split Airbyte makes
between its source and destination containers): the daemon pulls, validates, maps and keeps the
ledger, the child only calls the target. ``make bench`` measures what it brings (bench/RESULTS.md).

The child is started with ``spawn`` for one pipeline run, when the first page with at least
``MIN_JOBS`` pushes to the system comes along; until it is ready, pages are pushed in-process.
It builds its own connector from the same configuration and secrets, and sends back the ledger
outcomes of each batch, computed by the same code as in-process (``sync.push.Pusher``). The daemon
alone writes the ledger.

Faults: if the child dies, every job it had in hand fails as transient (the outcome of a call in
flight is unknown, exactly as after a timeout) and is retried by the next run; the rest of the run
pushes in-process. If the daemon dies, the child sees its pipe close and exits at once, so nothing
pushes on behalf of a daemon that no longer records it. Only targets whose pushes are upserts by our
own id may be pushed this way (they declare ``Capabilities.process_safe``): the municipal system.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import structlog

from connectors.contract.config import Secrets, SystemConfig
from connectors.contract.errors import FatalConnectorError, RetriableError
from connectors.contract.records import RecordKind
from connectors.contract.roles import Capabilities, System, Target
from connectors.contract.states import Stage
from sync import outcomes
from sync.outcomes import Outcome
from sync.push import Job, Pusher

log = structlog.get_logger("zhifa.push_process")

MIN_JOBS = 100  # a page with fewer pushes to a system is not worth a process (start-up ~0.5 s of CPU)
# One core pushes some 700–1,000 records/s from the daemon itself (bench/RESULTS.md): a system
# throttled below this is paced by its limit, not by the CPU, and a second process would only cost.
MIN_RATE_PER_S = 200


@dataclass(frozen=True)
class ChildSpec:
    """Everything the child needs to build the same connector and log the same way. The last four
    describe the run that starts it (filled in then: ``Pipeline._remote``)."""

    system: str  # the source system (ledger outcomes name it)
    kind: RecordKind
    name: str  # the target
    cfg: SystemConfig
    secrets: Secrets  # the target's own only
    # Builds the system from ``(name, cfg, secrets)`` (``connectors.systems.create``, given by the app):
    # a module-level function, so it crosses to the spawned child by reference.
    build: Callable[[str, Any, Secrets], System]
    log_format: str = "auto"
    log_level: int = logging.INFO
    context: dict[str, Any] = field(default_factory=dict)  # pipeline, run_id: on the child's log lines
    debug: bool = False


def wanted(capabilities: Capabilities) -> bool:
    """Whether pushes to a target that declares these may go out from a push process."""
    pace = capabilities.pace_per_s
    return capabilities.process_safe and (pace == 0 or pace >= MIN_RATE_PER_S)


def usable() -> bool:
    """A push process helps only where it can run beside the daemon: two cores this process may use."""
    try:
        return len(os.sched_getaffinity(0)) >= 2
    except AttributeError:  # not on Linux
        return (os.cpu_count() or 1) >= 2


# -- what passes through the pipe -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PushBatch:
    """Daemon → child: one page's jobs."""

    batch: int
    mapping_version: str
    jobs: list[Job]


@dataclass(frozen=True, slots=True)
class Ready:
    """Child → daemon: the target is built and its run begun; batches may come."""


@dataclass(frozen=True, slots=True)
class Refused:
    """Child → daemon: it could not even start (bad credentials at begin_run, …)."""

    why: str


@dataclass(frozen=True, slots=True)
class Crashed:
    """Child → daemon: a batch failed inside the child (a bug); its jobs' outcomes are unknown."""

    batch: int
    why: str


@dataclass(frozen=True, slots=True)
class Done:
    """Child → daemon: a batch's outcomes, each push's seconds, and a credentials refusal if any."""

    batch: int
    outcomes: list[Outcome]
    seconds: list[float]
    fatal: FatalConnectorError | None


@dataclass(frozen=True, slots=True)
class _Pending:
    future: Future[list[Outcome]]
    jobs: list[Job]
    fatal: dict[str, FatalConnectorError]


class RemotePushes:
    """The daemon's side of one push process: batches go out, their outcomes come back as futures."""

    def __init__(self, spec: ChildSpec, observe: Callable[[float], None]) -> None:
        self.spec = spec
        self._observe = observe
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.broken: str | None = None
        self._closing = False  # after close(): the pipe's end is expected, not a loss
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(
            target=child_main, args=(child_conn, spec), name=f"zhifa-push-{spec.name}", daemon=True
        )
        self._proc.start()
        child_conn.close()
        log.info("push_process_started", system=spec.name, pid=self._proc.pid)
        self._reader = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._read,),
            name=f"push-process-{spec.name}",
            daemon=True,
        )
        self._reader.start()

    @property
    def usable(self) -> bool:
        return self.ready.is_set() and self.broken is None

    def submit(
        self, jobs: list[Job], fatal: dict[str, FatalConnectorError], mapping_version: str
    ) -> Future[list[Outcome]]:
        """Send one page's jobs; the future holds their outcomes. A credentials error of the
        target is put in ``fatal``, as the in-process workers do."""
        fut: Future[list[Outcome]] = Future()
        with self._lock:
            if self.broken is not None:
                fut.set_result(self._lost(jobs, self.broken))
                return fut
            batch = next(self._ids)
            self._pending[batch] = _Pending(fut, jobs, fatal)
            try:
                self._conn.send(PushBatch(batch, mapping_version, jobs))
            except (OSError, ValueError) as exc:
                del self._pending[batch]
                self._break_locked(f"发送失败 ({type(exc).__name__}: {exc})")
                fut.set_result(self._lost(jobs, self.broken or ""))
        return fut

    def _read(self) -> None:
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                self._proc.join(5)
                with self._lock:
                    self._break_locked(f"推送进程意外退出 (退出码 {self._proc.exitcode})")
                return
            self._on(msg)

    def _on(self, msg: Ready | Refused | Crashed | Done) -> None:
        if isinstance(msg, Ready):
            self.ready.set()
            log.info("push_process_ready", system=self.spec.name, pid=self._proc.pid)
        elif isinstance(msg, Refused):
            with self._lock:
                self._break_locked(msg.why)
            log.warning("push_process_unavailable", system=self.spec.name, error=msg.why)
        elif isinstance(msg, Crashed):
            with self._lock:
                pending = self._pending.pop(msg.batch)
            pending.future.set_result(self._lost(pending.jobs, f"推送进程内部错误 {msg.why}"))
        else:
            for s in msg.seconds:
                self._observe(s)
            with self._lock:
                pending = self._pending.pop(msg.batch)
            if msg.fatal is not None:
                pending.fatal.setdefault(self.spec.name, msg.fatal)
            pending.future.set_result(msg.outcomes)

    def _break_locked(self, why: str) -> None:
        """The child is gone: what it had in hand fails as transient (it may or may not have arrived)."""
        if self.broken is None:
            self.broken = why
            if not self._closing:
                log.error("push_process_lost", system=self.spec.name, error=why, batches=len(self._pending))
        pending, self._pending = self._pending, {}
        for p in pending.values():
            p.future.set_result(self._lost(p.jobs, why))

    def _lost(self, jobs: list[Job], why: str) -> list[Outcome]:
        exc = RetriableError(f"{self.spec.name} {why}: 推送结果未知, 下次运行自动重试", system=self.spec.name)
        return [
            outcomes.failed(
                job.subject(self.spec.system, self.spec.kind),
                job.record,
                Stage.PUSH,
                exc,
                lambda: "",
                job.payload,
            )
            for job in jobs
        ]

    def close(self) -> None:
        """Ask the child to finish (nothing is in flight by now) and reap it."""
        self._closing = True
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._reader.join(5)
        self._conn.close()


# -- the child -------------------------------------------------------------------------------------
def child_main(conn: Connection, spec: ChildSpec) -> None:
    from sync import logs

    # The daemon decides when pushing stops: Ctrl-C in a terminal (the whole process group) or a stray
    # SIGTERM must not kill the pushes of the batch it is finishing. If the daemon dies, the pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.configure(spec.log_format, spec.log_level)
    structlog.contextvars.bind_contextvars(**spec.context)
    try:
        system = spec.build(spec.name, spec.cfg, spec.secrets)
        target = system.target(spec.kind)
        target.begin_run(spec.kind)
    except Exception as exc:  # the daemon pushes in-process, and meets the same error there
        conn.send(Refused(f"推送进程无法启动: {type(exc).__name__}: {exc}"))
        return
    child = _Child(conn, spec, target)
    conn.send(Ready())
    try:
        child.serve()
    finally:
        child.workers.shutdown(wait=True)
        system.close()


class _Child:
    """The child's loop: each batch on a thread of its own, its pushes on the target's workers."""

    def __init__(self, conn: Connection, spec: ChildSpec, target: Target) -> None:
        self.conn, self.spec, self.target = conn, spec, target
        self.workers = ThreadPoolExecutor(max(1, target.concurrency), thread_name_prefix=f"push-{spec.name}")
        self.send_lock = threading.Lock()

    def serve(self) -> None:
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                # The daemon is gone: stop now, calls in flight included. Nobody would record them.
                os._exit(0)
            if msg is None:
                return
            threading.Thread(target=self.run_batch, args=(msg,), daemon=True).start()

    def send(self, msg: Ready | Refused | Crashed | Done) -> None:
        with self.send_lock:
            self.conn.send(msg)

    def run_batch(self, msg: PushBatch) -> None:
        try:
            self.push_batch(msg)
        except BaseException as exc:  # never leave the daemon waiting for a batch
            log.exception("push_process_batch_crashed")
            self.send(Crashed(msg.batch, f"{type(exc).__name__}: {exc}"))

    def push_batch(self, msg: PushBatch) -> None:
        seconds: list[float] = []
        fatal: dict[str, FatalConnectorError] = {}
        spec = self.spec
        version = msg.mapping_version
        pusher = Pusher(
            spec.system, spec.kind, spec.name, self.target, lambda: version, seconds.append, debug=spec.debug
        )
        todo = deque(msg.jobs)
        n = min(max(1, self.target.concurrency), len(msg.jobs)) or 1
        futures = [self.workers.submit(pusher.push_each, todo, fatal) for _ in range(n)]
        found: list[Outcome] = []
        for fut in futures:
            found.extend(fut.result())
        self.send(Done(msg.batch, found, seconds, fatal.get(spec.name)))
