"""``make bench``: throughput and memory of a district → municipal backfill, measured side by side.

Contenders, each against freshly started simulators (a separate process, rate limits off):
- ``zhifa-sync``: the real command, ``zhifa-sync sync --once district-inspections``, in its own process
  (peak RSS read from /proc while it runs);
- ``bare loop``: the ceiling — pages the district simulator and posts each record to the municipal
  simulator with the same concurrency, translating codes with plain dict look-ups; no validation,
  ledger or retries.
Then a cycle in which nothing changed, over the ledger the backfill left. Contenders alternate and
repeat; the table shows medians and zhifa-sync's throughput as a fraction of the bare loop's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Simulators:
    """``python -m simulators serve`` in its own process, so its memory is not counted as ours."""

    def __init__(self, inspections: int, seed: int = 1) -> None:
        self.dport, self.mport = free_port(), free_port()
        self.proc = subprocess.Popen(
            [PY, "-m", "simulators", "serve", "--district-port", str(self.dport), "--municipal-port", str(self.mport),
             "--credit-port", "-1", "--inspections", str(inspections), "--penalties", "0", "--seed", str(seed),
             "--hand-typed-share", "0", "--faults", json.dumps({"rate_limits": False})],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.mport}/_sim/stats", timeout=1)
                httpx.get(f"http://127.0.0.1:{self.dport}/_sim/stats", timeout=1)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.proc.stdout.read() if self.proc.stdout else "simulators died") from None
                time.sleep(0.2)
        raise RuntimeError("simulators did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def rss_watch(pid: int, samples: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                samples.append(int(line.split()[1]))
        stop.wait(0.2)


def peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_daemon(config: Path, pipeline: str) -> tuple[float, int, list[int]]:
    """Wall seconds, peak RSS (kB) and RSS samples of one ``zhifa-sync sync --once`` process."""
    env = {**os.environ, "ZHIFA_LOG_FORMAT": "json", "ZS_DISTRICT_PASSWORD": "sync-secret",
           "ZS_MUNICIPAL_SECRET": "municipal-secret"}
    started = time.monotonic()
    proc = subprocess.Popen([PY, "-m", "sync.cli", "-c", str(config), "sync", "--once", pipeline],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    samples: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=rss_watch, args=(proc.pid, samples, stop), daemon=True)
    watcher.start()
    peak = 0
    while proc.poll() is None:
        peak = max(peak, peak_kb(proc.pid))
        time.sleep(0.1)
    stop.set()
    elapsed = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"zhifa-sync exited {proc.returncode}")
    return elapsed, max([peak, *samples]), samples


def write_config(tmp: Path, sims: Simulators, concurrency: int) -> Path:
    config = {
        "database": {"url": f"sqlite:///{tmp / 'ledger.db'}"},
        "mappings_dir": str(ROOT / "mappings"),
        "systems": {
            "district": {"type": "district", "base_url": f"http://127.0.0.1:{sims.dport}", "username": "sync",
                         "password": {"env": "ZS_DISTRICT_PASSWORD"}, "page_size": 500},
            "municipal": {"type": "municipal", "base_url": f"http://127.0.0.1:{sims.mport}", "app_key": "QJJR-BH",
                          "app_secret": {"env": "ZS_MUNICIPAL_SECRET"}, "region_code": "120116",
                          "concurrency": concurrency},
        },
        "pipelines": [{"name": "district-inspections", "source": "district", "kind": "inspection",
                       "targets": ["municipal"], "start": "2020-01-01 00:00:00", "lag_s": 0, "batch_size": 500}],
    }
    path = tmp / "zhifa-sync.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def delivered(tmp: Path) -> int:
    """Records the ledger says reached municipal."""
    import sqlite3

    with sqlite3.connect(tmp / "ledger.db") as conn:
        return int(conn.execute("select count(*) from deliveries where target='municipal'").fetchone()[0])


def _table(name: str) -> dict[str, dict[str, str]]:
    with (ROOT / "mappings" / f"{name}.csv").open(encoding="utf-8-sig") as fh:
        return {row[next(iter(row))]: row for row in csv.DictReader(fh)}


def bare_loop(sims: Simulators, concurrency: int) -> tuple[float, int]:
    """The ceiling: page and post, nothing else."""
    import hashlib

    items, types, results = _table("items"), _table("inspection_types"), _table("inspection_results")
    officers, depts = _table("officers"), _table("departments")
    d = httpx.Client(base_url=f"http://127.0.0.1:{sims.dport}", timeout=30)
    m = httpx.Client(base_url=f"http://127.0.0.1:{sims.mport}", timeout=30,
                     limits=httpx.Limits(max_connections=concurrency + 2))
    token = d.post("/api/auth/token", json={"username": "sync", "password": "sync-secret"}).json()["data"]["access_token"]

    def post(r: dict[str, Any]) -> None:
        ts = str(int(time.time() * 1000))
        sign = hashlib.md5(f"QJJR-BHmunicipal-secret{ts}".encode()).hexdigest().upper()
        e = r["enterprise"]
        body = {"wbxtly": "QJJR", "wbxtbh": r["id"], "qymc": e["name"], "tyshxydm": e["uscc"], "qydz": e.get("address"),
                "xzqhdm": e["region_code"], "jcsxbm": items[r["item_code"]]["municipal_item_code"],
                "jclx": types[r["inspection_type"]]["municipal_code"],
                "jckssj": r["started_at"].replace("-", "").replace(":", "").replace(" ", ""),
                "jcjssj": r["ended_at"].replace("-", "").replace(":", "").replace(" ", ""),
                "zfry": ",".join(officers[u]["cert_no"] for u in r["officers"]),
                "jcjg": results[r["result"]]["municipal_jcjg"], "sfla": results[r["result"]]["municipal_sfla"],
                "yhsl": r["hazard_count"], "zdyhsl": r["major_hazard_count"], "wsbh": r.get("document_no"),
                "zfjgdm": depts[r["dept_code"]]["municipal_org_code"], "jlzt": "ZF" if r["status"] == "void" else "ZC"}
        m.post("/openapi/jcjl/save", json=body, headers={"appKey": "QJJR-BH", "timestamp": ts, "sign": sign})

    started = time.monotonic()
    n = 0
    page = 1
    with ThreadPoolExecutor(concurrency) as pool:
        while True:
            data = d.get("/api/v1/inspections", params={"start_time": "2020-01-01 00:00:00",
                                                         "end_time": "2099-01-01 00:00:00", "page": page,
                                                         "page_size": 500},
                         headers={"Authorization": f"Bearer {token}"}).json()["data"]
            rows = [r for r in data["items"] if r["status"] != "draft"]
            list(pool.map(post, rows))
            n += len(rows)
            if page * 500 >= data["total"]:
                break
            page += 1
    return time.monotonic() - started, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make bench")
    ap.add_argument("--sizes", default="20000,100000", help="backfill sizes (inspections)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each contender, alternating")
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        ours, bare, idle, peaks = [], [], [], []
        for rep in range(args.repeats):
            order = ("ours", "bare") if rep % 2 == 0 else ("bare", "ours")
            for who in order:
                sims = Simulators(size)
                try:
                    with tempfile.TemporaryDirectory() as tmp:
                        if who == "bare":
                            secs, n = bare_loop(sims, args.concurrency)
                            bare.append(n / secs)
                        else:
                            config = write_config(Path(tmp), sims, args.concurrency)
                            secs, peak, _ = run_daemon(config, "district-inspections")
                            n = delivered(Path(tmp))
                            if n < size * 0.97:  # drafts are ~2%: anything less means the run broke
                                raise RuntimeError(f"zhifa-sync delivered only {n} of {size}")
                            ours.append(n / secs)
                            peaks.append(peak)
                            idle_secs, _, _ = run_daemon(config, "district-inspections")
                            idle.append(idle_secs)
                finally:
                    sims.stop()
                print(f"  size {size} run {rep + 1} {who}: {secs:.1f} s", flush=True)
        med_ours, med_bare = statistics.median(ours), statistics.median(bare)
        rows.append((size, med_ours, med_bare, med_ours / med_bare, max(peaks) / 1024, statistics.median(idle)))
    print("\n| inspections | zhifa-sync rec/s | bare loop rec/s | ratio | zhifa-sync peak RSS MB | no-change cycle s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size, o, b, ratio, mem, idle_s in rows:
        print(f"| {size:,} | {o:,.0f} | {b:,.0f} | {ratio:.0%} | {mem:.0f} | {idle_s:.2f} |")
    print(f"\nmedians of {args.repeats} alternating runs each; simulators in a separate process, rate limits off")
    return 0


if __name__ == "__main__":
    sys.exit(main())
