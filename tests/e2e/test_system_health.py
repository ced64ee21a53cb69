"""目标系统 health end to end (issue 18 item 6): a real ``run`` process, a simulator stopped under it;
``status`` (another process), the daemon's own console and a console started on its own all show the
system as 不可用 with its last success and last error, not 未知."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from console.app import create_app
from simulators import daemon_config
from simulators.harness import free_port, terminate, wait_for, zhifa
from simulators.server import serving
from sync.config import load_settings
from sync.ledger import Ledger
from tests.support.cli import run_cli
from tests.support.procs import simulators

PASSWORD = "health-test-password"


DOWN = ("down", "circuit_open")


def _state(ledger: Ledger, system: str) -> str | None:
    text = ledger.get_meta(f"health:{system}")
    return json.loads(text)["state"] if text else None


def _login(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf
    r = client.post("/login", data={"username": "watcher", "password": PASSWORD, "csrf": csrf.group(1)})
    assert r.status_code == 303, r.text
    return client


def _district_row(html: str) -> str:
    panel = html[html.index("<h2>目标系统</h2>") :]
    return panel[panel.index("区执法监督平台") :].split("</tr>", 1)[0]


def _overview(url: str) -> str:
    client = _login(url)
    try:
        return client.get("/").text
    finally:
        client.close()


def test_a_stopped_system_shows_as_down_with_its_last_success_and_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in daemon_config.secrets_env().items():
        monkeypatch.setenv(name, value)
    port = free_port()
    with simulators(inspections=30, penalties=5) as sims:
        knobs = daemon_config.Knobs(
            retry=daemon_config.Retry(attempts=2, initial_wait_s=0.01, max_wait_s=0.05),
            timeout_s=2,
            lag_s=0,
            interval_minutes=0.02,  # a run every 1.2 s
        )
        config = daemon_config.write(
            daemon_config.build(
                sims.running.urls,
                db_url=f"sqlite:///{tmp_path / 'ledger.db'}",
                mappings_dir=daemon_config.copy_mappings(tmp_path / "mappings"),
                knobs=knobs,
                extra={"console": {"port": port}},
            ),
            tmp_path / "zhifa-sync.yaml",
        )
        added = run_cli(config, "users", "add", "watcher", "--password-stdin", stdin=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        settings, _ = load_settings(config)
        ledger = Ledger.connect(settings.database.url)
        daemon = zhifa(config, "run", log=tmp_path / "run.log")
        try:
            wait_for(lambda: _state(ledger, "district") == "up", 60, "the daemon to reach the district")
            terminate(sims.proc)  # the district (and municipal) platform goes away
            # down, and soon after (every call failing) its circuit breaker opens: both say it is down
            wait_for(lambda: _state(ledger, "district") in DOWN, 60, "district to be seen down")
            shown = run_cli(config, "status")
            daemon_console = _overview(f"http://127.0.0.1:{port}")
        finally:
            terminate(daemon)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.startswith("区执法监督平台"))
    cells = row.split()
    assert cells[2] in ("不可用", "已熔断"), row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row), row  # 最近成功 and 出错时间
    assert len(cells) > 6, row  # with its 最近错误
    with serving(create_app(ledger, settings)) as alone:  # `zhifa-sync console`: no daemon in its process
        alone_console = _overview(alone.url)
    ledger.close()
    for html in (daemon_console, alone_console):
        district = _district_row(html)
        assert ("不可用" in district or "已熔断" in district) and "未知" not in district
        assert "最近成功" in district
        assert re.search(r'<td class="small">\S', district), district  # 最近错误 shown
