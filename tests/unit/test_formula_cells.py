"""Formula injection: every workbook and CSV line the project writes keeps =, +, -, @, tab, CR cells as text."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from connectors.contract.cells import csv_cell
from connectors.contract.roles import Officer
from connectors.credit.export import write_template
from sync.mapping import files as mapping_files
from sync.mapping.coverage import suggest_officer

# (A bare CR cannot survive XML: a workbook reads it back as a line feed, so CR is tested on CSV only.)
HOSTILE = ['=HYPERLINK("http://evil.example/x","点击")', "+1+2", "-2+3", "@SUM(A1)", "\t=1"]
REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def risky_cells(path: Path) -> list[openpyxl.cell.Cell]:
    wb = openpyxl.load_workbook(path)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    return [
        c for c in cells if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@", "\t", "\r"))
    ]


@pytest.mark.parametrize("value", HOSTILE)
def test_export_sgs_template_keeps_a_formula_like_party_name_as_text(tmp_path: Path, value: str) -> None:
    """The 双公示 template: the platform reads back the same string, no spreadsheet runs it."""
    path = tmp_path / "sgs.xlsx"
    write_template(path, [{"CF_XDR_MC": value, "CF_WSH": "（滨海）应急罚〔2026〕1号"}])
    cells = risky_cells(path)
    assert [c.value for c in cells] == [value]
    assert cells[0].data_type == "s" and cells[0].quotePrefix


def test_mappings_export_keeps_a_cell_starting_with_equals_as_text(tmp_path: Path) -> None:
    """``mappings export``: a CSV cell typed as =... is a text cell in the workbook, and loads back the same."""
    maps_dir = tmp_path / "mappings"
    shutil.copytree(REPO_MAPPINGS, maps_dir, ignore=shutil.ignore_patterns("*.md"))
    officers = maps_dir / "officers.csv"
    lines = officers.read_text(encoding="utf-8-sig").splitlines()
    head = lines[0].split(",")
    row = lines[1].split(",")
    row[head.index("name")] = "=1+2"
    officers.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "mappings.xlsx"
    mapping_files.write_workbook(mapping_files.load(maps_dir), out)
    cells = risky_cells(out)
    assert [c.value for c in cells] == ["=1+2"]
    assert cells[0].data_type == "s" and cells[0].quotePrefix


def test_suggested_csv_lines_prefix_formula_like_cells() -> None:
    """A CSV line to paste: a cell starting with = gets the OWASP ' prefix."""
    user = Officer(cert_no="12010001", name="=cmd|' /C calc'!A0", user_id="u1")
    line, _ = suggest_officer("u1", user, [Officer("12010001", user.name)], None, date(2026, 3, 1))
    assert line is not None and ",'=cmd" in line
    assert [csv_cell(v) for v in ("-5", "\r=1", "@x", "张三")] == ["'-5", "'\r=1", "'@x", "张三"]
