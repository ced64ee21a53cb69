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

from connectors.contract.errors import (
    ConnectorError,
    FatalConnectorError,
    MappingMissing,
    RecordInvalid,
    RetriableError,
)
from connectors.contract.mapping import Mappings
from connectors.contract.records import Record, stable_hash
from connectors.contract.roles import BatchTarget, Context, FeedbackTarget, Source, Target
from connectors.contract.validators import mask_text
from sync import logs, metrics, push_process
from sync.config import PipelineConfig
from sync.ledger import Delivery, Ledger, Outcome, RecordSnapshot, RunCounts
from sync.push import Job, Pusher, delivered_outcome, failure_outcome, masked_json, prior_of

log = structlog.get_logger("zhifa.pipeline")
T = TypeVar("T")


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
    cursor: dict[str, Any] | None
    ids: set[Any]
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
        self.kind = cfg.kind
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

    # -- a run -----------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, *, retries_only: bool = False) -> RunCounts:
        stop = stop or threading.Event()
        run_id = self.ledger.start_run(self.name)
        counts = RunCounts()
        structlog.contextvars.bind_contextvars(pipeline=self.name, run_id=run_id)
        self._debug = log.bind().is_enabled_for(logging.DEBUG)
        started = time.monotonic()
        status, error = "ok", None
        try:
            maps = self._mappings()
            self._pools = {
                n: ThreadPoolExecutor(t.concurrency, thread_name_prefix=f"push-{n}")
                for n, t in self.targets.items()
            }
            self._pushers = {
                n: Pusher(
                    self.source.name,
                    self.kind,
                    n,
                    t,
                    lambda: self._mappings().version,
                    self._push_seconds[n].observe,
                    debug=self._debug,
                )
                for n, t in self.targets.items()
            }
            for target in self.targets.values():
                target.begin_run(self.kind)
            self._apply_feedback(run_id)
            self._retry_failures(run_id, maps, counts)
            if not retries_only:
                self._pull(run_id, maps, counts, stop)
            if stop.is_set():
                status = "interrupted"
            elif counts.failed:
                status = "failed"
        except FatalConnectorError as exc:
            status, error = "error", str(exc)
            log.error("run_aborted", error=str(exc))
        except RetriableError as exc:  # the source itself is unreachable: try again next run
            status, error = "error", str(exc)
            log.warning("run_source_unavailable", error=str(exc))
        except Exception as exc:
            status, error = "error", f"{type(exc).__name__}: {exc}"
            log.exception("run_crashed")
            raise
        finally:
            for remote in self._remotes.values():
                if remote is not None:
                    remote.close()
            self._remotes = {}
            for pool in self._pools.values():
                pool.shutdown(wait=True)
            self.ledger.finish_run(run_id, counts, status, mask_text(error) if error else None)
            if status in ("ok", "failed"):
                metrics.LAST_SUCCESS.labels(self.name).set(time.time())
            log.info(
                "run_finished",
                status=status,
                seconds=round(time.monotonic() - started, 2),
                **counts.as_dict(),
            )
            structlog.contextvars.unbind_contextvars("pipeline", "run_id")
        counts.status, counts.error = status, error
        return counts

    def _pull(self, run_id: str, maps: Mappings, counts: RunCounts, stop: threading.Event) -> None:
        saved = self.ledger.get_cursor(self.name)
        until = self.source.now() - timedelta(seconds=self.cfg.lag_s)
        if self.gate is not None:
            cap = self.gate()
            if cap is None:
                log.info(
                    "waiting_for_pipelines", reason="the pipelines this one depends on have not read yet"
                )
                return
            until = min(until, cap)
        # Two pages at a time: the next page is parsed, planned and its pushes started while the pushes
        # of the one before finish; pages are committed (outcomes + cursor) strictly in order.
        in_flight: deque[_Page] = deque()
        try:
            for page in prefetch(
                self.source.pull(self.kind, saved, self.cfg.start, until, self.cfg.batch_size)
            ):
                ids = {raw.get("id") for raw in page.items if isinstance(raw, dict)}
                if any(ids & earlier.ids for earlier in in_flight):
                    # the same record again (changed while we read): never two versions in flight
                    while in_flight:
                        self._finish(in_flight.popleft(), counts)
                in_flight.append(self._start(run_id, maps, counts, page.items, cursor=page.position))
                while len(in_flight) > 1:
                    self._finish(in_flight.popleft(), counts)
                if ts := page.position.get("ts"):  # mid-backfill: how far behind the source we still are
                    lag = (self.source.now() - datetime.strptime(ts, "%Y-%m-%d %H:%M:%S")).total_seconds()
                    metrics.LAG_SECONDS.labels(self.name).set(max(0.0, lag))
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
        # Read the whole window: we are behind the source by the window's end, not by the last change.
        metrics.LAG_SECONDS.labels(self.name).set(max(0.0, (self.source.now() - until).total_seconds()))
        self.ledger.set_meta(f"read_until:{self.name}", until.strftime("%Y-%m-%d %H:%M:%S"))

    def _retry_failures(self, run_id: str, maps: Mappings, counts: RunCounts) -> None:
        pairs = self.ledger.failures_to_retry(
            self.name, max_attempts=self.cfg.auto_retry_attempts, mapping_version=maps.version
        )
        if not pairs:
            return
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
            page = self._start(run_id, maps, counts, raws, cursor=None, only={i: wanted[i] for i in chunk})
            self._finish(page, counts)

    # -- one page --------------------------------------------------------------------------------
    def _start(
        self,
        run_id: str,
        maps: Mappings,
        counts: RunCounts,
        raws: Sequence[Any],
        *,
        cursor: dict[str, Any] | None,
        only: dict[str, set[str]] | None = None,
    ) -> _Page:
        """Validate and map a page and start its pushes; ``_finish`` collects and commits."""
        page = _Page(run_id, maps, cursor, {raw.get("id") for raw in raws if isinstance(raw, dict)})
        valid: list[Record] = []
        for raw in raws:
            counts.pulled += 1
            if isinstance(raw, dict) and self.source.is_unsubmitted(self.kind, raw):
                counts.skipped += 1  # drafts / filed cases are never synced
                continue
            try:
                record = self.source.parse(self.kind, raw)
            except RecordInvalid as exc:
                page.outcomes.extend(self._invalid(raw, exc, maps, only))
                snap = self._raw_snapshot(raw)
                if snap:
                    page.snapshots.append(snap)
                continue
            page.snapshots.append(self._snapshot(record, raw))
            valid.append(record)

        ids = [r.id for r in valid]
        prior = self.ledger.deliveries_for(self.source.name, self.kind, ids)
        # Never delivered as far as we know, but an earlier push timed out: it may be there already.
        for key in self.ledger.attempted(self.source.name, self.kind, ids) - prior.keys():
            prior[key] = Delivery(None, None, "attempted")
        ctx = Context(
            maps,
            lambda kind, sid, target: self.ledger.target_id(self.source.name, kind, sid, target),
            self.ledger.find_by_natural_key,
        )
        jobs: list[Job] = []
        for record in valid:
            for name, target in self.targets.items():
                if only is not None and name not in only.get(record.id, ()):
                    continue
                outcome, job = self._plan(record, name, target, ctx, prior.get((record.id, name)), maps)
                if outcome:
                    page.outcomes.append(outcome)
                if job:
                    jobs.append(job)
        for name, target in self.targets.items():
            mine = [job for job in jobs if job[1] == name]
            if isinstance(target, BatchTarget):
                for start in range(0, len(mine), target.batch_size):
                    chunk = mine[start : start + target.batch_size]
                    page.futures.append((chunk, self._submit(name, self._push_batch, target, chunk)))
            elif mine:
                remote = self._remote(name, len(mine))
                if remote is not None:
                    page.futures.append(([], remote.submit(mine, page.fatal, maps.version)))
                    continue
                # A few workers per page take the records from one queue: a future per record cost
                # more CPU than the push's own Python work. Workers of the next page queue behind
                # these and take over their threads as this page's records run out.
                todo = deque(mine)
                workers = min(max(1, target.concurrency), len(mine))
                pusher = self._pushers[name]
                page.futures.extend(
                    ([], self._submit(name, pusher.push_each, todo, page.fatal)) for _ in range(workers)
                )
        return page

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
                remote = push_process.RemotePushes(spec, self._push_seconds[name].observe)
            except Exception as exc:  # no process to be had (limits, memory): push from here, as before
                log.warning("push_process_unavailable", system=name, error=f"{type(exc).__name__}: {exc}")
                remote = None
            self._remotes[name] = remote
        return remote if remote is not None and remote.usable else None

    def _finish(self, page: _Page, counts: RunCounts) -> None:
        """Wait for a page's pushes, then write its outcomes, failures and cursor in one transaction."""
        outcomes = page.outcomes
        fatal: FatalConnectorError | None = None
        for chunk, fut in page.futures:
            try:
                outcomes.extend(fut.result())
            except FatalConnectorError as exc:
                fatal = fatal or exc
                outcomes.extend(
                    self._failure(r, n, "push", exc, page.maps, payload) for r, n, payload, _h, _d in chunk
                )
        fatal = fatal or next(iter(page.fatal.values()), None)
        by_action: Counter[tuple[str, str]] = Counter()
        by_error: Counter[tuple[str, str | None]] = Counter()
        for o in outcomes:
            counts.add(o)
            by_action[o.target, o.action] += 1
            if o.failed:
                by_error[o.target, o.error_kind] += 1
        for (target, action), n in by_action.items():
            metrics.RECORDS.labels(self.name, target, action).inc(n)
        for (target, kind), n in by_error.items():
            metrics.FAILURES.labels(self.name, target, kind).inc(n)
        self.ledger.commit_page(
            pipeline=self.name,
            run_id=page.run_id,
            snapshots=page.snapshots,
            outcomes=outcomes,
            cursor=None if fatal else page.cursor,
        )
        if fatal:
            raise fatal

    def _plan(
        self, record: Record, name: str, target: Target, ctx: Context, prior: Delivery | None, maps: Mappings
    ) -> tuple[Outcome | None, Job | None]:
        base: dict[str, Any] = {
            "system": self.source.name,
            "kind": self.kind,
            "source_id": record.id,
            "target": name,
        }
        if not target.wants(record):
            return Outcome(action="skipped", **base), None
        if (
            record.withdrawn
            and (prior is None or prior.target_id is None)
            and not getattr(target, "keeps_withdrawn", True)
        ):
            return Outcome(action="skipped", **base), None
        try:
            payload = target.translate(record, ctx)
        except (MappingMissing, RecordInvalid) as exc:
            return self._failure(record, name, "map", exc, maps, None), None
        digest = stable_hash(payload)
        if (
            prior is not None
            and prior.payload_hash == digest
            and prior.state in ("delivered", "withdrawn", "sent")
        ):
            return Outcome(action="unchanged", target_id=prior.target_id, payload_hash=digest, **base), None
        return None, (record, name, payload, digest, prior)

    def _submit(self, target: str, fn: Callable[..., list[Outcome]], *args: Any) -> Future[list[Outcome]]:
        """Run on the target's pool with this run's log context (pipeline, run_id) carried over."""
        return self._pools[target].submit(contextvars.copy_context().run, fn, *args)

    def _push_batch(self, target: BatchTarget, chunk: list[Job]) -> list[Outcome]:
        started = time.monotonic()
        try:
            results = target.deliver_batch([(r, payload, prior_of(d)) for r, _n, payload, _h, d in chunk])
        except FatalConnectorError:
            raise
        except Exception as exc:  # the whole call failed: each record of the batch fails with it
            if not isinstance(exc, ConnectorError):
                log.exception("batch_crashed", system=target.name)
            results = [exc] * len(chunk)
        finally:
            metrics.PUSH_SECONDS.labels(target.name).observe(time.monotonic() - started)
        out = []
        for (record, name, payload, digest, _d), res in zip(chunk, results, strict=True):
            if isinstance(res, Exception):
                out.append(self._failure(record, name, "push", res, None, payload))
            else:
                out.append(delivered_outcome(self.source.name, self.kind, record, name, digest, res))
        return out

    def _apply_feedback(self, run_id: str) -> None:
        """Turn asynchronous verdicts (前置库 feedback) into delivered / failed."""
        for name, target in self.targets.items():
            if not isinstance(target, FeedbackTarget):
                continue
            key = f"feedback:{name}"
            items, watermark = target.poll_feedback(self.ledger.get_meta(key))
            if items:
                applied = self.ledger.apply_feedback(
                    name, self.source.name, items, run_id, self.kind_pipelines
                )
                log.info("feedback_applied", system=name, received=len(items), **applied)
            if watermark is not None:
                self.ledger.set_meta(key, watermark)

    # -- failures --------------------------------------------------------------------------------
    def _failure(
        self,
        record: Record,
        target: str,
        stage: str,
        exc: Exception,
        maps: Mappings | None,
        payload: dict[str, Any] | None,
    ) -> Outcome:
        return failure_outcome(
            self.source.name,
            self.kind,
            record,
            target,
            stage,
            exc,
            lambda: (maps or self._mappings()).version,
            payload,
        )

    def _invalid(
        self, raw: Any, exc: RecordInvalid, maps: Mappings, only: dict[str, set[str]] | None
    ) -> list[Outcome]:
        """An invalid record goes nowhere: a failure for every target."""
        log.warning("record_invalid", record_id=exc.record_id, message=mask_text(str(exc)))
        doc = raw.get("decision_no") or raw.get("document_no") if isinstance(raw, dict) else None
        party = (raw.get("party") or raw.get("enterprise")) if isinstance(raw, dict) else None
        name = party.get("name") if isinstance(party, dict) else None
        code = party.get("uscc") if isinstance(party, dict) else None
        targets = only.get(exc.record_id, set()) if only is not None else self.targets
        return [
            Outcome(
                system=self.source.name,
                kind=self.kind,
                source_id=exc.record_id,
                target=t,
                action="failed",
                stage="validate",
                error_kind="validation",
                message=mask_text(str(exc)),
                payload=masked_json(raw),
                doc_no=str(doc)[:128] if doc else None,
                party_name=str(name)[:200] if name else None,
                party_code=str(code)[:32] if code else None,
            )
            for t in targets
        ]

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

    def _raw_snapshot(self, raw: Any) -> RecordSnapshot | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
            return None
        return RecordSnapshot(
            system=self.source.name,
            kind=self.kind,
            source_id=raw["id"][:64],
            status="invalid",
            record_hash=stable_hash(raw),
            body=_dump_raw(raw),
            doc_no=None,
            party_name=None,
            party_code=None,
            dept_code=None,
            event_date=None,
            source_updated_at=None,
        )
