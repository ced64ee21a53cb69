"""``zhifa-sync status`` and ``zhifa-sync check``: what an IT person reads before and after a restart."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from connectors.contract.errors import ConfigError
from connectors.contract.states import DeliveryState, ErrorKind, FailureState, Kind, RunStatus, label
from connectors.contract.validators import mask_text
from sync.cli_format import table
from zhifa_sync.app import App


def status_report(app: App) -> str:
    ledger = app.ledger
    out: list[str] = []
    rows = []
    for p in app.settings.pipelines:
        last = ledger.recent_runs(p.name, limit=1)
        mark = ledger.get_watermark(p.name)
        r = last[0] if last else None
        schedule = (
            f"每 {p.schedule.interval_minutes:g} 分钟" if p.schedule.interval_minutes else p.schedule.cron
        )
        rows.append(
            [
                p.name,
                "启用" if p.enabled else "停用",
                schedule,
                f"{p.source} → {', '.join(p.targets)}",
                r["started_at"] if r else "从未运行",
                label(RunStatus, r["status"]) if r else "",
                f"{r['pulled']}/{r['created']}/{r['updated']}/{r['linked']}/{r['failed']}" if r else "",
                mark or "",
            ]
        )
    out.append("管道")
    out.append(
        table(rows, ["名称", "状态", "计划", "流向", "最近运行", "结果", "读/增/改/关联/败", "已读到"])
    )

    counts = ledger.failure_counts()
    out.append("\n未处理的同步失败")
    if counts:
        out.append(
            table(
                [
                    [
                        c["pipeline"],
                        c["target"],
                        label(ErrorKind, c["error_kind"]),
                        label(FailureState, c["state"]),
                        c["n"],
                    ]
                    for c in sorted(counts, key=lambda c: (-c["n"], c["pipeline"]))
                ],
                ["管道", "目标", "类别", "状态", "条数"],
            )
        )
    else:
        out.append("  无")

    deliveries = ledger.delivery_counts()
    out.append("\n已同步记录")
    out.append(
        table(
            [
                [d["target"], label(Kind, d["kind"]), label(DeliveryState, d["state"]), d["n"]]
                for d in sorted(deliveries, key=lambda d: (d["target"], d["kind"]))
            ],
            ["目标", "类型", "状态", "条数"],
        )
        if deliveries
        else "  无"
    )

    from sync.report import awaiting_feedback as hlwjg_status
    from sync.report import deadlines

    if any(s.type == "credit" for s in app.settings.systems.values()):
        out.append("\n" + deadlines.deadline_section(app))
    if any(s.type == "hlwjg" for s in app.settings.systems.values()):
        out.append("\n" + hlwjg_status.section(app))

    # Read only: the running service's view (ledger meta), never a switch made by this process.
    out.append("")
    out.extend(app.mappings.inspect().lines())
    return "\n".join(out)


def check(path: Path) -> int:
    """Validate config, database, mapping tables and reachability of every system; 0 when all good."""
    from connectors import systems as base
    from sync.config import load_settings
    from sync.ledger import schema as db
    from sync.mapping.check import systems_in_use
    from sync.mapping.store import validate

    ok = True

    def report(name: str, good: bool, detail: str = "") -> None:
        nonlocal ok
        ok &= good
        print(f"[{'通过' if good else '失败'}] {name}" + (f": {detail}" if detail else ""))

    try:
        settings, secrets = load_settings(path)
    except ConfigError as exc:
        report(f"配置文件 {path}", False)
        print("\n".join(f"    {e}" for e in exc.errors))
        return 1
    report(f"配置文件 {path}", True)
    try:
        engine = db.make_engine(settings.database.url)
        current, head = db.schema_state(engine)
        report(
            "数据库",
            current == head or settings.database.auto_upgrade,
            f"结构版本 {current or '(空)'} / 最新 {head}"
            + (
                ""
                if current == head
                else " (启动时自动升级)"
                if settings.database.auto_upgrade
                else " (请运行 zhifa-sync db upgrade)"
            ),
        )
    except Exception as exc:
        report("数据库", False, mask_text(str(exc).splitlines()[0]))
    maps, found = validate(settings.mappings_dir, systems_in_use(settings))
    report(
        "映射表",
        maps is not None,
        f"{settings.mappings_dir} 版本 {maps.version}"
        if maps
        else "\n".join(
            ["有误 (详见 zhifa-sync mappings check):", *(f"    {line}" for line in found.lines()[:20])]
        ),
    )
    for name, cfg in settings.systems.items():
        try:
            conn = base.create(name, cfg, secrets)
            try:
                detail = conn.ping()
            finally:
                conn.close()
            report(f"系统 {name} ({cfg.type})", True, detail)
        except Exception as exc:
            report(f"系统 {name} ({cfg.type})", False, mask_text(str(exc)))
    print(f"\n检查于 {datetime.now():%Y-%m-%d %H:%M:%S}: {'全部通过' if ok else '有问题, 见上'}")
    return 0 if ok else 1
