"""Several instances on one PostgreSQL ledger: each pipeline runs on one at a time, and a survivor takes
over within a bounded time when the instance running it is killed."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select

from sync.ledger.schema import runs
from tests.support.procs import log_events, simulators, stop, wait_for, write_config, zhifa

PIPELINE = "district-inspections"


def inspection_runs(log: Path) -> list[str]:
    """Run ids of the inspections pipeline in one process's log, in order of appearance."""
    seen: list[str] = []
    for e in log_events(log):
        if e.get("pipeline") == PIPELINE and e.get("run_id") and e["run_id"] not in seen:
            seen.append(e["run_id"])
    return seen


def run_count(engine: Engine) -> int:
    """Runs of the inspections pipeline started so far, on any instance (the ledger's runs table)."""
    with engine.connect() as conn:
        return int(
            conn.scalar(select(func.count()).select_from(runs).where(runs.c.pipeline == PIPELINE)) or 0
        )


def idle_run(log: Path) -> bool:
    """The process finished an inspections run that found nothing new (what it re-read of the overlap
    before the cursor is unchanged, or a draft skipped again)."""
    return any(
        e.get("event") == "run_finished"
        and e.get("pipeline") == PIPELINE
        and e.get("pulled") == e.get("unchanged", 0) + e.get("skipped", 0)
        and e.get("status") == "ok"
        for e in log_events(log)
    )


@pytest.mark.slow
@pytest.mark.postgres
def test_two_instances_one_runs_each_pipeline_and_the_survivor_takes_over(
    tmp_path: Path, pg_schema_url: str
) -> None:
    """Two `zhifa-sync run`; SIGKILL the one mid-backfill; the other takes over; every record exactly once."""
    engine = create_engine(pg_schema_url)
    with simulators(inspections=2000, latency_ms=5, seed=31) as sims:
        config = write_config(tmp_path, sims, pg_schema_url, interval_minutes=0.02, batch_size=50)
        upgrade = zhifa(config, "db", "upgrade")  # as an administrator would, before starting instances
        assert upgrade.wait(60) == 0
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        procs = [zhifa(config, "run", "--no-console", log=log) for log in logs]
        try:
            wait_for(lambda: any(inspection_runs(log) for log in logs), 30, "a first inspections run")
            holder = next(i for i, log in enumerate(logs) if inspection_runs(log))
            other = 1 - holder
            wait_for(lambda: sims.delivered() >= 400, 60, "the backfill to get going", every=0.2)
            assert sims.delivered() < sims.total(), "the backfill finished before the kill"
            before = run_count(engine)
            procs[holder].kill()
            procs[holder].wait()
            killed_at = time.monotonic()
            takeover = wait_for(
                lambda: run_count(engine) > before, 30, "the survivor to take the pipeline over"
            )
            wait_for(
                lambda: sims.delivered() >= sims.total(),
                90,
                "the backfill to complete on the survivor",
                every=0.5,
            )
            # a later run that finds nothing new: no page is in flight when we look
            wait_for(lambda: idle_run(logs[other]), 30, "a run with nothing left to do")
            settled = time.monotonic() - killed_at
            assert stop(procs[other]) == 0
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        sizes = sims.assert_exactly_once()
        busy = [e for log in logs for e in log_events(log) if e.get("event") == "pipeline_busy_elsewhere"]
        print(
            f"\ninstances: takeover {takeover:.2f} s after SIGKILL (schedule every 1.2 s), settled after "
            f"{settled:.1f} s; {len(busy)} runs skipped as busy elsewhere; exactly once for {sizes}"
        )
        assert busy, "no instance ever found a pipeline busy elsewhere: the two never competed"
        assert takeover < 10

    # no two runs of one pipeline overlapped (the killed run is closed as crashed by the takeover)
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.pipeline, runs.c.started_at, runs.c.finished_at, runs.c.status).order_by(runs.c.id)
        ).all()
    engine.dispose()
    for pipeline in {r.pipeline for r in rows}:
        done = sorted((r.started_at, r.finished_at) for r in rows if r.pipeline == pipeline and r.finished_at)
        for (_s1, f1), (s2, _f2) in itertools.pairwise(done):
            assert s2 >= f1, f"{pipeline}: a run started at {s2} before the previous one finished at {f1}"
    assert PIPELINE in [r.pipeline for r in rows if r.finished_at is not None and r.status == "crashed"]
    assert not [r for r in rows if r.status == "running"], "a run was left 'running'"
