"""The ``zhifa-sync`` command line."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from connectors.contract import clock
from connectors.contract.errors import ConfigError
from connectors.contract.mapping import MappingFileError
from connectors.contract.states import ErrorKind, FailureState, RunStatus, label, labels
from connectors.contract.validators import mask_text
from sync import logs
from sync.cli_format import table
from zhifa_sync import cli_errors
from zhifa_sync.context import app_from_args, config_path, secrets_dir, settings_from_args

COLUMNS = ("created", "updated", "linked", "withdrawn", "unchanged", "skipped", "failed")


def print_counts(results: dict[str, Any]) -> None:
    """One table per pipeline: what was read, and per target where each record went.

    Every record read that is not a draft (or otherwise synced nowhere) has exactly one outcome per
    target, so each target's row adds up to 读取 − 不需同步 plus the retried ones: the 合计 column."""
    for name, counts in results.items():
        wanted = counts.pulled - counts.skipped
        print(
            f"\n管道 {name}: 状态 {label(RunStatus, counts.status)}, 读取 {counts.pulled} 条, 其中 {counts.skipped} 条不需同步"
            f" (草稿、未决定, 或本方推送回来的记录), 余 {wanted} 条"
            + (f", 另重试以前失败的 {counts.retried} 条" if counts.retried else "")
        )
        if counts.error:
            print(f"  错误: {mask_text(counts.error)}")
        rows = []
        for target, per in sorted(counts.by_target.items()):
            cells = [per.get(column, 0) for column in COLUMNS]
            rows.append([target, *cells, sum(cells)])
        if rows:
            print(
                table(
                    rows,
                    [
                        "目标系统",
                        "新增",
                        "更新",
                        "关联手工录入",
                        "作废/撤销",
                        "未变化",
                        "该系统不收",
                        "失败",
                        "合计",
                    ],
                )
            )
            print(
                f"  每行合计 = 余下的 {wanted} 条"
                + (f" + 重试的 {counts.retried} 条" if counts.retried else "")
                + " (每条记录对每个目标系统恰好一个结果; 该系统不收: 如简易程序处罚不报双公示, 未推送过即作废的记录)"
            )


def cmd_sync(args: argparse.Namespace) -> int:
    app = app_from_args(args)
    try:
        app.secrets.require(app.systems_of(args.pipelines or None))  # every missing secret at once
        app.mappings.current()  # a broken set is reported once, before any pipeline runs
        results = app.run_once(args.pipelines or None)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    finally:
        app.close()
    print_counts(results)
    # "skipped": another instance holds the pipeline right now — not a failure of this one.
    failed = any(c.failed or c.status not in ("ok", "skipped") for c in results.values())
    if failed:
        print(
            "\n有记录同步失败: 运行 `zhifa-sync failures list` 查看原因, 修正后 `zhifa-sync failures retry`。"
        )
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    from zhifa_sync.service import Service

    app = app_from_args(args)
    try:
        app.secrets.require(app.systems_of())  # a missing secret is a configuration error (exit 2)
        app.mappings.current()  # a broken set at start is fatal: there is no last good set to keep
        Service(app, console=not args.no_console).serve_forever()
    finally:
        app.close()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from zhifa_sync.status import status_report

    app = app_from_args(args)
    try:
        print(status_report(app))
    finally:
        app.close()
    return 0


def _failures_list(app: Any, args: argparse.Namespace) -> int:
    rows, total = app.ledger.query_failures(
        state=args.state,
        pipeline=args.pipeline,
        target=args.target,
        error_kind=args.kind,
        search=args.search,
        limit=args.limit,
    )
    print(
        table(
            [
                [
                    r["id"],
                    label(FailureState, r["state"]),
                    r["pipeline"],
                    r["source_id"],
                    r["target"],
                    label(ErrorKind, r["error_kind"]),
                    r["attempts"],
                    clock.plain(r["last_seen"], app.settings.zone),
                    mask_text(r["message"])[:90],
                ]
                for r in rows
            ],
            ["编号", "状态", "管道", "记录", "目标", "类别", "次数", "最近", "原因"],
        )
    )
    print(f"\n共 {total} 条" + (f", 显示前 {len(rows)} 条" if total > len(rows) else ""))
    return 0


def _failures_show(app: Any, args: argparse.Namespace) -> int:
    from zhifa_sync.failure_text import failure_text

    f = app.ledger.get_failure(args.id)
    if f is None:
        print(f"没有编号为 {args.id} 的失败记录", file=sys.stderr)
        return 1
    try:
        attempts = app.settings.pipeline(f["pipeline"]).auto_retry_attempts
    except KeyError:
        attempts = None
    print(failure_text(f, app.settings, attempts=attempts))
    return 0


def _chosen(app: Any, args: argparse.Namespace) -> tuple[list[int], str | None]:
    """The failure ids named (``--record``: a source record's on every target; ``--all-targets``: the
    named failures' records on every target), and the audit note saying so."""
    ids = list(args.ids) + app.ledger.record_failure_ids(args.record or [])
    if args.all_targets:
        ids += [f["id"] for i in list(ids) for f in app.ledger.record_failures(i)]
    ids = sorted(set(ids))
    grouped = bool(args.record or args.all_targets)
    return ids, f"按记录处理: {len(ids)} 个目标系统的失败" if grouped else None


def _failures_retry(app: Any, args: argparse.Namespace) -> int:
    ids, note = _chosen(app, args)
    ids = ids or ([] if note else app.ledger.failure_ids(error_kind=args.kind))
    n = app.ledger.mark_retry(ids, actor=args.by, note=note)
    print(f"已将 {n} 条失败记录标记为待重试")
    if args.queue or not n:
        return 0
    pipelines = sorted(
        {f["pipeline"] for i in ids if (f := app.ledger.get_failure(i))}
        & {p.name for p in app.settings.pipelines}
    )
    results = {p: app.run_pipeline(p, retries_only=True) for p in pipelines}
    print_counts(results)
    still = [i for i in ids if (f := app.ledger.get_failure(i)) and f["state"] != "resolved"]
    print(f"\n重试后仍失败 {len(still)} 条" + (f": {', '.join(map(str, still))}" if still else ""))
    return 1 if still else 0


def _failures_resolve(app: Any, args: argparse.Namespace) -> int:
    ids, _ = _chosen(app, args)
    if not ids:
        print("请给出失败编号或 --record 来源记录编号", file=sys.stderr)
        return 2
    n = app.ledger.resolve(ids, actor=args.by, note=args.note)
    print(f"已处理 {n} 条")
    return 0


def _failures_reopen(app: Any, args: argparse.Namespace) -> int:
    n = app.ledger.reopen(args.ids, actor=args.by, note=args.note)
    print(f"已重新打开 {n} 条")
    return 0


def cmd_failures(args: argparse.Namespace) -> int:
    action = {
        "list": _failures_list,
        "show": _failures_show,
        "retry": _failures_retry,
        "resolve": _failures_resolve,
        "reopen": _failures_reopen,
    }[args.action]
    app = app_from_args(args)
    try:
        return action(app, args)
    finally:
        app.close()


def cmd_db(args: argparse.Namespace) -> int:
    from sync.ledger import schema as db

    settings, _ = settings_from_args(args)
    engine = db.make_engine(settings.database.url)
    before, head = db.schema_state(engine)
    db.upgrade(engine)
    after, _ = db.schema_state(engine)
    print(f"数据库结构: {before or '(空)'} → {after} (最新 {head})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from zhifa_sync.status import check

    return check(config_path(args.config), secrets_dir=secrets_dir(args), for_unit=args.for_unit)


def cmd_console(args: argparse.Namespace) -> int:
    import uvicorn

    from console.app import create_app, exposure_warning
    from console.peers import SERVER_OPTIONS

    app = app_from_args(args)
    cfg = app.settings.console
    host = args.host or cfg.host
    warning = exposure_warning(host, cfg)
    if warning:
        print(f"警告: {warning}", file=sys.stderr)
    console = create_app(app.ledger, app.settings, check_live=app.check_mappings_live)
    uvicorn.run(console, host=host, port=args.port or cfg.port, **SERVER_OPTIONS)
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from console import users

    if not args.rest or {"-h", "--help"} & set(args.rest):  # usage needs no configuration
        return users.main(None, args.rest)
    app = app_from_args(args)
    try:
        rc: int = users.main(app.ledger, args.rest)
        return rc
    finally:
        app.close()


def _choices(enum: Any) -> str:
    """``open 待处理 | parked 待映射 | ...``: the values an option takes, with their words."""
    return " | ".join(f"{value} {word}" for value, word in labels(enum).items())


def _group_options(parser: Any) -> None:
    """One bad record fails once per target: act on all of them at once (each failure is audited)."""
    parser.add_argument(
        "--record", action="append", metavar="记录编号", help="该来源记录在所有目标系统的失败 (可重复)"
    )
    parser.add_argument("--all-targets", action="store_true", help="连同所给失败的记录在其他目标系统的失败")


def _failures_parser(sub: Any) -> None:
    f = sub.add_parser("failures", help="同步失败记录")
    fs = f.add_subparsers(dest="action", required=True)
    fl = fs.add_parser("list")
    fl.add_argument(
        "--state", default="unresolved", help=f"{_choices(FailureState)} | unresolved 未解决 (默认)"
    )
    fl.add_argument("--pipeline")
    fl.add_argument("--target")
    fl.add_argument("--kind", help=_choices(ErrorKind))
    fl.add_argument("--search", help="决定书文号、信用代码、企业名称或记录编号")
    fl.add_argument("--limit", type=int, default=50)
    fsh = fs.add_parser("show")
    fsh.add_argument("id", type=int)
    fr = fs.add_parser("retry")
    fr.add_argument("ids", type=int, nargs="*")
    fr.add_argument("--kind", help="重试某一类别的全部失败")
    fr.add_argument("--queue", action="store_true", help="只标记, 由下一次计划运行重试")
    _group_options(fr)
    fr.add_argument("--by", default=os.environ.get("USER", "cli"))
    fv = fs.add_parser("resolve")
    fv.add_argument("ids", type=int, nargs="*")
    _group_options(fv)
    fv.add_argument("--note", required=True, help="处理说明, 如: 已在市系统手工补录")
    fv.add_argument("--by", default=os.environ.get("USER", "cli"))
    fo = fs.add_parser("reopen")
    fo.add_argument("ids", type=int, nargs="+")
    fo.add_argument("--note")
    fo.add_argument("--by", default=os.environ.get("USER", "cli"))
    f.set_defaults(func=cmd_failures)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zhifa-sync", description="执法数据同步: 检查与行政处罚记录在各系统间同步"
    )
    p.add_argument(
        "-c",
        "--config",
        help="配置文件 (默认 $ZHIFA_SYNC_CONFIG, ./zhifa-sync.yaml, /etc/zhifa-sync/zhifa-sync.yaml)",
    )
    p.add_argument("--log-format", choices=["auto", "json", "console"], default=None)
    p.add_argument(
        "--secrets-dir",
        metavar="DIR",
        help="从 DIR/NAME 读取配置中 /run/credentials/…/NAME 的密钥 (如 /etc/zhifa-sync/credentials,"
        " 即服务单元 LoadCredential= 读取的文件), 以便在服务之外运行 check",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="作为服务运行: 按计划执行所有启用的管道, 并提供运维控制台")
    r.add_argument("--no-console", action="store_true")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("sync", help="执行一次同步")
    s.add_argument("--once", action="store_true", required=True, help="执行一次后退出 (有失败时退出码为 1)")
    s.add_argument("pipelines", nargs="*", metavar="PIPELINE")
    s.set_defaults(func=cmd_sync)

    sub.add_parser("status", help="各管道、失败与映射表的状态").set_defaults(func=cmd_status)
    ck = sub.add_parser("check", help="检查配置、数据库、映射表和各系统连通性 (退出码 0/1)")
    ck.add_argument(
        "--for-unit",
        action="store_true",
        help="服务启动前的检查: 系统暂时无法连接只警告 (退出码 0), 配置错误退出码 2",
    )
    ck.set_defaults(func=cmd_check)

    _failures_parser(sub)

    d = sub.add_parser("db", help="数据库")
    d.add_argument("action", choices=["upgrade"])
    d.set_defaults(func=cmd_db)

    c = sub.add_parser("console", help="只运行运维控制台")
    c.add_argument("--host")
    c.add_argument("--port", type=int)
    c.set_defaults(func=cmd_console)

    # Everything after ``users`` goes to console.users' own parser (``main`` splits it off), so that
    # ``users --help`` lists every sub-command there.
    u = sub.add_parser(
        "users",
        help="控制台账号: users add|passwd|role|disable|enable|list (详见 users --help)",
        add_help=False,
    )
    u.set_defaults(func=cmd_users, rest=[])

    import zhifa_sync.commands

    for info in sorted(pkgutil.iter_modules(zhifa_sync.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"zhifa_sync.commands.{info.name}").register(sub)
    return p


_GLOBAL_WITH_VALUE = frozenset({"-c", "--config", "--log-format"})


def _split_users(argv: list[str]) -> tuple[list[str], list[str]]:
    """``[global options] users REST...`` → (``[global options] users``, REST); anything else unsplit."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return (argv[: i + 1], argv[i + 1 :]) if arg == "users" else (argv, [])
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    head, users_args = _split_users(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(head)
    if args.command == "users":
        args.rest = users_args
    logs.configure(args.log_format or os.environ.get("ZHIFA_LOG_FORMAT", "auto"))
    try:
        rc: int = args.func(args)
        return rc
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except MappingFileError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Exception as exc:  # what an operator can act on, in one line; ZHIFA_DEBUG=1 for the traceback
        if os.environ.get("ZHIFA_DEBUG"):
            raise
        failure = cli_errors.explain(exc)
        print(failure.message, file=sys.stderr)
        return failure.exit_code


if __name__ == "__main__":
    sys.exit(main())
