"""Read-only queries the console needs beyond ``sync.ledger.Ledger`` (over the same schema, ``sync.db``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select, text

from console.present import parse_mapping_message
from sync.db import audit_log, failures


def ping(engine: Engine) -> None:
    """Raise if the database cannot be reached."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def failure_facets(engine: Engine) -> dict[str, list[str]]:
    """The pipelines and targets that appear in the failure log (for the filter drop-downs)."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for name in ("pipeline", "target", "error_kind"):
            col = failures.c[name]
            out[name] = sorted(v for v in conn.scalars(select(col).distinct()) if v)
    return out


def audit_page(
    engine: Engine, *, limit: int, offset: int, failures_only: bool = False, failure_id: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Audit entries, newest first, and their total."""
    cond: list[ColumnElement[bool]] = []
    if failures_only:
        cond.append(audit_log.c.failure_id.is_not(None))
    if failure_id is not None:
        cond.append(audit_log.c.failure_id == failure_id)
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(audit_log).where(*cond)) or 0
        rows = conn.execute(
            select(audit_log).where(*cond).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        )
        return [dict(r._mapping) for r in rows], int(total)


@dataclass
class UnmappedKey:
    """One code missing from one mapping table, and the unresolved failures waiting for it."""

    table: str
    what: str
    key: str
    column: str
    count: int = 0
    pipelines: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample_id: int | None = None


def unmapped_keys(engine: Engine) -> tuple[list[UnmappedKey], int]:
    """Missing mapping keys from unresolved ``mapping`` failures, grouped by table and key (most
    failures first), and how many such failures had a message that could not be read."""
    # Group in SQL by message first: tens of thousands of parked records share a few hundred messages.
    stmt = (
        select(
            failures.c.message,
            failures.c.pipeline,
            failures.c.target,
            func.count().label("n"),
            func.min(failures.c.first_seen).label("first_seen"),
            func.max(failures.c.last_seen).label("last_seen"),
            func.min(failures.c.id).label("sample_id"),
        )
        .where(failures.c.error_kind == "mapping", failures.c.state != "resolved")
        .group_by(failures.c.message, failures.c.pipeline, failures.c.target)
    )
    groups: dict[tuple[str, str, str], UnmappedKey] = {}
    unreadable = 0
    with engine.connect() as conn:
        for r in conn.execute(stmt):
            parsed = parse_mapping_message(r.message)
            if parsed is None:
                unreadable += r.n
                continue
            table, what, key, column = parsed
            g = groups.setdefault((table, key, column), UnmappedKey(table, what, key, column))
            g.count += r.n
            g.pipelines.add(r.pipeline)
            g.targets.add(r.target)
            g.first_seen = min(filter(None, (g.first_seen, r.first_seen)), default=None)
            g.last_seen = max(filter(None, (g.last_seen, r.last_seen)), default=None)
            g.sample_id = r.sample_id if g.sample_id is None else min(g.sample_id, r.sample_id)
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.table, g.key))
    return ordered, unreadable
