"""What ``make bench`` prints: a line per run as it ends, then the tables of medians."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

LABELS = {"ours": "zhifa-sync", "ceiling": "ceiling loop", "script": "script loop", "dlt": "dlt"}


@dataclass(frozen=True, slots=True)
class RunResult:
    """One contender's run: records posted, seconds, CPU per record of it and of the simulators; for
    zhifa-sync its memory (peak, and at each quarter of the run) and the nothing-changed cycle after."""

    n: int
    secs: float
    cpu_ms: float
    sim_cpu_ms: float
    peak_mb: float | None = None
    quarters_mb: tuple[float, ...] = ()
    idle_s: float | None = None

    @property
    def rate(self) -> float:
        return self.n / self.secs


@dataclass(frozen=True, slots=True)
class SizeResults:
    """Every run of every contender at one backfill size."""

    size: int
    repeats: int
    runs: dict[str, list[RunResult]] = field(default_factory=dict)

    def median(self, who: str, figure: Callable[[RunResult], float]) -> float:
        return statistics.median(figure(r) for r in self.runs[who])


def machine(concurrency: int) -> str:
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}; concurrency {concurrency}, pages of 500"
    )


def run_line(size: int, rep: int, who: str, r: RunResult) -> str:
    """One run: records, seconds, rate and CPU; for zhifa-sync its memory too."""
    extra = ""
    if r.peak_mb is not None:
        extra = f", peak RSS {r.peak_mb:.0f} MB, RSS by quarter " + "/".join(
            f"{q:.0f}" for q in r.quarters_mb
        )
    return (
        f"  {size:,} run {rep + 1} {LABELS[who]}: {r.n:,} records in {r.secs:.1f} s = {r.rate:,.0f}/s; "
        f"CPU {r.cpu_ms:.2f} ms/record (simulators {r.sim_cpu_ms:.2f}){extra}"
    )


def tables(contenders: Sequence[str], sizes: Sequence[SizeResults]) -> str:
    """Median rates, each as a share of the ceiling's, zhifa-sync's memory; then CPU per record."""
    head = " | ".join(f"{LABELS[c]} rec/s" for c in contenders)
    shares = [c for c in contenders if c != "ceiling"] if "ceiling" in contenders else []
    ratios = "".join(f" | {LABELS[c]} / ceiling" for c in shares)
    lines = [
        f"\n| inspections | runs | {head}{ratios} | zhifa-sync peak RSS MB | no-change cycle s |",
        "|---:" * (4 + len(contenders) + len(shares)) + "|",
    ]
    for s in sizes:
        med = {c: s.median(c, lambda r: r.rate) for c in contenders}
        rates = " | ".join(f"{med[c]:,.0f}" for c in contenders)
        rel = "".join(f" | {med[c] / med['ceiling']:.0%}" for c in shares)
        ours = s.runs.get("ours", [])
        mem = f"{max(r.peak_mb or 0 for r in ours):.0f}" if ours else "–"
        idle = f"{s.median('ours', lambda r: r.idle_s or 0):.2f}" if ours else "–"
        lines.append(f"| {s.size:,} | {s.repeats} | {rates}{rel} | {mem} | {idle} |")
    lines += [
        "\nmedians of alternating runs; simulators in a separate process, rate limits off",
        "\nCPU per record (ms, user + system, the contender's own process; medians)\n\n"
        f"| inspections | {' | '.join(LABELS[c] for c in contenders)} |",
        "|---:" * (1 + len(contenders)) + "|",
    ]
    for s in sizes:
        lines.append(
            f"| {s.size:,} | "
            + " | ".join(f"{s.median(c, lambda r: r.cpu_ms):.2f}" for c in contenders)
            + " |"
        )
    return "\n".join(lines)
