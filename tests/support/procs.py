"""Real processes for the production-service tests: simulators in one, ``zhifa-sync`` in others.

The simulators and their configuration come from the shipped harness (``simulators.harness``,
``simulators.daemon_config``); what is here reads the stores the way these tests count."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulators import daemon_config, harness, municipal
from simulators.harness import free_port, wait_for, zhifa
from simulators.harness import terminate as stop
from tests.support.stack import synced_district_ids

__all__ = [
    "SECRETS_ENV",
    "Sims",
    "free_port",
    "log_events",
    "simulators",
    "stop",
    "wait_for",
    "write_config",
    "zhifa",
]

SECRETS_ENV = daemon_config.secrets_env()
KINDS = (("inspections", "jcjl"), ("penalties", "xzcf"))


class Sims:
    """The district and municipal simulators running in their own process."""

    def __init__(self, running: harness.Process) -> None:
        self.running = running
        self.proc = running.proc
        self.district_url = running.urls["district"]
        self.municipal_url = running.urls["municipal"]

    def get(self, url: str) -> Any:
        """A read-only look at a simulator's store (tried again on a time-out: see ``admin_get``)."""
        return harness.admin_get(url)

    def expected(self, kind: str) -> set[str]:
        return synced_district_ids(self.get(f"{self.district_url}/_sim/{kind}"), set())

    def ours(self, city_kind: str) -> dict[str, int]:
        """How many municipal records carry each of our external ids."""
        out: dict[str, int] = {}
        for r in self.get(f"{self.municipal_url}/_sim/records/{city_kind}"):
            if r.get("wbxtly") == municipal.WBXTLY:
                out[r["wbxtbh"]] = out.get(r["wbxtbh"], 0) + 1
        return out

    def delivered(self) -> int:
        return sum(len(self.ours(city)) for _k, city in KINDS)

    def total(self) -> int:
        return sum(len(self.expected(k)) for k, _c in KINDS)

    def assert_exactly_once(self) -> dict[str, int]:
        """Every synced district record is on municipal once, and nothing else of ours; sizes by kind."""
        sizes = {}
        for kind, city_kind in KINDS:
            expected, ours = self.expected(kind), self.ours(city_kind)
            missing, extra = expected - set(ours), set(ours) - expected
            assert not missing and not extra, (
                f"{kind}: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
            )
            dups = {k: n for k, n in ours.items() if n > 1}
            assert not dups, f"{kind}: duplicated {dups}"
            sizes[kind] = len(expected)
        return sizes


@contextmanager
def simulators(
    *, inspections: int, penalties: int | None = None, seed: int = 5, latency_ms: int = 0
) -> Iterator[Sims]:
    """``python -m simulators serve`` on free ports, rate limits off, ``latency_ms`` on municipal."""
    plan = harness.Plan(
        inspections=inspections,
        penalties=penalties,
        seed=seed,
        faults={
            "district": {"rate_limits": False},
            "municipal": {"rate_limits": False, "latency_ms": latency_ms},
        },
    )
    try:
        running = harness.start_process(plan, timeout_s=60)
    except harness.SimulatorsExited as exc:
        raise AssertionError(str(exc)) from None
    with running:
        yield Sims(running)


def write_config(
    tmp: Path,
    sims: Sims,
    db_url: str,
    *,
    interval_minutes: float = 10,
    batch_size: int = 100,
    concurrency: int = 8,
) -> Path:
    """A config for both flows against ``sims``, mapping tables copied next to it."""
    mappings = tmp / "mappings"
    if not mappings.exists():
        daemon_config.copy_mappings(mappings)
    knobs = daemon_config.Knobs(
        retry=daemon_config.Retry(attempts=4, initial_wait_s=0.01, max_wait_s=0.2),
        timeout_s=10,
        concurrency=concurrency,
        batch_size={"district": batch_size},
        lag_s=0,
        interval_minutes=interval_minutes,
    )
    config = daemon_config.build(
        sims.running.urls, db_url=db_url, mappings_dir=mappings, knobs=knobs, extra={"console": {"port": 0}}
    )
    return daemon_config.write(config, tmp / "zhifa-sync.yaml")


def log_events(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines a process wrote (lines that are not JSON are returned as {"raw": line})."""
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"raw": line})
    return out
