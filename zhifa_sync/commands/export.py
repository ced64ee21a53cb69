"""``zhifa-sync export sgs``: pending 双公示 decisions as the platform's .xlsx template, for manual upload."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from connectors.contract.clock import beijing_now


def cmd_export(args: argparse.Namespace) -> int:
    from zhifa_sync.context import app_from_args
    from zhifa_sync.export_sgs import export_sgs

    out = Path(args.out or f"双公示-行政处罚-{beijing_now():%Y%m%d}.xlsx")
    app = app_from_args(args)
    try:
        written, problems = export_sgs(app, out, ids=args.ids or None, pending=not args.ids)
    finally:
        app.close()
    for problem in problems:
        print(f"  未导出: {problem}")
    print(
        f"已写入 {written} 条决定到 {out} (含身份证号原文, 供上传信用平台用, 请妥善保管; 上传后再同步时会自动关联)"
    )
    return 0 if not problems else 1


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="导出: export sgs —— 双公示行政处罚模板 (.xlsx), 供平台接口不可用时手工上传"
    )
    p.add_argument("what", choices=["sgs"])
    p.add_argument("--out", help="输出文件 (默认 双公示-行政处罚-日期.xlsx)")
    p.add_argument("--ids", nargs="*", help="只导出这些区平台处罚记录编号 (默认: 所有尚未公示的)")
    p.set_defaults(func=cmd_export)
