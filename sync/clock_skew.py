"""Records whose ``updated_at`` shows that their source's clock stepped back (an NTP correction).

Sources read by window re-read an overlap before the cursor each pull (``connectors.paging``), so
an edit stamped a little in the past is still read and delivered. Such a record is also a sign that
the source's clock is wrong, which people should hear of; this module counts it (metric
``zhifa_clock_skew_total``, and the ledger's meta for ``zhifa-sync status``) and logs it, when:

- its ``updated_at`` is older than that of the version of it already read (``older_than_seen``), or
- it is new or changed, yet stamped before the position the pipeline had read up to when the pull
  started (``behind_cursor``): a source whose clock runs forward never does that.

A re-read of an unchanged record is neither.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from connectors.contract.clock import TIME_FORMAT
from connectors.contract.states import ClockSkew
from sync import metrics
from sync.ledger import Ledger, RecordSnapshot
from sync.ledger.deliveries import SeenVersion

log = structlog.get_logger("zhifa.pipeline")


def meta_key(pipeline: str) -> str:
    return f"clock_skew:{pipeline}"


@dataclass(frozen=True, slots=True)
class SkewSeen:
    """What ``zhifa-sync status`` shows: how many, and the last one."""

    count: int
    last_record: str
    last_updated_at: str
    reason: ClockSkew
    noticed_at: str


def last_seen(ledger: Ledger, pipeline: str) -> SkewSeen | None:
    raw = ledger.get_meta(meta_key(pipeline))
    if not raw:
        return None
    data = json.loads(raw)
    return SkewSeen(
        int(data["count"]),
        str(data["last_record"]),
        str(data["last_updated_at"]),
        ClockSkew(data["reason"]),
        str(data["noticed_at"]),
    )


def _reason(
    snap: RecordSnapshot, seen_at: datetime | None, same: bool, behind: datetime | None
) -> ClockSkew | None:
    new_at = snap.source_updated_at
    if new_at is None or same:
        return None
    if seen_at is not None and new_at < seen_at:
        return ClockSkew.OLDER_THAN_SEEN
    if behind is not None and new_at < behind:
        return ClockSkew.BEHIND_CURSOR
    return None


def check(
    ledger: Ledger,
    pipeline: str,
    snapshots: Sequence[RecordSnapshot],
    seen: Mapping[str, SeenVersion],
    behind: datetime | None,
    now: datetime,
) -> int:
    """Count and log the page's records that show a clock stepped back (``seen``: the versions the
    ledger held before the page); the number found."""
    found = 0
    last: tuple[RecordSnapshot, ClockSkew] | None = None
    for snap in snapshots:
        before = seen.get(snap.source_id)
        same = before is not None and before.record_hash == snap.record_hash
        reason = _reason(snap, before.updated_at if before else None, same, behind)
        if reason is None:
            continue
        found += 1
        last = (snap, reason)
        metrics.CLOCK_SKEW.labels(pipeline, reason.value).inc()
        log.warning(
            "clock_skew",
            system=snap.system,
            record_id=snap.source_id,
            reason=reason.value,
            updated_at=_fmt(snap.source_updated_at),
            seen_updated_at=_fmt(before.updated_at) if before else None,
            read_up_to=_fmt(behind),
        )
    if last is not None:
        earlier = last_seen(ledger, pipeline)
        snap, reason = last
        record = {
            "count": (earlier.count if earlier else 0) + found,
            "last_record": snap.source_id,
            "last_updated_at": _fmt(snap.source_updated_at),
            "reason": reason.value,
            "noticed_at": now.strftime(TIME_FORMAT),
        }
        ledger.set_meta(meta_key(pipeline), json.dumps(record, ensure_ascii=False))
    return found


def _fmt(at: datetime | None) -> str | None:
    return at.strftime(TIME_FORMAT) if at is not None else None
