"""``zhifa-sync status`` and ``zhifa-sync check``: what an IT person reads before and after a restart."""

from __future__ import annotations

from pathlib import Path

from connectors import systems
from connectors.contract import clock
from connectors.contract.config import Secrets
from connectors.contract.errors import ConfigError
from connectors.contract.health import HEALTH_LABELS
from connectors.contract.states import (
    ClockSkew,
    DeliveryState,
    ErrorKind,
    FailureState,
    Kind,
    RunStatus,
    label,
)
from connectors.contract.validators import mask_text
from sync import clock_skew
from sync.cli_format import table
from sync.config import Settings
from sync.lag import pipeline_lag
from zhifa_sync.app import App


def status_report(app: App) -> str:
    """Pipelines, open failures, deliveries, deadlines, 前置库 feedback and mapping tables, as text."""
    from sync.report import awaiting_feedback, deadlines

    out = [
        clock.zone_note(app.settings.zone),
        "\n管道",
        _pipelines(app),
        "\n目标系统",
        _systems(app),
        "\n未处理的同步失败",
        _failures(app),
        "\n已同步记录",
        _deliveries(app),
    ]
    if skew := _clock_skew(app):
        out += ["\n源系统时钟回拨 (已按重叠窗口重读并同步; 请核对源系统时钟)", skew]
    if any(s.type == "credit" for s in app.settings.systems.values()):
        out.append("\n" + deadlines.deadline_section(app.ledger, app.settings))
    if any(s.type == "hlwjg" for s in app.settings.systems.values()):
        out.append("\n" + awaiting_feedback.section(app.ledger, app.settings))
    # Read only: the running service's view (ledger meta), never a switch made by this process.
    out.append("")
    out.extend(app.mappings.inspect().lines())
    return "\n".join(out)


def _pipelines(app: App) -> str:
    rows, zone = [], app.settings.zone
    for p in app.settings.pipelines:
        last = app.ledger.recent_runs(p.name, limit=1)
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
                clock.plain(r["started_at"], zone) if r else "从未运行",
                label(RunStatus, r["status"]) if r else "",
                f"{r['pulled']}/{r['created']}/{r['updated']}/{r['linked']}/{r['failed']}" if r else "",
                clock.plain(app.ledger.get_watermark(p.name), zone),
                pipeline_lag(app.ledger, p.name).text,
            ]
        )
    return table(
        rows, ["名称", "状态", "计划", "流向", "最近运行", "结果", "读/增/改/关联/败", "已读到", "滞后"]
    )


def _systems(app: App) -> str:
    """Each system's health as the daemon last saw it (the console's 目标系统 panel)."""
    zone, rows = app.settings.zone, []
    for name, cfg in app.settings.systems.items():
        h = app.system_health(name)
        rows.append(
            [
                f"{systems.TYPES[cfg.type].label} ({name})",
                HEALTH_LABELS[h.state],
                clock.plain(h.last_success, zone),
                " ".join((h.last_error or "").split())[:60],
                clock.plain(h.last_error_at, zone),
                clock.plain(h.saved_at, zone),
            ]
        )
    return table(rows, ["系统", "状态", "最近成功", "最近错误", "出错时间", "截至"])


def _clock_skew(app: App) -> str | None:
    """Pipelines that read records stamped by a source clock that stepped back (sync/clock_skew.py)."""
    rows = []
    for p in app.settings.pipelines:
        seen = clock_skew.last_seen(app.ledger, p.name)
        if seen is not None:
            rows.append(
                [p.name, str(seen.count), seen.last_record, seen.last_updated_at, label(ClockSkew, seen.reason),
                 seen.noticed_at]
            )  # fmt: skip
    if not rows:
        return None
    return table(rows, ["管道", "次数", "最近记录", "其更新时间", "原因", "发现于"])


def _failures(app: App) -> str:
    counts = sorted(app.ledger.failure_counts(), key=lambda c: (-c["n"], c["pipeline"]))
    if not counts:
        return "  无"
    rows = [
        [
            c["pipeline"],
            c["target"],
            label(ErrorKind, c["error_kind"]),
            label(FailureState, c["state"]),
            c["n"],
        ]
        for c in counts
    ]
    return table(rows, ["管道", "目标", "类别", "状态", "条数"])


def _deliveries(app: App) -> str:
    found = sorted(app.ledger.delivery_counts(), key=lambda d: (d["target"], d["kind"]))
    if not found:
        return "  无"
    rows = [[d["target"], label(Kind, d["kind"]), label(DeliveryState, d["state"]), d["n"]] for d in found]
    return table(rows, ["目标", "类型", "状态", "条数"])


class _Checks:
    """``[通过]``/``[失败]``/``[警告]`` lines as ``check`` prints them; ``ok`` until one fails.

    ``for_unit`` (the unit's ``ExecStartPre=``): a system that cannot be reached is a warning, not a
    failure — the service starts, retries it and shows it as down; configuration errors still fail."""

    def __init__(self, for_unit: bool = False) -> None:
        self.ok = True
        self.warned = False
        self.for_unit = for_unit

    def report(self, name: str, good: bool, detail: str = "") -> None:
        self.ok &= good
        print(f"[{'通过' if good else '失败'}] {name}" + (f": {detail}" if detail else ""))

    def warn(self, name: str, detail: str) -> None:
        """A risk the operator must see, that does not make the check fail."""
        self.warned = True
        print(f"[警告] {name}: {detail}")

    def unreachable(self, name: str, detail: str) -> None:
        if not self.for_unit:
            self.report(name, False, detail)
            return
        self.warned = True
        print(f"[警告] {name}: 暂时无法连接 ({detail}); 服务照常启动, 稍后自动重试")


def check(path: Path, *, secrets_dir: Path | None = None, for_unit: bool = False) -> int:
    """Validate config, database, mapping tables and reachability of every system; 0 when all good.

    Exit 1 when something fails; with ``for_unit`` a configuration error exits 2 (needs a person; the
    unit does not restart on 2) and an unreachable system only warns."""
    from sync.config import load_settings

    checks = _Checks(for_unit)
    try:
        settings, secrets = load_settings(path, secrets_dir=secrets_dir)
        secrets.require()
    except ConfigError as exc:
        checks.report(f"配置文件 {path}", False)
        print("\n".join(f"    {e}" for e in exc.errors))
        return 2 if for_unit else 1
    checks.report(f"配置文件 {path}", True)
    _check_database(checks, settings)
    _check_mappings(checks, settings)
    _check_systems(checks, settings, secrets)
    _check_console(checks, settings)
    verdict = "有问题, 见上" if not checks.ok else "通过 (有警告, 见上)" if checks.warned else "全部通过"
    print(f"\n检查于 {clock.for_people(clock.aware_now(), settings.zone)}: {verdict}")
    return 0 if checks.ok else 1


def _check_database(checks: _Checks, settings: Settings) -> None:
    from sync.ledger import schema

    try:
        current, head = schema.schema_state(schema.make_engine(settings.database.url))
    except Exception as exc:
        checks.report("数据库", False, mask_text(str(exc).splitlines()[0]))
        return
    auto = settings.database.auto_upgrade
    note = "" if current == head else " (启动时自动升级)" if auto else " (请运行 zhifa-sync db upgrade)"
    checks.report("数据库", current == head or auto, f"结构版本 {current or '(空)'} / 最新 {head}{note}")


def _check_mappings(checks: _Checks, settings: Settings) -> None:
    from sync.mapping.check import systems_in_use
    from sync.mapping.store import validate

    maps, found = validate(settings.mappings_dir, systems_in_use(settings))
    if maps is not None:
        checks.report("映射表", True, f"{settings.mappings_dir} 版本 {maps.version}")
        return
    lines = ["有误 (详见 zhifa-sync mappings check):", *(f"    {line}" for line in found.lines()[:20])]
    checks.report("映射表", False, "\n".join(lines))


def _check_console(checks: _Checks, settings: Settings) -> None:
    from console.app import exposure_warning

    cfg = settings.console
    warning = exposure_warning(cfg.host, cfg)
    if warning:
        checks.warn(f"控制台 {cfg.host}:{cfg.port}", warning)
    else:
        checks.report(
            f"控制台 {cfg.host}:{cfg.port}",
            True,
            "仅本机可访问" if cfg.secure_cookies is not True else "经 HTTPS 代理",
        )


def _check_systems(checks: _Checks, settings: Settings, secrets: Secrets) -> None:

    for name, cfg in settings.systems.items():
        try:
            system = systems.create(name, cfg, secrets)
            try:
                detail = system.ping()
            finally:
                system.close()
            checks.report(f"系统 {name} ({cfg.type})", True, detail)
        except Exception as exc:
            what = f"系统 {name} ({cfg.type})"
            if _unreachable(exc):
                checks.unreachable(what, mask_text(str(exc)))
            else:
                checks.report(what, False, mask_text(str(exc)))


def _unreachable(exc: Exception) -> bool:
    """Down, refusing connections or timing out (transient) — not a rejected credential or a bad config."""
    import sqlalchemy.exc

    from connectors.contract.errors import RetriableError

    return isinstance(exc, RetriableError | OSError | sqlalchemy.exc.OperationalError)
