"""A source that never answers, behind the hostile proxy, under a real ``zhifa-sync run``: the run is
reported stuck in /healthz and the log, abandoned so the next scheduled run starts, and SIGTERM ends
the service within the stop grace although a call is still hanging (issue 15 item 2)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from simulators import daemon_config
from sync.ledger.schema import runs
from tests.support.hostile import Mode, hostile
from tests.support.procs import free_port, log_events, simulators, stop, wait_for, zhifa

PIPELINE = "district-inspections"
STUCK_AFTER_S = 2
GRACE_S = 3


def _config(tmp: Path, urls: dict[str, str], db_url: str, port: int) -> Path:
    """Both district flows every 3 s; calls may hang for a minute (the per-call deadline is not what
    ends them here: the stuck-run watch is)."""
    knobs = daemon_config.Knobs(
        retry=daemon_config.Retry(attempts=1, initial_wait_s=0.01, max_wait_s=0.01),
        timeout_s=60,
        lag_s=0,
        interval_minutes=0.05,
    )
    config = daemon_config.build(
        urls,
        db_url=db_url,
        mappings_dir=daemon_config.copy_mappings(tmp / "mappings"),
        knobs=knobs,
        systems={"district": {"deadline_s": 120}},
        extra={"console": {"port": port}, "stuck_after_s": STUCK_AFTER_S, "stop_grace_s": GRACE_S},
    )
    return daemon_config.write(config, tmp / "zhifa-sync.yaml")


def _healthz(port: int) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return None


def _runs(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(runs).where(runs.c.pipeline == PIPELINE)
            return int(conn.scalar(query) or 0)
    finally:
        engine.dispose()


class Systemd:
    """A NOTIFY_SOCKET as systemd offers it, recording when each assignment arrived."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.got: list[tuple[float, str]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.got.extend((time.monotonic(), line) for line in data.decode().splitlines())

    def pings(self, since: float) -> int:
        return sum(1 for at, line in self.got if line == "WATCHDOG=1" and at >= since)

    def close(self) -> None:
        self._done.set()
        self._thread.join(2)
        self.sock.close()


def _closed_as_stuck(db_url: str) -> list[str]:
    """The statuses of the runs closed with the stuck note (none may be left as "crashed")."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(runs.c.status, runs.c.error).where(runs.c.pipeline == PIPELINE))
            return [r.status for r in rows if r.error and "卡住" in r.error]
    finally:
        engine.dispose()


def test_a_stalled_source_is_reported_stuck_abandoned_and_sigterm_still_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Healthy (idle between runs): WATCHDOG=1. The source stalls: /healthz says stuck within seconds,
    the pings stop, the run is closed as stuck, the next run starts, SIGTERM exits 0 within the grace."""
    db_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    port = free_port()
    systemd = Systemd(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping every 0.2 s while healthy
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    with simulators(inspections=20, penalties=5, seed=41) as sims, hostile(sims.district_url) as peer:
        urls = {"district": peer.url, "municipal": sims.municipal_url}
        log = tmp_path / "run.log"
        proc = zhifa(_config(tmp_path, urls, db_url, port), "run", log=log)
        try:
            wait_for(lambda: systemd.pings(0) >= 3, 30, "the watchdog pings of a healthy service", every=0.1)
            peer.set("/", Mode.STALL)  # from now on: reads the request, never answers
            found: dict[str, Any] = {}

            def stuck() -> bool:
                answer = _healthz(port)
                if answer is not None and answer.status_code == 503:
                    found.update(answer.json())
                return found.get("status") == "stuck"

            wait_for(stuck, 30, "/healthz to report the stuck run", every=0.2)
            reported = time.monotonic()
            assert PIPELINE in {s["pipeline"] for s in found["stuck"]}
            assert all(s["idle_s"] >= STUCK_AFTER_S and "卡住" in s["message"] for s in found["stuck"])
            # abandoned: the next scheduled run (every 3 s) starts instead of being skipped
            before = _runs(db_url)
            wait_for(lambda: _runs(db_url) > before, 30, "the next run to start", every=0.2)
            # no WATCHDOG=1 while the abandoned runs still hang (their calls run for a minute)
            assert systemd.pings(reported + 0.5) == 0, "the watchdog was fed while a run was stuck"
            sent = time.monotonic()
            rc = stop(proc, timeout=30)
            took = time.monotonic() - sent
        finally:
            proc.kill()
            systemd.close()
    assert any(line == "READY=1" for _at, line in systemd.got)
    closed = _closed_as_stuck(db_url)
    assert closed and all(status == "error" for status in closed), closed
    events = log_events(log)
    names = [e.get("event") for e in events]
    assert rc == 0, events[-5:]
    assert took < GRACE_S + 4, f"SIGTERM took {took:.1f} s with a call still hanging"
    stuck_lines = [e for e in events if e.get("event") == "run_stuck" and e.get("pipeline") == PIPELINE]
    assert stuck_lines and stuck_lines[0]["idle_s"] >= STUCK_AFTER_S
    assert "stop_forced" in names and names[-1] == "service_stopped"
    assert not any("maximum number of running instances" in str(e) for e in events)
