"""Window paging over a source whose pages shift while we read: nothing lost, nothing twice."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from connectors.paging import Position, iter_window

T0 = datetime(2025, 3, 1, 8, 0, 0)


class ShiftingSource:
    """Evaluates the inclusive window at every call, like the district; between calls, records get
    updated (moving past the window's end) at the given rate."""

    def __init__(self, n: int, seed: int, same_second: int, churn: float) -> None:
        self.rng = random.Random(seed)
        self.rows = {f"R{i:05d}": T0 + timedelta(seconds=i // same_second) for i in range(n)}
        self.churn = churn
        self.updated: set[str] = set()
        self.now = T0 + timedelta(days=1)

    def fetch(self, start: datetime, end: datetime, page: int, size: int) -> tuple[int, list[dict[str, Any]]]:
        window = sorted((ts, rid) for rid, ts in self.rows.items() if start <= ts <= end)
        items = [{"id": rid, "updated_at": ts} for ts, rid in window[(page - 1) * size : page * size]]
        for _ in range(int(self.churn) + (self.rng.random() < self.churn % 1)):
            rid = self.rng.choice(sorted(self.rows))
            self.now += timedelta(seconds=1)
            self.rows[rid] = self.now
            self.updated.add(rid)
        return len(window), items


def key(item: dict[str, Any]) -> tuple[datetime, str]:
    return item["updated_at"], item["id"]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("same_second", [1, 7, 250])
def test_keyset_paging_loses_nothing_and_repeats_nothing(seed: int, same_second: int) -> None:
    """Every record not updated meanwhile is read exactly once, however many share a second."""
    src = ShiftingSource(2000, seed, same_second, churn=0.7)
    seen: list[str] = []
    for items, _pos in iter_window(src.fetch, Position(T0), T0 + timedelta(hours=23), 100, key):
        seen.extend(i["id"] for i in items)
    assert len(seen) == len(set(seen))
    assert set(src.rows) - src.updated <= set(seen)


def test_naive_page_numbers_would_lose_records() -> None:
    """The same source read by page number alone skips records (so the test above can fail)."""
    src = ShiftingSource(2000, 1, 1, churn=0.7)
    seen: set[str] = set()
    page = 1
    while True:
        total, items = src.fetch(T0, T0 + timedelta(hours=23), page, 100)
        seen.update(i["id"] for i in items)
        if page * 100 >= total:
            break
        page += 1
    assert set(src.rows) - src.updated - seen


def test_position_resumes_after_the_ids_already_done() -> None:
    """A saved position (ts + ids at ts) resumes without re-reading those ids or skipping the rest."""
    src = ShiftingSource(50, 0, 10, churn=0)
    pages = list(iter_window(src.fetch, Position(T0), T0 + timedelta(hours=1), 15, key))
    first_items, first_pos = pages[0]
    rest = [
        i["id"]
        for items, _ in iter_window(src.fetch, first_pos, T0 + timedelta(hours=1), 15, key)
        for i in items
    ]
    assert sorted([i["id"] for i in first_items] + rest) == sorted(src.rows)
    restored = Position.from_json(first_pos.to_json(), T0)
    assert restored == first_pos
    # a cursor stored before versioning (no "v") reads the same
    legacy = {k: v for k, v in first_pos.to_json().items() if k != "v"}
    assert Position.from_json(legacy, T0) == first_pos


def test_items_without_time_or_id_are_passed_on_once_a_window() -> None:
    """Garbage items (no usable time/id) reach the pipeline — which fails them — once, although every
    page that re-anchors at their second reads them again; the records around them are read once."""
    rows = [{"id": f"R{i}", "updated_at": T0 + timedelta(seconds=i // 3)} for i in range(30)]
    garbage: list[Any] = ["oops", [1, 2], None, {"no": "id"}]
    window = rows[:10] + garbage + rows[10:]  # the platform keeps them where they were stored

    def fetch(start: datetime, end: datetime, page: int, size: int) -> tuple[int, list[Any]]:
        inside = [r for r in window if not isinstance(r, dict) or "id" not in r or start <= r["updated_at"]]
        return len(inside), inside[(page - 1) * size : page * size]

    def k(item: Any) -> tuple[datetime, str] | None:
        return (item["updated_at"], item["id"]) if isinstance(item, dict) and "id" in item else None

    out: list[Any] = []
    for items, _pos in iter_window(fetch, Position(T0), T0 + timedelta(hours=1), 5, k):
        out.extend(items)
    assert [i for i in out if k(i) is None] == garbage
    assert [i["id"] for i in out if k(i) is not None] == [r["id"] for r in rows]


def test_an_edit_stamped_before_the_cursor_is_read_within_the_overlap() -> None:
    """A source clock stepped back stamps an edit before the cursor: without an overlap the keyset never
    reads it; with one it comes once per pull, with the rest of the overlap, and the cursor stays put."""
    src = ShiftingSource(40, 0, 2, churn=0)
    end = T0 + timedelta(hours=1)
    done = [pos for _items, pos in iter_window(src.fetch, Position(T0), end, 15, key)][-1]
    assert done.ts == T0 + timedelta(seconds=19)
    src.rows["R00010"] = done.ts - timedelta(seconds=8)  # edited after the clock stepped back 8 s and more

    def pull(overlap: timedelta) -> tuple[list[str], Position]:
        pages = list(iter_window(src.fetch, done, end, 3, key, overlap))
        return [i["id"] for items, _ in pages for i in items], pages[-1][1] if pages else done

    assert pull(timedelta(0))[0] == []
    ids, after = pull(timedelta(seconds=10))
    in_overlap = {rid for rid, ts in src.rows.items() if ts >= done.ts - timedelta(seconds=10)}
    assert "R00010" in ids and sorted(ids) == sorted(in_overlap) and len(ids) == len(set(ids))
    assert after == done  # nothing new: the position does not move back for a re-read


@pytest.mark.parametrize("seed", range(4))
def test_overlap_re_reads_under_churn_lose_nothing_and_repeat_nothing_new(seed: int) -> None:
    """With an overlap on a shifting source, every record not updated meanwhile is read, and no record
    past the old cursor comes twice."""
    src = ShiftingSource(600, seed, 7, churn=0.7)
    start = Position(T0 + timedelta(seconds=40))
    seen: list[tuple[datetime, str]] = []
    for items, _pos in iter_window(
        src.fetch, start, T0 + timedelta(hours=23), 50, key, timedelta(seconds=20)
    ):
        seen.extend(key(i) for i in items)
    assert len(seen) == len(set(seen))
    wanted = {rid for rid, ts in src.rows.items() if ts >= start.ts - timedelta(seconds=20)} - src.updated
    assert wanted <= {rid for _, rid in seen}
