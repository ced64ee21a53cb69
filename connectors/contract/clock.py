"""The one place that says what time it is, in which zone, and how a time is written for people and on
the platforms' wire.

The rule, everywhere:

- **Inside**: the ledger keeps naive *Beijing* time (``beijing_now``), whatever the server's own zone
  is; a naive time read back from the ledger (SQLite and ``DateTime`` columns return naive values) is
  Beijing time, ``aware`` makes it aware again. Unix times (health, metrics) become aware with
  ``from_unix``. Nothing reads the server's local clock (``datetime.now()`` without a zone).
- **On the wire**: every platform speaks Beijing time (UTC+08:00, docs/interfaces/README.md),
  ``TIME_FORMAT`` or the connector's own ISO form.
- **For people**: ``for_people`` writes a time in the configured zone (``timezone:`` in the YAML,
  Asia/Shanghai by default) and says which zone it is (``2026-12-07 11:43:44 (北京时间)``, or the UTC
  offset for another zone); ``zone_note`` is the same words for a heading above a table of times.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # district windows, municipal gxsj, the ledger's own text
ZONE_NAMES = {"Asia/Shanghai": "北京时间", "Asia/Chongqing": "北京时间", "PRC": "北京时间"}


def beijing_now() -> datetime:
    """Now, as naive Beijing time to the second (what the ledger writes)."""
    return datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)


def aware_now(zone: ZoneInfo = BEIJING) -> datetime:
    """Now, aware, in ``zone`` (what the scheduler is given)."""
    return datetime.now(zone)


def to_beijing(value: datetime) -> datetime:
    """An aware time as naive Beijing time; a naive one is taken to be Beijing time already."""
    return value.astimezone(BEIJING).replace(tzinfo=None) if value.tzinfo else value


def aware(value: datetime) -> datetime:
    """An aware time as it is; a naive one (read from the ledger, from a platform) is Beijing time."""
    return value if value.tzinfo else value.replace(tzinfo=BEIJING)


def from_unix(unix: float | None) -> datetime | None:
    """A Unix time as aware Beijing time to the second (None stays None)."""
    if not unix:
        return None
    return datetime.fromtimestamp(unix, BEIJING).replace(microsecond=0)


def _utc_offset(zone: ZoneInfo) -> str:
    minutes = int((datetime.now(zone).utcoffset() or timedelta(0)).total_seconds() // 60)
    return f"UTC{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_label(zone: ZoneInfo = BEIJING) -> str:
    """``北京时间`` for Beijing, else the zone's UTC offset now (``UTC+00:00``)."""
    return ZONE_NAMES.get(zone.key) or _utc_offset(zone)


def zone_note(zone: ZoneInfo = BEIJING) -> str:
    """The heading line above times shown without a suffix: ``时间均为北京时间 (UTC+08:00)``."""
    utc, name = _utc_offset(zone), zone_label(zone)
    return f"时间均为{name}" + (f" ({utc})" if name != utc else "")


def in_zone(value: datetime, zone: ZoneInfo = BEIJING) -> datetime:
    """``value`` (naive = Beijing) as aware time in ``zone``."""
    return aware(value).astimezone(zone)


def for_people(value: datetime | None, zone: ZoneInfo = BEIJING, *, fmt: str = TIME_FORMAT) -> str:
    """``2026-12-07 11:43:44 (北京时间)``: the time in ``zone``, with the zone named; '' for None."""
    if value is None:
        return ""
    return f"{in_zone(value, zone):{fmt}} ({zone_label(zone)})"


def plain(value: datetime | None, zone: ZoneInfo = BEIJING, *, fmt: str = TIME_FORMAT) -> str:
    """The time in ``zone`` without the zone's name (for a table under a ``zone_note`` heading)."""
    return "" if value is None else f"{in_zone(value, zone):{fmt}}"
