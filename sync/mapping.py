"""Mapping tables: the files under ``mappings/`` that administrators edit (CSV saved by Excel, or .xlsx).

Each table has a key (the district's code) and one column per target system. A lookup of a key with
no row, or a blank cell for the target in use, raises ``MappingMissing`` naming the file, the key and
the column — the record is parked until the table is fixed. A table set is loaded whole or not at
all: any problem in any file is a ``MappingFileError`` listing every ``file:line: column: problem``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from sync.errors import MappingMissing, ZhifaError


@dataclass(frozen=True)
class TableSpec:
    """A table's file name (without extension), key columns, the other columns, and a label for messages."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    label: str
    required: bool = True


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("items", ("district_item_code",),
                  ("district_item_name", "kind", "municipal_item_code", "hlwjg_item_code"), "区平台事项"),
        TableSpec("departments", ("district_dept_code",),
                  ("district_dept_name", "municipal_org_code", "region_code", "agency_name", "agency_uscc",
                   "hlwjg_cd_source"), "区平台部门"),
        TableSpec("officers", ("district_user_id",), ("name", "cert_no"), "区平台执法人员"),
        TableSpec("inspection_types", ("district_code",), ("name", "municipal_code", "hlwjg_code"), "检查类型"),
        TableSpec("inspection_results", ("district_code",),
                  ("name", "municipal_jcjg", "municipal_sfla", "hlwjg_code"), "检查结果"),
        TableSpec("penalty_types", ("district_code",), ("name", "municipal_code", "credit_name", "hlwjg_code"),
                  "处罚类别"),
        TableSpec("party_types", ("district_code",), ("name", "municipal_code", "credit_name", "hlwjg_code"),
                  "当事人类型"),
        TableSpec("id_types", ("district_code",), ("name", "municipal_code", "credit_name", "hlwjg_code"), "证件类型"),
        TableSpec("hlwjg_check_implement", ("district_item_code", "agency_uscc"), ("check_icode",),
                  "检查实施清单", required=False),
    )
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class MappingFileError(ZhifaError):
    kind = "mapping"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("映射表有误:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class Row:
    values: dict[str, str]
    line: int


class Table:
    def __init__(self, spec: TableSpec, file: str, rows: dict[tuple[str, ...], Row]) -> None:
        self.spec = spec
        self.file = file
        self.rows = rows
        self._reverse: dict[tuple[str, str], str] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def reverse(self, column: str, value: str) -> str | None:
        """The (single-column) key whose ``column`` holds ``value``: target code → district code."""
        if not self._reverse:
            for key, row in self.rows.items():
                for col, val in row.values.items():
                    self._reverse.setdefault((col, val), key[0])
        return self._reverse.get((column, value))


def _decode(data: bytes, file: str) -> str:
    """UTF-8 with or without BOM; GBK (Excel's default on Chinese Windows) is refused with what to do."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gbk")
    except UnicodeDecodeError:
        raise MappingFileError([Problem(file, 0, "", "文件编码无法识别 (既不是 UTF-8 也不是 GBK)")]) from None
    raise MappingFileError([Problem(
        file, 0, "", "文件是 GBK 编码: 请在 Excel 中“另存为 → CSV UTF-8(逗号分隔)”后再保存, 或导出为 .xlsx")])


def _read_rows(path: Path) -> list[list[str]]:
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = wb.worksheets[0]
            return [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            wb.close()
    return list(csv.reader(io.StringIO(_decode(path.read_bytes(), path.name))))


def load_table(spec: TableSpec, path: Path, problems: list[Problem]) -> Table:
    file = path.name
    rows_raw = _read_rows(path)
    if not rows_raw:
        problems.append(Problem(file, 1, "", "文件为空, 第一行应为表头"))
        return Table(spec, file, {})
    header = [h.strip() for h in rows_raw[0]]
    missing = [c for c in (*spec.key, *spec.columns) if c not in header]
    if missing:
        problems.append(Problem(file, 1, ",".join(missing), f"表头缺少列; 应有 {', '.join((*spec.key, *spec.columns))}"))
        return Table(spec, file, {})
    index = {name: i for i, name in enumerate(header)}
    rows: dict[tuple[str, ...], Row] = {}
    for line, raw in enumerate(rows_raw[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue  # Excel leaves blank lines at the end
        values = {name: (raw[i].strip() if i < len(raw) else "") for name, i in index.items()}
        key = tuple(values[k] for k in spec.key)
        blank_keys = [k for k in spec.key if not values[k]]
        if blank_keys:
            problems.append(Problem(file, line, blank_keys[0], "键列为空: 请填写或删除该行"))
            continue
        if key in rows:
            problems.append(Problem(file, line, ",".join(spec.key),
                                    f"键 {'/'.join(key)} 重复 (第 {rows[key].line} 行已有): 请删除其中一行"))
            continue
        rows[key] = Row(values, line)
    return Table(spec, file, rows)


class Mappings:
    """A complete, validated set of mapping tables, immutable once loaded."""

    def __init__(self, directory: Path, tables: dict[str, Table], version: str) -> None:
        self.directory = directory
        self.tables = tables
        self.version = version

    @classmethod
    def load(cls, directory: Path | str) -> Mappings:
        directory = Path(directory)
        problems: list[Problem] = []
        tables: dict[str, Table] = {}
        digest = hashlib.sha256()
        if not directory.is_dir():
            raise MappingFileError([Problem(str(directory), 0, "", "映射表目录不存在")])
        for name, spec in TABLES.items():
            candidates = [p for p in (directory / f"{name}.csv", directory / f"{name}.xlsx") if p.exists()]
            if len(candidates) > 1:
                problems.append(Problem(f"{name}.csv", 0, "", f"同时存在 {name}.csv 和 {name}.xlsx: 请只保留一个"))
                continue
            if not candidates:
                if spec.required:
                    problems.append(Problem(f"{name}.csv", 0, "", f"缺少映射表 {name}.csv ({spec.label})"))
                continue
            path = candidates[0]
            digest.update(name.encode() + b"\0" + path.read_bytes())
            try:
                tables[name] = load_table(spec, path, problems)
            except MappingFileError as exc:
                problems.extend(exc.problems)
        if problems:
            raise MappingFileError(problems)
        return cls(directory, tables, digest.hexdigest()[:16])

    def file_of(self, table: str) -> str:
        t = self.tables.get(table)
        return t.file if t else f"{table}.csv"

    def row(self, table: str, *key: str, what: str = "", column: str = "") -> dict[str, str]:
        t = self.tables.get(table)
        row = t.rows.get(tuple(key)) if t else None
        if row is None:
            raise MappingMissing(self.file_of(table), "/".join(key), column or ", ".join(TABLES[table].columns),
                                 what or TABLES[table].label, row_missing=True)
        return row.values

    def get(self, table: str, key: str | tuple[str, ...], column: str, *, what: str = "") -> str:
        """The ``column`` value for ``key``; raises ``MappingMissing`` for a missing row or a blank cell."""
        keys = (key,) if isinstance(key, str) else key
        values = self.row(table, *keys, what=what, column=column)
        value = values.get(column, "")
        if not value:
            raise MappingMissing(self.file_of(table), "/".join(keys), column, what or TABLES[table].label)
        return value

    def reverse(self, table: str, column: str, value: str) -> str | None:
        t = self.tables.get(table)
        return t.reverse(column, value) if t else None
