"""systemd integration: the sd_notify protocol, the service's READY/WATCHDOG/STOPPING, and the unit file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import SECRETS_ENV
from tests.support.stack import REPO, make_stack
from zhifa_sync import systemd

UNIT = REPO / "config" / "zhifa-sync.service"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(20)
    yield sock
    sock.close()


def test_notify_sends_newline_separated_assignments(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """READY=1 and STATUS=… arrive in one datagram on the path socket."""
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.getsockname())
    assert systemd.notify("READY=1", "STATUS=scheduler running")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=scheduler running"


def test_notify_reaches_an_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """A NOTIFY_SOCKET starting with '@' is an abstract-namespace socket."""
    name = f"zhifa-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notify_is_a_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without NOTIFY_SOCKET nothing is sent; a vanished socket is reported, not raised."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    assert systemd.notify("READY=1") is False
    assert systemd.watchdog_interval() is None
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert systemd.notify("READY=1") is False


def test_watchdog_interval_is_half_of_watchdog_usec_and_only_for_our_pid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """WATCHDOG_USEC=60 s → ping every 30 s; a WATCHDOG_PID of another process means no watchdog for us."""
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "n"))
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert systemd.watchdog_interval() is None


def test_service_says_ready_pings_the_watchdog_and_stops_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notify_socket: socket.socket
) -> None:
    """`zhifa-sync run` under a fake systemd: READY=1, then WATCHDOG=1 pings, STOPPING=1 and exit 0 on SIGTERM."""
    with make_stack(tmp_path, monkeypatch, inspections=40, penalties=4) as stack:
        env = {
            **os.environ,
            **SECRETS_ENV,
            "NOTIFY_SOCKET": notify_socket.getsockname(),
            "WATCHDOG_USEC": "400000",
            "ZHIFA_LOG_FORMAT": "json",
        }
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "zhifa_sync", "-c", str(stack.config_path), "run", "--no-console"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            messages = [notify_socket.recv(4096).decode() for _ in range(3)]
            assert messages[0].startswith("READY=1")
            assert messages[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
            proc.send_signal(signal.SIGTERM)
            while not (msg := notify_socket.recv(4096).decode()).startswith("STOPPING=1"):
                assert msg == "WATCHDOG=1"
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts config/zhifa-sync.service without a single warning."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip(
            "systemd-analyze is not installed (scripts/ensure-tools.sh installs Debian's systemd package)"
        )
    # verify insists that ExecStart= exists: point it at a stand-in for /opt/zhifa-sync/venv/bin/zhifa-sync
    exe = tmp_path / "zhifa-sync"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    unit = tmp_path / "zhifa-sync.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/opt/zhifa-sync/venv/bin/zhifa-sync", str(exe)),
        encoding="utf-8",
    )
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_unit_file_has_the_production_settings() -> None:
    """Type=notify with a watchdog, restarts, its own user, strict hardening, credentials."""
    lines = {
        ln.split("=", 1)[0]: ln.split("=", 1)[1]
        for ln in UNIT.read_text(encoding="utf-8").splitlines()
        if "=" in ln and not ln.startswith("#")
    }
    assert lines["Type"] == "notify" and int(lines["WatchdogSec"]) > 0
    assert lines["Restart"] == "on-failure" and lines["User"] == "zhifa-sync"
    assert lines["ProtectSystem"] == "strict" and lines["NoNewPrivileges"] == "yes"
    assert lines["StateDirectory"] == "zhifa-sync"
    assert "LoadCredential" in lines
