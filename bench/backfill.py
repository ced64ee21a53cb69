"""The job every contender does: a district → municipal backfill of inspections, and its simulators.

The simulators run in their own process (``python -m simulators serve``), so that their memory and
CPU are not counted as the contender's; rate limits off, no penalties, no hand-typed twins.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from simulators import daemon_config, harness

PIPELINE = "district-inspections"
PAGE = 500  # records per page read from the district, by every contender
START = "2020-01-01 00:00:00"


def start_simulators(inspections: int, seed: int = 1) -> harness.Process:
    """District and municipal with ``inspections`` to backfill; returns once both answer."""
    off = {"rate_limits": False}
    plan = harness.Plan(
        inspections=inspections,
        penalties=0,
        seed=seed,
        hand_typed_share=0,
        faults={"district": off, "municipal": off},
    )
    return harness.start_process(plan, timeout_s=300)  # a big data set takes a while to generate


PG_URL = os.environ.get("ZHIFA_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def ledger_url(tmp: Path, backend: str) -> Iterator[str]:
    """The ledger of one run: an SQLite file in ``tmp``, or a fresh schema on the PostgreSQL server
    (``ZHIFA_BENCH_PG_URL``), dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'ledger.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


def write_config(tmp: Path, sims: harness.Simulators, concurrency: int, db_url: str | None = None) -> Path:
    """zhifa-sync's config for the backfill: pages of 500, ``concurrency`` pushes, the ledger at
    ``db_url`` (default: an SQLite file in ``tmp``)."""
    knobs = daemon_config.Knobs(concurrency=concurrency, batch_size={"district": PAGE}, start=START, lag_s=0)
    config = daemon_config.build(
        sims.urls,
        db_url=db_url or f"sqlite:///{tmp / 'ledger.db'}",
        mappings_dir=daemon_config.REPO_MAPPINGS,
        flows=(PIPELINE,),
        knobs=knobs,
    )
    return daemon_config.write(config, tmp / "zhifa-sync.yaml")


def delivered(db_url: str) -> int:
    """Records the ledger says reached municipal."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text("select count(*) from deliveries where target='municipal'")) or 0)
    finally:
        engine.dispose()
