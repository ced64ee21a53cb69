"""Each system's health (``connectors.contract.health``) kept in the ledger, so that every process
shows the daemon's view: ``status`` and a console started on its own (``zhifa-sync console``) read
what the process that calls the systems (``run``, ``sync --once``) last saw.

The caller saves after every pipeline run and every 30 s while the service runs (``App.save_health``);
a saved report says when it was saved (``saved_at``), so a reader can tell a stale one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime

from connectors.contract.clock import from_unix
from connectors.contract.health import HealthReport, HealthState
from connectors.contract.validators import mask_text
from sync.ledger import Ledger


def _key(system: str) -> str:
    return f"health:{system}"


@dataclass(frozen=True, slots=True)
class SystemHealth:
    """What the 目标系统 panel and ``status`` show of one system (times aware, Beijing)."""

    name: str
    state: HealthState
    last_success: datetime | None
    last_error: str | None  # masked
    last_error_at: datetime | None
    saved_at: datetime | None  # None: the live report of this process

    @classmethod
    def of(cls, name: str, report: HealthReport | None, saved_at: float | None = None) -> SystemHealth:
        if report is None:
            return cls(name, HealthState.UNKNOWN, None, None, None, None)
        return cls(
            name,
            report.state,
            from_unix(report.last_success_at),
            mask_text(report.last_error) if report.last_error else None,
            from_unix(report.last_error_at),
            from_unix(saved_at),
        )


def save(ledger: Ledger, system: str, report: HealthReport) -> None:
    ledger.set_meta(_key(system), json.dumps({**asdict(report), "saved_at": time.time()}))


def load(ledger: Ledger, system: str) -> SystemHealth:
    """The last saved health of ``system`` (unknown when nothing called it yet, or unreadable)."""
    text = ledger.get_meta(_key(system))
    try:
        data = json.loads(text) if text else None
        saved_at = data.pop("saved_at", None) if data else None
        report = HealthReport(**{**data, "state": HealthState(data["state"])}) if data else None
    except (ValueError, TypeError, KeyError):
        report, saved_at = None, None
    return SystemHealth.of(system, report, saved_at)


def health_row(h: SystemHealth) -> dict[str, object]:
    """The keys the console's 目标系统 panel reads (``health`` is the state's value)."""
    return {
        "name": h.name,
        "health": h.state.value,
        "last_success": h.last_success,
        "last_error": h.last_error,
        "last_error_at": h.last_error_at,
        "saved_at": h.saved_at,
    }
