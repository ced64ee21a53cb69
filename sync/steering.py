"""What an operator may ask of a pipeline, checked once for the console and the command line."""

from __future__ import annotations

from datetime import datetime

from connectors.contract.clock import TIME_FORMAT, beijing_now
from sync.config import PipelineConfig


def check_reread(cfg: PipelineConfig, since: datetime) -> None:
    """A re-read is bounded: not before where the pipeline starts, not after the present (Beijing
    time, like the sources' clocks); raises ``ValueError`` with the operator's message otherwise."""
    if since < cfg.start:
        raise ValueError(
            f"管道 {cfg.name} 自 {cfg.start:%Y-%m-%d} 起同步, 不能从更早的 {since:%Y-%m-%d} 重新读取"
        )
    if since > beijing_now():
        raise ValueError(f"{since:%Y-%m-%d %H:%M} 还没有到来: 重新读取的起点须在过去")


def parse_day_or_time(text: str) -> datetime:
    """``yyyy-MM-dd`` or ``yyyy-MM-dd HH:mm:ss``; ``ValueError`` otherwise."""
    text = " ".join(text.split())
    return datetime.strptime(text, TIME_FORMAT) if " " in text else datetime.strptime(text, "%Y-%m-%d")
