"""What happens to a record: pull → validate → map → push → record the outcome, page by page.

One run of one pipeline: first the records that earlier runs left failing and that may now succeed
(transient failures within their budget, records parked for a mapping when the tables changed, and
those an operator asked to retry), then everything the source changed since the cursor. Each page is
validated and mapped, its pushes run concurrently up to each target's limit, and it is written to the
ledger in one transaction with its cursor; the next page is prepared and pushed while one finishes,
pages are committed in order. One bad record never stops the others.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson
import structlog

from connectors.contract.clock import TIME_FORMAT
from connectors.contract.errors import (
    ConnectorError,
    FatalConnectorError,
    MappingMissing,
    RecordInvalid,
    RetriableError,
)
from connectors.contract.mapping import Mappings
from connectors.contract.records import Record, RecordKind, stable_hash
from connectors.contract.roles import (
    BatchTarget,
    Context,
    Cursor,
    FeedbackTarget,
    Prior,
    Source,
    Target,
)
from connectors.contract.states import DeliveryState, RunStatus, Stage
from connectors.contract.validators import escape_controls, mask_text
from sync import clock_skew, logs, metrics, outcomes, push_process
from sync.config import PipelineConfig
from sync.lag import lag_of, pipeline_lag, read_until_key
from sync.ledger import Ledger, RecordSnapshot, now
from sync.outcomes import Outcome, RunCounts, Subject
from sync.progress import Progress
from sync.push import Job, Pusher

log = structlog.get_logger("zhifa.pipeline")
T = TypeVar("T")
# What a prior delivery must be for an unchanged payload not to be pushed again.
_SETTLED = (DeliveryState.DELIVERED, DeliveryState.WITHDRAWN, DeliveryState.SENT)


def prefetch(pages: Iterator[T]) -> Iterator[T]:
    """Read the next page in a background thread while this one is pushed and committed, so the
    targets are not left idle while we talk to the source (order and cursors are unchanged)."""
    box: queue.Queue[Any] = queue.Queue(maxsize=1)
    cancel = threading.Event()
    end = object()

    def worker() -> None:
        try:
            for page in pages:
                while not cancel.is_set():
                    try:
                        box.put(page, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if cancel.is_set():
                    return
            box.put(end)
        except BaseException as exc:  # handed to the reader, raised there
            box.put(exc)

    ctx = contextvars.copy_context()  # keep pipeline/run_id on the reader's log lines
    threading.Thread(target=ctx.run, args=(worker,), name="prefetch", daemon=True).start()
    try:
        while True:
            item = box.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancel.set()


@dataclass
class _Page:
    """A page between ``_start`` (pushes started) and ``_finish`` (committed)."""

    run_id: str
    maps: Mappings
    cursor: Cursor | None
    valid: list[Record] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    snapshots: list[RecordSnapshot] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    futures: list[tuple[list[Job], Future[list[Outcome]]]] = field(default_factory=list)
    fatal: dict[str, FatalConnectorError] = field(default_factory=dict)  # by target, single-record pushes


def _dump_raw(raw: Any) -> str:
    """A source record as the ledger keeps it (compact JSON): what was read, to be read back with
    ``json.loads``. orjson writes it in an eighth of the time; what it cannot write (an integer beyond
    64 bits, a lone surrogate) the standard library writes."""
    try:
        return orjson.dumps(raw).decode()
    except TypeError:
        return json.dumps(raw, ensure_ascii=False, default=str)


class Pipeline:
    def __init__(
        self,
        cfg: PipelineConfig,
        source: Source,
        targets: dict[str, Target],
        ledger: Ledger,
        mappings: Callable[[], Mappings],
        *,
        push_processes: dict[str, push_process.ChildSpec] | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.kind: RecordKind = cfg.kind
        self.source = source
        self.targets = targets
        self.ledger = ledger
        self._mappings = mappings
        # which pipeline owns failures of each record kind reported by feedback (set by the App)
        self.kind_pipelines: dict[str, str] = {cfg.kind: cfg.name}
        # The latest source time this pipeline may read up to, or None to wait (set by the App for
        # flows that must not run ahead of others: see App.pipeline).
        self.gate: Callable[[], datetime | None] | None = None
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._debug = False
        self._push_seconds = {n: metrics.PUSH_SECONDS.labels(n) for n in targets}
        self._pushers: dict[str, Pusher] = {}
        # Targets whose big pages may be pushed from a process of their own (sync.push_process): what
        # the child needs, by target; the children of the current run.
        self._child_specs = push_processes or {}
        self._remotes: dict[str, push_process.RemotePushes | None] = {}  # None: could not start one
        self._progress = Progress()  # this run's heartbeat (the service's watchdog reads it)

    # -- a run -----------------------------------------------------------------------------------
    def run(
        self,
        stop: threading.Event | None = None,
        *,
        retries_only: bool = False,
        progress: Progress | None = None,
    ) -> RunCounts:
        self._progress = progress or Progress()
        stop = stop or self._progress.stop
        run_id = self.ledger.start_run(self.name)
        counts = RunCounts()
        self._progress.run_id, self._progress.counts = run_id, counts
        structlog.contextvars.bind_contextvars(pipeline=self.name, run_id=run_id)
        self._debug = log.bind().is_enabled_for(logging.DEBUG)
        started = time.monotonic()
        status, error = RunStatus.OK, None
        try:
            maps = self._mappings()
            self._begin()
            self._apply_feedback(run_id)
            self._retry_failures(run_id, maps, counts)
            if not retries_only:
                self._pull(run_id, maps, counts, stop)
            if stop.is_set():
                status = RunStatus.INTERRUPTED
            elif counts.failed:
                status = RunStatus.FAILED
        except FatalConnectorError as exc:
            status, error = RunStatus.ERROR, str(exc)
            log.error("run_aborted", error=str(exc))
        except RetriableError as exc:  # the source itself is unreachable: try again next run
            status, error = RunStatus.ERROR, str(exc)
            log.warning("run_source_unavailable", error=str(exc))
        except Exception as exc:
            status, error = RunStatus.ERROR, f"{type(exc).__name__}: {exc}"
            log.exception("run_crashed")
            raise
        finally:
            self._end(run_id, counts, status, error, started)
        counts.status, counts.error = status, error
        return counts

    def _begin(self) -> None:
        """Workers and pushers for this run's targets, and the targets told that a run begins."""
        self._pools = {
            n: ThreadPoolExecutor(t.concurrency, thread_name_prefix=f"push-{n}")
            for n, t in self.targets.items()
        }
        version = lambda: self._mappings().version  # noqa: E731 - asked only when a record is parked
        self._pushers = {
            n: Pusher(self.source.name, self.kind, n, t, version, self._observer(n), debug=self._debug)
            for n, t in self.targets.items()
        }
        for target in self.targets.values():
            target.begin_run(self.kind)

    def _observer(self, target: str) -> Callable[[float], None]:
        """The push-time histogram of ``target``, and a heartbeat: a finished push is progress."""
        observe, progress = self._push_seconds[target].observe, self._progress

        def observed(seconds: float) -> None:
            observe(seconds)
            progress.beat()

        return observed

    def _end(
        self, run_id: str, counts: RunCounts, status: RunStatus, error: str | None, started: float
    ) -> None:
        for remote in self._remotes.values():
            if remote is not None:
                remote.close()
        self._remotes = {}
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        if not self._progress.abandoned:  # an abandoned run was closed by the service as stuck
            self.ledger.finish_run(run_id, counts, status, mask_text(error) if error else None)
        if status in (RunStatus.OK, RunStatus.FAILED):
            metrics.LAST_SUCCESS.labels(self.name).set(time.time())
        log.info(
            "run_finished", status=status, seconds=round(time.monotonic() - started, 2), **counts.as_dict()
        )
        structlog.contextvars.unbind_contextvars("pipeline", "run_id")

    def _window_end(self) -> datetime | None:
        """How far this run may read: the source's clock less the lag, capped by the gate (None: wait)."""
        until = self.source.now() - timedelta(seconds=self.cfg.lag_s)
        if self.gate is None:
            return until
        cap = self.gate()
        if cap is None:
            log.info("waiting_for_pipelines", reason="the pipelines this one depends on have not read yet")
            return None
        return min(until, cap)

    def _pull(self, run_id: str, maps: Mappings, counts: RunCounts, stop: threading.Event) -> None:
        until = self._window_end()
        if until is None:
            return
        saved = self.ledger.get_cursor(self.name)
        read_up_to = self.ledger.get_watermark(self.name)  # records stamped before it: re-reads, or skew
        # Two pages at a time: the next page is parsed, planned and its pushes started while the pushes
        # of the one before finish; pages are committed (outcomes + cursor) strictly in order.
        in_flight: deque[_Page] = deque()
        try:
            for page in prefetch(
                self.source.pull(self.kind, saved, self.cfg.start, until, self.cfg.batch_size)
            ):
                self._progress.beat()  # a page read is progress
                prepared = self._prepare(run_id, maps, counts, page.items, cursor=page.cursor)
                self._rereads(prepared, read_up_to)
                if any(prepared.ids & earlier.ids for earlier in in_flight):
                    # the same record again (changed while we read): never two versions in flight
                    while in_flight:
                        self._finish(in_flight.popleft(), counts)
                in_flight.append(self._launch(prepared, maps))
                while len(in_flight) > 1:
                    self._finish(in_flight.popleft(), counts)
                if (mark := page.cursor.watermark) is not None:  # mid-backfill: how far behind we still are
                    behind = lag_of(self.source.now(), mark, None)
                    metrics.LAG_SECONDS.labels(self.name).set(behind.seconds or 0.0)
                if stop.is_set():
                    log.info("stopping_after_batch")
                    return
        except BaseException:
            # An earlier page did not finish: later pages must not move the cursor past it.
            for later in in_flight:
                later.cursor = None
            raise
        finally:
            while in_flight:  # the batch in hand is finished and committed, also on the way out
                self._finish(in_flight.popleft(), counts)
        # Read the whole window: caught up (sync.lag), however old the records read were.
        self.ledger.set_meta(read_until_key(self.name), until.strftime(TIME_FORMAT))
        metrics.LAG_SECONDS.labels(self.name).set(pipeline_lag(self.ledger, self.name).seconds or 0.0)

    def repair(
        self, raws: Sequence[Any], only: dict[str, set[str]], priors: dict[tuple[str, str], Prior | None]
    ) -> RunCounts:
        """A run that pushes just these records to just these targets (``only``: id → targets), through
        the normal push path, with the ledger's knowledge of each pair replaced by ``priors`` (what
        reconciliation found: None = never delivered, a prior without ``payload_hash`` = push again)."""
        run_id = self.ledger.start_run(self.name)
        counts = RunCounts()
        structlog.contextvars.bind_contextvars(pipeline=self.name, run_id=run_id)
        started = time.monotonic()
        status, error = RunStatus.OK, None
        try:
            maps = self._mappings()
            self._begin()
            for start in range(0, len(raws), self.cfg.batch_size):
                prepared = self._prepare(
                    run_id, maps, counts, raws[start : start + self.cfg.batch_size], cursor=None, only=only
                )
                self._finish(self._launch(prepared, maps, only, priors), counts)
            if counts.failed:
                status = RunStatus.FAILED
        except (FatalConnectorError, RetriableError) as exc:
            status, error = RunStatus.ERROR, str(exc)
            log.error("repair_aborted", error=str(exc))
        finally:
            self._end(run_id, counts, status, error, started)
        counts.status, counts.error = status, error
        return counts

    def _rereads(self, page: _Page, read_up_to: datetime | None) -> None:
        """Records of the overlap before the cursor (``connectors/paging.py``) are read again: planned as
        usual, so an unchanged one is ``unchanged`` for every target it reached (nothing pushed) and one
        whose delivery is not settled yet goes on as any other. Those that changed show clock skew."""
        if read_up_to is None or not page.snapshots:
            return
        seen = self.ledger.seen_versions(self.source.name, self.kind, [s.source_id for s in page.snapshots])
        clock_skew.check(self.ledger, self.name, page.snapshots, seen, read_up_to, now())

    def _retry_failures(self, run_id: str, maps: Mappings, counts: RunCounts) -> None:
        pairs = self.ledger.failures_to_retry(
            self.name, max_attempts=self.cfg.auto_retry_attempts, mapping_version=maps.version
        )
        wanted: dict[str, set[str]] = {}
        for source_id, target in pairs:
            if target in self.targets:
                wanted.setdefault(source_id, set()).add(target)
        ids = list(wanted)
        for start in range(0, len(ids), self.cfg.batch_size):
            chunk = ids[start : start + self.cfg.batch_size]
            bodies = self.ledger.load_records(self.source.name, self.kind, chunk)
            raws = [json.loads(bodies[i]) for i in chunk if i in bodies]
            counts.retried += len(raws)
            log.info("retrying_failures", records=len(raws))
            only = {i: wanted[i] for i in chunk}
            prepared = self._prepare(run_id, maps, counts, raws, cursor=None, only=only)
            self._finish(self._launch(prepared, maps, only), counts)

    # -- one page --------------------------------------------------------------------------------
    def _prepare(
        self,
        run_id: str,
        maps: Mappings,
        counts: RunCounts,
        raws: Sequence[Any],
        *,
        cursor: Cursor | None,
        only: dict[str, set[str]] | None = None,
    ) -> _Page:
        """Validate a page: its records, the failures of the invalid ones, and the snapshots to keep."""
        page = _Page(run_id, maps, cursor)
        for raw in raws:
            counts.pulled += 1
            if isinstance(raw, dict) and self.source.is_unsubmitted(self.kind, raw):
                counts.skipped += 1  # drafts / filed cases / our own records are never synced
                continue
            try:
                record = self.source.parse(self.kind, raw)
            except RecordInvalid as exc:
                self._invalid(page, raw, exc, only)
                continue
            page.snapshots.append(self._snapshot(record, raw))
            page.valid.append(record)
            page.ids.add(record.id)
        return page

    def _launch(
        self,
        page: _Page,
        maps: Mappings,
        only: dict[str, set[str]] | None = None,
        priors: dict[tuple[str, str], Prior | None] | None = None,
    ) -> _Page:
        """Plan every (record, target) of a page and start the pushes; ``_finish`` collects and commits."""
        ids = [r.id for r in page.valid]
        prior = self.ledger.deliveries_for(self.source.name, self.kind, ids)
        # Never delivered as far as we know, but an earlier push timed out: it may be there already.
        for key in self.ledger.attempted(self.source.name, self.kind, ids) - prior.keys():
            prior[key] = Prior(None, DeliveryState.ATTEMPTED)
        for key, known in (priors or {}).items():  # a repair: what the target was found to hold
            if known is None:
                prior.pop(key, None)
            else:
                prior[key] = known
        ctx = Context(
            maps,
            lambda kind, sid, target: self.ledger.target_id(self.source.name, kind, sid, target),
            self.ledger.find_by_natural_key,
        )
        jobs: dict[str, list[Job]] = {name: [] for name in self.targets}
        for record in page.valid:
            for name, target in self.targets.items():
                if only is not None and name not in only.get(record.id, ()):
                    continue
                planned = self._plan(record, name, target, ctx, prior.get((record.id, name)), maps)
                if isinstance(planned, Job):
                    jobs[name].append(planned)
                else:
                    page.outcomes.append(planned)
        # Write ahead: a push the ledger knows nothing of may reach its target and still be lost with the
        # page (a crash, a failed page transaction); the next push of it must then say "attempted".
        fresh = [(job.record.id, job.target) for mine in jobs.values() for job in mine if job.prior is None]
        self.ledger.intend_pushes(self.source.name, self.kind, page.run_id, fresh)
        for name, mine in jobs.items():
            if mine:
                self._push(page, name, self.targets[name], mine, maps)
        return page

    def _push(self, page: _Page, name: str, target: Target, mine: list[Job], maps: Mappings) -> None:
        if isinstance(target, BatchTarget):
            for start in range(0, len(mine), target.batch_size):
                chunk = mine[start : start + target.batch_size]
                page.futures.append((chunk, self._submit(name, self._push_batch, target, chunk)))
            return
        remote = self._remote(name, len(mine))
        if remote is not None:
            page.futures.append(([], remote.submit(mine, page.fatal, maps.version)))
            return
        # A few workers per page take the records from one queue: a future per record cost more CPU than
        # the push's own Python work. Workers of the next page queue behind these and take over their
        # threads as this page's records run out.
        todo = deque(mine)
        workers = min(max(1, target.concurrency), len(mine))
        pusher = self._pushers[name]
        page.futures.extend(
            ([], self._submit(name, pusher.push_each, todo, page.fatal)) for _ in range(workers)
        )

    def _remote(self, name: str, jobs: int) -> push_process.RemotePushes | None:
        """The push process for ``name``, if it is ready: started by the first page big enough."""
        if name in self._remotes:
            remote = self._remotes[name]
        else:
            spec = self._child_specs.get(name)
            if spec is None or jobs < push_process.MIN_JOBS or not push_process.usable():
                return None
            context = structlog.contextvars.get_contextvars()
            spec = dataclasses.replace(  # what this run is, and how this process logs
                spec,
                log_format=logs.current[0],
                log_level=logs.current[1],
                context={k: context.get(k) for k in ("pipeline", "run_id")},
                debug=self._debug,
            )
            try:
                remote = push_process.RemotePushes(spec, self._observer(name))
            except Exception as exc:  # no process to be had (limits, memory): push from here, as before
                log.warning("push_process_unavailable", system=name, error=f"{type(exc).__name__}: {exc}")
                remote = None
            self._remotes[name] = remote
        return remote if remote is not None and remote.usable else None

    def _finish(self, page: _Page, counts: RunCounts) -> None:
        """Wait for a page's pushes, then write its outcomes, failures and cursor in one transaction."""
        found = page.outcomes
        fatal: FatalConnectorError | None = None
        for chunk, fut in page.futures:
            try:
                found.extend(fut.result())
            except FatalConnectorError as exc:
                fatal = fatal or exc
                found.extend(self._failure(job, Stage.PUSH, exc, page.maps) for job in chunk)
        fatal = fatal or next(iter(page.fatal.values()), None)
        if self._progress.abandoned:
            # Given up as stuck: a later run owns the pipeline now and reads this page again (the
            # write-ahead push intents make a push whose outcome is not recorded safe to repeat).
            log.warning("abandoned_page_dropped", records=len(found))
            return
        self._count(found, counts)
        self.ledger.commit_page(
            pipeline=self.name,
            run_id=page.run_id,
            snapshots=page.snapshots,
            outcomes=found,
            cursor=None if fatal else page.cursor,
        )
        if fatal:
            raise fatal

    def _count(self, found: list[Outcome], counts: RunCounts) -> None:
        by_action: Counter[tuple[str, str]] = Counter()
        by_error: Counter[tuple[str, str | None]] = Counter()
        for o in found:
            counts.add(o)
            by_action[o.target, o.action] += 1
            if o.failed:
                by_error[o.target, o.error_kind] += 1
        for (target, action), n in by_action.items():
            metrics.RECORDS.labels(self.name, target, action).inc(n)
        for (target, kind), n in by_error.items():
            metrics.FAILURES.labels(self.name, target, kind).inc(n)

    def _plan(
        self, record: Record, name: str, target: Target, ctx: Context, prior: Prior | None, maps: Mappings
    ) -> Outcome | Job:
        """What to do with a record for one target: an outcome at once (skipped, unchanged, unmappable), or a push."""
        subject = Subject.of(self.source.name, self.kind, record, name)
        if not target.wants(record):
            return outcomes.skipped(subject)
        if (
            record.withdrawn
            and (prior is None or not prior.known)
            and not target.capabilities.withdraw_unsent
        ):
            return outcomes.skipped(subject)
        try:
            payload = target.translate(record, ctx)
        except (MappingMissing, RecordInvalid) as exc:
            return outcomes.failed(subject, record, Stage.MAP, exc, lambda: maps.version, None)
        digest = stable_hash(payload)
        if prior is not None and prior.payload_hash == digest and prior.state in _SETTLED:
            return outcomes.unchanged(subject, prior.target_id, digest)
        return Job(record, payload, prior, name, digest)

    def _submit(self, target: str, fn: Callable[..., list[Outcome]], *args: Any) -> Future[list[Outcome]]:
        """Run on the target's pool with this run's log context (pipeline, run_id) carried over."""
        return self._pools[target].submit(contextvars.copy_context().run, fn, *args)

    def _push_batch(self, target: BatchTarget, chunk: list[Job]) -> list[Outcome]:
        started = time.monotonic()
        results: list[Any]
        try:
            results = list(target.deliver_batch(list(chunk)))
        except FatalConnectorError:
            raise
        except Exception as exc:  # the whole call failed: each record of the batch fails with it
            if not isinstance(exc, ConnectorError):
                log.exception("batch_crashed", system=target.name)
            results = [exc] * len(chunk)
        finally:
            metrics.PUSH_SECONDS.labels(target.name).observe(time.monotonic() - started)
            self._progress.beat()
        return [
            self._failure(job, Stage.PUSH, res, None)
            if isinstance(res, Exception)
            else outcomes.delivered(job.subject(self.source.name, self.kind), job.digest, res, job.payload)
            for job, res in zip(chunk, results, strict=True)
        ]

    def _apply_feedback(self, run_id: str) -> None:
        """Turn asynchronous verdicts (前置库 feedback) into delivered / failed."""
        for name, target in self.targets.items():
            if not isinstance(target, FeedbackTarget):
                continue
            key = f"feedback:{name}"
            got = target.poll_feedback(self.ledger.get_meta(key))
            if got.items:
                applied = self.ledger.apply_feedback(
                    name, self.source.name, got.items, run_id, self.kind_pipelines
                )
                log.info("feedback_applied", system=name, received=len(got.items), **applied)
            if got.watermark is not None:
                self.ledger.set_meta(key, got.watermark)

    # -- failures and snapshots ------------------------------------------------------------------
    def _failure(self, job: Job, stage: Stage, exc: Exception, maps: Mappings | None) -> Outcome:
        return outcomes.failed(
            job.subject(self.source.name, self.kind),
            job.record,
            stage,
            exc,
            lambda: (maps or self._mappings()).version,
            job.payload,
        )

    def _invalid(self, page: _Page, raw: Any, exc: RecordInvalid, only: dict[str, set[str]] | None) -> None:
        """An invalid record goes nowhere: a failure for every target; its raw body is kept if it has an id."""
        log.warning("record_invalid", record_id=exc.record_id, message=mask_text(str(exc)))
        about = self.source.describe(self.kind, raw)
        targets = only.get(exc.record_id, set()) if only is not None else self.targets
        page.outcomes.extend(
            outcomes.invalid(Subject(self.source.name, self.kind, exc.record_id, t), exc, raw, about)
            for t in targets
        )
        if about.source_id:
            source_id = escape_controls(about.source_id)  # as the failure names it (a NUL written out)
            page.ids.add(source_id)
            page.snapshots.append(self._raw_snapshot(source_id, raw, about.natural_key))

    def _snapshot(self, record: Record, raw: dict[str, Any]) -> RecordSnapshot:
        body = _dump_raw(raw)
        return RecordSnapshot(
            system=self.source.name,
            kind=self.kind,
            source_id=record.id,
            status=record.status,
            record_hash=hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest(),
            body=body,
            doc_no=record.doc_no,
            party_name=record.party_name,
            party_code=record.party_code,
            dept_code=record.dept_code,
            event_date=record.event_date,
            source_updated_at=record.updated_at,
            natural_key=record.natural_key[:200],
        )

    def _raw_snapshot(self, source_id: str, raw: Any, natural_key: str | None = None) -> RecordSnapshot:
        return RecordSnapshot(
            system=self.source.name,
            kind=self.kind,
            source_id=source_id[:64],
            status="invalid",
            record_hash=stable_hash(raw),
            body=_dump_raw(raw),
            doc_no=None,
            party_name=None,
            party_code=None,
            dept_code=None,
            event_date=None,
            source_updated_at=None,
            natural_key=natural_key[:200] if natural_key else None,
        )
