"""The 双公示 credit-platform simulator: signatures, batch semantics, DUPLICATE, events feed, faults."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import random
import secrets
from typing import Any

import httpx
import openpyxl
import pytest

from simulators import credit, datagen
from simulators.server import serving
from simulators.universe import BUREAU_NAME, BUREAU_USCC, REGION_CODE, make_uscc
from tests.support.checks import found

BEIJING = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 6, 10, 10, 0, tzinfo=BEIJING)
COMPANY = make_uscc("91" + REGION_CODE, random.Random(11))
ID_NUMBER = "11010519491231002X"  # the standard's own example, valid
# The template's header row exactly as docs/interfaces/credit.md lists it.
HEADERS = [
    "行政相对人名称", "行政相对人类别", "行政相对人代码_1(统一社会信用代码)", "行政相对人代码_2(工商注册号)",
    "行政相对人代码_3(组织机构代码)", "行政相对人代码_4(税务登记号)", "行政相对人代码_5(事业单位证书号)",
    "行政相对人代码_6(社会组织登记证号)", "法定代表人", "法定代表人证件类型", "法定代表人证件号码", "证件类型",
    "证件号码", "行政处罚决定书文号", "违法行为类型", "违法事实", "处罚依据", "处罚类别", "处罚内容",
    "罚款金额（万元）", "没收违法所得、没收非法财物的金额（万元）", "暂扣或吊销证照名称及编号", "处罚决定日期",
    "处罚有效期", "公示截止期", "处罚机关", "处罚机关统一社会信用代码", "数据来源单位",
    "数据来源单位统一社会信用代码", "备注",
]  # fmt: skip


class Clock:
    """A hand-moved clock (Unix seconds)."""

    def __init__(self) -> None:
        self.t = NOW.timestamp()

    def __call__(self) -> float:
        return self.t

    @staticmethod
    def of(state: credit.CreditState) -> Clock:
        """The hand-moved clock a test gave ``state``."""
        assert isinstance(state.clock, Clock)
        return state.clock


class Api:
    """Signs calls the way docs/interfaces/credit.md says and sends them in-process (or to ``base_url``)."""

    def __init__(
        self, state: credit.CreditState, app_id: str = credit.APP_ID, secret: str = credit.APP_SECRET
    ):
        self.state, self.app_id, self.secret = state, app_id, secret
        self.asgi = credit.create_app(state)
        self.step = 0.25  # seconds the clock moves per call: stays under 5 calls/s

    def headers(
        self, method: str, path: str, body: bytes, nonce: str | None = None, ts: int | None = None
    ) -> dict[str, str]:
        ts = int(self.state.clock()) if ts is None else ts
        nonce = nonce or secrets.token_hex(12)
        payload = f"{method}\n{path}\n{ts}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
        sig = base64.b64encode(
            hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).digest()
        ).decode()
        return {"X-App-Id": self.app_id, "X-Timestamp": str(ts), "X-Nonce": nonce, "X-Signature": sig}

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None, params: Any = None,
             **sign: Any) -> httpx.Response:  # fmt: skip
        data = (
            raw if raw is not None else b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        )
        headers = self.headers(method, path, data, **sign)
        Clock.of(self.state).t += self.step

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://credit") as client:
                return await client.request(method, path, content=data, params=params, headers=headers)

        return asyncio.run(send())

    def batch(self, *records: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.call("POST", credit.BATCH_PATH, {"records": list(records)})
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://credit") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())


def record(sjbs: str = "S1", czlx: str = "I", **changes: Any) -> dict[str, Any]:
    """A valid penalty decision in the CF_* format."""
    rec = {
        "SJBS": sjbs,
        "CZLX": czlx,
        "CF_XDR_MC": "天津某某化工有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": COMPANY,
        "CF_FRDB": "张三",
        "CF_WSH": "（滨海）应急罚〔2025〕45号",
        "CF_WFXW": "未按规定对从业人员进行安全生产教育和培训",
        "CF_SY": "经查，该公司未按规定对从业人员进行安全生产教育和培训。",
        "CF_YJ": "《中华人民共和国安全生产法》第九十七条第三项",
        "CF_CFLB": "警告;罚款",
        "CF_NR": "警告，罚款人民币叁万元整",
        "CF_NR_FK": "3",
        "CF_JDRQ": "2025-06-09",
        "CF_YXQ": "2026-06-09",
        "CF_GSJZQ": "2026-06-09",
        "CF_CFJG": BUREAU_NAME,
        "CF_CFJGDM": BUREAU_USCC,
        "CF_SJLY": BUREAU_NAME,
        "CF_SJLYDM": BUREAU_USCC,
    }
    return {k: v for k, v in (rec | changes).items() if v is not None}


@pytest.fixture
def state() -> credit.CreditState:
    return credit.CreditState(clock=Clock(), seed=1)


@pytest.fixture
def api(state: credit.CreditState) -> Api:
    return Api(state)


def xlsx(*rows: dict[str, Any]) -> bytes:
    """The 双公示 template with one row per record."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADERS)
    fields = [k for k in record() if k.startswith("CF_")] + ["BZ"]
    order = ["CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM", "CF_XDR_GSZC", "CF_XDR_ZZJG", "CF_XDR_SWDJ", "CF_XDR_SYDW",
             "CF_XDR_SHZZ", "CF_FRDB", "CF_FR_ZJLX", "CF_FR_ZJHM", "CF_XDR_ZJLX", "CF_XDR_ZJHM", "CF_WSH", "CF_WFXW",
             "CF_SY", "CF_YJ", "CF_CFLB", "CF_NR", "CF_NR_FK", "CF_NR_WFFF", "CF_NR_ZKDX", "CF_JDRQ", "CF_YXQ",
             "CF_GSJZQ", "CF_CFJG", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM", "BZ"]  # fmt: skip
    assert set(fields) <= set(order)
    for row in rows:
        ws.append([row.get(f) for f in order])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---- auth ------------------------------------------------------------------------------------------
def test_signed_call_stores_and_reads_back(api: Api) -> None:
    """A correctly signed batch is ACCEPTED; GET by xybm returns status 公示中 and every CF_* field."""
    [result] = api.batch(record())
    assert (result["SJBS"], result["status"], result["errors"]) == ("S1", "ACCEPTED", [])
    got = api.call("GET", f"/api/sgs/v2/xzcf/{result['xybm']}").json()
    assert got["status"] == "公示中"
    assert (got["xybm"], got["SJBS"], got["CF_WSH"], got["CF_NR_FK"]) == (
        result["xybm"],
        "S1",
        record()["CF_WSH"],
        "3",
    )
    assert "CF_XDR_GSZC" in got and got["BZ"] is None
    assert api.call("GET", "/api/sgs/v2/xzcf/NOPE").status_code == 404


@pytest.mark.parametrize(
    ("kind", "sign"),
    [
        ("wrong secret", {}),
        ("stale timestamp", {"ts": int(NOW.timestamp()) - 301}),
        ("short nonce", {"nonce": "x" * 15}),
    ],
)
def test_auth_failures_answer_401(state: credit.CreditState, kind: str, sign: dict[str, Any]) -> None:
    """Wrong signature, a timestamp more than 300 s off, a nonce under 16 characters → 401 AUTH_FAILED."""
    api = Api(state, secret="wrong" if kind == "wrong secret" else credit.APP_SECRET)
    response = api.call("POST", credit.BATCH_PATH, {"records": [record()]}, **sign)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_FAILED"
    assert state.records() == []


def test_nonce_replay_is_rejected(api: Api) -> None:
    """The same nonce twice within 10 minutes → 401; a retry needs a new nonce."""
    nonce = "n" * 20
    assert api.call("GET", "/api/sgs/v2/xzcf/X", nonce=nonce).status_code == 404
    replay = api.call("GET", "/api/sgs/v2/xzcf/X", nonce=nonce)
    assert (replay.status_code, replay.json()["code"]) == (401, "AUTH_FAILED")


def test_rate_limit_429_still_spends_the_nonce(api: Api) -> None:
    """Above 5 calls/s → 429 with Retry-After; the nonce of the 429'd call cannot be reused."""
    api.step = 0
    codes = [api.call("GET", "/api/sgs/v2/xzcf/X").status_code for _ in range(5)]
    limited = api.call("GET", "/api/sgs/v2/xzcf/X", nonce="r" * 16)
    assert codes == [404] * 5
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    Clock.of(api.state).t += 2
    assert api.call("GET", "/api/sgs/v2/xzcf/X", nonce="r" * 16).status_code == 401
    api.state.faults["rate_limits"] = False
    assert {api.call("GET", "/api/sgs/v2/xzcf/X").status_code for _ in range(8)} == {404}


def test_injected_signature_rejection_needs_a_resign(api: Api, state: credit.CreditState) -> None:
    """reject_signature_once_rate answers 401 to a good call; the re-signed retry goes through."""
    state.faults["reject_signature_once_rate"] = 1.0
    assert api.call("POST", credit.BATCH_PATH, {"records": [record()]}).status_code == 401
    assert state.records() == []
    assert api.batch(record())[0]["status"] == "ACCEPTED"


# ---- batch semantics -------------------------------------------------------------------------------
REJECTIONS = [
    ({"CF_XDR_MC": None}, "CF_XDR_MC", "行政相对人名称不能为空"),
    ({"CF_XDR_MC": "名" * 201}, "CF_XDR_MC", "不能超过200"),
    ({"CF_XDR_LB": "企业"}, "CF_XDR_LB", "行政相对人类别应为"),
    ({"CF_XDR_SHXYM": COMPANY[:-1] + ("0" if COMPANY[-1] != "0" else "1")}, "CF_XDR_SHXYM", "校验不通过"),
    ({"CF_XDR_LB": "自然人", "CF_XDR_ZJLX": "身份证", "CF_XDR_ZJHM": ID_NUMBER}, "CF_XDR_SHXYM", "应为空"),
    ({"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_XDR_ZJLX": "身份证"}, "CF_XDR_ZJHM", "不能为空"),
    ({"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_XDR_ZJLX": "身份证", "CF_XDR_ZJHM": "110105194912310021"},
     "CF_XDR_ZJHM", "居民身份证"),
    ({"CF_XDR_ZJLX": "军官证", "CF_XDR_ZJHM": "123"}, "CF_XDR_ZJLX", "证件类型应为"),
    ({"CF_FRDB": None}, "CF_FRDB", "法定代表人不能为空"),
    ({"CF_CFLB": "警告;罚金"}, "CF_CFLB", "罚金"),
    ({"CF_CFLB": "警告；罚款"}, "CF_CFLB", "不在代码表中"),
    ({"CF_NR_FK": "0"}, "CF_NR_FK", "罚款金额应大于0"),
    ({"CF_NR_FK": None}, "CF_NR_FK", "不能为空"),
    ({"CF_NR_FK": "3万"}, "CF_NR_FK", "应为数字"),
    ({"CF_NR_WFFF": "0.1234567"}, "CF_NR_WFFF", "小数位数不能超过6位"),
    ({"CF_CFLB": "吊销许可证件"}, "CF_NR_ZKDX", "不能为空"),
    ({"CF_CFLB": "暂扣许可证件", "CF_NR_ZKDX": "证" * 201}, "CF_NR_ZKDX", "不能超过200"),
    ({"CF_JDRQ": "2025-06-11"}, "CF_JDRQ", "不能晚于当前日期"),
    ({"CF_JDRQ": "2025/06/09"}, "CF_JDRQ", "yyyy-MM-dd"),
    ({"CF_YXQ": "2025-06-08"}, "CF_YXQ", "不能早于处罚决定日期"),
    ({"CF_GSJZQ": "2025-06-08"}, "CF_GSJZQ", "不能早于处罚决定日期"),
    ({"CF_CFJGDM": BUREAU_USCC[:-1] + ("0" if BUREAU_USCC[-1] != "0" else "1")}, "CF_CFJGDM", "校验不通过"),
    ({"CF_SJLYDM": None}, "CF_SJLYDM", "不能为空"),
    ({"CF_WSH": "号" * 129}, "CF_WSH", "不能超过128"),
    ({"BZ": "备" * 513}, "BZ", "不能超过512"),
    ({"CZLX": "X"}, "CZLX", "操作类型"),
    ({"CZLX": "U"}, "SJBS", "不存在"),
    ({"CZLX": "D"}, "SJBS", "不存在"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "field", "message"), REJECTIONS, ids=[r[1] for r in REJECTIONS])
def test_rule_violations_are_rejected_field_by_field(
    api: Api, changes: dict[str, Any], field: str, message: str
) -> None:
    """Each CF_* rule gives REJECTED with a Chinese message on the offending field; nothing is stored."""
    [result] = api.batch(record(**changes))
    assert result["status"] == "REJECTED"
    assert result["xybm"] is None
    assert any(e["field"] == field and message in e["message"] for e in result["errors"]), result["errors"]
    assert api.state.records() == []


def test_optional_rules_accept(api: Api) -> None:
    """自然人 with a valid 身份证 and no USCC, 个体工商户 without 法定代表人, no fine without 罚款: accepted."""
    results = api.batch(
        record(
            "P1",
            CF_XDR_LB="自然人",
            CF_XDR_SHXYM=None,
            CF_FRDB=None,
            CF_XDR_ZJLX="身份证",
            CF_XDR_ZJHM=ID_NUMBER,
        ),
        record("P2", CF_XDR_LB="个体工商户", CF_FRDB=None, CF_WSH="罚〔2025〕2号"),
        record("P3", CF_CFLB="警告", CF_NR_FK=None, CF_WSH="罚〔2025〕3号"),
    )
    assert [r["status"] for r in results] == ["ACCEPTED", "ACCEPTED", "ACCEPTED"], results


@pytest.mark.parametrize(
    ("amount_json", "status"),
    [("0.123456", "ACCEPTED"), ("0.1234560", "REJECTED"), ('"0.1234560"', "REJECTED"), ('"3.50"', "ACCEPTED"),
     ("3", "ACCEPTED"), ("1e-7", "REJECTED")],
)  # fmt: skip
def test_six_decimals_are_counted_as_written(api: Api, amount_json: str, status: str) -> None:
    """CF_NR_FK may have at most 6 decimals as written, in a JSON number or a string."""
    text = json.dumps({"records": [record()]}, ensure_ascii=False).replace(
        '"CF_NR_FK": "3"', f'"CF_NR_FK": {amount_json}'
    )
    response = api.call("POST", credit.BATCH_PATH, raw=text.encode())
    assert response.json()["results"][0]["status"] == status


def test_batch_results_in_order_and_partly_succeeding(api: Api) -> None:
    """One result per record in request order; a bad record does not stop the others."""
    results = api.batch(record("A"), record("B", CF_XDR_MC=""), record("C", CF_WSH="罚〔2025〕46号"))
    assert [(r["SJBS"], r["status"]) for r in results] == [
        ("A", "ACCEPTED"),
        ("B", "REJECTED"),
        ("C", "ACCEPTED"),
    ]


def test_batch_over_200_is_refused(api: Api) -> None:
    """More than 200 records → HTTP 400 BATCH_TOO_LARGE and nothing stored."""
    response = api.call("POST", credit.BATCH_PATH, {"records": [record(f"S{i}") for i in range(201)]})
    assert (response.status_code, response.json()["code"]) == (400, "BATCH_TOO_LARGE")
    assert api.state.records() == []


def test_resending_insert_changes_nothing(api: Api) -> None:
    """I for a known SJBS answers ACCEPTED with the same xybm and keeps the stored record."""
    first = api.batch(record())[0]
    again = api.batch(record(CF_NR="改过的内容"))[0]
    assert (again["status"], again["xybm"]) == ("ACCEPTED", first["xybm"])
    assert found(api.state.get(first["xybm"]))["CF_NR"] == "警告，罚款人民币叁万元整"
    assert len(api.state.records()) == 1


def test_update_needs_full_record_and_keeps_repaired_status(api: Api, state: credit.CreditState) -> None:
    """U replaces the fields but leaves 已修复 as it is; a partial U is REJECTED."""
    xybm = api.batch(record())[0]["xybm"]
    state.repair(xybm)
    assert api.batch({"SJBS": "S1", "CZLX": "U", "CF_NR": "只改这一项"})[0]["status"] == "REJECTED"
    assert api.batch(record(czlx="U", CF_NR="更正后的内容"))[0]["status"] == "ACCEPTED"
    assert (found(state.get(xybm))["status"], found(state.get(xybm))["CF_NR"]) == ("已修复", "更正后的内容")


def test_uploaded_decision_is_duplicate_then_adopted_and_withdrawn(
    api: Api, state: credit.CreditState
) -> None:
    """An xlsx decision answers DUPLICATE to a differently bracketed 文号; U with xybm adopts it; D twice."""
    upload = api.admin("POST", "/_sim/upload", content=xlsx(record(BZ="手工上传")))
    [row] = upload.json()["results"]
    assert row["status"] == "ACCEPTED" and row["SJBS"].startswith("XLSX")
    typed_differently = "(滨海)应急罚[２０２５] 45号"
    dup = api.batch(record("D-1", CF_WSH=typed_differently))[0]
    assert (dup["status"], dup["xybm"]) == ("DUPLICATE", row["xybm"])
    adopted = api.batch(record("D-1", "U", CF_WSH=typed_differently, xybm=row["xybm"]))[0]
    assert (adopted["status"], adopted["xybm"]) == ("ACCEPTED", row["xybm"])
    assert found(state.get(row["xybm"]))["SJBS"] == "D-1"
    assert api.batch(record("D-1"))[0] == {
        "SJBS": "D-1",
        "status": "ACCEPTED",
        "xybm": row["xybm"],
        "errors": [],
    }
    for _ in range(2):
        withdrawn = api.batch({"SJBS": "D-1", "CZLX": "D", "BZ": "复议撤销", "CF_XDR_MC": 123})[0]
        assert (withdrawn["status"], withdrawn["xybm"]) == ("ACCEPTED", row["xybm"])
    got = api.call("GET", f"/api/sgs/v2/xzcf/{row['xybm']}").json()
    assert (got["status"], got["BZ"]) == ("已撤销", "复议撤销")
    assert len(state.records()) == 1


def test_hand_typed_decision_and_other_brackets(state: credit.CreditState, api: Api) -> None:
    """A hand-typed decision is DUPLICATE for the same 文号 up to width and 〔〕【】[]; （） vs 〔〕 differ."""
    hand = state.add_hand_typed(
        {k: v for k, v in record(CF_WSH="滨应急罚【2025】7号").items() if k.startswith("CF_")}
    )
    assert hand["SJBS"].startswith("WEB")
    assert api.batch(record("H1", CF_WSH="滨应急罚〔2025〕7号"))[0]["status"] == "DUPLICATE"
    assert api.batch(record("H2", CF_WSH="滨应急罚（2025）7号"))[0]["status"] == "ACCEPTED"


def test_sjbs_is_scoped_to_the_app(state: credit.CreditState, api: Api) -> None:
    """Another app's SJBS S1 is a different record; it cannot update or withdraw ours."""
    other_uscc = make_uscc("11" + REGION_CODE, random.Random(99))
    state.register_app("SGS-OTHER", "other-secret", other_uscc)
    other = Api(state, "SGS-OTHER", "other-secret")
    ours = api.batch(record())[0]
    theirs = other.batch(record(CF_WSH="他局罚〔2025〕1号", CF_CFJGDM=other_uscc, CF_SJLYDM=other_uscc))[0]
    assert theirs["status"] == "ACCEPTED" and theirs["xybm"] != ours["xybm"]
    other.batch({"SJBS": "S1", "CZLX": "D"})
    assert found(state.get(ours["xybm"]))["status"] == "公示中"
    stolen = other.batch(record("S9", "U", xybm=ours["xybm"]))[0]
    assert stolen["status"] == "REJECTED"


# ---- events ------------------------------------------------------------------------------------------
def test_events_paging_since_inclusive_and_cursor_expiry(api: Api, state: credit.CreditState) -> None:
    """since is inclusive, the cursor carries limit and wins over since, and expires after 24 h with 410."""
    base = dt.datetime(2025, 6, 1, 8, 0)
    for i in range(5):
        state.add_event("BLACKLIST_ADD", COMPANY, occurred_at=base + dt.timedelta(minutes=i))
    since = "2025-06-01T08:01:00+08:00"
    first = api.call("GET", credit.EVENTS_PATH, params={"since": since, "limit": 2}).json()
    assert [e["occurredAt"] for e in first["events"]] == [
        "2025-06-01T08:01:00+08:00",
        "2025-06-01T08:02:00+08:00",
    ]
    params = {"cursor": first["nextCursor"], "since": "2025-06-01T08:00:00+08:00", "limit": 500}
    second = api.call("GET", credit.EVENTS_PATH, params=params).json()
    assert [e["occurredAt"][11:16] for e in second["events"]] == ["08:03", "08:04"]
    assert second["nextCursor"] is None  # nothing after 08:04 yet
    Clock.of(state).t += 24 * 3600 + 1
    expired = api.call("GET", credit.EVENTS_PATH, params={"cursor": first["nextCursor"]})
    assert (expired.status_code, expired.json()["code"]) == (410, "CURSOR_EXPIRED")
    assert api.call("GET", credit.EVENTS_PATH, params={"cursor": "made-up"}).status_code == 410


def test_status_hooks_publish_events_and_expire_cursors_now(api: Api, state: credit.CreditState) -> None:
    """repair/expire change the status and publish events; expire_cursors_now makes cursors 410."""
    a = api.batch(record())[0]["xybm"]
    b = api.batch(record("S2", CF_WSH="罚〔2025〕2号"))[0]["xybm"]
    state.repair(a)
    state.expire(b)
    page = api.call(
        "GET", credit.EVENTS_PATH, params={"since": "2025-06-10T00:00:00+08:00", "limit": 1}
    ).json()
    [event] = page["events"]
    assert (event["type"], event["xybm"], event["uscc"], event["cfWsh"]) == (
        "REPAIRED",
        a,
        COMPANY,
        record()["CF_WSH"],
    )
    assert found(state.get(b))["status"] == "已到期"
    api.admin("POST", "/_sim/faults", json={"expire_cursors_now": True})
    assert api.call("GET", credit.EVENTS_PATH, params={"cursor": page["nextCursor"]}).status_code == 410
    assert api.call("GET", credit.EVENTS_PATH, params={"since": "2025-06-10 00:00:00"}).status_code == 400


# ---- faults ------------------------------------------------------------------------------------------
def test_outage_and_admin_endpoints(api: Api, state: credit.CreditState) -> None:
    """error_rate answers 503 before auth; /_sim/stats and /_sim/records show what happened."""
    api.admin("POST", "/_sim/faults", json={"error_rate": 1.0})
    assert api.call("POST", credit.BATCH_PATH, {"records": [record()]}).status_code == 503
    api.admin("POST", "/_sim/faults", json={"error_rate": 0})
    api.batch(record())
    stats = api.admin("GET", "/_sim/stats").json()
    assert stats["errors_injected"] == 1 and stats["records_accepted"] == 1
    [stored] = api.admin("GET", "/_sim/records").json()["records"]
    assert (stored["SJBS"], stored["status"], stored["origin"]) == ("S1", "公示中", "api")
    assert api.admin("POST", "/_sim/faults", json={"nonsense": 1}).status_code == 400


def test_drop_after_store_is_a_transport_error_on_loopback(state: credit.CreditState) -> None:
    """The batch is stored, then the connection drops: the client sees a transport error, not a reply."""
    state.faults["drop_after_store_rate"] = 1.0
    signer = Api(state)
    body = json.dumps({"records": [record()]}, ensure_ascii=False).encode()
    headers = signer.headers("POST", credit.BATCH_PATH, body)
    with (
        serving(credit.create_app(state)) as server,
        httpx.Client(base_url=server.url) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.post(credit.BATCH_PATH, content=body, headers=headers)
    assert [r["SJBS"] for r in state.records()] == ["S1"]
    assert state.stats["dropped_after_store"] == 1


def test_slow_answer_times_out_the_client_after_the_batch_is_stored(state: credit.CreditState) -> None:
    """slow_rate holds the answer beyond the client's timeout: a timeout, yet the batch is stored."""
    state.faults.update(slow_rate=1.0, slow_ms=300)
    signer = Api(state)
    body = json.dumps({"records": [record()]}, ensure_ascii=False).encode()
    headers = signer.headers("POST", credit.BATCH_PATH, body)
    with (
        serving(credit.create_app(state)) as server,
        httpx.Client(base_url=server.url, timeout=0.05) as client,
        pytest.raises(httpx.TimeoutException),
    ):
        client.post(credit.BATCH_PATH, content=body, headers=headers)
    assert [r["SJBS"] for r in state.records()] == ["S1"]
    assert state.stats["slow_injected"] == 1


def test_event_specs_mix_district_companies_and_strangers() -> None:
    """event_specs: the published kinds in turn, for penalised companies; every sixth for another district."""
    data = datagen.generate(seed=3, inspections=300)
    specs = credit.event_specs(data, 12)
    parties = {p["party"].get("uscc") for p in data.penalties}
    assert [s["uscc"] in parties for s in specs] == [n % 6 != 5 for n in range(12)]
    assert {s["type"] for s in specs} == set(credit.EVENT_TYPES)
    state = credit.CreditState(seed=1)
    assert [state.add_event(**s)["eventId"] for s in specs[:2]] == ["EV0000000001", "EV0000000002"]
