"""Mapping tables as connectors read them: the tables' shapes, lookups by key, and the problems found in them.

Each table has a key (the district's code) and one column per target system. A lookup of a key with
no row, or a blank cell for the target in use, raises ``MappingMissing`` naming the file, the key and
the column — the record is parked until the table is fixed. The files are read by ``sync.mapping.files``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from connectors.contract.errors import MappingMissing, ZhifaError


@dataclass(frozen=True)
class TableSpec:
    """A table's file name (without extension), key columns, the other columns, and a label for messages."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    label: str
    required: bool = True

    @property
    def header(self) -> tuple[str, ...]:
        return (*self.key, *self.columns)


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "items",
            ("district_item_code",),
            ("district_item_name", "kind", "municipal_item_code", "hlwjg_item_code"),
            "区平台事项",
        ),
        TableSpec(
            "departments",
            ("district_dept_code",),
            (
                "district_dept_name",
                "municipal_org_code",
                "region_code",
                "agency_name",
                "agency_uscc",
                "hlwjg_cd_source",
            ),
            "区平台部门",
        ),
        TableSpec("officers", ("district_user_id",), ("name", "cert_no"), "区平台执法人员"),
        TableSpec(
            "inspection_types", ("district_code",), ("name", "municipal_code", "hlwjg_code"), "检查类型"
        ),
        TableSpec(
            "inspection_results",
            ("district_code",),
            ("name", "municipal_jcjg", "municipal_sfla", "hlwjg_code"),
            "检查结果",
        ),
        TableSpec(
            "penalty_types",
            ("district_code",),
            ("name", "municipal_code", "credit_name", "hlwjg_code"),
            "处罚类别",
        ),
        TableSpec(
            "party_types",
            ("district_code",),
            ("name", "municipal_code", "credit_name", "hlwjg_code"),
            "当事人类型",
        ),
        TableSpec(
            "id_types",
            ("district_code",),
            ("name", "municipal_code", "credit_name", "hlwjg_code"),
            "证件类型",
        ),
        TableSpec(
            "hlwjg_check_implement",
            ("district_item_code", "agency_uscc"),
            ("check_icode",),
            "检查实施清单",
            required=False,
        ),
    )
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a table, printed as ``file:line: column: message``."""

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
    """One loaded table: rows by key, with the file (or ``mappings.xlsx[sheet]``) they came from."""

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


class Mappings:
    """A complete, validated set of mapping tables, immutable once loaded."""

    def __init__(self, directory: Path, tables: dict[str, Table], version: str) -> None:
        self.directory = directory
        self.tables = tables
        self.version = version

    def files(self) -> dict[str, str]:
        """Which file (or workbook sheet) each table came from."""
        return {name: t.file for name, t in self.tables.items()}

    def file_of(self, table: str) -> str:
        t = self.tables.get(table)
        return t.file if t else f"{table}.csv"

    def row(self, table: str, *key: str, what: str = "", column: str = "") -> dict[str, str]:
        t = self.tables.get(table)
        row = t.rows.get(tuple(key)) if t else None
        if row is None:
            raise MappingMissing(
                self.file_of(table),
                "/".join(key),
                column or ", ".join(TABLES[table].columns),
                what or TABLES[table].label,
                row_missing=True,
            )
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

    def rows(self, table: str) -> list[RowAt]:
        """A table's rows in file order, each with where it stands (empty for an absent table)."""
        t = self.tables.get(table)
        if t is None:
            return []
        ordered = sorted(t.rows.items(), key=lambda kv: kv[1].line)
        return [RowAt(t.file, key, row.values, row.line) for key, row in ordered]


@dataclass(frozen=True, slots=True)
class RowAt:
    """One row of a table and where it stands: what a check reports a problem against."""

    file: str
    key: tuple[str, ...]
    values: dict[str, str]
    line: int


@dataclass
class CheckReport:
    """Errors (block a reload, exit code 1) and warnings (shown, do not block)."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, at: RowAt, column: str, message: str) -> None:
        self.errors.append(Problem(at.file, at.line, column, message))

    def warn(self, at: RowAt, column: str, message: str) -> None:
        self.warnings.append(Problem(at.file, at.line, column, message))

    def extend(self, other: CheckReport) -> None:
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)

    def lines(self) -> list[str]:
        """``file:line: column: message`` per problem, errors first, each group in file order."""

        def order(p: Problem) -> tuple[str, int, str]:
            return p.file, p.line, p.column

        out = [str(p) for p in sorted(self.errors, key=order)]
        out += [
            str(Problem(p.file, p.line, p.column, f"提示: {p.message}"))
            for p in sorted(self.warnings, key=order)
        ]
        return out
