"""Account changes in the ledger, on SQLite and on PostgreSQL: audited in the same transaction, and
never leaving the console without an enabled administrator, even when two are demoted at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from connectors.contract.states import AuditAction
from sync.ledger import Ledger
from sync.ledger.users import LastActiveAdmin


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.connect(ledger_url)
    for name in ("a", "b"):
        led.insert_user(name, "hash", "admin")
    led.insert_user("op", "hash", "operator", actor="a", detail="op (角色: 操作员)")
    yield led
    led.close()


def _demote(ledger: Ledger, name: str, actor: str) -> bool:
    return ledger.change_user(
        name, {"role": "operator"}, actor=actor, action=AuditAction.USER_ROLE, detail=name, keep_an_admin=True
    )


def test_a_change_and_its_audit_entry_are_written_together(ledger: Ledger) -> None:
    """The role changes, the entry names who and what; an unknown account changes nothing, audits nothing."""
    assert _demote(ledger, "b", "a")
    row = ledger.user_row("b")
    assert row is not None and row["role"] == "operator"
    assert not _demote(ledger, "nobody", "a")
    entries = [(e["actor"], e["action"], e["detail"]) for e in ledger.audit()]
    assert entries == [("a", "user_role", "b"), ("a", "user_create", "op (角色: 操作员)")]


def test_the_last_enabled_admin_is_kept_and_nothing_is_audited(ledger: Ledger) -> None:
    """Disabling or demoting the only enabled admin is rolled back; the session version is untouched."""
    assert _demote(ledger, "b", "a")
    for values in ({"role": "viewer"}, {"disabled": True}):
        with pytest.raises(LastActiveAdmin):
            ledger.change_user(
                "a",
                values,
                actor="a",
                action=AuditAction.USER_DISABLE,
                detail="a",
                end_sessions=True,
                keep_an_admin=True,
            )
    row = ledger.user_row("a")
    assert row is not None and row["role"] == "admin" and not row["disabled"] and row["session_version"] == 0
    assert [e["action"] for e in ledger.audit()].count("user_disable") == 0


def test_two_admins_demoting_each_other_at_once_leave_one(ledger: Ledger) -> None:
    """Both changes race past the check together; exactly one wins and one admin remains."""
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def demote(name: str, actor: str) -> None:
        start.wait()
        try:
            results[name] = _demote(ledger, name, actor)
        except LastActiveAdmin as exc:
            results[name] = exc

    threads = [threading.Thread(target=demote, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(type(r).__name__ for r in results.values()) == ["LastActiveAdmin", "bool"]
    roles = [r["role"] for r in ledger.user_rows() if r["username"] in ("a", "b")]
    assert roles.count("admin") == 1


def test_last_logins_come_from_the_audit_log(ledger: Ledger) -> None:
    """The newest login per account; an account that never logged in has none."""
    ledger.add_audit("a", AuditAction.LOGIN, "来自 127.0.0.1")
    ledger.add_audit("a", AuditAction.LOGOUT)
    assert set(ledger.last_logins()) == {"a"}
