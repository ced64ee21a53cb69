"""Issue 18.5: the service starts when a remote system is down (it retries it, it does not exit)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from simulators.harness import free_port, terminate, wait_for, zhifa
from tests.support.stack import make_stack


def _healthz(port: int) -> tuple[int, dict[str, object]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:
        return None


def test_run_serves_healthz_while_municipal_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Municipal stopped: `check --for-unit` (the unit's ExecStartPre) exits 0, `run` comes up, serves
    /healthz and keeps running through a scheduled run that cannot reach municipal."""
    with make_stack(tmp_path, monkeypatch, inspections=10, penalties=2) as stack:
        config = yaml.safe_load(stack.config_path.read_text(encoding="utf-8"))
        port = free_port()
        config["console"] = {"host": "127.0.0.1", "port": port}
        config["systems"]["municipal"].update(
            {"timeout_s": 1, "retry": {"attempts": 1, "initial_wait_s": 0.1}}
        )
        stack.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        stack.sims.servers["municipal"].stop()
        unit_check = zhifa(stack.config_path, "check", "--for-unit")
        assert unit_check.wait(60) == 0
        log = tmp_path / "run.log"
        proc = zhifa(stack.config_path, "run", log=log)
        try:
            wait_for(lambda: proc.poll() is not None or _healthz(port) is not None, 60, "/healthz")
            assert proc.poll() is None, log.read_text(encoding="utf-8")[-3000:]
            wait_for(lambda: "run_finished" in log.read_text(encoding="utf-8"), 60, "a first run")
            assert proc.poll() is None and _healthz(port) is not None
        finally:
            terminate(proc)
