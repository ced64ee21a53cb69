"""The 双公示 penalty template as an .xlsx file (docs/interfaces/credit.md, "Spreadsheet upload"), for the manual upload.

The fallback when the credit platform's API is out of reach: an operator uploads the file on the
platform's web page; when the API works again the daemon finds those decisions as ``DUPLICATE`` and
links them instead of publishing them twice.

**ID numbers are not masked in this file**: the platform needs the full 身份证号 of a natural person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from connectors.contract.cells import cells_as_text

# The spreadsheet template (manual upload): Chinese header → field, in the platform's order.
XLSX_COLUMNS: tuple[tuple[str, str], ...] = (
    ("行政相对人名称", "CF_XDR_MC"),
    ("行政相对人类别", "CF_XDR_LB"),
    ("行政相对人代码_1(统一社会信用代码)", "CF_XDR_SHXYM"),
    ("行政相对人代码_2(工商注册号)", "CF_XDR_GSZC"),
    ("行政相对人代码_3(组织机构代码)", "CF_XDR_ZZJG"),
    ("行政相对人代码_4(税务登记号)", "CF_XDR_SWDJ"),
    ("行政相对人代码_5(事业单位证书号)", "CF_XDR_SYDW"),
    ("行政相对人代码_6(社会组织登记证号)", "CF_XDR_SHZZ"),
    ("法定代表人", "CF_FRDB"),
    ("法定代表人证件类型", "CF_FR_ZJLX"),
    ("法定代表人证件号码", "CF_FR_ZJHM"),
    ("证件类型", "CF_XDR_ZJLX"),
    ("证件号码", "CF_XDR_ZJHM"),
    ("行政处罚决定书文号", "CF_WSH"),
    ("违法行为类型", "CF_WFXW"),
    ("违法事实", "CF_SY"),
    ("处罚依据", "CF_YJ"),
    ("处罚类别", "CF_CFLB"),
    ("处罚内容", "CF_NR"),
    ("罚款金额（万元）", "CF_NR_FK"),
    ("没收违法所得、没收非法财物的金额（万元）", "CF_NR_WFFF"),
    ("暂扣或吊销证照名称及编号", "CF_NR_ZKDX"),
    ("处罚决定日期", "CF_JDRQ"),
    ("处罚有效期", "CF_YXQ"),
    ("公示截止期", "CF_GSJZQ"),
    ("处罚机关", "CF_CFJG"),
    ("处罚机关统一社会信用代码", "CF_CFJGDM"),
    ("数据来源单位", "CF_SJLY"),
    ("数据来源单位统一社会信用代码", "CF_SJLYDM"),
    ("备注", "BZ"),
)


def write_template(path: Path, rows: list[dict[str, Any]]) -> None:
    """One decision per row (the translated ``CF_*`` fields), in the platform's column order and headers;
    every cell is text (the platform counts the digits as written)."""
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.title = "行政处罚"
    sheet.append([header for header, _ in XLSX_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([str(row.get(field) or "") for _, field in XLSX_COLUMNS])
    for column in sheet.iter_cols(min_row=2):
        for cell in column:
            cell.number_format = "@"  # text: Excel must not turn 2025-06-20 into a date or 0.12 into 0.12000
    cells_as_text(wb)  # a party name like =HYPERLINK(...) is text, with the same value
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
