"""``make soak``: every flow under faults, the daemon SIGKILLed mid-backfill; then count every target.

    python -m bench.soak [--inspections 3000] [--penalties N] [--kills 8] [--seed 2025] [--state-dir DIR]
    python -m bench.soak --seeds 1-10 [...]     # once per seed, then one table (``make soak SEEDS=1-10``)

The four simulated systems run in their own process (``python -m simulators serve``, the 前置库
collector included), so they outlive the kills. With faults on in all of them — 5xx, answers held
beyond the daemon's timeout, connections dropped after the change was stored, rate limits, district
tokens expiring early, credit signatures rejected once, the collector paused for part of the time —
``zhifa-sync sync --once`` (all five flows, configured as ``make demo`` does) runs as a real process
and is SIGKILLed at random moments of a full-year backfill, then restarted, ``--kills`` times; one
more run under faults finishes on its own. Then the faults are switched off and runs repeat until one
reports nothing failed and nothing left to retry, the collector has caught up and its feedback is read.

Each target is then counted from the simulators' own stores against sets derived independently from
the generated data set and the documented rules. Exit code 1 unless nothing is missing, duplicated,
unexpected or in the wrong state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.soak.count import Row, compare, count_targets, key_surplus
from bench.soak.expect import Expected, city_record_ids, expectations
from bench.soak.kills import kill_phase, pending
from bench.soak.ledger import AWAITING_FEEDBACK, TO_RETRY, ledger_count
from bench.soak.report import Soak, report
from bench.soak.seeds import parse_seeds, run_seeds, table
from bench.soak.world import FAULTS_OFF, SECRETS, dataset, faults_on, start_simulators, write_config
from simulators import daemon_config, datagen
from simulators.credit_rules import normalise_wsh
from simulators.harness import Simulators, wait_for, zhifa

__all__ = ["FAULTS_OFF", "SECRETS", "Expected", "Row", "Soak", "city_record_ids", "compare", "count_targets",
           "dataset", "expectations", "faults_on", "key_surplus", "main", "normalise_wsh", "parse_seeds",
           "parser", "report", "run", "start_simulators", "write_config"]  # fmt: skip


def run(args: argparse.Namespace, state: Path, data: datagen.Dataset) -> Soak:
    """Faults on, kills, one run to the end under faults; faults off, runs until clean; count."""
    result = Soak()
    exp = expectations(data, city_record_ids(data))
    os.environ.update(SECRETS)
    started = time.monotonic()
    with start_simulators(state, args) as sims:
        os.environ.update(daemon_config.secrets_env(sims.exchange_url))
        config = write_config(state, sims, data.year)
        result.timings["start"] = time.monotonic() - started
        kill_phase(args, state, sims, config, exp, result)
        _finish_under_faults(state, config, result)
        result.timings["faults"] = time.monotonic() - started - result.timings["start"]
        _read_fault_counts(sims, result)
        sims.set_faults(FAULTS_OFF)
        phase = time.monotonic()
        _clean_runs(args, state, sims, config, result)
        result.timings["clean"] = time.monotonic() - phase
        phase = time.monotonic()
        result.rows = count_targets(sims, data, exp)
        result.timings["count"] = time.monotonic() - phase
        _count_push_processes(state / "daemon.log", result)
    result.timings["total"] = time.monotonic() - started
    return result


def _finish_under_faults(state: Path, config: Path, result: Soak) -> None:
    """The rest of the backfill, still under faults, in one run left to end on its own."""
    proc = zhifa(config, "sync", "--once", log=state / "daemon.log")
    try:
        proc.wait(900)
        result.finished_runs += 1
    except subprocess.TimeoutExpired:  # the clean runs carry on from where it was
        proc.kill()
        proc.wait()


def _read_fault_counts(sims: Simulators, result: Soak) -> None:
    """The faults each simulator injected, and the calls it answered."""
    for system in ("district", "municipal"):
        stats = sims.get(system, "/_sim/stats")
        result.faults[system], result.calls[system] = stats["faults"], sum(stats["calls"].values())
    result.faults["credit"] = sims.get("credit", "/_sim/stats")
    result.calls["credit"] = result.faults["credit"].get("calls", 0)


def _clean_runs(args: argparse.Namespace, state: Path, sims: Simulators, config: Path, result: Soak) -> None:
    """Runs without faults until one reports nothing failed and nothing is left to retry or to hear back on."""
    for _ in range(args.max_clean_runs):
        rc = zhifa(config, "sync", "--once", log=state / "daemon.log").wait(900)
        result.clean_runs += 1
        wait_for(lambda: pending(sims) == 0, 60, "the 前置库 collector to catch up", every=0.2)
        result.left = {
            "to_retry": ledger_count(state, TO_RETRY),
            "awaiting_feedback": ledger_count(state, AWAITING_FEEDBACK),
        }
        if rc == 0 and not any(result.left.values()):
            result.converged = True
            return


def _count_push_processes(log: Path, result: Soak) -> None:
    """The push processes' events in the daemons' log (started, ready, lost)."""
    for line in log.read_text(encoding="utf-8").splitlines():
        if '"push_process_' in line:
            with contextlib.suppress(ValueError):
                result.push_processes[json.loads(line).get("event", "?")] += 1


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0] if __doc__ else None
    )
    ap.add_argument("--inspections", type=int, default=3000, help="district inspections (14000: a full year)")
    ap.add_argument("--penalties", type=int, default=None, help="default: one per 30 inspections")
    ap.add_argument("--kills", type=int, default=8, help="SIGKILLs of the daemon during the backfill")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--seeds", default=None, help="run once per seed, e.g. 1-10 or 4,5,777; then one table")
    ap.add_argument("--max-clean-runs", type=int, default=6, help="runs without faults before giving up")
    ap.add_argument("--state-dir", default=None, help="keep simulators' files, ledger and logs here")
    ap.add_argument(
        "--faults",
        default="{}",
        help='knobs merged over the defaults, e.g. \'{"district": {"error_rate": 0.3}}\'',
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.seeds:
        results = run_seeds(args, run, dataset, report)
        print(table(results))
        return 0 if all(r.soak.ok for r in results) else 1
    state = Path(args.state_dir) if args.state_dir else Path(tempfile.mkdtemp(prefix="zhifa-soak-"))
    state.mkdir(parents=True, exist_ok=True)
    data = dataset(args)
    soak = run(args, state, data)
    print(report(args, data, soak))
    if soak.ok and not args.state_dir:
        shutil.rmtree(state, ignore_errors=True)
    else:
        print(f"state kept in {state} (daemon.log, simulators.log, ledger.db, qianzhiku.db)")
    return 0 if soak.ok else 1


if __name__ == "__main__":
    sys.exit(main())
