"""Real processes for the production-service tests: simulators in one, ``zhifa-sync`` in others."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from simulators import district, municipal
from tests.e2e.stack import REPO, synced_district_ids

SECRETS_ENV = {
    "ZS_DISTRICT_PASSWORD": district.DISTRICT_PASSWORD,
    "ZS_MUNICIPAL_SECRET": municipal.MUNICIPAL_APP_SECRET,
}
KINDS = (("inspections", "jcjl"), ("penalties", "xzcf"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> float:
    """Poll until ``predicate()`` is true; the seconds it took (AssertionError naming ``what`` on timeout)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


@dataclass
class Sims:
    """The district and municipal simulators running in their own process."""

    proc: subprocess.Popen[bytes]
    district_url: str
    municipal_url: str

    def get(self, url: str) -> Any:
        """A read-only look at a simulator's store, tried again on a time-out: on CI one such answer
        once took over 30 s (cause not found; not reproduced in local runs under load), and what
        the tests measure is the store, not this call. A simulator that really hangs fails all three."""
        for attempt in (1, 2, 3):
            started = time.monotonic()
            try:
                return httpx.get(url, timeout=60).json()
            except httpx.TimeoutException:
                print(f"harness: {url} did not answer in {time.monotonic() - started:.0f} s (try {attempt})")
                if attempt == 3:
                    raise
        raise AssertionError("unreachable")

    def expected(self, kind: str) -> set[str]:
        return synced_district_ids(self.get(f"{self.district_url}/_sim/{kind}"), set())

    def ours(self, city_kind: str) -> dict[str, int]:
        """How many municipal records carry each of our external ids."""
        out: dict[str, int] = {}
        for r in self.get(f"{self.municipal_url}/_sim/records/{city_kind}"):
            if r.get("wbxtly") == "QJJR":
                out[r["wbxtbh"]] = out.get(r["wbxtbh"], 0) + 1
        return out

    def delivered(self) -> int:
        return sum(len(self.ours(city)) for _k, city in KINDS)

    def total(self) -> int:
        return sum(len(self.expected(k)) for k, _c in KINDS)

    def assert_exactly_once(self) -> dict[str, int]:
        """Every synced district record is on municipal once, and nothing else of ours; sizes by kind."""
        sizes = {}
        for kind, city_kind in KINDS:
            expected, ours = self.expected(kind), self.ours(city_kind)
            missing, extra = expected - set(ours), set(ours) - expected
            assert not missing and not extra, (
                f"{kind}: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
            )
            dups = {k: n for k, n in ours.items() if n > 1}
            assert not dups, f"{kind}: duplicated {dups}"
            sizes[kind] = len(expected)
        return sizes


@contextmanager
def simulators(
    *, inspections: int, penalties: int | None = None, seed: int = 5, latency_ms: int = 0
) -> Iterator[Sims]:
    """``python -m simulators serve`` on free ports, rate limits off, ``latency_ms`` on municipal.

    A port found free can be taken before the simulators bind it (by any connection's ephemeral
    port: the suite makes thousands): then they are started again on other ports, up to 3 times."""
    faults = {
        "district": {"rate_limits": False},
        "municipal": {"rate_limits": False, "latency_ms": latency_ms},
    }
    for attempt in (1, 2, 3):
        dport, mport = free_port(), free_port()
        cmd = [
            sys.executable,
            "-m",
            "simulators",
            "serve",
            "--district-port",
            str(dport),
            "--municipal-port",
            str(mport),
            "--credit-port",
            "-1",
            "--inspections",
            str(inspections),
            "--seed",
            str(seed),
            "--faults",
            json.dumps(faults),
        ]
        if penalties is not None:
            cmd += ["--penalties", str(penalties)]
        # stderr to a file, never a pipe: nobody reads a pipe while the simulators run, and a full pipe
        # (64 KiB of log lines) would block the server thread that logs — the simulator would stop answering.
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=errors)
            sims = Sims(proc, f"http://127.0.0.1:{dport}", f"http://127.0.0.1:{mport}")

            def up(proc: subprocess.Popen[bytes] = proc, sims: Sims = sims, errors: Any = errors) -> bool:
                if proc.poll() is not None:
                    errors.seek(0)
                    raise _Exited(errors.read().decode(errors="replace")[-2000:])
                try:
                    return all(
                        httpx.get(f"{u}/_sim/faults", timeout=1).status_code == 200
                        for u in (sims.district_url, sims.municipal_url)
                    )
                except httpx.HTTPError:
                    return False

            try:
                try:
                    wait_for(up, 60, "the simulators to listen", every=0.1)
                except _Exited as exc:
                    if "Address already in use" in str(exc) and attempt < 3:
                        print(
                            f"harness: port {dport} or {mport} was taken before the simulators bound it; again"
                        )
                        continue
                    raise AssertionError(f"simulators exited: {exc}") from None
                yield sims
                return
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()


class _Exited(Exception):
    """The simulators' process ended while starting (its stderr)."""


def write_config(
    tmp: Path,
    sims: Sims,
    db_url: str,
    *,
    interval_minutes: float = 10,
    batch_size: int = 100,
    concurrency: int = 8,
) -> Path:
    """A config for both flows against ``sims``, mapping tables copied next to it."""
    mappings = tmp / "mappings"
    if not mappings.exists():
        shutil.copytree(REPO / "mappings", mappings, ignore=shutil.ignore_patterns("*.md"))
    retry = {"attempts": 4, "initial_wait_s": 0.01, "max_wait_s": 0.2}
    pipelines = [
        {
            "name": f"district-{kind}",
            "source": "district",
            "kind": {"inspections": "inspection"}.get(kind, "penalty"),
            "targets": ["municipal"],
            "start": "2024-01-01 00:00:00",
            "lag_s": 0,
            "batch_size": batch_size,
            "schedule": {"interval_minutes": interval_minutes},
        }
        for kind in ("inspections", "penalties")
    ]
    config = {
        "database": {"url": db_url},
        "mappings_dir": str(mappings),
        "console": {"port": 0},
        "systems": {
            "district": {
                "type": "district",
                "base_url": sims.district_url,
                "username": district.DISTRICT_USER,
                "password": {"env": "ZS_DISTRICT_PASSWORD"},
                "retry": retry,
                "timeout_s": 10,
            },
            "municipal": {
                "type": "municipal",
                "base_url": sims.municipal_url,
                "app_key": municipal.MUNICIPAL_APP_KEY,
                "app_secret": {"env": "ZS_MUNICIPAL_SECRET"},
                "region_code": "120116",
                "retry": retry,
                "timeout_s": 10,
                "concurrency": concurrency,
            },
        },
        "pipelines": pipelines,
    }
    path = tmp / "zhifa-sync.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def zhifa(config: Path, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """A real ``zhifa-sync`` process (JSON logs to ``log`` when given)."""
    env = {**os.environ, **SECRETS_ENV, "ZHIFA_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    err = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "zhifa_sync", "-c", str(config), *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    finally:
        if log is not None:
            err.close()  # type: ignore[union-attr]


def log_events(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines a process wrote (lines that are not JSON are returned as {"raw": line})."""
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"raw": line})
    return out


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, wait; the exit code (SIGKILL after ``timeout``)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
