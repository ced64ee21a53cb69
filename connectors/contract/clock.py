"""The one place that says what time it is in Beijing, and how a time is written on the platforms' wire.

Every platform speaks Beijing time (UTC+08:00, docs/interfaces/README.md); the ledger keeps naive Beijing
time. A server set to UTC still reads and writes Beijing time through these.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # district windows, municipal gxsj, the ledger's own text


def beijing_now() -> datetime:
    """Now, as naive Beijing time to the second."""
    return datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)


def to_beijing(value: datetime) -> datetime:
    """An aware time as naive Beijing time; a naive one is taken to be Beijing time already."""
    return value.astimezone(BEIJING).replace(tzinfo=None) if value.tzinfo else value
