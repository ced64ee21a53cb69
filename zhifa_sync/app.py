"""Wiring: from a configuration file to a ledger, connectors, mapping tables and pipelines."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from connectors import systems
from connectors.contract.config import Secrets
from connectors.contract.health import HealthState
from connectors.contract.mapping import Mappings
from connectors.contract.roles import System
from connectors.contract.states import RunStatus
from sync import health, metrics, push_process
from sync.config import PipelineConfig, Settings, load_settings
from sync.health import SystemHealth
from sync.lag import read_until_key
from sync.lease import Leases
from sync.ledger import Ledger
from sync.mapping.check import LiveCheck, check_live_where_reachable
from sync.mapping.store import MappingStore
from sync.outcomes import RunCounts
from sync.pipeline import Pipeline
from sync.progress import Progress
from sync.steering import check_reread

if TYPE_CHECKING:
    from sync.reconcile import Result

log = structlog.get_logger("zhifa.app")


class App:
    def __init__(self, settings: Settings, secrets: Secrets, ledger: Ledger) -> None:
        self.settings = settings
        self.secrets = secrets
        self.ledger = ledger
        self.mappings = MappingStore(
            settings.mappings_dir, ledger, systems={s.type for s in settings.systems.values()}
        )
        self._systems: dict[str, System] = {}
        self._build_lock = threading.Lock()
        self._pipelines: dict[str, Pipeline] = {}
        self._locks = {p.name: threading.Lock() for p in settings.pipelines}
        # Runs sharing a lease that a run of this process took and was then abandoned while holding it.
        self._lease_users: dict[str, int] = {}
        self._lease_cv = threading.Condition()
        # one instance at a time per pipeline, across processes; named by our instance to the others
        self.leases = Leases(ledger.engine, ledger.instance)

    @classmethod
    def from_config(cls, path: Path | str, *, secrets_dir: Path | None = None) -> App:
        settings, secrets = load_settings(path, secrets_dir=secrets_dir)
        ledger = Ledger.connect(settings.database.url, upgrade=settings.database.auto_upgrade)
        return cls(settings, secrets, ledger)

    def systems_of(self, pipelines: Iterable[str] | None = None) -> set[str]:
        """The systems these pipelines (the enabled ones when None) read from or write to."""
        chosen = set(pipelines) if pipelines else {p.name for p in self.settings.pipelines if p.enabled}
        found: set[str] = set()
        for p in self.settings.pipelines:
            if p.name in chosen:
                found.update([p.source, *p.targets])
        return found

    def system(self, name: str) -> System:
        """The configured system ``name``, built on first use — once: the scheduler starts pipelines in
        threads at the same moment, and two builds gave two clients (two rate limiters, and a health
        report the console read while the pipelines called the other one)."""
        with self._build_lock:
            if name not in self._systems:
                self._systems[name] = systems.create(name, self.settings.systems[name], self.secrets)
            return self._systems[name]

    def check_mappings_live(self, maps: Mappings) -> LiveCheck:
        """``maps`` against the live catalogues of the configured systems, skipping (and naming) those
        that cannot be reached; each system built afresh and closed (the pipelines' are left alone)."""

        def connect(name: str) -> System:
            return systems.create(name, self.settings.systems[name], self.secrets)

        return check_live_where_reachable(self.settings.systems, connect, maps)

    def built_system(self, name: str) -> System | None:
        """System ``name`` if something has used it already (looking does not connect)."""
        return self._systems.get(name)

    def save_health(self) -> None:
        """Keep what each system used so far has answered in the ledger (``sync.health``): ``status``
        and a console in another process show it."""
        for name, system in list(self._systems.items()):
            report = system.health()
            if report.calls or report.state != HealthState.UNKNOWN:
                health.save(self.ledger, name, report)

    def system_health(self, name: str) -> SystemHealth:
        """This process's live view of ``name`` once it has called it, else the last saved one."""
        built = self._systems.get(name)
        report = built.health() if built is not None else None
        if report is not None and (report.calls or report.state != HealthState.UNKNOWN):
            return SystemHealth.of(name, report)
        return health.load(self.ledger, name)

    def pipeline(self, name: str) -> Pipeline:
        if name not in self._pipelines:
            cfg = self.settings.pipeline(name)
            targets = {t: self.system(t).target(cfg.kind) for t in cfg.targets}
            source = self.system(cfg.source).source()
            pipeline = Pipeline(
                cfg,
                source,
                targets,
                self.ledger,
                self.mappings.current,
                push_processes={
                    t: push_process.ChildSpec(
                        source.name,
                        cfg.kind,
                        t,
                        self.settings.systems[t],
                        self.secrets.only(t),
                        systems.create,
                    )
                    for t, target in targets.items()
                    if push_process.wanted(target.capabilities)
                },
            )
            # Asynchronous feedback (前置库) covers every kind written to a target, whichever pipeline
            # reads it: file each failure under the pipeline that owns that kind from this source.
            pipeline.kind_pipelines = {
                p.kind: p.name for p in self.settings.pipelines if p.source == cfg.source
            }
            pipeline.gate = self._gate(cfg)
            self._pipelines[name] = pipeline
        return self._pipelines[name]

    def _gate(self, cfg: PipelineConfig) -> Callable[[], datetime | None] | None:
        """Flow 3 must not run ahead of the flows it writes back into.

        A city record that is the twin of a district record is linked, never copied, but the twin can
        only be recognised once the district pipeline of that kind has read it. So a pipeline writing
        into system T reads its source only up to the time the enabled pipelines reading T (same kind)
        have fully read, less ``clock_margin_s`` for the two systems' clocks; before they have read at all, it
        waits."""
        # Only flows into the district (the source of truth) find twins through the ledger; the other
        # targets find hand-typed twins themselves (municipal E2005, credit DUPLICATE).
        into_district = [t for t in cfg.targets if self.settings.systems[t].type == "district"]
        upstream = [
            p.name
            for p in self.settings.pipelines
            if p.enabled and p.kind == cfg.kind and p.source in into_district and p.name != cfg.name
        ]
        if not upstream:
            return None

        def cap() -> datetime | None:
            marks = [self.ledger.get_meta(read_until_key(name)) for name in upstream]
            if any(m is None for m in marks):
                return None
            margin = timedelta(seconds=cfg.clock_margin_s)
            return min(datetime.strptime(m, "%Y-%m-%d %H:%M:%S") for m in marks if m) - margin

        return cap

    def run_pipeline(
        self,
        name: str,
        stop: threading.Event | None = None,
        *,
        retries_only: bool = False,
        progress: Progress | None = None,
    ) -> RunCounts:
        """One run; a pipeline never runs twice at once, here or on another instance (then: "skipped"),
        except beside a run of it that was abandoned as stuck (``abandon``), which commits nothing more."""
        if self.ledger.control(name).paused:
            log.info("pipeline_paused", pipeline=name)
            return RunCounts(status=RunStatus.PAUSED)
        with self._locks[name], self._lease(name) as held:
            if not held:
                log.info("pipeline_busy_elsewhere", pipeline=name)
                return RunCounts(status="skipped")
            if self.ledger.control(name).paused:  # paused by another instance meanwhile
                return RunCounts(status=RunStatus.PAUSED)
            self._apply_reread(name)
            try:
                return self.pipeline(name).run(stop, retries_only=retries_only, progress=progress)
            finally:
                self.save_health()
                self._report_circuits()

    def abandon(self, name: str) -> None:
        """Give up the hanging run of ``name`` (its progress already marked abandoned): the next run gets
        a fresh lock and pipeline object, and shares the lease the hanging run still holds."""
        self._locks[name] = threading.Lock()
        self._pipelines.pop(name, None)

    @contextmanager
    def _lease(self, name: str) -> Iterator[bool]:
        """The cross-process lease of ``name``; shared when an abandoned run of ours holds it, which
        then keeps it until every run sharing it has ended (no other instance slips in between)."""
        with self._lease_cv:
            shared = name in self._lease_users
            if shared:
                self._lease_users[name] += 1
        if shared:
            try:
                yield True
            finally:
                self._leave_lease(name)
            return
        with self.leases.hold(name) as held:
            if not held:
                yield False
                return
            with self._lease_cv:
                self._lease_users[name] = 1
            try:
                yield True
            finally:
                self._leave_lease(name, wait=True)

    def _leave_lease(self, name: str, *, wait: bool = False) -> None:
        with self._lease_cv:
            self._lease_users[name] -= 1
            self._lease_cv.notify_all()
            if wait:  # the holder: release only once nobody shares it any more
                self._lease_cv.wait_for(lambda: self._lease_users[name] == 0)
                del self._lease_users[name]

    def _apply_reread(self, name: str) -> None:
        """A re-read from a date an operator asked for: the cursor goes back to it (lease held)."""
        asked = self.ledger.control(name).reread_from
        if asked is None:
            return
        cursor = self.system(self.settings.pipeline(name).source).source().cursor_at(asked)
        if self.ledger.apply_reread(name, cursor, asked):
            log.warning("pipeline_reread", pipeline=name, since=asked.strftime("%Y-%m-%d %H:%M:%S"))

    def request_reread(self, name: str, since: datetime, actor: str) -> None:
        """Ask for pipeline ``name`` to read again from ``since`` on its next run (bounded: not before
        where the pipeline starts, not after the source's present)."""
        check_reread(self.settings.pipeline(name), since)
        self.ledger.request_reread(name, since, actor)

    def reconcile(
        self, name: str, since: datetime | None = None, *, repair: bool = False, actor: str = "system"
    ) -> Result | None:
        """One reconciliation of pipeline ``name`` (None: its source cannot list its records), under the
        pipeline's lock and lease, so a repair never pushes alongside the pipeline's own run."""
        from sync.reconcile import Reconciler

        cfg = self.settings.pipeline(name)
        lister = self.system(cfg.source).lister()
        if lister is None:
            return None
        readers = {t: r for t in cfg.targets if (r := self.system(t).reader(cfg.kind)) is not None}
        with self._locks[name], self._lease(name) as held:
            if not held:
                log.info("pipeline_busy_elsewhere", pipeline=name)
                return None
            return Reconciler(self.pipeline(name), lister, readers, self.ledger, actor).run(
                since, repair=repair
            )

    def _report_circuits(self) -> None:
        """Each built system's breaker state into the metrics (``/metrics``), after every run."""
        for system_name, system in self._systems.items():
            is_open = system.health().state is HealthState.CIRCUIT_OPEN
            metrics.CIRCUIT_OPEN.labels(system_name).set(1 if is_open else 0)
            if is_open:
                log.warning("circuit_open", system=system_name)

    def run_once(
        self, names: Iterable[str] | None = None, stop: threading.Event | None = None
    ) -> dict[str, RunCounts]:
        chosen = list(names) if names else [p.name for p in self.settings.pipelines if p.enabled]
        unknown = [n for n in chosen if n not in self._locks]
        if unknown:
            raise KeyError(f"未知的管道: {', '.join(unknown)} (已配置: {', '.join(self._locks)})")
        results = {}
        for name in chosen:
            try:
                results[name] = self.run_pipeline(name, stop)
            except Exception as exc:  # logged (run_crashed) and its run ended: the other pipelines go on
                results[name] = RunCounts(status=RunStatus.ERROR, error=f"{type(exc).__name__}: {exc}")
            if stop is not None and stop.is_set():
                break
        return results

    def close(self) -> None:
        for system in self._systems.values():
            system.close()
        self.leases.close()
        self.ledger.close()
