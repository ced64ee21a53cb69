"""The mapping tables in force: hot reload that never leaves a process with a half-broken set.

Each ``current()`` (every pipeline run asks) looks at the table files; when they changed, the whole
set is loaded and checked offline (``sync.mapping.check``), and the process switches only when there
is no error. A refused edit leaves the last good set in force; its reasons go to the log, to
``last_error`` and to the ledger, so that ``zhifa-sync status`` — another process — shows them.

Ledger ``meta`` keys (JSON; shared by every process that uses the tables):

- ``mappings:in_force`` — the set last switched to: ``version``, ``loaded_at``, ``instance``,
  ``files`` (table → file), ``rows`` (table → row count).
- ``mappings:rows`` — a digest of every row (table → key → hash), so that the next switch, even after
  a restart, can say which rows were added, changed or removed.
- ``mappings:refused`` — the last refused edit: ``at``, ``instance``, ``in_force`` (the version kept),
  ``problems`` (``file:line: column: message``); ``""`` once a valid set is in force again.

Each switch is an audit-log entry (``action = "mappings_reload"``) with its summary; a refusal is one
too (``mappings_refused``), once per distinct set of problems.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from connectors.contract.clock import beijing_now
from connectors.contract.mapping import CheckReport, MappingFileError, Mappings, Problem
from connectors.contract.states import AuditAction
from sync.ledger import Ledger
from sync.mapping import files as mapping_files
from sync.mapping.check import ALL_SYSTEMS, check_offline
from sync.mapping.files import table_files

log = structlog.get_logger("zhifa.mappings")

META_IN_FORCE = "mappings:in_force"
META_ROWS = "mappings:rows"
META_REFUSED = "mappings:refused"
AUDIT_RELOAD = AuditAction.MAPPINGS_RELOAD
AUDIT_REFUSED = AuditAction.MAPPINGS_REFUSED
ACTOR = "zhifa-sync"


def _now() -> datetime:
    return beijing_now()


@dataclass(frozen=True)
class TableChange:
    """Rows added, changed and removed in one table by a switch (a few keys of each, for people)."""

    table: str
    file: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def summary(self) -> str:
        parts = []
        for label, keys in (("新增", self.added), ("修改", self.changed), ("删除", self.removed)):
            if keys:
                shown = ", ".join(keys[:5]) + (" 等" if len(keys) > 5 else "")
                parts.append(f"{label} {len(keys)} 行 ({shown})")
        return f"{self.file} " + "、".join(parts)


@dataclass(frozen=True)
class Switch:
    """One change of the set in force."""

    at: datetime
    previous: str | None
    version: str
    changes: tuple[TableChange, ...]

    def summary(self) -> str:
        files = ", ".join(c.file for c in self.changes) or "无行变化"
        head = f"映射表切换 {self.previous or '(无记录)'} → {self.version} (文件: {files})"
        return head + ("; " + "; ".join(c.summary() for c in self.changes) if self.changes else "")


def row_digests(maps: Mappings) -> dict[str, dict[str, str]]:
    """table → key → short hash of the row's values: enough to tell added/changed/removed rows."""
    out: dict[str, dict[str, str]] = {}
    for name, table in maps.tables.items():
        out[name] = {
            "/".join(key): hashlib.sha256(
                json.dumps(row.values, sort_keys=True, ensure_ascii=False).encode()
            ).hexdigest()[:12]
            for key, row in table.rows.items()
        }
    return out


def diff(
    old: dict[str, dict[str, str]], new: dict[str, dict[str, str]], files: dict[str, str]
) -> list[TableChange]:
    """What changed per table between two digests (tables in ``new`` order, then removed tables)."""
    changes = []
    for name in [*new, *(n for n in old if n not in new)]:
        before, after = old.get(name, {}), new.get(name, {})
        change = TableChange(
            name,
            files.get(name, f"{name}.csv"),
            added=tuple(sorted(k for k in after if k not in before)),
            changed=tuple(sorted(k for k in after if k in before and before[k] != after[k])),
            removed=tuple(sorted(k for k in before if k not in after)),
        )
        if change.added or change.changed or change.removed:
            changes.append(change)
    return changes


def validate(directory: Path, systems: Iterable[str] = ALL_SYSTEMS) -> tuple[Mappings | None, CheckReport]:
    """Load and check the set in ``directory``; the set is None when anything is an error."""
    maps, problems = mapping_files.load_with_problems(directory)
    report = check_offline(maps, systems)
    report.errors[:0] = problems
    return (maps if report.ok else None), report


class MappingStore:
    """The mapping tables in force in this process: reloaded when the files change, switched only to a valid set.

    Nothing is read at construction: the first ``current()`` loads (and raises ``MappingFileError``
    when there is no valid set yet); ``inspect()`` only reads, for ``zhifa-sync status``.
    """

    def __init__(self, directory: Path, ledger: Ledger, *, systems: Iterable[str] = ALL_SYSTEMS) -> None:
        self.directory = Path(directory)
        self.ledger = ledger
        self.systems = frozenset(systems)
        self._lock = threading.Lock()
        self._current: Mappings | None = None
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None
        self.last_error: MappingFileError | None = None
        self.last_warnings: list[Problem] = []
        self.last_switch: Switch | None = None
        self.loaded_at: datetime | None = None

    def _stat(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for p in table_files(self.directory):
            try:
                st = p.stat()
            except OSError:  # removed between listing and stat: the next look sees it gone
                continue
            out.append((p.name, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def current(self) -> Mappings:
        """The set in force, after switching to the files on disk if they changed and are valid."""
        with self._lock:
            fingerprint = self._stat()
            if fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                self._reload()
            if self._current is None:
                assert self.last_error is not None
                raise self.last_error
            return self._current

    def refresh(self) -> bool:
        """Look at the files now; True when the set in force changed."""
        before = self._current.version if self._current else None
        try:
            after = self.current().version
        except MappingFileError:
            return False
        return after != before

    # -- switching and refusing ------------------------------------------------------------------
    def _reload(self) -> None:
        maps, report = validate(self.directory, self.systems)
        if maps is None:
            self._refuse(report.errors)
            return
        previous = self._current
        self._current, self.last_error, self.last_warnings = maps, None, report.warnings
        self.loaded_at = _now()
        if report.warnings:
            log.warning(
                "mappings_warnings", count=len(report.warnings), first=[str(p) for p in report.warnings[:5]]
            )
        try:
            self._record_switch(maps, previous)
        except Exception:  # the ledger being down must not undo a valid switch
            log.exception("mappings_meta_unwritable")

    def _refuse(self, problems: list[Problem]) -> None:
        self.last_error = MappingFileError(problems)
        texts = [str(p) for p in problems]
        kept = self._current.version if self._current else None
        log.error("mappings_refused", in_force=kept, problems=texts[:50], count=len(texts))
        try:
            raw = self.ledger.get_meta(META_REFUSED)
            earlier = json.loads(raw) if raw else {}
            self.ledger.set_meta(
                META_REFUSED,
                json.dumps(
                    {
                        "at": _now().isoformat(sep=" "),
                        "instance": self.ledger.instance,
                        "in_force": kept,
                        "problems": texts,
                    },
                    ensure_ascii=False,
                ),
            )
            if earlier.get("problems") != texts:
                self.ledger.add_audit(
                    ACTOR,
                    AUDIT_REFUSED,
                    f"映射表修改被拒绝, 仍使用 {kept or '(无)'}: 共 {len(texts)} 个问题; "
                    + "; ".join(texts[:5]),
                )
        except Exception:
            log.exception("mappings_meta_unwritable")

    def _record_switch(self, maps: Mappings, previous: Mappings | None) -> None:
        raw = self.ledger.get_meta(META_IN_FORCE)
        in_force = json.loads(raw) if raw else None
        digests = row_digests(maps)
        if in_force is None or in_force.get("version") != maps.version:
            if in_force is not None or previous is not None:
                if previous is not None:
                    old = row_digests(previous)
                else:
                    old_raw = self.ledger.get_meta(META_ROWS)
                    old = json.loads(old_raw) if old_raw else {}
                switch = Switch(
                    _now(),
                    previous.version if previous else in_force and in_force.get("version"),
                    maps.version,
                    tuple(diff(old, digests, maps.files())),
                )
                self.last_switch = switch
                log.info(
                    "mappings_reloaded",
                    version=maps.version,
                    previous=switch.previous,
                    changes=[c.summary() for c in switch.changes],
                )
                self.ledger.add_audit(ACTOR, AUDIT_RELOAD, switch.summary())
            self.ledger.set_meta(META_ROWS, json.dumps(digests, ensure_ascii=False, separators=(",", ":")))
            self.ledger.set_meta(
                META_IN_FORCE,
                json.dumps(
                    {
                        "version": maps.version,
                        "loaded_at": _now().isoformat(sep=" "),
                        "instance": self.ledger.instance,
                        "files": maps.files(),
                        "rows": {n: len(t) for n, t in maps.tables.items()},
                    },
                    ensure_ascii=False,
                ),
            )
        elif previous is not None and previous.version != maps.version:
            log.info(
                "mappings_reloaded", version=maps.version, previous=previous.version, recorded_elsewhere=True
            )
        if self.ledger.get_meta(META_REFUSED):
            self.ledger.set_meta(META_REFUSED, "")

    # -- reading, for status and the console -----------------------------------------------------
    def inspect(self, recent: int = 5) -> MappingState:
        """What status shows: the set in force (as the service recorded it), a refusal, recent switches,
        and whether the files on disk are valid now. Reads only: never switches, never writes."""

        def meta(key: str) -> dict[str, Any] | None:
            raw = self.ledger.get_meta(key)
            return json.loads(raw) if raw else None

        history, _ = self.ledger.audit_page(limit=recent, actions=(AUDIT_RELOAD, AUDIT_REFUSED))
        maps, report = validate(self.directory, self.systems)
        return MappingState(
            directory=self.directory,
            in_force=meta(META_IN_FORCE),
            refused=meta(META_REFUSED),
            history=history,
            disk_version=maps.version if maps else None,
            disk_errors=[str(p) for p in report.errors],
            disk_warnings=[str(p) for p in report.warnings],
            local_version=self._current.version if self._current else None,
            local_loaded_at=self.loaded_at,
        )


@dataclass
class MappingState:
    """The mapping tables as ``zhifa-sync status`` and the console show them."""

    directory: Path
    in_force: dict[str, Any] | None
    refused: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    disk_version: str | None = None
    disk_errors: list[str] = field(default_factory=list)
    disk_warnings: list[str] = field(default_factory=list)
    local_version: str | None = None
    local_loaded_at: datetime | None = None

    def lines(self) -> list[str]:
        out = [f"映射表 (目录 {self.directory})"]
        if self.in_force:
            f = self.in_force
            rows = ", ".join(f"{f.get('files', {}).get(n, n)} {c} 行" for n, c in f.get("rows", {}).items())
            out.append(
                f"  在用版本 {f.get('version')}, 载入于 {f.get('loaded_at')} (实例 {f.get('instance')})"
            )
            if rows:
                out.append(f"  {rows}")
        elif self.local_version:
            out.append(f"  在用版本 {self.local_version}, 载入于 {self.local_loaded_at}")
        else:
            out.append("  尚无服务载入过映射表")
        if self.refused:
            r = self.refused
            out.append(
                f"  !! {r.get('at')} 的修改被拒绝 (实例 {r.get('instance')}), 仍使用上一版有效映射表"
                f" {r.get('in_force') or '(无)'}; 修正以下问题后自动切换:"
            )
            out.extend(f"     {p}" for p in r.get("problems", []))
        elif self.disk_errors:
            out.append("  !! 目录中的映射表有误, 服务下次读取时将拒绝 (继续使用上一版):")
            out.extend(f"     {p}" for p in self.disk_errors)
        elif self.in_force and self.disk_version and self.disk_version != self.in_force.get("version"):
            out.append(f"  目录中的映射表已修改 (版本 {self.disk_version}), 服务下次运行时切换")
        if self.disk_warnings:
            out.append(f"  提示 {len(self.disk_warnings)} 条 (运行 zhifa-sync mappings check 查看), 如:")
            out.extend(f"     {p}" for p in self.disk_warnings[:3])
        if self.history:
            out.append("  最近的切换与拒绝:")
            out.extend(
                f"     {h['at']}  {'切换' if h['action'] == AUDIT_RELOAD else '拒绝'}  {h['detail']}"
                for h in self.history
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        """For the console: plain values only."""
        return {
            "directory": str(self.directory),
            "in_force": self.in_force,
            "refused": self.refused,
            "history": [{**h, "at": str(h["at"])} for h in self.history],
            "disk_version": self.disk_version,
            "disk_errors": self.disk_errors,
            "disk_warnings": self.disk_warnings,
        }
