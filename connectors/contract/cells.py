"""Cells the project writes into workbooks and CSV files are data, never formulas (formula injection).

A party name from a source system such as ``=HYPERLINK("http://…","点击")`` would otherwise run in the
spreadsheet program of whoever opens the export. In a workbook such a cell is stored as a text cell with
Excel's quote prefix (the cell's value stays exactly what the platform reads back: the prefix is a style,
not a character); in CSV, which has no types, the value gets a leading ``'`` as OWASP advises.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_cell(value: str) -> str:
    """``value`` as a CSV cell that no spreadsheet program evaluates."""
    return "'" + value if looks_like_formula(value) else value


def cells_as_text(workbook: Any) -> None:
    """Turn every formula-like string cell of an openpyxl ``workbook`` into a quote-prefixed text cell.

    Call it just before ``save``; the project never writes a formula of its own."""
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f" or looks_like_formula(cell.value):
                    cell.data_type = "s"
                    cell.quotePrefix = True
