"""What an operator should do about a failure, by its error kind: the 处理建议 the console's failure
page and ``zhifa-sync failures show`` both print (one table, so the CLI and the console say the same).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.contract.states import ErrorKind


@dataclass(frozen=True, slots=True)
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
