"""``zhifa-sync pipelines list|pause|resume|run|reread``: steer the pipelines of a running service.

What is asked is written to the ledger, so it survives restarts and every instance sharing the
ledger obeys it; the service starts an asked-for run within seconds (``Service._watch_controls``).
Each change is audited under the name given with ``--by`` (default: the login name).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sync.cli_format import table
from sync.steering import parse_day_or_time


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("pipelines", help="管道: 列出、暂停/恢复、立即运行、从指定日期重新读取")
    sp = p.add_subparsers(dest="pipelines_action", required=True)
    sp.add_parser("list", help="各管道是否暂停、由谁暂停, 以及待执行的请求").set_defaults(func=cmd_list)
    for name, help_text, func in (
        ("pause", "暂停管道 (所有实例都不再运行它, 重启后仍暂停)", cmd_pause),
        ("resume", "恢复已暂停的管道", cmd_resume),
        ("run", "请运行中的服务立即运行一次该管道", cmd_run_now),
        ("reread", "下次运行时从指定日期起重新读取 (未变化的记录不会重复发送)", cmd_reread),
    ):
        c = sp.add_parser(name, help=help_text)
        c.add_argument("pipeline", metavar="PIPELINE")
        c.add_argument("--by", default=os.environ.get("USER", "cli"), help="记入审计日志的操作人")
        if name == "pause":
            c.add_argument("--reason", help="暂停原因, 如: 市系统维护至周五")
        if name == "reread":
            c.add_argument(
                "--from", dest="since", required=True, metavar="DATE", help="yyyy-MM-dd[ HH:mm:ss]"
            )
        c.set_defaults(func=func)


def _app(args: argparse.Namespace) -> Any:
    from zhifa_sync.context import app_from_args

    return app_from_args(args)


def _known(app: Any, name: str) -> bool:
    if any(p.name == name for p in app.settings.pipelines):
        return True
    names = ", ".join(p.name for p in app.settings.pipelines)
    print(f"未知的管道: {name} (已配置: {names})", file=sys.stderr)
    return False


def cmd_list(args: argparse.Namespace) -> int:
    app = _app(args)
    try:
        names = [p.name for p in app.settings.pipelines]
        controls = app.ledger.controls(names)
        rows = []
        for p in app.settings.pipelines:
            c = controls[p.name]
            state = "已暂停" if c.paused else ("运行中" if p.enabled else "未启用 (配置)")
            asked = []
            if c.run_requested_at:
                asked.append(f"立即运行 (请求于 {c.run_requested_at:%H:%M:%S})")
            if c.reread_from:
                asked.append(f"自 {c.reread_from:%Y-%m-%d %H:%M} 重新读取")
            by = f"{c.changed_by} {c.changed_at:%Y-%m-%d %H:%M}" if c.paused and c.changed_at else ""
            rows.append([p.name, state, (c.reason or "") if c.paused else "", by, "; ".join(asked)])
        print(table(rows, ["管道", "状态", "暂停原因", "操作人/时间", "待执行的请求"]))
        return 0
    finally:
        app.close()


def cmd_pause(args: argparse.Namespace) -> int:
    return _change(
        args, lambda app: app.ledger.set_paused(args.pipeline, True, args.by, args.reason), "已暂停"
    )


def cmd_resume(args: argparse.Namespace) -> int:
    return _change(args, lambda app: app.ledger.set_paused(args.pipeline, False, args.by), "已恢复")


def cmd_run_now(args: argparse.Namespace) -> int:
    def ask(app: Any) -> None:
        if app.ledger.control(args.pipeline).paused:
            raise ValueError(
                f"管道 {args.pipeline} 已暂停: 先恢复 (zhifa-sync pipelines resume {args.pipeline})"
            )
        app.ledger.request_run(args.pipeline, args.by)

    return _change(args, ask, "已请求立即运行 (运行中的服务将在几秒内开始)")


def cmd_reread(args: argparse.Namespace) -> int:
    try:
        since = parse_day_or_time(args.since)
    except ValueError:
        print(f"日期格式不对: {args.since!r} (应为 yyyy-MM-dd 或 yyyy-MM-dd HH:mm:ss)", file=sys.stderr)
        return 2
    return _change(
        args,
        lambda app: app.request_reread(args.pipeline, since, args.by),
        f"下次运行时将自 {since:%Y-%m-%d %H:%M:%S} 起重新读取",
    )


def _change(args: argparse.Namespace, do: Any, done: str) -> int:
    app = _app(args)
    try:
        if not _known(app, args.pipeline):
            return 2
        try:
            do(app)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        print(f"{args.pipeline}: {done}")
        return 0
    finally:
        app.close()
