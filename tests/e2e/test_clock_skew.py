"""Issue 16.3 end to end: the district's clock steps back an hour (an NTP correction); an edit made in
that hour is stamped before the pipeline's cursor. Each pull re-reads an overlap before the cursor,
so the edit is read and delivered to the city, and the clock skew is counted (metric, status)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.contract.states import ClockSkew, label
from simulators.simkit import SimClock
from sync import clock_skew, metrics
from tests.support.stack import Stack, make_stack
from zhifa_sync.status import status_report

PIPELINE = "district-inspections"
REASONS = tuple(r.value for r in ClockSkew)


def skew(reason: str) -> float:
    value: float = metrics.CLOCK_SKEW.labels(PIPELINE, reason)._value.get()
    return value


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with make_stack(tmp_path, monkeypatch, inspections=30, penalties=2) as s:
        yield s


def delivered_ids(stack: Stack) -> list[str]:
    return sorted(stack.ours("jcjl"))


@pytest.mark.parametrize("overlap_s", [0, 7200])
def test_an_edit_made_while_the_district_clock_was_an_hour_behind_is_delivered(
    stack: Stack, overlap_s: int
) -> None:
    """Without an overlap the edit is never read (the bug); with a 2 h overlap it reaches the city."""
    stack.extra_systems = {"district": {"overlap_s": overlap_s}}
    stack.write_config()
    assert stack.run(PIPELINE)[PIPELINE].status == "ok"
    first, second, third = delivered_ids(stack)[:3]
    stack.district.update("inspections", first, document_no="（滨海）应急检记〔2025〕901号")
    stack.district.update("inspections", second, document_no="（滨海）应急检记〔2025〕902号")
    assert stack.run(PIPELINE)[PIPELINE].updated == 2  # the cursor is now at the district's "now"

    clock = stack.district.clock
    assert isinstance(clock, SimClock)
    clock.advance(-3600)  # NTP sets the district's clock back an hour
    stack.district.update("inspections", second, document_no="（滨海）应急检记〔2025〕912号")
    stack.district.update("inspections", third, document_no="（滨海）应急检记〔2025〕913号")
    before = {r: skew(r) for r in REASONS}
    counts = stack.run(PIPELINE)[PIPELINE]
    clock.advance(3600)
    again = stack.run(PIPELINE)[PIPELINE]  # the clock is right again: the edit is still not lost

    wsbh = {sid: stack.ours("jcjl")[sid][0]["wsbh"] for sid in (second, third)}
    if not overlap_s:  # lost: what issue 16.3 reports
        assert (
            wsbh[second] == "（滨海）应急检记〔2025〕902号" and wsbh[third] != "（滨海）应急检记〔2025〕913号"
        )
        return
    assert wsbh == {second: "（滨海）应急检记〔2025〕912号", third: "（滨海）应急检记〔2025〕913号"}
    assert counts.status == "ok" and counts.updated == 2 and counts.failed == 0
    # the overlap is read again, and costs nothing downstream: every record of it unchanged
    assert again.pulled >= 3 and again.unchanged == again.pulled and again.updated == again.created == 0
    assert {r: skew(r) - before[r] for r in REASONS} == {"older_than_seen": 1, "behind_cursor": 1}
    app = stack.app()
    try:
        seen = clock_skew.last_seen(app.ledger, PIPELINE)
        report = status_report(app)
    finally:
        app.close()
    assert seen is not None and seen.count == 2 and seen.last_record in (second, third)
    assert (
        "源系统时钟回拨" in report and seen.last_record in report and label(ClockSkew, seen.reason) in report
    )
