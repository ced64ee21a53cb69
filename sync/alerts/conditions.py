"""The conditions alerts are about, read afresh every minute; each open one has a stable key.

A condition that cannot be read (the ledger down) is *unknown*, not cleared: its alert stays as it was,
so an outage of the ledger does not send "已恢复" for everything the ledger tells about.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from connectors.contract.states import Alert, ErrorKind, label
from sync.config import Settings
from sync.lease import LeaseLoss, LeaseProblem
from sync.ledger import Ledger

URGENT = frozenset(
    {
        Alert.OVERDUE,
        Alert.CIRCUIT_OPEN,
        Alert.LEDGER_DOWN,
        Alert.MAPPINGS_REFUSED,
        Alert.PIPELINE_STUCK,
        Alert.LEASE_LOST,
    }
)
SHOWN = 10  # records named in one message; the rest are counted


@dataclass(frozen=True, slots=True)
class Condition:
    """One open condition: its key (``kind`` or ``kind:detail``), what to say, and for the failures
    digest (an event, not a state) the mark it moves the digest to once sent."""

    key: str
    kind: Alert
    title: str
    text: str
    mark: str | None = None

    @property
    def urgent(self) -> bool:
        return self.kind in URGENT

    @property
    def event(self) -> bool:
        return self.kind is Alert.FAILURES


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the conditions are read from; the service fills in the parts only it knows."""

    ledger: Ledger
    settings: Settings
    today: date
    failures_mark: int = 0  # the highest failure id already digested
    circuits: Callable[[], Mapping[str, bool]] = dict  # system -> circuit open
    mapping_problems: Callable[[], list[str]] = list
    stuck: Callable[[], Mapping[str, float]] = dict  # pipeline -> seconds without progress when given up
    leases: Callable[[], Mapping[str, LeaseProblem]] = dict  # pipeline -> its lease lost or taken over


@dataclass(frozen=True, slots=True)
class Reading:
    open: list[Condition] = field(default_factory=list)
    unknown: frozenset[Alert] = frozenset()  # kinds that could not be read this time


def read(inputs: Inputs) -> Reading:
    """Every open condition now."""
    found = [
        *circuits(inputs.circuits()),
        *mappings(inputs.mapping_problems()),
        *stuck(inputs.stuck()),
        *leases(inputs.leases()),
    ]
    try:
        inputs.ledger.ping()
    except Exception as exc:  # any driver's error: the ledger cannot be read
        text = f"同步暂停, 无法记录进度。错误: {type(exc).__name__}; 请检查数据库服务与网络。"
        ledger_kinds = frozenset({Alert.FAILURES, Alert.DUE_SOON, Alert.OVERDUE})
        return Reading(
            [*found, Condition(Alert.LEDGER_DOWN, Alert.LEDGER_DOWN, _t(Alert.LEDGER_DOWN), text)],
            ledger_kinds,
        )
    found += failures_digest(inputs.ledger, inputs.failures_mark)
    found += due(inputs)
    return Reading(found)


def _t(kind: Alert, detail: str = "") -> str:
    return f"{label(Alert, kind)}{f' ({detail})' if detail else ''}"


def failures_digest(ledger: Ledger, mark: int) -> list[Condition]:
    """One digest of the failures new since ``mark``: counts per pipeline and kind, a few named."""
    rows = ledger.failures_after(mark)
    if not rows:
        return []
    groups = Counter((r["pipeline"], r["error_kind"]) for r in rows)
    lines = [f"- {p} · {label(ErrorKind, k)}: {n} 条" for (p, k), n in sorted(groups.items())]
    lines.append("")
    lines += [
        f"- {r['doc_no'] or '(无文号)'} {r['party_name'] or ''} → {r['target']}: {str(r['message'])[:120]}"
        for r in rows[:SHOWN]
    ]
    if len(rows) > SHOWN:
        lines.append(f"- ……另 {len(rows) - SHOWN} 条, 请在控制台「失败记录」查看")
    title = _t(Alert.FAILURES, f"{len(rows)} 条")
    return [Condition(Alert.FAILURES, Alert.FAILURES, title, "\n".join(lines), mark=str(rows[-1]["id"]))]


def due(inputs: Inputs) -> list[Condition]:
    """Decisions overdue on a credit target, and due within N working days (one alert per target each).

    An overdue decision that was already past its due date when first read is still overdue (it still
    has to be published), and its line says so, as ``status`` counts it apart."""
    if not any(s.type == "credit" for s in inputs.settings.systems.values()):
        return []
    from sync.report.deadlines import HISTORY_NOTE, deadlines

    n = inputs.settings.alerts.due_within_workdays
    found = deadlines(inputs.ledger, inputs.settings, inputs.today, soon_workdays=n)
    out: list[Condition] = []
    for kind, state, note in (
        (Alert.OVERDUE, "overdue", "已超过 7 个工作日公示期限"),
        (Alert.DUE_SOON, "due_soon", f"将在 {n} 个工作日内到期"),
    ):
        by_target: dict[str, list[str]] = {}
        read_late: Counter[str] = Counter()
        for d in found:
            if d.state == state:
                history = f" (首次读到时已逾期, {HISTORY_NOTE})" if d.overdue_when_read else ""
                read_late[d.target] += bool(history)
                by_target.setdefault(d.target, []).append(
                    f"- {d.doc_no} {d.party_name} 期限 {d.due:%Y-%m-%d}{history}"
                )
        for target, lines in sorted(by_target.items()):
            apart = f" (其中 {read_late[target]} 件在首次读到时已逾期)" if read_late[target] else ""
            text = "\n".join(
                [f"信用平台 {target}: {len(lines)} 件行政处罚决定{note}, 尚未公示{apart}。", *_few(lines)]
            )
            out.append(Condition(f"{kind}:{target}", kind, _t(kind, f"{target} {len(lines)} 件"), text))
    return out


def _few(lines: list[str]) -> list[str]:
    return lines[:SHOWN] + ([f"- ……另 {len(lines) - SHOWN} 件"] if len(lines) > SHOWN else [])


def circuits(states: Mapping[str, bool]) -> Iterable[Condition]:
    for system, is_open in sorted(states.items()):
        if is_open:
            text = f"系统 {system} 连续调用失败, 熔断器已断开, 暂停向其发送; 冷却后将自动试探恢复。"
            yield Condition(
                f"{Alert.CIRCUIT_OPEN}:{system}", Alert.CIRCUIT_OPEN, _t(Alert.CIRCUIT_OPEN, system), text
            )


def mappings(problems: list[str]) -> list[Condition]:
    if not problems:
        return []
    text = "\n".join(["映射表修改未生效 (仍使用上一版), 问题:", *_few([f"- {p}" for p in problems])])
    return [Condition(Alert.MAPPINGS_REFUSED, Alert.MAPPINGS_REFUSED, _t(Alert.MAPPINGS_REFUSED), text)]


def stuck(pipelines: Mapping[str, float]) -> Iterable[Condition]:
    """A pipeline whose run was given up as stuck, until that run ends or a later one moves."""
    for pipeline, idle_s in sorted(pipelines.items()):
        text = (
            f"管道 {pipeline} 的运行 {idle_s:g} 秒无进展 (未读到新页, 未完成推送), 已放弃, 下一次运行照常开始。"
            "多为对端系统无应答或应答极慢: 请在控制台「系统状态」查看该管道的源系统与目标系统。"
        )
        kind = Alert.PIPELINE_STUCK
        yield Condition(f"{kind}:{pipeline}", kind, _t(kind, pipeline), text)


def leases(problems: Mapping[str, LeaseProblem]) -> Iterable[Condition]:
    """A run of this instance whose lease is gone (and perhaps held by another instance), until it ends."""
    for pipeline, p in sorted(problems.items()):
        if p.loss is LeaseLoss.TAKEN_OVER:
            now = f"现由 {p.holder} 持有 (已被接管), 两个实例可能同时运行该管道"
        else:
            now = "暂无其他实例持有, 但其他实例随时可以开始运行该管道"
        text = (
            f"管道 {pipeline} 正在本实例运行, 但其租约已丢失: {p.reason}; {now}。"
            "重复运行不会重复写入目标系统 (按记录编号幂等), 只浪费调用; 本次运行结束即恢复。"
            "请检查账本数据库的连接与会话 (或租约锁文件所在目录是否被清理)。"
        )
        detail = f"{pipeline}, 已被接管" if p.loss is LeaseLoss.TAKEN_OVER else pipeline
        kind = Alert.LEASE_LOST
        yield Condition(f"{kind}:{pipeline}", kind, _t(kind, detail), text)
