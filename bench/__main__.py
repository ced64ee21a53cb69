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
import dataclasses
import sys
import tempfile
from pathlib import Path

from bench.backfill import PIPELINE, delivered, ledger_url, start_simulators, write_config
from bench.contenders import ceiling_loop, dlt_peer, has_dlt, script_loop
from bench.idle import idle_cycle_over_big_ledger
from bench.measure import cpu_of, run_daemon, rusage_s
from bench.table import RunResult, SizeResults, machine, run_line, tables
from simulators.harness import Simulators

CONTENDERS = ("ours", "ceiling", "script", "dlt")


def run_one(who: str, size: int, concurrency: int, backend: str = "sqlite") -> RunResult:
    """One contender against freshly started simulators: records/s, and for zhifa-sync its memory and
    the nothing-changed cycle over the ledger it has just filled."""
    with start_simulators(size) as sims, tempfile.TemporaryDirectory() as tmp:
        sim_cpu = cpu_of(sims.proc.pid)
        if who == "ours":
            with ledger_url(Path(tmp), backend) as url:
                result = _ours(sims, size, concurrency, Path(tmp), url)
        else:
            result = _loop(who, sims, concurrency, Path(tmp))
        return dataclasses.replace(result, sim_cpu_ms=(cpu_of(sims.proc.pid) - sim_cpu) / result.n * 1000)


def _loop(who: str, sims: Simulators, concurrency: int, tmp: Path) -> RunResult:
    """A loop in this process: its CPU is this process's."""
    own_cpu = rusage_s(False)
    if who == "dlt":
        loop = dlt_peer(sims, concurrency, tmp)
    else:
        loop = {"ceiling": ceiling_loop, "script": script_loop}[who](sims, concurrency)
    return RunResult(loop.n, loop.secs, cpu_ms=(rusage_s(False) - own_cpu) / loop.n * 1000, sim_cpu_ms=0)


def _ours(sims: Simulators, size: int, concurrency: int, tmp: Path, db_url: str) -> RunResult:
    """The real ``zhifa-sync sync --once``, then the same again with nothing changed."""
    child_cpu = rusage_s(True)
    config = write_config(tmp, sims, concurrency, db_url)
    run = run_daemon(config, PIPELINE)
    cpu = rusage_s(True) - child_cpu  # the daemon, reaped; the simulators still run
    n = delivered(db_url)
    if n < size * 0.97:  # drafts are ~2%: anything less means the run broke
        raise RuntimeError(f"zhifa-sync delivered only {n} of {size}")
    # RSS at a quarter, half, three quarters and the end of the run: flat means streaming
    samples = run.samples
    quarters = [samples[min(len(samples) - 1, len(samples) * q // 4)] for q in (1, 2, 3, 4)]
    idle = run_daemon(config, PIPELINE)
    return RunResult(
        n,
        run.secs,
        cpu_ms=cpu / n * 1000,
        sim_cpu_ms=0,
        peak_mb=run.peak_kb / 1024,
        quarters_mb=tuple(q / 1024 for q in quarters),
        idle_s=idle.secs,
    )


def parser() -> argparse.ArgumentParser:
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
        "--ledger", choices=["sqlite", "postgresql"], default="sqlite", help="zhifa-sync's ledger"
    )
    ap.add_argument(
        "--idle-ledger",
        type=int,
        default=1_000_000,
        help="records in a bulk-built ledger for the nothing-changed cycle (0: skip)",
    )
    return ap


def run_size(size: int, repeats: int, contenders: list[str], concurrency: int, backend: str) -> SizeResults:
    """Every contender ``repeats`` times at one size, the order reversed every other round."""
    got = SizeResults(size, repeats, {c: [] for c in contenders})
    for rep in range(repeats):
        for who in contenders if rep % 2 == 0 else contenders[::-1]:
            result = run_one(who, size, concurrency, backend)
            got.runs[who].append(result)
            print(run_line(size, rep, who, result), flush=True)
    return got


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    repeats = [int(r) for r in args.repeats.split(",")]
    repeats += [repeats[-1]] * (len(sizes) - len(repeats))
    contenders = [c for c in args.contenders.split(",") if c != "dlt" or has_dlt()]
    if "ceiling" not in contenders:
        print("without the ceiling loop: absolute figures only (no share of the ceiling)")
    print(machine(args.concurrency) + f"; ledger on {args.ledger}")
    results = [
        run_size(size, reps, contenders, args.concurrency, args.ledger)
        for size, reps in zip(sizes, repeats, strict=True)
    ]
    print(tables(contenders, results))
    if args.idle_ledger:
        idle = idle_cycle_over_big_ledger(args.idle_ledger, args.concurrency, args.ledger)
        print(
            f"\nnothing-changed cycle over a ledger of {args.idle_ledger:,} records: {idle.secs:.2f} s "
            f"(the whole `zhifa-sync sync --once` process, start-up included; ledger built in {idle.built_s:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
