"""How ledger rows are shown: Chinese labels, advice per error kind, masking, formatting, inline SVG.

Every string a template prints passes through ``mask_text`` (the Jinja ``finalize`` hook), so a
身份证号 in a message, payload or record field never reaches the page even where a view forgets it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from connectors import systems
from connectors.contract import clock
from connectors.contract.clock import BEIJING
from connectors.contract.health import HEALTH_LABELS
from connectors.contract.states import AuditAction, ErrorKind, FailureState, Kind, RunStatus, Stage, labels
from connectors.contract.validators import mask_text
from console.users import ROLE_LABELS
from sync.lag import duration_text

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

STATE_LABELS = labels(FailureState)
ERROR_KIND_LABELS = labels(ErrorKind)
STAGE_LABELS = labels(Stage)
KIND_LABELS = labels(Kind)
RUN_STATUS_LABELS = labels(RunStatus)
AUDIT_ACTION_LABELS = labels(AuditAction)
SYSTEM_TYPE_LABELS = {name: t.label for name, t in systems.TYPES.items()}
RESOLVE_NOTES = (
    "已在市系统手工补录",
    "已在区平台更正",
    "重复记录, 无需同步",
    "目标系统已有该记录, 已人工核对",
)


@dataclass(frozen=True)
class Advice:
    """What an operator should do about a failure: a headline and the steps."""

    title: str
    steps: tuple[str, ...]


# The wordings of ``connectors.contract.errors.MappingMissing`` (older ones kept: failures logged by them stay in the ledger).
_MAPPING_RES = (
    re.compile(
        r"映射表\s*(?P<table>\S+?)\s*中没有\s*(?P<rest>.+?)\s*这一行\s*[(（]需要列\s*(?P<column>[^)）]+?)\s*[)）]"
    ),
    re.compile(r"映射表\s*(?P<table>\S+?)\s*中\s*(?P<rest>.+?)\s*的\s*(?P<column>\S+?)\s*列为空"),
    re.compile(r"映射表\s*(?P<table>\S+)\s*缺少\s*(?P<rest>.+?)\s*的\s*(?P<column>[^:：]+?)\s*[:：]"),
)


def parse_mapping_message(message: str) -> tuple[str, str, str, str] | None:
    """(table, what, key, column) from a ``MappingMissing`` message, or None if it is not one."""
    for pattern in _MAPPING_RES:
        m = pattern.search(message)
        if m:
            what, _, key = m.group("rest").rpartition(" ")
            return m.group("table"), what.strip(), key, m.group("column")
    return None


def _mapping_advice(failure: dict[str, Any], target: str, attempts: int | None) -> Advice:
    if failure.get("map_table"):
        parsed: tuple[str, str, str, str] | None = (
            failure["map_table"],
            "",
            failure.get("map_key") or "",
            failure.get("map_column") or "",
        )
    else:  # a failure logged before the table, key and column were kept: read them from the message
        parsed = parse_mapping_message(failure.get("message") or "")
    where = f"mappings/{parsed[0]}" if parsed else "对应的映射表 (mappings/ 目录)"
    what = " ".join(f"补充 {parsed[1]} {parsed[2]} 的 {parsed[3]}".split()) if parsed else "补充缺少的代码"
    return Advice(
        "修改映射表",
        (
            f"请管理员在 {where} 中{what}, 提交并部署映射表。",
            "映射表更新后, 下次运行会自动重试待映射的记录; 也可在此点击「重试」。",
        ),
    )


def _transient_advice(failure: dict[str, Any], target: str, attempts: int | None) -> Advice:
    budget = f"最多 {attempts} 次" if attempts else "有次数上限"
    return Advice(
        "暂时故障, 系统会自动重试",
        (
            f"网络中断、超时或目标系统繁忙。后续运行会自动重试 ({budget})。",
            f"若持续失败, 请联系 {target} 的运维确认系统状态, 恢复后点击「重试」。",
        ),
    )


AdviceFn = Callable[[dict[str, Any], str, int | None], Advice]


def _fixed(title: str, *steps: str) -> AdviceFn:
    """Advice that says the same whatever the failure (``{target}`` is the target system's name)."""
    return lambda failure, target, attempts: Advice(
        title.format(target=target), tuple(s.format(target=target) for s in steps)
    )


_ADVICE: dict[str, AdviceFn] = {
    ErrorKind.MAPPING: _mapping_advice,
    ErrorKind.TRANSIENT: _transient_advice,
    ErrorKind.VALIDATION: _fixed(
        "在区平台更正来源记录",
        "来源记录本身不合规 (见下方错误信息中的字段与取值), 所有目标系统都不会收到它。",
        "请在区执法监督平台上更正该记录; 更正后的记录会在下次同步时重新处理。",
        "若记录无需报送 (例如已作废), 可标记为已解决并注明原因。",
    ),
    ErrorKind.REJECTED: _fixed(
        "目标系统 {target} 拒收",
        "对照下方「目标系统答复」找出被拒的字段。",
        "若是来源数据有误, 请在区平台更正; 若是代码对照有误, 请修改映射表; 然后点击「重试」。",
        "若已在目标系统手工补录, 请标记为已解决并注明 (如「已在市系统手工补录」)。",
    ),
    ErrorKind.CONFLICT: _fixed(
        "数据冲突, 需要人工核对",
        "{target} 中已有一条与本记录冲突的记录 (如同一文号但内容不同)。",
        "请核对两条记录是否为同一案件: 是则在目标系统中核对一致后标记为已解决并注明; 否则在区平台更正文号后重试。",
    ),
    ErrorKind.AUTH: _fixed(
        "目标系统认证失败",
        "zhifa-sync 登录 {target} 失败, 请 IT 人员检查配置中的账号、密钥是否过期。",
        "配置修复后点击「重试」。",
    ),
}
_INTERNAL = _fixed("程序内部错误", "请将本页的失败编号和错误信息告知 IT 支持。", "问题修复后点击「重试」。")


def advice(
    failure: dict[str, Any], *, target_label: str = "", auto_retry_attempts: int | None = None
) -> Advice:
    """Plain-Chinese next steps for a failure, by its error kind."""
    target = target_label or failure.get("target") or "目标系统"
    make = _ADVICE.get(failure.get("error_kind") or "", _INTERNAL)
    result: Advice = make(failure, target, auto_retry_attempts)
    return result


def mask(value: Any) -> Any:
    """``mask_text`` for strings, anything else unchanged."""
    return mask_text(value) if isinstance(value, str) else value


def masked_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: mask(v) for k, v in row.items()}


def pretty(text: str | None) -> str:
    """JSON shown indented with Chinese as is; anything else as it came; masked either way."""
    if not text:
        return ""
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    return mask_text(text)


def fmt_dt(value: Any, zone: ZoneInfo = BEIJING) -> str:
    """A time in the console's zone (naive ones are the ledger's Beijing time); the page's heading
    names the zone (``zone_note``); anything else as it is."""
    if isinstance(value, datetime):
        return clock.plain(value, zone)
    return "" if value is None else str(value)


fmt_duration = duration_text  # one wording of a duration (sync.lag), for lags and run times


def shorten(text: str | None, limit: int = 80) -> str:
    # Masked before cutting: a 身份证号 cut in half would no longer be recognised by the final mask.
    text = " ".join(mask_text(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(items: Sequence[tuple[str, int]], *, width: int = 460, bar_height: int = 22) -> Markup:
    """A horizontal bar chart as inline SVG (no script, no external file); labels are escaped."""
    if not items:
        return Markup("")
    label_w, value_w = 110, 60
    top = max(n for _, n in items) or 1
    height = len(items) * (bar_height + 6) + 4
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    span = width - label_w - value_w
    for i, (label, n) in enumerate(items):
        y = 2 + i * (bar_height + 6)
        w = max(2, round(span * n / top)) if n else 0
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_height - 6}" text-anchor="end" font-size="13" fill="#333">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_height}" fill="#3b6ea5"></rect>'
            f'<text x="{label_w + w + 6}" y="{y + bar_height - 6}" font-size="13" fill="#333">{n}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _finalize(value: Any) -> Any:
    # Runs on every {{ expression }} before autoescaping: mask personal data, print None as blank.
    if value is None:
        return ""
    if isinstance(value, Markup):
        return Markup(mask_text(str(value)))
    if isinstance(value, str):
        return mask_text(value)
    return value


def make_env(zone: ZoneInfo = BEIJING) -> jinja2.Environment:
    """The template environment: autoescape on for everything, masking finalize, our filters; times
    are shown in ``zone`` (the YAML's ``timezone``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dt=lambda value: fmt_dt(value, zone), duration=fmt_duration, shorten=shorten, pretty=pretty
    )
    env.globals.update(
        STATE_LABELS=STATE_LABELS,
        ERROR_KIND_LABELS=ERROR_KIND_LABELS,
        STAGE_LABELS=STAGE_LABELS,
        KIND_LABELS=KIND_LABELS,
        RUN_STATUS_LABELS=RUN_STATUS_LABELS,
        AUDIT_ACTION_LABELS=AUDIT_ACTION_LABELS,
        RESOLVE_NOTES=RESOLVE_NOTES,
        ROLE_LABELS=ROLE_LABELS,
        HEALTH_LABELS=HEALTH_LABELS,
        ZONE_NOTE=clock.zone_note(zone),
    )
    return env
