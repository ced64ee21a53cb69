"""The failure log: what later runs retry, what operators list, look at, retry, resolve and reopen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, tuple_, update

from connectors.contract.validators import normalize_decision_no
from sync.ledger.base import Part, now
from sync.ledger.schema import audit_log, failure_attempts, failures, records


class FailuresPart(Part):
    """Failure queries and operator actions."""

    def failures_to_retry(
        self, pipeline: str, *, max_attempts: int, mapping_version: str
    ) -> list[tuple[str, str]]:
        """(source_id, target) pairs that later runs retry on their own: transient failures within
        their budget, and records parked for a mapping when the tables have changed since."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(failures.c.source_id, failures.c.target)
                .where(
                    failures.c.pipeline == pipeline,
                    or_(
                        and_(
                            failures.c.state == "open",
                            failures.c.error_kind == "transient",
                            failures.c.attempts < max_attempts,
                        ),
                        and_(failures.c.state == "parked", failures.c.mapping_version != mapping_version),
                        failures.c.state == "retry",
                    ),
                )
                .order_by(failures.c.id)
            )
            return [(r.source_id, r.target) for r in rows]

    def query_failures(
        self,
        *,
        state: str | None = None,
        pipeline: str | None = None,
        target: str | None = None,
        error_kind: str | None = None,
        search: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Failures matching the filters, newest first, and the total count."""
        with self.engine.connect() as conn:
            cond = self._conditions(conn, state, pipeline, target, error_kind, search, since, until)
            total = conn.scalar(select(func.count()).select_from(failures).where(*cond)) or 0
            rows = conn.execute(
                select(failures)
                .where(*cond)
                .order_by(failures.c.last_seen.desc(), failures.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [dict(r._mapping) for r in rows], int(total)

    def query_failure_groups(
        self,
        *,
        state: str | None = None,
        pipeline: str | None = None,
        target: str | None = None,
        error_kind: str | None = None,
        search: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[list[dict[str, Any]]], int]:
        """The failures matching the filters grouped by source record (one bad record fails once per
        target), the records with the newest failure first; and the number of records."""
        key = (failures.c.system, failures.c.kind, failures.c.source_id)
        with self.engine.connect() as conn:
            cond = self._conditions(conn, state, pipeline, target, error_kind, search, since, until)
            keys = select(*key).where(*cond).group_by(*key).subquery()
            total = conn.scalar(select(func.count()).select_from(keys)) or 0
            page = [
                tuple(r)
                for r in conn.execute(
                    select(*key)
                    .where(*cond)
                    .group_by(*key)
                    .order_by(func.max(failures.c.last_seen).desc(), func.max(failures.c.id).desc())
                    .limit(limit)
                    .offset(offset)
                )
            ]
            by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {k: [] for k in page}
            if page:
                rows = conn.execute(
                    select(failures).where(*cond, tuple_(*key).in_(page)).order_by(failures.c.target)
                )
                for r in rows:
                    by_key[(r.system, r.kind, r.source_id)].append(dict(r._mapping))
            return list(by_key.values()), int(total)

    def record_failures(self, failure_id: int) -> list[dict[str, Any]]:
        """Every failure of the source record ``failure_id`` failed for, one per target (itself included)."""
        same = select(failures.c.system, failures.c.kind, failures.c.source_id).where(
            failures.c.id == failure_id
        )
        with self.engine.connect() as conn:
            mine = conn.execute(same).first()
            if mine is None:
                return []
            rows = conn.execute(
                select(failures)
                .where(
                    failures.c.system == mine.system,
                    failures.c.kind == mine.kind,
                    failures.c.source_id == mine.source_id,
                )
                .order_by(failures.c.target)
            )
            return [dict(r._mapping) for r in rows]

    def record_failure_ids(self, source_ids: Sequence[str]) -> list[int]:
        """The failures of these source records, every target (``failures resolve --record``)."""
        with self.engine.connect() as conn:
            return list(
                conn.scalars(
                    select(failures.c.id)
                    .where(failures.c.source_id.in_(list(source_ids)))
                    .order_by(failures.c.id)
                )
            )

    def _conditions(
        self,
        conn: Connection,
        state: str | None,
        pipeline: str | None,
        target: str | None,
        error_kind: str | None,
        search: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> list[ColumnElement[bool]]:
        cond: list[ColumnElement[bool]] = []
        if state == "unresolved":
            cond.append(failures.c.state != "resolved")
        elif state:
            cond.append(failures.c.state == state)
        if pipeline:
            cond.append(failures.c.pipeline == pipeline)
        if target:
            cond.append(failures.c.target == target)
        if error_kind:
            cond.append(failures.c.error_kind == error_kind)
        if since:
            cond.append(failures.c.last_seen >= since)
        if until:
            cond.append(failures.c.last_seen <= until)
        if search:
            cond.append(self._search(conn, search))
        return cond

    def _search(self, conn: Connection, search: str) -> ColumnElement[bool]:
        """Record id, party name or code containing ``search``; or a 文号 that contains it once both are
        normalised as linking compares them (``normalize_decision_no``: 〔2025〕 and [2025] are one)."""
        like = f"%{search.strip()}%"
        wanted = normalize_decision_no(search)
        doc_nos = conn.scalars(select(failures.c.doc_no).where(failures.c.doc_no.is_not(None)).distinct())
        matching = [d for d in doc_nos if wanted and wanted in normalize_decision_no(d)]
        return or_(
            failures.c.source_id.like(like),
            failures.c.doc_no.like(like),
            failures.c.doc_no.in_(matching),
            failures.c.party_name.like(like),
            failures.c.party_code.like(like),
        )

    def get_failure(self, failure_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(failures).where(failures.c.id == failure_id)).first()
            if row is None:
                return None
            out = dict(row._mapping)
            out["attempt_log"] = [
                dict(r._mapping)
                for r in conn.execute(
                    select(failure_attempts)
                    .where(failure_attempts.c.failure_id == failure_id)
                    .order_by(failure_attempts.c.id)
                )
            ]
            out["record"] = conn.scalar(
                select(records.c.body).where(
                    records.c.system == row.system,
                    records.c.kind == row.kind,
                    records.c.source_id == row.source_id,
                )
            )
            return out

    def _act(
        self,
        failure_ids: Sequence[int],
        actor: str,
        action: str,
        note: str | None,
        values: dict[str, Any],
        allowed_from: Sequence[str],
    ) -> int:
        ts = now()
        with self.engine.begin() as conn:
            ids = list(
                conn.scalars(
                    select(failures.c.id).where(
                        failures.c.id.in_(failure_ids), failures.c.state.in_(allowed_from)
                    )
                )
            )
            if ids:
                conn.execute(update(failures).where(failures.c.id.in_(ids)).values(**values))
                conn.execute(
                    audit_log.insert(),
                    [
                        {"at": ts, "actor": actor, "action": action, "failure_id": i, "detail": note}
                        for i in ids
                    ],
                )
            return len(ids)

    def mark_retry(self, failure_ids: Sequence[int], actor: str, note: str | None = None) -> int:
        """Queue failures for the next run of their pipeline (which retries them from the stored record)."""
        return self._act(failure_ids, actor, "retry", note, {"state": "retry"}, ("open", "parked"))

    def resolve(self, failure_ids: Sequence[int], actor: str, note: str) -> int:
        if not note.strip():
            raise ValueError("处理说明不能为空")
        ts = now()
        return self._act(
            failure_ids,
            actor,
            "resolve",
            note,
            {"state": "resolved", "resolution_note": note, "resolved_by": actor, "resolved_at": ts},
            ("open", "parked", "retry"),
        )

    def reopen(self, failure_ids: Sequence[int], actor: str, note: str | None = None) -> int:
        return self._act(
            failure_ids,
            actor,
            "reopen",
            note,
            {"state": "open", "resolution_note": None, "resolved_by": None, "resolved_at": None},
            ("resolved",),
        )

    def failure_ids(
        self,
        *,
        error_kind: str | None = None,
        state: Sequence[str] = ("open", "parked"),
        pipeline: str | None = None,
        target: str | None = None,
    ) -> list[int]:
        cond: list[ColumnElement[bool]] = [failures.c.state.in_(state)]
        if error_kind:
            cond.append(failures.c.error_kind == error_kind)
        if pipeline:
            cond.append(failures.c.pipeline == pipeline)
        if target:
            cond.append(failures.c.target == target)
        with self.engine.connect() as conn:
            return list(conn.scalars(select(failures.c.id).where(*cond).order_by(failures.c.id)))

    def failure_counts(self) -> list[dict[str, Any]]:
        """Unresolved failures grouped by pipeline, target, error kind and state."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    failures.c.pipeline,
                    failures.c.target,
                    failures.c.error_kind,
                    failures.c.state,
                    func.count().label("n"),
                )
                .where(failures.c.state != "resolved")
                .group_by(failures.c.pipeline, failures.c.target, failures.c.error_kind, failures.c.state)
            )
            return [dict(r._mapping) for r in rows]

    def failure_facets(self) -> dict[str, list[str]]:
        """The pipelines, targets and error kinds that appear in the failure log (the filters' choices)."""
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for name in ("pipeline", "target", "error_kind"):
                out[name] = sorted(v for v in conn.scalars(select(failures.c[name]).distinct()) if v)
        return out

    def mapping_failure_groups(self) -> list[dict[str, Any]]:
        """Unresolved mapping failures grouped by what they wait for (table, key, column; the message for
        rows written before those were kept), pipeline and target: tens of thousands of parked records
        share a few hundred keys."""
        by = (
            failures.c.map_table,
            failures.c.map_key,
            failures.c.map_column,
            failures.c.message,
            failures.c.pipeline,
            failures.c.target,
        )
        stmt = (
            select(
                *by,
                func.count().label("n"),
                func.min(failures.c.first_seen).label("first_seen"),
                func.max(failures.c.last_seen).label("last_seen"),
                func.min(failures.c.id).label("sample_id"),
            )
            .where(failures.c.error_kind == "mapping", failures.c.state != "resolved")
            .group_by(*by)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]
