"""Connector edge cases against mocked HTTP (respx): the quirks of each interface description."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import httpx
import pytest
import respx

from connectors.contract.errors import BadResponse, FatalConnectorError, RetriableError, TargetRejected
from connectors.contract.records import parse_record
from connectors.contract.roles import Prior, Push
from connectors.contract.states import DeliveryState
from tests.support.http import D, M, district, district_roles, municipal, ok, page
from tests.support.records import PENALTY


def delivered(target_id: str) -> Prior:
    return Prior(target_id, DeliveryState.DELIVERED)


@respx.mock
def test_district_logs_in_again_after_early_token_expiry() -> None:
    """A 401 mid-run means log in again and repeat the call, once."""
    login = respx.post(f"{D}/api/auth/token").mock(
        side_effect=[
            ok({"access_token": "t1", "expires_in": 7200}),
            ok({"access_token": "t2", "expires_in": 7200}),
        ]
    )
    calls = respx.get(f"{D}/api/v1/inspections").mock(
        side_effect=[
            httpx.Response(401, json={"code": 40101, "msg": "令牌无效或已过期", "data": None}),
            page([]),
        ]
    )
    pages = list(district().pull("inspection", None, datetime(2025, 1, 1), datetime(2025, 2, 1), 200))
    assert login.call_count == 2 and calls.call_count == 2
    assert calls.calls[1].request.headers["Authorization"] == "Bearer t2"
    assert pages[0].items == []


@respx.mock
def test_district_honours_retry_after_and_sends_inclusive_window() -> None:
    """429 is retried; the window bounds are sent as yyyy-MM-dd HH:mm:ss, the start ``overlap_s`` (600 s
    by default) before the cursor."""
    respx.post(f"{D}/api/auth/token").mock(return_value=ok({"access_token": "t", "expires_in": 7200}))
    calls = respx.get(f"{D}/api/v1/penalties").mock(
        side_effect=[
            httpx.Response(
                429, headers={"Retry-After": "0"}, json={"code": 42900, "msg": "too many", "data": None}
            ),
            page([]),
        ]
    )
    list(district().pull("penalty", None, datetime(2025, 1, 1, 8), datetime(2025, 1, 2, 9, 30), 200))
    params = calls.calls[1].request.url.params
    assert params["start_time"] == "2025-01-01 07:50:00" and params["end_time"] == "2025-01-02 09:30:00"


@respx.mock
def test_district_html_outage_page_is_reported_readably() -> None:
    """An HTML 502 from a proxy becomes a retriable error saying what came back."""
    respx.post(f"{D}/api/auth/token").mock(return_value=ok({"access_token": "t", "expires_in": 7200}))
    respx.get(f"{D}/api/v1/inspections").mock(
        return_value=httpx.Response(
            502,
            text="<html><body><h1>502 Bad Gateway</h1></body></html>",
            headers={"content-type": "text/html"},
        )
    )
    with pytest.raises(RetriableError) as info:
        list(district().pull("inspection", None, datetime(2025, 1, 1), datetime(2025, 2, 1), 200))
    assert "HTTP 502" in str(info.value) and "Bad Gateway" in str(info.value)


@respx.mock
def test_district_wrong_password_is_fatal() -> None:
    """40100 at login stops the run with a message about the credentials."""
    respx.post(f"{D}/api/auth/token").mock(
        return_value=httpx.Response(200, json={"code": 40100, "msg": "用户名或密码错误", "data": None})
    )
    with pytest.raises(FatalConnectorError, match="用户名或密码"):
        list(district().pull("inspection", None, datetime(2025, 1, 1), datetime(2025, 2, 1), 200))


@respx.mock
def test_district_garbage_200_is_a_bad_response() -> None:
    """A 200 whose body is HTML is not mistaken for data."""
    respx.post(f"{D}/api/auth/token").mock(return_value=ok({"access_token": "t", "expires_in": 7200}))
    respx.get(f"{D}/api/v1/inspections").mock(return_value=httpx.Response(200, text="<html>维护中</html>"))
    with pytest.raises(BadResponse, match="HTML"):
        list(district().pull("inspection", None, datetime(2025, 1, 1), datetime(2025, 2, 1), 200))


def _sign_ok(request: httpx.Request) -> bool:
    ts = request.headers["timestamp"]
    return request.headers["sign"] == hashlib.md5(f"AKSECRET{ts}".encode()).hexdigest().upper()


def env(result: object = None, code: str | None = None, msg: str | None = None) -> httpx.Response:
    return httpx.Response(
        200, json={"success": code is None, "errCode": code, "errMsg": msg, "result": result}
    )


@respx.mock
def test_municipal_e2005_links_the_hand_typed_record_then_updates_it() -> None:
    """数据重复 on create → /link the existing id → save again; reported as linked."""
    record = parse_record("penalty", PENALTY)
    save = respx.post(f"{M}/openapi/xzcf/save").mock(
        side_effect=[env(code="E2005", msg="数据重复: AJ0001"), env({"ajbh": "AJ0001"})]
    )
    link = respx.post(f"{M}/openapi/xzcf/link").mock(return_value=env({}))
    done = municipal().deliver(Push(record, {"wbxtly": "QJJR", "wbxtbh": record.id}, None))
    assert (done.action, done.target_id, done.linked) == ("linked", "AJ0001", True)
    assert json.loads(link.calls[0].request.content) == {
        "ajbh": "AJ0001",
        "wbxtly": "QJJR",
        "wbxtbh": record.id,
    }
    assert all(_sign_ok(c.request) for c in [*save.calls, *link.calls])


@respx.mock
def test_municipal_rate_limit_envelope_is_retried_and_resigned() -> None:
    """E4290 comes with HTTP 200: back off and retry with a fresh timestamp and sign."""
    record = parse_record("penalty", PENALTY)
    save = respx.post(f"{M}/openapi/xzcf/save").mock(
        side_effect=[
            env(code="E4290", msg="调用频率超限"),
            env(code="E5000", msg="系统繁忙"),
            env({"ajbh": "AJ9"}),
        ]
    )
    done = municipal().deliver(Push(record, {}, delivered("AJ9")))
    assert (done.action, save.call_count) == ("updated", 3)
    assert all(_sign_ok(c.request) for c in save.calls)


@respx.mock
def test_municipal_auth_error_is_fatal_catalogue_miss_parks_and_field_error_rejects() -> None:
    """E1001 stops the run (config is wrong); E2004 parks the record on officers.csv; E2001 fails it."""
    from connectors.contract.errors import MappingMissing

    record = parse_record("penalty", PENALTY)
    respx.post(f"{M}/openapi/xzcf/save").mock(
        side_effect=[
            env(code="E1001", msg="签名错误"),
            env(code="E2004", msg="执法人员未注册: 12011619009"),
            env(code="E2001", msg="必填字段缺失: wfss"),
        ]
    )
    with pytest.raises(FatalConnectorError, match="app_secret"):
        municipal().deliver(Push(record, {}, None))
    with pytest.raises(MappingMissing) as parked:
        municipal().deliver(Push(record, {}, None))
    assert "12011619009" in str(parked.value) and "officers.csv" in str(parked.value)
    with pytest.raises(TargetRejected, match="wfss"):
        municipal().deliver(Push(record, {}, None))


@respx.mock
def test_municipal_revoke_of_a_delivered_penalty() -> None:
    """A revoked penalty already on the city is revoked there, by our external id."""
    record = parse_record("penalty", {**PENALTY, "status": "revoked"})
    revoke = respx.post(f"{M}/openapi/xzcf/revoke").mock(return_value=env({}))
    done = municipal().deliver(Push(record, {}, delivered("AJ1")))
    assert done.action == "withdrawn"
    assert json.loads(revoke.calls[0].request.content) == {"wbxtly": "QJJR", "wbxtbh": record.id}


@respx.mock
def test_non_utf8_bytes_fail_only_the_record_that_carries_them() -> None:
    """A page with a byte that is not UTF-8 in one record still yields the others; that one fails its field."""
    from connectors.contract.errors import RecordInvalid

    respx.post(f"{D}/api/auth/token").mock(return_value=ok({"access_token": "t", "expires_in": 7200}))
    good = {"id": "JC1", "updated_at": "2025-01-01 08:00:00", "name": "好"}
    body = json.dumps(
        {
            "code": 0,
            "msg": "ok",
            "data": {
                "total": 2,
                "page": 1,
                "page_size": 200,
                "items": [good, {"id": "JC2", "updated_at": "2025-01-01 08:00:01", "name": "BROKEN"}],
            },
        },
        ensure_ascii=False,
    ).encode()
    body = body.replace(b"BROKEN", b"\xb1\xf5\xba\xa3")  # GBK bytes inside a UTF-8 page
    respx.get(f"{D}/api/v1/inspections").mock(return_value=httpx.Response(200, content=body))
    (page,) = district().pull("inspection", None, datetime(2025, 1, 1), datetime(2025, 2, 1), 200)
    assert [i["id"] for i in page.items] == ["JC1", "JC2"]
    with pytest.raises(RecordInvalid) as info:
        parse_record("inspection", {**page.items[1], "enterprise": {"name": page.items[1]["name"]}})
    assert any("UTF-8" in e.message for e in info.value.errors)


@respx.mock
def test_health_follows_the_calls_made_to_a_system() -> None:
    """Unknown before any call; up after an answer; down after failing calls; refused on bad credentials."""
    system = district_roles()
    assert system.health().state == "unknown"
    respx.post(f"{D}/api/auth/token").mock(return_value=ok({"access_token": "t", "expires_in": 7200}))
    route = respx.get(f"{D}/api/v1/inspections").mock(return_value=page([]))
    source = system.source()
    list(source.pull("inspection", None, datetime(2025, 1, 1), datetime(2025, 2, 1), 200))
    assert system.health().state == "up" and system.health().last_success_at
    route.mock(return_value=httpx.Response(503, text="down"))
    for _ in range(3):
        with pytest.raises(RetriableError):
            list(source.pull("inspection", None, datetime(2025, 1, 1), datetime(2025, 2, 1), 200))
    report = system.health()
    assert report.state == "down" and "503" in (report.last_error or "")
    respx.post(f"{D}/api/auth/token").mock(
        return_value=httpx.Response(200, json={"code": 40100, "msg": "用户名或密码错误", "data": None})
    )
    with pytest.raises(FatalConnectorError):
        system.ping()
    assert system.health().state == "refused"
