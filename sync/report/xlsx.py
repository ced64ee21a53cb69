"""The monthly report as an ``.xlsx`` workbook a bureau can forward: totals, by department, timeliness,
overdue 双公示 decisions, daily volume; Chinese headers, number formats, column widths."""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from connectors.contract.cells import cells_as_text
from connectors.contract.clock import for_people
from connectors.contract.codes import INSPECTION_TYPES
from connectors.contract.states import Kind, Timeliness, label
from sync.report.figures import CREDIT_STATE_NAMES, Figures, MonthlyReport, iter_all

INT, WAN, PCT, DAYS, DAY, TIME = "0", "#,##0.0000", "0.0%", "0.00", "yyyy-mm-dd", "yyyy-mm-dd hh:mm"
NA = "—"
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HEAD_FILL = PatternFill("solid", fgColor="DCE6F1")
_TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
_THIN = Side(style="thin", color="A6A6A6")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")

Column = tuple[str, str | None]  # (header, number format)


def _text_width(value: Any) -> int:
    text = (
        value
        if isinstance(value, str)
        else f"{value:.4f}"
        if isinstance(value, Decimal | float)
        else str(value)
    )
    return sum(2 if ord(c) > 0x2E80 else 1 for c in text)


class _Sheet:
    """Writes titled tables one below the other and remembers how wide each column needs to be."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws = ws
        self.row = 1
        self.widths: dict[int, int] = {}

    def line(self, text: str, font: Font | None = None) -> None:
        cell = self.ws.cell(self.row, 1, text)
        if font:
            cell.font = font
        self.row += 1

    def table(
        self, columns: Sequence[Column], rows: Sequence[Sequence[Any]], *, total_last: bool = False
    ) -> int:
        """Header and rows from the current row on; ``None`` cells print as —. The header's row number."""
        head = self.row
        for c, (title, _fmt) in enumerate(columns, 1):
            cell = self.ws.cell(head, c, title)
            cell.font, cell.fill, cell.border = _BOLD, _HEAD_FILL, _BOX
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            self.widths[c] = max(self.widths.get(c, 0), min(_text_width(title), 16))
        for r, values in enumerate(rows, head + 1):
            for c, ((_title, fmt), value) in enumerate(zip(columns, values, strict=True), 1):
                cell = self.ws.cell(r, c, NA if value is None else value)
                cell.border = _BOX
                if value is None:
                    cell.alignment = Alignment(horizontal="right")
                elif fmt:
                    cell.number_format = fmt
                if total_last and r == head + len(rows):
                    cell.font, cell.fill = _BOLD, _TOTAL_FILL
                self.widths[c] = max(self.widths.get(c, 0), _text_width(NA if value is None else value))
        self.row = head + len(rows) + 2
        return head

    def finish(self, *, freeze: str | None = None, min_width: int = 6, max_width: int = 48) -> None:
        for c, w in self.widths.items():
            self.ws.column_dimensions[get_column_letter(c)].width = max(min_width, min(w + 2, max_width))
        if freeze:
            self.ws.freeze_panes = freeze


def _heading(s: _Sheet, report: MonthlyReport, subtitle: str) -> None:
    s.line(report.title, _TITLE)
    s.line(
        f"{subtitle} · 统计月份 {report.month.label} ({report.month.first} 至 {report.month.last}) · "
        f"数据截至 {for_people(report.as_of, fmt='%Y-%m-%d %H:%M')} · 来源: 区执法监督平台 ({report.system}), 经 zhifa-sync 同步账本"
    )
    s.row += 1


def _totals(s: _Sheet, report: MonthlyReport) -> None:
    d = report.district
    accident = d.accident_fines_wan if report.accident_note is None else "不可得"
    rows: list[list[Any]] = [
        ["检查企业", d.visits, "家次", "同一企业同一天的检查计 1 家次"],
        ["检查记录", d.inspections, "次", "已提交的检查; 作废的不计"],
        *([f"  其中: {name}", d.by_type.get(code, 0), "次", ""] for code, name in INSPECTION_TYPES.items()),
        ["双随机抽查占比", d.random_share, "", "双随机抽查次数 / 检查次数"],
        ["发现隐患", d.hazards, "项", ""],
        ["  其中: 重大隐患", d.major_hazards, "项", ""],
        ["作废检查 (不计入)", d.void_inspections, "次", "提交后作废, 不计为执法活动"],
        ["行政处罚案件", d.cases, "件", "一案双罚的两份决定书计 1 件"],
        ["行政处罚决定书", d.decisions, "份", "已决定、已结案; 已撤销的不计"],
        ["  其中: 一般程序", d.general_procedure, "份", ""],
        ["  其中: 简易程序", d.summary_procedure, "份", ""],
        ["一案双罚", d.double_penalty_cases, "件", f"涉及决定书 {d.double_penalty_decisions} 份"],
        ["一案双罚占比", d.double_penalty_share, "", "一案双罚案件 / 处罚案件"],
        ["罚款金额", d.fines_wan, "万元", ""],
        ["  其中: 事故后处罚罚款", accident, "万元", report.accident_note or ""],
        ["撤销行政处罚决定", d.revocations, "份", "按决定日期计入本月; 撤销后不再计为处罚"],
        ["检查录入平均用时", d.entry_days.mean, "天", "检查结束至录入区平台"],
        [f"超过 {report.late_entry_days} 天录入的检查", d.entry_days.over(report.late_entry_days), "次", ""],
    ]
    for c in report.credit:
        rows += [
            [f"双公示应公示决定 ({c.target})", c.required, "份", "须在信用平台公示的决定 (简易程序按配置)"],
            [
                f"7 个工作日内公示率 ({c.target})",
                c.on_time_share,
                "",
                "按期公示 / (按期 + 逾期后公示 + 首次读到时已逾期 + 逾期未公示)",
            ],
            [
                f"逾期 ({c.target})",
                c.count("late") + c.count("late_when_read") + c.count("overdue"),
                "份",
                f"明细见“逾期公示清单”; 其中首次读到时已逾期 (安装前的历史数据) {c.count('late_when_read')} 份",
            ],
        ]
    for key, what, note in (
        ("city", "市级队伍录入 (未计入)", "区平台中由市级队伍录入的记录, 由市级统计"),
        ("invalid", "数据不合规 (未计入)", "未通过校验、未同步的记录, 请在区平台更正"),
        ("unreadable", "无法读取 (未计入)", ""),
    ):
        if report.excluded.get(key):
            rows.append([what, report.excluded[key], "条", note])
    s.table([("指标", None), ("数值", None), ("单位", None), ("说明", None)], rows)
    for r in range(s.row - len(rows) - 1, s.row - 1):  # per-row number formats in the 数值 column
        cell = s.ws.cell(r, 2)
        label = str(s.ws.cell(r, 1).value)
        if isinstance(cell.value, float):
            cell.number_format = PCT if "占比" in label or "率" in label else DAYS
        elif isinstance(cell.value, Decimal):
            cell.number_format = WAN
    s.ws.column_dimensions["D"].width = 60
    for r in range(1, s.row):
        s.ws.cell(r, 4).alignment = _WRAP
    s.widths.pop(4, None)
    s.line("说明")
    for note in _notes(report):
        s.line(note)


def _notes(report: MonthlyReport) -> list[str]:
    return [
        "1. 统计范围: 事件日期 (检查开始日期、处罚决定日期) 在本月内、由本区各部门录入区执法监督平台的记录, "
        "按 zhifa-sync 账本中各记录的最新状态计算; 重新生成过去月份的报表时, 其后的更正与撤销会反映在数字中。",
        "2. 录入时间按 zhifa-sync 首次读到记录的时间与记录最后更新时间 (updated_at) 中较早者估计 "
        "(账本只保存最新版本): 记录录入后未再修改时即为准确的录入时间, 否则最多晚一个同步周期。",
        "3. 送达时长 = 首次送达目标系统的时间 − 录入时间; 与目标系统中手工录入记录关联的, 以关联时间计。",
        "4. 双公示期限 = 决定日期后第 7 个工作日 (法定节假日和调休按国务院办公厅公布的安排); "
        "在期限当日 24 时前首次送达信用平台即为按期。",
        "5. 区平台记录没有案件编号: 一案双罚的两份决定书按同一检查、同一决定日期归为 1 件。",
        *(f"{n}. {text}" for n, text in enumerate(report.notes, 6)),
    ]


DEPT_COLUMNS: list[Column] = [
    ("部门代码", None),
    ("部门 / 街道", None),
    ("检查企业(家次)", INT),
    ("检查(次)", INT),
    *((f"{name}(次)", INT) for name in INSPECTION_TYPES.values()),
    ("双随机占比", PCT),
    ("发现隐患(项)", INT),
    ("重大隐患(项)", INT),
    ("作废检查(次)", INT),
    ("处罚案件(件)", INT),
    ("决定书(份)", INT),
    ("一般程序(份)", INT),
    ("简易程序(份)", INT),
    ("一案双罚(件)", INT),
    ("一案双罚占比", PCT),
    ("罚款(万元)", WAN),
    ("事故后罚款(万元)", WAN),
    ("撤销(份)", INT),
]


def dept_row(f: Figures, accident_available: bool) -> list[Any]:
    return [
        f.code or "",
        f.name,
        f.visits,
        f.inspections,
        *(f.by_type.get(code, 0) for code in INSPECTION_TYPES),
        f.random_share,
        f.hazards,
        f.major_hazards,
        f.void_inspections,
        f.cases,
        f.decisions,
        f.general_procedure,
        f.summary_procedure,
        f.double_penalty_cases,
        f.double_penalty_share,
        f.fines_wan,
        f.accident_fines_wan if accident_available else "不可得",
        f.revocations,
    ]


def _by_department(s: _Sheet, report: MonthlyReport) -> None:
    rows = [dept_row(f, report.accident_note is None) for f in iter_all(report)]
    head = s.table(DEPT_COLUMNS, rows, total_last=True)
    s.line("注: 合计行的家次按全区去重, 两个部门同一天检查同一企业时, 合计小于各部门之和。")
    s.finish(freeze=f"C{head + 1}", max_width=34)


def _timeliness(s: _Sheet, report: MonthlyReport) -> None:
    _entry_table(s, report)
    _delivery_table(s, report)
    _publicity_table(s, report)
    s.finish(max_width=30)
    s.ws.column_dimensions["A"].width = max(s.ws.column_dimensions["A"].width or 0, 30)


def _entry_table(s: _Sheet, report: MonthlyReport) -> None:
    n = report.late_entry_days
    s.line("一、检查录入时效 (检查结束 → 录入区执法监督平台)", _BOLD)
    columns = [("部门 / 街道", None), ("检查(次)", INT), ("平均(天)", DAYS), ("中位数(天)", DAYS),
               ("最长(天)", DAYS), ("1 天内录入占比", PCT), (f"超过 {n} 天录入(次)", INT)]  # fmt: skip
    rows = [
        [
            f.name,
            f.entry_days.count,
            f.entry_days.mean,
            f.entry_days.median,
            f.entry_days.max,
            f.entry_days.share_within(1),
            f.entry_days.over(n),
        ]
        for f in iter_all(report)
    ]
    s.table(columns, rows, total_last=True)


def _delivery_table(s: _Sheet, report: MonthlyReport) -> None:
    s.line("二、送达各系统时长 (录入区平台 → 首次送达目标系统)", _BOLD)
    columns = [("数据", None), ("目标系统", None), ("已送达(条)", INT), ("其中关联手工录入", INT),
               ("平均(小时)", DAYS), ("中位数(小时)", DAYS), ("最长(小时)", DAYS), ("未送达(有失败)", INT)]  # fmt: skip
    rows = [
        [
            label(Kind, t.kind),
            t.target,
            t.hours.count,
            t.linked,
            t.hours.mean,
            t.hours.median,
            t.hours.max,
            t.undelivered,
        ]
        for t in report.targets
    ]
    s.table(columns, rows)


def _publicity_table(s: _Sheet, report: MonthlyReport) -> None:
    s.line("三、双公示 7 个工作日内公示", _BOLD)
    states = [
        Timeliness.ON_TIME,
        Timeliness.LATE,
        Timeliness.LATE_WHEN_READ,
        Timeliness.OVERDUE,
        Timeliness.PENDING,
    ]
    columns = [("信用平台", None), ("应公示(份)", INT), *((label(Timeliness, t), INT) for t in states),
               ("按期公示率", PCT)]  # fmt: skip
    rows = [[c.target, c.required, *(c.count(t) for t in states), c.on_time_share] for c in report.credit]
    s.table(columns, rows)


def _overdue(s: _Sheet, report: MonthlyReport) -> None:
    rows = [
        [
            n,
            i.doc_no,
            i.party_name,
            i.dept_name,
            i.decided_on,
            i.due,
            i.published_at or "未公示",
            CREDIT_STATE_NAMES[i.state],
            i.days_late,
            i.source_id,
            i.target,
        ]
        for n, i in enumerate(report.overdue, 1)
    ]
    head = s.table(
        [
            ("序号", INT),
            ("决定书文号", None),
            ("当事人", None),
            ("部门", None),
            ("决定日期", DAY),
            ("公示期限", DAY),
            ("公示时间", TIME),
            ("状态", None),
            ("逾期(天)", INT),
            ("区平台编号", None),
            ("信用平台", None),
        ],
        rows,
    )
    if not rows:
        s.line("本月没有逾期公示的处罚决定。")
    s.finish(freeze=f"A{head + 1}", max_width=40)


def _daily(s: _Sheet, report: MonthlyReport) -> None:
    rows: list[list[Any]] = [[d, i, p] for d, i, p in report.daily]
    rows.append(["合计", sum(r[1] for r in rows), sum(r[2] for r in rows)])
    head = s.table([("日期", DAY), ("检查(次)", INT), ("处罚决定(份)", INT)], rows, total_last=True)
    s.finish(freeze=f"A{head + 1}")


def build_workbook(report: MonthlyReport) -> Workbook:
    """The workbook, sheets in the order a reader wants them."""
    wb = Workbook()
    sheets = [
        ("汇总", "全区汇总", _totals),
        ("按部门", "按部门 / 街道 / 开发区", _by_department),
        ("时效", "录入、送达与公示时效", _timeliness),
        ("逾期公示清单", "双公示逾期 (含逾期后公示) 的处罚决定", _overdue),
        ("每日", "每日检查与处罚量", _daily),
    ]
    for n, (name, subtitle, write) in enumerate(sheets):
        ws = wb.active if n == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = name
        s = _Sheet(ws)
        _heading(s, report, subtitle)
        write(s, report)
        if name == "汇总":
            s.finish(max_width=40)
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    wb.properties.title = report.title
    wb.properties.creator = "zhifa-sync"
    return wb


def write_xlsx(report: MonthlyReport, out: Path | str | BinaryIO) -> None:
    """Save the workbook to a path or a binary file."""
    wb = build_workbook(report)
    cells_as_text(wb)  # party and system names come from outside: never formulas
    wb.save(out)


def xlsx_bytes(report: MonthlyReport) -> bytes:
    buf = io.BytesIO()
    write_xlsx(report, buf)
    return buf.getvalue()


def filename(report: MonthlyReport) -> str:
    """``行政执法综合统计-2026-10.xlsx``."""
    return f"行政执法综合统计-{report.month}.xlsx"
