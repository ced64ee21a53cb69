"""Reading inclusive, second-precise time windows whose pages shift under the reader.

The district (and municipal) list calls filter on ``updated_at`` with both bounds inclusive, sort by
(``updated_at``, id), and evaluate the window again at every page request: a record updated while we
page moves out of the window and everything after it moves up one place, so plain page numbers would
skip a record. We therefore page by keyset — re-anchor the window at the newest ``updated_at`` seen,
skipping the ids already seen at exactly that second — and start again from page 1 whenever the
window's ``total`` changes between two pages. Only the ids at the newest second are remembered, so
memory stays flat however large the window.

A source clock that steps back (an NTP correction) stamps edits *before* the cursor; a keyset reader
would never see them. Each pull therefore starts ``overlap`` before the cursor and hands the records of
that stretch on again (once per pull): the engine skips what did not change (same payload hash), so a
re-read costs a page or two of reading and nothing downstream, and it counts as clock skew what did.
An edit stamped further back than the overlap is still not seen: size the overlap to the largest step
the source's clock may take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from connectors.contract.clock import TIME_FORMAT
from connectors.contract.records import stable_hash
from connectors.contract.roles import upgrade_cursor


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
    fetch: Fetch,
    position: Position,
    until: datetime,
    page_size: int,
    key: Key,
    overlap: timedelta = timedelta(0),
) -> Iterator[tuple[list[dict[str, Any]], Position]]:
    """Yield (new items, position after them) for every page of [position.ts - overlap, until].

    Items of the overlap (before the cursor, or at it and seen) come again, each once per pull; the
    position never moves back for them."""
    floor = position.ts - overlap
    if floor > until:
        return
    ts, seen = position.ts, set(position.ids)
    qstart, page, total = floor, 1, None
    restarts = 0
    keyless: set[str] = set()  # items without a usable time/id are re-read whenever a page re-anchors
    reread: set[tuple[datetime, str]] = set()  # overlap items handed on in this pull
    newest = floor  # the newest time read in this pull (the overlap's included): where to re-anchor
    while True:
        total_now, items = fetch(qstart, until, page, page_size)
        if total is not None and total_now != total and restarts < 1000:
            # The window changed while we paged: start again from what we have done (and the overlap
            # again while the reading has not got past the old cursor: the overlap is read in full).
            restarts += 1
            qstart, page, total = (ts if ts > position.ts else floor), 1, None
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
            newest = max(newest, its)
            if its < position.ts or (its == position.ts and iid in position.ids):
                if overlap and its >= floor and (its, iid) not in reread:
                    reread.add((its, iid))
                    fresh.append(item)  # a re-read: the engine skips it unless it changed
                continue
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
        if newest > qstart:
            qstart, page, total = newest, 1, None
        else:  # a whole page within one second: walk on by page number
            page += 1
