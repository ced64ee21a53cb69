"""The 月度统计 page: the monthly enforcement statistics with server-rendered SVG charts, and its workbook.

Charts are inline SVG built here (no script, no external file, nothing the CSP would block); every
label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from urllib.parse import quote

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from connectors.contract.clock import beijing_now
from connectors.contract.codes import INSPECTION_TYPES
from console.auth import page
from console.views import system_label
from console.web import ConsoleState, render, state
from sync.report.figures import CREDIT_STATE_NAMES, Month, MonthlyReport, iter_all
from sync.report.monthly import monthly_report, report_for_settings
from sync.report.text import num, pct, wan
from sync.report.xlsx import filename, xlsx_bytes

BLUE, ORANGE, RED, GREY = "#3b6ea5", "#d9822b", "#b3261e", "#c5cdd8"


def _text_px(text: str, size: int = 12) -> int:
    """Rough rendered width: CJK characters are square, the rest about half as wide."""
    return sum(size if ord(c) > 0x2E80 else size * 0.55 for c in text).__ceil__()


def short_names(names: Sequence[str]) -> list[str]:
    """Department names without what they all share ("滨海新区…") and the 综合执法队 suffix, for chart labels."""
    if len(names) < 2:
        return list(names)
    prefix = names[0]
    for n in names[1:]:
        while not n.startswith(prefix):
            prefix = prefix[:-1]
    out = []
    for n in names:
        s = n[len(prefix) :] or n
        for suffix in ("综合执法队", "执法队"):
            if s.endswith(suffix) and len(s) > len(suffix):
                s = s[: -len(suffix)]
                break
        out.append(s)
    return out


def bar_chart(
    items: Sequence[tuple[str, float]], *, width: int = 520, fmt: str = "{:g}", mark: float | None = None,
    mark_label: str = "", color: str = BLUE,
) -> Markup:  # fmt: skip
    """Horizontal bars, one per item; ``mark`` draws a dashed reference line (e.g. the late-entry limit)."""
    if not items:
        return Markup("")
    bar, gap, top_pad = 16, 6, 18 if mark is not None else 4
    label_w = min(200, max(_text_px(label) for label, _ in items) + 14)
    value_w = 56
    span = width - label_w - value_w
    top = max([v for _, v in items] + [mark or 0]) or 1
    height = top_pad + len(items) * (bar + gap) + 2
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, value) in enumerate(items):
        y = top_pad + i * (bar + gap)
        w = round(span * value / top) if value else 0
        fill = RED if mark is not None and value > mark else color
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar - 3}" text-anchor="end" font-size="12" fill="#333">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1) if value else 0}" height="{bar}" fill="{fill}"></rect>'
            f'<text x="{label_w + w + 4}" y="{y + bar - 3}" font-size="12" fill="#333">'
            f"{escape(fmt.format(value))}</text>"
        )
    if mark is not None:
        x = label_w + round(span * mark / top)
        parts.append(
            f'<line x1="{x}" y1="12" x2="{x}" y2="{height}" stroke="{RED}" stroke-dasharray="4 3"></line>'
            f'<text x="{x}" y="10" text-anchor="middle" font-size="11" fill="{RED}">{escape(mark_label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    days: Sequence[date],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    width: int = 1060,
    height: int = 230,
) -> Markup:
    """Daily volume: one polyline per (label, colour, values), x = day of month, with a y grid and legend."""
    if not days:
        return Markup("")
    left, right, top, bottom = 40, 14, 26, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((max(v) for _, _, v in series if v), default=0)
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000, 10**9) if peak / s <= 5)
    ymax = max(step, -(-peak // step) * step)
    n = len(days)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / ymax

    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for v in range(0, ymax + 1, step):
        parts.append(
            f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" stroke="#e3e8ee"></line>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" fill="#5b6776">{v}</text>'
        )
    for i, d in enumerate(days):
        weekend = d.weekday() >= 5
        if weekend:  # weekends shaded, so a dip there reads as expected
            parts.append(
                f'<rect x="{x(i) - plot_w / (2 * max(n - 1, 1)):.1f}" y="{top}" width="{plot_w / max(n - 1, 1):.1f}" '
                f'height="{plot_h}" fill="#f3f5f8"></rect>'
            )
        if d.day == 1 or d.day % 5 == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 8}" text-anchor="middle" font-size="11" fill="#5b6776">'
                f"{d.day}日</text>"
            )
    for k, (label, color, values) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"></polyline>')
        parts.extend(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}"></circle>'
            for i, v in enumerate(values)
        )
        lx = left + 10 + k * 130
        parts.append(
            f'<rect x="{lx}" y="6" width="14" height="4" fill="{color}"></rect>'
            f'<text x="{lx + 20}" y="12" font-size="12" fill="#333">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _month(request: Request, today: date) -> tuple[Month, str | None]:
    text = (request.query_params.get("month") or "").strip()
    if not text:
        return Month.previous(today), None
    try:
        return Month.parse(text), None
    except ValueError as exc:
        return Month.previous(today), f"{exc}; 已显示上个月。"


def build(st: ConsoleState, month: Month) -> MonthlyReport:
    """The month's report from the ledger, with the configuration's names and credit targets if known."""
    if st.settings is not None:
        return report_for_settings(st.ledger, st.settings, month)
    return monthly_report(st.ledger, month)


@page
def report_page(request: Request) -> Response:
    st = state(request)
    today = beijing_now().date()
    month, error = _month(request, today)
    report = build(st, month)
    depts = [f for f in report.departments if f.active or f.code]
    labels = short_names([f.name for f in depts])
    visits_chart = bar_chart([(label, f.visits) for label, f in zip(labels, depts, strict=True)])
    entry_chart = bar_chart(
        [(label, round(f.entry_days.mean, 2)) for label, f in zip(labels, depts, strict=True)
         if f.entry_days.mean is not None],
        fmt="{:.2f}", mark=report.late_entry_days, mark_label=f"{report.late_entry_days} 天", color=ORANGE,
    )  # fmt: skip
    daily_chart = line_chart(
        [d for d, _, _ in report.daily],
        [
            ("检查 (次)", BLUE, [i for _, i, _ in report.daily]),
            ("处罚决定 (份)", RED, [p for _, _, p in report.daily]),
        ],
    )
    return render(
        request,
        "report.html",
        {
            "r": report,
            "d": report.district,
            "month_value": str(month),
            "prev": str(Month.previous(month.first)),
            "next": str(month.next()) if month.next().first <= today else None,
            "error": error,
            "rows": list(iter_all(report)),
            "short": dict(zip([f.name for f in depts], labels, strict=True)),
            "types": INSPECTION_TYPES,
            "visits_chart": visits_chart,
            "entry_chart": entry_chart,
            "daily_chart": daily_chart,
            "credit_states": CREDIT_STATE_NAMES,
            "pct": pct,
            "num": num,
            "wan": wan,
            "kinds": {"inspection": "检查", "penalty": "行政处罚"},
            "sys_label": lambda name: system_label(st, name),
            "excluded_labels": {
                "city": "市级队伍录入的记录 (由市级统计)",
                "invalid": "数据不合规、未同步的记录",
                "unreadable": "无法读取的记录",
            },
        },
    )


@page
def report_download(request: Request) -> Response:
    """The month's workbook (``?month=2026-10``), as ``行政执法综合统计-2026-10.xlsx``."""
    st = state(request)
    month, _ = _month(request, beijing_now().date())
    report = build(st, month)
    name = filename(report)
    return Response(
        xlsx_bytes(report),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f"attachment; filename=\"report-{month}.xlsx\"; filename*=UTF-8''{quote(name)}"
        },
    )
