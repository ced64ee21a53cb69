"""Reading and writing mapping-table files: CSV as Excel saves it, .xlsx (first sheet), or one workbook
``mappings.xlsx`` with a sheet per table (sheet name = table name; sheets named ``说明…`` are notes).

A table set is loaded whole or not at all: any problem in any file is a ``MappingFileError`` listing every
``file:line: column: problem``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from connectors.contract.mapping import (
    TABLES,
    MappingFileError,
    Mappings,
    Problem,
    Row,
    Table,
    TableSpec,
)
from connectors.contract.validators import control_char_problem, escape_controls

WORKBOOK = "mappings.xlsx"  # the whole set in one workbook, a sheet per table
NOTE_SHEET_PREFIX = "说明"  # sheets for people, ignored by the loader

# Limits of a mapping file. The largest shipped table has a few hundred rows; a district's officer list
# a few thousand. An .xlsx is a zip: what it unpacks to is summed from its central directory before
# openpyxl opens it (Python's zipfile stops an entry at its declared size and fails its CRC check when
# the data says otherwise, so the directory cannot understate it).
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 100_000
MAX_XLSX_UNPACKED_BYTES = 64 * 1024 * 1024


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def check_size(path: Path, file: str) -> None:
    """Refuse a file too big to be a mapping table, before reading it."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MappingFileError(
            [
                Problem(
                    file,
                    0,
                    "",
                    f"文件过大 ({_mb(size)}), 映射表文件最大 {_mb(MAX_FILE_BYTES)}: 请检查是否选错了文件",
                )
            ]
        )
    if path.suffix.lower() == ".xlsx":
        _check_unpacked(path, file)


def _check_unpacked(path: Path, file: str) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: openpyxl says so in its own words (below)
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise MappingFileError(
            [
                Problem(
                    file,
                    0,
                    "",
                    f"工作簿解压后过大 ({_mb(unpacked)}), 最大 {_mb(MAX_XLSX_UNPACKED_BYTES)}: "
                    "文件可能已损坏或不是映射表, 请在 Excel 中重新保存或改用 CSV",
                )
            ]
        )


def _capped(rows: Iterable[list[str]], file: str) -> list[list[str]]:
    """At most ``MAX_ROWS`` rows (and the header): a longer table is refused, not read to its end."""
    taken = list(islice(rows, MAX_ROWS + 2))
    if len(taken) > MAX_ROWS + 1:
        raise MappingFileError(
            [Problem(file, MAX_ROWS + 2, "", f"行数超过上限 ({MAX_ROWS} 行): 请检查是否选错了文件")]
        )
    return taken


def decode_text(data: bytes, file: str) -> str:
    """UTF-8 with or without BOM; GBK (Excel's default on Chinese Windows) is refused with what to do."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gbk")
    except UnicodeDecodeError:
        raise MappingFileError([Problem(file, 0, "", "文件编码无法识别 (既不是 UTF-8 也不是 GBK)")]) from None
    raise MappingFileError(
        [
            Problem(
                file,
                0,
                "",
                "文件是 GBK 编码: 请在 Excel 中“另存为 → CSV UTF-8(逗号分隔)”后再保存, 或导出为 .xlsx",
            )
        ]
    )


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: whole numbers without ``.0``, dates as ``yyyy-MM-dd``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _open_workbook(path: Path, file: str) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip/XML errors: a half-saved or mis-named file
        raise MappingFileError(
            [
                Problem(
                    file,
                    0,
                    "",
                    f"无法作为 .xlsx 读取 ({type(exc).__name__}): "
                    "请在 Excel 中重新保存为“Excel 工作簿(*.xlsx)”",
                )
            ]
        ) from None


def _sheet_rows(sheet: Any, file: str) -> list[list[str]]:
    return _capped(([cell_text(c) for c in row] for row in sheet.iter_rows(values_only=True)), file)


def read_csv(text: str, file: str) -> list[list[str]]:
    """CSV rows; a line the csv module cannot read (a stray quote or CR) is a ``file:line`` problem."""
    # newline="": CR, LF and CRLF end a line as Excel (Windows or Mac) wrote it; inside quotes they stay
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _capped(reader, file)
    except csv.Error as exc:
        raise MappingFileError(
            [Problem(file, reader.line_num, "", f"CSV 格式错误, 无法读取 ({exc}): 请在 Excel 中重新保存")]
        ) from None


def read_rows(path: Path) -> list[list[str]]:
    """The cells of a table file (.csv: UTF-8 with or without BOM; .xlsx: the first sheet), as text."""
    check_size(path, path.name)
    if path.suffix.lower() == ".xlsx":
        wb = _open_workbook(path, path.name)
        try:
            return _sheet_rows(wb.worksheets[0], path.name)
        finally:
            wb.close()
    return read_csv(decode_text(path.read_bytes(), path.name), path.name)


def read_workbook(path: Path) -> dict[str, list[list[str]]]:
    """Every sheet of ``mappings.xlsx`` but the notes, by sheet name."""
    check_size(path, path.name)
    wb = _open_workbook(path, path.name)
    try:
        return {
            ws.title.strip(): _sheet_rows(ws, f"{path.name}[{ws.title.strip()}]")
            for ws in wb.worksheets
            if not ws.title.strip().startswith(NOTE_SHEET_PREFIX)
        }
    finally:
        wb.close()


def _differences(spec: TableSpec, first: dict[str, str], second: dict[str, str]) -> str:
    return "; ".join(
        f"{c} {first.get(c) or '(空)'} ≠ {second.get(c) or '(空)'}"
        for c in spec.columns
        if first.get(c, "") != second.get(c, "")
    )


def _control_problems(file: str, line: int, values: dict[str, str], problems: list[Problem]) -> bool:
    """A NUL or another control character in a cell: a problem naming the cell (the row is not used)."""
    found = [
        Problem(file, line, name, f"值 {escape_controls(value)[:60]} {problem}: 请删除该字符后保存")
        for name, value in values.items()
        if (problem := control_char_problem(value))
    ]
    problems.extend(found)
    return bool(found)


def load_table(spec: TableSpec, path: Path, problems: list[Problem]) -> Table:
    """Read one table file; problems are appended, the rows that are fine are kept."""
    return table_from_rows(spec, path.name, read_rows(path), problems)


def table_from_rows(spec: TableSpec, file: str, rows_raw: list[list[str]], problems: list[Problem]) -> Table:
    """Build a table from its cells (first row the header); problems are appended."""
    if not rows_raw:
        problems.append(Problem(file, 1, "", "文件为空, 第一行应为表头"))
        return Table(spec, file, {})
    header = [h.strip() for h in rows_raw[0]]
    missing = [c for c in (*spec.key, *spec.columns) if c not in header]
    if missing:
        problems.append(
            Problem(file, 1, ",".join(missing), f"表头缺少列; 应有 {', '.join((*spec.key, *spec.columns))}")
        )
        return Table(spec, file, {})
    index = {name: i for i, name in enumerate(header)}
    rows: dict[tuple[str, ...], Row] = {}
    for line, raw in enumerate(rows_raw[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue  # Excel leaves blank lines at the end
        values = {name: (raw[i].strip() if i < len(raw) else "") for name, i in index.items()}
        if _control_problems(file, line, values, problems):
            continue
        key = tuple(values[k] for k in spec.key)
        blank_keys = [k for k in spec.key if not values[k]]
        if blank_keys:
            problems.append(Problem(file, line, blank_keys[0], "键列为空: 请填写或删除该行"))
            continue
        if key in rows:
            diff = _differences(spec, rows[key].values, values)
            text = (
                f"键 {'/'.join(key)} 重复 (第 {rows[key].line} 行已有): 请删除其中一行"
                if not diff
                else f"键 {'/'.join(key)} 重复 (第 {rows[key].line} 行已有) 且映射到不同的值 ({diff}):"
                " 一个代码只能对应一个目标, 请核对后删除错误的一行"
            )
            problems.append(Problem(file, line, ",".join(spec.key), text))
            continue
        rows[key] = Row(values, line)
    return Table(spec, file, rows)


def load(directory: Path | str) -> Mappings:
    """The whole set, or ``MappingFileError`` listing every problem of every file."""
    maps, problems = load_with_problems(directory)
    if problems:
        raise MappingFileError(problems)
    return maps


def load_with_problems(directory: Path | str) -> tuple[Mappings, list[Problem]]:
    """What could be loaded, and every problem found (for ``mappings check``, which reports all)."""
    directory = Path(directory)
    problems: list[Problem] = []
    tables: dict[str, Table] = {}
    digest = hashlib.sha256()
    if not directory.is_dir():
        return Mappings(directory, {}, ""), [Problem(str(directory), 0, "", "映射表目录不存在")]
    sheets: dict[str, list[list[str]]] = {}
    workbook = directory / WORKBOOK
    if workbook.exists():
        try:
            sheets = read_workbook(workbook)  # its size checked first
            digest.update(WORKBOOK.encode() + b"\0" + workbook.read_bytes())
        except MappingFileError as exc:
            problems.extend(exc.problems)
        for title in sheets:
            if title not in TABLES:
                problems.append(
                    Problem(
                        f"{WORKBOOK}[{title}]",
                        0,
                        "",
                        f"未知的工作表 {title}: 工作表名应为表名 "
                        f"({', '.join(TABLES)}), 说明用的工作表请以“{NOTE_SHEET_PREFIX}”开头",
                    )
                )
    for name, spec in TABLES.items():
        candidates = [p for p in (directory / f"{name}.csv", directory / f"{name}.xlsx") if p.exists()]
        if len(candidates) + (name in sheets) > 1:
            where = [p.name for p in candidates] + ([f"{WORKBOOK} 的工作表 {name}"] if name in sheets else [])
            problems.append(Problem(f"{name}.csv", 0, "", f"同时存在 {' 和 '.join(where)}: 请只保留一个"))
            continue
        if name in sheets:
            tables[name] = table_from_rows(spec, f"{WORKBOOK}[{name}]", sheets[name], problems)
            continue
        if not candidates:
            if spec.required:
                problems.append(
                    Problem(
                        f"{name}.csv",
                        0,
                        "",
                        f"缺少映射表 {name}.csv ({spec.label})"
                        + (f", {WORKBOOK} 中也没有工作表 {name}" if workbook.exists() else ""),
                    )
                )
            continue
        path = candidates[0]
        try:
            tables[name] = load_table(spec, path, problems)  # its size checked first
            digest.update(name.encode() + b"\0" + path.read_bytes())
        except MappingFileError as exc:
            problems.extend(exc.problems)
    return Mappings(directory, tables, digest.hexdigest()[:16]), problems


def table_files(directory: Path) -> list[Path]:
    """The files in ``directory`` that hold mapping tables (what a change watcher stats)."""
    names = {f"{n}{ext}" for n in TABLES for ext in (".csv", ".xlsx")} | {WORKBOOK}
    try:
        return sorted(p for p in directory.iterdir() if p.name in names)
    except OSError:
        return []


def _display_width(text: str) -> int:
    return sum(2 if ord(c) > 0x2E80 else 1 for c in text)


def write_workbook(maps: Mappings, out: Path) -> None:
    """One workbook, a sheet per table (header row, frozen panes, widths, cells as text), plus a 说明 sheet.

    Saved as ``mappings.xlsx`` in the mappings directory (instead of the CSV files) it loads as the set.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    from connectors.contract.cells import cells_as_text

    wb = Workbook()
    for sheet in list(wb.worksheets):  # the empty default sheet
        wb.remove(sheet)
    header_font, header_fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for name, spec in TABLES.items():
        table = maps.tables.get(name)
        if table is None:
            continue
        ws = wb.create_sheet(name)
        ws.append(list(spec.header))
        for row in sorted(table.rows.values(), key=lambda r: r.line):
            ws.append([row.values.get(c, "") for c in spec.header])
        widths = [_display_width(h) for h in spec.header]
        for cells in ws.iter_rows(min_row=2):
            for i, cell in enumerate(cells):
                cell.number_format = "@"  # text: Excel keeps 01 and 14-digit codes as typed
                widths[i] = max(widths[i], _display_width(str(cell.value or "")))
        for cell in ws[1]:
            cell.font, cell.fill = header_font, header_fill
        for i, width in enumerate(widths):
            ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = min(max(width + 2, 8), 60)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
    notes = wb.create_sheet(f"{NOTE_SHEET_PREFIX}")
    notes.append(["工作表", "内容", "键列", "其他列"])
    for name, spec in TABLES.items():
        notes.append([name, spec.label, ", ".join(spec.key), ", ".join(spec.columns)])
    notes.append([])
    notes.append(
        [
            "放入映射表目录并命名为 mappings.xlsx 即可代替各 CSV 文件 (二者只能选其一); 以“说明”开头的工作表不被读取。"
        ]
    )
    for col, width in zip("ABCD", (26, 16, 34, 80), strict=True):
        notes.column_dimensions[col].width = width
    notes.freeze_panes = "A2"
    cells_as_text(wb)  # a code or name typed as =... stays text, with the same value
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
