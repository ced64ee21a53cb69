"""``zhifa-sync mappings check | export | coverage``: the administrators' tools for the mapping tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sync.cli_format import table
from sync.mapping import files as mapping_files


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "mappings", help="映射表: 检查 (check)、导出为 Excel (export)、未映射代码 (coverage)"
    )
    sp = p.add_subparsers(dest="mappings_action", required=True)
    c = sp.add_parser(
        "check", help="检查映射表: 重复、空白、格式、代码表、歧义; --live 再对照各系统目录 (退出码 0/1)"
    )
    c.add_argument("--live", action="store_true", help="对照市系统字典、前置库目录表和区平台人员/事项/部门")
    c.add_argument(
        "--dir", type=Path, help="映射表目录 (默认取配置文件中的 mappings_dir; 给出时不需要配置文件)"
    )
    c.add_argument("--strict", action="store_true", help="提示 (如空白的目标列) 也使退出码为 1")
    c.set_defaults(func=cmd_check)
    e = sp.add_parser("export", help="把整套映射表导出为一个工作簿 (每张表一个工作表)")
    e.add_argument("--xlsx", type=Path, required=True, metavar="OUT", help="输出文件, 如 mappings-导出.xlsx")
    e.add_argument("--dir", type=Path, help="映射表目录 (默认取配置文件中的 mappings_dir)")
    e.set_defaults(func=cmd_export)
    v = sp.add_parser("coverage", help="已读取的记录中哪些代码尚未映射, 并建议可粘贴的执法人员行")
    v.add_argument("--no-suggest", action="store_true", help="不查询各系统的人员目录")
    v.set_defaults(func=cmd_coverage)


def _settings(args: argparse.Namespace) -> tuple[Any, Any]:
    from zhifa_sync.context import settings_from_args

    return settings_from_args(args)  # type: ignore[no-any-return]


def cmd_check(args: argparse.Namespace) -> int:
    from sync.mapping.check import ALL_SYSTEMS, check_live, check_offline, systems_in_use

    settings: Any = None
    secrets: Any = None
    if args.live or args.dir is None or args.config:
        settings, secrets = _settings(args)
    directory: Path = args.dir or settings.mappings_dir
    maps, problems = mapping_files.load_with_problems(directory)
    report = check_offline(maps, systems_in_use(settings) if settings else ALL_SYSTEMS)
    report.errors[:0] = problems
    if args.live:
        from connectors import systems

        def connect(name: str) -> Any:
            return systems.create(name, settings.systems[name], secrets)

        report.extend(check_live(settings.systems, connect, maps))
    for line in report.lines():
        print(line)
    print(
        f"\n映射表检查{' (含在线核对)' if args.live else ''} {directory}: "
        f"错误 {len(report.errors)} 条, 提示 {len(report.warnings)} 条"
        + ("" if report.errors else ", 可以使用")
    )
    return 1 if report.errors or (args.strict and report.warnings) else 0


def cmd_export(args: argparse.Namespace) -> int:
    from sync.mapping.files import write_workbook

    directory = args.dir or _settings(args)[0].mappings_dir
    maps = mapping_files.load(directory)  # a set with problems is not exported: rows would be lost silently
    write_workbook(maps, args.xlsx)
    rows = sum(len(t) for t in maps.tables.values())
    print(
        f"已导出 {len(maps.tables)} 张表 ({rows} 行) 到 {args.xlsx}; 放入映射表目录并命名为 mappings.xlsx"
        " (并移走各 CSV 文件) 即可直接使用"
    )
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from sync.mapping.coverage import coverage
    from zhifa_sync.context import app_from_args

    app = app_from_args(args)
    try:
        found = coverage(app, suggest=not args.no_suggest)
    finally:
        app.close()
    seen = [u for u in found if u.count]
    if seen:
        print("记录中出现但尚未映射的代码:")
        print(
            table(
                [[u.file, u.column, u.code, u.count, u.parked, u.example or ""] for u in seen],
                ["映射表", "列", "代码", "记录数", "其中待映射", "示例记录"],
            )
        )
    else:
        print("已读取的记录中没有未映射的代码")
    idle = [u for u in found if not u.count]
    if idle:
        print(f"\n区平台在职但尚未映射的执法人员 {len(idle)} 名 (尚无记录用到)")
    by_file: dict[str, list[Any]] = {}
    for u in found:
        if u.suggestion or u.note:
            by_file.setdefault(u.file, []).append(u)
    for file, entries in by_file.items():
        lines = [u.suggestion for u in entries if u.suggestion]
        if lines:
            print(f"\n建议添加到 {file} 的行 (核对后整段粘贴到文件末尾):")
            print("\n".join(lines))
        print(f"\n{file} 说明:")
        print("\n".join(f"  {u.code}: {u.note}" for u in entries if u.note))
    return 1 if seen else 0
