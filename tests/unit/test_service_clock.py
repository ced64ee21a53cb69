"""The scheduler on a UTC server and on a Beijing server: every pipeline's first run happens at start
(a cron pipeline's first run used to be dropped as "missed" on a UTC server), and times are aware."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from connectors.contract.clock import BEIJING, for_people, from_unix, zone_note
from sync.config import Settings
from zhifa_sync.service import Service

SETTINGS = Settings.model_validate(
    {
        "systems": {
            "district": {
                "type": "district",
                "base_url": "http://127.0.0.1:1",
                "username": "sync",
                "password": {"env": "ZHIFA_TEST_UNUSED"},
            },
            "credit": {
                "type": "credit",
                "base_url": "http://127.0.0.1:3",
                "app_key": "k",
                "app_secret": {"env": "ZHIFA_TEST_UNUSED"},
            },
        },
        "pipelines": [
            {"name": "district-penalties", "source": "district", "kind": "penalty", "targets": ["credit"]},
            {
                "name": "credit-events",
                "source": "credit",
                "kind": "credit_event",
                "targets": ["district"],
                "schedule": {"cron": "30 3 * * *"},
            },
        ],
    }
)


class _App:
    """What ``Service`` needs of the app: the settings, a mapping store to watch, pipelines to run."""

    def __init__(self) -> None:
        self.settings = SETTINGS
        self.mappings = SimpleNamespace(refresh=lambda: None)
        self.ran: list[str] = []
        self.lock = threading.Lock()

    def run_pipeline(self, name: str, stop: threading.Event, *, progress: object = None) -> None:
        with self.lock:
            self.ran.append(name)


@pytest.fixture(params=["UTC", "Asia/Shanghai"])
def server_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's local zone set to ``UTC`` or ``Asia/Shanghai`` for the test."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_every_pipeline_runs_once_at_start_whatever_the_servers_zone(server_zone: str) -> None:
    app = _App()
    service = Service(app, console=False)  # type: ignore[arg-type]  # a stand-in with what Service reads
    service.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(set(app.ran)) < 2:
            time.sleep(0.05)
        job = service.scheduler.get_job("credit-events")
        next_run = job.next_run_time
    finally:
        service.scheduler.shutdown(wait=True)
    assert sorted(app.ran) == ["credit-events", "district-penalties"]
    # the cron line is read in Beijing time: the next run is at 03:30 Beijing, whatever the server's zone
    assert next_run.tzinfo is not None
    assert next_run.astimezone(BEIJING).strftime("%H:%M") == "03:30"


def test_times_for_people_name_the_zone(server_zone: str) -> None:
    at = datetime(2026, 12, 7, 3, 43, 44, tzinfo=UTC)
    assert for_people(at) == "2026-12-07 11:43:44 (北京时间)"
    assert for_people(at.astimezone(BEIJING).replace(tzinfo=None)) == "2026-12-07 11:43:44 (北京时间)"
    assert from_unix(at.timestamp()) == at
    assert zone_note() == "时间均为北京时间 (UTC+08:00)"
