"""Pushes from a process of their own (sync/push_process.py), against the real simulators: used for big
pages, and nothing lost or duplicated when the push process or the daemon dies."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from connectors.contract.config import SecretRef, Secrets
from connectors.contract.errors import FatalConnectorError
from connectors.contract.records import parse_record
from connectors.contract.roles import Context
from connectors.municipal.config import MunicipalConfig
from connectors.systems import create
from simulators import harness, municipal
from sync import logs
from sync.mapping import files as mapping_files
from sync.push import Job
from sync.push_process import ChildSpec, RemotePushes
from tests.support.procs import Sims, log_events, simulators, wait_for, write_config, zhifa
from tests.support.stack import REPO


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


def _ready(log: Path) -> bool:
    """The run logging to ``log`` has a push process up."""
    return bool(_events(log, "push_process_ready"))


def _usable(remote: RemotePushes) -> bool:
    return remote.usable


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


@pytest.mark.parametrize(
    "municipal", [{"rate_limit_per_s": 150}, {"push_process": False}], ids=["throttled", "turned-off"]
)
def test_no_push_process_where_the_limit_sets_the_pace_or_it_is_turned_off(
    tmp_path: Path, municipal: dict[str, object]
) -> None:
    """Below 200 calls/s the rate limit, not the CPU, decides: pushes stay in the daemon; the same
    with ``push_process: false``."""
    with simulators(inspections=400, penalties=0, seed=36) as sims:
        config = write_config(tmp_path, sims, f"sqlite:///{tmp_path / 'ledger.db'}", batch_size=300)
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["systems"]["municipal"].update(municipal)
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        log = tmp_path / "run.log"
        assert zhifa(config, "sync", "--once", "district-inspections", log=log).wait(60) == 0
        sims.assert_exactly_once()
    assert _children(log) == []


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
    with simulators(inspections=3000, penalties=0, latency_ms=20, seed=33) as sims:
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
    with simulators(inspections=3000, penalties=0, latency_ms=20, seed=34) as sims:
        config = write_config(tmp_path, sims, f"sqlite:///{tmp_path / 'ledger.db'}", batch_size=300)
        kills = 0
        for i in range(5):
            log = tmp_path / f"run{i}.log"
            proc = zhifa(config, "sync", "--once", "district-inspections", log=log)
            try:
                wait_for(partial(_ready, log), 60, "a push process")
                proc.wait(rng.uniform(0.2, 1.0))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                kills += 1
                for child in _children(log):
                    wait_for(partial(_gone, child), 5, f"push process {child} to stop")
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


def _spec(sims_url: str, secret: str) -> ChildSpec:
    cfg = MunicipalConfig(
        type="municipal",
        base_url=sims_url,
        app_key=municipal.MUNICIPAL_APP_KEY,
        app_secret=SecretRef(env="UNUSED"),
        region_code="120116",
        concurrency=4,
    )
    return ChildSpec(
        system="district",
        kind="inspection",
        name="municipal",
        cfg=cfg,
        secrets=Secrets({"municipal.app_secret": SecretStr(secret)}),
        log_format="json",
        log_level=logging.INFO,
        build=create,
        context={"pipeline": "test", "run_id": "r1"},
        debug=False,
    )


def test_a_push_process_refused_by_the_target_stops_calling_it_and_says_so(tmp_path: Path) -> None:
    """Wrong credentials in the push process: every job fails as ``auth``, the error reaches the
    daemon's page (which stops the run), and the target is not called for every record."""
    with simulators(inspections=300, penalties=0, seed=35) as sims:
        raws = [r for r in sims.get(f"{sims.district_url}/_sim/inspections") if r["status"] != "draft"][:200]
        records = [parse_record("inspection", r) for r in raws]
        maps = mapping_files.load(REPO / "mappings")
        translator = create(
            "municipal", _spec(sims.municipal_url, "x").cfg, _spec(sims.municipal_url, "x").secrets
        ).target("inspection")
        ctx = Context(maps, lambda *_: None, lambda *_: [])
        jobs = [Job(r, translator.translate(r, ctx), None, "municipal", "h") for r in records]
        seconds: list[float] = []
        for secret, want in (("not-the-secret", "auth"), (municipal.MUNICIPAL_APP_SECRET, None)):
            remote = RemotePushes(_spec(sims.municipal_url, secret), seconds.append)
            try:
                wait_for(partial(_usable, remote), 30, "the push process")
                fatal: dict[str, FatalConnectorError] = {}
                outcomes = remote.submit(jobs, fatal, maps.version).result(60)
            finally:
                remote.close()
            assert len(outcomes) == len(jobs)
            if want == "auth":
                assert {o.error_kind for o in outcomes} == {"auth"}
                assert "鉴权失败" in str(fatal["municipal"])
                refused = sims.get(f"{sims.municipal_url}/_sim/stats")["faults"].get("auth", 0)
                assert 1 <= refused <= 2 * 4, f"{refused} refused calls (concurrency 4)"
            else:
                assert not fatal
                assert {o.action for o in outcomes} <= {
                    "created",
                    "linked",
                    "withdrawn",
                }  # linked: hand-typed twins
        assert len(seconds) >= len(jobs), "the push process sends each push's seconds back for the histogram"
        ours = sims.ours("jcjl")
        assert set(ours) == {r.id for r in records} and set(ours.values()) == {1}


def test_every_log_line_of_a_faulted_run_with_a_push_process_is_whole_json(tmp_path: Path) -> None:
    """The daemon and its push process write to one stderr: under a municipal that fails one call in
    four (a retry warning per failure, from both processes at once) every line is one JSON object,
    none longer than PIPE_BUF, and both processes' lines are there."""
    plan = harness.Plan(
        inspections=1500,
        penalties=0,
        seed=33,
        faults={
            "district": {"rate_limits": False},
            "municipal": {"rate_limits": False, "error_rate": 0.25, "e5000_rate": 0.1, "seed": 33},
        },
    )
    with harness.start_process(plan, timeout_s=60) as running:
        config = write_config(tmp_path, Sims(running), f"sqlite:///{tmp_path / 'ledger.db'}", batch_size=300)
        log = tmp_path / "run.log"
        zhifa(config, "sync", "--once", "district-inspections", log=log).wait(180)
    raw = log.read_bytes().splitlines()
    torn = [line[:200] for line in raw if not _is_json_object(line)]
    assert not torn, f"{len(torn)} of {len(raw)} lines are not one JSON object: {torn[:3]}"
    assert all(len(line) < logs.LINE_MAX for line in raw)
    children = set(_children(log))
    assert children, "no push process was started"
    retries = [e for e in log_events(log) if e.get("event") == "call_retry"]
    assert len(retries) > 200, len(retries)
    print(f"\n{len(raw)} log lines, {len(retries)} retries, all whole JSON")


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
