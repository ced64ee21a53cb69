"""Mapping tables as administrators save them: BOM, .xlsx, GBK, duplicates, blanks."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from connectors.contract.errors import MappingMissing
from connectors.contract.mapping import MappingFileError
from sync.mapping import files as mapping_files

REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def maps_dir(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(REPO_MAPPINGS, target, ignore=shutil.ignore_patterns("*.md"))
    return target


def test_shipped_tables_load(maps_dir: Path) -> None:
    """The repository's tables are a valid set."""
    maps = mapping_files.load(maps_dir)
    assert maps.get("officers", "u1001", "cert_no")


def test_csv_with_and_without_bom(maps_dir: Path) -> None:
    """Excel's 'CSV UTF-8' adds a BOM; both forms load the same."""
    path = maps_dir / "inspection_types.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with_bom = mapping_files.load(maps_dir).get("inspection_types", "02", "municipal_code")
    path.write_bytes(raw[3:])
    assert mapping_files.load(maps_dir).get("inspection_types", "02", "municipal_code") == with_bom == "SSJ"


def test_gbk_file_is_refused_with_what_to_do(maps_dir: Path) -> None:
    """A file saved as GBK is named, with how to save it right."""
    path = maps_dir / "officers.csv"
    path.write_bytes(path.read_text(encoding="utf-8-sig").encode("gbk"))
    with pytest.raises(MappingFileError) as info:
        mapping_files.load(maps_dir)
    assert "officers.csv" in str(info.value) and "GBK" in str(info.value) and "UTF-8" in str(info.value)


def test_xlsx_table_loads(maps_dir: Path) -> None:
    """An .xlsx in place of a .csv is read from its first sheet."""
    (maps_dir / "inspection_types.csv").unlink()
    wb = Workbook()
    ws = wb.worksheets[0]
    ws.append(["district_code", "name", "municipal_code", "hlwjg_code"])
    ws.append(["01", "日常检查", "RCJC", "9"])
    ws.append(["02", "双随机抽查", "SSJ", "1"])
    wb.save(maps_dir / "inspection_types.xlsx")
    assert mapping_files.load(maps_dir).get("inspection_types", "02", "municipal_code") == "SSJ"


def test_duplicate_key_and_blank_key_report_file_and_line(maps_dir: Path) -> None:
    """Each problem is reported as file:line: column: what is wrong."""
    path = maps_dir / "officers.csv"
    text = path.read_text(encoding="utf-8-sig")
    path.write_text(text + "u1001,重复,999\n,无键,888\n", encoding="utf-8-sig")
    lines = len(text.splitlines())
    with pytest.raises(MappingFileError) as info:
        mapping_files.load(maps_dir)
    problems = [str(p) for p in info.value.problems]
    assert (
        f"officers.csv:{lines + 1}: district_user_id: 键 u1001 重复 (第 2 行已有) 且映射到不同的值"
        " (name 黎文 ≠ 重复; cert_no 12011619001 ≠ 999): 一个代码只能对应一个目标, 请核对后删除错误的一行"
    ) in problems
    assert any(p.startswith(f"officers.csv:{lines + 2}: district_user_id: 键列为空") for p in problems)


def test_missing_row_and_blank_cell_name_table_key_and_column(maps_dir: Path) -> None:
    """A lookup failure says which table, which key, which column."""
    path = maps_dir / "officers.csv"
    lines = [
        ("u1002,某人," if line.startswith("u1002,") else line)
        for line in path.read_text(encoding="utf-8-sig").splitlines()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    maps = mapping_files.load(maps_dir)
    with pytest.raises(MappingMissing) as missing:
        maps.get("officers", "u9999", "cert_no", what="执法人员")
    assert str(missing.value).startswith("映射表 officers.csv 中没有执法人员 u9999 这一行")
    with pytest.raises(MappingMissing) as blank:
        maps.get("officers", "u1002", "cert_no")
    assert "u1002 的 cert_no 列为空" in str(blank.value)


# -- hostile or broken files: file:line problems and limits, never a traceback ------------------------
def _problems(maps_dir: Path) -> list[str]:
    with pytest.raises(MappingFileError) as info:
        mapping_files.load(maps_dir)
    return [str(p) for p in info.value.problems]


def test_a_stray_cr_next_to_a_nul_is_a_file_line_problem(maps_dir: Path) -> None:
    """A CR then a NUL inside an unquoted cell (once a ``_csv.Error`` traceback): the CR ends the line
    as Excel for Mac writes it, and the NUL is an error naming file, line and column."""
    path = maps_dir / "officers.csv"
    text = path.read_text(encoding="utf-8-sig")
    lines = len(text.splitlines())
    path.write_bytes(b"\xef\xbb\xbf" + (text + "u9,名\r\x00字,123\n").encode())
    problems = _problems(maps_dir)
    assert problems == [
        f"officers.csv:{lines + 2}: district_user_id: 值 \\u0000字 含有控制字符 NUL (\\u0000, 第1个字符): "
        "请删除该字符后保存"
    ]


def test_a_nul_inside_a_field_is_an_error(maps_dir: Path) -> None:
    """A NUL in the middle of a cell is not taken silently: the row is refused, with where it is."""
    path = maps_dir / "officers.csv"
    text = path.read_text(encoding="utf-8-sig")
    lines = len(text.splitlines())
    path.write_text(text + "u9,黎\x00文,12011619009\n", encoding="utf-8-sig")
    (problem,) = _problems(maps_dir)
    assert problem.startswith(f"officers.csv:{lines + 1}: name: 值 黎\\u0000文 含有控制字符 NUL")


def test_a_line_the_csv_module_cannot_read_is_a_file_line_problem(maps_dir: Path) -> None:
    """A quoted cell beyond the csv module's field limit: a clear problem with its line, no traceback."""
    path = maps_dir / "officers.csv"
    text = path.read_text(encoding="utf-8-sig")
    lines = len(text.splitlines())
    path.write_text(text + 'u9,"' + "长" * 200_000 + '",1\n', encoding="utf-8-sig")
    (problem,) = _problems(maps_dir)
    assert problem.startswith(f"officers.csv:{lines + 1}: CSV 格式错误, 无法读取")


def test_a_file_too_big_or_too_long_is_refused_with_the_limit(maps_dir: Path) -> None:
    """Over 5 MB is refused before it is read; over 100,000 rows is refused without reading on."""
    path = maps_dir / "officers.csv"
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    path.write_text(header + "\n" + "".join(f"u{i},黎文,1\n" for i in range(100_001)), encoding="utf-8")
    assert any("officers.csv:100002: 行数超过上限 (100000 行)" in p for p in _problems(maps_dir))
    with path.open("a", encoding="utf-8") as f:
        f.write("# " + "x" * (5 * 1024 * 1024) + "\n")
    (problem,) = _problems(maps_dir)
    assert problem.startswith("officers.csv: 文件过大 (") and "最大 5.0 MB" in problem


def test_an_xlsx_zip_bomb_is_refused_from_its_directory_in_under_a_second(maps_dir: Path) -> None:
    """A small .xlsx that unpacks to 100 MB is refused from the zip's central directory, before openpyxl
    parses a byte of it (it once took 82 s and 926 MB)."""
    (maps_dir / "inspection_types.csv").unlink()
    path = maps_dir / "inspection_types.xlsx"
    wb = Workbook()
    wb.worksheets[0].append(["district_code", "name", "municipal_code", "hlwjg_code"])
    wb.save(path)
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("xl/media/padding.xml", "w", force_zip64=True) as pad,
    ):
        for _ in range(100):
            pad.write(b" " * (1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    started = time.monotonic()
    (problem,) = _problems(maps_dir)
    assert time.monotonic() - started < 1.0
    assert problem.startswith("inspection_types.xlsx: 工作簿解压后过大 (100.") and "最大 64.0 MB" in problem
