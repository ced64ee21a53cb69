"""Conformance of the district simulator with ``docs/interfaces/district.md``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from simulators import datagen
from simulators.district import DISTRICT_PASSWORD, DISTRICT_USER, DistrictState, create_app
from simulators.server import serving
from simulators.simkit import SimClock
from tests.support.checks import found

NOW = "2025-06-01 12:00:00"
USCC = "91120116MA05K1XY35"  # the doc example ends in B, whose check character is wrong


@dataclass
class Sim:
    state: DistrictState
    clock: SimClock
    client: httpx.Client

    def login(self) -> str:
        r = self.client.post(
            "/api/auth/token", json={"username": DISTRICT_USER, "password": DISTRICT_PASSWORD}
        )
        token = r.json()["data"]["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"
        return str(token)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def window(self, start: str, end: str, page: int = 1, size: int = 200) -> dict[str, Any]:
        r = self.get("/api/v1/inspections", start_time=start, end_time=end, page=page, page_size=size)
        assert r.status_code == 200 and r.json()["code"] == 0, r.text
        return dict(r.json()["data"])


@pytest.fixture
def sim() -> Iterator[Sim]:
    clock = SimClock()
    clock.freeze(NOW)
    state = DistrictState(clock=clock)
    with serving(create_app(state)) as srv, httpx.Client(base_url=srv.url, timeout=5) as client:
        s = Sim(state, clock, client)
        s.login()
        yield s


def _inspection(rid: str, updated_at: str, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": rid, "origin": "district", "status": "submitted",
        "enterprise": {"name": "天津滨港化工有限公司", "uscc": USCC, "address": "天津市滨海新区黄海路1号",
                       "region_code": "120116"},
        "item_code": "QZJC-0005", "inspection_type": "01", "plan_id": None, "started_at": "2025-06-01 09:30:00",
        "ended_at": "2025-06-01 11:00:00", "officers": ["u1001", "u1002"], "result": "1", "hazard_count": 0,
        "major_hazard_count": 0, "document_no": f"（滨海）应急检记〔2025〕{rid[-3:]}号", "dept_code": "BH-ZFDD-01",
        "updated_at": updated_at,
    }  # fmt: skip
    rec.update(extra)
    return rec


def _external(source_id: str, **extra: Any) -> dict[str, Any]:
    body = _inspection("x", "x", origin="municipal", source_id=source_id)
    del body["id"], body["updated_at"]
    body["officers"] = ["u1001", {"cert_no": "12000020001", "name": "赵志刚"}]
    body.update(extra)
    return body


def test_wrong_credentials_answer_200_with_40100(sim: Sim) -> None:
    """Bad login is HTTP 200 with code 40100."""
    r = sim.client.post("/api/auth/token", json={"username": "sync", "password": "nope"})
    assert r.status_code == 200 and r.json() == {"code": 40100, "msg": "用户名或密码错误", "data": None}


def test_window_bounds_are_inclusive_and_sorted(sim: Sim) -> None:
    """Both window bounds are inclusive; items sort by updated_at then id."""
    for rid, ts in [("JC2025000001", "2025-06-01 09:59:59"), ("JC2025000003", "2025-06-01 10:00:00"),
                    ("JC2025000002", "2025-06-01 10:00:00"), ("JC2025000004", "2025-06-01 10:00:10"),
                    ("JC2025000005", "2025-06-01 10:00:11")]:  # fmt: skip
        sim.state.upsert_inspection(_inspection(rid, ts))
    data = sim.window("2025-06-01 10:00:00", "2025-06-01 10:00:10")
    assert data["total"] == 3
    assert [i["id"] for i in data["items"]] == ["JC2025000002", "JC2025000003", "JC2025000004"]


def test_records_later_than_platform_clock_are_hidden(sim: Sim) -> None:
    """A window never returns records stamped after the platform's clock."""
    sim.state.upsert_inspection(_inspection("JC2025000001", "2025-06-01 12:00:01"))
    assert sim.window("2025-06-01 00:00:00", "2025-06-02 00:00:00")["total"] == 0
    sim.clock.advance(1)
    assert sim.window("2025-06-01 00:00:00", "2025-06-02 00:00:00")["total"] == 1


def test_pages_shift_when_a_record_is_updated_mid_paging(sim: Sim) -> None:
    """Updating a record between page requests moves it out of the window; later pages shift."""
    ids = [f"JC2025{n:06d}" for n in range(1, 6)]
    for rid in ids:
        sim.state.upsert_inspection(_inspection(rid, "2025-06-01 10:00:00"))
    first = sim.window("2025-06-01 10:00:00", "2025-06-01 11:00:00", page=1, size=2)
    assert [i["id"] for i in first["items"]] == ids[:2]
    sim.state.update("inspections", ids[0], hazard_count=1)  # updated_at -> 12:00:00, out of the window
    second = sim.window("2025-06-01 10:00:00", "2025-06-01 11:00:00", page=2, size=2)
    assert second["total"] == 4
    assert [i["id"] for i in second["items"]] == ids[3:5]  # ids[2] was skipped by the shift
    assert found(sim.state.get("inspections", ids[0]))["updated_at"] == NOW


def test_bad_parameters_answer_40001(sim: Sim) -> None:
    """page_size outside 1–500, missing or malformed times answer code 40001."""
    ok = {"start_time": "2025-06-01 00:00:00", "end_time": "2025-06-01 12:00:00"}
    for params in ({**ok, "page_size": 501}, {**ok, "page_size": 0}, {"end_time": ok["end_time"]},
                   {**ok, "start_time": "2025-06-01T00:00:00"}, {**ok, "page": 0}):  # fmt: skip
        r = sim.get("/api/v1/penalties", **params)
        assert r.status_code == 200 and r.json()["code"] == 40001, params
    assert sim.get("/api/v1/penalties", **ok, page_size=500).json()["code"] == 0


def test_token_expires_early_then_401(sim: Sim) -> None:
    """Tokens can die before expires_in: 401 with code 40101, and a fresh login works."""
    sim.state.faults.update(token_ttl_s=60)
    sim.login()
    assert sim.get("/api/v1/depts").status_code == 200
    sim.clock.advance(61)
    r = sim.get("/api/v1/depts")
    assert r.status_code == 401 and r.json()["code"] == 40101
    sim.login()
    assert sim.get("/api/v1/depts").status_code == 200
    sim.state.expire_tokens_now()  # the platform restarts
    assert sim.get("/api/v1/depts").status_code == 401
    assert sim.state.faults.stats()["faults"]["401"] == 2


def test_rate_limit_429_with_retry_after(sim: Sim) -> None:
    """Above 20 calls per second per token: HTTP 429 with Retry-After; fine again a second later."""
    codes = [sim.get("/api/v1/depts").status_code for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429
    r = sim.get("/api/v1/depts")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    sim.clock.advance(1.01)
    assert sim.get("/api/v1/depts").status_code == 200
    sim.state.faults.update(rate_limits=False)
    assert all(sim.get("/api/v1/depts").status_code == 200 for _ in range(30))


def test_external_upsert_by_origin_and_source_id(sim: Sim) -> None:
    """external/* creates, then updates by (origin, source_id); the record shows up in pulls."""
    r1 = sim.client.post("/api/v1/external/inspections", json=_external("JC1201162025000001"))
    assert r1.json()["code"] == 0 and r1.json()["data"]["created"] is True
    rid = r1.json()["data"]["id"]
    sim.clock.advance(5)
    r2 = sim.client.post("/api/v1/external/inspections", json=_external("JC1201162025000001", hazard_count=2))
    assert r2.json()["data"] == {"id": rid, "created": False}
    items = sim.window("2025-06-01 12:00:00", "2025-06-01 12:00:05")["items"]
    assert [(i["id"], i["origin"], i["hazard_count"], i["updated_at"]) for i in items] == [
        (rid, "municipal", 2, "2025-06-01 12:00:05")
    ]
    assert items[0]["officers"][1] == {"cert_no": "12000020001", "name": "赵志刚"}


def test_external_item_code_must_be_a_district_item_of_the_right_kind(sim: Sim) -> None:
    """A municipal item code or a penalty item on an inspection answers 40001."""
    for code in ("120000-AQJC-0005", "QZCF-0001", None):
        r = sim.client.post("/api/v1/external/inspections", json=_external("X1", item_code=code))
        assert r.json()["code"] == 40001 and "item_code" in r.json()["msg"]
    r = sim.client.post("/api/v1/external/inspections", json=_external("X1", dept_code=None))
    assert r.json()["code"] == 0  # city teams have no district department


def test_credit_events_idempotent_and_unknown_uscc(sim: Sim) -> None:
    """A repeated event_id answers 40901 with the first data; an unknown USCC 40401, nothing stored."""
    sim.state.upsert_inspection(_inspection("JC2025000001", "2025-06-01 10:00:00"))
    event = {"event_id": "EV-1", "uscc": USCC, "decision_no": "（滨海）应急罚〔2025〕45号", "kind": "repaired",
             "occurred_at": "2025-06-01 11:00:00"}  # fmt: skip
    first = sim.client.post("/api/v1/credit-events", json=event).json()
    again = sim.client.post("/api/v1/credit-events", json=event).json()
    assert first["code"] == 0 and again["code"] == 40901 and again["data"] == first["data"]
    other = sim.client.post(
        "/api/v1/credit-events", json={**event, "event_id": "EV-2", "uscc": "91120101MA0000000X"}
    )
    assert other.json()["code"] == 40401
    assert [e["event_id"] for e in sim.state.credit_events()] == ["EV-1"]


def test_credit_event_without_a_decision_is_null_never_a_placeholder(sim: Sim) -> None:
    """decision_no null is taken (an event about no decision); a placeholder such as "无" is refused."""
    sim.state.upsert_inspection(_inspection("JC2025000001", "2025-06-01 10:00:00"))
    event = {"event_id": "EV-9", "uscc": USCC, "decision_no": None, "kind": "blacklist_add",
             "occurred_at": "2025-06-01 11:00:00"}  # fmt: skip
    assert sim.client.post("/api/v1/credit-events", json=event).json()["code"] == 0
    for bad in ("无", " - ", "N/A"):
        answer = sim.client.post(
            "/api/v1/credit-events", json={**event, "event_id": "EV-X", "decision_no": bad}
        )
        assert answer.json()["code"] == 40001 and "null" in answer.json()["msg"]
    missing = {k: v for k, v in event.items() if k != "decision_no"} | {"event_id": "EV-Y"}
    assert sim.client.post("/api/v1/credit-events", json=missing).json()["code"] == 40001
    assert [e["decision_no"] for e in sim.state.credit_events()] == [None]


def test_drop_after_store_leaves_the_record_stored(sim: Sim) -> None:
    """With drop_after_store the client sees a transport error, yet the write is stored."""
    sim.state.faults.update(drop_after_store_rate=1.0)
    with pytest.raises(httpx.TransportError):
        sim.client.post("/api/v1/external/inspections", json=_external("JC1201162025000009"))
    stored = [r for r in sim.state.records("inspections") if r.get("source_id") == "JC1201162025000009"]
    assert len(stored) == 1
    sim.state.faults.update(drop_after_store_rate=0.0)
    r = sim.client.post("/api/v1/external/inspections", json=_external("JC1201162025000009"))
    assert r.json()["data"] == {"id": stored[0]["id"], "created": False}  # the retry does not duplicate
    assert sim.state.faults.stats()["faults"]["drop"] == 1


def test_slow_answer_times_out_the_client_after_the_write_is_stored(sim: Sim) -> None:
    """With slow_rate the answer waits slow_ms: the client times out, the write is stored, the retry updates it."""
    sim.state.faults.update(slow_rate=1.0, slow_ms=300)
    with pytest.raises(httpx.TimeoutException):
        sim.client.post("/api/v1/external/inspections", json=_external("JC1201162025000010"), timeout=0.05)
    stored = [r for r in sim.state.records("inspections") if r.get("source_id") == "JC1201162025000010"]
    assert len(stored) == 1
    sim.state.faults.update(slow_rate=0.0)
    r = sim.client.post("/api/v1/external/inspections", json=_external("JC1201162025000010"))
    assert r.json()["data"] == {"id": stored[0]["id"], "created": False}
    assert sim.state.faults.stats()["faults"]["slow"] == 1


def test_outage_5xx_with_empty_or_html_body(sim: Sim) -> None:
    """error_rate answers 500/502/503 with an empty or HTML body; counted in stats."""
    sim.state.faults.update(error_rate=1.0, seed=3)
    for _ in range(6):
        r = sim.get("/api/v1/depts")
        assert r.status_code in (500, 502, 503)
        assert r.content == b"" or r.headers["content-type"].startswith("text/html")
    assert sim.state.faults.stats()["faults"]["5xx"] == 6


def test_reference_data(sim: Sim) -> None:
    """users page through all 266 officers; items filter by kind; depts list every department."""
    users = sim.get("/api/v1/users", page=2, page_size=200).json()["data"]
    assert users["total"] == 266 and len(users["items"]) == 66
    assert set(users["items"][0]) == {"id", "name", "cert_no", "dept_code", "active"}
    items = sim.get("/api/v1/items", kind="penalty", page=1, page_size=500).json()["data"]["items"]
    assert {i["kind"] for i in items} == {"penalty"} and items[0]["code"] == "QZCF-0001"
    assert len(sim.get("/api/v1/depts").json()["data"]["items"]) == 22


def test_admin_http_hooks(sim: Sim) -> None:
    """/_sim/ upserts, edits, lists, sets faults and reports stats without auth."""
    admin = httpx.Client(base_url=str(sim.client.base_url))
    ids = admin.post("/_sim/inspections", json=_inspection("JC2025000001", "2025-06-01 10:00:00")).json()[
        "ids"
    ]
    edited = admin.post(f"/_sim/inspections/{ids[0]}", json={"result": "2", "hazard_count": 3}).json()
    assert edited["updated_at"] == NOW and edited["hazard_count"] == 3
    assert admin.post(f"/_sim/inspections/{ids[0]}/void").json()["status"] == "void"
    assert [r["status"] for r in admin.get("/_sim/inspections").json()] == ["void"]
    assert admin.post("/_sim/faults", json={"latency_ms": 1}).json()["latency_ms"] == 1
    assert admin.post("/_sim/faults", json={"bogus": 1}).status_code == 400
    assert admin.get("/_sim/stats").json()["calls"]["token"] >= 1
    admin.close()


def test_loaded_dataset_pages_fast(sim: Sim) -> None:
    """A generated year loads and pages through a window at full page size quickly."""
    sim.state.faults.update(rate_limits=False)
    sim.clock.freeze("2026-06-01 00:00:00")
    sim.login()  # a year later: the old token is long dead
    data = datagen.generate(seed=7, inspections=5000)
    sim.state.load(data)
    t0 = time.monotonic()
    seen: list[str] = []
    page = 1
    while True:
        got = sim.window("2025-01-01 00:00:00", "2026-01-31 23:59:59", page=page, size=500)
        seen += [i["id"] for i in got["items"]]
        if page * 500 >= got["total"]:
            break
        page += 1
    assert sorted(seen) == sorted(r["id"] for r in data.inspections)
    assert time.monotonic() - t0 < 3
