"""The credit (双公示) connector against mocked HTTP: signing, per-record results, CZLX, 万元, periods."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors import credit as credit_system
from connectors.contract.config import RetryConfig, SecretRef, Secrets
from connectors.contract.errors import (
    BadResponse,
    ConnectorError,
    FatalConnectorError,
    RecordInvalid,
    TargetRejected,
)
from connectors.contract.events import CreditEvent
from connectors.contract.records import Penalty, parse_record
from connectors.contract.roles import BatchTarget, Context, Delivered, Prior, Push, Roles
from connectors.contract.states import Action, DeliveryState
from connectors.credit.config import CreditConfig
from connectors.credit.fields import yuan_in_words, yuan_to_wan
from connectors.credit.publicity import add_years, is_serious, publicity_end
from sync.mapping import files as mapping_files
from tests.support.http import D, district_target, ok
from tests.support.records import changed_penalty

C = "http://credit.test"
BATCH = f"{C}/api/sgs/v2/xzcf/batch"
EVENTS = f"{C}/api/credit/v1/events"
SECRET = "s3cret"
FAST = RetryConfig(attempts=3, initial_wait_s=0.001, max_wait_s=0.01)
MAPPINGS = mapping_files.load(Path(__file__).resolve().parents[2] / "mappings")
CTX = Context(MAPPINGS, lambda kind, sid, target: None)


def system(**cfg: Any) -> Roles:
    conf = CreditConfig(
        type="credit",
        base_url=C,
        app_key="SGS-T",
        app_secret=SecretRef(env="X"),
        retry=FAST,
        rate_limit_per_s=1000,
        data_source_name="天津市滨海新区应急管理局",
        data_source_uscc="11120116MYYA50UTC6",
        **cfg,
    )
    return credit_system.build("credit", conf, Secrets({"credit.app_secret": SecretStr(SECRET)}))


def credit(**cfg: Any) -> BatchTarget:
    target = system(**cfg).target("penalty")
    assert isinstance(target, BatchTarget)
    return target


def record(**changes: Any) -> Penalty:
    rec = parse_record("penalty", changed_penalty(**changes))
    assert isinstance(rec, Penalty)
    return rec


def job(rec: Penalty, prior: Prior | None = None) -> Push:
    return Push(rec, credit().translate(rec, CTX), prior)


def known(xybm: str | None, state: DeliveryState = DeliveryState.DELIVERED, linked: bool = False) -> Prior:
    return Prior(xybm, state, linked)


def sent(call: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(call.request.content)["records"]
    return records


def answer(*results: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"batchId": "B1", "results": list(results)})


def res(sjbs: str, status: str = "ACCEPTED", xybm: str | None = "XY1", errors: Any = ()) -> dict[str, Any]:
    return {"SJBS": sjbs, "status": status, "xybm": xybm, "errors": list(errors)}


def signature_ok(request: httpx.Request) -> bool:
    """The platform's check, written from docs/interfaces/credit.md: HMAC over METHOD\\nPATH\\nTS\\nNONCE\\nsha256hex(body)."""
    h = request.headers
    text = "\n".join(
        [
            request.method,
            request.url.path,
            h["X-Timestamp"],
            h["X-Nonce"],
            hashlib.sha256(request.content).hexdigest(),
        ]
    )
    expected = base64.b64encode(hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).digest()).decode()
    return (
        h["X-Signature"] == expected
        and h["X-App-Id"] == "SGS-T"
        and 16 <= len(h["X-Nonce"]) <= 64
        and abs(int(h["X-Timestamp"]) - time.time()) < 5
    )


# -- signing and retries ---------------------------------------------------------------------------
@respx.mock
def test_signature_matches_an_independent_computation() -> None:
    """Every call carries X-App-Id, X-Timestamp, X-Nonce and the HMAC-SHA256 signature of docs/interfaces/credit.md."""
    route = respx.post(BATCH).mock(return_value=answer(res("CF2021000045")))
    credit().deliver_batch([job(record())])
    assert signature_ok(route.calls[0].request)
    get = respx.get(EVENTS).mock(return_value=httpx.Response(200, json={"events": [], "nextCursor": None}))
    system().ping()
    assert signature_ok(get.calls[0].request) and get.calls[0].request.content == b""


@respx.mock
def test_retry_after_outage_is_signed_again_with_a_new_nonce() -> None:
    """A 503 and then a 401 blip are retried, each attempt with a fresh nonce and a valid signature."""
    route = respx.post(BATCH).mock(
        side_effect=[
            httpx.Response(503, text="maintenance"),
            httpx.Response(401, json={"code": "AUTH_FAILED", "message": "nonce 已使用"}),
            answer(res("CF2021000045")),
        ]
    )
    [done] = credit().deliver_batch([job(record())])
    assert done == Delivered(Action.CREATED, "XY1")
    nonces = {c.request.headers["X-Nonce"] for c in route.calls}
    assert len(nonces) == 3 and all(signature_ok(c.request) for c in route.calls)


@respx.mock
def test_persistent_auth_failure_is_fatal_after_two_resigns() -> None:
    """401 three times in a row means wrong credentials or clock: a fatal error that says what to check."""
    route = respx.post(BATCH).mock(
        return_value=httpx.Response(401, json={"code": "AUTH_FAILED", "message": "签名错误"})
    )
    with pytest.raises(FatalConnectorError, match="app_secret"):
        credit().deliver_batch([job(record())])
    assert route.call_count == 3


@respx.mock
def test_rate_limit_waits_for_retry_after() -> None:
    """429 is retried with the server's Retry-After (capped by the retry config)."""
    route = respx.post(BATCH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.05"}, json={"code": "RATE_LIMITED"}),
            answer(res("CF2021000045")),
        ]
    )
    assert credit().deliver_batch([job(record())])[0] == Delivered(Action.CREATED, "XY1")
    assert route.call_count == 2


@respx.mock
def test_batch_too_large_is_a_bug_not_retried() -> None:
    """400 BATCH_TOO_LARGE fails the batch at once with a message naming the cause."""
    route = respx.post(BATCH).mock(return_value=httpx.Response(400, json={"code": "BATCH_TOO_LARGE"}))
    [err] = credit().deliver_batch([job(record())])
    assert isinstance(err, ConnectorError) and "BATCH_TOO_LARGE" in str(err) and route.call_count == 1


# -- per-record results ----------------------------------------------------------------------------
@respx.mock
def test_batch_results_stand_alone_and_duplicate_is_adopted() -> None:
    """ACCEPTED → created; REJECTED → the platform's field messages; DUPLICATE → U with xybm → linked."""
    a, b, c = (
        record(id="A"),
        record(id="B", decision_no="罚〔2021〕2号"),
        record(id="C", decision_no="罚〔2021〕3号"),
    )
    route = respx.post(BATCH).mock(
        side_effect=[
            answer(
                res("A", xybm="X-A"),
                res("B", "REJECTED", None, [{"field": "CF_NR_FK", "message": "罚款金额应大于0"}]),
                res("C", "DUPLICATE", "X-HAND"),
            ),
            answer(res("C", xybm="X-HAND")),
        ]
    )
    out = credit().deliver_batch([job(a), job(b), job(c)])
    assert out[0] == Delivered(Action.CREATED, "X-A")
    assert isinstance(out[1], TargetRejected) and str(out[1]) == "双公示平台拒绝: CF_NR_FK: 罚款金额应大于0"
    assert out[2] == Delivered(Action.LINKED, "X-HAND", linked=True)
    assert [r["CZLX"] for r in sent(route.calls[0])] == ["I", "I", "I"]
    [adopt] = sent(route.calls[1])
    assert (adopt["SJBS"], adopt["CZLX"], adopt["xybm"], adopt["CF_WSH"]) == (
        "C",
        "U",
        "X-HAND",
        "罚〔2021〕3号",
    )


@respx.mock
def test_changed_record_is_an_update_with_its_xybm() -> None:
    """A record the platform holds goes as U with the known xybm and keeps its linked flag."""
    route = respx.post(BATCH).mock(return_value=answer(res("CF2021000045", xybm="XY9")))
    [done] = credit().deliver_batch([job(record(), known("XY9", linked=True))])
    assert done == Delivered(Action.UPDATED, "XY9", linked=True)
    [body] = sent(route.calls[0])
    assert (body["CZLX"], body["xybm"]) == ("U", "XY9")


@respx.mock
def test_revoked_published_decision_is_withdrawn_with_d() -> None:
    """A revoked decision we published goes as D with only SJBS and BZ."""
    route = respx.post(BATCH).mock(return_value=answer(res("CF2021000045", xybm="XY9")))
    [done] = credit().deliver_batch([job(record(status="revoked"), known("XY9", linked=False))])
    assert done == Delivered(Action.WITHDRAWN, "XY9")
    assert sent(route.calls[0]) == [{"SJBS": "CF2021000045", "CZLX": "D", "BZ": "行政处罚决定已撤销"}]


@respx.mock
def test_revoked_never_published_is_found_adopted_and_withdrawn() -> None:
    """Revoked, never sent by us: I → DUPLICATE → U+xybm → D; I → ACCEPTED → D; I → REJECTED → skipped."""
    hand, lost, bad = (
        record(id=i, status="revoked", decision_no=f"罚〔2021〕{n}号") for n, i in enumerate("HLB")
    )
    route = respx.post(BATCH).mock(
        side_effect=[
            answer(
                res("H", "DUPLICATE", "X-H"),
                res("L", xybm="X-L"),
                res("B", "REJECTED", None, [{"field": "CF_SY"}]),
            ),
            answer(res("H", xybm="X-H"), res("L", xybm="X-L")),
            answer(res("H", xybm="X-H")),
        ]
    )
    out = credit().deliver_batch([job(hand), job(lost), job(bad)])
    assert out == [
        Delivered(Action.WITHDRAWN, "X-H", linked=True),
        Delivered(Action.WITHDRAWN, "X-L"),
        Delivered(Action.SKIPPED),
    ]
    assert [(r["SJBS"], r["CZLX"]) for r in sent(route.calls[1])] == [("H", "U"), ("L", "D")]
    assert [(r["SJBS"], r["CZLX"]) for r in sent(route.calls[2])] == [("H", "D")]


@respx.mock
def test_missing_or_garbled_result_is_retriable_for_that_record_only() -> None:
    """A result missing for one record, or with an unknown status, fails just that record, retriably."""
    respx.post(BATCH).mock(return_value=answer(res("A", xybm="X-A"), {"SJBS": "B", "status": "???"}))
    out = credit().deliver_batch([job(record(id="A")), job(record(id="B")), job(record(id="C"))])
    assert out[0] == Delivered(Action.CREATED, "X-A")
    assert isinstance(out[1], BadResponse) and isinstance(out[2], BadResponse) and "C" in str(out[2])


@respx.mock
def test_results_out_of_order_are_matched_by_sjbs() -> None:
    """Should results come in another order, each record still gets its own."""
    respx.post(BATCH).mock(return_value=answer(res("B", xybm="X-B"), res("A", xybm="X-A")))
    out = credit().deliver_batch([job(record(id="A")), job(record(id="B"))])
    assert out == [Delivered(Action.CREATED, "X-A"), Delivered(Action.CREATED, "X-B")]


# -- translation -----------------------------------------------------------------------------------
def test_translation_of_a_company_decision() -> None:
    """CF_* values: 万元 as written, content text, dates, 1-year period, agency from the mapping tables."""
    p = credit().translate(record(), CTX)
    assert p["CF_NR_FK"] == "3" and "CF_NR_WFFF" not in p
    assert p["CF_NR"] == "警告，罚款人民币叁万元整" and p["CF_CFLB"] == "警告;罚款"
    assert (p["CF_JDRQ"], p["CF_YXQ"], p["CF_GSJZQ"]) == ("2021-06-20", "2022-06-20", "2022-06-20")
    assert (p["CF_XDR_LB"], p["CF_FRDB"], p["CF_XDR_SHXYM"]) == (
        "法人及非法人组织",
        "张建国",
        "91120116MA05K1XY35",
    )
    assert p["CF_CFJG"] == "天津市滨海新区应急管理局" and p["CF_CFJGDM"] == "11120116MYYA50UTC6"
    assert (p["SJBS"], p["CZLX"], p["CF_WSH"]) == ("CF2021000045", "I", "（滨海）应急罚〔2021〕45号")


def test_translation_of_a_person_and_a_serious_revocation() -> None:
    """自然人: ID type and number, blank USCC; 吊销 makes it serious (3 years) and names the licence."""
    p = credit().translate(
        record(
            **{
                "party.type": "2",
                "party.name": "王伟",
                "party.uscc": None,
                "party.legal_rep": None,
                "party.id_type": "SFZ",
                "party.id_no": "11010519491231002x",
                "penalty_types": ["03", "08"],
                "fine_yuan": "1234.56",
                "license_action": {
                    "type": "08",
                    "license_name": "安全生产许可证",
                    "license_no": "（津）WH安许证字〔2023〕0045",
                },
                "decided_on": "2024-02-29",
            }
        ),
        CTX,
    )
    assert (p["CF_XDR_LB"], p["CF_XDR_ZJLX"], p["CF_XDR_ZJHM"], p["CF_XDR_SHXYM"]) == (
        "自然人",
        "身份证",
        "11010519491231002X",
        "",
    )
    assert p["CF_NR_FK"] == "0.123456" and p["CF_NR_ZKDX"] == "安全生产许可证（津）WH安许证字〔2023〕0045"
    assert p["CF_GSJZQ"] == "2027-02-28" and "CF_FRDB" not in p
    assert p["CF_NR"].startswith("罚款人民币壹仟贰佰叁拾肆元伍角陆分，吊销许可证件（安全生产许可证")


def test_what_the_platform_would_refuse_fails_before_sending() -> None:
    """A future decision date or an over-long licence text is a RecordInvalid naming the CF_* field."""
    with pytest.raises(RecordInvalid) as info:
        credit().translate(
            record(
                decided_on=date(2099, 1, 1).isoformat(),
                license_action={"type": "06", "license_name": "许可证" * 80, "license_no": "1"},
                penalty_types=["06"],
            ),
            CTX,
        )
    fields = {e.field for e in info.value.errors}
    assert fields == {"CF_JDRQ", "CF_NR_ZKDX"}


def test_wants_general_district_penalties_only() -> None:
    """Summary procedure only when configured; district copies of city records never."""
    assert credit().wants(record())
    assert not credit().wants(record(procedure="summary"))
    assert credit(send_summary=True).wants(record(procedure="summary"))
    assert not credit().wants(record(origin="municipal"))


@pytest.mark.parametrize(
    ("yuan", "wan"),
    [
        ("30000", "3"),
        ("1234.56", "0.123456"),
        ("0.01", "0.000001"),
        ("1000000", "100"),
        ("50", "0.005"),
        ("0", "0"),
    ],
)
def test_yuan_to_wan_examples(yuan: str, wan: str) -> None:
    """元 → 万元 examples from docs/domain.md, written without trailing zeros or exponents."""
    assert yuan_to_wan(Decimal(yuan)) == wan


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_yuan_to_wan_property(yuan: Decimal) -> None:
    """Any 元 amount with ≤ 2 decimals: ≤ 6 decimals, no trailing zero, and ×10000 gives it back."""
    text = yuan_to_wan(yuan)
    assert "E" not in text and "e" not in text
    decimals = text.split(".")[1] if "." in text else ""
    assert len(decimals) <= 6 and not decimals.endswith("0")
    assert Decimal(text) * 10000 == yuan


@pytest.mark.parametrize(
    ("yuan", "words"),
    [
        ("30000", "叁万元整"),
        ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
        ("10005", "壹万零伍元整"),
        ("1001000", "壹佰万零壹仟元整"),
        ("100000", "壹拾万元整"),
        ("1.05", "壹元零伍分"),
        ("0.5", "伍角"),
        ("100000005", "壹亿零伍元整"),
    ],
)
def test_amount_in_words(yuan: str, words: str) -> None:
    """The upper-case amount written on decisions (大写金额)."""
    assert yuan_in_words(Decimal(yuan)) == words


# -- publicity periods -----------------------------------------------------------------------------
def test_period_rules() -> None:
    """Serious: 08/10/11 or fine ≥ threshold; + N years on the same day, 29 Feb → 28 Feb."""
    assert is_serious(["01", "10"], Decimal("0")) and is_serious(["11"], Decimal("0"))
    assert is_serious(["03"], Decimal("500000.00")) and not is_serious(["03"], Decimal("499999.99"))
    assert not is_serious(["03"], Decimal("600000"), Decimal("1000000"))
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert publicity_end(date(2025, 3, 1), True) == date(2028, 3, 1)
    assert publicity_end(date(2025, 3, 1), False, general_years=2) == date(2027, 3, 1)


# -- credit events ---------------------------------------------------------------------------------
def event(eid: str, when: str, kind: str = "REPAIRED") -> dict[str, Any]:
    return {
        "eventId": eid,
        "type": kind,
        "uscc": "91120116MA05K1XY35",
        "cfWsh": "罚〔2021〕1号",
        "xybm": "X",
        "occurredAt": when,
    }


@respx.mock
def test_event_paging_restarts_after_an_expired_cursor_without_repeats() -> None:
    """Follow nextCursor alone; on 410 start again from the last occurredAt and skip what was seen."""
    t1, t2 = "2026-01-01T09:00:00+08:00", "2026-01-01T10:00:00+08:00"
    route = respx.get(EVENTS).mock(
        side_effect=[
            httpx.Response(200, json={"events": [event("E1", t1), event("E2", t2)], "nextCursor": "c1"}),
            httpx.Response(410, json={"code": "CURSOR_EXPIRED", "message": "游标已过期"}),
            httpx.Response(200, json={"events": [event("E2", t2), event("E3", t2)], "nextCursor": None}),
        ]
    )
    pages = list(system().source().pull("credit_event", None, datetime(2025, 12, 1), datetime(2026, 2, 1), 2))
    assert [[e["eventId"] for e in p.items] for p in pages] == [["E1", "E2"], ["E3"]]
    params = [dict(c.request.url.params) for c in route.calls]
    assert params == [
        {"since": "2025-12-01T00:00:00+08:00", "limit": "2"},
        {"cursor": "c1"},
        {"since": t2, "limit": "2"},
    ]
    assert pages[-1].cursor.to_json() == {"v": 1, "since": t2, "ids": ["E2", "E3"], "cursor": None}
    assert pages[-1].cursor.watermark == datetime(2026, 1, 1, 10)


@respx.mock
def test_district_takes_credit_events_idempotently_and_skips_other_districts() -> None:
    """40901 (already held) is success; 40401 (another district's company) is skipped, not failed."""
    respx.post(f"{D}/api/auth/token").mock(return_value=ok({"access_token": "t", "expires_in": 7200}))
    respx.post(f"{D}/api/v1/credit-events").mock(
        side_effect=[
            httpx.Response(200, json={"code": 40901, "msg": "记录已存在", "data": {"event_id": "E1"}}),
            httpx.Response(
                200,
                json={"code": 40401, "msg": "记录不存在: 统一社会信用代码 … 不在本平台企业库", "data": None},
            ),
        ]
    )
    target = district_target("credit_event")
    ev = parse_record("credit_event", event("E1", "2026-01-01T09:00:00+08:00", "BLACKLIST_ADD"))
    assert isinstance(ev, CreditEvent) and target.wants(ev) and not target.wants(record())
    payload = target.translate(ev, CTX)
    assert payload == {
        "event_id": "E1",
        "uscc": "91120116MA05K1XY35",
        "decision_no": "罚〔2021〕1号",
        "kind": "blacklist_add",
        "occurred_at": "2026-01-01 09:00:00",
    }
    assert target.deliver(Push(ev, payload, None)) == Delivered(Action.CREATED, "E1")
    assert target.deliver(Push(ev, payload, None)) == Delivered(Action.SKIPPED)


@respx.mock
def test_after_an_unanswered_attempt_an_accepted_insert_is_followed_by_an_update() -> None:
    """I never changes a stored record: when an earlier I may have been stored, the current version goes as U."""
    route = respx.post(BATCH).mock(
        side_effect=[answer(res("CF2021000045", xybm="XY7")), answer(res("CF2021000045", xybm="XY7"))]
    )
    [done] = credit().deliver_batch([job(record(), known(None, DeliveryState.ATTEMPTED))])
    assert isinstance(done, Delivered) and done.target_id == "XY7" and route.call_count == 2
    [first], [second] = sent(route.calls[0]), sent(route.calls[1])
    assert first["CZLX"] == "I" and (second["CZLX"], second["xybm"]) == ("U", "XY7")
    assert second["CF_WSH"] == first["CF_WSH"]


@respx.mock
def test_a_first_attempt_is_one_insert() -> None:
    """Without an unanswered earlier attempt, ACCEPTED for I is the end (no extra call)."""
    route = respx.post(BATCH).mock(return_value=answer(res("CF2021000045", xybm="XY8")))
    [done] = credit().deliver_batch([job(record())])
    assert done == Delivered(Action.CREATED, "XY8", linked=False) and route.call_count == 1


@pytest.mark.parametrize("wsh", [None, "", "   "])
def test_an_event_without_a_decision_reaches_the_district_as_null(wsh: str | None) -> None:
    """A blacklist event whose cfWsh is null (or blank) is sent with decision_no null, never "无"."""
    raw = {**event("E9", "2026-01-01T09:00:00+08:00", "BLACKLIST_ADD"), "cfWsh": wsh}
    ev = parse_record("credit_event", raw)
    assert isinstance(ev, CreditEvent) and ev.cf_wsh is None
    payload = district_target("credit_event").translate(ev, CTX)
    assert "decision_no" in payload and payload["decision_no"] is None
