"""Reading inclusive, second-precise time windows whose pages shift under the reader.

The district (and municipal) list calls filter on ``updated_at`` with both bounds inclusive, sort by
(``updated_at``, id), and evaluate the window again at every page request: a record updated while we
page moves out of the window and everything after it moves up one place, so plain page numbers would
skip a record. We therefore page by keyset — re-anchor the window at the newest ``updated_at`` seen,
skipping the ids already seen at exactly that second — and start again from page 1 whenever the
window's ``total`` changes between two pages. Only the ids at the newest second are remembered, so
memory stays flat however large the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from connectors.contract.clock import TIME_FORMAT
from connectors.contract.records import RecordKind, stable_hash
from connectors.contract.roles import Listed, Page, upgrade_cursor


@dataclass(frozen=True)
class Position:
    """Everything up to ``ts`` is done, and at ``ts`` exactly the records ``ids`` (a ``Cursor``).

    Stored as ``{"v": 1, "ts": "yyyy-MM-dd HH:mm:ss", "ids": [...]}``; version 0 is the same without ``v``.
    """

    ts: datetime
    ids: frozenset[str] = frozenset()

    VERSION: ClassVar[int] = 1
    _STEPS: ClassVar[dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {0: lambda data: data}

    @property
    def watermark(self) -> datetime:
        return self.ts

    def to_json(self) -> dict[str, Any]:
        return {"v": self.VERSION, "ts": self.ts.strftime(TIME_FORMAT), "ids": sorted(self.ids)}

    @classmethod
    def from_json(cls, saved: dict[str, Any] | None, start: datetime) -> Position:
        """The stored position (any version), or ``start`` on a first run."""
        data = upgrade_cursor(saved, cls.VERSION, cls._STEPS)
        if data is None:
            return cls(start)
        return cls(datetime.strptime(data["ts"], TIME_FORMAT), frozenset(data.get("ids", ())))


# fetch(start, end, page, page_size) -> (total, items)
Fetch = Callable[[datetime, datetime, int, int], tuple[int, list[dict[str, Any]]]]
Key = Callable[[dict[str, Any]], tuple[datetime, str] | None]  # None: the item has no usable time/id


def iter_window(
    fetch: Fetch, position: Position, until: datetime, page_size: int, key: Key
) -> Iterator[tuple[list[dict[str, Any]], Position]]:
    """Yield (new items, position after them) for every page of [position.ts, until]."""
    if position.ts > until:
        return
    ts, seen = position.ts, set(position.ids)
    qstart, page, total = ts, 1, None
    restarts = 0
    keyless: set[str] = set()  # items without a usable time/id are re-read whenever a page re-anchors
    while True:
        total_now, items = fetch(qstart, until, page, page_size)
        if total is not None and total_now != total and restarts < 1000:
            # The window changed while we paged: start again from what we have done.
            restarts += 1
            qstart, page, total = ts, 1, None
            continue
        total = total_now
        fresh = []
        for item in items:
            k = key(item)
            if k is None:  # let the pipeline fail it with a message naming the field, once a window
                digest = stable_hash(item)
                if digest not in keyless:
                    keyless.add(digest)
                    fresh.append(item)
                continue
            its, iid = k
            if its < ts or (its == ts and iid in seen):
                continue
            fresh.append(item)
            if its > ts:
                ts, seen = its, {iid}
            else:
                seen.add(iid)
        yield fresh, Position(ts, frozenset(seen))
        if len(items) < page_size or page * page_size >= total:
            return
        if ts > qstart:
            qstart, page, total = ts, 1, None
        else:  # a whole page within one second: walk on by page number
            page += 1


# -- listings for reconciliation (``connectors.contract.roles.Lister``) ------------------------------
def listed(items: list[Any], key: Key, synced: Callable[[dict[str, Any]], bool]) -> list[Listed]:
    """A page of raw records as ``Listed`` (one without a readable id or time is left out: the pull
    reports it as invalid)."""
    out = []
    for item in items:
        found = key(item) if isinstance(item, dict) else None
        if found is not None:
            out.append(Listed(found[1], found[0], synced(item)))
    return out


# pull(kind, saved cursor, start, until, page_size) -> pages, as ``Source.pull``
Pull = Callable[[RecordKind, "dict[str, Any] | None", datetime, datetime, int], Iterator[Page]]


def fetch_by_second(
    pull: Pull, kind: RecordKind, wanted: list[Listed], page_size: int, key: Key
) -> list[Any]:
    """Raw records named by a listing, read again over the seconds they were listed at (sources
    without a read by id); a record changed since is found in no window and left out."""
    ids = {w.source_id for w in wanted}
    out: list[Any] = []
    for second in sorted({w.updated_at for w in wanted}):
        for page in pull(kind, None, second, second, page_size):
            for raw in page.items:
                found = key(raw) if isinstance(raw, dict) else None
                if found is not None and found[1] in ids:
                    out.append(raw)
    return out
