"""The kill phase: ``zhifa-sync sync --once`` started and SIGKILLed at the next mark, again and again,
with the 前置库 collector paused for part of the time."""

from __future__ import annotations

import argparse
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.soak.expect import Expected
from bench.soak.ledger import LAST_RUN, PROGRESS, ledger_count, running, runs_after
from bench.soak.report import Soak
from simulators.harness import Simulators, zhifa

LATE_PIPELINES = ("district-penalties", "city-inspections", "city-penalties", "credit-events")


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a kill lands: once the ledger holds ``rows`` deliveries, or once ``pipeline`` runs."""

    rows: float = 0
    pipeline: str | None = None

    def reached(self, state: Path, after: int) -> bool:
        if self.pipeline is None:
            return ledger_count(state, PROGRESS) >= self.rows
        return running(state, after) == self.pipeline


def kill_marks(rng: random.Random, kills: int, exp: dict[str, Expected]) -> list[Mark]:
    """Where each kill lands: most at random points of the inspections' backfill (a number of ledger
    rows to wait for), the last third somewhere in the pipelines that run after it."""
    rows = sum(exp[k].total + len(exp[k].absent_or_withdrawn) for k in ("municipal/jcjl", "hlwjg/check"))
    late = kills // 3
    early = sorted(rng.uniform(0.02, 0.9) * rows for _ in range(kills - late))
    return [Mark(rows=n) for n in early] + [
        Mark(pipeline=LATE_PIPELINES[n % len(LATE_PIPELINES)]) for n in range(late)
    ]


def pending(sims: Simulators) -> int:
    """Rows waiting in the 前置库 for the collector."""
    stats = sims.get("hlwjg", "/_sim/hlwjg/stats")
    return sum(t["pending"] for t in stats["tables"].values())


class _Pause:
    """The collector stopped for a while ("the platform stopped for hours"); how long, and the backlog."""

    def __init__(self, sims: Simulators, result: Soak) -> None:
        self.sims, self.result = sims, result
        self.since: float | None = None

    def start(self) -> None:
        self.sims.post("hlwjg", "/_sim/hlwjg/pause")
        self.since = time.monotonic()

    def end(self) -> None:
        if self.since is None:
            return
        self.result.backlog_at_resume = pending(self.sims)
        self.sims.post("hlwjg", "/_sim/hlwjg/resume")
        self.result.paused_s, self.since = time.monotonic() - self.since, None


def kill_phase(
    args: argparse.Namespace,
    state: Path,
    sims: Simulators,
    config: Path,
    exp: dict[str, Expected],
    result: Soak,
) -> None:
    """Start ``sync --once`` and SIGKILL it at the next mark, ``args.kills`` times; the 前置库 collector is
    paused from the second process until the last one that is killed."""
    rng = random.Random(args.seed)
    marks = kill_marks(rng, args.kills, exp)
    resume_at = max(2, args.kills)
    pause = _Pause(sims, result)
    procs = 0
    while result.kills < args.kills and procs < 4 * args.kills:
        if procs == 1:
            pause.start()
        if procs == resume_at:
            pause.end()
        procs += 1
        _one_process(state, config, marks[result.kills], rng, result)
    pause.end()


def _one_process(state: Path, config: Path, mark: Mark, rng: random.Random, result: Soak) -> None:
    """One ``sync --once``, SIGKILLed a random moment after it reaches ``mark`` (unless it ends first)."""
    after = ledger_count(state, LAST_RUN)
    proc = zhifa(config, "sync", "--once", log=state / "daemon.log")
    deadline = time.monotonic() + 120
    while proc.poll() is None and not mark.reached(state, after) and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is None:
        try:  # from the page just committed, or the start of the pipeline, to wherever it is now
            proc.wait(rng.uniform(0.0, 1.5))
        except subprocess.TimeoutExpired:
            proc.kill()
            result.kills += 1
            where = running(state, after) or ("between pipelines" if runs_after(state, after) else "start-up")
            result.killed_in[where] += 1
        proc.wait()
    if proc.returncode >= 0:
        result.finished_runs += 1
