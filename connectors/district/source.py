"""The district platform as the source of inspections and penalties (flows 1, 2 and 5).

Windows are inclusive and second-precise and pages shift under the client (``connectors.paging``);
drafts and filed-but-undecided cases are never synced.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from connectors.contract.clock import TIME_FORMAT
from connectors.contract.errors import BadResponse
from connectors.contract.records import (
    Record,
    RecordKind,
    inspection_key,
    is_unsubmitted,
    parse_record,
    parse_time,
)
from connectors.contract.roles import Listed, Page, RawSummary
from connectors.contract.validators import normalize_decision_no
from connectors.district.client import DistrictClient
from connectors.paging import Position, fetch_by_second, iter_window, listed

PATHS = {"inspection": "/api/v1/inspections", "penalty": "/api/v1/penalties"}


class DistrictSource:
    def __init__(self, client: DistrictClient, overlap: timedelta = timedelta(0)) -> None:
        self.client = client
        self.name = client.system
        self.overlap = overlap  # re-read before the cursor each pull (a clock that stepped back)

    def now(self) -> datetime:
        return self.client.now()

    def pull(
        self, kind: RecordKind, saved: dict[str, Any] | None, start: datetime, until: datetime, page_size: int
    ) -> Iterator[Page]:
        path = PATHS[kind]

        def fetch(start: datetime, end: datetime, page: int, size: int) -> tuple[int, list[dict[str, Any]]]:
            data = self.client.request(
                "GET",
                path,
                params={
                    "start_time": start.strftime(TIME_FORMAT),
                    "end_time": end.strftime(TIME_FORMAT),
                    "page": page,
                    "page_size": size,
                },
            )
            if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                raise BadResponse(f"{self.name} {path} 返回的 data 不含 items 列表", system=self.name)
            return int(data.get("total", 0)), data["items"]

        at = Position.from_json(saved, start)
        for items, pos in iter_window(fetch, at, until, page_size, _window_key, self.overlap):
            yield Page(items, pos)

    def list_ids(
        self, kind: RecordKind, start: datetime, until: datetime, page_size: int
    ) -> Iterator[list[Listed]]:
        """The window's records as ids and ``updated_at`` (the platform has no lighter listing than the
        pull itself: the same keyset paging, nothing kept but the ids)."""
        for page in self.pull(kind, None, start, until, page_size):
            yield listed(page.items, _window_key, lambda raw: not self.is_unsubmitted(kind, raw))

    def fetch(self, kind: RecordKind, wanted: list[Listed], page_size: int) -> list[Any]:
        """The records named, read again: one window per second they were listed at (no read by id)."""
        return fetch_by_second(self.pull, kind, wanted, page_size, _window_key)

    def parse(self, kind: RecordKind, raw: Any) -> Record:
        return parse_record(kind, raw)

    def is_unsubmitted(self, kind: RecordKind, raw: dict[str, Any]) -> bool:
        return is_unsubmitted(kind, raw)

    def cursor_at(self, when: datetime) -> Position:
        return Position(when)

    def describe(self, kind: RecordKind, raw: Any) -> RawSummary:
        if not isinstance(raw, dict):
            return RawSummary(None)
        party = raw.get("party") if kind == "penalty" else raw.get("enterprise")
        party = party if isinstance(party, dict) else {}
        return RawSummary(
            _text(raw.get("id")),
            _text(raw.get("decision_no") if kind == "penalty" else raw.get("document_no")),
            _text(party.get("name")),
            _text(party.get("uscc")),
            _raw_natural_key(kind, raw, party),
        )


def _raw_natural_key(kind: RecordKind, raw: dict[str, Any], party: dict[str, Any]) -> str | None:
    """The natural key of a record that does not validate, from the fields it has (None if one is
    missing): flow 3 must find it, or a city twin of it would be copied back to the district."""
    if kind == "penalty":
        number = _text(raw.get("decision_no"))
        return normalize_decision_no(number.strip()) if number and number.strip() else None
    uscc, item = _text(party.get("uscc")), _text(raw.get("item_code"))
    try:
        day = parse_time(str(raw["started_at"])).date()
    except (KeyError, ValueError, TypeError):
        return None
    return inspection_key(uscc.strip().upper(), day, item.strip()) if uscc and item else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _window_key(item: Any) -> tuple[datetime, str] | None:
    try:
        return parse_time(str(item["updated_at"])), str(item["id"])
    except (KeyError, ValueError, TypeError):
        return None
