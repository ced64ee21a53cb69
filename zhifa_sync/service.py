"""``zhifa-sync run``: the pipelines on their schedules (APScheduler) until SIGTERM.

SIGTERM/SIGINT set a stop event: each running pipeline finishes the page in hand, saves its cursor and
returns; the scheduler then shuts down and the process exits. Under systemd (``Type=notify``) the
service says ``READY=1`` once config, database and mapping tables are loaded and the scheduler runs,
and pings the watchdog from the main loop only while the scheduler thread is alive.
"""

from __future__ import annotations

import signal
import threading
from datetime import date, datetime
from typing import Any

import structlog
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sync.config import PipelineConfig
from zhifa_sync import systemd
from zhifa_sync.app import App

log = structlog.get_logger("zhifa.service")
TIMEZONE = "Asia/Shanghai"


def _local(unix: float | None) -> datetime | None:
    return datetime.fromtimestamp(unix).replace(microsecond=0) if unix else None


def trigger_for(p: PipelineConfig) -> Any:
    if p.schedule.cron:
        return CronTrigger.from_crontab(p.schedule.cron, timezone=TIMEZONE)
    return IntervalTrigger(minutes=p.schedule.interval_minutes or 10, timezone=TIMEZONE)


class Service:
    def __init__(self, app: App, *, console: bool = True) -> None:
        self.app = app
        self.stop = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=TIMEZONE,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
        )
        self.console = console
        self._console_server: Any = None

    def _job(self, name: str) -> None:
        if self.stop.is_set():
            return
        try:
            self.app.run_pipeline(name, self.stop)
        except Exception:  # logged by the pipeline; the scheduler must keep going
            log.exception("pipeline_job_failed", pipeline=name)

    def status(self) -> dict[str, Any]:
        """What the console's overview shows about the running service."""
        pipelines = []
        for p in self.app.settings.pipelines:
            job = self.scheduler.get_job(p.name)
            next_run = job.next_run_time.replace(tzinfo=None) if job and job.next_run_time else None
            pipelines.append(
                {
                    "name": p.name,
                    "enabled": p.enabled,
                    "source": p.source,
                    "targets": p.targets,
                    "kind": p.kind,
                    "next_run": next_run,
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
        out = []
        for name, cfg in self.app.settings.systems.items():
            built = self.app.built_system(name)
            h = built.health() if built is not None else None
            out.append(
                {
                    "name": name,
                    "type": cfg.type,
                    "health": h.state if h else "unknown",
                    "last_success": _local(h.last_success_at) if h else None,
                    "last_error": h.last_error if h else None,
                    "last_error_at": _local(h.last_error_at) if h else None,
                }
            )
        return out

    def _watch_mappings(self) -> None:
        try:
            self.app.mappings.refresh()
        except Exception:  # never let a watcher error stop the scheduler
            log.exception("mappings_watch_failed")

    def retry_now(self, pipelines: list[str]) -> None:
        """Bring the next run of these pipelines forward to now (it retries what was queued)."""
        now = datetime.now(self.scheduler.timezone)
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
            for d in deadlines(self.app.ledger, self.app.settings, date.today())
            if d.state in ("overdue", "due_soon")
        ]
        return [
            {
                "文号": d.doc_no,
                "当事人": d.party_name,
                "决定日期": d.decided_on,
                "公示期限": d.due,
                "状态": "已逾期" if d.state == "overdue" else "2个工作日内到期",
                "目标": d.target,
            }
            for d in at_risk[:50]
        ]

    def start(self) -> None:
        now = datetime.now()
        for p in self.app.settings.pipelines:
            if p.enabled:
                self.scheduler.add_job(
                    self._job, trigger_for(p), args=[p.name], id=p.name, name=p.name, next_run_time=now
                )
        # Notice edited mapping tables between runs too: a refused edit shows in status within a minute.
        self.scheduler.add_job(
            self._watch_mappings,
            IntervalTrigger(seconds=30, timezone=TIMEZONE),
            id="mappings-watch",
            name="mappings-watch",
        )
        self.scheduler.start()
        if self.console:
            self._start_console()
        log.info("service_started", pipelines=[p.name for p in self.app.settings.pipelines if p.enabled])

    def _start_console(self) -> None:
        try:
            from console.app import create_app, exposure_warning
            from console.peers import SERVER_OPTIONS
        except ImportError:  # pragma: no cover - console package missing from an install
            log.warning("console_unavailable")
            return
        cfg = self.app.settings.console
        app = create_app(self.app.ledger, self.app.settings, status=self.status, retry_now=self.retry_now)
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

    def shutdown(self) -> None:
        self.stop.set()
        systemd.notify("STOPPING=1", "STATUS=finishing the batch in hand")
        self.scheduler.shutdown(wait=True)  # running pipelines finish the batch in hand
        if self._console_server is not None:
            server, thread = self._console_server
            server.should_exit = True
            thread.join(timeout=10)
        log.info("service_stopped")

    def serve_forever(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        systemd.notify("READY=1", "STATUS=scheduler running")
        watchdog = systemd.watchdog_interval()
        try:
            while not self.stop.wait(min(1.0, watchdog or 1.0)):
                if watchdog and self.scheduler_alive():
                    systemd.notify("WATCHDOG=1")
        finally:
            self.shutdown()
