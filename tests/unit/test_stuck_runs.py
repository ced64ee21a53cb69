"""The service's watch over its runs: a run with no heartbeat for ``stuck_after_s`` is abandoned (its
job returns, the pipeline is handed to the next run) and reported; the watchdog pings only while no run
is stuck; a run that keeps beating is never abandoned."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.contract.clock import BEIJING
from sync.metrics import PIPELINE_STUCK
from sync.progress import Progress
from zhifa_sync.service import Service, Stuck, watchdog_ok


class FakeApp:
    """An App whose run of "p" does what the test tells it, with no systems and no ledger."""

    def __init__(self, body: Any) -> None:
        self.settings = SimpleNamespace(
            zone=BEIJING, stuck_after_s=0.3, stop_grace_s=0.5, systems={}, alerts=SimpleNamespace(channels=[])
        )
        self.body = body
        self.abandoned: list[str] = []
        self.release = threading.Event()

    def run_pipeline(self, name: str, stop: threading.Event, *, progress: Progress) -> None:
        self.body(self, progress)

    def abandon(self, name: str) -> None:
        self.abandoned.append(name)

    def built_system(self, name: str) -> None:
        return None


@pytest.mark.parametrize(
    ("alive", "stuck", "ping"),
    [
        (True, [], True),  # running or idle between runs: healthy
        (True, [Stuck("p", 301.0, 0.0)], False),  # a run hangs: let systemd restart us
        (False, [], False),  # the scheduler died
    ],
)
def test_the_watchdog_pings_only_while_the_scheduler_lives_and_no_run_is_stuck(
    alive: bool, stuck: list[Stuck], ping: bool
) -> None:
    """watchdog_ok: the decision behind every WATCHDOG=1."""
    assert watchdog_ok(alive, stuck) is ping


def test_a_run_without_progress_is_abandoned_reported_and_forgotten_when_it_ends() -> None:
    """No heartbeat for stuck_after_s: the job returns, the app hands the pipeline on, /healthz says so."""
    app = FakeApp(lambda app, progress: app.release.wait(10))
    service = Service(app, console=False)  # type: ignore[arg-type]
    service._job("p")  # returns although the run still hangs
    assert app.abandoned == ["p"]
    (stuck,) = service.health()["stuck"]
    assert stuck["pipeline"] == "p" and stuck["idle_s"] >= 0.3 and "卡住" in stuck["message"]
    assert PIPELINE_STUCK.labels("p")._value.get() == 1
    assert not watchdog_ok(True, service.stuck())
    app.release.set()  # the hanging call ends at last
    for watched in list(service._runs.values()):
        watched.thread.join(5)
    assert service.stuck() == [] and service.health()["stuck"] == []
    assert PIPELINE_STUCK.labels("p")._value.get() == 0


def test_a_run_that_keeps_beating_is_never_abandoned() -> None:
    """A slow run that reads pages or finishes pushes in time runs to its end."""

    def busy(app: FakeApp, progress: Progress) -> None:
        for _ in range(8):  # 8 × 0.1 s: longer than stuck_after_s, a beat well within it each time
            app.release.wait(0.1)
            progress.beat()

    app = FakeApp(busy)
    service = Service(app, console=False)  # type: ignore[arg-type]
    service._job("p")
    assert app.abandoned == [] and service.stuck() == []


def test_an_abandoned_run_stops_at_its_next_step() -> None:
    """Abandoning sets the run's own stop event and marks it, so it commits nothing more."""
    progress = Progress(clock=lambda: 0.0)
    progress.abandon()
    assert progress.stop.is_set() and progress.abandoned


def test_the_next_run_shares_the_lease_of_an_abandoned_run_which_keeps_it_until_then(tmp_path: Any) -> None:
    """After ``abandon`` the next run of the pipeline gets its lock and the lease (shared), and the
    hanging run gives the lease up only once that run has ended: no other instance slips in between."""
    from connectors.contract.config import Secrets
    from sync.config import Settings
    from sync.ledger import Ledger
    from zhifa_sync.app import App

    settings = Settings.model_validate(
        {
            "systems": {
                "district": {
                    "type": "district",
                    "base_url": "http://127.0.0.1:1",
                    "username": "sync",
                    "password": {"env": "ZHIFA_TEST_UNUSED"},
                },
            },
            "pipelines": [
                {
                    "name": "district-penalties",
                    "source": "district",
                    "kind": "penalty",
                    "targets": ["district"],
                }
            ],
        }
    )
    ledger = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    app = App(settings, Secrets({}), ledger)
    name = "district-penalties"
    other = App(settings, Secrets({}), ledger)  # another instance on the same ledger
    try:
        holding, release, released = threading.Event(), threading.Event(), threading.Event()

        def hanging() -> None:
            with app._locks[name], app._lease(name) as held:
                assert held
                holding.set()
                release.wait(10)
            released.set()

        thread = threading.Thread(target=hanging, daemon=True)
        thread.start()
        assert holding.wait(5)
        app.abandon(name)
        with app._locks[name], app._lease(name) as next_held:
            assert next_held  # shared with the abandoned run
            release.set()  # the hanging call ends while the next run still works
            assert not released.wait(0.3)
            with other._lease(name) as elsewhere:
                assert not elsewhere  # still ours
        thread.join(5)
        assert released.is_set()
        with other._lease(name) as elsewhere:
            assert elsewhere  # given up once nobody here uses it
    finally:
        app.leases.close()
        other.leases.close()
        ledger.close()
