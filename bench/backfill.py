"""The job every contender does: a district → municipal backfill of inspections, and its simulators.

The simulators run in their own process (``python -m simulators serve``), so that their memory and
CPU are not counted as the contender's; rate limits off, no penalties, no hand-typed twins.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

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


def write_config(tmp: Path, sims: harness.Simulators, concurrency: int) -> Path:
    """zhifa-sync's config for the backfill: pages of 500, ``concurrency`` pushes, ledger in ``tmp``."""
    knobs = daemon_config.Knobs(concurrency=concurrency, batch_size={"district": PAGE}, start=START, lag_s=0)
    config = daemon_config.build(
        sims.urls,
        db_url=f"sqlite:///{tmp / 'ledger.db'}",
        mappings_dir=daemon_config.REPO_MAPPINGS,
        flows=(PIPELINE,),
        knobs=knobs,
    )
    return daemon_config.write(config, tmp / "zhifa-sync.yaml")


def delivered(tmp: Path) -> int:
    """Records the ledger says reached municipal."""
    with sqlite3.connect(tmp / "ledger.db") as conn:
        return int(conn.execute("select count(*) from deliveries where target='municipal'").fetchone()[0])
