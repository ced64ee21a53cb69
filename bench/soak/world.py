"""The soak's world: the four simulators in their own process with every fault on, and the daemon's
config for all five flows (as ``make demo`` has them), with short timeouts and back-off."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from simulators import daemon_config, datagen, harness

TIMEOUT_S = 1.5  # the daemon's HTTP timeout; a held answer waits longer than that
SLOW_MS = 2000
COLLECTOR_INTERVAL_S = 1.0
HAND_TYPED_SHARE = 0.05
BAD_RECORDS = 2
CREDIT_EVENTS = 24
SECRETS = daemon_config.secrets_env()


def faults_on(seed: int, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The knobs of the fault phase, per simulator (``extra`` merged over them)."""
    spec = _faults(seed)
    for system, knobs in (extra or {}).items():
        spec[system] = {**spec[system], **knobs}
    return spec


def _faults(seed: int) -> dict[str, dict[str, Any]]:
    common = {"error_rate": 0.10, "slow_rate": 0.05, "slow_ms": SLOW_MS, "drop_after_store_rate": 0.05}
    return {
        # documented 20 calls/s per token; tokens die after 5 s although expires_in says 7200
        "district": {**common, "rate_limits": True, "token_ttl_s": 5, "seed": seed},
        # the documented 10 calls/s would make the soak take many minutes: a lower ceiling than the
        # daemon's pace still answers E4290 often
        "municipal": {**common, "rate_limits": True, "rate_limit_per_s": 60, "seed": seed + 1},
        # the documented 5 calls/s (the daemon keeps to 4 of its own accord); 401 once in a while
        "credit": {**common, "rate_limits": True, "reject_signature_once_rate": 0.2},
    }


FAULTS_OFF: dict[str, dict[str, Any]] = {
    "district": {"error_rate": 0, "slow_rate": 0, "drop_after_store_rate": 0, "rate_limits": False,
                 "token_ttl_s": None},
    "municipal": {"error_rate": 0, "slow_rate": 0, "drop_after_store_rate": 0, "rate_limits": False},
    "credit": {"error_rate": 0, "slow_rate": 0, "drop_after_store_rate": 0, "rate_limits": False,
               "reject_signature_once_rate": 0},
}  # fmt: skip


def plan(state: Path, args: argparse.Namespace) -> harness.Plan:
    """All four systems with the fault knobs on, the 前置库 a SQLite file in ``state``."""
    return harness.Plan(
        systems=harness.SYSTEMS,
        inspections=args.inspections,
        penalties=args.penalties,
        seed=args.seed,
        hand_typed_share=HAND_TYPED_SHARE,
        bad_records=BAD_RECORDS,
        credit_events=CREDIT_EVENTS,
        faults=faults_on(args.seed, json.loads(args.faults)),
        exchange_url=f"sqlite:///{state / 'qianzhiku.db'}",
        collector_interval_s=COLLECTOR_INTERVAL_S,
    )


def dataset(args: argparse.Namespace) -> datagen.Dataset:
    """The data set the simulators serve (generated from the same plan in their process)."""
    return plan(Path(), args).dataset()


def start_simulators(state: Path, args: argparse.Namespace) -> harness.Process:
    """Start the four simulators on free ports with the fault knobs on; returns once all of them answer.

    They run in their own process (the 前置库 collector included), so they outlive the kills; their
    output goes to ``simulators.log`` in ``state``."""
    return harness.start_process(plan(state, args), log=state / "simulators.log")


def write_config(state: Path, sims: harness.Simulators, year: int) -> Path:
    """All five flows as ``make demo`` configures them; short timeouts and back-off for a quick soak."""
    mappings = daemon_config.copy_mappings(state / "mappings")
    knobs = daemon_config.Knobs(
        retry=daemon_config.Retry(attempts=5, initial_wait_s=0.05, max_wait_s=1.0),
        timeout_s=TIMEOUT_S,
        concurrency=8,
        # district and municipal unpaced (the simulators' limits answer E4290 / 429 instead), credit
        # paced above its 5 calls/s: more calls, some of them 429. Named in full: a key left out here
        # falls back to the daemon's default, the documented limit (municipal 10/s: 40 s per 400 records)
        rate_limit_per_s={"district": 0, "municipal": 0, "credit": 8},
        # pages of 250 from the district: big enough that municipal is pushed from a push process
        # (sync/push_process.py), which the kills then hit too
        batch_size={"district": 250, "municipal": 100, "credit": 100},
        start=f"{year}-01-01 00:00:00",
        clock_margin_s=0,  # the simulators share one clock
    )
    config = daemon_config.build(
        sims.urls,
        db_url=f"sqlite:///{state / 'ledger.db'}",
        mappings_dir=mappings,
        flows=daemon_config.FLOWS,
        knobs=knobs,
        # small batches, so that the credit platform's faults get their chance
        systems={"credit": {"batch_size": 5}},
        extra={"holidays_file": str(mappings / "holidays.csv")},
    )
    return daemon_config.write(config, state / "zhifa-sync.yaml")
