"""Wiring: from a configuration file to a ledger, connectors, mapping tables and pipelines."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from connectors import systems
from connectors.contract.config import Secrets
from connectors.contract.roles import System
from sync import push_process
from sync.config import PipelineConfig, Settings, load_settings
from sync.lease import Leases
from sync.ledger import Ledger
from sync.mapping.store import MappingStore
from sync.outcomes import RunCounts
from sync.pipeline import Pipeline

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
        self._pipelines: dict[str, Pipeline] = {}
        self._locks = {p.name: threading.Lock() for p in settings.pipelines}
        self.leases = Leases(ledger.engine)  # one instance at a time per pipeline, across processes

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
        """The configured system ``name``, built on first use."""
        if name not in self._systems:
            self._systems[name] = systems.create(name, self.settings.systems[name], self.secrets)
        return self._systems[name]

    def built_system(self, name: str) -> System | None:
        """System ``name`` if something has used it already (looking does not connect)."""
        return self._systems.get(name)

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
            marks = [self.ledger.get_meta(f"read_until:{name}") for name in upstream]
            if any(m is None for m in marks):
                return None
            margin = timedelta(seconds=cfg.clock_margin_s)
            return min(datetime.strptime(m, "%Y-%m-%d %H:%M:%S") for m in marks if m) - margin

        return cap

    def run_pipeline(
        self, name: str, stop: threading.Event | None = None, *, retries_only: bool = False
    ) -> RunCounts:
        """One run; a pipeline never runs twice at once, here or on another instance (then: "skipped")."""
        with self._locks[name], self.leases.hold(name) as held:
            if not held:
                log.info("pipeline_busy_elsewhere", pipeline=name)
                return RunCounts(status="skipped")
            return self.pipeline(name).run(stop, retries_only=retries_only)

    def run_once(
        self, names: Iterable[str] | None = None, stop: threading.Event | None = None
    ) -> dict[str, RunCounts]:
        chosen = list(names) if names else [p.name for p in self.settings.pipelines if p.enabled]
        unknown = [n for n in chosen if n not in self._locks]
        if unknown:
            raise KeyError(f"未知的管道: {', '.join(unknown)} (已配置: {', '.join(self._locks)})")
        results = {}
        for name in chosen:
            results[name] = self.run_pipeline(name, stop)
            if stop is not None and stop.is_set():
                break
        return results

    def close(self) -> None:
        for system in self._systems.values():
            system.close()
        self.leases.close()
        self.ledger.close()
