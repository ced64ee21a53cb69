"""Crash safety and graceful stop of real ``zhifa-sync`` processes: SIGKILL loses and duplicates nothing,
SIGTERM finishes the batch in hand, records the run as interrupted and exits 0 within a bounded time."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from sync.ledger import Ledger
from sync.ledger.schema import runs
from tests.support.procs import Sims, log_events, simulators, stop, wait_for, write_config, zhifa

KILLS = 10


def kill_and_restart(tmp: Path, sims: Sims, db_url: str, seed: int) -> tuple[int, float]:
    """SIGKILL ``sync --once`` at random moments, restarting each time, then a clean run; (kills, seconds)."""
    config = write_config(tmp, sims, db_url, batch_size=50)
    rng = random.Random(seed)
    kills, started, total = 0, time.monotonic(), sims.total()
    for _ in range(KILLS):
        proc = zhifa(config, "sync", "--once")
        try:
            proc.wait(rng.uniform(0.3, 1.6))  # start-up, mid-page, mid-commit: wherever it happens to be
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            kills += 1
        if sims.delivered() >= total:
            break
    final = zhifa(config, "sync", "--once", log=tmp / "final.log")
    assert final.wait(120) == 0, f"the clean run after the kills failed: {log_events(tmp / 'final.log')[-3:]}"
    return kills, time.monotonic() - started


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """After 8+ SIGKILLs mid-backfill and a final run, municipal holds every record exactly once."""
    with simulators(inspections=4000, latency_ms=5, seed=21) as sims:
        kills, seconds = kill_and_restart(tmp_path, sims, f"sqlite:///{tmp_path / 'ledger.db'}", seed=21)
        sizes = sims.assert_exactly_once()
    record_property("kills", kills)
    print(
        f"\nkill-restart (SQLite): {kills} SIGKILLs in {seconds:.1f} s; municipal == district for {sizes}, "
        "0 duplicates"
    )
    assert kills >= 8, f"only {kills} kills landed before the backfill finished: make the data set larger"


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_with_a_postgresql_ledger(
    tmp_path: Path, pg_schema_url: str, record_property: Callable[[str, object], None]
) -> None:
    """The same kill-and-restart on a PostgreSQL ledger: every record exactly once."""
    with simulators(inspections=1500, latency_ms=5, seed=22) as sims:
        kills, seconds = kill_and_restart(tmp_path, sims, pg_schema_url, seed=22)
        sizes = sims.assert_exactly_once()
    record_property("kills_pg", kills)
    print(
        f"\nkill-restart (PostgreSQL): {kills} SIGKILLs in {seconds:.1f} s; municipal == district for {sizes}, "
        "0 duplicates"
    )
    assert kills >= 5


@pytest.mark.slow
def test_sigterm_mid_backfill_finishes_the_batch_saves_the_cursor_and_exits_0(tmp_path: Path) -> None:
    """SIGTERM during a backfill: exit code 0 within seconds, run recorded 'interrupted', cursor saved."""
    db_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with simulators(inspections=1500, latency_ms=10, seed=23) as sims:
        config = write_config(tmp_path, sims, db_url, batch_size=50)
        log = tmp_path / "run.log"
        proc = zhifa(config, "run", "--no-console", log=log)
        try:
            wait_for(lambda: sims.delivered() >= 200, 60, "the backfill to get going", every=0.2)
            sent = time.monotonic()
            rc = stop(proc, timeout=30)
            took = time.monotonic() - sent
        finally:
            proc.kill()
        print(f"\nSIGTERM → exit {rc} in {took:.2f} s")
        assert rc == 0
        assert took < 10, f"took {took:.1f} s to stop"
        assert sims.delivered() < sims.total(), (
            "the backfill finished before SIGTERM: nothing was interrupted"
        )
        ledger = Ledger.connect(db_url)
        try:
            with ledger.engine.connect() as conn:
                statuses = [
                    r.status
                    for r in conn.execute(
                        select(runs.c.status).where(runs.c.pipeline == "district-inspections")
                    )
                ]
            cursor = ledger.get_cursor("district-inspections")
        finally:
            ledger.close()
        assert statuses == ["interrupted"]
        assert cursor is not None and cursor.get("ts")
        events = [e.get("event") for e in log_events(log)]
        assert (
            "signal_received" in events
            and "stopping_after_batch" in events
            and events[-1] == "service_stopped"
        )
        # and the next start carries on from the cursor: everything exactly once
        final = zhifa(config, "sync", "--once")
        assert final.wait(120) == 0
        sims.assert_exactly_once()


def _statuses(db_url: str) -> list[tuple[str, str]]:
    ledger = Ledger.connect(db_url)
    try:
        with ledger.engine.connect() as conn:
            return [(r.pipeline, r.status) for r in conn.execute(select(runs.c.pipeline, runs.c.status))]
    finally:
        ledger.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_run_killed_mid_way_is_closed_as_crashed_by_the_next_start(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """SIGKILL ``sync --once`` while its first run is running: the row stays 'running' (nobody is left to
    close it) until the next start takes the pipeline and closes it as 'crashed', with a note."""
    db_url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_schema_url")
    )
    with simulators(inspections=100, penalties=10, latency_ms=20, seed=24) as sims:
        config = write_config(tmp_path, sims, db_url, batch_size=10, concurrency=1)
        proc = zhifa(config, "sync", "--once")
        try:
            wait_for(lambda: sims.delivered() >= 10, 60, "the first run to get going", every=0.1)
        finally:
            proc.kill()
            proc.wait()
        assert ("district-inspections", "running") in _statuses(db_url)
        again = zhifa(config, "sync", "--once", log=tmp_path / "again.log")
        assert again.wait(120) == 0, log_events(tmp_path / "again.log")[-3:]
        statuses = _statuses(db_url)
        assert ("district-inspections", "crashed") in statuses
        assert not [s for s in statuses if s[1] == "running"], statuses
        events = [e for e in log_events(tmp_path / "again.log") if e.get("event") == "crashed_runs_closed"]
        assert [(e["pipeline"], e["runs"]) for e in events] == [("district-inspections", 1)]
        ledger = Ledger.connect(db_url)
        try:
            (crashed,) = [r for r in ledger.recent_runs("district-inspections") if r["status"] == "crashed"]
        finally:
            ledger.close()
        assert crashed["finished_at"] is not None and "进程在运行中终止" in crashed["error"]
