"""Hostile peers against the real engine: a target that never answers trips its circuit breaker and the
other target of the same pipeline still gets everything; a source that drips its answer ends the run
at the deadline, and the next run goes on. Real HTTP through ``tests/support/hostile.py``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from simulators import daemon_config, municipal
from simulators.universe import REGION_CODE
from sync.ledger.schema import failures
from sync.metrics import REGISTRY
from tests.support.hostile import Mode, hostile
from tests.support.stack import Stack, make_stack

START = "2024-01-01 00:00:00"


def _municipal_at(url: str, **keys: Any) -> dict[str, Any]:
    return {
        "type": "municipal",
        "base_url": url,
        "app_key": municipal.MUNICIPAL_APP_KEY,
        "app_secret": {"env": daemon_config.SECRET_ENV["municipal"]},
        "region_code": REGION_CODE,
        "push_process": False,
        "retry": {"attempts": 1, "initial_wait_s": 0.01, "max_wait_s": 0.01},
        **keys,
    }


def _flow(targets: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": "district-inspections",
            "source": "district",
            "kind": "inspection",
            "targets": targets,
            "start": START,
            "lag_s": 0,
            "batch_size": 50,
        }
    ]


def _open_failures(stack: Stack, target: str) -> list[Any]:
    app = stack.app()
    try:
        with app.ledger.engine.connect() as conn:
            return list(conn.execute(failures.select().where(failures.c.target == target)))
    finally:
        app.close()


def test_a_dead_target_trips_its_breaker_and_the_other_target_gets_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        make_stack(tmp_path, monkeypatch, inspections=120, penalties=0) as stack,
        hostile(stack.municipal_url) as dead,
    ):
        dead.set("/", Mode.STALL)  # answers nothing, ever
        stack.extra_systems = {
            "dead": _municipal_at(
                dead.url, deadline_s=0.5, concurrency=2, circuit={"failures": 3, "cool_down_s": 600}
            )
        }
        stack.pipelines = _flow(["municipal", "dead"])
        stack.write_config()
        started = time.monotonic()
        counts = stack.run("district-inspections")["district-inspections"]
        took = time.monotonic() - started
        # the live target got every record it should; the dead one was called a few times (3 in a row
        # open the breaker, plus what was already in flight on its 2 workers), not once per record
        delivered = len(stack.ours("jcjl"))
        assert delivered > 50 and counts.created + counts.linked + counts.withdrawn >= delivered
        assert sum(dead.calls.values()) <= 3 + 2, dead.calls
        assert took < 30, f"a dead target held the run for {took:.0f} s"
        assert REGISTRY.get_sample_value("zhifa_circuit_open", {"system": "dead"}) == 1
        assert REGISTRY.get_sample_value("zhifa_circuit_open", {"system": "municipal"}) == 0
        # nothing lost: every record is a pending transient failure on the dead target; those held back
        # by the breaker did not spend their retry budget
        rows = _open_failures(stack, "dead")
        assert len(rows) == delivered
        assert {r.error_kind for r in rows} == {"transient"}
        held = [r for r in rows if r.error_code == "circuit_open"]
        assert len(held) >= delivered - 4 and all(r.attempts == 0 for r in held)
        assert "已熔断" in held[0].message
        # the peer is back: the next run delivers them (nothing duplicated on the live target)
        dead.clear()
        stack.run("district-inspections")
        assert len(stack.ours("jcjl")) == delivered
        assert all(len(v) == 1 for v in stack.ours("jcjl").values())


def test_a_dripping_source_ends_the_run_at_the_deadline_and_the_next_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        make_stack(tmp_path, monkeypatch, inspections=40, penalties=0) as stack,
        hostile(stack.district_url, drip_s=0.5) as src,
    ):
        src.set("/api/v1/inspections", Mode.DRIP)
        stack.extra_systems = {
            "district": {
                "base_url": src.url,
                "deadline_s": 1.0,
                "retry": {"attempts": 1, "initial_wait_s": 0.01, "max_wait_s": 0.01},
            }
        }
        stack.pipelines = _flow(["municipal"])
        stack.write_config()
        started = time.monotonic()
        counts = stack.run("district-inspections")["district-inspections"]
        assert time.monotonic() - started < 10
        assert counts.status == "error" and counts.error is not None
        assert "响应超过总时限 1 秒" in counts.error
        src.clear()
        counts = stack.run("district-inspections")["district-inspections"]
        assert counts.status in ("ok", "failed") and counts.created > 0
