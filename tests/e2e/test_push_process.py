"""Pushes from a process of their own (sync/push_process.py), against the real simulators: used for big
pages, and nothing lost or duplicated when the push process or the daemon dies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.procs import log_events, simulators, wait_for, write_config, zhifa


def _gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped counts as gone: it runs no code)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _children(log: Path) -> list[int]:
    return [int(e["pid"]) for e in log_events(log) if e.get("event") == "push_process_started"]


def _events(log: Path, name: str) -> list[dict[str, object]]:
    return [e for e in log_events(log) if e.get("event") == name]


def test_a_backfill_pushes_from_a_push_process_and_each_record_arrives_once(tmp_path: Path) -> None:
    with simulators(inspections=1200, penalties=0, latency_ms=2, seed=31) as sims:
        config = write_config(tmp_path, sims, f"sqlite:///{tmp_path / 'ledger.db'}", batch_size=300)
        log = tmp_path / "run.log"
        assert zhifa(config, "sync", "--once", "district-inspections", log=log).wait(120) == 0
        sizes = sims.assert_exactly_once()
    children = _children(log)
    assert len(children) == 1, "a backfill with pages of 300 should start one push process"
    assert _events(log, "push_process_ready"), "the push process never became ready"
    assert all(_gone(pid) for pid in children), "the push process outlived the run"
    assert sizes["inspections"] > 1000


def test_a_small_run_pushes_in_process(tmp_path: Path) -> None:
    with simulators(inspections=150, penalties=0, seed=32) as sims:
        config = write_config(tmp_path, sims, f"sqlite:///{tmp_path / 'ledger.db'}", batch_size=50)
        log = tmp_path / "run.log"
        assert zhifa(config, "sync", "--once", "district-inspections", log=log).wait(60) == 0
        sims.assert_exactly_once()
    assert _children(log) == [], "pages of 50 are not worth a process"


def test_the_push_process_killed_mid_run_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL the push process while it pushes: its records in flight fail as transient, the run
    goes on in-process, the next run retries them, and municipal holds each record exactly once."""
    with simulators(inspections=3000, penalties=0, latency_ms=5, seed=33) as sims:
        config = write_config(tmp_path, sims, f"sqlite:///{tmp_path / 'ledger.db'}", batch_size=300)
        log = tmp_path / "run.log"
        proc = zhifa(config, "sync", "--once", "district-inspections", log=log)
        wait_for(lambda: bool(_events(log, "push_process_ready")), 60, "the push process to be ready")
        wait_for(lambda: sims.delivered() > 300, 60, "the push process to deliver")
        (child,) = _children(log)
        os.kill(child, signal.SIGKILL)
        code = proc.wait(120)
        lost = _events(log, "push_process_lost")
        assert lost, f"the daemon did not notice its push process die: {log_events(log)[-5:]}"
        assert code in (0, 1)  # 1: the run recorded the records in flight as failures
        again = tmp_path / "again.log"
        assert zhifa(config, "sync", "--once", "district-inspections", log=again).wait(120) == 0
        sims.assert_exactly_once()
    assert wait_for(lambda: _gone(child), 5, "the killed push process to be gone") >= 0


@pytest.mark.slow
def test_sigkill_of_the_daemon_takes_its_push_process_along(tmp_path: Path) -> None:
    """The daemon SIGKILLed at random moments of a backfill that pushes from a push process: each time
    the push process stops at once (nothing pushes for a daemon that no longer records it), and after
    a clean run municipal holds every record exactly once."""
    rng = random.Random(34)
    with simulators(inspections=8000, penalties=0, latency_ms=5, seed=34) as sims:
        config = write_config(tmp_path, sims, f"sqlite:///{tmp_path / 'ledger.db'}", batch_size=300)
        kills = 0
        for i in range(8):
            log = tmp_path / f"run{i}.log"
            proc = zhifa(config, "sync", "--once", "district-inspections", log=log)
            try:
                wait_for(lambda log=log: bool(_events(log, "push_process_ready")), 60, "a push process")  # type: ignore[misc]
                proc.wait(rng.uniform(0.2, 1.0))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                kills += 1
                for child in _children(log):
                    wait_for(lambda child=child: _gone(child), 5, f"push process {child} to stop")  # type: ignore[misc]
                    frozen = sims.delivered()
                    time.sleep(0.5)
                    assert sims.delivered() == frozen, "something kept pushing after the daemon died"
            except AssertionError:
                if proc.poll() is None:
                    raise
            if sims.delivered() >= sims.total():
                break
        final = tmp_path / "final.log"
        assert zhifa(config, "sync", "--once", "district-inspections", log=final).wait(120) == 0
        sims.assert_exactly_once()
    assert kills >= 3, f"only {kills} kills landed: make the data set larger"
