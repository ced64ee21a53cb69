"""Issue 18.10: the 双公示 deadline report tells a backfill (already overdue when zhifa-sync first read the
decision) from a late publication, over a real SQLite ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from connectors.contract.states import Timeliness
from sync.alerts.conditions import Inputs, due
from sync.config import Settings
from sync.ledger import Ledger
from sync.ledger.schema import deliveries, records
from sync.report.deadlines import deadline_section, deadlines
from sync.workdays import WorkCalendar

TODAY = date(2026, 12, 7)  # a Monday; no holiday between 2026-11-02 and 2026-12-10
FIRST_RUN = datetime(2026, 12, 7, 9, 0)
SETTINGS = Settings.model_validate({
    "systems": {
        "district": {"type": "district", "base_url": "http://d", "username": "u", "password": {"env": "P"}},
        "credit": {"type": "credit", "base_url": "http://c", "app_key": "k", "app_secret": {"env": "S"}},
    },
    "pipelines": [{"name": "district-penalties", "source": "district", "kind": "penalty", "targets": ["credit"]}],
})  # fmt: skip
# id: decided on, first read by zhifa-sync, first delivered to credit (None: not yet)
DECISIONS = {
    "H1": ("2026-11-02", FIRST_RUN, FIRST_RUN),  # due 11-11, read on 12-07: history, published at once
    "L1": ("2026-11-16", datetime(2026, 11, 17, 9, 0), datetime(2026, 11, 27, 9, 0)),  # due 11-25: late
    "T1": ("2026-12-01", datetime(2026, 12, 1, 18, 0), datetime(2026, 12, 1, 18, 0)),  # due 12-10: on time
    "T2": ("2026-11-16", datetime(2026, 11, 25, 20, 0), datetime(2026, 11, 25, 23, 0)),  # read on its due day
    "H2": ("2026-11-02", FIRST_RUN, None),  # history, and still not published (a failure)
    "O1": ("2026-11-20", datetime(2026, 11, 20, 18, 0), None),  # due 12-01, read in time: overdue
}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.connect(f"sqlite:///{tmp_path}/ledger.db")
    with led.engine.begin() as conn:
        for sid, (decided, seen, published) in DECISIONS.items():
            body = {
                "id": sid, "origin": "district", "status": "decided", "procedure": "general",
                "decided_on": decided, "decision_no": f"（滨海）应急罚〔2026〕{sid}号", "party": {"name": f"企业{sid}"},
            }  # fmt: skip
            conn.execute(insert(records).values(
                system="district", kind="penalty", source_id=sid, status="decided",
                event_date=date.fromisoformat(decided), record_hash="h", body=json.dumps(body, ensure_ascii=False),
                first_seen=seen, last_seen=seen,
            ))  # fmt: skip
            if published is not None:
                conn.execute(insert(deliveries).values(
                    system="district", kind="penalty", source_id=sid, target="credit", target_id=f"C-{sid}",
                    state="delivered", last_action="created", linked=False, first_delivered_at=published,
                    delivered_at=published, updated_at=published,
                ))  # fmt: skip
    yield led
    led.close()


def test_each_decision_is_classified_by_who_made_it_late(ledger: Ledger) -> None:
    """Published: on time (also when first read on its due day), late by the daemon, or already overdue
    when first read; unpublished past due: overdue either way, the history one marked."""
    found = {d.source_id: d for d in deadlines(ledger, SETTINGS, TODAY, calendar=WorkCalendar())}
    assert {sid: (d.state, d.publication, d.overdue_when_read) for sid, d in found.items()} == {
        "H1": ("published", Timeliness.LATE_WHEN_READ, True),
        "L1": ("published", Timeliness.LATE, False),
        "T1": ("published", Timeliness.ON_TIME, False),
        "T2": ("published", Timeliness.ON_TIME, False),
        "H2": ("overdue", None, True),
        "O1": ("overdue", None, False),
    }


def test_status_counts_a_backfill_apart_from_a_late_publication(ledger: Ledger) -> None:
    """`status` explains every published decision (on time + late + overdue when read = published) and
    says which overdue ones were so when first read; the urgent table marks them."""
    section = deadline_section(ledger, SETTINGS, TODAY)
    assert (
        "已逾期 2 (其中 1 条在首次读到时已逾期, 安装前的历史数据), 即将到期 0, 未到期 0,"
        " 已公示 4 (按期公示 2, 逾期后公示 1, 首次读到时已逾期 1 (安装前的历史数据))"
    ) in section
    h2 = next(line for line in section.splitlines() if "H2号" in line)
    o1 = next(line for line in section.splitlines() if "O1号" in line)
    assert "已逾期 (首次读到时已逾期)" in h2 and "首次读到时" not in o1


def test_overdue_alert_still_fires_for_history_and_says_so(ledger: Ledger) -> None:
    """A decision overdue already when read still has to be published: it stays in the overdue alert,
    which tells it from the one the daemon let slip."""
    (alert,) = due(Inputs(ledger, SETTINGS, TODAY))
    assert alert.text.splitlines()[0] == (
        "信用平台 credit: 2 件行政处罚决定已超过 7 个工作日公示期限, 尚未公示 (其中 1 件在首次读到时已逾期)。"
    )
    assert (
        "（滨海）应急罚〔2026〕H2号 企业H2 期限 2026-11-11 (首次读到时已逾期, 安装前的历史数据)" in alert.text
    )
    assert "（滨海）应急罚〔2026〕O1号 企业O1 期限 2026-12-01\n" in alert.text + "\n"
