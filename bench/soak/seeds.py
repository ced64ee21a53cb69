"""``python -m bench.soak --seeds 1-10``: the soak once per seed, each on its own data set and state
directory, and one table of the verdicts (the full report of each seed is printed as it ends)."""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.soak.report import Soak
from simulators import datagen


def parse_seeds(text: str) -> list[int]:
    """``1-10``, ``4,5,6`` or ``1-3,777``: the seeds in the order given, each once."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if last < first:
            raise ValueError(f"seeds: {part!r} runs backwards")
        out += [s for s in range(first, last + 1) if s not in out]
    if not out:
        raise ValueError(f"seeds: no seed in {text!r}")
    return out


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    soak: Soak
    state: Path | None  # kept when the seed failed


Runner = Callable[[argparse.Namespace, Path, datagen.Dataset], Soak]
Dataset = Callable[[argparse.Namespace], datagen.Dataset]
Reporter = Callable[[argparse.Namespace, datagen.Dataset, Soak], str]


def run_seeds(args: argparse.Namespace, run: Runner, dataset: Dataset, report: Reporter) -> list[SeedResult]:
    """The soak for each seed of ``args.seeds``; a failed seed keeps its state directory."""
    results = []
    for seed in parse_seeds(args.seeds):
        one = copy.copy(args)
        one.seed = seed
        base = Path(args.state_dir) / f"seed-{seed}" if args.state_dir else None
        state = base or Path(tempfile.mkdtemp(prefix=f"zhifa-soak-{seed}-"))
        state.mkdir(parents=True, exist_ok=True)
        data = dataset(one)
        soak = run(one, state, data)
        print(report(one, data, soak), flush=True)
        keep = not soak.ok or base is not None
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
        results.append(SeedResult(seed, soak, state if keep else None))
    return results


def table(results: list[SeedResult]) -> str:
    """One line per seed: the sums over all targets, the time, the verdict."""
    lines = [
        "| seed | kills | clean runs | missing | duplicated | unexpected | wrong state | time | verdict |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rows = r.soak.rows
        sums = [
            sum(getattr(row, f) for row in rows)
            for f in ("missing", "duplicated", "unexpected", "wrong_state")
        ]
        verdict = "PASS" if r.soak.ok else f"FAIL (state kept in {r.state})"
        lines.append(
            f"| {r.seed} | {r.soak.kills} | {r.soak.clean_runs} | "
            + " | ".join(str(n) for n in sums)
            + f" | {r.soak.timings.get('total', 0):.0f} s | {verdict} |"
        )
    passed = sum(r.soak.ok for r in results)
    lines.append(f"\nverdict: {passed} of {len(results)} seeds PASS")
    return "\n".join(lines)
