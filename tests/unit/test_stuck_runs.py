"""The service's watch over its runs: a run with no heartbeat for ``stuck_after_s`` is abandoned (its
job returns, the pipeline is handed to the next run) and reported; the watchdog pings only while no run
is stuck; a run that keeps beating is never abandoned."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.contract.clock import BEIJING
from sync.metrics import PIPELINE_STUCK
from sync.progress import Progress
from tests.support.alert_receivers import WebhookReceiver, webhook_receiver
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


Body = Callable[[FakeApp, Progress], object]


@pytest.fixture
def alerting(tmp_path: Path) -> Iterator[Callable[[list[Body]], tuple[Service, FakeApp, WebhookReceiver]]]:
    """A service over a FakeApp whose runs do, in turn, what ``bodies`` say; its alerts (real ledger,
    real lease holder) go to a local webhook receiver."""
    from sync.alerts.delivery import Dispatcher
    from sync.alerts.engine import Alerter
    from sync.config import Settings
    from sync.lease import Leases
    from sync.ledger import Ledger

    ledger = Ledger.connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    made: list[tuple[Service, FakeApp]] = []
    with webhook_receiver() as rx:

        def make(bodies: list[Body]) -> tuple[Service, FakeApp, WebhookReceiver]:
            app = FakeApp(lambda app, progress: bodies.pop(0)(app, progress))
            app.leases = Leases(ledger.engine)  # type: ignore[attr-defined]
            app.mappings = SimpleNamespace(last_error=None)  # type: ignore[attr-defined]
            service = Service(app, console=False)  # type: ignore[arg-type]
            s = Settings.model_validate(
                {"systems": {}, "pipelines": [], "alerts": {"channels": [{"type": "webhook", "url": rx.url}]}}
            )
            service.alerter = Alerter(ledger, s, Dispatcher(s.alerts.channels, attempts=2, wait_s=0.01))
            made.append((service, app))
            return service, app, rx

        yield make
        for service, app in made:
            app.release.set()
            for watched in list(service._runs.values()):
                watched.thread.join(5)
            assert service.alerter is not None
            service.alerter.dispatcher.stop()
    ledger.close()


def _told(service: Service, rx: WebhookReceiver, n: int) -> list[str]:
    """The alerts job once (as the scheduler runs it every minute), then the titles received so far."""
    service._alerts_job()
    assert service.alerter is not None
    service.alerter.dispatcher.flush()
    return [h.body["title"] for h in rx.wait(n)]


def _hang(app: FakeApp, progress: Progress) -> None:
    app.release.wait(10)


def _beat_and_end(app: FakeApp, progress: Progress) -> None:
    progress.beat()


def test_a_stuck_pipeline_is_an_urgent_alert_and_recovers_when_its_run_ends(alerting: Any) -> None:
    """Given up as stuck: 【紧急】管道运行卡住 once, with what to look at; 已恢复 once the hanging run ends."""
    service, app, rx = alerting([_hang])
    service._job("p")
    assert _told(service, rx, 1) == ["【紧急】管道运行卡住 (p)"]
    assert "秒无进展" in rx.hits[0].body["text"] and "系统状态" in rx.hits[0].body["text"]
    assert _told(service, rx, 1) == ["【紧急】管道运行卡住 (p)"]  # still stuck: not told again
    app.release.set()
    for watched in list(service._runs.values()):
        watched.thread.join(5)
    assert _told(service, rx, 2) == ["【紧急】管道运行卡住 (p)", "已恢复: 管道运行卡住 (p)"]


def test_a_stuck_pipeline_recovers_when_the_next_run_proceeds(alerting: Any) -> None:
    """The next run of the pipeline moves and ends while the given-up one still hangs: 已恢复."""
    service, _app, rx = alerting([_hang, _beat_and_end])
    service._job("p")
    assert _told(service, rx, 1) == ["【紧急】管道运行卡住 (p)"]
    service._job("p")  # the next scheduled run
    assert service.stuck() != []  # the first still hangs (/healthz says so) ...
    assert _told(service, rx, 2) == ["【紧急】管道运行卡住 (p)", "已恢复: 管道运行卡住 (p)"]  # ... but p runs


def test_a_run_given_up_that_ends_before_the_alerts_look_is_still_told(alerting: Any) -> None:
    """Given up, and its hanging call returns before the next minute's look: told, then 已恢复."""

    def hang_briefly(app: FakeApp, progress: Progress) -> None:
        app.release.wait(10)

    service, app, rx = alerting([hang_briefly])
    service._job("p")
    app.release.set()
    for watched in list(service._runs.values()):
        watched.thread.join(5)
    assert service.stuck() == []
    assert _told(service, rx, 1) == ["【紧急】管道运行卡住 (p)"]
    assert _told(service, rx, 2) == ["【紧急】管道运行卡住 (p)", "已恢复: 管道运行卡住 (p)"]
