"""What the alerts last told the operators, by alert key, and the failures new since the last digest."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from sync.ledger.base import Part
from sync.ledger.schema import alert_state, failures
from sync.ledger.upsert import upsert


@dataclass(frozen=True, slots=True)
class AlertState:
    """One alert: open or not, told or not (held by quiet hours or the minimum interval), last sent."""

    key: str
    is_open: bool = False
    notified: bool = False
    opened_at: datetime | None = None
    last_sent_at: datetime | None = None
    title: str | None = None
    mark: str | None = None

    def but(self, **changes: Any) -> AlertState:
        return replace(self, **changes)


_COLS = ("is_open", "notified", "opened_at", "last_sent_at", "title", "mark")


class AlertsPart(Part):
    def alert_states(self) -> dict[str, AlertState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_state)).mappings().all()
        return {r["key"]: AlertState(**dict(r)) for r in rows}

    def save_alert_states(self, states: list[AlertState]) -> None:
        rows = [{"key": s.key, **{c: getattr(s, c) for c in _COLS}} for s in states]
        with self.engine.begin() as conn:
            upsert(conn, alert_state, rows, ["key"], _COLS)

    def last_failure_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(failures.c.id))).scalar() or 0)

    def failures_after(self, failure_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """Failures first recorded after ``failure_id`` (ids only grow), oldest first."""
        cols = [
            failures.c[c]
            for c in ("id", "pipeline", "target", "error_kind", "doc_no", "party_name", "message")
        ]
        query = select(*cols).where(failures.c.id > failure_id).order_by(failures.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
