"""A corrected mapping table uploaded by an administrator: checked, compared, applied, kept, and undone.

``stage`` puts the uploaded file beside copies of the other tables in a staging folder and checks the
whole set there, exactly as a reload would (``store.validate``: every ``file:line`` problem), and
compares it row by row with the set in force. ``apply`` writes it into the mappings folder only when
that check is clean — atomically, so a reader never sees half a file — and keeps the file it replaced
as a version in the ledger with who and when; ``rollback`` writes a kept version back the same way.
The running service switches to the new set at its next look at the files (hot reload), and records
parked for want of a mapping are replayed then, as after any edit of the files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from connectors.contract.mapping import TABLES, CheckReport, Mappings, Problem
from sync.ledger import Ledger
from sync.mapping import files as mapping_files
from sync.mapping.check import ALL_SYSTEMS
from sync.mapping.store import validate

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # the largest table in use is ~50 kB; anything near this is a mistake
EXTENSIONS = (".csv", ".xlsx")


class UploadRefused(ValueError):
    """The upload cannot even be checked (unknown table, wrong kind of file, too big): the message says why."""


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row of the table, before and after (None: the row is new, or removed)."""

    key: str
    before: dict[str, str] | None
    after: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class Staged:
    """An uploaded table, checked together with the rest of the set in force."""

    table: str
    filename: str  # as it will be written: <table>.csv or <table>.xlsx
    content: bytes
    report: CheckReport
    changes: list[RowChange] = field(default_factory=list)
    maps: Mappings | None = None  # the whole set with the upload in it, when it loaded (for the live check)

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.content).hexdigest()[:16]


def _target_name(table: str, uploaded_name: str, content: bytes) -> str:
    if table not in TABLES:
        raise UploadRefused(f"未知的映射表 {table}: 应为 {', '.join(TABLES)} 之一")
    ext = Path(uploaded_name).suffix.lower()
    if ext not in EXTENSIONS:
        raise UploadRefused(f"文件 {uploaded_name} 不是 CSV 或 xlsx: 请上传 {table}.csv 或 {table}.xlsx")
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadRefused(
            f"文件 {uploaded_name} 有 {len(content):,} 字节, 超过上限 {MAX_UPLOAD_BYTES:,} 字节"
        )
    if not content:
        raise UploadRefused(f"文件 {uploaded_name} 是空的")
    return f"{table}{ext}"


def _copy_set(directory: Path, into: Path, table: str) -> None:
    """The set's files, but for those of ``table`` (the upload replaces them)."""
    own = {f"{table}{ext}" for ext in EXTENSIONS}
    for path in mapping_files.table_files(directory):
        if path.name not in own:
            shutil.copy2(path, into / path.name)


def stage(
    directory: Path, table: str, uploaded_name: str, content: bytes, systems: frozenset[str] = ALL_SYSTEMS
) -> Staged:
    """Check ``content`` as table ``table`` with the rest of the set in ``directory``; what would change."""
    filename = _target_name(table, uploaded_name, content)
    with tempfile.TemporaryDirectory(prefix="zhifa-mappings-") as tmp:
        staging = Path(tmp)
        _copy_set(directory, staging, table)
        (staging / filename).write_bytes(content)
        maps, report = validate(staging, systems)
        # the uploaded file is named as the operator knows it, not by the staging folder
        report.errors[:] = [_named(p, uploaded_name, filename) for p in report.errors]
        report.warnings[:] = [_named(p, uploaded_name, filename) for p in report.warnings]
        changes = _changes(directory, table, maps) if maps is not None else []
    return Staged(table, filename, content, report, changes, maps)


def _named(p: Problem, uploaded: str, filename: str) -> Problem:
    return Problem(uploaded, p.line, p.column, p.message) if p.file == filename else p


def _changes(directory: Path, table: str, new: Mappings) -> list[RowChange]:
    old, _ = mapping_files.load_with_problems(directory)
    before = old.tables.get(table)
    after = new.tables.get(table)
    rows_before = {"/".join(k): r.values for k, r in (before.rows.items() if before else [])}
    rows_after = {"/".join(k): r.values for k, r in (after.rows.items() if after else [])}
    out = [
        RowChange(key, rows_before.get(key), rows_after.get(key))
        for key in sorted(rows_before.keys() | rows_after.keys())
        if rows_before.get(key) != rows_after.get(key)
    ]
    return out


def apply(directory: Path, staged: Staged, ledger: Ledger, actor: str) -> int:
    """Write a clean staged table into ``directory``, keeping what it replaces; returns the version id."""
    if not staged.ok:
        raise UploadRefused("检查未通过的映射表不能应用: 请先修正所列问题")
    previous = _current_file(directory, staged.table)
    version = ledger.add_mapping_version(
        staged.table,
        staged.filename,
        staged.content,
        actor,
        replaced=(previous.name, previous.read_bytes()) if previous else None,
        changes=len(staged.changes),
    )
    _write(directory, staged.table, staged.filename, staged.content)
    return version


def rollback(directory: Path, version_id: int, ledger: Ledger, actor: str) -> Staged:
    """Write back the file a version replaced (or, for the first upload, the one before it), if the
    set is still clean with it; returns what was checked."""
    version = ledger.mapping_version(version_id)
    if version is None or version.replaced_content is None or version.replaced_name is None:
        raise UploadRefused(f"没有可以恢复的版本 #{version_id}")
    staged = stage(directory, version.table, version.replaced_name, version.replaced_content)
    if staged.ok:
        ledger.add_mapping_version(
            staged.table,
            staged.filename,
            staged.content,
            actor,
            replaced=_replaced(directory, staged.table),
            changes=len(staged.changes),
            rollback_of=version_id,
        )
        _write(directory, staged.table, staged.filename, staged.content)
    return staged


def _replaced(directory: Path, table: str) -> tuple[str, bytes] | None:
    current = _current_file(directory, table)
    return (current.name, current.read_bytes()) if current else None


def _current_file(directory: Path, table: str) -> Path | None:
    return next((p for ext in EXTENSIONS if (p := directory / f"{table}{ext}").exists()), None)


def _write(directory: Path, table: str, filename: str, content: bytes) -> None:
    """Atomic replace (write a temporary file in the same folder, fsync, rename), then remove the
    table's file of the other extension, so exactly one file holds the table."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".upload")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / filename)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for ext in EXTENSIONS:
        other = directory / f"{table}{ext}"
        if other.name != filename:
            other.unlink(missing_ok=True)
