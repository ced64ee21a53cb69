"""Bad input through the daemon: every kind of bad record a real system sends fails clearly (naming the
field) or is normalised correctly, and everything else still flows."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, make_stack

HOSTILE = "<script>alert(1)</script>' OR 1=1; DROP TABLE records;--"


def variant(base: dict[str, Any], new_id: str, **changes: Any) -> dict[str, Any]:
    rec = copy.deepcopy(base)
    rec["id"] = new_id
    for key, value in changes.items():
        target = rec
        *path, last = key.split("__")
        for part in path:
            target = target[part]
        if value is KeyError:
            target.pop(last, None)
        else:
            target[last] = value
    return rec


def corpus(stack: Stack) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(record id → field the failure must name) and (record id → municipal fields it must arrive with)."""
    insp = next(r for r in stack.district.records("inspections") if r["status"] == "submitted")
    pen = next(
        r
        for r in stack.district.records("penalties")
        if r["status"] == "decided" and r["party"]["type"] == "1" and "03" in r["penalty_types"]
    )
    person = next(r for r in stack.district.records("penalties") if r["party"]["type"] == "2")
    must_fail = {
        "BAD-USCC": (
            "inspections",
            variant(
                insp,
                "BAD-USCC",
                enterprise__uscc=insp["enterprise"]["uscc"][:-1] + "0"
                if not insp["enterprise"]["uscc"].endswith("0")
                else insp["enterprise"]["uscc"][:-1] + "1",
            ),
            "enterprise.uscc",
        ),
        "BAD-ID": (
            "penalties",
            variant(
                person,
                "BAD-ID",
                party__id_no=person["party"]["id_no"][:-1]
                + ("0" if person["party"]["id_no"][-1] != "0" else "1"),
            ),
            "party",
        ),
        "NO-ITEM": ("inspections", variant(insp, "NO-ITEM", item_code=KeyError), "item_code"),
        "NO-FACTS": ("penalties", variant(pen, "NO-FACTS", facts=KeyError), "facts"),
        "WAN-YUAN": ("penalties", variant(pen, "WAN-YUAN", fine_yuan="3万元"), "fine_yuan"),
        "SLASH-DATE": ("penalties", variant(pen, "SLASH-DATE", decided_on="2025/06/20"), "decided_on"),
        "LONG-TEXT": ("penalties", variant(pen, "LONG-TEXT", facts="经查" * 1500), "facts"),
        "ONE-OFFICER": (
            "inspections",
            variant(insp, "ONE-OFFICER", officers=insp["officers"][:1]),
            "officers",
        ),
        "ZERO-FINE": ("penalties", variant(pen, "ZERO-FINE", fine_yuan="0.00"), "fine_yuan"),
        "HAZARDS-TEXT": ("inspections", variant(insp, "HAZARDS-TEXT", hazard_count="三"), "hazard_count"),
    }
    must_arrive = {
        "COMMA-AMOUNT": (
            "penalties",
            variant(pen, "COMMA-AMOUNT", fine_yuan="30,000.00", decision_no=pen["decision_no"] + "A"),
            {"fkje": "30000.00"},
        ),
        "FULLWIDTH": (
            "penalties",
            variant(pen, "FULLWIDTH", fine_yuan="１２３４.５６", decision_no=pen["decision_no"] + "B"),
            {"fkje": "1234.56"},
        ),
        "HOSTILE": (
            "inspections",
            variant(
                insp,
                "HOSTILE",
                enterprise__name=HOSTILE,
                started_at="2025-03-01 09:00:00",
                ended_at="2025-03-01 10:00:00",
            ),
            {"qymc": HOSTILE},
        ),
        "SPACES": (
            "inspections",
            variant(
                insp,
                "SPACES",
                enterprise__name="  天津滨港化工有限公司  ",
                started_at="2025-03-02 09:00:00",
                ended_at="2025-03-02 10:00:00",
            ),
            {"qymc": "天津滨港化工有限公司"},
        ),
    }
    for kind, rec, _ in must_fail.values():
        stack.district.upsert(kind, rec)
    for kind, rec, _ in must_arrive.values():
        stack.district.upsert(kind, rec)
    return {k: v[2] for k, v in must_fail.items()}, {k: v[2] for k, v in must_arrive.items()}


def test_bad_records_fail_clearly_and_the_rest_flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each bad record is a failure naming its field; normalisable ones arrive right; all others arrive once."""
    with make_stack(tmp_path, monkeypatch, inspections=60, penalties=20) as stack:
        must_fail, must_arrive = corpus(stack)
        stack.run()
        app = stack.app()
        try:
            rows, _total = app.ledger.query_failures(state="unresolved", limit=100)
        finally:
            app.close()
        by_id = {r["source_id"]: r for r in rows}
        assert set(by_id) == set(must_fail), f"unexpected failures: {set(by_id) ^ set(must_fail)}"
        for rid, field in must_fail.items():
            assert field in by_id[rid]["message"], (rid, by_id[rid]["message"])
            assert by_id[rid]["error_kind"] == "validation"
        city = {
            **{k: v[0] for k, v in stack.ours("jcjl").items()},
            **{k: v[0] for k, v in stack.ours("xzcf").items()},
        }
        for rid, fields in must_arrive.items():
            for name, value in fields.items():
                assert str(city[rid][name]) == value, (rid, name, city[rid][name])
        expected = {
            r["id"]
            for kind in ("inspections", "penalties")
            for r in stack.district.records(kind)
            if r["status"] not in ("draft", "filed")
        } - set(must_fail)
        assert set(city) == expected
        assert all(len(v) == 1 for kind in ("jcjl", "xzcf") for v in stack.ours(kind).values())
