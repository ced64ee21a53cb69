"""Reconciliation: is every record where the ledger says it is, in the version it says?

For one pipeline and a window (``--since``, else the pipeline's ``start``): the source lists its records
(ids and ``updated_at`` only, ``Lister``); the ledger says which version of each it read and what it
delivered where; every target whose contents can be read back (``Reader``: the municipal list, the
credit lookup, the 前置库 tables) says what it holds. Per target, a record is

- **missing**: in the source, but never delivered (the ledger has no delivery, or never read it), or
  not on the target although the ledger says it was delivered;
- **stale**: the source's ``updated_at`` is not the one the ledger read (an edit the pull never saw,
  e.g. after the source's clock stepped back), or the target holds an older write (前置库 ``CD_BATCH``);
- **extra**: on the target under our id, or delivered there by the ledger, with no source record;
- **diverged**: the version is right, but the target's fields are not what we send (changed there).

Records with an unresolved failure are left out (operators already see them in 同步失败), as are
records a target does not take. ``repair`` re-pushes the missing, stale and diverged ones, each
exactly once, through the pipeline's normal push path (``Pipeline.repair``: a run of its own, in the
run history and the ledger like any other); extras are reported, never deleted.

What it does *not* see: a source edit that kept its ``updated_at`` (the listing carries no content),
and extras on a target that cannot be listed (credit) unless the ledger delivered them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from connectors.contract.clock import TIME_FORMAT
from connectors.contract.errors import MappingMissing, RecordInvalid
from connectors.contract.records import Record, stable_hash
from connectors.contract.roles import Context, Held, Listed, Lister, Prior, Reader, Target
from connectors.contract.states import AuditAction, DeliveryState, Finding, label
from sync import metrics
from sync.ledger import Ledger
from sync.ledger.reconcile import FindingRow, RunTotals
from sync.pipeline import Pipeline

log = structlog.get_logger("zhifa.reconcile")
_REPAIRABLE = (Finding.MISSING, Finding.STALE, Finding.DIVERGED)


@dataclass
class Result:
    """One reconciliation run of one pipeline."""

    run_id: str
    pipeline: str
    listed: int = 0
    findings: list[FindingRow] = field(default_factory=list)
    repaired: int = 0
    status: str = "ok"
    error: str | None = None

    def count(self, target: str, kind: Finding) -> int:
        return sum(1 for f in self.findings if f.target == target and f.finding == kind)


@dataclass(frozen=True, slots=True)
class _Subject:
    """A source record as reconciliation sees it: the listing, the parsed record, its raw body."""

    listed: Listed
    record: Record | None  # None: the stored/fetched body does not parse (a failure says why)
    raw: Any
    read_at: datetime | None  # the ``updated_at`` the ledger read; None: never read


@dataclass(frozen=True, slots=True)
class _Pair:
    """What is known of one record on one target."""

    subject: _Subject
    target: str
    prior: Prior | None
    held: Held | None
    reader: Reader | None


class Reconciler:
    """Reconciles one pipeline: its source's listing, the ledger, and each readable target."""

    def __init__(
        self,
        pipeline: Pipeline,
        lister: Lister,
        readers: Mapping[str, Reader],
        ledger: Ledger,
        actor: str = "system",
    ) -> None:
        self.pipeline = pipeline
        self.lister = lister
        self.readers = readers
        self.ledger = ledger
        self.actor = actor
        self.system = pipeline.source.name
        self.kind = pipeline.kind

    def run(self, since: datetime | None = None, *, repair: bool = False) -> Result:
        result = Result(self.ledger.start_reconcile(self.pipeline.name, since, repair), self.pipeline.name)
        try:
            self._reconcile(since or self.pipeline.cfg.start, repair, result)
        except Exception as exc:  # reported and stored; the scheduler goes on
            result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
            log.exception("reconcile_failed", pipeline=self.pipeline.name)
        self.ledger.finish_reconcile(
            result.run_id,
            result.findings,
            RunTotals(result.status, result.listed, result.repaired, result.error),
        )
        self._metrics(result)
        return result

    def _reconcile(self, start: datetime, repair: bool, result: Result) -> None:
        until = self.pipeline.source.now() - timedelta(seconds=self.pipeline.cfg.lag_s)
        listing: dict[str, Listed] = {}
        for page in self.lister.list_ids(self.kind, start, until, self.pipeline.cfg.batch_size):
            listing.update((item.source_id, item) for item in page)
        result.listed = len(listing)
        read = self.ledger.record_versions(self.system, self.kind)
        subjects = self._subjects([item for item in listing.values() if item.synced], read)
        gone = [
            sid for sid, at in read.items() if sid not in listing and at is not None and start <= at <= until
        ]
        priors = self.ledger.deliveries_for(self.system, self.kind, [*subjects, *gone])
        known_failing = self.ledger.unresolved_pairs(self.system, self.kind)
        pairs: list[_Pair] = []
        for name in self.pipeline.targets:
            reader = self.readers.get(name)
            mine = {sid: p for (sid, t), p in priors.items() if t == name}
            held = reader.held(self.kind, mine) if reader is not None else {}
            for sid, subject in subjects.items():
                if (sid, name) not in known_failing:
                    pairs.append(_Pair(subject, name, mine.get(sid), held.get(sid), reader))
            result.findings.extend(self._extras(name, reader, held, mine, listing, gone, read, start))
        ctx = self._context()
        for pair in pairs:
            found = self._judge(pair, self.pipeline.targets[pair.target], ctx)
            if found is not None:
                result.findings.append(found)
        log.info("reconciled", pipeline=self.pipeline.name, listed=result.listed, found=len(result.findings))
        if repair:
            self._repair(pairs, result)

    # -- what each record is -------------------------------------------------------------------------
    def _subjects(self, listed: list[Listed], read: dict[str, datetime | None]) -> dict[str, _Subject]:
        """The listed records, parsed: from the ledger where it read this version, else from the source."""
        fresh = [item for item in listed if read.get(item.source_id) != item.updated_at]
        raws: dict[str, Any] = {}
        if fresh:
            for raw in self.lister.fetch(self.kind, fresh, self.pipeline.cfg.batch_size):
                raws[str(raw.get("id"))] = raw
        bodies = self.ledger.load_records(
            self.system, self.kind, [i.source_id for i in listed if i.source_id not in raws]
        )
        raws.update({sid: json.loads(body) for sid, body in bodies.items()})
        out = {}
        for item in listed:
            raw = raws.get(item.source_id)
            out[item.source_id] = _Subject(item, self._parse(raw), raw, read.get(item.source_id))
        return out

    def _parse(self, raw: Any) -> Record | None:
        if raw is None:
            return None
        try:
            return self.pipeline.source.parse(self.kind, raw)
        except RecordInvalid:
            return None

    def _context(self) -> Context:
        return Context(
            self.pipeline._mappings(),
            lambda kind, sid, target: self.ledger.target_id(self.system, kind, sid, target),
            self.ledger.find_by_natural_key,
        )

    def _judge(self, pair: _Pair, target: Target, ctx: Context) -> FindingRow | None:
        """The finding for one record on one target, or None when it is as it should be."""
        subject, prior = pair.subject, pair.prior
        record = subject.record
        if record is None or not target.wants(record):
            return None
        if (
            record.withdrawn
            and (prior is None or not prior.known)
            and not target.capabilities.withdraw_unsent
        ):
            return None  # never delivered, void already: nothing is to be there
        try:
            payload = target.translate(record, ctx)
        except (MappingMissing, RecordInvalid):
            return None  # the next run parks or fails it, with its message
        if subject.read_at is None:
            return self._row(pair, Finding.MISSING, "来源记录从未被读取 (同步游标之前的修改)")
        if prior is None or prior.state == DeliveryState.FAILED:
            return self._row(pair, Finding.MISSING, "尚未同步到目标系统")
        if subject.read_at != subject.listed.updated_at:
            return self._row(
                pair,
                Finding.STALE,
                f"来源记录更新于 {subject.listed.updated_at:{TIME_FORMAT}}, 已同步的是 {subject.read_at:{TIME_FORMAT}} 的版本",
            )
        if prior.payload_hash != stable_hash(payload):
            return self._row(pair, Finding.STALE, "目标系统持有的是旧版本 (记录或映射表已变化)")
        return self._on_target(pair, payload)

    def _on_target(self, pair: _Pair, payload: dict[str, Any]) -> FindingRow | None:
        """Compared with what the target holds, where it can be read."""
        if pair.reader is None:
            return None
        held, prior = pair.held, pair.prior
        if held is None:
            return self._row(pair, Finding.MISSING, "账本记为已同步, 目标系统中没有该记录")
        if (
            prior is not None
            and prior.target_version
            and held.version
            and held.version != prior.target_version
        ):
            return self._row(
                pair, Finding.STALE, f"目标系统版本 {held.version}, 最后写入的是 {prior.target_version}"
            )
        wrong = pair.reader.differs(payload, held)
        if wrong:
            return self._row(pair, Finding.DIVERGED, f"字段与推送内容不一致: {', '.join(wrong[:8])}")
        return None

    def _extras(
        self,
        name: str,
        reader: Reader | None,
        held: dict[str, Held],
        mine: dict[str, Prior],
        listing: dict[str, Listed],
        gone: list[str],
        read: dict[str, datetime | None],
        start: datetime,
    ) -> list[FindingRow]:
        """On the target (read back, or as the ledger delivered it) without a source record."""
        ids = {sid for sid in gone if (p := mine.get(sid)) is not None and p.known}
        if reader is not None and reader.lists_all:
            # a record read before the window is outside it, not extra
            ids |= {sid for sid in held if sid not in listing and not _before(read.get(sid), start)}
        return [
            FindingRow(name, self.kind, sid, Finding.EXTRA, "来源系统中没有该记录 (不会自动删除, 请人工核实)")
            for sid in sorted(ids)
        ]

    def _row(self, pair: _Pair, kind: Finding, detail: str) -> FindingRow:
        return FindingRow(pair.target, self.kind, pair.subject.listed.source_id, kind, detail)

    # -- repair --------------------------------------------------------------------------------------
    def _repair(self, pairs: list[_Pair], result: Result) -> None:
        """Re-push the repairable findings, each pair once, through the pipeline's push path; audited."""
        by_pair = {(p.subject.listed.source_id, p.target): p for p in pairs}
        todo = [f for f in result.findings if f.finding in _REPAIRABLE and (f.source_id, f.target) in by_pair]
        if not todo:
            return
        only: dict[str, set[str]] = {}
        priors: dict[tuple[str, str], Prior | None] = {}
        for f in todo:
            pair = by_pair[(f.source_id, f.target)]
            only.setdefault(f.source_id, set()).add(f.target)
            priors[(f.source_id, f.target)] = _repair_prior(pair)
        raws = [by_pair[(sid, next(iter(targets)))].subject.raw for sid, targets in only.items()]
        counts = self.pipeline.repair(raws, only, priors)
        failing = self.ledger.unresolved_pairs(self.system, self.kind)  # a push that failed is filed there
        fixed = (
            [f for f in todo if (f.source_id, f.target) not in failing] if counts.status != "error" else []
        )
        done = {(f.source_id, f.target) for f in fixed}
        result.findings = [
            FindingRow(f.target, f.kind, f.source_id, f.finding, f.detail, True)
            if (f.source_id, f.target) in done
            else f
            for f in result.findings
        ]
        result.repaired = len(fixed)
        for f in fixed:
            metrics.RECONCILE_REPAIRED.labels(self.pipeline.name, f.target).inc()
        self.ledger.add_audit(
            self.actor, AuditAction.RECONCILE_REPAIR, _audit_detail(self.pipeline.name, todo, fixed)
        )
        log.info("reconcile_repaired", pipeline=self.pipeline.name, queued=len(todo), repaired=len(fixed))

    def _metrics(self, result: Result) -> None:
        for target in self.pipeline.targets:
            for kind in Finding:
                metrics.RECONCILE_FINDINGS.labels(self.pipeline.name, target, kind).set(
                    sum(
                        1
                        for f in result.findings
                        if f.target == target and f.finding == kind and not f.repaired
                    )
                )


def _before(at: datetime | None, start: datetime) -> bool:
    return at is not None and at < start


def _repair_prior(pair: _Pair) -> Prior | None:
    """What the push is told of the target: nothing there (create it), or a version to replace."""
    prior = pair.prior
    if prior is None or (prior.state == DeliveryState.FAILED and not prior.known):
        return None
    if pair.reader is not None and pair.held is None:
        # gone from the target: write it anew, as after a push whose answer was lost
        return Prior(None, DeliveryState.ATTEMPTED, prior.linked)
    return Prior(prior.target_id, prior.state, prior.linked, prior.target_version, None)


def _audit_detail(pipeline: str, todo: list[FindingRow], fixed: list[FindingRow]) -> str:
    kinds = ", ".join(
        f"{label(Finding, k)} {n}" for k in _REPAIRABLE if (n := sum(1 for f in todo if f.finding == k))
    )
    ids = ", ".join(sorted({f"{f.target}:{f.source_id}" for f in fixed})[:20])
    return f"管道 {pipeline}: 对账补推 {len(todo)} 条 ({kinds}), 成功 {len(fixed)} 条: {ids}"
