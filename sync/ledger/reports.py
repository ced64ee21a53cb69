"""The reads of the monthly report: a month's records, their first deliveries and open failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select

from sync.ledger.base import Part
from sync.ledger.schema import deliveries, failures, records, runs


@dataclass(frozen=True, slots=True)
class MonthRecord:
    """A stored record whose event date falls in the month: its body and when we first saw it."""

    kind: str
    source_id: str
    status: str
    first_seen: datetime
    source_updated_at: datetime | None
    body: str


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    kind: str
    body: str


@dataclass(frozen=True, slots=True)
class FirstDelivery:
    kind: str
    source_id: str
    target: str
    at: datetime
    linked: bool


@dataclass(frozen=True, slots=True)
class OpenFailure:
    kind: str
    source_id: str
    target: str


class ReportsPart(Part):
    def _in_month(self, system: str, kinds: Sequence[str], first: date, last: date) -> Any:
        return and_(
            records.c.system == system,
            records.c.kind.in_(tuple(kinds)),
            records.c.event_date >= first,
            records.c.event_date <= last,
        )

    def _joined(self, table: Any) -> Any:
        return table.join(
            records,
            and_(
                records.c.system == table.c.system,
                records.c.kind == table.c.kind,
                records.c.source_id == table.c.source_id,
            ),
        )

    def month_records(self, system: str, kinds: Sequence[str], first: date, last: date) -> list[MonthRecord]:
        cols = (records.c.kind, records.c.source_id, records.c.status, records.c.first_seen,
                records.c.source_updated_at, records.c.body)  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*cols)
                .where(self._in_month(system, kinds, first, last))
                .order_by(records.c.kind, records.c.source_id)
            )
            return [MonthRecord(*r) for r in rows]

    def invalid_bodies(self, system: str, kinds: Sequence[str]) -> list[InvalidRecord]:
        """The records that failed validation (their event date is only in the body)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(records.c.kind, records.c.body).where(
                    records.c.system == system,
                    records.c.kind.in_(tuple(kinds)),
                    records.c.status == "invalid",
                )
            )
            return [InvalidRecord(r.kind, r.body) for r in rows]

    def month_first_deliveries(
        self, system: str, kinds: Sequence[str], first: date, last: date
    ) -> list[FirstDelivery]:
        """When each of the month's records first reached each target that holds it (or awaits feedback)."""
        cols = (deliveries.c.kind, deliveries.c.source_id, deliveries.c.target,
                deliveries.c.first_delivered_at, deliveries.c.linked)  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*cols)
                .select_from(self._joined(deliveries))
                .where(
                    self._in_month(system, kinds, first, last),
                    deliveries.c.first_delivered_at.is_not(None),
                    deliveries.c.state.in_(("delivered", "sent")),
                )
            )
            return [
                FirstDelivery(r.kind, r.source_id, r.target, r.first_delivered_at, bool(r.linked))
                for r in rows
            ]

    def month_open_failures(
        self, system: str, kinds: Sequence[str], first: date, last: date
    ) -> list[OpenFailure]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(failures.c.kind, failures.c.source_id, failures.c.target)
                .select_from(self._joined(failures))
                .where(self._in_month(system, kinds, first, last), failures.c.state != "resolved")
            )
            return [OpenFailure(r.kind, r.source_id, r.target) for r in rows]

    def first_run_at(self) -> datetime | None:
        """When this ledger's first run started (None before any)."""
        with self.engine.connect() as conn:
            value: datetime | None = conn.scalar(select(func.min(runs.c.started_at)))
            return value
