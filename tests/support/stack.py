"""A real little world for end-to-end tests: simulators on loopback ports, a config file, the engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from simulators import daemon_config, datagen, district, harness, municipal
from sync.outcomes import RunCounts
from zhifa_sync.app import App

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    """District and municipal simulators in this process, and a config pointing the engine at them."""

    tmp: Path
    sims: harness.InProcess
    db_url: str
    config_path: Path = field(init=False)
    mappings: Path = field(init=False)
    extra_systems: dict[str, Any] = field(default_factory=dict)
    pipelines: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mappings = daemon_config.copy_mappings(self.tmp / "mappings")
        self.config_path = self.tmp / "zhifa-sync.yaml"
        self.write_config()

    @property
    def dataset(self) -> datagen.Dataset:
        return self.sims.data

    @property
    def district(self) -> district.DistrictState:
        return self.sims.district

    @property
    def municipal(self) -> municipal.MunicipalState:
        return self.sims.municipal

    @property
    def district_url(self) -> str:
        return self.sims.urls["district"]

    @property
    def municipal_url(self) -> str:
        return self.sims.urls["municipal"]

    def write_config(
        self,
        *,
        municipal_rate: float = 0,
        retry_attempts: int = 4,
        concurrency: int = 8,
        max_wait_s: float = 0.2,
    ) -> None:
        """Both district flows to municipal (or ``self.pipelines``), with ``self.extra_systems`` added."""
        knobs = daemon_config.Knobs(
            retry=daemon_config.Retry(attempts=retry_attempts, initial_wait_s=0.01, max_wait_s=max_wait_s),
            timeout_s=5,
            concurrency=concurrency,
            rate_limit_per_s={"district": 0, "municipal": municipal_rate},
            batch_size={"district": 100},
            lag_s=0,
        )
        config = daemon_config.build(
            self.sims.urls,
            db_url=self.db_url,
            mappings_dir=self.mappings,
            knobs=knobs,
            systems=self.extra_systems,
            pipelines=self.pipelines or None,
        )
        daemon_config.write(config, self.config_path)

    def app(self) -> App:
        return App.from_config(self.config_path)

    def run(self, *names: str) -> dict[str, RunCounts]:
        app = self.app()
        try:
            return app.run_once(list(names) or None)
        finally:
            app.close()

    def city(self, kind: str) -> list[dict[str, Any]]:
        """Every record the municipal system holds of ``kind`` (jcjl | xzcf)."""
        return self.municipal.records(kind)

    def ours(self, kind: str) -> dict[str, list[dict[str, Any]]]:
        """Municipal records carrying our external id, grouped by it (a list longer than 1 = duplicate)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self.city(kind):
            if r.get("wbxtly") == municipal.WBXTLY:
                out.setdefault(r["wbxtbh"], []).append(r)
        return out


def synced_district_ids(records: list[dict[str, Any]], bad: set[str]) -> set[str]:
    """District records that must reach the targets: submitted/decided/closed/void/revoked, valid."""
    return {
        r["id"]
        for r in records
        if r["status"] not in ("draft", "filed")
        and r["id"] not in bad
        and r.get("origin", "district") == "district"
    }


@contextmanager
def make_stack(
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    inspections: int = 240,
    penalties: int = 30,
    seed: int = 7,
    db_url: str | None = None,
    bad_records: int = 0,
) -> Iterator[Stack]:
    """The district and municipal simulators in this process, rate limits off, and the secrets set."""
    for name, value in daemon_config.secrets_env().items():
        monkeypatch.setenv(name, value)
    plan = harness.Plan(
        inspections=inspections,
        penalties=penalties,
        seed=seed,
        hand_typed_share=0.12,
        bad_records=bad_records,
        faults={"district": {"rate_limits": False}, "municipal": {"rate_limits": False}},
    )
    with harness.start_in_process(plan) as sims:
        yield Stack(tmp, sims, db_url or f"sqlite:///{tmp / 'ledger.db'}")
