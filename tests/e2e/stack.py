"""A real little world for end-to-end tests: simulators on loopback ports, a config file, the engine."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators import datagen, district, municipal
from simulators.server import serving
from sync.outcomes import RunCounts
from zhifa_sync.app import App

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    """District and municipal simulators, and a config pointing the engine at them."""

    tmp: Path
    dataset: datagen.Dataset
    district: district.DistrictState
    municipal: municipal.MunicipalState
    district_url: str
    municipal_url: str
    db_url: str
    config_path: Path = field(init=False)
    mappings: Path = field(init=False)
    extra_systems: dict[str, Any] = field(default_factory=dict)
    pipelines: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mappings = self.tmp / "mappings"
        shutil.copytree(REPO / "mappings", self.mappings, ignore=shutil.ignore_patterns("*.md"))
        self.config_path = self.tmp / "zhifa-sync.yaml"
        self.write_config()

    def write_config(
        self,
        *,
        municipal_rate: float = 0,
        retry_attempts: int = 4,
        concurrency: int = 8,
        max_wait_s: float = 0.2,
    ) -> None:
        retry = {"attempts": retry_attempts, "initial_wait_s": 0.01, "max_wait_s": max_wait_s}
        pipelines = self.pipelines or [
            {
                "name": "district-inspections",
                "source": "district",
                "kind": "inspection",
                "targets": ["municipal"],
                "start": "2024-01-01 00:00:00",
                "lag_s": 0,
                "batch_size": 100,
            },
            {
                "name": "district-penalties",
                "source": "district",
                "kind": "penalty",
                "targets": ["municipal"],
                "start": "2024-01-01 00:00:00",
                "lag_s": 0,
                "batch_size": 100,
            },
        ]
        config = {
            "database": {"url": self.db_url},
            "mappings_dir": str(self.mappings),
            "systems": {
                "district": {
                    "type": "district",
                    "base_url": self.district_url,
                    "username": district.DISTRICT_USER,
                    "password": {"env": "ZS_DISTRICT_PASSWORD"},
                    "retry": retry,
                    "timeout_s": 5,
                },
                "municipal": {
                    "type": "municipal",
                    "base_url": self.municipal_url,
                    "app_key": municipal.MUNICIPAL_APP_KEY,
                    "app_secret": {"env": "ZS_MUNICIPAL_SECRET"},
                    "region_code": "120116",
                    "retry": retry,
                    "timeout_s": 5,
                    "concurrency": concurrency,
                    "rate_limit_per_s": municipal_rate,
                },
                **self.extra_systems,
            },
            "pipelines": pipelines,
        }
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

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
            if r.get("wbxtly") == "QJJR":
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
    monkeypatch.setenv("ZS_DISTRICT_PASSWORD", district.DISTRICT_PASSWORD)
    monkeypatch.setenv("ZS_MUNICIPAL_SECRET", municipal.MUNICIPAL_APP_SECRET)
    data = datagen.generate(
        seed=seed,
        inspections=inspections,
        penalties=penalties,
        hand_typed_share=0.12,
        bad_records=bad_records,
    )
    d_state, m_state = district.DistrictState(), municipal.MunicipalState()
    d_state.load(data)
    m_state.load(data)
    for state in (d_state, m_state):
        state.faults.update(rate_limits=False)
    with ExitStack() as stack:
        d = stack.enter_context(serving(district.create_app(d_state)))
        m = stack.enter_context(serving(municipal.create_app(m_state)))
        yield Stack(tmp, data, d_state, m_state, d.url, m.url, db_url or f"sqlite:///{tmp / 'ledger.db'}")
