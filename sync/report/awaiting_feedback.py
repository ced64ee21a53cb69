"""Rows written to the 互联网+监管 前置库 that no feedback has spoken of for too long.

The exchange platform may stop collecting for hours; a row without a verdict after the configured
``feedback_timeout_minutes`` is worth an IT person's look (is the collector running? did it lose the
row?). ``section`` is the text block ``zhifa-sync status`` shows for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sync import ledger as ledger_module
from sync.cli_format import table

if TYPE_CHECKING:
    from sync.config import Settings
    from sync.ledger import Ledger

LIMIT = 50  # rows listed per system; the count says how many there are in all


def sent_without_feedback(
    ledger: Ledger, target: str, older_than_minutes: float, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Deliveries to ``target`` still 'sent' (awaiting feedback) and last written before the cut-off, oldest first."""
    cutoff = (now or ledger_module.now()) - timedelta(minutes=older_than_minutes)
    return ledger.awaiting_feedback(target, cutoff)


def section(ledger: Ledger, settings: Settings, *, now: datetime | None = None) -> str:
    """The status block: per 前置库 system, rows without feedback after its configured time."""
    out: list[str] = []
    for name, cfg in settings.systems.items():
        if cfg.type != "hlwjg":
            continue
        minutes = cfg.feedback_timeout_minutes
        rows = sent_without_feedback(ledger, name, minutes, now=now)
        out.append(f"{name} (互联网+监管前置库): 写入超过 {minutes} 分钟仍无反馈的记录 {len(rows)} 条")
        if rows:
            kinds = {"inspection": "检查", "penalty": "处罚"}
            out.append(table(
                [[kinds.get(r["kind"], r["kind"]), r["source_id"], r["target_version"] or "",
                  "作废/撤销 (d)" if r["last_action"] == "withdrawn" else "写入", r["updated_at"]]
                 for r in rows[:LIMIT]],
                ["类型", "记录", "批次 CD_BATCH", "操作", "写入时间"],
            ))  # fmt: skip
            if len(rows) > LIMIT:
                out.append(f"  …… 另有 {len(rows) - LIMIT} 条")
            out.append("  请确认交换平台是否在采集前置库 (停采期间记录保持“已写入”, 恢复后自动更新)")
    return "\n".join(out)
