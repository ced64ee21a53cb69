"""Conformance of the municipal simulator with ``docs/interfaces/municipal.md``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from simulators import datagen
from simulators.municipal import MUNICIPAL_APP_KEY, MUNICIPAL_APP_SECRET, MunicipalState, create_app, sign
from simulators.server import serving
from simulators.simkit import SimClock
from tests.support.checks import found

NOW = "2025-06-01 12:00:00"
USCC = "91120116MA05K1XY35"  # the doc example ends in B, whose check character is wrong
DECISION = "（滨海）应急罚〔2025〕45号"


@dataclass
class Sim:
    state: MunicipalState
    clock: SimClock
    client: httpx.Client

    def raw(self, path: str, body: Any, key: str = MUNICIPAL_APP_KEY, secret: str = MUNICIPAL_APP_SECRET,
            skew_ms: int = 0, signature: str | None = None) -> httpx.Response:  # fmt: skip
        ts = str(int(self.clock() * 1000) + skew_ms)
        headers = {"appKey": key, "timestamp": ts, "sign": signature or sign(key, secret, ts)}
        return self.client.post(path, content=json.dumps(body, ensure_ascii=False).encode(), headers=headers)

    def call(self, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        r = self.raw(path, body if body is not None else {}, **kw)
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def sim() -> Iterator[Sim]:
    clock = SimClock()
    clock.freeze(NOW)
    state = MunicipalState(clock=clock)
    with serving(create_app(state)) as srv, httpx.Client(base_url=srv.url, timeout=5) as client:
        yield Sim(state, clock, client)


def _jcjl(wbxtbh: str = "JC2025000123", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "wbxtly": "QJJR", "wbxtbh": wbxtbh, "qymc": "天津滨港化工有限公司", "tyshxydm": USCC,
        "qydz": "天津市滨海新区黄海路1号", "xzqhdm": "120116", "jcsxbm": "120000-AQJC-0005", "jclx": "RCJC",
        "jckssj": "20250601093000", "jcjssj": "20250601110000", "zfry": "12011619001,12011619002", "jcjg": "1",
        "sfla": "N", "yhsl": 3, "zdyhsl": 0, "wsbh": "（滨海）应急检记〔2025〕123号", "zfjgdm": "YJJ-BH-01",
    }  # fmt: skip
    body.update(extra)
    return body


def _xzcf(wbxtbh: str = "CF2025000045", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "wbxtly": "QJJR", "wbxtbh": wbxtbh, "cfjdswh": DECISION, "dsrlx": "DW", "dsrmc": "天津滨港化工有限公司",
        "tyshxydm": USCC, "fddbr": "张建国", "jcsxbm": "120000-AQCF-0001", "wfxw": "未按规定进行安全生产教育和培训",
        "wfss": "经查，该公司……", "cfyj": "《中华人民共和国安全生产法》第九十七条第三项", "cflb": "JG,FK",
        "fkje": "30000.00", "mswfsdje": 0, "cfjdrq": "2025-05-20", "cxlx": "YB", "zfry": "12011619001,12011619002",
        "zfjgdm": "YJJ-BH-01", "xzqhdm": "120116",
    }  # fmt: skip
    body.update(extra)
    return body


def _hand_typed_penalty(sim: Sim, cfjdswh: str) -> str:
    rec = {k: v for k, v in _xzcf(cfjdswh=cfjdswh, fkje="20000.00").items() if k not in ("wbxtly", "wbxtbh")}
    return sim.state.add_hand_typed("xzcf", rec)


def test_auth_errors_are_http_200_envelopes(sim: Sim) -> None:
    """Unknown appKey E1000, wrong sign E1001, timestamp >300 s off E1002, all with HTTP 200."""
    assert sim.call("/openapi/dict/zfjg", key="NOPE")["errCode"] == "E1000"
    wrong = sim.call("/openapi/dict/zfjg", signature="0" * 32)
    assert wrong == {"success": False, "errCode": "E1001", "errMsg": "签名错误", "result": None}
    lower = sign(MUNICIPAL_APP_KEY, MUNICIPAL_APP_SECRET, str(int(sim.clock() * 1000))).lower()
    assert sim.call("/openapi/dict/zfjg", signature=lower)["errCode"] == "E1001"  # upper-case hex only
    assert sim.call("/openapi/dict/zfjg", skew_ms=301_000)["errCode"] == "E1002"
    assert sim.call("/openapi/dict/zfjg", skew_ms=-299_000)["success"] is True


def test_save_creates_then_updates_by_wbxtbh(sim: Sim) -> None:
    """save upserts by (wbxtly, wbxtbh): same jcjlbh, new values, gxsj bumped."""
    first = sim.call("/openapi/jcjl/save", _jcjl())
    jcjlbh = first["result"]["jcjlbh"]
    assert first["success"] and jcjlbh == "JC1201162025000001"
    sim.clock.advance(7)
    again = sim.call("/openapi/jcjl/save", _jcjl(yhsl=5))
    assert again["result"] == {"jcjlbh": jcjlbh}
    [rec] = sim.state.records("jcjl")
    assert (rec["yhsl"], rec["jlzt"], rec["gxsj"], rec["wbxtly"]) == (5, "ZC", "2025-06-01 12:00:07", "QJJR")


def test_required_field_missing_e2001(sim: Sim) -> None:
    """A missing or blank required field answers E2001 naming the field, party fields by dsrlx."""
    assert sim.call("/openapi/jcjl/save", _jcjl(qymc="  "))["errMsg"] == "必填字段缺失: qymc"
    body = _jcjl()
    del body["zfjgdm"]
    assert sim.call("/openapi/jcjl/save", body)["errCode"] == "E2001"
    assert sim.call("/openapi/xzcf/save", _xzcf(fddbr=None))["errMsg"] == "必填字段缺失: fddbr"
    person = _xzcf(dsrlx="GR", tyshxydm=None, fddbr=None, zjlx="01")
    assert sim.call("/openapi/xzcf/save", person)["errMsg"] == "必填字段缺失: zjhm"
    assert sim.state.records("jcjl") == [] and sim.state.records("xzcf") == []


def test_format_errors_e2002(sim: Sim) -> None:
    """Bad check character, >2 decimals, unknown jcjlbh, one officer, pageSize >100 answer E2002."""
    cases = [
        ("/openapi/jcjl/save", _jcjl(tyshxydm=USCC[:17] + "A"), "tyshxydm"),
        ("/openapi/jcjl/save", _jcjl(jckssj="2025-06-01 09:30:00"), "jckssj"),
        ("/openapi/jcjl/save", _jcjl(zfry="12011619001"), "zfry"),
        ("/openapi/xzcf/save", _xzcf(fkje="1234.567"), "fkje"),
        ("/openapi/xzcf/save", _xzcf(jcjlbh="JC1201162025999999"), "jcjlbh"),
        ("/openapi/jcjl/list", {"pageSize": 101}, "pageSize"),
    ]
    for path, body, name in cases:
        assert sim.call(path, body)["errMsg"] == f"字段格式错误: {name}", name
    # Numbers work as well as strings; the city does not check that a fine is positive.
    assert sim.call("/openapi/xzcf/save", _xzcf(fkje=1234.56))["success"]
    assert sim.call("/openapi/xzcf/save", _xzcf("CF2", cfjdswh="x", fkje="0"))["success"]


def test_unknown_item_e2003_and_unregistered_officer_e2004(sim: Sim) -> None:
    """An item not in dict/jcsx (or of the wrong kind) is E2003; an unknown 执法证号 E2004."""
    assert (
        sim.call("/openapi/jcjl/save", _jcjl(jcsxbm="QZJC-0005"))["errMsg"] == "检查事项编码不存在: QZJC-0005"
    )
    assert sim.call("/openapi/jcjl/save", _jcjl(jcsxbm="120000-AQCF-0001"))["errCode"] == "E2003"
    r = sim.call("/openapi/xzcf/save", _xzcf(zfry="12011619001,99999999999"))
    assert r["errMsg"] == "执法人员未注册: 99999999999"


def test_e2005_on_exact_hand_typed_twin_not_on_bracket_variant(sim: Sim) -> None:
    """Same decision number (trimmed) typed at the city → E2005; other brackets are not matched."""
    twin = _hand_typed_penalty(sim, DECISION + " ")
    r = sim.call("/openapi/xzcf/save", _xzcf())
    assert r == {"success": False, "errCode": "E2005", "errMsg": f"数据重复: {twin}", "result": None}

    _hand_typed_penalty(sim, "（滨海）应急罚[2025]46号")
    assert sim.call("/openapi/xzcf/save", _xzcf("CF2025000046", cfjdswh="（滨海）应急罚〔2025〕46号"))[
        "success"
    ]
    assert (
        sim.call("/openapi/xzcf/query", {"cfjdswh": "（滨海）应急罚〔2025〕46号"})["result"][0]["wbxtly"]
        == "QJJR"
    )
    assert len(sim.call("/openapi/xzcf/query", {"cfjdswh": DECISION})["result"]) == 1


def test_e2005_on_inspection_natural_key(sim: Sim) -> None:
    """Same tyshxydm + jcsxbm + date of jckssj as a city record → E2005, whatever the time of day."""
    rec = {k: v for k, v in _jcjl(jckssj="20250601150000").items() if k not in ("wbxtly", "wbxtbh")}
    twin = sim.state.add_hand_typed("jcjl", rec)
    assert sim.call("/openapi/jcjl/save", _jcjl())["errMsg"] == f"数据重复: {twin}"
    assert sim.call("/openapi/jcjl/save", _jcjl(jckssj="20250602093000", jcjssj="20250602110000"))["success"]
    found = sim.call("/openapi/jcjl/query", {"tyshxydm": USCC, "jcrq": "2025-06-01"})["result"]
    assert [r["jcjlbh"] for r in found] == [twin]


def test_link_then_save_updates_the_city_record(sim: Sim) -> None:
    """After /link, save with that wbxtbh replaces the hand-typed values; relinking rules hold."""
    twin = _hand_typed_penalty(sim, DECISION)
    sim.clock.advance(3)
    assert sim.call("/openapi/xzcf/link", {"ajbh": twin, "wbxtly": "QJJR", "wbxtbh": "CF2025000045"})[
        "success"
    ]
    assert sim.call("/openapi/xzcf/link", {"ajbh": twin, "wbxtly": "QJJR", "wbxtbh": "CF2025000045"})[
        "success"
    ]
    assert (
        sim.call("/openapi/xzcf/link", {"ajbh": twin, "wbxtly": "QJJR", "wbxtbh": "OTHER"})["errCode"]
        == "E2005"
    )
    other = _hand_typed_penalty(sim, "（滨海）应急罚〔2025〕99号")
    dup = sim.call("/openapi/xzcf/link", {"ajbh": other, "wbxtly": "QJJR", "wbxtbh": "CF2025000045"})
    assert dup["errMsg"] == f"数据重复: {twin}"
    assert (
        sim.call("/openapi/xzcf/link", {"ajbh": "AJ0", "wbxtly": "QJJR", "wbxtbh": "X"})["errCode"] == "E2006"
    )
    saved = sim.call("/openapi/xzcf/save", _xzcf())
    assert saved["result"] == {"ajbh": twin}
    rec = sim.state.get("xzcf", twin)
    assert rec is not None and rec["fkje"] == Decimal("30000.00") and rec["wbxtbh"] == "CF2025000045"
    assert rec["gxsj"] == "2025-06-01 12:00:03"


def test_void_and_revoke(sim: Sim) -> None:
    """void sets jlzt=ZF, revoke ajzt=YCX; an unknown wbxtbh is E2006; a later save keeps the state."""
    jcjlbh = sim.call("/openapi/jcjl/save", _jcjl())["result"]["jcjlbh"]
    assert sim.call("/openapi/jcjl/void", {"wbxtly": "QJJR", "wbxtbh": "JC2025000123"})["result"] == {
        "jcjlbh": jcjlbh
    }
    assert found(sim.state.get("jcjl", jcjlbh))["jlzt"] == "ZF"
    sim.call("/openapi/xzcf/save", _xzcf(jcjlbh=jcjlbh))
    sim.call("/openapi/xzcf/revoke", {"wbxtly": "QJJR", "wbxtbh": "CF2025000045"})
    assert sim.state.records("xzcf")[0]["ajzt"] == "YCX"
    sim.call("/openapi/xzcf/save", _xzcf(jcjlbh=jcjlbh))
    assert sim.state.records("xzcf")[0]["ajzt"] == "YCX"
    assert sim.call("/openapi/jcjl/void", {"wbxtly": "QJJR", "wbxtbh": "nope"})["errCode"] == "E2006"


def test_list_window_region_and_paging(sim: Sim) -> None:
    """list: inclusive gxsj bounds, xzqhdm filter, default pageSize 20, amounts as 2-decimal numbers."""
    data = datagen.generate(seed=3, inspections=600)
    sim.state.load(data)
    everything = sim.state.records("jcjl")
    assert sim.call("/openapi/jcjl/list", {})["result"]["total"] == len(everything)
    assert len(sim.call("/openapi/jcjl/list", {})["result"]["list"]) == 20
    region = sim.call("/openapi/jcjl/list", {"xzqhdm": "120101", "pageSize": 100})["result"]
    assert region["total"] >= 1 and {r["xzqhdm"] for r in region["list"]} == {"120101"}
    g = everything[5]["gxsj"]
    window = sim.call("/openapi/jcjl/list", {"gxsjStart": g, "gxsjEnd": g, "pageSize": 100})["result"]["list"]
    assert window and {r["gxsj"] for r in window} == {g}
    raw = sim.raw("/openapi/xzcf/list", {"pageSize": 1}).text
    assert (
        '"fkje": ' in raw
        and '"fkje": "' not in raw
        and raw.split('"fkje": ')[1].split(",")[0].count(".") == 1
    )


def test_rate_limit_e4290_counts_only_authenticated_calls(sim: Sim) -> None:
    """Above 10 authenticated calls per second per appKey: HTTP 200 with E4290 and no Retry-After."""
    for _ in range(5):
        sim.call("/openapi/dict/zfjg", signature="bad")  # not counted
    answers = [sim.raw("/openapi/dict/zfjg", {}) for _ in range(11)]
    assert [a.json()["success"] for a in answers[:10]] == [True] * 10
    assert answers[10].status_code == 200 and answers[10].json()["errCode"] == "E4290"
    assert "retry-after" not in answers[10].headers
    sim.clock.advance(1.01)
    assert sim.call("/openapi/dict/zfjg")["success"]


def test_proxy_html_pages_and_e5000(sim: Sim) -> None:
    """The proxy answers HTML 502/503/504 pages; e5000_rate gives the E5000 envelope."""
    sim.state.faults.update(html_error_rate=1.0, seed=1)
    statuses = set()
    for _ in range(8):
        r = sim.raw("/openapi/jcjl/list", {})
        assert r.headers["content-type"].startswith("text/html") and "<html>" in r.text
        statuses.add(r.status_code)
    assert 502 in statuses and statuses <= {502, 503, 504}
    sim.state.faults.update(html_error_rate=0.0, e5000_rate=1.0)
    assert sim.call("/openapi/jcjl/list", {})["errCode"] == "E5000"
    assert sim.state.faults.stats()["faults"] == {"5xx": 8, "E5000": 1}


def test_drop_after_store_leaves_the_record_stored(sim: Sim) -> None:
    """A dropped save raises a transport error yet is stored; the retry updates, not duplicates."""
    sim.state.faults.update(drop_after_store_rate=1.0)
    with pytest.raises(httpx.TransportError):
        sim.raw("/openapi/jcjl/save", _jcjl())
    assert len(sim.state.records("jcjl")) == 1
    sim.state.faults.update(drop_after_store_rate=0.0)
    assert sim.call("/openapi/jcjl/save", _jcjl())["success"]
    assert len(sim.state.records("jcjl")) == 1


def test_dicts_cover_the_universe(sim: Sim) -> None:
    """dict/zfry lists every district officer, dict/jcsx every item with its lx, dict/zfjg the orgs."""
    from simulators import universe

    zfry = {r["zjh"] for r in sim.call("/openapi/dict/zfry")["result"]}
    assert {o.cert_no for o in universe.OFFICERS} <= zfry
    jcsx = {r["bm"]: r["lx"] for r in sim.call("/openapi/dict/jcsx")["result"]}
    assert all(jcsx[i.municipal_code] == ("JC" if i.kind == "inspection" else "CF") for i in universe.ITEMS)
    zfjg = {r["dm"]: r["xzqhdm"] for r in sim.call("/openapi/dict/zfjg")["result"]}
    assert all(zfjg[d.municipal_org_code] == "120116" for d in universe.DEPARTMENTS)


def test_admin_http_hooks(sim: Sim) -> None:
    """/_sim/records adds hand-typed records, edits them as a clerk, and lists them with wbxtly."""
    admin = httpx.Client(base_url=str(sim.client.base_url))
    rec = {k: v for k, v in _xzcf().items() if k not in ("wbxtly", "wbxtbh")}
    [ajbh] = admin.post("/_sim/records/xzcf", json=rec).json()["ids"]
    sim.clock.advance(2)
    edited = admin.post(f"/_sim/records/xzcf/{ajbh}", json={"fkje": "25000.5"}).json()
    assert edited["fkje"] == 25000.50 and edited["gxsj"] == "2025-06-01 12:00:02"
    listed = admin.get("/_sim/records/xzcf").json()
    assert [(r["ajbh"], r["wbxtly"]) for r in listed] == [(ajbh, None)]
    admin.close()
