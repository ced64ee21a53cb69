"""Simulator of the 市应急管理执法系统 (``municipal``), per ``docs/interfaces/municipal.md``.

Quirks kept on purpose: every answer is HTTP 200 with ``success=false`` for errors — auth (E1000–
E1002) and rate limits (E4290, 10 calls/s per appKey, no Retry-After) included; E5000 at random; the
proxy's HTML 502/503/504 pages on outages; ``save`` refuses with E2005 to create a record whose
natural key equals one typed in at the city, comparing **exactly** after trimming spaces (a decision
number with other brackets or full-width digits is not found); amounts with more than two
decimals are refused; windows are inclusive on ``gxsj``.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import json
import re
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators import universe
from simulators.datagen import CITY_OFFICERS, CITY_ORGS
from simulators.simkit import (
    DroppedResponse,
    Faults,
    RateLimiter,
    SimClock,
    common_admin_routes,
    fmt_beijing,
    proxy_page,
    quiet_dropped_log,
)
from simulators.simkit import is_uscc as _is_uscc

MUNICIPAL_APP_KEY = "QJJR-BH"
MUNICIPAL_APP_SECRET = "municipal-secret"
WBXTLY = "QJJR"
RATE_LIMIT = 10  # authenticated calls per second per appKey
MAX_SKEW_S = 300
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 100, 20

JCJL_FIELDS = ("jcjlbh", "wbxtly", "wbxtbh", "qymc", "tyshxydm", "qydz", "xzqhdm", "jcsxbm", "jclx", "jckssj",
               "jcjssj", "zfry", "jcjg", "sfla", "yhsl", "zdyhsl", "wsbh", "zfjgdm", "jlzt", "gxsj")  # fmt: skip
XZCF_FIELDS = ("ajbh", "wbxtly", "wbxtbh", "cfjdswh", "dsrlx", "dsrmc", "tyshxydm", "fddbr", "zjlx", "zjhm",
               "jcjlbh", "jcsxbm", "wfxw", "wfss", "cfyj", "cflb", "fkje", "mswfsdje", "cfjdrq", "cxlx", "ajzt",
               "zfry", "zfjgdm", "xzqhdm", "gxsj")  # fmt: skip
_REQUIRED = {
    "jcjl": ("wbxtly", "wbxtbh", "qymc", "tyshxydm", "xzqhdm", "jcsxbm", "jclx", "jckssj", "jcjssj", "zfry", "jcjg",
             "sfla", "zfjgdm"),
    "xzcf": ("wbxtly", "wbxtbh", "cfjdswh", "dsrlx", "dsrmc", "jcsxbm", "wfxw", "wfss", "cfyj", "cflb", "cfjdrq",
             "cxlx", "zfry", "zfjgdm", "xzqhdm"),
}  # fmt: skip
_PARTY_REQUIRED = {"DW": ("tyshxydm", "fddbr"), "GTH": ("tyshxydm",), "GR": ("zjlx", "zjhm")}
_ID_FIELD = {"jcjl": "jcjlbh", "xzcf": "ajbh"}
_KINDS = {"jcjl": "jcjl", "xzcf": "xzcf", "inspections": "jcjl", "penalties": "xzcf", "inspection": "jcjl",
          "penalty": "xzcf"}  # fmt: skip
_JCLX = {"RCJC", "SSJ", "ZXJC", "JBHC", "FC"}
_CFLB = {
    "JG",
    "TBPP",
    "FK",
    "MSWFSD",
    "MSFFCW",
    "ZKXKZ",
    "JDZZ",
    "DXXKZ",
    "XZSC",
    "TCTY",
    "ZLGB",
    "XZCY",
    "XZJL",
    "QT",
}
_MAXLEN = {"wbxtbh": 64, "qymc": 200, "qydz": 400, "wsbh": 100, "cfjdswh": 128, "dsrmc": 200, "wfxw": 2000,
           "wfss": 2000, "cfyj": 2000, "fddbr": 100, "zjhm": 64}  # fmt: skip
_REGION = re.compile(r"^\d{6}$")

DICT_JCSX = [
    {"bm": i.municipal_code, "mc": i.name, "lx": "JC" if i.kind == "inspection" else "CF"}
    for i in universe.ITEMS
]
_ORG_OF = {d.code: d.municipal_org_code for d in universe.DEPARTMENTS}
DICT_ZFRY = [{"zjh": o.cert_no, "xm": o.name, "zfjgdm": _ORG_OF[o.dept_code]} for o in universe.OFFICERS] + [
    {"zjh": zjh, "xm": xm, "zfjgdm": org} for zjh, xm, org in CITY_OFFICERS
]
DICT_ZFJG = [
    {"dm": d.municipal_org_code, "mc": d.name, "xzqhdm": universe.REGION_CODE} for d in universe.DEPARTMENTS
] + [{"dm": dm, "mc": mc, "xzqhdm": region} for dm, mc, region in CITY_ORGS]
_ITEM_LX = {d["bm"]: d["lx"] for d in DICT_JCSX}
_CERTS = {d["zjh"] for d in DICT_ZFRY}
_ORGS = {d["dm"] for d in DICT_ZFJG}


class MuniError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code, self.msg = code, msg


def sign(app_key: str, secret: str, timestamp: str) -> str:
    """Upper-case hex MD5 of appKey + appSecret + timestamp."""
    return hashlib.md5((app_key + secret + timestamp).encode()).hexdigest().upper()


def _trim(value: Any) -> Any:
    return value.strip(" \t\r\n") if isinstance(value, str) else value  # ASCII spaces only: "（" stays


def _natural_key(kind: str, rec: dict[str, Any]) -> Any:
    if kind == "jcjl":
        return (_trim(rec.get("tyshxydm")), _trim(rec.get("jcsxbm")), (_trim(rec.get("jckssj")) or "")[:8])
    return _trim(rec.get("cfjdswh"))


def _amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ValueError(value)
    try:
        d = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(value) from None
    if not d.is_finite() or int(d.as_tuple().exponent) < -2:  # "1234.567" → E2002
        raise ValueError(value)
    return d.quantize(Decimal("0.01"))


def _fmt_ok(value: Any, fmt: str) -> bool:
    try:
        return isinstance(value, str) and datetime.strptime(value, fmt).strftime(fmt) == value
    except ValueError:
        return False


def _bad(name: str) -> MuniError:
    return MuniError("E2002", f"字段格式错误: {name}")


def _check_required(kind: str, body: dict[str, Any]) -> None:
    """E2001 for the first required field missing (the party's fields depend on its type)."""
    required = list(_REQUIRED[kind])
    if kind == "xzcf" and body.get("dsrlx") in _PARTY_REQUIRED:
        required += _PARTY_REQUIRED[body["dsrlx"]]
    for name in required:
        v = body.get(name)
        if v is None or (isinstance(v, str) and not _trim(v)):
            raise MuniError("E2001", f"必填字段缺失: {name}")


_TEXT_FIELDS = ("xzqhdm", "jcsxbm", "zfry", "zfjgdm", "tyshxydm", "qymc", "dsrmc", "cfjdswh")


def _check_envelope(kind: str, rec: dict[str, Any]) -> None:
    """Lengths, the external source tag, text fields, the USCC (not for a person) and the region."""
    for name, limit in _MAXLEN.items():
        value = rec.get(name)
        if name in rec and value is not None and (not isinstance(value, str) or len(value) > limit):
            raise _bad(name)
    if rec["wbxtly"] != WBXTLY:
        raise _bad("wbxtly")
    for name in _TEXT_FIELDS:
        if name in rec and rec[name] is not None and not isinstance(rec[name], str):
            raise _bad(name)
    person = kind == "xzcf" and rec["dsrlx"] == "GR"
    if rec.get("tyshxydm") is not None and not person and not _is_uscc(rec["tyshxydm"]):
        raise _bad("tyshxydm")
    if not _REGION.match(rec["xzqhdm"]):
        raise _bad("xzqhdm")


def _check_catalogues(kind: str, rec: dict[str, Any]) -> None:
    """The item (E2003), the officers (at least two, each registered: E2004) and the agency, against the
    city's dictionaries; ``zfry`` is stored trimmed."""
    if _ITEM_LX.get(rec["jcsxbm"]) != ("JC" if kind == "jcjl" else "CF"):
        raise MuniError("E2003", f"检查事项编码不存在: {rec['jcsxbm']}")
    certs = [_trim(c) for c in rec["zfry"].split(",")]
    if len(certs) < 2 or "" in certs:
        raise _bad("zfry")
    for cert in certs:
        if cert not in _CERTS:
            raise MuniError("E2004", f"执法人员未注册: {cert}")
    rec["zfry"] = ",".join(certs)
    if rec["zfjgdm"] not in _ORGS:
        raise _bad("zfjgdm")


def _count_ok(v: Any) -> bool:
    return v is None or (type(v) is int and v >= 0) or (isinstance(v, str) and v.isdigit())


_Check = Callable[[dict[str, Any], Callable[[str], bool]], bool]  # (record, exists) -> fine
# The fields each kind checks for their format, in the order the first failure is answered.
_JCJL_CHECKS: dict[str, _Check] = {
    "jclx": lambda r, _: r["jclx"] in _JCLX,
    "jckssj": lambda r, _: _fmt_ok(r["jckssj"], "%Y%m%d%H%M%S"),
    "jcjssj": lambda r, _: _fmt_ok(r["jcjssj"], "%Y%m%d%H%M%S"),
    "jcjg": lambda r, _: r["jcjg"] in ("0", "1"),
    "sfla": lambda r, _: r["sfla"] in ("Y", "N"),
    "jlzt": lambda r, _: r["jlzt"] in (None, "ZC", "ZF"),
    "yhsl": lambda r, _: _count_ok(r["yhsl"]),
    "zdyhsl": lambda r, _: _count_ok(r["zdyhsl"]),
}
_XZCF_CHECKS: dict[str, _Check] = {
    "dsrlx": lambda r, _: r["dsrlx"] in _PARTY_REQUIRED,
    "zjlx": lambda r, _: r["zjlx"] in (None, "01", "02", "03", "04"),
    "cflb": lambda r, _: all(c.strip() in _CFLB for c in str(r["cflb"]).split(",")),
    "cfjdrq": lambda r, _: _fmt_ok(r["cfjdrq"], "%Y-%m-%d"),
    "cxlx": lambda r, _: r["cxlx"] in ("YB", "JY"),
    "ajzt": lambda r, _: r["ajzt"] in (None, "YJD", "YCX", "YJA"),
    # a jcjlbh that does not exist is a format error too (E2002)
    "jcjlbh": lambda r, exists: r["jcjlbh"] is None or (isinstance(r["jcjlbh"], str) and exists(r["jcjlbh"])),
}


def _inspection_failures(rec: dict[str, Any], exists: Callable[[str], bool]) -> list[str]:
    """The inspection's fields that fail their check; codes and counts stored as their types."""
    if type(rec["jcjg"]) is int:  # documented as a code; a JSON number is taken as well
        rec["jcjg"] = str(rec["jcjg"])
    failed = [name for name, ok in _JCJL_CHECKS.items() if not ok(rec, exists)]
    for name in ("yhsl", "zdyhsl"):
        rec[name] = int(rec[name]) if rec[name] is not None else None
    return failed


def _penalty_failures(rec: dict[str, Any], exists: Callable[[str], bool]) -> list[str]:
    """The penalty's fields that fail their check; amounts stored as Decimal."""
    failed = [name for name, ok in _XZCF_CHECKS.items() if not ok(rec, exists)]
    for name in ("fkje", "mswfsdje"):
        try:
            rec[name] = _amount(rec[name])
        except ValueError:
            failed.append(name)
    return failed


def _validate(kind: str, body: dict[str, Any], exists: Callable[[str], bool]) -> dict[str, Any]:
    """Check a ``save`` body; return the record to store (municipal fields only, trimmed, amounts Decimal)."""
    _check_required(kind, body)
    rec = {k: _trim(body.get(k)) for k in (JCJL_FIELDS if kind == "jcjl" else XZCF_FIELDS)}
    _check_envelope(kind, rec)
    _check_catalogues(kind, rec)
    failed = (_inspection_failures if kind == "jcjl" else _penalty_failures)(rec, exists)
    if failed:
        raise _bad(failed[0])
    return rec


class MunicipalState:
    """The city's records, indexes, appKeys, fault knobs and counters. Thread-safe."""

    def __init__(self, app_keys: dict[str, str] | None = None, clock: Callable[[], float] | None = None,
                 seed: int = 0) -> None:  # fmt: skip
        self.app_keys = dict(app_keys or {MUNICIPAL_APP_KEY: MUNICIPAL_APP_SECRET})
        self.clock = clock if clock is not None else SimClock()
        self.faults = Faults(seed)
        self.limiter = RateLimiter(self.clock)
        self._lock = threading.RLock()
        self._recs: dict[str, dict[str, dict[str, Any]]] = {"jcjl": {}, "xzcf": {}}
        self._owner: dict[str, str | None] = {}  # id -> appKey that owns its external id (None: city)
        self._ext: dict[tuple[str, str, str], str] = {}  # (appKey, wbxtly, wbxtbh) -> id
        self._sorted: dict[tuple[str, str | None], list[tuple[str, str]]] = {}  # (kind, region|None) -> keys
        self._hand: dict[str, dict[Any, set[str]]] = {"jcjl": {}, "xzcf": {}}  # natural key -> city ids
        self._by: dict[str, dict[Any, set[str]]] = {"tyshxydm": {}, "cfjdswh": {}}  # query indexes
        self._seq: dict[str, int] = {"jcjl": 0, "xzcf": 0}

    def now(self) -> str:
        return fmt_beijing(self.clock())

    # --- storage ----------------------------------------------------------------------------
    def _index(self, kind: str, rec: dict[str, Any], add: bool) -> None:
        rid = rec[_ID_FIELD[kind]]
        key = (rec["gxsj"], rid)
        for region in (None, rec.get("xzqhdm")):
            keys = self._sorted.setdefault((kind, region), [])
            if add:
                insort(keys, key)
            else:
                del keys[bisect_left(keys, key)]
        entries = [(self._by["tyshxydm"], _trim(rec.get("tyshxydm")))]
        if kind == "xzcf":
            entries.append((self._by["cfjdswh"], _trim(rec.get("cfjdswh"))))
        if rec.get("wbxtly") is None:
            entries.append((self._hand[kind], _natural_key(kind, rec)))
        for index, value in entries:
            if add:
                index.setdefault(value, set()).add(rid)
            else:
                index[value].discard(rid)

    def _store(self, kind: str, rec: dict[str, Any], owner: str | None) -> dict[str, Any]:
        """Insert or replace (records are replaced, never mutated, so readers can keep references)."""
        rid = rec[_ID_FIELD[kind]]
        old = self._recs[kind].get(rid)
        if old is not None:
            self._index(kind, old, add=False)
        self._recs[kind][rid] = rec
        self._owner[rid] = owner
        if rec.get("wbxtly") is not None and owner is not None:
            self._ext[(owner, rec["wbxtly"], rec["wbxtbh"])] = rid
        self._index(kind, rec, add=True)
        return rec

    def _new_id(self, kind: str, region: str | None, year: str | None = None) -> str:
        """``JC1201162025000001``: prefix, region, year of entry, running number."""
        self._seq[kind] += 1
        prefix = "JC" if kind == "jcjl" else "AJ"
        return f"{prefix}{region or universe.CITY_CODE}{year or self.now()[:4]}{self._seq[kind]:06d}"

    # --- open API ---------------------------------------------------------------------------
    def save(self, app_key: str, kind: str, body: Any) -> dict[str, str]:
        if not isinstance(body, dict):
            raise MuniError("E2002", "字段格式错误: body")
        id_field = _ID_FIELD[kind]
        with self._lock:
            rec = _validate(kind, body, lambda bh: bh in self._recs["jcjl"])
            existing = self._ext.get((app_key, rec["wbxtly"], rec["wbxtbh"]))
            if existing is None:
                twins = self._hand[kind].get(_natural_key(kind, rec))
                if twins:
                    raise MuniError("E2005", f"数据重复: {min(twins)}")
                rid = self._new_id(kind, rec["xzqhdm"])
                status_default = "ZC" if kind == "jcjl" else "YJD"
            else:
                rid = existing
                status_default = self._recs[kind][rid]["jlzt" if kind == "jcjl" else "ajzt"]
            status = "jlzt" if kind == "jcjl" else "ajzt"
            rec[status] = rec[status] or status_default  # absent on update: keeps the current state
            rec[id_field], rec["gxsj"] = rid, self.now()
            self._store(kind, rec, app_key)
            return {id_field: rid}

    def link(self, app_key: str, kind: str, body: Any) -> dict[str, str]:
        id_field = _ID_FIELD[kind]
        body = body if isinstance(body, dict) else {}
        for name in (id_field, "wbxtly", "wbxtbh"):
            if body.get(name) is None or not _trim(str(body[name])):
                raise MuniError("E2001", f"必填字段缺失: {name}")
        rid, wbxtly, wbxtbh = _trim(body[id_field]), _trim(body["wbxtly"]), _trim(body["wbxtbh"])
        if wbxtly != WBXTLY:
            raise MuniError("E2002", "字段格式错误: wbxtly")
        with self._lock:
            rec = self._recs[kind].get(rid)
            if rec is None:
                raise MuniError("E2006", "记录不存在")
            if rec["wbxtly"] is not None and (self._owner[rid], rec["wbxtly"], rec["wbxtbh"]) != (
                app_key,
                wbxtly,
                wbxtbh,
            ):
                raise MuniError("E2005", f"数据重复: {rid}")  # already linked to another external id
            other = self._ext.get((app_key, wbxtly, wbxtbh))
            if other is not None and other != rid:
                raise MuniError("E2005", f"数据重复: {other}")  # that wbxtbh is already in use
            self._store(kind, {**rec, "wbxtly": wbxtly, "wbxtbh": wbxtbh, "gxsj": self.now()}, app_key)
            return {id_field: rid}

    def query(self, app_key: str, kind: str, body: Any) -> list[dict[str, Any]]:
        body = body if isinstance(body, dict) else {}
        allowed = ("wbxtly", "wbxtbh", "tyshxydm") + (("jcrq",) if kind == "jcjl" else ("cfjdswh",))
        crit = {k: _trim(body[k]) for k in allowed if body.get(k) is not None}
        if not crit:
            raise MuniError("E2001", "必填字段缺失: 查询条件")
        if "jcrq" in crit and not _fmt_ok(crit["jcrq"], "%Y-%m-%d"):
            raise MuniError("E2002", "字段格式错误: jcrq")
        with self._lock:
            recs = self._recs[kind]
            if "wbxtbh" in crit:  # external ids are per appKey
                rid = self._ext.get((app_key, crit.get("wbxtly", WBXTLY), crit["wbxtbh"]))
                ids: Any = [rid] if rid in recs else []
            elif "cfjdswh" in crit:
                ids = self._by["cfjdswh"].get(crit["cfjdswh"], ())
            elif "tyshxydm" in crit:
                ids = [i for i in self._by["tyshxydm"].get(crit["tyshxydm"], ()) if i in recs]
            else:
                ids = recs.keys()
            out = []
            for rid in sorted(ids):
                rec = recs[rid]
                if ("wbxtly" in crit and rec["wbxtly"] != crit["wbxtly"]) or (
                    "jcrq" in crit and (rec.get("jckssj") or "")[:8] != crit["jcrq"].replace("-", "")
                ):
                    continue
                if "tyshxydm" in crit and _trim(rec.get("tyshxydm")) != crit["tyshxydm"]:
                    continue
                out.append(rec)
            return out

    def withdraw(self, app_key: str, kind: str, body: Any) -> dict[str, str]:
        """``/jcjl/void`` (jlzt=ZF) and ``/xzcf/revoke`` (ajzt=YCX)."""
        body = body if isinstance(body, dict) else {}
        for name in ("wbxtly", "wbxtbh"):
            if body.get(name) is None or not _trim(str(body[name])):
                raise MuniError("E2001", f"必填字段缺失: {name}")
        with self._lock:
            rid = self._ext.get((app_key, _trim(body["wbxtly"]), _trim(body["wbxtbh"])))
            if rid is None:
                raise MuniError("E2006", "记录不存在")
            status = {"jlzt": "ZF"} if kind == "jcjl" else {"ajzt": "YCX"}
            self._store(kind, {**self._recs[kind][rid], **status, "gxsj": self.now()}, app_key)
            return {_ID_FIELD[kind]: rid}

    def list(self, kind: str, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        page, size = body.get("pageNo", 1), body.get("pageSize", DEFAULT_PAGE_SIZE)
        if type(page) is not int or page < 1:
            raise MuniError("E2002", "字段格式错误: pageNo")
        if type(size) is not int or not 1 <= size <= MAX_PAGE_SIZE:
            raise MuniError("E2002", "字段格式错误: pageSize")
        start, end, region = body.get("gxsjStart"), body.get("gxsjEnd"), body.get("xzqhdm")
        for name, value in (("gxsjStart", start), ("gxsjEnd", end)):
            if value is not None and not _fmt_ok(value, "%Y-%m-%d %H:%M:%S"):
                raise MuniError("E2002", f"字段格式错误: {name}")
        if region is not None and not (isinstance(region, str) and _REGION.match(region)):
            raise MuniError("E2002", "字段格式错误: xzqhdm")
        with self._lock:
            keys = self._sorted.get((kind, region), [])
            lo = bisect_left(keys, (start, "")) if start else 0
            hi = bisect_right(keys, (end, "\U0010ffff")) if end else len(keys)
            first = lo + (page - 1) * size
            rows = [self._recs[kind][i] for _, i in keys[first : min(first + size, hi)]] if first < hi else []
            return {"total": max(hi - lo, 0), "list": rows}

    # --- test hooks -------------------------------------------------------------------------
    def load(self, dataset: Any) -> None:
        """Seed the records typed in at the city from a :class:`simulators.datagen.Dataset`."""
        for rec in dataset.city_inspections:
            self.add_hand_typed("jcjl", rec)
        for rec in dataset.city_penalties:
            self.add_hand_typed("xzcf", rec)

    def add_hand_typed(self, kind: str, record: dict[str, Any]) -> str:
        """A record typed in at the city (``wbxtly`` null); no API validation. Returns its id."""
        kind = _KINDS[kind]
        fields = JCJL_FIELDS if kind == "jcjl" else XZCF_FIELDS
        rec: dict[str, Any] = {k: copy.deepcopy(record.get(k)) for k in fields}
        with self._lock:
            rec.update(wbxtly=None, wbxtbh=None)
            rec["gxsj"] = record.get("gxsj") or self.now()
            rec[_ID_FIELD[kind]] = record.get(_ID_FIELD[kind]) or self._new_id(
                kind, rec["xzqhdm"], rec["gxsj"][:4]
            )
            if kind == "jcjl":
                rec["jlzt"] = rec["jlzt"] or "ZC"
            else:
                rec["ajzt"] = rec["ajzt"] or "YJD"
                for name in ("fkje", "mswfsdje"):
                    rec[name] = _amount(rec[name])
            return str(self._store(kind, rec, None)[_ID_FIELD[kind]])

    def update_city_record(self, kind: str, record_id: str, **fields: Any) -> dict[str, Any]:
        """A clerk edits a record at the city; ``gxsj`` = now unless given."""
        kind = _KINDS[kind]
        with self._lock:
            rec = {**self._recs[kind][record_id], **copy.deepcopy(fields)}
            rec.setdefault("gxsj", self.now())
            if "gxsj" not in fields:
                rec["gxsj"] = self.now()
            for name in ("fkje", "mswfsdje"):
                if name in fields:
                    rec[name] = _amount(rec[name])
            return copy.deepcopy(self._store(kind, rec, self._owner.get(record_id)))

    def remove(self, kind: str, record_id: str) -> bool:
        """A record deleted at the city behind the sender's back; its external id is free again."""
        kind = _KINDS[kind]
        with self._lock:
            rec = self._recs[kind].pop(record_id, None)
            if rec is None:
                return False
            self._index(kind, rec, add=False)
            owner = self._owner.pop(record_id, None)
            if rec.get("wbxtly") is not None and owner is not None:
                self._ext.pop((owner, rec["wbxtly"], rec["wbxtbh"]), None)
            return True

    def get(self, kind: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            rec = self._recs[_KINDS[kind]].get(record_id)
            return copy.deepcopy(rec) if rec is not None else None

    def records(self, kind: str) -> builtins.list[dict[str, Any]]:  # ``list`` is a method here
        """Every record of ``kind`` ("jcjl" | "xzcf"), sorted by (gxsj, id), incl. wbxtly/wbxtbh."""
        kind = _KINDS[kind]
        with self._lock:
            return [copy.deepcopy(self._recs[kind][i]) for _, i in self._sorted.get((kind, None), [])]


# --- HTTP ------------------------------------------------------------------------------------
_DEC = re.compile(r'"\\u0000DEC(-?[0-9.]+)\\u0000"')


def render(payload: Any) -> bytes:
    """JSON with amounts as numbers with two decimals (30000.00), as the vendor's Java stack writes."""
    text = json.dumps(payload, ensure_ascii=False, default=lambda o: f"\x00DEC{o:.2f}\x00")
    return _DEC.sub(r"\1", text).encode()


def _answer(result: Any = None, error: MuniError | None = None) -> Response:
    body = {"success": error is None, "errCode": error.code if error else None,
            "errMsg": error.msg if error else None, "result": result}  # fmt: skip
    return Response(render(body), media_type="application/json")


Operation = Callable[[str, Any], Any]  # (appKey, body) -> result, or MuniError
_AUTH_CODES = ("E1000", "E1001", "E1002")


def _authenticate(state: MunicipalState, request: Request) -> str:
    """The caller's appKey, if the key is known, the timestamp fresh and the signature right."""
    app_key = request.headers.get("appKey", "")
    secret = state.app_keys.get(app_key)
    if secret is None:
        raise MuniError("E1000", "应用不存在")
    ts = request.headers.get("timestamp", "")
    if not ts.isdigit() or abs(int(ts) / 1000 - state.clock()) > MAX_SKEW_S:
        raise MuniError("E1002", "签名已过期")
    if request.headers.get("sign", "") != sign(app_key, secret, ts):
        raise MuniError("E1001", "签名错误")
    return app_key


def _outage(faults: Faults) -> Response | None:
    """The proxy's HTML page during an outage (None: the call reaches the system)."""
    if faults["down"]:
        faults.count("5xx")
        return proxy_page(503)
    if faults.roll("html_error_rate") or (faults.roll("error_rate") and faults.choice([True, False])):
        faults.count("5xx")
        return proxy_page(faults.choice([502, 503, 504]))
    return None


async def _call(state: MunicipalState, request: Request, operation: Operation) -> Any:
    """Authenticate, apply the rate limit and random busy answers, read the body, run the operation."""
    faults = state.faults
    app_key = _authenticate(state, request)
    if not state.limiter.allow(app_key, faults.limit(RATE_LIMIT)):
        faults.count("E4290")
        raise MuniError("E4290", "调用频率超限")
    if faults.roll("e5000_rate") or faults.roll("error_rate"):
        faults.count("E5000")
        raise MuniError("E5000", "系统繁忙")
    try:
        body = json.loads(await request.body() or b"{}", parse_float=Decimal)
    except ValueError:
        raise MuniError("E2002", "字段格式错误: 请求体不是JSON") from None
    return operation(app_key, body)


def _endpoint(
    state: MunicipalState, name: str, operation: Operation, write: bool
) -> Callable[[Request], Any]:
    """An open-API endpoint: outages, the call, its answer envelope, and drop-after-store for writes."""
    faults = state.faults

    async def endpoint(request: Request) -> Response:
        faults.call(name)
        await faults.delay()
        down = _outage(faults)
        if down is not None:
            return down
        try:
            result = await _call(state, request, operation)
        except MuniError as e:
            if e.code in _AUTH_CODES:
                faults.count("auth")
            await faults.slow()
            return _answer(error=e)
        await faults.slow()
        if write and faults.roll("drop_after_store_rate"):
            faults.count("drop")
            return DroppedResponse()  # stored; the client sees the connection drop
        return _answer(result)

    return endpoint


def _record_routes(state: MunicipalState, kind: str) -> list[Route]:
    """``/openapi/{jcjl|xzcf}/…``: list, save, link, query and void (jcjl) or revoke (xzcf)."""
    operations: dict[str, tuple[Operation, bool]] = {  # op -> (what it does, whether it writes)
        "list": (lambda k, b: state.list(kind, b), False),
        "save": (lambda k, b: state.save(k, kind, b), True),
        "link": (lambda k, b: state.link(k, kind, b), True),
        "query": (lambda k, b: state.query(k, kind, b), False),
        "void" if kind == "jcjl" else "revoke": (lambda k, b: state.withdraw(k, kind, b), True),
    }
    return [
        Route(f"/openapi/{kind}/{op}", _endpoint(state, f"{kind}/{op}", fn, write), methods=["POST"])
        for op, (fn, write) in operations.items()
    ]


def create_app(state: MunicipalState | None = None) -> Starlette:
    """The open API (all POST) plus the ``/_sim/`` admin hooks."""
    state = state if state is not None else MunicipalState()
    quiet_dropped_log()
    routes = [*_admin_routes(state), *_record_routes(state, "jcjl"), *_record_routes(state, "xzcf")]
    for name, rows in (("jcsx", DICT_JCSX), ("zfry", DICT_ZFRY), ("zfjg", DICT_ZFJG)):
        endpoint = _endpoint(state, f"dict/{name}", _answering(rows), False)
        routes.append(Route(f"/openapi/dict/{name}", endpoint, methods=["POST"]))
    return Starlette(routes=routes)


def _answering(rows: list[dict[str, Any]]) -> Callable[[str, Any], Any]:
    """A handler that answers a catalogue whatever the body asks."""
    return lambda app_key, body: rows


def _admin_routes(state: MunicipalState) -> list[Route]:
    """``/_sim/``: test hooks; no auth, no faults, not counted."""

    async def body_of(request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"{}", parse_float=Decimal)
        except ValueError:
            return {}

    async def records(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in _KINDS:
            return JSONResponse({"error": "unknown kind"}, status_code=404)
        if request.method == "GET":
            return Response(render(state.records(kind)), media_type="application/json")
        body = await body_of(request)
        rows = body if isinstance(body, list) else [body]
        return JSONResponse({"ids": [state.add_hand_typed(kind, r) for r in rows]})

    async def one(request: Request) -> Response:
        kind, rid = request.path_params["kind"], request.path_params["id"]
        if kind not in _KINDS or state.get(kind, rid) is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if request.method == "GET":
            return Response(render(state.get(kind, rid)), media_type="application/json")
        if request.method == "DELETE":
            return JSONResponse({"deleted": state.remove(kind, rid)})
        rec = state.update_city_record(kind, rid, **(await body_of(request)))
        return Response(render(rec), media_type="application/json")

    return [
        *common_admin_routes(state.faults, state.clock, body_of),
        Route("/_sim/records/{kind:str}", records, methods=["GET", "POST"]),
        Route("/_sim/records/{kind:str}/{id:str}", one, methods=["GET", "POST", "DELETE"]),
    ]
