"""One clock and one lag (issue 18 items 3 and 4): on a UTC server and on a Beijing server, ``status``,
the console and ``/metrics`` say the same times (Beijing time, named) and the same lag — 已追平 right
after a full backfill of a year's old records."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.contract.clock import beijing_now
from simulators import daemon_config
from simulators.harness import free_port, terminate, wait_for
from tests.support.cli import REPO, run_cli
from tests.support.stack import Stack, make_stack

PIPELINES = ("district-inspections", "district-penalties")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
PASSWORD = "clock-test-password"


@dataclass
class Backfilled:
    stack: Stack
    status: dict[str, str]  # TZ -> what `status` printed


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    """A full backfill of a year's records by ``sync --once`` on a UTC server, then ``status`` twice."""
    with (
        pytest.MonkeyPatch.context() as mp,
        make_stack(tmp_path_factory.mktemp("clock"), mp, inspections=60, penalties=12, seed=11) as stack,
    ):
        ran = run_cli(stack.config_path, "sync", "--once", tz="UTC")
        assert ran.returncode == 0, ran.stdout + ran.stderr[-2000:]
        outputs = {}
        for tz in ("UTC", "Asia/Shanghai"):
            shown = run_cli(stack.config_path, "status", tz=tz)
            assert shown.returncode == 0, shown.stderr[-2000:]
            outputs[tz] = shown.stdout
        yield Backfilled(stack, outputs)


def _row(status: str, pipeline: str) -> str:
    return next(line for line in status.splitlines() if line.strip().startswith(pipeline))


def test_status_says_the_same_on_a_utc_and_a_beijing_server(backfilled: Backfilled) -> None:
    utc, beijing = backfilled.status["UTC"], backfilled.status["Asia/Shanghai"]
    assert utc == beijing
    assert "时间均为北京时间 (UTC+08:00)" in utc
    for name in PIPELINES:
        started = datetime.strptime(TIME_RE.findall(_row(utc, name))[0], "%Y-%m-%d %H:%M:%S")
        # 最近运行 is Beijing time though the run happened on a UTC server (it was 8 hours off)
        assert abs((beijing_now() - started).total_seconds()) < 600, _row(utc, name)


def test_status_says_caught_up_right_after_a_backfill_of_old_records(backfilled: Backfilled) -> None:
    for name in PIPELINES:
        row = _row(backfilled.status["UTC"], name)
        assert row.rstrip().endswith("已追平"), row
        assert "天" not in row


def _console(backfilled: Backfilled, tz: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **daemon_config.secrets_env(), "TZ": tz}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zhifa_sync",
            "-c",
            str(backfilled.stack.config_path),
            "console",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc


def _login(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    r = client.post("/login", data={"username": "clockop", "password": PASSWORD, "csrf": csrf.group(1)})
    assert r.status_code == 303, r.text
    return client


@pytest.fixture(scope="module")
def viewer(backfilled: Backfilled) -> None:
    added = run_cli(
        backfilled.stack.config_path,
        "users",
        "add",
        "clockop",
        "--role",
        "viewer",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr


@pytest.mark.parametrize("tz", ["UTC", "Asia/Shanghai"])
def test_console_and_metrics_agree_with_status(backfilled: Backfilled, viewer: None, tz: str) -> None:
    port = free_port()
    proc = _console(backfilled, tz, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), 30, "the console to listen")
        client = _login(url)
        try:
            overview = client.get("/").text
        finally:
            client.close()
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        terminate(proc)
    assert "时间均为北京时间 (UTC+08:00)" in overview
    status = backfilled.status["UTC"]
    for name in PIPELINES:
        started = TIME_RE.findall(_row(status, name))[0]
        assert started in overview  # the same 上次运行 as `status`, not 8 hours earlier
    assert overview.count("已追平") == len(PIPELINES)
    lags = {
        s.labels["pipeline"]: s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "zhifa_pipeline_lag_seconds"
    }
    assert lags == dict.fromkeys(PIPELINES, 0.0)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False
