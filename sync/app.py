"""Wiring: from a configuration file to a ledger, connectors, mapping tables and pipelines."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from connectors import base as connector_base
from sync.config import Secrets, Settings, load_settings
from sync.ledger import Ledger, RunCounts
from sync.mapping import MappingFileError, Mappings
from sync.pipeline import Pipeline

log = structlog.get_logger("zhifa.app")


class MappingStore:
    """The mapping tables in force: reloaded when the files change, switched only to a valid set."""

    def __init__(self, directory: Path, ledger: Ledger) -> None:
        self.directory = directory
        self.ledger = ledger
        self._lock = threading.Lock()
        self._current = Mappings.load(directory)  # at start, a broken set is fatal
        self._fingerprint = self._stat()
        self.last_error: MappingFileError | None = None
        self.loaded_at = datetime.now().replace(microsecond=0)

    def _stat(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in self.directory.iterdir()
                            if p.suffix.lower() in (".csv", ".xlsx")))

    def current(self) -> Mappings:
        with self._lock:
            fingerprint = self._stat()
            if fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                try:
                    new = Mappings.load(self.directory)
                except MappingFileError as exc:
                    self.last_error = exc
                    log.error("mappings_refused", problems=[str(p) for p in exc.problems])
                else:
                    if new.version != self._current.version:
                        log.info("mappings_reloaded", version=new.version, previous=self._current.version)
                        self.ledger.add_audit("zhifa-sync", "mappings_reload",
                                              f"{self._current.version} → {new.version}")
                    self._current, self.last_error = new, None
                    self.loaded_at = datetime.now().replace(microsecond=0)
            return self._current


class App:
    def __init__(self, settings: Settings, secrets: Secrets, ledger: Ledger) -> None:
        self.settings = settings
        self.secrets = secrets
        self.ledger = ledger
        self.mappings = MappingStore(settings.mappings_dir, ledger)
        self._connectors: dict[str, Any] = {}
        self._pipelines: dict[str, Pipeline] = {}
        self._locks = {p.name: threading.Lock() for p in settings.pipelines}

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
            self._pipelines[name] = Pipeline(
                cfg, self.connector(cfg.source), {t: self.connector(t) for t in cfg.targets}, self.ledger,
                self.mappings.current,
            )
        return self._pipelines[name]

    def run_pipeline(self, name: str, stop: threading.Event | None = None, *, retries_only: bool = False) -> RunCounts:
        """One run; a pipeline never runs twice at once in this process."""
        with self._locks[name]:
            return self.pipeline(name).run(stop, retries_only=retries_only)

    def run_once(self, names: Iterable[str] | None = None, stop: threading.Event | None = None) -> dict[str, RunCounts]:
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
        self.ledger.close()
