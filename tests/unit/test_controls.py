"""Operators' controls of a pipeline, in the ledger: paused, a run asked for, a re-read from a date.
On SQLite and PostgreSQL, by two instances sharing one ledger."""

from __future__ import annotations

from datetime import datetime

from connectors.paging import Position
from sync.ledger import Ledger


def test_pause_survives_a_new_process_and_is_audited(ledger_url: str) -> None:
    one = Ledger.connect(ledger_url)
    one.set_paused("district-inspections", True, "ops1", "市系统维护至周五")
    two = Ledger.connect(ledger_url)  # another instance, or the same one after a restart
    c = two.control("district-inspections")
    assert (c.paused, c.reason, c.changed_by) == (True, "市系统维护至周五", "ops1")
    assert not two.control("district-penalties").paused
    two.set_paused("district-inspections", False, "ops2")
    assert not one.control("district-inspections").paused
    actions = [(e["actor"], e["action"]) for e in one.audit(limit=5)]
    assert actions[:2] == [("ops2", "pipeline_resume"), ("ops1", "pipeline_pause")]
    one.close()
    two.close()


def test_a_requested_run_is_claimed_by_exactly_one_instance(ledger_url: str) -> None:
    one, two = Ledger.connect(ledger_url), Ledger.connect(ledger_url)
    one.set_paused("p", True, "ops1")
    one.request_run("p", "ops1")
    assert one.control("p").paused, "asking for a run does not resume a pipeline"
    claims = one.claim_run_requests() + two.claim_run_requests()
    assert claims == ["p"]
    assert one.claim_run_requests() == [] and two.claim_run_requests() == []
    one.close()
    two.close()


def test_a_reread_moves_the_cursor_back_once(ledger_url: str) -> None:
    ledger = Ledger.connect(ledger_url)
    ledger.set_cursor("p", Position(datetime(2026, 11, 30, 12, 0, 0), frozenset({"JC1"})))
    since = datetime(2026, 11, 1)
    ledger.request_reread("p", since, "ops1")
    asked = ledger.control("p").reread_from
    assert asked == since
    assert ledger.apply_reread("p", Position(since), asked)
    assert ledger.get_cursor("p") == {"v": 1, "ts": "2026-11-01 00:00:00", "ids": []}
    assert ledger.control("p").reread_from is None
    assert not ledger.apply_reread("p", Position(since), asked), "applied twice"
    ledger.close()
