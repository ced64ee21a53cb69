"""Steering the pipelines (``zhifa-sync pipelines ...``) against the district and municipal simulators:
a paused pipeline sends nothing until resumed, a re-read from a date finds what the cursor had passed
and sends nothing twice, and a run asked for is started by the running service within seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, make_stack
from zhifa_sync.cli import main as cli
from zhifa_sync.service import Service

PIPE = "district-inspections"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with make_stack(tmp_path, monkeypatch, inspections=60, penalties=6) as s:
        yield s


def pipelines(stack: Stack, *args: str) -> int:
    return cli(["-c", str(stack.config_path), "pipelines", *args])


def saves(stack: Stack) -> int:
    return int(stack.municipal.faults.stats()["calls"].get("jcjl/save", 0))


def test_a_paused_pipeline_sends_nothing_until_resumed(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pipelines(stack, "pause", PIPE, "--reason", "市系统维护", "--by", "ops1") == 0
    results = stack.run()
    assert results[PIPE].status == "paused"
    assert results["district-penalties"].status == "ok", "the other pipeline goes on"
    assert stack.ours("jcjl") == {} and saves(stack) == 0
    capsys.readouterr()
    assert pipelines(stack, "list") == 0
    listing = capsys.readouterr().out
    assert "已暂停" in listing and "市系统维护" in listing and "ops1" in listing

    assert pipelines(stack, "resume", PIPE, "--by", "ops1") == 0
    assert stack.run(PIPE)[PIPE].status == "ok"
    assert stack.ours("jcjl"), "delivered once resumed"
    assert all(len(v) == 1 for v in stack.ours("jcjl").values())
    app = stack.app()
    try:
        actions = [e["action"] for e in app.ledger.audit(limit=10)]
    finally:
        app.close()
    assert actions[:2] == ["pipeline_resume", "pipeline_pause"]


def test_a_reread_finds_a_record_the_cursor_passed_and_resends_nothing(stack: Stack) -> None:
    stack.run(PIPE)
    delivered, calls = set(stack.ours("jcjl")), saves(stack)
    # an edit stamped days behind where the pipeline has read (a source clock set back): missed
    template = next(r for r in stack.district.records("inspections") if r["status"] == "submitted")
    late = {**template, "id": "JC2025LATE01", "document_no": "（滨海）应急检记〔2025〕9999号"}
    late["updated_at"] = "2025-06-01 10:00:00"
    stack.district.upsert("inspections", late)
    stack.run(PIPE)
    assert "JC2025LATE01" not in stack.ours("jcjl")

    assert pipelines(stack, "reread", PIPE, "--from", "2025-05-31", "--by", "ops1") == 0
    assert stack.run(PIPE)[PIPE].status == "ok"
    assert set(stack.ours("jcjl")) == delivered | {"JC2025LATE01"}
    assert all(len(v) == 1 for v in stack.ours("jcjl").values())
    assert saves(stack) == calls + 1, "only the missed record was sent"


def test_a_reread_is_bounded_by_where_the_pipeline_starts(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pipelines(stack, "reread", PIPE, "--from", "2001-01-01") == 2
    assert "不能从更早的" in capsys.readouterr().err
    assert pipelines(stack, "reread", PIPE, "--from", "2099-01-01") == 2
    assert pipelines(stack, "reread", "no-such-pipeline", "--from", "2025-01-01") == 2


def test_a_run_asked_for_starts_within_seconds_on_the_running_service(stack: Stack) -> None:
    app = stack.app()
    service = Service(app, console=False)
    service.start()
    try:
        deadline = time.monotonic() + 30
        while len(app.ledger.recent_runs(PIPE)) < 1 or app.ledger.recent_runs(PIPE)[0]["status"] == "running":
            assert time.monotonic() < deadline, "the first scheduled run never ended"
            time.sleep(0.2)
        assert pipelines(stack, "run", PIPE, "--by", "ops1") == 0
        deadline = time.monotonic() + 15
        while len(app.ledger.recent_runs(PIPE)) < 2:
            assert time.monotonic() < deadline, "the asked-for run did not start"
            time.sleep(0.2)
    finally:
        service.shutdown()
        app.close()
