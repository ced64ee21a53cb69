"""The zhifa-sync configuration for running simulators, and the environment its secret references read.

Systems get the simulators' URLs and credentials (secrets as ``{env: NAME}`` references, never in the
file), pipelines the chosen flows with targets among the configured systems. This writes the YAML the
daemon reads (``config/zhifa-sync.example.yaml`` documents every key); like every simulator it shares
no code with the daemon.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulators import credit, district, municipal
from simulators.universe import REGION_CODE

REPO_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"  # the tables shipped in the checkout
SECRET_ENV = {
    "district": "ZS_DISTRICT_PASSWORD",
    "municipal": "ZS_MUNICIPAL_SECRET",
    "credit": "ZS_CREDIT_SECRET",
    "hlwjg": "ZS_HLWJG_URL",  # the 前置库's URL carries its password, so it is a secret too
}


def secrets_env(exchange_url: str | None = None) -> dict[str, str]:
    """The environment the configuration's secret references read (the 前置库 URL when one is given)."""
    env = {
        SECRET_ENV["district"]: district.DISTRICT_PASSWORD,
        SECRET_ENV["municipal"]: municipal.MUNICIPAL_APP_SECRET,
        SECRET_ENV["credit"]: credit.APP_SECRET,
    }
    if exchange_url:
        env[SECRET_ENV["hlwjg"]] = exchange_url
    return env


@dataclass(frozen=True, slots=True)
class Flow:
    """One pipeline: from which system, which kind of record, to which systems (those configured)."""

    source: str
    kind: str
    targets: tuple[str, ...]


FLOWS = {
    "district-inspections": Flow("district", "inspection", ("municipal", "hlwjg")),
    "district-penalties": Flow("district", "penalty", ("municipal", "credit", "hlwjg")),
    # records typed in at the city for our region → district (ours never come back)
    "city-inspections": Flow("municipal", "inspection", ("district",)),
    "city-penalties": Flow("municipal", "penalty", ("district",)),
    "credit-events": Flow("credit", "credit_event", ("district",)),
}
DISTRICT_FLOWS = ("district-inspections", "district-penalties")


@dataclass(frozen=True, slots=True)
class Retry:
    """The retry policy of every HTTP system (the daemon's defaults where not given)."""

    attempts: int
    initial_wait_s: float
    max_wait_s: float


@dataclass(frozen=True, slots=True)
class Knobs:
    """What callers tune; ``None`` or absent leaves the daemon's default."""

    retry: Retry | None = None
    timeout_s: float | None = None  # every HTTP system
    concurrency: int | None = None  # municipal pushes at once
    # client-side pace by system; tests serve unlimited simulators and leave district and municipal
    # unpaced (the daemon's defaults are the documented limits: bench.limits runs at those)
    rate_limit_per_s: Mapping[str, float] = field(default_factory=lambda: {"district": 0, "municipal": 0})
    batch_size: Mapping[str, int] = field(default_factory=dict)  # pipeline pages by source system
    start: str = "2024-01-01 00:00:00"  # where every pipeline begins reading
    lag_s: float | None = None
    clock_margin_s: float | None = None
    interval_minutes: float | None = None  # the service's schedule


def build(
    urls: Mapping[str, str],
    *,
    db_url: str,
    mappings_dir: Path,
    flows: Iterable[str] = DISTRICT_FLOWS,
    knobs: Knobs | None = None,
    systems: Mapping[str, Mapping[str, Any]] | None = None,
    pipelines: Sequence[Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The configuration for the simulators at ``urls`` (by system; "hlwjg" present: the 前置库 too).

    ``systems`` merges keys over a system's entry (or adds a system), ``pipelines`` replaces the
    ones built from ``flows``, ``extra`` adds top-level keys (``console``, ``holidays_file``)."""
    knobs = knobs or Knobs()
    entries = {name: _system(name, urls[name], knobs) for name in _SYSTEM if name in urls}
    for name, keys in (systems or {}).items():
        entries[name] = {**entries.get(name, {}), **keys}
    return {
        "database": {"url": db_url},
        "mappings_dir": str(mappings_dir),
        **(extra or {}),
        "systems": entries,
        "pipelines": [dict(p) for p in pipelines] if pipelines else _pipelines(flows, entries, knobs),
    }


def _system(name: str, url: str, knobs: Knobs) -> dict[str, Any]:
    entry = dict(_SYSTEM[name])
    if name == "hlwjg":  # a database, not an HTTP service: ``url`` is the collector's hooks
        return entry
    entry = {"type": name, "base_url": url, **entry}
    if knobs.retry is not None:
        r = knobs.retry
        entry["retry"] = {
            "attempts": r.attempts,
            "initial_wait_s": r.initial_wait_s,
            "max_wait_s": r.max_wait_s,
        }
    if knobs.timeout_s is not None:
        entry["timeout_s"] = knobs.timeout_s
    if name == "municipal" and knobs.concurrency is not None:
        entry["concurrency"] = knobs.concurrency
    if name in knobs.rate_limit_per_s:
        entry["rate_limit_per_s"] = knobs.rate_limit_per_s[name]
    return entry


# each system's credentials, as the simulators know them (secrets by reference)
_SYSTEM: dict[str, dict[str, Any]] = {
    "district": {"username": district.DISTRICT_USER, "password": {"env": SECRET_ENV["district"]}},
    "municipal": {
        "app_key": municipal.MUNICIPAL_APP_KEY,
        "app_secret": {"env": SECRET_ENV["municipal"]},
        "region_code": REGION_CODE,
    },
    "credit": {"app_key": credit.APP_ID, "app_secret": {"env": SECRET_ENV["credit"]}},
    "hlwjg": {"type": "hlwjg", "url": {"env": SECRET_ENV["hlwjg"]}},
}


def _pipelines(flows: Iterable[str], systems: Mapping[str, Any], knobs: Knobs) -> list[dict[str, Any]]:
    """A pipeline per flow, sending to those of its targets that are configured."""
    out = []
    for name in flows:
        flow = FLOWS[name]
        if flow.source not in systems:
            raise ValueError(f"flow {name} reads from {flow.source}, which is not configured")
        pipeline: dict[str, Any] = {
            "name": name,
            "source": flow.source,
            "kind": flow.kind,
            "targets": [t for t in flow.targets if t in systems],
            "start": knobs.start,
        }
        optional = {
            "lag_s": knobs.lag_s,
            "batch_size": knobs.batch_size.get(flow.source),
            "clock_margin_s": knobs.clock_margin_s,
            "schedule": None
            if knobs.interval_minutes is None
            else {"interval_minutes": knobs.interval_minutes},
        }
        out.append(pipeline | {k: v for k, v in optional.items() if v is not None})
    return out


def write(config: Mapping[str, Any], path: Path) -> Path:
    """``config`` as YAML at ``path`` (keys in the order built: systems, then pipelines)."""
    path.write_text(yaml.safe_dump(dict(config), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def copy_mappings(dest: Path, source: Path = REPO_MAPPINGS) -> Path:
    """A copy of the mapping tables that a caller may edit (their READMEs left out); ``dest``."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.md"), dirs_exist_ok=True)
    return dest
