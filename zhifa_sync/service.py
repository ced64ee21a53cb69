"""``zhifa-sync run``: the pipelines on their schedules (APScheduler) until SIGTERM.

SIGTERM/SIGINT set a stop event: each running pipeline finishes the page in hand, saves its cursor and
returns; the scheduler then shuts down and the process exits — after at most ``stop_grace_s``, whatever
a peer does: a run still in a call then is cut short (its page is read again by the next start; the
write-ahead push intents make that safe). Under systemd (``Type=notify``) the service says ``READY=1``
once config, database and mapping tables are loaded and the scheduler runs, and pings the watchdog
from the main loop only while the scheduler thread is alive and no run is stuck.

Each run is watched from its scheduler job: a run with no progress (no page read, no push finished,
``sync.progress``) for ``stuck_after_s`` is *stuck* — logged (``run_stuck``), counted
(``zhifa_pipeline_stuck``), shown in ``/healthz`` — and abandoned, so the job returns and the next
scheduled run can start (APScheduler's ``max_instances=1`` would skip it otherwise).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connectors.contract.clock import BEIJING, aware_now, beijing_now
from connectors.contract.health import HealthState
from connectors.contract.states import RunStatus
from sync import metrics
from sync.alerts.delivery import Dispatcher
from sync.alerts.engine import Alerter
from sync.config import PipelineConfig
from sync.health import health_row
from sync.progress import Progress
from zhifa_sync import systemd
from zhifa_sync.app import App

log = structlog.get_logger("zhifa.service")
# A job whose time passed while the process was busy or starting runs once, late (coalesce), if it is
# at most this late; later than that it waits for its next time.
MISFIRE_GRACE_S = 3600


def _alerter(app: App) -> Alerter | None:
    """The alerter when alert channels are configured (docs/alerts.md)."""
    channels = app.settings.alerts.channels
    return Alerter(app.ledger, app.settings, Dispatcher(channels)) if channels else None


def trigger_for(p: PipelineConfig, zone: ZoneInfo = BEIJING) -> Any:
    """The pipeline's schedule; a cron line is read in ``zone`` (the YAML's ``timezone``)."""
    if p.schedule.cron:
        return CronTrigger.from_crontab(p.schedule.cron, timezone=zone)
    return IntervalTrigger(minutes=p.schedule.interval_minutes or 10, timezone=zone)


CONTROLS_POLL_S = 3
WATCH_S = 0.5  # how often a job looks at its run's heartbeat


@dataclass(frozen=True, slots=True)
class Watched:
    """A run in a thread of its own, and its heartbeat."""

    pipeline: str
    progress: Progress
    thread: threading.Thread


@dataclass(frozen=True, slots=True)
class Stuck:
    """A run given up as stuck and still hanging in its thread."""

    pipeline: str
    idle_s: float
    abandoned_at: float  # monotonic


def watchdog_ok(scheduler_alive: bool, stuck: list[Stuck]) -> bool:
    """Ping systemd's watchdog? Only while the scheduler lives and no run hangs (idle between runs is fine)."""
    return scheduler_alive and not stuck


class Service:
    def __init__(self, app: App, *, console: bool = True) -> None:
        self.app = app
        self.stop = threading.Event()
        self.zone = app.settings.zone
        self.scheduler = BackgroundScheduler(
            timezone=self.zone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
        )
        self.console = console
        self._console_server: Any = None
        self._guard = threading.Lock()
        self._runs: dict[int, Watched] = {}  # by id(progress): running, or abandoned and still hanging
        self._stuck: dict[int, Stuck] = {}
        self._stuck_unread: dict[str, float] = {}  # given up since the alerts last looked: idle seconds
        self._ended_at: dict[str, float] = {}  # monotonic: when a run of the pipeline last ended, not stuck
        self._stop_at: float | None = None  # monotonic: when a stop gives up on runs still in hand
        self.alerter = _alerter(app)

    def _job(self, name: str) -> None:
        """One run of ``name`` in a thread of its own, watched: returns when it ends, is stuck, or the
        stop grace is over."""
        if self.stop.is_set():
            return
        watched = self._launch(
            name, lambda p: self.app.run_pipeline(name, p.stop, progress=p), failed="pipeline_job_failed"
        )
        self._watch(watched, stuck=True)
        if not watched.thread.is_alive() and not watched.progress.abandoned:
            with self._guard:  # the pipeline proceeds again (a stuck run of it may still hang)
                self._ended_at[name] = time.monotonic()

    def _watch(self, watched: Watched, *, stuck: bool) -> None:
        """Wait for a run to end, be given up as stuck (if ``stuck``), or outlast the stop grace."""
        while watched.thread.is_alive():
            watched.thread.join(WATCH_S)
            if self.stop.is_set():
                watched.progress.stop.set()
                if self._stop_at is not None and time.monotonic() >= self._stop_at:
                    return
            elif stuck and watched.progress.idle_s() >= self.app.settings.stuck_after_s:
                self._abandon(watched)
                return

    def _launch(self, name: str, body: Callable[[Progress], object], *, failed: str) -> Watched:
        progress = Progress()

        def run() -> None:
            try:
                body(progress)
            except Exception:  # logged where it happened; the scheduler must keep going
                log.exception(failed, pipeline=name)
            finally:
                self._ended(id(progress))

        # daemon: a run hanging in a call must not keep the process alive past the stop grace
        thread = threading.Thread(target=run, name=f"run-{name}", daemon=True)
        watched = Watched(name, progress, thread)
        with self._guard:
            self._runs[id(progress)] = watched
        thread.start()
        return watched

    def _ended(self, key: int) -> None:
        with self._guard:
            self._runs.pop(key, None)
            gone = self._stuck.pop(key, None)
            if gone is not None and not any(s.pipeline == gone.pipeline for s in self._stuck.values()):
                metrics.PIPELINE_STUCK.labels(gone.pipeline).set(0)
        if gone is not None:
            log.info("stuck_run_ended", pipeline=gone.pipeline)

    def _abandon(self, watched: Watched) -> None:
        """Give a stuck run up: report it, stop it, and let the next run of its pipeline start."""
        idle = round(watched.progress.idle_s(), 1)
        watched.progress.abandon()
        self.app.abandon(watched.pipeline)
        progress = watched.progress
        if progress.run_id is not None and progress.counts is not None:
            note = f"运行卡住: {idle} 秒无进展 (未读到新页, 未完成推送), 已放弃"
            try:  # closed now, not as "crashed" by the next run
                self.app.ledger.finish_run(progress.run_id, progress.counts, RunStatus.ERROR, note)
            except Exception:  # the ledger unreachable: the next run closes it as crashed
                log.exception("stuck_run_not_closed", pipeline=watched.pipeline)
        with self._guard:
            if id(watched.progress) in self._runs:  # still hanging
                self._stuck[id(watched.progress)] = Stuck(watched.pipeline, idle, time.monotonic())
            self._stuck_unread[watched.pipeline] = idle
        metrics.PIPELINE_STUCK.labels(watched.pipeline).set(1)
        log.error(
            "run_stuck",
            pipeline=watched.pipeline,
            idle_s=idle,
            stuck_after_s=self.app.settings.stuck_after_s,
            message=f"管道 {watched.pipeline} 已 {idle} 秒无进展 (未读到新页, 未完成推送), 已放弃本次运行",
        )

    def stuck(self) -> list[Stuck]:
        """Runs given up as stuck that still hang (a stuck run's thread that ends is forgotten)."""
        with self._guard:
            return list(self._stuck.values())

    def stuck_pipelines(self) -> dict[str, float]:
        """For the alerts: each pipeline with a run given up as stuck that still hangs, unless a later run
        of it has moved or ended since; and each given up since the last call, though its run has ended
        meanwhile (told once, then 已恢复). Pipeline -> seconds without progress when given up."""
        with self._guard:
            found, self._stuck_unread = self._stuck_unread, {}
            for s in self._stuck.values():
                if not self._proceeded_since(s.pipeline, s.abandoned_at):
                    found.setdefault(s.pipeline, s.idle_s)
        return found

    def _proceeded_since(self, pipeline: str, at: float) -> bool:
        """A run of ``pipeline`` other than the stuck ones moved or ended after ``at`` (guard held)."""
        if self._ended_at.get(pipeline, float("-inf")) > at:
            return True
        return any(
            w.pipeline == pipeline and not w.progress.abandoned and w.progress.moved_since(at)
            for w in self._runs.values()
        )

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` adds from the running service: stuck runs and systems whose circuit is open."""
        now = time.monotonic()
        stuck = [
            {
                "pipeline": s.pipeline,
                "idle_s": round(s.idle_s + now - s.abandoned_at, 1),
                "message": f"管道 {s.pipeline} 的一次运行卡住 (无进展), 已放弃",
            }
            for s in self.stuck()
        ]
        circuit_open = [name for name, is_open in self._circuits().items() if is_open]
        return {"stuck": stuck, "circuit_open": circuit_open}

    def _reconcile_job(self, name: str) -> None:
        """The scheduled reconciliation of one pipeline (its window and repair as configured)."""
        if self.stop.is_set():
            return
        cfg = self.app.settings.reconcile_of(name)
        since = beijing_now() - timedelta(days=cfg.window_days) if cfg.window_days else None
        # In a watched thread too, so that a reconciliation in a hanging call cannot hold up a stop
        # (it has no heartbeat: never given up as stuck). Its errors are stored as an error run.
        watched = self._launch(
            name,
            lambda _p: self.app.reconcile(name, since, repair=cfg.repair, actor="schedule"),
            failed="reconcile_job_failed",
        )
        self._watch(watched, stuck=False)

    def status(self) -> dict[str, Any]:
        """What the console's overview shows about the running service."""
        pipelines = []
        controls = self.app.ledger.controls([p.name for p in self.app.settings.pipelines])
        for p in self.app.settings.pipelines:
            job = self.scheduler.get_job(p.name)
            next_run = job.next_run_time if job and job.next_run_time else None  # aware
            pipelines.append(
                {
                    "name": p.name,
                    "enabled": p.enabled,
                    "source": p.source,
                    "targets": p.targets,
                    "kind": p.kind,
                    "next_run": next_run,
                    "paused": controls[p.name].paused,
                    "paused_by": controls[p.name].changed_by if controls[p.name].paused else None,
                }
            )
        store = self.app.mappings
        return {
            "pipelines": pipelines,
            "systems": self._systems(),
            "mappings": {
                "version": store.current().version,
                "loaded_at": store.loaded_at,
                "refused": [str(p) for p in store.last_error.problems] if store.last_error else [],
            },
            "deadlines": self._deadlines(),
        }

    def _systems(self) -> list[dict[str, Any]]:
        """Each system's health from the calls made to it (unknown until a run has called it)."""
        return [
            {"type": cfg.type, **health_row(self.app.system_health(name))}
            for name, cfg in self.app.settings.systems.items()
        ]

    def _watch_mappings(self) -> None:
        try:
            self.app.mappings.refresh()
            self.app.save_health()  # a long run's calls show in `status` before it ends
        except Exception:  # never let a watcher error stop the scheduler
            log.exception("mappings_watch_failed")

    def _alerts_job(self) -> None:
        """Read the alert conditions and queue what is to be told (sent on the alerts thread)."""
        if self.alerter is None or self.stop.is_set():
            return
        try:
            self.alerter.evaluate(
                self._circuits,
                self._mapping_problems,
                stuck=self.stuck_pipelines,
                leases=self.app.leases.problems,
            )
        except Exception:  # an alert bug must never stop the scheduler
            log.exception("alerts_job_failed")

    def _circuits(self) -> dict[str, bool]:
        """Each system this process has called: its circuit breaker open or not."""
        out = {}
        for name in self.app.settings.systems:
            system = self.app.built_system(name)
            if system is not None:
                out[name] = system.health().state is HealthState.CIRCUIT_OPEN
        return out

    def _mapping_problems(self) -> list[str]:
        error = self.app.mappings.last_error
        return [str(p) for p in error.problems] if error else []

    def _watch_controls(self) -> None:
        """Runs operators asked for (console or CLI, on any instance sharing the ledger), started here
        if this instance claims them first."""
        try:
            asked = self.app.ledger.claim_run_requests()
        except Exception:  # the ledger unreachable: the runs themselves will say so
            log.exception("controls_watch_failed")
            return
        if asked:
            log.info("run_requested", pipelines=asked)
            self.retry_now(asked)

    def retry_now(self, pipelines: list[str]) -> None:
        """Bring the next run of these pipelines forward to now (it retries what was queued)."""
        now = aware_now(self.zone)
        for name in pipelines:
            if self.scheduler.get_job(name) is not None:
                self.scheduler.modify_job(name, next_run_time=now)

    def _deadlines(self) -> list[dict[str, Any]] | None:
        """双公示 decisions overdue or due within 2 working days, most urgent first (None: no credit flow)."""
        if not any(s.type == "credit" for s in self.app.settings.systems.values()):
            return None
        from sync.report.deadlines import deadlines

        at_risk = [
            d
            for d in deadlines(self.app.ledger, self.app.settings, beijing_now().date())
            if d.state in ("overdue", "due_soon")
        ]
        return [
            {
                "文号": d.doc_no,
                "当事人": d.party_name,
                "决定日期": d.decided_on,
                "公示期限": d.due,
                "状态": ("已逾期" if d.state == "overdue" else "2个工作日内到期")
                + (" (首次读到时已逾期)" if d.overdue_when_read else ""),
                "目标": d.target,
            }
            for d in at_risk[:50]
        ]

    def start(self) -> None:
        # Aware: a naive "now" is read in the scheduler's zone, and on a UTC server that put every first
        # run 8 hours in the past, beyond the misfire grace: the cron pipelines' first run was dropped.
        self.add_jobs(aware_now(self.zone))
        self.scheduler.start()
        if self.console:
            self._start_console()
        log.info("service_started", pipelines=[p.name for p in self.app.settings.pipelines if p.enabled])

    def add_jobs(self, now: datetime) -> None:
        """Each enabled pipeline (first run at ``now``, aware), its nightly reconciliation, the mappings watcher."""
        for p in self.app.settings.pipelines:
            if p.enabled:
                self.scheduler.add_job(
                    self._job,
                    trigger_for(p, self.zone),
                    args=[p.name],
                    id=p.name,
                    name=p.name,
                    next_run_time=now,
                )
            cfg = self.app.settings.reconcile_of(p.name)
            if p.enabled and cfg.enabled:
                self.scheduler.add_job(
                    self._reconcile_job,
                    CronTrigger.from_crontab(cfg.cron, timezone=self.zone),
                    args=[p.name],
                    id=f"reconcile:{p.name}",
                    name=f"reconcile:{p.name}",
                )
        # Notice edited mapping tables between runs too: a refused edit shows in status within a minute.
        self.scheduler.add_job(
            self._watch_mappings,
            IntervalTrigger(seconds=30, timezone=self.zone),
            id="mappings-watch",
            name="mappings-watch",
        )
        if self.alerter is not None:
            self.scheduler.add_job(
                self._alerts_job, IntervalTrigger(minutes=1, timezone=self.zone), id="alerts", name="alerts"
            )
        # Runs asked for from the console or ``zhifa-sync pipelines run``, by any instance: within seconds.
        self.scheduler.add_job(
            self._watch_controls,
            IntervalTrigger(seconds=CONTROLS_POLL_S, timezone=self.zone),
            id="controls-watch",
            name="controls-watch",
        )

    def _start_console(self) -> None:
        try:
            from console.app import create_app, exposure_warning
            from console.peers import SERVER_OPTIONS
        except ImportError:  # pragma: no cover - console package missing from an install
            log.warning("console_unavailable")
            return
        cfg = self.app.settings.console
        app = create_app(
            self.app.ledger,
            self.app.settings,
            status=self.status,
            retry_now=self.retry_now,
            health=self.health,
            check_live=self.app.check_mappings_live,
        )
        warning = exposure_warning(cfg.host, cfg)
        if warning:
            log.warning("console_exposed", message=warning)
        server = uvicorn.Server(uvicorn.Config(app, host=cfg.host, port=cfg.port, **SERVER_OPTIONS))
        # uvicorn installs no signal handlers outside the main thread: ours handle SIGTERM.
        thread = threading.Thread(target=server.run, name="console", daemon=True)
        thread.start()
        self._console_server = (server, thread)
        log.info("console_listening", url=f"http://{cfg.host}:{cfg.port}/")

    def scheduler_alive(self) -> bool:
        """The scheduler runs and its thread is alive (what the systemd watchdog vouches for)."""
        thread = getattr(self.scheduler, "_thread", None)
        return bool(self.scheduler.running) and (thread is None or thread.is_alive())

    def shutdown(self) -> bool:
        """Stop: runs finish the page in hand within ``stop_grace_s``; False if some still hang then."""
        self._stop_at = time.monotonic() + self.app.settings.stop_grace_s
        self.stop.set()
        systemd.notify("STOPPING=1", "STATUS=finishing the batch in hand")
        self.scheduler.shutdown(wait=True)  # each job returns once its run ended or the grace is over
        if self.alerter is not None:
            self.alerter.dispatcher.stop()
        if self._console_server is not None:
            server, thread = self._console_server
            server.should_exit = True
            thread.join(timeout=10)
        with self._guard:
            hanging = sorted({w.pipeline for w in self._runs.values() if w.thread.is_alive()})
        if hanging:
            log.warning(
                "stop_forced",
                pipelines=hanging,
                grace_s=self.app.settings.stop_grace_s,
                message=f"停止宽限 {self.app.settings.stop_grace_s:g} 秒已到, 仍在等待对端的运行被中止: "
                + ", ".join(hanging),
            )
        log.info("service_stopped")
        return not hanging

    def serve_forever(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        systemd.notify("READY=1", "STATUS=scheduler running")
        watchdog = systemd.watchdog_interval()
        clean = False
        try:
            while not self.stop.wait(min(1.0, watchdog or 1.0)):
                if watchdog and watchdog_ok(self.scheduler_alive(), self.stuck()):
                    systemd.notify("WATCHDOG=1")
        finally:
            clean = self.shutdown()
        if not clean:
            # A thread in a call cannot be cancelled, and the push pools' workers are joined at exit:
            # leave now, as a SIGKILL would (the ledger is safe against that: tests/e2e/test_kill_restart).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
