"""Every ledger operation, on SQLite and on PostgreSQL (``ledger_url``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

import pytest

from connectors.contract.roles import StoredRecord
from connectors.contract.states import Action
from connectors.paging import Position
from sync.ledger import Ledger, RecordSnapshot
from sync.outcomes import Outcome, RunCounts


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.connect(ledger_url)
    yield led
    led.close()


def snap(
    source_id: str, *, doc_no: str | None = None, party: str = "滨海化工有限公司", key: str | None = None
) -> RecordSnapshot:
    return RecordSnapshot(
        system="district",
        kind="penalty",
        source_id=source_id,
        status="decided",
        record_hash=f"h-{source_id}",
        body=f'{{"id": "{source_id}"}}',
        doc_no=doc_no,
        party_name=party,
        party_code="91120116MA05T8XK3D",
        dept_code="D01",
        event_date=date(2025, 3, 1),
        source_updated_at=datetime(2025, 3, 1, 9, 0),
        natural_key=key,
    )


def ok(source_id: str, action: str = "created", target: str = "municipal", **kw: Any) -> Outcome:
    return Outcome(
        system="district",
        kind="penalty",
        source_id=source_id,
        target=target,
        action=Action(action),
        target_id=f"T-{source_id}",
        payload_hash=f"p-{source_id}",
        **kw,
    )


def bad(
    source_id: str, kind: str = "rejected", action: str = "failed", target: str = "municipal", **kw: Any
) -> Outcome:
    return Outcome(
        system="district",
        kind="penalty",
        source_id=source_id,
        target=target,
        action=Action(action),
        stage="push",
        error_kind=kind,
        message=f"{source_id} 被拒绝",
        doc_no=f"（滨海）应急罚〔2025〕{source_id[-1]}号",
        party_name=f"企业{source_id}",
        party_code="91120116MA05T8XK3D",
        **kw,
    )


def page(
    ledger: Ledger,
    outcomes: list[Outcome],
    *,
    snapshots: list[RecordSnapshot] | None = None,
    cursor: Position | None = None,
    run_id: str = "r1",
    pipeline: str = "district-penalties",
) -> None:
    ledger.commit_page(
        pipeline=pipeline, run_id=run_id, snapshots=snapshots or [], outcomes=outcomes, cursor=cursor
    )


def failure(ledger: Ledger, source_id: str) -> dict[str, Any]:
    rows, _ = ledger.query_failures(search=source_id, state=None)
    (row,) = [r for r in rows if r["source_id"] == source_id]
    full = ledger.get_failure(row["id"])
    assert full is not None
    return full


# -- cursors and meta -------------------------------------------------------------------------------
def test_cursor_is_none_then_set_then_overwritten(ledger: Ledger) -> None:
    """A pipeline without a cursor reads None; set_cursor stores the versioned JSON and its watermark,
    and a later call replaces both."""
    assert ledger.get_cursor("p") is None and ledger.get_watermark("p") is None
    ledger.set_cursor("p", Position(datetime(2025, 1, 1), frozenset({"a"})))
    ledger.set_cursor("p", Position(datetime(2025, 2, 1), frozenset({"c", "b"})))
    assert ledger.get_cursor("p") == {"v": 1, "ts": "2025-02-01 00:00:00", "ids": ["b", "c"]}
    assert ledger.get_watermark("p") == datetime(2025, 2, 1)
    assert ledger.get_cursor("other") is None


def test_meta_roundtrip(ledger: Ledger) -> None:
    """Meta values are stored, replaced and read back."""
    assert ledger.get_meta("feedback:hlwjg") is None
    ledger.set_meta("feedback:hlwjg", "1")
    ledger.set_meta("feedback:hlwjg", "2")
    assert ledger.get_meta("feedback:hlwjg") == "2"


# -- the page transaction -----------------------------------------------------------------------------
def test_commit_page_writes_snapshots_deliveries_failures_and_cursor_together(ledger: Ledger) -> None:
    """One page: snapshots stored, deliveries linked, failures opened, cursor saved."""
    page(
        ledger,
        [ok("CF1"), ok("CF2", "linked", linked=True), bad("CF3")],
        snapshots=[snap("CF1", doc_no="D1", key="k1"), snap("CF2"), snap("CF3")],
        cursor=Position(datetime(2025, 3, 1, 9)),
    )
    assert ledger.get_cursor("district-penalties") == {"v": 1, "ts": "2025-03-01 09:00:00", "ids": []}
    known = ledger.deliveries_for("district", "penalty", ["CF1", "CF2", "CF3", "CF9"])
    assert set(known) == {("CF1", "municipal"), ("CF2", "municipal")}
    assert (
        known[("CF1", "municipal")].state == "delivered"
        and known[("CF1", "municipal")].payload_hash == "p-CF1"
    )
    assert known[("CF2", "municipal")].linked is True
    assert ledger.target_id("district", "penalty", "CF1", "municipal") == "T-CF1"
    assert ledger.target_id("district", "penalty", "CF3", "municipal") is None
    assert ledger.load_records("district", "penalty", ["CF1", "CF3", "CF9"]) == {
        "CF1": '{"id": "CF1"}',
        "CF3": '{"id": "CF3"}',
    }
    assert ledger.find_by_natural_key("district", "penalty", "k1") == [StoredRecord("CF1", '{"id": "CF1"}')]
    f = failure(ledger, "CF3")
    assert (f["state"], f["attempts"], f["error_kind"], f["pipeline"]) == (
        "open",
        1,
        "rejected",
        "district-penalties",
    )
    assert [a["run_id"] for a in f["attempt_log"]] == ["r1"]
    assert f["record"] == '{"id": "CF3"}'


def test_a_page_the_database_refuses_for_one_record_keeps_the_other_records(ledger: Ledger) -> None:
    """A record whose rows the database refuses (here a failure without a message, NOT NULL on both
    backends) costs only that record: the others' deliveries and failures are written, the bad one
    is kept as a failure saying the ledger refused it, and the cursor moves on."""
    # None on purpose, against the type: the database must refuse the row (NOT NULL)
    broken = dataclasses.replace(bad("CF3", kind="transient"), message=cast(str, None))
    page(
        ledger,
        [ok("CF1"), ok("CF2", target="credit"), broken, ok("CF3", target="credit"), bad("CF4")],
        snapshots=[snap("CF1"), snap("CF2"), snap("CF3"), snap("CF4")],
        cursor=Position(datetime(2025, 3, 1, 9)),
    )
    known = ledger.deliveries_for("district", "penalty", ["CF1", "CF2", "CF3", "CF4"])
    assert set(known) == {("CF1", "municipal"), ("CF2", "credit")}
    assert failure(ledger, "CF4")["message"] == "CF4 被拒绝"
    rows, _ = ledger.query_failures(search="CF3", state=None)
    by_target = {r["target"]: ledger.get_failure(r["id"]) for r in rows}
    assert set(by_target) == {"municipal", "credit"}  # the push that went through is retried, not lost
    for f in by_target.values():
        assert f is not None
        assert (f["stage"], f["error_kind"]) == ("record", "transient"), f
        assert "结果未能写入账本" in f["message"] and "NULL" in f["message"].upper()
        assert f["record"] == '{"id": "CF3"}'
    assert ledger.get_watermark("district-penalties") == datetime(2025, 3, 1, 9)


def test_a_nul_in_a_failure_is_stored_as_text(ledger: Ledger) -> None:
    """PostgreSQL refuses NUL in text: a failure's own values keep it written out (``\\u0000``)."""
    nul = dataclasses.replace(bad("CF5"), party_name="天津\x00测试有限公司", message="名称\x00有误")
    page(ledger, [nul], snapshots=[snap("CF5")])
    f = failure(ledger, "CF5")
    assert (f["party_name"], f["message"]) == ("天津\\u0000测试有限公司", "名称\\u0000有误")


def test_commit_page_without_cursor_keeps_the_saved_one(ledger: Ledger) -> None:
    """A retry page (cursor None) never moves the cursor."""
    page(ledger, [ok("CF1")], cursor=Position(datetime(2025, 3, 1, 9)))
    page(ledger, [ok("CF2")], cursor=None)
    assert ledger.get_watermark("district-penalties") == datetime(2025, 3, 1, 9)


def test_snapshot_upsert_keeps_one_row_with_the_latest_body(ledger: Ledger) -> None:
    """A record seen again replaces its snapshot (no duplicate row)."""
    page(ledger, [], snapshots=[snap("CF1")])
    newer = snap("CF1")
    newer.body = '{"id": "CF1", "v": 2}'
    page(ledger, [], snapshots=[newer])
    assert ledger.load_records("district", "penalty", ["CF1"]) == {"CF1": '{"id": "CF1", "v": 2}'}


def test_withdrawn_and_sent_outcomes_set_their_delivery_states(ledger: Ledger) -> None:
    """withdrawn → withdrawn; sent → sent; a 前置库 withdrawal with a version waits as sent."""
    page(
        ledger,
        [
            ok("CF1", "withdrawn"),
            ok("CF2", "sent", target="hlwjg", target_version="B1"),
            ok("CF3", "withdrawn", target="hlwjg", target_version="B2"),
        ],
    )
    states = {
        (k, t): d.state
        for (k, t), d in ledger.deliveries_for("district", "penalty", ["CF1", "CF2", "CF3"]).items()
    }
    assert states == {("CF1", "municipal"): "withdrawn", ("CF2", "hlwjg"): "sent", ("CF3", "hlwjg"): "sent"}


def test_success_closes_the_open_failure_of_that_target_only(ledger: Ledger) -> None:
    """A record that goes through resolves its failure for that target, not for another target."""
    page(ledger, [bad("CF1"), bad("CF1", target="credit")])
    page(ledger, [ok("CF1")], run_id="r2")
    rows, _ = ledger.query_failures(search="CF1", state=None)
    by_target = {r["target"]: r for r in rows}
    assert (
        by_target["municipal"]["state"] == "resolved"
        and by_target["municipal"]["resolved_by"] == "zhifa-sync"
    )
    assert by_target["credit"]["state"] == "open"


def test_a_record_the_target_no_longer_takes_closes_its_failure_without_a_delivery(ledger: Ledger) -> None:
    """Skipped (e.g. now summary procedure): the open failure is closed, and no delivery row appears."""
    page(ledger, [bad("CF5", target="credit")])
    page(
        ledger,
        [Outcome(system="district", kind="penalty", source_id="CF5", target="credit", action=Action.SKIPPED)],
        run_id="r2",
    )
    assert failure(ledger, "CF5")["state"] == "resolved"
    assert "不再需要" in failure(ledger, "CF5")["resolution_note"]
    assert ledger.deliveries_for("district", "penalty", ["CF5"]) == {}


def test_attempted_lists_records_whose_push_ended_without_an_answer(ledger: Ledger) -> None:
    """Transient failures mark (record, target) as possibly delivered; rejections do not."""
    page(ledger, [bad("CF6", kind="transient"), bad("CF7", kind="rejected")])
    assert ledger.attempted("district", "penalty", ["CF6", "CF7"]) == {("CF6", "municipal")}


def test_refailure_counts_attempts_and_reopens_a_resolved_failure(ledger: Ledger) -> None:
    """Failing again adds an attempt; a resolved failure that fails again is reopened, audit kept."""
    page(ledger, [bad("CF1")])
    page(ledger, [bad("CF1")], run_id="r2")
    f = failure(ledger, "CF1")
    assert f["attempts"] == 2 and [a["run_id"] for a in f["attempt_log"]] == ["r1", "r2"]
    assert ledger.resolve([f["id"]], "张三", "已在市系统手工补录") == 1
    page(ledger, [bad("CF1", kind="conflict")], run_id="r3")
    f = failure(ledger, "CF1")
    assert (f["state"], f["attempts"], f["error_kind"], f["resolution_note"], f["resolved_by"]) == (
        "open",
        3,
        "conflict",
        None,
        None,
    )
    assert [(a["action"], a["actor"]) for a in ledger.audit()] == [("resolve", "张三")]


def test_parked_failure_stays_parked_with_mapping_version(ledger: Ledger) -> None:
    """A missing mapping parks the failure with the version of the tables it failed under."""
    page(ledger, [bad("CF1", kind="mapping", action="parked", mapping_version="v1")])
    f = failure(ledger, "CF1")
    assert (f["state"], f["mapping_version"]) == ("parked", "v1")


# -- operator actions ---------------------------------------------------------------------------------
def test_resolve_reopen_and_mark_retry_change_state_and_write_the_audit_log(ledger: Ledger) -> None:
    """resolve needs a note; reopen only from resolved; retry only from open/parked; each is audited."""
    page(ledger, [bad("CF1"), bad("CF2"), bad("CF3", kind="mapping", action="parked", mapping_version="v1")])
    ids = {r["source_id"]: r["id"] for r in ledger.query_failures(state=None)[0]}
    with pytest.raises(ValueError):
        ledger.resolve([ids["CF1"]], "张三", "  ")
    assert ledger.resolve([ids["CF1"]], "张三", "已手工补录") == 1
    assert ledger.resolve([ids["CF1"]], "张三", "again") == 0  # already resolved
    assert ledger.reopen([ids["CF2"]], "李四") == 0  # not resolved
    assert ledger.reopen([ids["CF1"]], "李四", "补录有误") == 1
    assert ledger.mark_retry([ids["CF1"], ids["CF3"]], "王五") == 2
    assert ledger.mark_retry([ids["CF1"]], "王五") == 0  # already queued
    states = {r["source_id"]: r["state"] for r in ledger.query_failures(state=None)[0]}
    assert states == {"CF1": "retry", "CF2": "open", "CF3": "retry"}
    audit = [(a["action"], a["actor"], a["failure_id"], a["detail"]) for a in reversed(ledger.audit())]
    assert audit[:2] == [
        ("resolve", "张三", ids["CF1"], "已手工补录"),
        ("reopen", "李四", ids["CF1"], "补录有误"),
    ]
    assert sorted(audit[2:]) == sorted(
        [("retry", "王五", ids["CF1"], None), ("retry", "王五", ids["CF3"], None)]
    )
    ledger.add_audit("zhifa-sync", "mappings_reload", "v1 → v2")
    assert ledger.audit(limit=1)[0]["action"] == "mappings_reload"


def test_failures_to_retry_picks_transient_within_budget_changed_mappings_and_queued(ledger: Ledger) -> None:
    """Transient under the budget, parked under another mapping version, and 'retry' come back; nothing else."""
    page(
        ledger,
        [
            bad("CF1", kind="transient"),
            bad("CF2", kind="rejected"),
            bad("CF3", kind="mapping", action="parked", mapping_version="v1"),
            bad("CF4", kind="mapping", action="parked", mapping_version="v2"),
            bad("CF5"),
        ],
    )
    page(ledger, [bad("CF6", kind="transient")], pipeline="other")
    ledger.mark_retry(
        ledger.failure_ids(pipeline="district-penalties", error_kind="rejected")[-1:], "op"
    )  # CF5
    got = ledger.failures_to_retry("district-penalties", max_attempts=3, mapping_version="v2")
    assert got == [("CF1", "municipal"), ("CF3", "municipal"), ("CF5", "municipal")]
    page(ledger, [bad("CF1", kind="transient")], run_id="r2")
    page(ledger, [bad("CF1", kind="transient")], run_id="r3")  # third attempt: budget spent
    assert ("CF1", "municipal") not in ledger.failures_to_retry(
        "district-penalties", max_attempts=3, mapping_version="v2"
    )


def test_failure_ids_filter(ledger: Ledger) -> None:
    """failure_ids filters by kind, state, pipeline and target."""
    page(ledger, [bad("CF1"), bad("CF2", kind="transient"), bad("CF3", target="credit")])
    assert len(ledger.failure_ids()) == 3
    assert len(ledger.failure_ids(error_kind="transient")) == 1
    assert len(ledger.failure_ids(target="credit")) == 1
    assert ledger.failure_ids(pipeline="nope") == []
    assert ledger.failure_ids(state=("resolved",)) == []


# -- feedback -----------------------------------------------------------------------------------------
@dataclass
class Feedback:
    kind: str
    source_id: str
    ok: bool
    target_version: str | None = None
    message: str = ""


def test_apply_feedback_accepts_rejects_and_ignores_stale_verdicts(ledger: Ledger) -> None:
    """Accepted → delivered (or withdrawn); rejected → failed + a failure; other versions → stale."""
    page(
        ledger,
        [
            ok("CF1", "sent", target="hlwjg", target_version="B1"),
            ok("CF2", "sent", target="hlwjg", target_version="B1"),
            ok("CF3", "withdrawn", target="hlwjg", target_version="B1"),
            ok("CF4", "sent", target="hlwjg", target_version="B2"),
        ],
    )
    counts = ledger.apply_feedback(
        "hlwjg",
        "district",
        [
            Feedback("penalty", "CF1", True, "B1"),
            Feedback("penalty", "CF2", False, "B1", "CF_XDR_ZJHM 格式错误"),
            Feedback("penalty", "CF3", True, "B1"),
            Feedback("penalty", "CF4", True, "B1"),
            Feedback("penalty", "CF9", True, "B1"),
        ],
        "r9",
        {"penalty": "district-penalties"},
    )
    assert counts == {"accepted": 2, "rejected": 1, "stale": 2}
    states = {
        k: d.state
        for (k, _t), d in ledger.deliveries_for("district", "penalty", ["CF1", "CF2", "CF3", "CF4"]).items()
    }
    assert states == {"CF1": "delivered", "CF2": "failed", "CF3": "withdrawn", "CF4": "sent"}
    f = failure(ledger, "CF2")
    assert (f["stage"], f["error_kind"], f["pipeline"]) == ("feedback", "rejected", "district-penalties")
    assert "CF_XDR_ZJHM" in f["message"]


# -- queries ------------------------------------------------------------------------------------------
def test_query_failures_filters_search_and_pages(ledger: Ledger) -> None:
    """State, pipeline, target, kind, search (id, 文号, name, code), time window and paging."""
    page(
        ledger,
        [
            bad(
                f"CF{i}", kind="transient" if i % 2 else "rejected", target="credit" if i < 3 else "municipal"
            )
            for i in range(1, 8)
        ],
    )
    page(ledger, [bad("IN1")], pipeline="district-inspections")
    rows, total = ledger.query_failures()
    assert total == 8 and len(rows) == 8
    assert ledger.query_failures(state="open")[1] == 8
    assert ledger.query_failures(state="unresolved")[1] == 8
    assert ledger.query_failures(state="resolved")[1] == 0
    assert ledger.query_failures(pipeline="district-inspections")[1] == 1
    assert ledger.query_failures(target="credit")[1] == 2
    assert ledger.query_failures(error_kind="transient")[1] == 4
    assert [r["source_id"] for r in ledger.query_failures(search=" CF5 ")[0]] == ["CF5"]
    assert [r["source_id"] for r in ledger.query_failures(search="〔2025〕4号")[0]] == ["CF4"]
    assert [r["source_id"] for r in ledger.query_failures(search="企业CF6")[0]] == ["CF6"]
    assert ledger.query_failures(search="91120116MA05T8XK3D")[1] == 8
    first, total = ledger.query_failures(limit=3)
    second, _ = ledger.query_failures(limit=3, offset=3)
    assert (
        total == 8
        and len(first) == len(second) == 3
        and not {r["id"] for r in first} & {r["id"] for r in second}
    )
    assert first[0]["id"] > first[-1]["id"]  # newest first
    now = datetime.now()
    assert ledger.query_failures(since=now + timedelta(days=1))[1] == 0
    assert ledger.query_failures(until=now + timedelta(days=1))[1] == 8
    counts: dict[tuple[str, str], int] = {}
    for c in ledger.failure_counts():
        counts[(c["target"], c["error_kind"])] = counts.get((c["target"], c["error_kind"]), 0) + c["n"]
    assert counts[("credit", "transient")] == 1 and sum(counts.values()) == 8


def test_delivery_counts_and_iter_deliveries(ledger: Ledger) -> None:
    """Delivery summaries group by kind/target/state; iter_deliveries lists one target's links."""
    page(ledger, [ok("CF1"), ok("CF2"), ok("CF3", "withdrawn")])
    counts = {(c["target"], c["state"]): c["n"] for c in ledger.delivery_counts()}
    assert counts == {("municipal", "delivered"): 2, ("municipal", "withdrawn"): 1}
    assert sorted(ledger.iter_deliveries("municipal", "penalty")) == [
        ("CF1", "T-CF1", "delivered"),
        ("CF2", "T-CF2", "delivered"),
        ("CF3", "T-CF3", "withdrawn"),
    ]


# -- runs ---------------------------------------------------------------------------------------------
def test_runs_start_finish_and_list(ledger: Ledger) -> None:
    """A run is 'running' until finished with its counts and status; listed newest first per pipeline."""
    first = ledger.start_run("district-penalties")
    counts = RunCounts(pulled=5, created=3, failed=1)
    ledger.finish_run(first, counts, "failed", "1 条失败")
    second = ledger.start_run("district-penalties")
    ledger.start_run("district-inspections")
    runs = ledger.recent_runs("district-penalties")
    assert [r["run_id"] for r in runs] == [second, first]
    assert runs[0]["status"] == "running" and runs[0]["finished_at"] is None
    assert (
        runs[1]["status"],
        runs[1]["pulled"],
        runs[1]["created"],
        runs[1]["failed"],
        runs[1]["error"],
    ) == ("failed", 5, 3, 1, "1 条失败")
    assert runs[1]["instance"] == ledger.instance
    assert len(ledger.recent_runs()) == 3 and len(ledger.recent_runs(limit=1, offset=1)) == 1


def test_a_run_left_running_is_closed_as_crashed_when_its_pipeline_starts_again(ledger: Ledger) -> None:
    """Starting a run (under the pipeline's lease) closes that pipeline's runs still 'running' — their
    process died — as 'crashed' with a note; other pipelines' runs are left alone."""
    dead = ledger.start_run("district-penalties")
    other = ledger.start_run("district-inspections")
    new = ledger.start_run("district-penalties")
    by_id = {r["run_id"]: r for r in ledger.recent_runs()}
    assert by_id[dead]["status"] == "crashed" and by_id[dead]["finished_at"] is not None
    assert "进程在运行中终止" in by_id[dead]["error"]
    assert by_id[new]["status"] == by_id[other]["status"] == "running"


def test_page_rows_written_by_the_driver_read_back_and_compare_like_sqlalchemy_rows(ledger: Ledger) -> None:
    """``commit_page`` writes through the driver's executemany: dates and times must be stored exactly
    as SQLAlchemy stores them (on SQLite they are text, compared as text by every query)."""
    from sqlalchemy import insert, select

    from sync.ledger.schema import records

    ledger.commit_page(pipeline="p", run_id="r", snapshots=[snap("A1")], outcomes=[ok("A1")], cursor=None)
    with ledger.engine.begin() as conn:  # the same snapshot, written by SQLAlchemy itself
        row = dict(snap("B1").__dict__, first_seen=datetime(2025, 3, 1), last_seen=datetime(2025, 3, 1))
        conn.execute(insert(records).values(row))
        got = {
            r.source_id: r
            for r in conn.execute(
                select(records.c.source_id, records.c.event_date, records.c.source_updated_at).where(
                    records.c.source_updated_at == datetime(2025, 3, 1, 9, 0),
                    records.c.event_date >= date(2025, 3, 1),
                )
            )
        }
        if ledger.engine.dialect.name == "sqlite":
            from sqlalchemy import text

            raw: dict[str, object] = dict(
                conn.execute(text("select source_id, source_updated_at from records")).all()
            )
            assert raw["A1"] == raw["B1"]
    assert set(got) == {"A1", "B1"}
    assert got["A1"].event_date == date(2025, 3, 1)
    assert got["A1"].source_updated_at == datetime(2025, 3, 1, 9, 0)
    delivery = ledger.deliveries_for("district", "penalty", ["A1"])[("A1", "municipal")]
    assert (delivery.target_id, delivery.payload_hash, delivery.state) == ("T-A1", "p-A1", "delivered")
