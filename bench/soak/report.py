"""What the soak found, and the report ``python -m bench.soak`` prints of it."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.soak.count import Row
from bench.soak.world import CREDIT_EVENTS, TIMEOUT_S, faults_on
from simulators import datagen


@dataclass
class Soak:
    """The counts of the run: kills, runs, faults injected, rows per target, time by phase."""

    kills: int = 0
    finished_runs: int = 0
    push_processes: Counter[str] = field(default_factory=Counter)  # events of the daemons' push processes
    clean_runs: int = 0
    converged: bool = False
    paused_s: float = 0.0
    backlog_at_resume: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    killed_in: Counter[str] = field(default_factory=Counter)
    rows: list[Row] = field(default_factory=list)
    left: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.converged and all(r.ok for r in self.rows)


def report(args: argparse.Namespace, data: datagen.Dataset, soak: Soak) -> str:
    f = soak.faults
    spec = faults_on(args.seed, json.loads(args.faults))
    knobs = "; ".join(
        f"{system} " + ", ".join(f"{k}={v}" for k, v in sorted(ks.items()) if k != "seed")
        for system, ks in spec.items()
    )
    d, m, c = f.get("district", {}), f.get("municipal", {}), f.get("credit", {})
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"data: {len(data.inspections):,} inspections, {len(data.penalties):,} penalties, "
        f"{len(data.city_inspections)}+{len(data.city_penalties)} city records ({len(data.twins)} hand-typed twins), "
        f"{len(data.bad_ids)} invalid, {CREDIT_EVENTS} credit events; seed {args.seed}",
        f"faults: {knobs}; the daemon's HTTP timeout {TIMEOUT_S:g} s",
        f"daemon: {soak.kills} SIGKILLs ({', '.join(f'{n} in {p}' for p, n in soak.killed_in.items())}), {soak.finished_runs} runs finished under faults, "
        f"{soak.clean_runs} runs after the faults were switched off ({'converged' if soak.converged else 'NOT converged: ' + json.dumps(soak.left)})",
        f"push processes (municipal, pages of 250): {soak.push_processes['push_process_started']} started, "
        f"{soak.push_processes['push_process_ready']} ready, {soak.push_processes['push_process_lost']} lost",
        "",
        "| faults injected | 5xx / 503 | timeouts (held > client timeout) | dropped after store | rate limited "
        "| token expired (401) | signature rejected (401) | E5000 系统繁忙 | calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| district | {d.get('5xx', 0)} | {d.get('slow', 0)} | {d.get('drop', 0)} | {d.get('429', 0)} | "
        f"{d.get('401', 0)} | – | – | {soak.calls.get('district', 0):,} |",
        f"| municipal | {m.get('5xx', 0)} | {m.get('slow', 0)} | {m.get('drop', 0)} | {m.get('E4290', 0)} | – | – "
        f"| {m.get('E5000', 0)} | {soak.calls.get('municipal', 0):,} |",
        f"| credit | {c.get('errors_injected', 0)} | {c.get('slow_injected', 0)} | {c.get('dropped_after_store', 0)} "
        f"| {c.get('rate_limited', 0)} | – | {c.get('signature_rejected_injected', 0)} | – | {soak.calls.get('credit', 0):,} |",
        f"| hlwjg 前置库 | collector paused {soak.paused_s:.0f} s, {soak.backlog_at_resume:,} rows waiting at resume "
        "| | | | | | | |",
        "",
        "| target | counted by | expected | present | missing | duplicated | unexpected | wrong state |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in soak.rows:
        lines.append(
            f"| {r.target} | {r.key} | {r.expected:,} | {r.present:,} | {r.missing} | {r.duplicated} "
            f"| {r.unexpected} | {r.wrong_state} |"
        )
    t = soak.timings
    lines += [
        "",
        f"time: {t.get('total', 0):.0f} s — start {t.get('start', 0):.1f} s, faults and kills {t.get('faults', 0):.0f} s, "
        f"clean runs {t.get('clean', 0):.0f} s, counting {t.get('count', 0):.1f} s",
        f"verdict: {'PASS — every record on every target exactly once' if soak.ok else 'FAIL'}",
    ]
    return "\n".join(lines)
