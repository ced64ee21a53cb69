"""``zhifa-sync failures show N``: one failure as an operator reads it — the same words, advice and
不合规字段 as the console's failure page, personal data masked, JSON indented."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from connectors import systems
from connectors.contract import clock
from connectors.contract.states import ErrorKind, FailureState, Kind, Stage, label
from connectors.contract.validators import mask_text
from sync.advice import advice
from sync.cli_format import table
from sync.config import Settings
from sync.failure_detail import bad_fields, was_sent


def _system(settings: Settings | None, name: str | None) -> str:
    kind = settings.systems[name].type if settings and name in settings.systems else name
    found = systems.TYPES.get(kind or "")
    return f"{found.label} ({name})" if found else (name or "")


def _pretty(text: str | None) -> str:
    if not text:
        return ""
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    return "\n".join("    " + line for line in mask_text(text).splitlines())


def _facts(f: dict[str, Any], settings: Settings | None, zone: Any) -> list[tuple[str, str]]:
    stage = label(Stage, f["stage"]) + (f" · 代码 {f['error_code']}" if f.get("error_code") else "")
    facts = [
        ("状态", label(FailureState, f["state"])),
        ("类别", label(ErrorKind, f["error_kind"])),
        ("决定书文号" if f["kind"] == Kind.PENALTY else "文书编号", f.get("doc_no") or ""),
        ("当事人", f.get("party_name") or ""),
        ("当事人代码", f.get("party_code") or ""),
        ("数据类别", label(Kind, f["kind"])),
        ("来源记录", f"{_system(settings, f['system'])} · 编号 {f['source_id']}"),
        ("目标系统", _system(settings, f["target"])),
        ("管道", f["pipeline"]),
        ("出错环节", stage),
        (
            "尝试次数",
            f"{f['attempts']} 次 (首次 {clock.plain(f['first_seen'], zone)}, 最近 {clock.plain(f['last_seen'], zone)})",
        ),
    ]
    if f.get("mapping_version"):
        facts.append(("映射表版本", f["mapping_version"]))
    if f["state"] == FailureState.RESOLVED:
        facts.append(
            ("处理", f"{f['resolved_by']} 于 {clock.plain(f['resolved_at'], zone)}: {f['resolution_note']}")
        )
    return facts


def _sections(f: dict[str, Any]) -> list[str]:
    out = []
    found = bad_fields(f)
    if found:
        rows = [[b.label, b.value or "(空)", b.rule] for b in found]
        out += ["\n不合规的字段", table(rows, ["字段", "记录中的取值", "规则"])]
    if f.get("response"):
        out += ["\n目标系统答复", _pretty(f["response"])]
    if was_sent(f):
        out += ["\n发送内容 (按目标系统格式映射后)", _pretty(f["payload"])]
    else:
        out += [f"\n发送内容: 无 (记录在「{label(Stage, f['stage'])}」环节失败, 未发往目标系统)"]
    record = f.get("record") or (None if was_sent(f) else f.get("payload"))
    if record:
        out += ["\n来源记录", _pretty(record)]
    return out


def failure_text(f: dict[str, Any], settings: Settings | None, *, attempts: int | None = None) -> str:
    """The failure ``f`` (``Ledger.get_failure``) as text; ``attempts``: the pipeline's auto-retry budget."""
    zone = settings.zone if settings else clock.BEIJING
    width = max(len(k) for k, _ in _facts(f, settings, zone))
    lines = [f"同步失败 #{f['id']}  ({clock.zone_note(zone)})", ""]
    lines += [f"{k}{'　' * (width - len(k))}  {mask_text(str(v))}" for k, v in _facts(f, settings, zone)]
    lines += ["\n错误信息", "    " + mask_text(f["message"])]
    tip = advice(f, target_label=_system(settings, f["target"]), auto_retry_attempts=attempts)
    lines += [f"\n处理建议: {tip.title}", *(f"  {i}. {s}" for i, s in enumerate(tip.steps, 1))]
    lines += _sections(f)
    if f["attempt_log"]:
        rows = [
            [
                clock.plain(a["at"], zone),
                label(Stage, a["stage"]),
                label(ErrorKind, a["error_kind"]),
                mask_text(a["message"])[:80],
            ]
            for a in reversed(f["attempt_log"])
        ]
        lines += ["\n尝试记录", table(rows, ["时间", "环节", "类别", "信息"])]
    return "\n".join(lines)
