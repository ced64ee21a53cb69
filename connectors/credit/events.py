"""The credit platform as the source of credit events (flow 4): ``GET /api/credit/v1/events``.

The feed pages by opaque cursors that expire (410): we then start again from the last ``occurredAt``
seen, which is inclusive, and skip the events already seen at that second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import structlog

from connectors.contract.clock import beijing_now, to_beijing
from connectors.contract.errors import BadResponse, RetriableError
from connectors.contract.records import Record, RecordKind, parse_record
from connectors.contract.roles import Page, RawSummary, upgrade_cursor
from connectors.credit.client import CreditClient, CursorExpired

log = structlog.get_logger("zhifa.credit")
EVENTS_PATH = "/api/credit/v1/events"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S+08:00"


@dataclass(frozen=True)
class EventsCursor:
    """``since``: the last ``occurredAt`` seen (inclusive on the platform, so ``ids`` lists the events
    already seen at that second, to skip them); ``cursor``: the page to fetch next, if any.

    Stored as ``{"v": 1, "since", "ids", "cursor"}``; version 0 also carried ``ts`` (now derived)."""

    since: str
    ids: frozenset[str] = frozenset()
    cursor: str | None = None

    VERSION: ClassVar[int] = 1
    _STEPS: ClassVar[dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {
        0: lambda d: {k: v for k, v in d.items() if k != "ts"}
    }

    @property
    def watermark(self) -> datetime | None:
        return occurred(self.since)

    def to_json(self) -> dict[str, Any]:
        return {"v": self.VERSION, "since": self.since, "ids": sorted(self.ids), "cursor": self.cursor}

    @classmethod
    def from_json(cls, saved: dict[str, Any] | None, start: datetime) -> EventsCursor:
        data = upgrade_cursor(saved, cls.VERSION, cls._STEPS)
        if data is None:
            return cls(start.strftime(ISO_FORMAT))
        return cls(str(data["since"]), frozenset(data.get("ids", ())), data.get("cursor") or None)


def occurred(iso: Any) -> datetime | None:
    """``2026-01-02T03:04:05+08:00`` as naive Beijing time; None if it is no such time."""
    if not isinstance(iso, str):
        return None
    try:
        return to_beijing(datetime.fromisoformat(iso))
    except ValueError:
        return None


class CreditEventsSource:
    def __init__(self, client: CreditClient) -> None:
        self.client = client
        self.name = client.system

    def now(self) -> datetime:
        return beijing_now()

    def pull(
        self, kind: RecordKind, saved: dict[str, Any] | None, start: datetime, until: datetime, page_size: int
    ) -> Iterator[Page]:
        """Pages of events since the saved cursor. ``until`` is not used: the feed ends where the
        platform's does, and events are facts that never change."""
        if kind != "credit_event":
            raise ValueError(f"{self.name} 只提供信用事件 (credit_event), 不提供 {kind}")
        at = EventsCursor.from_json(saved, start)
        since, seen, cursor = at.since, set(at.ids), at.cursor
        restarts = 0
        while True:
            params = {"cursor": cursor} if cursor else {"since": since, "limit": min(max(page_size, 1), 500)}
            try:
                data = self.client.request("GET", EVENTS_PATH, params=params)
            except CursorExpired as exc:
                if not cursor or restarts >= 3:  # against the contract: give up until the next run
                    raise RetriableError(
                        f"{self.name} 信用事件游标反复过期 ({exc})", system=self.name
                    ) from exc
                restarts += 1
                log.info("cursor_expired_restarting", system=self.name, since=since)
                cursor = None  # start again from the last occurredAt seen; repeats are skipped below
                continue
            events = data.get("events") if isinstance(data, dict) else None
            if not isinstance(events, list):
                raise BadResponse(
                    f"{self.name} 信用事件答复不含 events 列表: {str(data)[:120]!r}", system=self.name
                )
            fresh = []
            for event in events:
                when, eid = (
                    (event.get("occurredAt"), event.get("eventId"))
                    if isinstance(event, dict)
                    else (None, None)
                )
                if not isinstance(eid, str) or occurred(when) is None:
                    fresh.append(event)  # let the pipeline fail it with a message naming the field
                    continue
                if when == since and eid in seen:
                    continue  # seen before the cursor expired, or at the end of the last run
                if when != since:
                    since, seen = str(when), set()
                seen.add(eid)
                fresh.append(event)
            cursor = data.get("nextCursor") or None
            yield Page(fresh, EventsCursor(since, frozenset(seen), cursor))
            if not cursor:
                return

    def parse(self, kind: RecordKind, raw: Any) -> Record:
        return parse_record(kind, raw)

    def is_unsubmitted(self, kind: RecordKind, raw: dict[str, Any]) -> bool:
        return False

    def cursor_at(self, when: datetime) -> EventsCursor:
        return EventsCursor.from_json(None, when)

    def describe(self, kind: RecordKind, raw: Any) -> RawSummary:
        if not isinstance(raw, dict):
            return RawSummary(None)
        eid, wsh, uscc = raw.get("eventId"), raw.get("cfWsh"), raw.get("uscc")
        return RawSummary(
            str(eid) if eid else None,
            str(wsh) if wsh else None,
            str(uscc) if uscc else None,
            str(uscc) if uscc else None,
        )


__all__ = ["EVENTS_PATH", "CreditEventsSource", "EventsCursor"]
