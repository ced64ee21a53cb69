"""The cycle in which nothing changed: one ``sync --once`` over a big ledger whose records are all delivered.

The ledger is bulk-built (record snapshots and their deliveries, 50,000 rows per statement) instead of
backfilled, so that a million records take seconds to set up; the cursor is put at their end.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import insert

from bench.backfill import PIPELINE, ledger_url, start_simulators, write_config
from bench.measure import run_daemon
from connectors.contract.clock import beijing_now
from connectors.paging import Position
from sync.ledger import Ledger
from sync.ledger.schema import deliveries, make_engine, upgrade
from sync.ledger.schema import records as records_t

CHUNK = 50_000


@dataclass(frozen=True, slots=True)
class IdleCycle:
    """Seconds of the nothing-changed run (the whole process, start-up included) and of the build."""

    secs: float
    built_s: float


def _record(i: int, now: datetime, body: str) -> dict[str, Any]:
    return {
        "system": "district",
        "kind": "inspection",
        "source_id": f"B{i:08d}",
        "status": "submitted",
        "record_hash": "h",
        "body": body,
        "first_seen": now,
        "last_seen": now,
        "natural_key": f"k{i}",
    }


def _delivery(i: int, now: datetime) -> dict[str, Any]:
    return {
        "system": "district",
        "kind": "inspection",
        "source_id": f"B{i:08d}",
        "target": "municipal",
        "target_id": f"JC{i:08d}",
        "payload_hash": "p",
        "state": "delivered",
        "last_action": "created",
        "linked": False,
        "first_delivered_at": now,
        "delivered_at": now,
        "updated_at": now,
    }


def build_ledger(engine: sa.Engine, records: int, now: datetime) -> None:
    """``records`` delivered inspections, and the cursor past the last of them."""
    body = json.dumps({"id": "x", "status": "submitted"})
    with engine.begin() as conn:
        for start in range(0, records, CHUNK):
            chunk = range(start, min(records, start + CHUNK))
            conn.execute(insert(records_t), [_record(i, now, body) for i in chunk])
            conn.execute(insert(deliveries), [_delivery(i, now) for i in chunk])
    Ledger(engine).set_cursor(PIPELINE, Position(now.replace(microsecond=0)))


def idle_cycle_over_big_ledger(records: int, concurrency: int, backend: str = "sqlite") -> IdleCycle:
    """A ``sync --once`` in which nothing changed, over a ledger of ``records`` delivered inspections."""
    with (
        start_simulators(1000) as sims,
        tempfile.TemporaryDirectory() as tmp,
        ledger_url(Path(tmp), backend) as url,
    ):
        config = write_config(Path(tmp), sims, concurrency, url)
        engine = make_engine(url)
        upgrade(engine)
        started = time.monotonic()
        build_ledger(engine, records, beijing_now())
        built = time.monotonic() - started
        engine.dispose()
        return IdleCycle(run_daemon(config, PIPELINE).secs, built)
