"""Issue 18.10: the generator's window — the days ending at ``until``, as the demo serves its month."""

from __future__ import annotations

import dataclasses
import time
from datetime import date, datetime

from simulators import credit, datagen, harness
from simulators.__main__ import parser, plan

# across New Year: the ids and document numbers of each record carry the year of its own date
UNTIL = datetime(2027, 1, 5, 10, 15, 0)
FIRST = date(2026, 12, 7)


def _window_data(seed: int = 2025) -> datagen.Dataset:
    return datagen.generate(seed=seed, inspections=1200, hand_typed_share=0.05, bad_records=2, until=UNTIL)


def _times(data: datagen.Dataset) -> list[tuple[str, str]]:
    """Every date and time of the data set, as yyyy-MM-dd HH:mm:ss (or yyyy-MM-dd), with what it is."""
    out = []
    for r in data.inspections:
        out += [(r["id"], r["started_at"]), (r["id"], r["ended_at"]), (r["id"], r["updated_at"])]
    for p in data.penalties:
        out += [(p["id"], p["updated_at"])] + ([(p["id"], p["decided_on"])] if p["decided_on"] else [])
    for c in (*data.city_inspections, *data.city_penalties):
        gxsj = c["gxsj"]
        out.append((c.get("wsbh") or c["cfjdswh"], gxsj))
        if c.get("cfjdrq"):
            out.append((c["cfjdswh"], c["cfjdrq"]))
    out += [
        (f"event {n}", e["occurred_at"][:19].replace("T", " "))
        for n, e in enumerate(credit.event_specs(data, 30))
    ]
    return out


def test_window_data_is_never_in_the_future_and_all_inside_the_window() -> None:
    """With ``until`` every timestamp lies between the window's first midnight and ``until`` (the credit
    platform refuses a decision date in the future; a daemon reads a later updated_at only later)."""
    data = _window_data()
    assert data.first_day == FIRST.isoformat() and data.until == "2027-01-05 10:15:00"
    outside = [(what, t) for what, t in _times(data) if not (FIRST.isoformat() <= t <= data.until)]
    assert outside == []
    assert len(data.inspections) == 1200 and len(data.penalties) == 40
    assert {p["decided_on"][:10] for p in data.penalties if p["decided_on"]} & {"2027-01-04", "2027-01-05"}


def test_window_keeps_the_generators_realism() -> None:
    """Decisions come after their inspection, ids and document numbers use the year of the record's own
    date (numbered from 1 in each year), and officers still mostly inspect on weekdays."""
    data = _window_data()
    by_id = {r["id"]: r for r in data.inspections}
    for p in data.penalties:
        if p["decided_on"]:
            assert p["decided_on"] >= by_id[p["inspection_id"]]["ended_at"][:10], p["id"]
            year = p["decided_on"][:4]
            assert p["id"].startswith(f"CF{year}") and f"〔{year}〕" in p["decision_no"], p
    for r in data.inspections:
        year = r["started_at"][:4]
        assert r["id"].startswith(f"JC{year}") and f"〔{year}〕" in r["document_no"], r
    assert {"JC2026000001", "JC2027000001"} <= set(by_id)
    weekdays = [time.strptime(r["started_at"][:10], "%Y-%m-%d").tm_wday < 5 for r in data.inspections]
    assert sum(weekdays) / len(weekdays) > 0.9


def test_window_same_seed_same_data() -> None:
    """The same seed and window give the same data; another seed or another end of the window does not."""
    assert dataclasses.asdict(_window_data()) == dataclasses.asdict(_window_data())
    assert _window_data(2026).inspections != _window_data().inspections
    later = datagen.generate(seed=2025, inspections=1200, until=datetime(2027, 1, 6, 10, 15))
    assert later.inspections != _window_data().inspections


def test_plan_window_survives_the_serve_command_line() -> None:
    """A plan with a window is started by ``python -m simulators serve`` with the same window: the
    command line the harness writes parses back into the same data set."""
    want = harness.Plan(systems=("district", "municipal", "credit"), inspections=90, until=UNTIL, days=12)
    argv = harness._serve_command(want, {"district": 1, "municipal": 2, "credit": 3})[
        3:
    ]  # after -m simulators
    got = plan(parser().parse_args(argv))
    assert (got.until, got.days) == (UNTIL, 12)
    assert got.dataset().inspections == want.dataset().inspections
