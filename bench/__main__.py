"""``make bench``: throughput and memory of a district → municipal backfill, measured side by side.

Contenders, each against freshly started simulators (a separate process, rate limits off):
- ``zhifa-sync``: the real command, ``zhifa-sync sync --once district-inspections``, in its own process,
  which pushes big pages from its push process (sync/push_process.py); CPU and memory are those of
  both (RSS summed over the daemon and its push process, read from /proc while they run);
- ``ceiling loop``: pages the district simulator (the next page fetched while the records of the last
  are posted) and posts each record to the municipal simulator from ``concurrency`` workers on one
  queue, straight through a pooled httpx transport, translating codes with plain dict look-ups; no
  validation, ledger, mapping files or retries — the most this machine does for the job;
- ``script loop``: what a script would do — fetch a page, ``pool.map`` its records through an
  ``httpx.Client``, fetch the next page;
- ``dlt``: the same job with dlt (its REST client and a custom destination posting each record).
Then a cycle in which nothing changed, over the ledger the backfill left. Contenders alternate and
repeat; the table shows medians and each one's throughput as a fraction of the ceiling's.
"""

from __future__ import annotations

import argparse
import contextlib
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
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [
                PY,
                "-m",
                "simulators",
                "serve",
                "--district-port",
                str(self.dport),
                "--municipal-port",
                str(self.mport),
                "--credit-port",
                "-1",
                "--inspections",
                str(inspections),
                "--penalties",
                "0",
                "--seed",
                str(seed),
                "--hand-typed-share",
                "0",
                "--faults",
                json.dumps({"rate_limits": False}),
            ],
            stdout=self._log,  # a file, not a pipe nobody reads while they run (a full pipe blocks them)
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.mport}/_sim/stats", timeout=1)
                httpx.get(f"http://127.0.0.1:{self.dport}/_sim/stats", timeout=1)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    self._log.seek(0)
                    raise RuntimeError(self._log.read().decode(errors="replace")[-2000:]) from None
                time.sleep(0.2)
        raise RuntimeError("simulators did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._log.close()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the daemon and its push process)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return out


def _status_kb(pid: int, field: str) -> int:
    """A kB figure of /proc/<pid>/status (``VmRSS``, ``VmHWM``); 0 if the process or the line is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_watch(pid: int, samples: list[int], stop: threading.Event) -> None:
    """RSS of the daemon and its push process together, every 0.2 s."""
    while not stop.is_set():
        if not Path(f"/proc/{pid}").exists():
            return
        rss = sum(_status_kb(p, "VmRSS") for p in _tree(pid))
        if rss:  # 0: exiting (a zombie's status has no VmRSS)
            samples.append(rss)
        stop.wait(0.2)


def run_daemon(config: Path, pipeline: str) -> tuple[float, int, list[int]]:
    """Wall seconds, peak RSS (kB) and RSS samples of one ``zhifa-sync sync --once`` process and its
    push process together."""
    env = {
        **os.environ,
        "ZHIFA_LOG_FORMAT": "json",
        "ZS_DISTRICT_PASSWORD": "sync-secret",
        "ZS_MUNICIPAL_SECRET": "municipal-secret",
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [PY, "-m", "zhifa_sync", "-c", str(config), "sync", "--once", pipeline],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    samples: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=rss_watch, args=(proc.pid, samples, stop), daemon=True)
    watcher.start()
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _status_kb(proc.pid, "VmHWM"))
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
            "district": {
                "type": "district",
                "base_url": f"http://127.0.0.1:{sims.dport}",
                "username": "sync",
                "password": {"env": "ZS_DISTRICT_PASSWORD"},
                "page_size": 500,
            },
            "municipal": {
                "type": "municipal",
                "base_url": f"http://127.0.0.1:{sims.mport}",
                "app_key": "QJJR-BH",
                "app_secret": {"env": "ZS_MUNICIPAL_SECRET"},
                "region_code": "120116",
                "concurrency": concurrency,
            },
        },
        "pipelines": [
            {
                "name": "district-inspections",
                "source": "district",
                "kind": "inspection",
                "targets": ["municipal"],
                "start": "2020-01-01 00:00:00",
                "lag_s": 0,
                "batch_size": 500,
            }
        ],
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


class Poster:
    """Translate a district inspection with plain dict look-ups and post it to the municipal simulator
    (``httpx.Client.post``, as a script would). ``lean``: post straight through the pooled transport,
    the way zhifa-sync's connectors do (``connectors.http.HttpSession``) — the ceiling for that path."""

    def __init__(self, sims: Simulators, concurrency: int, *, lean: bool = False) -> None:
        self.items, self.types = _table("items"), _table("inspection_types")
        self.results, self.officers, self.depts = (
            _table("inspection_results"),
            _table("officers"),
            _table("departments"),
        )
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{sims.mport}",
            timeout=30,
            limits=httpx.Limits(max_connections=concurrency + 2),
        )
        self.session = None
        if lean:
            from connectors.http import HttpSession

            self.session = HttpSession(
                "municipal", f"http://127.0.0.1:{sims.mport}", timeout_s=30, max_connections=concurrency + 2
            )

    def __call__(self, r: dict[str, Any]) -> None:
        import hashlib

        ts = str(int(time.time() * 1000))
        sign = hashlib.md5(f"QJJR-BHmunicipal-secret{ts}".encode()).hexdigest().upper()
        e = r["enterprise"]
        if isinstance(e, str):  # dlt hands nested objects over as JSON text
            e = json.loads(e)
        officers = r["officers"] if isinstance(r["officers"], list) else json.loads(r["officers"])
        body = {
            "wbxtly": "QJJR",
            "wbxtbh": r["id"],
            "qymc": e["name"],
            "tyshxydm": e["uscc"],
            "qydz": e.get("address"),
            "xzqhdm": e["region_code"],
            "jcsxbm": self.items[r["item_code"]]["municipal_item_code"],
            "jclx": self.types[r["inspection_type"]]["municipal_code"],
            "jckssj": str(r["started_at"]).replace("-", "").replace(":", "").replace(" ", "")[:14],
            "jcjssj": str(r["ended_at"]).replace("-", "").replace(":", "").replace(" ", "")[:14],
            "zfry": ",".join(self.officers[u]["cert_no"] for u in officers),
            "jcjg": self.results[r["result"]]["municipal_jcjg"],
            "sfla": self.results[r["result"]]["municipal_sfla"],
            "yhsl": r["hazard_count"],
            "zdyhsl": r["major_hazard_count"],
            "wsbh": r.get("document_no"),
            "zfjgdm": self.depts[r["dept_code"]]["municipal_org_code"],
            "jlzt": "ZF" if r["status"] == "void" else "ZC",
        }
        headers = {"appKey": "QJJR-BH", "timestamp": ts, "sign": sign}
        if self.session is not None:
            self.session.request("POST", "/openapi/jcjl/save", json=body, headers=headers)
        else:
            self.client.post("/openapi/jcjl/save", json=body, headers=headers)


def _token(sims: Simulators) -> str:
    d = httpx.post(
        f"http://127.0.0.1:{sims.dport}/api/auth/token", json={"username": "sync", "password": "sync-secret"}
    )
    return str(d.json()["data"]["access_token"])


def _pages(sims: Simulators) -> Any:
    """The district's inspections page by page (page numbers: nothing changes during a benchmark)."""
    d = httpx.Client(base_url=f"http://127.0.0.1:{sims.dport}", timeout=30)
    token = _token(sims)
    page = 1
    while True:
        data = d.get(
            "/api/v1/inspections",
            params={
                "start_time": "2020-01-01 00:00:00",
                "end_time": "2099-01-01 00:00:00",
                "page": page,
                "page_size": 500,
            },
            headers={"Authorization": f"Bearer {token}"},
        ).json()["data"]
        yield [r for r in data["items"] if r["status"] != "draft"]
        if page * 500 >= data["total"]:
            return
        page += 1


def bare_loop(sims: Simulators, concurrency: int) -> tuple[float, int]:
    """A script's loop: fetch a page, post its records with a thread pool (``httpx.Client``), next page."""
    post = Poster(sims, concurrency)
    started = time.monotonic()
    n = 0
    with ThreadPoolExecutor(concurrency) as pool:
        for rows in _pages(sims):
            list(pool.map(post, rows))
            n += len(rows)
    return time.monotonic() - started, n


def ceiling_loop(sims: Simulators, concurrency: int) -> tuple[float, int]:
    """The ceiling: pages fetched by one thread while ``concurrency`` workers post from a shared queue
    straight through a pooled transport — no wait between pages, no future per record, no ledger,
    validation, mapping files or retries."""
    import queue

    post = Poster(sims, concurrency, lean=True)
    todo: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1000)
    done = [0] * concurrency

    def worker(i: int) -> None:
        while (r := todo.get()) is not None:
            post(r)
            done[i] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for w in workers:
        w.start()
    for rows in _pages(sims):
        for r in rows:
            todo.put(r)
    for _ in workers:
        todo.put(None)
    for w in workers:
        w.join()
    return time.monotonic() - started, sum(done)


def dlt_peer(sims: Simulators, concurrency: int, workdir: Path) -> tuple[float, int]:
    """The same job with dlt: its REST client (page-number paginator) and a custom destination posting
    each record, concurrently, to the municipal simulator."""
    os.environ["DLT_DATA_DIR"] = str(workdir / "dlt-data")
    os.environ["DLT_PROJECT_DIR"] = str(workdir)
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    import dlt
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

    post = Poster(sims, concurrency)
    pool = ThreadPoolExecutor(concurrency)
    count = [0]
    client = RESTClient(
        base_url=f"http://127.0.0.1:{sims.dport}",
        auth=BearerTokenAuth(_token(sims)),
        paginator=PageNumberPaginator(
            base_page=1,
            page_param="page",
            total_path="data.total",
            maximum_page=None,
            stop_after_empty_page=True,
        ),
        data_selector="data.items",
    )

    @dlt.resource(name="inspections", write_disposition="append", max_table_nesting=0)
    def inspections() -> Any:
        for page in client.paginate(
            "/api/v1/inspections",
            params={"start_time": "2020-01-01 00:00:00", "end_time": "2099-01-01 00:00:00", "page_size": 500},
        ):
            yield [r for r in page if r["status"] != "draft"]

    @dlt.destination(batch_size=500, max_table_nesting=0, skip_dlt_columns_and_tables=True)
    def municipal(items: Any, table: Any) -> None:
        list(pool.map(post, items))
        count[0] += len(items)

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{os.getpid()}_{time.monotonic_ns()}",
        destination=municipal,
        pipelines_dir=str(workdir / "pipelines"),
    )
    started = time.monotonic()
    pipeline.run(inspections())
    elapsed = time.monotonic() - started
    pool.shutdown()
    return elapsed, count[0]


def idle_cycle_over_big_ledger(records: int, concurrency: int) -> tuple[float, float]:
    """Seconds of a ``sync --once`` in which nothing changed, over a ledger of ``records`` delivered
    inspections (bulk-built: snapshots + deliveries), and the seconds it took to build."""
    from datetime import datetime

    from sqlalchemy import insert

    from sync.ledger import Ledger
    from sync.ledger.schema import deliveries, make_engine, upgrade
    from sync.ledger.schema import records as records_t

    sims = Simulators(1000)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), sims, concurrency)
            engine = make_engine(f"sqlite:///{Path(tmp) / 'ledger.db'}")
            upgrade(engine)
            started = time.monotonic()
            now = datetime.now().replace(microsecond=0)
            body = json.dumps({"id": "x", "status": "submitted"})
            with engine.begin() as conn:
                for start in range(0, records, 50_000):
                    chunk = range(start, min(records, start + 50_000))
                    conn.execute(
                        insert(records_t),
                        [
                            {
                                "system": "district",
                                "kind": "inspection",
                                "source_id": f"B{i:08d}",
                                "status": "submitted",
                                "record_hash": "h",
                                "body": body,
                                "first_seen": now,
                                "last_seen": now,
                                "natural_key": f"k{i}",
                            }
                            for i in chunk
                        ],
                    )
                    conn.execute(
                        insert(deliveries),
                        [
                            {
                                "system": "district",
                                "kind": "inspection",
                                "source_id": f"B{i:08d}",
                                "target": "municipal",
                                "target_id": f"JC{i:08d}",
                                "payload_hash": "p",
                                "state": "delivered",
                                "last_action": "created",
                                "linked": False,
                                "first_delivered_at": now,
                                "delivered_at": now,
                                "updated_at": now,
                            }
                            for i in chunk
                        ],
                    )
            built = time.monotonic() - started
            Ledger(engine).set_cursor(
                "district-inspections", {"ts": now.strftime("%Y-%m-%d %H:%M:%S"), "ids": []}
            )
            engine.dispose()
            secs, _, _ = run_daemon(config, "district-inspections")
            return secs, built
    finally:
        sims.stop()


def _has_dlt() -> bool:
    try:
        import dlt  # noqa: F401
    except ImportError:
        print("dlt is not installed (pip install 'zhifa-sync[bench]'): skipping the dlt contender")
        return False
    return True


def _rusage_s(children: bool) -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CONTENDERS = ("ours", "ceiling", "script", "dlt")
LABELS = {"ours": "zhifa-sync", "ceiling": "ceiling loop", "script": "script loop", "dlt": "dlt"}


def run_one(who: str, size: int, concurrency: int) -> dict[str, Any]:
    """One contender against freshly started simulators: records/s, and for zhifa-sync its memory and
    the nothing-changed cycle over the ledger it has just filled."""
    sims = Simulators(size)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out: dict[str, Any] = {}
            sim_cpu, own_cpu, child_cpu = cpu_of(sims.proc.pid), _rusage_s(False), _rusage_s(True)
            if who == "ceiling":
                secs, n = ceiling_loop(sims, concurrency)
            elif who == "script":
                secs, n = bare_loop(sims, concurrency)
            elif who == "dlt":
                secs, n = dlt_peer(sims, concurrency, Path(tmp))
            else:
                config = write_config(Path(tmp), sims, concurrency)
                secs, peak, samples = run_daemon(config, "district-inspections")
                cpu = _rusage_s(True) - child_cpu  # the daemon, reaped; the simulators still run
                n = delivered(Path(tmp))
                if n < size * 0.97:  # drafts are ~2%: anything less means the run broke
                    raise RuntimeError(f"zhifa-sync delivered only {n} of {size}")
                # RSS at a quarter, half, three quarters and the end of the run: flat means streaming
                quarters = [samples[min(len(samples) - 1, len(samples) * q // 4)] for q in (1, 2, 3, 4)]
                idle_secs, _, _ = run_daemon(config, "district-inspections")
                out.update(peak_mb=peak / 1024, quarters_mb=[q / 1024 for q in quarters], idle_s=idle_secs)
            if who != "ours":
                cpu = _rusage_s(False) - own_cpu  # the loop ran in this process
            out.update(
                secs=secs,
                n=n,
                rate=n / secs,
                cpu_ms=cpu / n * 1000,
                sim_cpu_ms=(cpu_of(sims.proc.pid) - sim_cpu) / n * 1000,
            )
            return out
    finally:
        sims.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make bench")
    ap.add_argument("--sizes", default="20000,100000", help="backfill sizes (inspections)")
    ap.add_argument("--repeats", default="3,1", help="runs of each contender per size, alternating")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="ours (zhifa-sync), ceiling (pages prefetched, workers on one queue, pooled transport), "
        "script (httpx.Client and a thread pool per page), dlt",
    )
    ap.add_argument(
        "--idle-ledger",
        type=int,
        default=1_000_000,
        help="records in a bulk-built ledger for the nothing-changed cycle (0: skip)",
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    repeats = [int(r) for r in args.repeats.split(",")]
    repeats += [repeats[-1]] * (len(sizes) - len(repeats))
    contenders = [c for c in args.contenders.split(",") if c != "dlt" or _has_dlt()]
    if "ceiling" not in contenders:
        raise SystemExit("the ceiling loop is what the others are measured against: keep it in --contenders")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}; concurrency {args.concurrency}, pages of 500"
    )
    rows = []
    cpus: list[tuple[int, dict[str, float]]] = []
    for size, reps in zip(sizes, repeats, strict=True):
        got: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
        for rep in range(reps):
            for who in contenders if rep % 2 == 0 else contenders[::-1]:
                result = run_one(who, size, args.concurrency)
                got[who].append(result)
                extra = ""
                if "peak_mb" in result:
                    extra = f", peak RSS {result['peak_mb']:.0f} MB, RSS by quarter " + "/".join(
                        f"{q:.0f}" for q in result["quarters_mb"]
                    )
                print(
                    f"  {size:,} run {rep + 1} {LABELS[who]}: {result['n']:,} records in {result['secs']:.1f} s"
                    f" = {result['rate']:,.0f}/s; CPU {result['cpu_ms']:.2f} ms/record "
                    f"(simulators {result['sim_cpu_ms']:.2f}){extra}",
                    flush=True,
                )
        med = {c: statistics.median(r["rate"] for r in got[c]) for c in contenders}
        cpu = {c: statistics.median(r["cpu_ms"] for r in got[c]) for c in contenders}
        rows.append((size, reps, med, got.get("ours", [])))
        cpus.append((size, cpu))
    head = " | ".join(f"{LABELS[c]} rec/s" for c in contenders)
    ratios = " | ".join(f"{LABELS[c]} / ceiling" for c in contenders if c != "ceiling")
    print(f"\n| inspections | runs | {head} | {ratios} | zhifa-sync peak RSS MB | no-change cycle s |")
    print("|---:" * (4 + 2 * len(contenders) - 1) + "|")
    for size, reps, med, ours in rows:
        rates = " | ".join(f"{med[c]:,.0f}" for c in contenders)
        rel = " | ".join(f"{med[c] / med['ceiling']:.0%}" for c in contenders if c != "ceiling")
        mem = f"{max(r['peak_mb'] for r in ours):.0f}" if ours else "–"
        idle = f"{statistics.median(r['idle_s'] for r in ours):.2f}" if ours else "–"
        print(f"| {size:,} | {reps} | {rates} | {rel} | {mem} | {idle} |")
    print("\nmedians of alternating runs; simulators in a separate process, rate limits off")
    print(
        f"\nCPU per record (ms, user + system, the contender's own process; medians)\n\n| inspections | {' | '.join(LABELS[c] for c in contenders)} |"
    )
    print("|---:" * (1 + len(contenders)) + "|")
    for size, cpu in cpus:
        print(f"| {size:,} | " + " | ".join(f"{cpu[c]:.2f}" for c in contenders) + " |")
    if args.idle_ledger:
        secs, built = idle_cycle_over_big_ledger(args.idle_ledger, args.concurrency)
        print(
            f"\nnothing-changed cycle over a ledger of {args.idle_ledger:,} records: {secs:.2f} s "
            f"(the whole `zhifa-sync sync --once` process, start-up included; ledger built in {built:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
