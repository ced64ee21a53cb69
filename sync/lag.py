"""How far behind its source a pipeline is: the one definition that the console, ``status`` and
``/metrics`` all show.

Lag is how far behind the source's newest change the pipeline is. A run that read its whole window
(up to the source's clock less ``lag_s``, ledger meta ``read_until:<pipeline>``) has seen every
change there was: it is **已追平** (0 s), however old the records it read were — a backfill of last
year's records is caught up the moment it reaches the window's end. A pipeline still inside its
window (a backfill in progress, a run stopped after a page) is behind by the source time it has read
up to (the cursor's watermark): now less the watermark. Before the first page there is no lag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connectors.contract.clock import TIME_FORMAT, beijing_now
from sync.ledger import Ledger

CAUGHT_UP = "已追平"
NOT_READ = "尚未读取"


def read_until_key(pipeline: str) -> str:
    """The ledger meta key where a run that read its whole window writes the window's end."""
    return f"read_until:{pipeline}"


@dataclass(frozen=True, slots=True)
class Lag:
    seconds: float | None  # None: nothing read yet
    caught_up: bool

    @property
    def text(self) -> str:
        """``已追平``, ``3 小时 5 分`` or ``尚未读取``: what people read."""
        if self.caught_up:
            return CAUGHT_UP
        return NOT_READ if self.seconds is None else duration_text(self.seconds)


def lag_of(now: datetime, watermark: datetime | None, read_until: datetime | None) -> Lag:
    """The lag from the source's ``now``, the watermark read up to and the end of the last whole window."""
    if read_until is not None and (watermark is None or watermark <= read_until):
        return Lag(0.0, True)
    if watermark is None:
        return Lag(None, False)
    return Lag(max(0.0, (now - watermark).total_seconds()), False)


def pipeline_lag(ledger: Ledger, pipeline: str, now: datetime | None = None) -> Lag:
    """``lag_of`` from what the ledger says of ``pipeline`` (``now``: Beijing time, the sources' clock)."""
    text = ledger.get_meta(read_until_key(pipeline))
    read_until = datetime.strptime(text, TIME_FORMAT) if text else None
    return lag_of(now or beijing_now(), ledger.get_watermark(pipeline), read_until)


def duration_text(seconds: float | None) -> str:
    """1 小时 5 分 style, for lags and run times."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s} 秒"
    if s < 3600:
        return f"{s // 60} 分 {s % 60} 秒"
    if s < 86400:
        return f"{s // 3600} 小时 {s % 3600 // 60} 分"
    return f"{s // 86400} 天 {s % 86400 // 3600} 小时"
