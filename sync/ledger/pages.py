"""The page transaction: a page's snapshots, outcomes, failures and cursor in one transaction, and the
前置库's asynchronous verdicts applied to deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.exc import DataError, IntegrityError

from connectors.breaker import NOT_CALLED
from connectors.contract.roles import Cursor
from connectors.contract.states import Action, FailureState
from connectors.contract.validators import escape_controls, mask_text
from sync import outcomes
from sync.ledger.base import now
from sync.ledger.cursors import CursorsPart
from sync.ledger.schema import deliveries, failure_attempts, failures, push_intents, records
from sync.ledger.trace import write_attempts, write_versions
from sync.ledger.upsert import chunks, upsert
from sync.outcomes import Outcome, Subject

log = structlog.get_logger("zhifa.ledger")

# What one record's rows can do to a page transaction (a value the database refuses, a constraint);
# a lost connection is not among them: the whole page fails and is redone.
_RECORD_ERRORS = (DataError, IntegrityError)


@dataclass
class RecordSnapshot:
    system: str
    kind: str
    source_id: str
    status: str
    record_hash: str
    body: str
    doc_no: str | None
    party_name: str | None
    party_code: str | None
    dept_code: str | None
    event_date: Any
    source_updated_at: datetime | None
    natural_key: str | None = None


@dataclass(frozen=True, slots=True)
class _RecordPart:
    """One record's share of a page: its snapshot (if kept) and its outcomes on every target."""

    source_id: str
    snapshots: list[RecordSnapshot]
    outcomes: list[Outcome]


def _by_record(snapshots: Sequence[RecordSnapshot], found: Sequence[Outcome]) -> list[_RecordPart]:
    parts: dict[tuple[str, str, str], _RecordPart] = {}
    for s in snapshots:
        key = (s.system, s.kind, s.source_id)
        parts.setdefault(key, _RecordPart(s.source_id, [], [])).snapshots.append(s)
    for o in found:
        key = (o.system, o.kind, o.source_id)
        parts.setdefault(key, _RecordPart(o.source_id, [], [])).outcomes.append(o)
    return list(parts.values())


def _db_error(exc: Exception) -> str:
    """The database's own words (first line), without the SQL and its parameters (personal data)."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()
    return mask_text(escape_controls(f"{type(orig).__name__}: {first[0] if first else ''}"))[:300]


def _safe(value: Any) -> Any:
    """What a failure row keeps of a value: control characters (a NUL) written out as text."""
    return escape_controls(value) if isinstance(value, str) else value


class PagesPart(CursorsPart):
    """Writes of pages and of feedback."""

    def intend_pushes(self, system: str, kind: str, run_id: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Before pushing (record id, target) pairs the ledger holds no delivery for: note that the push
        starts, so that a page whose outcomes are lost still leaves a trace (``attempted``)."""
        if not pairs:
            return
        ts = now()
        rows = [
            {"system": system, "kind": kind, "source_id": sid, "target": t, "run_id": run_id, "at": ts}
            for sid, t in pairs
        ]
        with self.engine.begin() as conn:
            upsert(conn, push_intents, rows, ["system", "kind", "source_id", "target"], ["run_id", "at"])

    def commit_page(
        self,
        *,
        pipeline: str,
        run_id: str,
        snapshots: list[RecordSnapshot],
        outcomes: list[Outcome],
        cursor: Cursor | None,
    ) -> None:
        """Write one page's snapshots, outcomes, failures and cursor in one transaction.

        When the database refuses the page for one record's sake, the page is written again record by
        record: the outcomes of every other record are kept, the bad one is kept as a failure.
        """
        try:
            self._commit(pipeline, run_id, snapshots, outcomes, cursor)
        except _RECORD_ERRORS as exc:
            log.warning("page_commit_refused", error=_db_error(exc), records=len(snapshots) or len(outcomes))
            for part in _by_record(snapshots, outcomes):
                self._commit_record(pipeline, run_id, part)
            if cursor is not None:
                with self.engine.begin() as conn:
                    self._save_cursor(conn, pipeline, cursor)

    def _commit(
        self,
        pipeline: str,
        run_id: str,
        snapshots: list[RecordSnapshot],
        outcomes: list[Outcome],
        cursor: Cursor | None,
    ) -> None:
        ts = now()
        with self.engine.begin() as conn:
            self._write_snapshots(conn, snapshots, ts)
            write_versions(conn, pipeline, run_id, snapshots, ts)
            self._write_outcomes(conn, pipeline, run_id, outcomes, ts)
            write_attempts(conn, run_id, outcomes, ts)
            if cursor is not None:
                self._save_cursor(conn, pipeline, cursor)

    def _commit_record(self, pipeline: str, run_id: str, part: _RecordPart) -> None:
        """One record's rows alone; if the database refuses them, a failure per target that says so
        (with the snapshot if that is not what it refused), so the record is neither lost nor retried
        blind. Raises the first error if not even that can be written."""
        try:
            self._commit(pipeline, run_id, part.snapshots, part.outcomes, None)
            return
        except _RECORD_ERRORS as exc:
            error = exc
        log.error("record_not_recorded", record_id=escape_controls(part.source_id), error=_db_error(error))
        refused = [outcomes.not_recorded(o, _db_error(error)) for o in part.outcomes]
        for snapshots in (part.snapshots, []):
            try:
                self._commit(pipeline, run_id, snapshots, refused, None)
                return
            except _RECORD_ERRORS:
                continue
        raise error

    @staticmethod
    def _write_snapshots(conn: Connection, snapshots: list[RecordSnapshot], ts: datetime) -> None:
        upsert(
            conn,
            records,
            [dict(s.__dict__, first_seen=ts, last_seen=ts) for s in snapshots],
            ["system", "kind", "source_id"],
            [
                "status",
                "record_hash",
                "body",
                "doc_no",
                "party_name",
                "party_code",
                "dept_code",
                "event_date",
                "source_updated_at",
                "last_seen",
                "natural_key",
            ],
        )

    def _write_outcomes(
        self, conn: Connection, pipeline: str, run_id: str, outcomes: list[Outcome], ts: datetime
    ) -> None:
        done = [o for o in outcomes if o.action in ("created", "updated", "linked", "withdrawn", "sent")]
        rows = []
        for o in done:
            state = {"withdrawn": "withdrawn", "sent": "sent"}.get(o.action, "delivered")
            if o.action == "withdrawn" and o.target_version is not None:
                state = "sent"  # a 前置库 `d` row: withdrawn once its feedback says so
            rows.append(
                {
                    "system": o.system,
                    "kind": o.kind,
                    "source_id": o.source_id,
                    "target": o.target,
                    "target_id": o.target_id,
                    "payload_hash": o.payload_hash,
                    "state": state,
                    "last_action": o.action,
                    "linked": o.linked,
                    "target_version": o.target_version,
                    "first_delivered_at": ts,
                    "delivered_at": ts,
                    "updated_at": ts,
                }
            )
        upsert(
            conn,
            deliveries,
            rows,
            ["system", "kind", "source_id", "target"],
            [
                "target_id",
                "payload_hash",
                "state",
                "last_action",
                "linked",
                "target_version",
                "delivered_at",
                "updated_at",
            ],
        )
        # A record that went through closes its open failure for that target; so does one the target
        # no longer takes (skipped: e.g. now summary procedure, or void before it was ever sent).
        self._close_failures(conn, done, ts, "重试成功, 已自动关闭")
        self._close_failures(
            conn, [o for o in outcomes if o.action == "skipped"], ts, "该系统不再需要此记录, 已自动关闭"
        )
        for o in outcomes:
            if o.failed:
                self._record_failure(conn, pipeline, run_id, o, ts)
        self._clear_intents(conn, outcomes)

    @staticmethod
    def _clear_intents(conn: Connection, outcomes: Sequence[Outcome]) -> None:
        """The page's pushes are recorded now: their intents go. (A transient failure keeps the record
        "attempted" through its failure row; the outcome of every other push is known.)"""
        by_record: dict[tuple[str, str], set[str]] = {}
        for o in outcomes:
            by_record.setdefault((o.system, o.kind), set()).add(o.source_id)
        for (system, kind), ids in by_record.items():
            for chunk in chunks(sorted(ids)):
                conn.execute(
                    delete(push_intents).where(
                        push_intents.c.system == system,
                        push_intents.c.kind == kind,
                        push_intents.c.source_id.in_(chunk),
                    )
                )

    @staticmethod
    def _close_failures(conn: Connection, outcomes: Sequence[Outcome], ts: datetime, note: str) -> None:
        """Resolve the unresolved failures of these (record, target) pairs. Most pages have none: look
        first with one indexed SELECT, and update only the rows found."""
        by_record: dict[tuple[str, str], set[str]] = {}
        for o in outcomes:
            by_record.setdefault((o.system, o.kind), set()).add(o.source_id)
        wanted = {(o.system, o.kind, o.source_id, o.target) for o in outcomes}
        ids: list[int] = []
        for (system, kind), source_ids in by_record.items():
            for chunk in chunks(sorted(source_ids)):
                rows = conn.execute(
                    select(failures.c.id, failures.c.source_id, failures.c.target).where(
                        failures.c.system == system,
                        failures.c.kind == kind,
                        failures.c.source_id.in_(chunk),
                        failures.c.state != "resolved",
                    )
                )
                ids.extend(r.id for r in rows if (system, kind, r.source_id, r.target) in wanted)
        if ids:
            conn.execute(
                update(failures)
                .where(failures.c.id.in_(ids))
                .values(state="resolved", resolved_by="zhifa-sync", resolved_at=ts, resolution_note=note)
            )

    # What a failure row repeats of the outcome that (last) made it.
    _FAILURE_FIELDS = (
        "stage", "error_kind", "error_code", "message", "payload", "response", "doc_no", "party_name",
        "party_code", "mapping_version", "map_table", "map_key", "map_column",
    )  # fmt: skip

    def _record_failure(self, conn: Connection, pipeline: str, run_id: str, o: Outcome, ts: datetime) -> None:
        """Open (or count again, reopening it if resolved) the failure of this record on this target."""
        state = FailureState.PARKED if o.action == Action.PARKED else FailureState.OPEN
        key = and_(
            failures.c.system == o.system,
            failures.c.kind == o.kind,
            failures.c.source_id == o.source_id,
            failures.c.target == o.target,
        )
        values = {
            "pipeline": pipeline,
            "last_seen": ts,
            "state": state,
            **{name: _safe(getattr(o, name)) for name in self._FAILURE_FIELDS},
        }
        # A call not made (the target's circuit breaker was open) spends none of the retry budget.
        counted = 0 if o.error_code == NOT_CALLED else 1
        existing = conn.scalar(select(failures.c.id).where(key))
        if existing is None:
            row = {"system": o.system, "kind": o.kind, "source_id": o.source_id, "target": o.target}
            inserted = conn.execute(
                failures.insert().values(**row, attempts=counted, first_seen=ts, **values)
            ).inserted_primary_key
            assert inserted is not None
            failure_id = inserted[0]
        else:
            failure_id = existing
            # A resolved failure that fails again is reopened; the resolution stays in the audit log.
            conn.execute(
                update(failures)
                .where(failures.c.id == failure_id)
                .values(
                    attempts=failures.c.attempts + counted,
                    resolution_note=None,
                    resolved_by=None,
                    resolved_at=None,
                    **values,
                )
            )
        conn.execute(
            failure_attempts.insert().values(
                failure_id=failure_id,
                at=ts,
                run_id=run_id,
                stage=o.stage,
                error_kind=o.error_kind,
                message=_safe(o.message),
            )
        )

    def apply_feedback(
        self, target: str, system: str, items: Sequence[Any], run_id: str, kind_pipelines: dict[str, str]
    ) -> dict[str, int]:
        """Mark 'sent' deliveries whose version the feedback speaks of as delivered, or failed."""
        ts = now()
        counts = {"accepted": 0, "rejected": 0, "stale": 0}
        with self.engine.begin() as conn:
            for fb in items:
                key = and_(
                    deliveries.c.system == system,
                    deliveries.c.kind == fb.kind,
                    deliveries.c.source_id == fb.source_id,
                    deliveries.c.target == target,
                )
                row = conn.execute(
                    select(deliveries.c.state, deliveries.c.target_version, deliveries.c.last_action).where(
                        key
                    )
                ).first()
                if (
                    row is None
                    or row.state != "sent"
                    or (fb.target_version and row.target_version != fb.target_version)
                ):
                    counts["stale"] += 1  # a newer version is on its way, or it is not ours
                    continue
                if fb.ok:
                    conn.execute(
                        update(deliveries)
                        .where(key)
                        .values(
                            state="withdrawn" if row.last_action == "withdrawn" else "delivered",
                            updated_at=ts,
                        )
                    )
                    counts["accepted"] += 1
                else:
                    conn.execute(
                        update(deliveries).where(key).values(state="failed", payload_hash=None, updated_at=ts)
                    )
                    self._record_failure(
                        conn,
                        kind_pipelines.get(fb.kind, f"{system}-{fb.kind}"),
                        run_id,
                        outcomes.rejected_by_feedback(
                            Subject(system, fb.kind, fb.source_id, target), fb.message
                        ),
                        ts,
                    )
                    counts["rejected"] += 1
        return counts
