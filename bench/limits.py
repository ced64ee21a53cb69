"""``make bench-limits``: zhifa-sync at the platforms' documented rate limits, as in production.

The simulators run in their own process with their rate limits on (municipal 10 calls/s per appKey,
credit 5 calls/s of up to 200 records, district 20 calls/s per token) and the real ``zhifa-sync
run`` service reads the district and sends inspections to the municipal system and penalties to the
credit platform. Two phases:

1. **backfill**: everything the district holds. Per target: calls per second over its busy window
   as a share of its limit (goal ≥ 95 %), and the rate-limit answers received (goal 0).
2. **live edits**: every schedule interval officers edit a burst of records at the district. Per
   target, each edit's freshness — from its ``updated_at`` at the district to delivered at the target
   (the ledger's delivery time) — p50/p95/max; goal: p95 within one schedule interval plus the time
   the limit itself imposes on a burst (burst ÷ records per second the limit allows).

The call counts come from the simulators' ``/_sim/stats``, read every half second while it runs.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.contract.clock import BEIJING, beijing_now
from simulators import daemon_config, harness
from simulators.harness import terminate, zhifa

START = "2020-01-01 00:00:00"


@dataclass(frozen=True, slots=True)
class Target:
    """A target as the bench watches it: its documented limit and how its simulator counts calls."""

    name: str
    pipeline: str
    limit_per_s: float
    records_per_call: int
    calls: Callable[[dict[str, Any]], int]  # write calls so far, from /_sim/stats
    limited: Callable[[dict[str, Any]], int]  # rate-limit answers so far


def _sim_fault(kind: str) -> Callable[[dict[str, Any]], int]:
    return lambda stats: int(stats.get("faults", {}).get(kind, 0))


def _all_calls(stats: dict[str, Any]) -> int:
    """Every API call counts against the limit (reads and writes alike), as the platforms count."""
    calls = stats.get("calls", 0)
    return sum(int(v) for v in calls.values()) if isinstance(calls, dict) else int(calls)


TARGETS = (
    Target("municipal", "district-inspections", 10, 1, _all_calls, _sim_fault("E4290")),
    Target("credit", "district-penalties", 5, 200, _all_calls, lambda s: int(s.get("rate_limited", 0))),
)
SOURCE_LIMIT = ("district", 20.0)


@dataclass
class Timeline:
    """``/_sim/stats`` of each system, sampled with the monotonic time of the sample."""

    samples: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)

    def watch(self, sims: harness.Simulators, systems: list[str], stop: threading.Event) -> None:
        while not stop.is_set():
            for system in systems:
                try:
                    stats = sims.get(system, "/_sim/stats")
                except Exception:  # a sample missed under load: the next one counts
                    continue
                self.samples.setdefault(system, []).append((time.monotonic(), stats))
            stop.wait(0.5)

    def busy(
        self, system: str, count: Callable[[dict[str, Any]], int], since: float, until: float
    ) -> tuple[int, float]:
        """Calls made and seconds taken while the target was kept busy: the longest stretch of samples
        in which the count grew from each to the next, without its first and last half second (partly
        idle: the stretch began and ended somewhere inside them). A lone call later (the next run
        looking for work) does not stretch the window."""
        points = [(t, count(s)) for t, s in self.samples.get(system, []) if since <= t <= until]
        best: tuple[int, int] = (0, 0)  # the longest run of growing intervals, as point indexes
        start = 0
        for i in range(1, len(points) + 1):
            if i == len(points) or points[i][1] <= points[i - 1][1]:
                if i - 1 - start > best[1] - best[0]:
                    best = (start, i - 1)
                start = i
        first, last = best[0] + 1, best[1] - 1  # without the stretch's first and last interval
        if last <= first:
            return 0, 0.0
        (t0, c0), (t1, c1) = points[first], points[last]
        return c1 - c0, t1 - t0

    def last(self, system: str, count: Callable[[dict[str, Any]], int]) -> int:
        samples = self.samples.get(system, [])
        return count(samples[-1][1]) if samples else 0


def _config(tmp: Path, sims: harness.Simulators, interval_s: float, inspections_from: str) -> Path:
    """The service's config: inspections to the municipal system from ``inspections_from`` on (so that
    both backfills take about as long), penalties to the credit platform from the start; every system
    at its default pace, which is its documented limit."""
    pipelines: list[dict[str, Any]] = [
        {
            "name": "district-inspections",
            "source": "district",
            "kind": "inspection",
            "targets": ["municipal"],
        },
        {"name": "district-penalties", "source": "district", "kind": "penalty", "targets": ["credit"]},
    ]
    for p, start in zip(pipelines, (inspections_from, START), strict=True):
        p |= {"start": start, "lag_s": 0, "schedule": {"interval_minutes": interval_s / 60}}
    config = daemon_config.build(
        sims.urls,
        db_url=f"sqlite:///{tmp / 'ledger.db'}",
        mappings_dir=daemon_config.REPO_MAPPINGS,
        pipelines=pipelines,
        knobs=daemon_config.Knobs(start=START, lag_s=0, rate_limit_per_s={}),
    )
    return daemon_config.write(config, tmp / "zhifa-sync.yaml")


def _delivered(ledger: Path, target: str) -> int:
    with sqlite3.connect(ledger) as conn:
        row = conn.execute(
            "select count(*) from deliveries where target=? and state='delivered'", (target,)
        ).fetchone()
        return int(row[0])


def _caught_up(ledger: Path, after: datetime) -> bool:
    """Every pipeline's latest run, begun after ``after``, ended having sent nothing: all is delivered."""
    if not ledger.exists():
        return False
    with sqlite3.connect(ledger) as conn:
        try:
            rows = conn.execute(
                "select pipeline, status, created + updated + linked + withdrawn + failed from runs r"
                " where started_at = (select max(started_at) from runs where pipeline = r.pipeline)"
            ).fetchall()
            started = dict(
                conn.execute("select pipeline, max(started_at) from runs group by pipeline").fetchall()
            )
        except sqlite3.OperationalError:  # not migrated yet
            return False
    done = {p for p, status, sent in rows if status == "ok" and sent == 0}
    fresh = {p for p, at in started.items() if datetime.fromisoformat(at) > after}
    return {t.pipeline for t in TARGETS} <= (done & fresh)


def _wait_caught_up(ledger: Path, timeout_s: float) -> None:
    """Until a run of every pipeline that began after now has found nothing more to send."""
    after = beijing_now()  # the ledger's clock: naive Beijing time
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _caught_up(ledger, after):
            return
        time.sleep(0.5)
    raise TimeoutError(f"not caught up after {timeout_s:.0f} s")


def _edit_burst(sims: harness.Simulators, ids: dict[str, list[str]], burst: int, round_no: int) -> None:
    """``burst`` inspections and ``burst`` penalties edited at the district, as officers would."""
    for kind, change in (("inspections", "ended_at"), ("penalties", "facts")):
        for rid in ids[kind][round_no * burst : (round_no + 1) * burst]:
            rec = sims.get("district", f"/_sim/{kind}/{rid}")
            if change == "facts":
                body = {"facts": rec["facts"].rstrip("。") + f"（第{round_no + 1}次更正）。"}
            else:  # one more minute of inspection
                body = {"ended_at": rec["ended_at"][:-2] + f"{(int(rec['ended_at'][-2:]) + 1) % 60:02d}"}
            sims.post("district", f"/_sim/{kind}/{rid}", body)


def _freshness(ledger: Path, target: str, since: datetime) -> list[float]:
    """Seconds from the district's ``updated_at`` to delivered, for records edited after ``since``.

    Both are naive Beijing wall time (connectors/contract/clock.py)."""
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute(
            "select r.source_updated_at, d.delivered_at from deliveries d join records r"
            " on r.system=d.system and r.kind=d.kind and r.source_id=d.source_id"
            " where d.target=? and d.state='delivered' and r.source_updated_at >= ?",
            (target, since.replace(tzinfo=None).isoformat(sep=" ")),
        ).fetchall()
    out = []
    for updated, delivered in rows:
        at_source = datetime.fromisoformat(updated).replace(tzinfo=BEIJING)
        at_target = datetime.fromisoformat(delivered).replace(tzinfo=BEIJING)
        out.append((at_target - at_source).total_seconds())
    return out


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _from_where(plan: harness.Plan, municipal: int) -> str:
    """The ``updated_at`` from which the district holds ``municipal`` inspections to send."""
    sent = sorted(r["updated_at"] for r in plan.dataset().inspections if r["status"] == "submitted")
    return sent[-municipal] if municipal < len(sent) else START


def run(size: int, municipal: int, interval_s: float, burst: int, rounds: int) -> None:
    plan = harness.Plan(
        systems=("district", "municipal", "credit"),
        inspections=size,
        penalties=size,
        hand_typed_share=0,
    )
    inspections_from = _from_where(plan, municipal)
    with harness.start_process(plan, timeout_s=600) as sims, tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        config, ledger = _config(tmp, sims, interval_s, inspections_from), tmp / "ledger.db"
        timeline, stop = Timeline(), threading.Event()
        watcher = threading.Thread(
            target=timeline.watch, args=(sims, ["district", "municipal", "credit"], stop), daemon=True
        )
        watcher.start()
        ids = {  # what is sent: submitted inspections, closed general-procedure penalties
            "inspections": [
                r["id"]
                for r in sims.get("district", "/_sim/inspections")
                if r["status"] == "submitted" and r["updated_at"] >= inspections_from
            ],
            "penalties": [
                r["id"]
                for r in sims.get("district", "/_sim/penalties")
                if r["status"] == "closed" and r["procedure"] == "general"
            ],
        }
        t0 = time.monotonic()
        proc = zhifa(config, "run", "--no-console", log=tmp / "daemon.log")
        try:
            _wait_caught_up(ledger, timeout_s=3600)
            backfill_end = time.monotonic()
            live_since = datetime.now(BEIJING).replace(microsecond=0)
            for i in range(rounds):
                _edit_burst(sims, ids, burst, i)
                time.sleep(interval_s)
            _wait_caught_up(ledger, timeout_s=600)
            live_end = time.monotonic()
        finally:
            terminate(proc)
            stop.set()
            watcher.join()
        _report(timeline, ledger, (t0, backfill_end, live_end), live_since, interval_s, burst, plan)


def _report(
    timeline: Timeline,
    ledger: Path,
    marks: tuple[float, float, float],
    live_since: datetime,
    interval_s: float,
    burst: int,
    plan: harness.Plan,
) -> None:
    t0, backfill_end, live_end = marks
    print(
        f"{plan.inspections:,} inspections, {plan.penalties:,} penalties; schedule every {interval_s:g} s; "
        f"backfill {backfill_end - t0:.0f} s, then {burst} edits of each kind per interval"
    )
    print(
        "\n| target | limit | calls/s achieved (calls in s while busy) | share of limit | rate-limit answers |"
        " records delivered | freshness p50 / p95 / max s (live edits) | goal p95 s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for t in TARGETS:
        calls, seconds = timeline.busy(t.name, t.calls, t0, backfill_end)
        rate = calls / seconds if seconds else 0.0
        fresh = _freshness(ledger, t.name, live_since)
        goal = interval_s + burst / (t.limit_per_s * t.records_per_call)
        print(
            f"| {t.name} | {t.limit_per_s:g}/s × {t.records_per_call} | {rate:.2f} ({calls} in {seconds:.1f}) | **{rate / t.limit_per_s:.0%}** |"
            f" {timeline.last(t.name, t.limited)} | {_delivered(ledger, t.name):,} |"
            f" {_pct(fresh, 0.5):.1f} / {_pct(fresh, 0.95):.1f} / {max(fresh, default=float('nan')):.1f}"
            f" (n={len(fresh)}) | {goal:.1f} |"
        )
    system, limit = SOURCE_LIMIT
    reads = timeline.last(system, _all_calls) / (live_end - t0)
    print(
        f"\nsource {system}: {reads:.2f} calls/s on average ({reads / limit:.0%} of its {limit:g}/s; "
        f"rate-limit answers {timeline.last(system, _sim_fault('429'))}); it is not the bound here"
    )
    if fresh_all := [v for t in TARGETS for v in _freshness(ledger, t.name, live_since)]:
        print(f"freshness over both targets: median {statistics.median(fresh_all):.1f} s")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.limits", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=40_000, help="inspections and penalties the district holds")
    p.add_argument(
        "--municipal", type=int, default=600, help="of them, inspections to send to the city (10/s)"
    )
    p.add_argument("--interval", type=float, default=15, help="the service's schedule, seconds")
    p.add_argument("--burst", type=int, default=20, help="records of each kind edited per interval")
    p.add_argument("--rounds", type=int, default=4, help="intervals with live edits")
    a = p.parse_args(argv)
    run(a.size, a.municipal, a.interval, a.burst, a.rounds)


if __name__ == "__main__":
    main()
