"""``zhifa-sync report monthly --month 2026-10 [--out report.xlsx]``: the monthly enforcement statistics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from connectors.contract.clock import beijing_now


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="统计报表: 月度行政执法综合统计 (monthly)")
    sp = p.add_subparsers(dest="report_kind", required=True)
    m = sp.add_parser("monthly", help="月度行政执法综合统计与时效 (检查、处罚、录入与公示时效), 可导出 Excel")
    m.add_argument("--month", help="统计月份 yyyy-MM, 如 2026-10 (默认: 上个月)")
    m.add_argument("--out", type=Path, metavar="FILE.xlsx", help="同时写出 Excel 工作簿")
    m.set_defaults(func=cmd_monthly)


def cmd_monthly(args: argparse.Namespace) -> int:
    from sync.report.figures import Month
    from sync.report.monthly import report_for_settings
    from sync.report.text import render_text
    from sync.report.xlsx import write_xlsx
    from zhifa_sync.context import app_from_args

    try:
        month = Month.parse(args.month) if args.month else Month.previous(beijing_now().date())
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    app = app_from_args(args)
    try:
        report = report_for_settings(app.ledger, app.settings, month)
    finally:
        app.close()
    print(render_text(report))
    if args.out:
        out: Path = args.out if args.out.suffix.lower() == ".xlsx" else args.out.with_suffix(".xlsx")
        try:
            write_xlsx(report, out)
        except OSError as exc:
            print(f"无法写入 {out}: {exc.strerror}", file=sys.stderr)
            return 1
        print(f"\n已写出 {out}")
    return 0
