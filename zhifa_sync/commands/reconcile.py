"""``zhifa-sync reconcile [PIPELINE ...] [--since DATE] [--repair]``: compare each source with the ledger and
the targets, print what is missing, stale, extra or diverged, and with ``--repair`` re-push it."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from connectors.contract.states import Finding, label

DETAIL_ROWS = 50  # findings listed one by one per pipeline (all are stored, and on the console page)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reconcile", help="对账: 比对来源系统、账本与各目标系统, 列出缺失/版本落后/多余/内容不一致的记录"
    )
    p.add_argument("pipelines", nargs="*", metavar="PIPELINE", help="管道名称 (默认: 所有启用的管道)")
    p.add_argument(
        "--since", help="只比对此时间以后更新的记录: yyyy-MM-dd 或 'yyyy-MM-dd HH:mm:ss' (默认: 管道的 start)"
    )
    p.add_argument(
        "--repair", action="store_true", help="把缺失、版本落后和内容不一致的记录重新推送 (多余的只报告)"
    )
    p.set_defaults(func=cmd_reconcile)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since 的时间格式不对: {text} (应为 yyyy-MM-dd 或 'yyyy-MM-dd HH:mm:ss')"
        ) from None


def cmd_reconcile(args: argparse.Namespace) -> int:
    from zhifa_sync.context import app_from_args

    try:
        since = _since(args.since)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    app = app_from_args(args)
    try:
        names = args.pipelines or [p.name for p in app.settings.pipelines if p.enabled]
        unknown = [n for n in names if n not in {p.name for p in app.settings.pipelines}]
        if unknown:
            print(f"未知的管道: {', '.join(unknown)}", file=sys.stderr)
            return 2
        app.mappings.current()
        bad = False
        for name in names:
            result = app.reconcile(name, since, repair=args.repair, actor="cli")
            if result is None:
                print(f"\n管道 {name}: 来源系统不能列出记录, 或另一实例正在运行该管道, 未对账")
                continue
            print(render(result, app.settings.pipeline(name).targets, repair=args.repair))
            bad = bad or result.status != "ok" or any(not f.repaired for f in result.findings)
    finally:
        app.close()
    return 1 if bad else 0


def render(result: Any, targets: list[str], *, repair: bool) -> str:
    """The run as the terminal shows it: a table per target and kind, then the findings one by one."""
    from sync.cli_format import table

    lines = [f"\n管道 {result.pipeline}: 来源记录 {result.listed} 条, 发现问题 {len(result.findings)} 条"]
    if result.error:
        lines.append(f"  对账出错: {result.error}")
    rows = [[t, *(result.count(t, k) for k in Finding)] for t in targets]
    lines.append(table(rows, ["目标系统", *(label(Finding, k) for k in Finding)]))
    if result.findings:
        detail = [
            [f.target, label(Finding, f.finding), f.source_id, f.detail, "已补推" if f.repaired else ""]
            for f in result.findings[:DETAIL_ROWS]
        ]
        lines.append("")
        lines.append(table(detail, ["目标系统", "问题", "记录编号", "说明", "处理"]))
        if len(result.findings) > DETAIL_ROWS:
            lines.append(f"…… 另有 {len(result.findings) - DETAIL_ROWS} 条, 见控制台「对账」页")
    if repair:
        lines.append(f"已补推 {result.repaired} 条 (多余的记录不会自动删除, 请人工核实)")
    elif any(f.finding != Finding.EXTRA for f in result.findings):
        lines.append("运行 `zhifa-sync reconcile --repair` 重新推送缺失、版本落后和内容不一致的记录")
    return "\n".join(lines)
