"""Bad input through the daemon: every kind of bad record a real system sends fails clearly (naming the
field) or is normalised correctly, and everything else still flows."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

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


GBK_NAME = "滨海化工有限公司".encode("gbk")  # what a system that is not UTF-8 sends


def test_garbage_in_the_source_pages_fails_only_those_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items that are not JSON objects, a record whose bytes are not UTF-8 and HTTP 200 answers that are
    an HTML login page, all from the district: each garbage item is one failure saying what it is, the
    HTML pages are retried, and every other record arrives once."""
    with make_stack(tmp_path, monkeypatch, inspections=60, penalties=20) as stack:
        insp = [r for r in stack.district.records("inspections") if r["status"] == "submitted"]
        at = insp[len(insp) // 2]["updated_at"]  # mid-window: records before and after it
        for item_id, body in (("RAW-STR", b'"oops"'), ("RAW-LIST", b"[1, 2]"), ("RAW-NULL", b"null")):
            stack.district.add_raw_item("inspections", item_id, at, body)
        gbk = variant(insp[0], "NON-UTF8", started_at="2025-03-03 09:00:00", ended_at="2025-03-03 10:00:00")
        gbk["updated_at"] = at
        gbk["enterprise"]["name"] = "@@NAME@@"
        body = json.dumps(gbk, ensure_ascii=False).encode().replace(b"@@NAME@@", GBK_NAME)
        stack.district.add_raw_item("inspections", "NON-UTF8", at, body)
        config = yaml.safe_load(stack.config_path.read_text(encoding="utf-8"))
        for pipeline in config["pipelines"]:
            pipeline["batch_size"] = 10  # many pages: garbage at a page edge, many HTML answers
        stack.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        stack.district.faults.update(html_200_rate=0.3, seed=11)

        for _ in range(6):  # a pull that met only HTML pages ends the run; the next one carries on
            results = stack.run()
            if all(c.status in ("ok", "failed") for c in results.values()):
                break
        assert all(c.status in ("ok", "failed") for c in results.values()), {
            n: c.error for n, c in results.items()
        }
        assert stack.district.faults.stats()["faults"].get("html200", 0) > 0, stack.district.faults.stats()

        app = stack.app()
        try:
            rows, _total = app.ledger.query_failures(state="unresolved", limit=100)
        finally:
            app.close()
        not_objects = {r["source_id"]: r["message"] for r in rows if r["source_id"].startswith("?")}
        assert len(not_objects) == 3, not_objects
        assert all("应为 JSON 对象" in m for m in not_objects.values()), not_objects
        assert any("字符串" in m and "oops" in m for m in not_objects.values())
        by_id = {r["source_id"]: r for r in rows}
        assert "enterprise.name" in by_id["NON-UTF8"]["message"]
        assert "UTF-8" in by_id["NON-UTF8"]["message"]
        assert set(by_id) == {"NON-UTF8", *not_objects}

        expected = {
            r["id"]
            for kind in ("inspections", "penalties")
            for r in stack.district.records(kind)
            if r["status"] not in ("draft", "filed")
        }
        city = {**stack.ours("jcjl"), **stack.ours("xzcf")}
        assert set(city) == expected
        assert all(len(v) == 1 for v in city.values())


def test_hostile_login_input_is_answered_clearly(tmp_path: Path) -> None:
    """Bad input at the console's login (issue 15): a NUL in the name, a 10 000-character name, a 60 KB
    password, a garbage X-Forwarded-For, a case-changed name: each gets a clear Chinese answer (401, or
    429 once the address's limit is reached), never a 500, and nobody is logged in by it."""
    import re

    import httpx

    from console.app import create_app
    from console.peers import SERVER_OPTIONS
    from console.users import add_user
    from simulators.server import serving
    from sync.ledger import Ledger

    ledger = Ledger.connect(f"sqlite:///{tmp_path}/ledger.db")
    add_user(ledger, "admin", "a long enough passphrase", "admin")
    cases = [
        ({"username": "\x00admin", "password": "a long enough passphrase"}, {}),
        ({"username": "A" * 10_000, "password": "x"}, {}),
        ({"username": "admin", "password": "p" * 60_000}, {}),
        ({"username": "admin", "password": "wrong"}, {"X-Forwarded-For": "<script>, 999.1.1.1, ::ffff:1"}),
        ({"username": "ADMIN", "password": "wrong"}, {"X-Forwarded-Proto": "gopher"}),
    ]
    try:
        with serving(create_app(ledger), **SERVER_OPTIONS) as server, httpx.Client(base_url=server.url) as c:
            for form, headers in cases:
                token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
                r = c.post("/login", data={**form, "csrf": token}, headers=headers)
                assert r.status_code in (401, 429), (form["username"][:10], r.status_code)
                assert "用户名或密码错误" in r.text or "登录尝试过多" in r.text
                assert "set-cookie" not in r.headers or "zhifa_console" in r.headers["set-cookie"]
            assert c.get("/").status_code == 303  # still not logged in
        assert all("<script>" not in str(a["detail"]) for a in ledger.audit())
    finally:
        ledger.close()
