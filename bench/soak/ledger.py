"""The soak reads the daemon's SQLite ledger directly, read-only, while the daemon writes it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

PROGRESS = "select count(*) from deliveries"
LAST_RUN = "select coalesce(max(id), 0) from runs"
TO_RETRY = "select count(*) from failures where state in ('open', 'retry') and error_kind = 'transient'"
AWAITING_FEEDBACK = "select count(*) from deliveries where target = 'hlwjg' and state = 'sent'"
RUNNING = "select pipeline from runs where status = 'running' and id > ? order by id desc limit 1"


def _one(state: Path, sql: str, *params: Any) -> Any:
    """The first column of the first row, or None while the ledger or its schema is not there yet."""
    path = state / "ledger.db"
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            row = conn.execute(sql, params).fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return None
    return row[0] if row else None


def ledger_count(state: Path, sql: str, *params: Any) -> int:
    """A count from the ledger (0 before it exists)."""
    return int(_one(state, sql, *params) or 0)


def runs_after(state: Path, after: int) -> int:
    """Runs started since the run ``after``."""
    return ledger_count(state, "select count(*) from runs where id > ?", after)


def running(state: Path, after: int) -> str | None:
    """The pipeline the current process is running (its runs have ids above ``after``)."""
    pipeline = _one(state, RUNNING, after)
    return None if pipeline is None else str(pipeline)
