"""Wiring: from a configuration file to a ledger, connectors, mapping tables and pipelines."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog

from connectors import base as connector_base
from sync.config import Secrets, Settings, load_settings
from sync.lease import Leases
from sync.ledger import Ledger, RunCounts
from sync.mapping_store import MappingStore
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
        self._connectors: dict[str, Any] = {}
        self._pipelines: dict[str, Pipeline] = {}
        self._locks = {p.name: threading.Lock() for p in settings.pipelines}
        self.leases = Leases(ledger.engine)  # one instance at a time per pipeline, across processes

    @classmethod
    def from_config(cls, path: Path | str) -> App:
        settings, secrets = load_settings(path)
        ledger = Ledger.connect(settings.database.url, upgrade=settings.database.auto_upgrade)
        return cls(settings, secrets, ledger)

    def connector(self, name: str) -> Any:
        if name not in self._connectors:
            self._connectors[name] = connector_base.create(name, self.settings.systems[name], self.secrets)
        return self._connectors[name]

    def pipeline(self, name: str) -> Pipeline:
        if name not in self._pipelines:
            cfg = self.settings.pipeline(name)
            pipeline = Pipeline(
                cfg,
                self.connector(cfg.source),
                {t: self.connector(t) for t in cfg.targets},
                self.ledger,
                self.mappings.current,
            )
            # Asynchronous feedback (前置库) covers every kind written to a target, whichever pipeline
            # reads it: file each failure under the pipeline that owns that kind from this source.
            pipeline.kind_pipelines = {
                p.kind: p.name for p in self.settings.pipelines if p.source == cfg.source
            }
            self._pipelines[name] = pipeline
        return self._pipelines[name]

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
        for c in self._connectors.values():
            c.close()
        self.leases.close()
        self.ledger.close()
