"""Where did a record go: every version seen of it, and per target its delivery, each push (payload
and answer, masked), its failures, the 前置库's feedback and the twin it was linked to.

The page transaction writes the two tables this reads (``write_versions``, ``write_attempts``): one
row per distinct version of a record (a record re-read unchanged adds nothing) and one row per push
that reached a target or failed, the oldest pruned beyond ``ATTEMPTS_CAP`` rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select

from connectors.contract.states import Action
from connectors.contract.validators import mask_text, normalize_decision_no
from sync.ledger.base import Part
from sync.ledger.schema import deliveries, failures, push_attempts, record_versions, records
from sync.ledger.upsert import upsert
from sync.outcomes import Outcome

ATTEMPTS_CAP = 500_000  # rows kept in push_attempts (≈ 1 KB each): the newest pushes of every record
TEXT_CAP = 4000  # characters of a payload or an answer kept per push
MATCHES_CAP = 50

# Outcomes that are a push worth keeping (an unchanged or skipped record was not pushed).
_PUSHED = frozenset({Action.CREATED, Action.UPDATED, Action.LINKED, Action.WITHDRAWN, Action.SENT})


# -- writes (inside the page transaction) ---------------------------------------------------------
def write_versions(
    conn: Connection, pipeline: str, run_id: str, snapshots: Sequence[Any], ts: datetime
) -> None:
    """A row for each version not seen before; a version seen again only moves its ``last_seen``."""
    rows = [
        {
            "system": s.system,
            "kind": s.kind,
            "source_id": s.source_id,
            "record_hash": s.record_hash,
            "status": s.status,
            "source_updated_at": s.source_updated_at,
            "pipeline": pipeline,
            "run_id": run_id,
            "first_seen": ts,
            "last_seen": ts,
            "body": s.body,
        }
        for s in snapshots
    ]
    upsert(conn, record_versions, rows, ["system", "kind", "source_id", "record_hash"], ["last_seen"])


def _answer(o: Outcome) -> str:
    if o.failed:
        return o.response or o.message
    done = {"action": str(o.action), "target_id": o.target_id, "linked": o.linked}
    if o.target_version:
        done["target_version"] = o.target_version
    return json.dumps(done, ensure_ascii=False)


def write_attempts(conn: Connection, run_id: str, outcomes: Sequence[Outcome], ts: datetime) -> None:
    """One row per push made (delivered, sent, failed or parked), payload and answer masked and cut."""
    rows = [
        {
            "system": o.system,
            "kind": o.kind,
            "source_id": o.source_id,
            "target": o.target,
            "at": ts,
            "run_id": run_id,
            "action": str(o.action),
            "target_id": o.target_id,
            "target_version": o.target_version,
            "payload": o.payload[:TEXT_CAP] if o.payload else None,
            "response": mask_text(_answer(o))[:TEXT_CAP],
        }
        for o in outcomes
        if o.failed or o.action in _PUSHED
    ]
    if not rows:
        return
    conn.execute(push_attempts.insert(), rows)
    newest = conn.scalar(select(func.max(push_attempts.c.id)))
    if newest is not None and newest > ATTEMPTS_CAP:
        conn.execute(delete(push_attempts).where(push_attempts.c.id <= newest - ATTEMPTS_CAP))


# -- reads ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordRef:
    """Which source record: the system it was read from, its kind and its id there."""

    system: str
    kind: str
    source_id: str


@dataclass(frozen=True, slots=True)
class TargetTrace:
    """One target's view of a record: the delivery row, each push, its failures, its twin."""

    target: str
    delivery: dict[str, Any] | None
    attempts: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    feedback: list[dict[str, Any]]  # 前置库 verdicts that refused a version (stage feedback)


@dataclass(frozen=True, slots=True)
class RecordTrace:
    ref: RecordRef
    record: dict[str, Any]  # the latest snapshot (records row)
    versions: list[dict[str, Any]]
    targets: list[TargetTrace]
    twins: list[RecordRef] = field(default_factory=list)  # same natural key read from another system


class TracePart(Part):
    """The queries of ``zhifa-sync trace`` and the console's 记录追踪 page."""

    def find_records(self, query: str) -> list[RecordRef]:
        """Records a 文号 (normalised like linking), USCC, source id or target id names."""
        q = query.strip()
        if not q:
            return []
        natural = normalize_decision_no(q)[:200]
        found: dict[RecordRef, None] = {}
        with self.engine.connect() as conn:
            by_record = conn.execute(
                select(records.c.system, records.c.kind, records.c.source_id)
                .where(
                    or_(
                        records.c.source_id == q[:64],
                        records.c.doc_no == q[:128],
                        records.c.natural_key == natural,
                        records.c.party_code == q[:32],
                    )
                )
                .order_by(records.c.last_seen.desc())
                .limit(MATCHES_CAP)
            )
            for r in by_record:
                found[RecordRef(r.system, r.kind, r.source_id)] = None
            by_target = conn.execute(
                select(deliveries.c.system, deliveries.c.kind, deliveries.c.source_id)
                .where(deliveries.c.target_id == q[:64])
                .limit(MATCHES_CAP)
            )
            for r in by_target:
                found[RecordRef(r.system, r.kind, r.source_id)] = None
        return list(found)[:MATCHES_CAP]

    def record_summaries(self, refs: Sequence[RecordRef]) -> list[dict[str, Any]]:
        """One line per record (for a list of matches): 文号, party, status, last seen."""
        out = []
        with self.engine.connect() as conn:
            for ref in refs:
                row = conn.execute(select(records).where(*_is(records, ref))).mappings().first()
                if row is not None:
                    out.append({k: v for k, v in row.items() if k != "body"})
        return out

    def trace(self, ref: RecordRef) -> RecordTrace | None:
        """Everything the ledger knows of one record."""
        with self.engine.connect() as conn:
            row = conn.execute(select(records).where(*_is(records, ref))).mappings().first()
            if row is None:
                return None
            versions = _rows(
                conn, select(record_versions).where(*_is(record_versions, ref)).order_by(record_versions.c.id)
            )
            by_target = {d["target"]: d for d in _rows(conn, select(deliveries).where(*_is(deliveries, ref)))}
            attempts = _rows(
                conn, select(push_attempts).where(*_is(push_attempts, ref)).order_by(push_attempts.c.id)
            )
            fails = _rows(conn, select(failures).where(*_is(failures, ref)).order_by(failures.c.id))
            twins = self._twins(conn, ref, row["natural_key"])
        names = sorted(set(by_target) | {a["target"] for a in attempts} | {f["target"] for f in fails})
        targets = [
            TargetTrace(
                name,
                by_target.get(name),
                [a for a in attempts if a["target"] == name],
                [f for f in fails if f["target"] == name],
                [f for f in fails if f["target"] == name and f["stage"] == "feedback"],
            )
            for name in names
        ]
        return RecordTrace(ref, dict(row), versions, targets, twins)

    @staticmethod
    def _twins(conn: Connection, ref: RecordRef, natural_key: str | None) -> list[RecordRef]:
        if not natural_key:
            return []
        rows = conn.execute(
            select(records.c.system, records.c.kind, records.c.source_id)
            .where(
                records.c.kind == ref.kind,
                records.c.natural_key == natural_key,
                records.c.system != ref.system,
            )
            .limit(10)
        )
        return [RecordRef(r.system, r.kind, r.source_id) for r in rows]


def _is(table: Any, ref: RecordRef) -> list[Any]:
    return [table.c.system == ref.system, table.c.kind == ref.kind, table.c.source_id == ref.source_id]


def _rows(conn: Connection, stmt: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(stmt).mappings()]
