"""The engine (``sync.pipeline.Pipeline``) over in-memory fakes of a source and its targets, with the real
ledger and the shipped mapping tables: the order pages commit in, retries, fatal errors, invalid and
unmappable records, re-reads, withdrawals, and a page transaction that fails."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from connectors.contract.errors import FatalConnectorError, RetriableError, TargetRejected
from connectors.contract.roles import Capabilities
from connectors.contract.states import Action, DeliveryState, ErrorKind, FailureState, RunStatus, Stage
from sync.config import PipelineConfig
from sync.pipeline import Pipeline
from tests.support.fakes import (
    FakeBatchTarget,
    FakeFeedbackTarget,
    FakeSource,
    FakeTarget,
    SpyLedger,
)
from tests.support.records import USCC, enterprise, inspection
from tests.support.tables import Tables

NAME = "district-inspections"


@pytest.fixture
def tables(tmp_path: Path) -> Tables:
    return Tables(tmp_path / "mappings")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SpyLedger]:
    """A ledger in an SQLite file."""
    led = SpyLedger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


@pytest.fixture
def any_ledger(ledger_url: str) -> Iterator[SpyLedger]:
    """A ledger on SQLite and on PostgreSQL."""
    led = SpyLedger.open(ledger_url)
    yield led
    led.close()


def pipeline(
    ledger: SpyLedger, source: FakeSource, *targets: FakeTarget, tables: Tables, **cfg: Any
) -> Pipeline:
    config = PipelineConfig(
        name=NAME,
        source=source.name,
        kind="inspection",
        targets=[t.name for t in targets],
        batch_size=cfg.pop("batch_size", 2),
        lag_s=0,
        **cfg,
    )
    return Pipeline(config, source, {t.name: t for t in targets}, ledger, tables)


def emit(source: FakeSource, n: int, start: int = 1) -> list[str]:
    ids = [f"JC{i}" for i in range(start, start + n)]
    source.emit(*(inspection(i, minute=k) for k, i in enumerate(ids)))
    return ids


def failures(ledger: SpyLedger, **filters: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Failures by (record id, target)."""
    rows, _ = ledger.query_failures(pipeline=NAME, limit=1000, **filters)
    return {(r["source_id"], r["target"]): r for r in rows}


def states(ledger: SpyLedger, ids: list[str]) -> dict[tuple[str, str], DeliveryState]:
    return {k: p.state for k, p in ledger.deliveries_for("district", "inspection", ids).items()}


def offset(ledger: SpyLedger) -> int | None:
    saved = ledger.get_cursor(NAME)
    return int(saved["offset"]) if saved else None


# -- cursor order ----------------------------------------------------------------------------------
def test_pages_commit_in_order_when_a_later_page_finishes_first(
    any_ledger: SpyLedger, tables: Tables
) -> None:
    """Page 2's pushes answering before page 1's: pages still commit in order, the cursor advancing page by page."""
    source, target = FakeSource(), FakeTarget(concurrency=4)
    ids = emit(source, 6)  # three pages of two
    target.hold("JC1", until=target.done("JC3"))  # page 1 answers only once page 2 has

    counts = pipeline(any_ledger, source, target, tables=tables).run()

    assert counts.status == RunStatus.OK and counts.created == 6
    assert target.finished.index("JC3") < target.finished.index("JC1")  # the overtaking did happen
    assert [(c.cursor or {}).get("offset") for c in any_ledger.commits] == [2, 4, 6]
    assert [sorted(c.ids) for c in any_ledger.commits] == [ids[0:2], ids[2:4], ids[4:6]]
    assert offset(any_ledger) == 6


def test_a_fatal_error_on_an_earlier_page_keeps_the_cursor_before_it(
    ledger: SpyLedger, tables: Tables
) -> None:
    """Page 1 refused after page 2 finished: both pages' outcomes are written, the cursor moves past neither."""
    source, target = FakeSource(), FakeTarget(concurrency=4)
    emit(source, 4)
    target.hold("JC1", until=target.done("JC3"))
    target.fail("JC1", FatalConnectorError("认证失败: 应用密钥不正确", system="municipal"))

    counts = pipeline(ledger, source, target, tables=tables).run()

    assert counts.status == RunStatus.ERROR
    assert [c.cursor for c in ledger.commits] == [None, None]
    assert offset(ledger) is None
    assert states(ledger, ["JC3", "JC4"]) == {
        ("JC3", "municipal"): DeliveryState.DELIVERED,
        ("JC4", "municipal"): DeliveryState.DELIVERED,
    }
    target.heal()
    assert pipeline(ledger, source, target, tables=tables).run().status == RunStatus.OK
    assert source.pulls[-1] is None  # read again from the start: nothing was lost
    assert offset(ledger) == 4 and len(target.pushed("JC3")) == 1  # and page 2 was not pushed twice


def test_pushes_to_a_target_run_concurrently_up_to_its_limit(ledger: SpyLedger, tables: Tables) -> None:
    """A target with concurrency 3 gets three calls at once, never more."""
    source, target = FakeSource(), FakeTarget(concurrency=3)
    ids = emit(source, 9)
    crowd = target.hold_until_concurrent(3)
    for record_id in ids:
        target.hold(record_id, until=crowd)

    counts = pipeline(ledger, source, target, tables=tables, batch_size=9).run()

    assert counts.created == 9
    assert target.max_in_flight == 3


# -- fatal errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("target_type", [FakeTarget, FakeBatchTarget])
def test_a_fatal_error_stops_the_run_and_keeps_the_cursor_before_its_page(
    ledger: SpyLedger, tables: Tables, target_type: type[FakeTarget]
) -> None:
    """Credentials refused on page 2: status error, page 2's failures written, the cursor at page 1's end,
    nothing after the pages in hand pushed; the next run starts again at page 2."""
    source = FakeSource()
    target = target_type("municipal", concurrency=1)
    emit(source, 8)
    target.fail("JC3", FatalConnectorError("认证失败: 应用密钥不正确", system="municipal"))

    counts = pipeline(ledger, source, target, tables=tables).run()

    assert counts.status == RunStatus.ERROR and "应用密钥不正确" in (counts.error or "")
    assert ledger.recent_runs(NAME)[0]["status"] == RunStatus.ERROR
    assert offset(ledger) == 2
    refused = failures(ledger)[("JC3", "municipal")]
    assert (refused["error_kind"], refused["stage"]) == (ErrorKind.AUTH, Stage.PUSH)
    assert not target.pushed("JC7") and not target.pushed("JC8")

    target.heal()
    assert pipeline(ledger, source, target, tables=tables).run().status == RunStatus.OK
    assert source.pulls[-1] == {"v": 1, "offset": 2}
    assert offset(ledger) == 8
    assert failures(ledger)[("JC3", "municipal")]["state"] == FailureState.RESOLVED
    assert sorted(target.store) == [f"JC{i}" for i in range(1, 9)]


# -- the retry-only path ---------------------------------------------------------------------------
def test_retry_only_run_retries_a_timeout_without_pulling(any_ledger: SpyLedger, tables: Tables) -> None:
    """``run(retries_only=True)`` pushes a timed-out record again, told it may be there already, and reads nothing new."""
    source, target = FakeSource(), FakeTarget()
    emit(source, 2)
    target.fail("JC1", RetriableError("连接超时", system="municipal"), times=1)
    first = pipeline(any_ledger, source, target, tables=tables).run()
    assert (
        first.status == RunStatus.FAILED
        and failures(any_ledger)[("JC1", "municipal")]["error_kind"] == "transient"
    )
    emit(source, 1, start=3)  # a change the retry-only run must leave for the next full run

    counts = pipeline(any_ledger, source, target, tables=tables).run(retries_only=True)

    assert counts.status == RunStatus.OK and (counts.retried, counts.created) == (1, 1)
    prior = target.pushed("JC1")[-1].prior
    assert prior is not None and prior.state == DeliveryState.ATTEMPTED
    assert len(source.pulls) == 1 and not target.pushed("JC3")
    assert offset(any_ledger) == 2
    assert failures(any_ledger)[("JC1", "municipal")]["state"] == FailureState.RESOLVED


def test_transient_failures_are_retried_only_within_their_budget(ledger: SpyLedger, tables: Tables) -> None:
    """A record that keeps timing out is retried by later runs until ``auto_retry_attempts``, then left alone."""
    source, target = FakeSource(), FakeTarget()
    emit(source, 1)
    target.fail("JC1", RetriableError("连接超时", system="municipal"))
    pipe = pipeline(ledger, source, target, tables=tables, auto_retry_attempts=2)
    pipe.run()
    assert pipe.run(retries_only=True).retried == 1  # attempt 2

    counts = pipe.run(retries_only=True)

    assert counts.retried == 0 and len(target.pushed("JC1")) == 2
    assert failures(ledger)[("JC1", "municipal")]["attempts"] == 2


def test_parked_records_are_retried_only_after_the_tables_change(
    any_ledger: SpyLedger, tables: Tables
) -> None:
    """A retry-only run leaves a parked record alone while the tables are the same, and replays it once they change."""
    source, target = FakeSource(), FakeTarget()
    source.emit(inspection("JC1", item_code="QZJC-9999"))
    pipe = pipeline(any_ledger, source, target, tables=tables)
    assert pipe.run().failed == 1
    assert pipe.run(retries_only=True).retried == 0

    tables.set_item("QZJC-9999", municipal="120000-AQJC-9999")
    counts = pipe.run(retries_only=True)

    assert (counts.retried, counts.created) == (1, 1)
    assert target.store["JC1"]["item"] == "120000-AQJC-9999"
    assert len(source.pulls) == 1


def test_a_refused_record_is_retried_only_when_an_operator_asks(
    any_ledger: SpyLedger, tables: Tables
) -> None:
    """A record the target refused is not retried on its own; an operator's retry queues it for the next run."""
    source, target = FakeSource(), FakeTarget()
    emit(source, 1)
    target.fail(
        "JC1", TargetRejected("E2001 企业名称与信用代码不符", system="municipal", code="E2001"), times=1
    )
    pipe = pipeline(any_ledger, source, target, tables=tables)
    pipe.run()
    assert pipe.run(retries_only=True).retried == 0 and len(target.pushed("JC1")) == 1

    assert any_ledger.mark_retry(any_ledger.failure_ids(pipeline=NAME), "operator") == 1
    counts = pipe.run(retries_only=True)

    assert (counts.retried, counts.created) == (1, 1)
    assert failures(any_ledger)[("JC1", "municipal")]["state"] == FailureState.RESOLVED


# -- invalid, unmappable, unchanged, withdrawn -----------------------------------------------------
def test_an_invalid_record_fails_for_every_target_and_the_others_go_on(
    ledger: SpyLedger, tables: Tables
) -> None:
    """A bad USCC and a non-object item: a validation failure on each target, nothing pushed, the rest delivered."""
    source = FakeSource()
    municipal, hlwjg = FakeTarget("municipal"), FakeTarget("hlwjg", item_column="hlwjg_item_code")
    broken = USCC[:-1] + "D"  # the wrong check character
    bad = inspection("BAD1", enterprise=enterprise(uscc=broken))
    source.emit(inspection("JC1"), bad, "not a record", inspection("JC2"))

    counts = pipeline(ledger, source, municipal, hlwjg, tables=tables, batch_size=4).run()

    assert counts.status == RunStatus.FAILED
    assert sorted(municipal.store) == sorted(hlwjg.store) == ["JC1", "JC2"]
    found = failures(ledger)
    for target in ("municipal", "hlwjg"):
        row = found[("BAD1", target)]
        assert (row["stage"], row["error_kind"]) == (Stage.VALIDATE, ErrorKind.VALIDATION)
        assert "enterprise.uscc" in row["message"] and row["party_name"] == "滨海化工有限公司"
    garbage = {k for k in found if k[0].startswith("?")}
    assert {t for _, t in garbage} == {"municipal", "hlwjg"}
    kept = ledger.load_records("district", "inspection", ["BAD1"])
    assert f'"{broken}"' in kept["BAD1"]  # the raw record, as read, for the operator


def test_a_missing_mapping_parks_the_record_naming_table_key_and_column(
    ledger: SpyLedger, tables: Tables
) -> None:
    """A blank cell parks the record on that target only, with the tables' version and the table, key and column."""
    tables.set_item("QZJC-9998", municipal="120000-AQJC-9998", hlwjg="")
    source = FakeSource()
    municipal, hlwjg = FakeTarget("municipal"), FakeTarget("hlwjg", item_column="hlwjg_item_code")
    source.emit(inspection("JC1", item_code="QZJC-9998"))

    pipeline(ledger, source, municipal, hlwjg, tables=tables).run()

    parked = failures(ledger)[("JC1", "hlwjg")]
    assert parked["state"] == FailureState.PARKED and parked["stage"] == Stage.MAP
    assert parked["mapping_version"] == tables.current.version
    assert (parked["map_table"], parked["map_key"], parked["map_column"]) == (
        "items.csv",
        "QZJC-9998",
        "hlwjg_item_code",
    )
    assert not hlwjg.calls and list(municipal.store) == ["JC1"]


def test_parked_records_are_replayed_by_the_next_run_when_the_tables_change(
    ledger: SpyLedger, tables: Tables
) -> None:
    """Once the missing row is added, the next run delivers the parked record, though the source has nothing new."""
    source, target = FakeSource(), FakeTarget()
    source.emit(inspection("JC1", item_code="QZJC-9999"))
    pipe = pipeline(ledger, source, target, tables=tables)
    pipe.run()
    assert pipe.run().retried == 0 and not target.calls  # the same tables: left parked

    tables.set_item("QZJC-9999", municipal="120000-AQJC-9999")
    counts = pipe.run()

    assert (counts.retried, counts.created) == (1, 1)
    assert failures(ledger)[("JC1", "municipal")]["state"] == FailureState.RESOLVED


def test_a_record_read_again_unchanged_is_not_pushed_again(ledger: SpyLedger, tables: Tables) -> None:
    """The same record re-read is recorded unchanged without a call; a changed one is pushed as an update."""
    source, target = FakeSource(), FakeTarget()
    source.emit(inspection("JC1"))
    pipe = pipeline(ledger, source, target, tables=tables)
    pipe.run()
    source.emit(inspection("JC1", updated_at="2025-03-02 08:00:00"))  # touched, not changed

    again = pipe.run()

    assert again.unchanged == 1 and len(target.calls) == 1
    source.emit(inspection("JC1", result="2"))
    changed = pipe.run()
    assert changed.updated == 1 and len(target.calls) == 2
    assert target.calls[-1].prior is not None and target.calls[-1].prior.known


def test_a_withdrawal_before_delivery_follows_each_targets_capabilities(
    ledger: SpyLedger, tables: Tables
) -> None:
    """A record voided before it was ever delivered goes to a target with ``withdraw_unsent``, not to one without."""
    source = FakeSource()
    takes = FakeTarget("municipal", capabilities=Capabilities(withdraw_unsent=True))
    skips = FakeFeedbackTarget("hlwjg")
    assert not skips.capabilities.withdraw_unsent
    source.emit(inspection("JC1", status="void"))

    counts = pipeline(ledger, source, takes, skips, tables=tables).run()

    assert len(takes.pushed("JC1")) == 1 and takes.pushed("JC1")[0].record.withdrawn
    assert not skips.calls
    assert counts.by_target["hlwjg"] == {Action.SKIPPED: 1}


def test_a_withdrawal_after_delivery_reaches_every_target(ledger: SpyLedger, tables: Tables) -> None:
    """A record voided after delivery is taken back also where unsent withdrawals are not written."""
    source = FakeSource()
    municipal, hlwjg = FakeTarget("municipal"), FakeFeedbackTarget("hlwjg")
    source.emit(inspection("JC1"))
    pipe = pipeline(ledger, source, municipal, hlwjg, tables=tables)
    pipe.run()
    source.emit(inspection("JC1", status="void"))

    pipe.run()

    assert len(hlwjg.pushed("JC1")) == 2 and hlwjg.pushed("JC1")[-1].record.withdrawn
    assert "JC1" not in municipal.store and "JC1" not in hlwjg.store


# -- batch and feedback targets --------------------------------------------------------------------
def test_a_batch_target_gets_batches_of_its_size_and_a_record_error_stays_that_records(
    ledger: SpyLedger, tables: Tables
) -> None:
    """Batches of at most ``batch_size``; a record refused within a batch fails alone; a failed call fails its batch."""
    source, target = FakeSource(), FakeBatchTarget(batch_size=2)
    emit(source, 5)
    target.fail("JC2", TargetRejected("CF_WSH 格式错误", system="credit"))

    pipeline(ledger, source, target, tables=tables, batch_size=5).run()

    assert target.batches == [["JC1", "JC2"], ["JC3", "JC4"], ["JC5"]]
    assert sorted(target.store) == ["JC1", "JC3", "JC4", "JC5"]
    assert list(failures(ledger)) == [("JC2", "credit")]

    target.heal()
    target.everything = RetriableError("系统繁忙", system="credit")
    source.emit(inspection("JC6"), inspection("JC7"))
    pipeline(ledger, source, target, tables=tables, batch_size=5).run()
    found = failures(ledger)
    assert found[("JC6", "credit")]["error_kind"] == found[("JC7", "credit")]["error_kind"] == "transient"


def test_feedback_turns_sent_records_into_delivered_or_failed(ledger: SpyLedger, tables: Tables) -> None:
    """Rows written to a feedback target stay sent until its verdict: accepted → delivered, refused → a failure."""
    source, target = FakeSource(), FakeFeedbackTarget()
    emit(source, 2)
    pipe = pipeline(ledger, source, target, tables=tables)
    pipe.run()
    assert set(states(ledger, ["JC1", "JC2"]).values()) == {DeliveryState.SENT}
    target.verdict("JC1", ok=True)
    target.verdict("JC2", ok=False, message="CHECK_TYPE: 不在代码表中")

    pipe.run(retries_only=True)

    assert states(ledger, ["JC1", "JC2"]) == {
        ("JC1", "hlwjg"): DeliveryState.DELIVERED,
        ("JC2", "hlwjg"): DeliveryState.FAILED,
    }
    refused = failures(ledger)[("JC2", "hlwjg")]
    assert refused["stage"] == Stage.FEEDBACK and "CHECK_TYPE" in refused["message"]
    pipe.run(retries_only=True)
    assert target.polls == [None, "0", "2"]


# -- a page transaction that fails -----------------------------------------------------------------
def test_a_page_whose_commit_fails_is_not_half_written_and_is_redone(
    any_ledger: SpyLedger, tables: Tables
) -> None:
    """The ledger fails page 2's transaction: none of page 2 is kept, the run errors, the next run redoes
    exactly from page 2 and the target absorbs the repeat (one copy of each record)."""
    source, target = FakeSource(), FakeTarget(concurrency=1)
    emit(source, 6)
    target.fail("JC3", TargetRejected("E2001 企业名称与信用代码不符", system="municipal"), times=1)
    any_ledger.fail_cursor = lambda cursor: cursor["offset"] == 4

    with pytest.raises(OperationalError):
        pipeline(any_ledger, source, target, tables=tables).run()

    assert any_ledger.recent_runs(NAME)[0]["status"] == RunStatus.ERROR
    assert offset(any_ledger) == 2
    assert any_ledger.load_records("district", "inspection", ["JC3", "JC4"]) == {}
    assert states(any_ledger, ["JC3", "JC4"]) == {}
    assert not failures(any_ledger)  # JC3's refusal was part of the lost page

    counts = pipeline(any_ledger, source, target, tables=tables).run()

    assert counts.status == RunStatus.OK
    assert source.pulls[-1] == {"v": 1, "offset": 2}
    assert [len(target.pushed(f"JC{i}")) for i in range(1, 7)] == [1, 1, 2, 2, 1, 1]
    # the lost page's pushes left intents: the redo tells the target they may be there already
    redone = [c for c in target.calls if c.record.id in ("JC3", "JC4")][2:]
    assert [c.prior.state if c.prior else None for c in redone] == [DeliveryState.ATTEMPTED] * 2
    assert sorted(target.store) == [f"JC{i}" for i in range(1, 7)]
    assert offset(any_ledger) == 6


def test_a_run_abandoned_as_stuck_commits_nothing_more(ledger: SpyLedger, tables: Tables) -> None:
    """Abandoned while a push hangs: the page in hand is not committed, the cursor stays, the run stops;
    the next run reads the page again and delivers it (the write-ahead intent made that safe)."""
    from sync.progress import Progress

    source, target = FakeSource(), FakeTarget(concurrency=1)
    ids = emit(source, 4)
    release = target.hold(ids[0])
    progress = Progress()
    p = pipeline(ledger, source, target, tables=tables)
    runner = threading.Thread(target=lambda: p.run(progress=progress))
    runner.start()
    assert _wait(lambda: bool(target.calls)), "the first push never started"
    beat = progress.last
    progress.abandon()  # what the service does after stuck_after_s without a beat
    release.set()
    runner.join(10)
    assert progress.last >= beat and not runner.is_alive()
    assert ledger.commits == [] and ledger.get_cursor(NAME) is None
    counts = pipeline(ledger, source, target, tables=tables).run()
    assert counts.status == RunStatus.OK and set(target.store) == set(ids)


def _wait(predicate: Callable[[], bool], timeout: float = 5) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        done.wait(0.01)
    return predicate()
