"""The monthly report as plain text for the command line."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from connectors.contract.clock import for_people
from connectors.contract.codes import INSPECTION_TYPES

if TYPE_CHECKING:
    pass

from sync.report.figures import MonthlyReport


# -- plain text (the command line) ----------------------------------------------------------------
def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def wan(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def summary_lines(report: MonthlyReport) -> list[tuple[str, str]]:
    """(indicator, value) pairs of the district's totals, as the totals sheet and the CLI show them."""
    d = report.district
    lines = [
        ("检查企业 (家次)", str(d.visits)),
        ("检查记录 (次)", str(d.inspections)),
        *((f"  其中 {name}", str(d.by_type.get(code, 0))) for code, name in INSPECTION_TYPES.items()),
        ("双随机抽查占比", pct(d.random_share)),
        ("发现隐患 (项)", str(d.hazards)),
        ("  其中重大隐患 (项)", str(d.major_hazards)),
        ("作废检查 (不计入)", str(d.void_inspections)),
        ("行政处罚案件 (件)", str(d.cases)),
        ("行政处罚决定书 (份)", str(d.decisions)),
        ("  一般程序", str(d.general_procedure)),
        ("  简易程序", str(d.summary_procedure)),
        ("一案双罚 (件)", str(d.double_penalty_cases)),
        ("一案双罚占比 (按案件)", pct(d.double_penalty_share)),
        ("罚款金额 (万元)", wan(d.fines_wan)),
        ("事故后处罚罚款 (万元)", wan(d.accident_fines_wan) if report.accident_note is None else "不可得"),
        ("撤销处罚决定 (份)", str(d.revocations)),
        ("检查录入平均用时 (天)", num(d.entry_days.mean, 2)),
        (f"检查超过 {report.late_entry_days} 天录入 (次)", str(d.entry_days.over(report.late_entry_days))),
    ]
    for c in report.credit:
        lines.append((f"双公示 7 个工作日内公示率 ({c.target})", pct(c.on_time_share)))
        late = c.count("late") + c.count("late_when_read") + c.count("overdue")
        lines.append((f"  逾期 (含逾期后公示) ({c.target})", str(late)))
        lines.append(
            (f"    其中首次读到时已逾期 (安装前的历史数据) ({c.target})", str(c.count("late_when_read")))
        )
    return lines


def render_text(report: MonthlyReport) -> str:
    """The totals and the department table for a terminal."""
    from sync.cli_format import table

    out = [
        report.title,
        f"数据截至 {for_people(report.as_of, fmt='%Y-%m-%d %H:%M')} (来源系统 {report.system})",
        "",
    ]
    out.append(table([[k, v] for k, v in summary_lines(report)], ["指标", "数值"]))
    out += ["", "按部门 / 街道:"]
    rows = [
        [
            f.name,
            f.visits,
            f.inspections,
            f.hazards,
            f.major_hazards,
            pct(f.random_share),
            f.cases,
            f.decisions,
            wan(f.fines_wan),
            f.revocations,
            num(f.entry_days.mean, 2),
        ]
        for f in [*report.departments, report.district]
    ]
    out.append(
        table(
            rows,
            [
                "部门",
                "家次",
                "检查",
                "隐患",
                "重大",
                "双随机",
                "案件",
                "决定",
                "罚款万元",
                "撤销",
                "录入天数",
            ],
        )
    )
    if report.accident_note:
        out += ["", f"事故后处罚: {report.accident_note}"]
    if report.overdue:
        out += ["", f"逾期公示 {len(report.overdue)} 件: 见工作簿“逾期公示清单”或控制台月度统计页"]
    for key, label in (
        ("city", "市级队伍录入的记录 (由市级统计)"),
        ("invalid", "数据不合规未同步的记录"),
        ("unreadable", "无法读取的记录"),
    ):
        if report.excluded.get(key):
            out.append(f"未计入: {label} {report.excluded[key]} 条")
    out += [f"注: {n}" for n in report.notes]
    return "\n".join(out)
