"""Simulator of the 区执法监督平台 (``district``), per ``docs/interfaces/district.md``.

Quirks kept on purpose: windows are inclusive on both ends, second-precise and re-evaluated on
every page request (a record updated mid-paging moves out and pages shift); tokens can expire
before ``expires_in``; 429 with ``Retry-After`` above 20 calls/s per token; outages answer 5xx with
an empty or HTML body; a write can be stored and the connection dropped before the answer.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from simulators import universe
from simulators.simkit import (
    DroppedResponse,
    Faults,
    RateLimiter,
    SimClock,
    common_admin_routes,
    fmt_beijing,
    json_body,
    parse_beijing,
    proxy_page,
    quiet_dropped_log,
)

DISTRICT_USER = "sync"
DISTRICT_PASSWORD = "sync-secret"
TOKEN_TTL = 7200
RATE_LIMIT = 20  # calls per second per token
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100  # not documented; pull clients always send page_size

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")
_STATUSES = {
    "inspections": {"draft", "submitted", "void"},
    "penalties": {"filed", "decided", "revoked", "closed"},
}
_PENALTY_TYPES = {f"{n:02d}" for n in range(1, 14)} | {"99"}
_CREDIT_KINDS = {"repaired", "withdrawn", "expired", "blacklist_add", "blacklist_remove"}


class ApiError(Exception):
    """A business error: HTTP 200 with a non-zero ``code``."""

    def __init__(self, code: int, msg: str, data: Any = None) -> None:
        super().__init__(msg)
        self.code, self.msg, self.data = code, msg, data


def _bad(detail: str) -> ApiError:
    return ApiError(40001, f"参数错误: {detail}")


def _kind(kind: str) -> str:
    k = kind if kind.endswith("s") else kind + "s"
    if k not in _STATUSES:
        raise ValueError(f"unknown kind {kind!r}: inspections or penalties")
    return k


class _Index:
    """Records of one kind by id, plus their (updated_at, id) keys in sorted order for windows."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.keys: list[tuple[str, str]] = []
        # test hook: items served as these exact bytes (not JSON objects, bytes that are not UTF-8)
        self.raw: dict[str, bytes] = {}

    def put(self, rec: dict[str, Any]) -> None:
        # Stored dicts are never mutated afterwards (updates store a new dict), so readers may
        # hold references outside the lock.
        old = self.by_id.get(rec["id"])
        if old is not None:
            del self.keys[bisect_left(self.keys, (old["updated_at"], old["id"]))]
        self.by_id[rec["id"]] = rec
        insort(self.keys, (rec["updated_at"], rec["id"]))

    def remove(self, item_id: str) -> bool:
        old = self.by_id.pop(item_id, None)
        if old is not None:
            del self.keys[bisect_left(self.keys, (old["updated_at"], old["id"]))]
        return old is not None

    def put_raw(self, item_id: str, updated_at: str, body: bytes) -> None:
        if item_id in self.by_id or item_id in self.raw:
            raise ValueError(f"id {item_id} is taken")
        self.raw[item_id] = body
        insort(self.keys, (updated_at, item_id))

    def bulk(self, recs: list[dict[str, Any]]) -> None:
        """Many records at once: one sort instead of an insort each."""
        for rec in recs:
            self.by_id[rec["id"]] = rec
        self.keys = sorted((r["updated_at"], r["id"]) for r in self.by_id.values())
        self.raw.clear()

    def window(self, start: str, end: str) -> tuple[int, int]:
        return bisect_left(self.keys, (start, "")), bisect_right(self.keys, (end, "\U0010ffff"))


class DistrictState:
    """The platform's data, tokens, fault knobs and counters. Thread-safe."""

    def __init__(
        self,
        username: str = DISTRICT_USER,
        password: str = DISTRICT_PASSWORD,
        clock: Callable[[], float] | None = None,
        seed: int = 0,
    ) -> None:
        self.credentials = {username: password}
        self.clock = clock if clock is not None else SimClock()
        self.faults = Faults(seed)
        self.limiter = RateLimiter(self.clock)
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # token -> expiry epoch
        self._idx = {"inspections": _Index(), "penalties": _Index()}
        self._by_source: dict[tuple[str, str, str], str] = {}  # (kind, origin, source_id) -> id
        self._credit: dict[str, dict[str, Any]] = {}  # event_id -> {"event": body, "data": answer}
        self._enterprises: set[str] = set()  # USCCs of the platform's 企业库
        self._seq = {"inspections": 0, "penalties": 0, "external": 0}

    # --- clock and tokens -------------------------------------------------------------------
    def now(self) -> str:
        return fmt_beijing(self.clock())

    def login(self, username: str, password: str) -> str | None:
        if self.credentials.get(username) != password:
            return None
        ttl = self.faults["token_ttl_s"]
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = self.clock() + (TOKEN_TTL if ttl is None else float(ttl))
        return token

    def token_valid(self, token: str | None) -> bool:
        with self._lock:
            expiry = self._tokens.get(token or "")
            if expiry is not None and expiry <= self.clock():
                del self._tokens[token or ""]
                return False
            return expiry is not None

    def expire_tokens_now(self) -> None:
        """The platform restarts: every token issued so far is invalid."""
        with self._lock:
            self._tokens.clear()

    # --- data -------------------------------------------------------------------------------
    def load(self, dataset: Any) -> None:
        """Seed from a :class:`simulators.datagen.Dataset` (district records and the 企业库)."""
        with self._lock:
            for e in dataset.enterprises:
                self._enterprises.add(e["uscc"])
            for kind, recs in (("inspections", dataset.inspections), ("penalties", dataset.penalties)):
                copies = [_copy(r) for r in recs]
                self._idx[kind].bulk(copies)
                for rec in copies:
                    self._remember(kind, rec)

    def add_enterprise(self, uscc: str) -> None:
        with self._lock:
            self._enterprises.add(uscc)

    def _put(self, kind: str, rec: dict[str, Any]) -> None:
        self._idx[kind].put(rec)
        self._remember(kind, rec)

    def _remember(self, kind: str, rec: dict[str, Any]) -> None:
        """Index a stored record's USCCs (the 企业库) and its (origin, source_id)."""
        for holder in (rec.get("enterprise"), rec.get("party")):
            if isinstance(holder, dict) and holder.get("uscc"):
                self._enterprises.add(holder["uscc"])
        if rec.get("origin", "district") != "district" and rec.get("source_id"):
            self._by_source[(kind, rec["origin"], rec["source_id"])] = rec["id"]

    def _new_id(self, kind: str, external: bool) -> str:
        """``JC2025000124`` for the platform's own records, ``JCW2025000001`` for pushed ones."""
        prefix, year = ("JC" if kind == "inspections" else "CF"), self.now()[:4]
        while True:
            self._seq["external" if external else kind] += 1
            new = f"{prefix}{'W' if external else ''}{year}{self._seq['external' if external else kind]:06d}"
            if new not in self._idx[kind].by_id:
                return new

    def upsert(self, kind: str, record: dict[str, Any]) -> str:
        """Create or replace a record (test hook); ``updated_at`` = now unless given. Returns the id."""
        kind = _kind(kind)
        rec = copy.deepcopy(record)
        with self._lock:
            rec.setdefault("id", self._new_id(kind, False))
            rec.setdefault("origin", "district")
            rec.setdefault("updated_at", self.now())
            self._put(kind, rec)
            return str(rec["id"])

    def add_raw_item(self, kind: str, item_id: str, updated_at: str, body: bytes) -> None:
        """Test hook: an item of the list pages served as exactly ``body`` — a JSON value that is not
        an object, or a record carrying bytes that are not UTF-8 — placed at (updated_at, item_id)."""
        with self._lock:
            self._idx[_kind(kind)].put_raw(item_id, updated_at, body)

    def upsert_inspection(self, record: dict[str, Any]) -> str:
        return self.upsert("inspections", record)

    def upsert_penalty(self, record: dict[str, Any]) -> str:
        return self.upsert("penalties", record)

    def update(self, kind: str, record_id: str, **fields: Any) -> dict[str, Any]:
        """Edit fields of a record as an officer would; bumps ``updated_at`` to now unless given."""
        kind = _kind(kind)
        with self._lock:
            old = self._idx[kind].by_id[record_id]
            rec = {**copy.deepcopy(old), **copy.deepcopy(fields)}
            rec["id"] = record_id
            if "updated_at" not in fields:
                rec["updated_at"] = self.now()
            self._put(kind, rec)
            return copy.deepcopy(rec)

    def remove(self, kind: str, record_id: str) -> bool:
        """A record deleted from the platform's database behind every reader's back (no void, no trace)."""
        with self._lock:
            return self._idx[_kind(kind)].remove(record_id)

    def void_inspection(self, record_id: str) -> dict[str, Any]:
        return self.update("inspections", record_id, status="void")

    def revoke_penalty(self, record_id: str) -> dict[str, Any]:
        return self.update("penalties", record_id, status="revoked")

    def get(self, kind: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            rec = self._idx[_kind(kind)].by_id.get(record_id)
            return copy.deepcopy(rec) if rec is not None else None

    def records(self, kind: str) -> list[dict[str, Any]]:
        """All records of a kind, sorted by (updated_at, id); copies."""
        with self._lock:
            idx = self._idx[_kind(kind)]
            return [copy.deepcopy(idx.by_id[i]) for _, i in idx.keys if i in idx.by_id]

    def credit_events(self) -> list[dict[str, Any]]:
        """The credit events received so far, in arrival order."""
        with self._lock:
            return [copy.deepcopy(e["event"]) for e in self._credit.values()]

    def window(self, kind: str, start: str, end: str, page: int, size: int) -> dict[str, Any]:
        """One page of the inclusive window [start, end], evaluated now (never past the clock)."""
        end = min(end, self.now())  # records stamped in the platform's future stay hidden
        with self._lock:
            idx = self._idx[kind]
            lo, hi = idx.window(start, end) if start <= end else (0, 0)
            first = lo + (page - 1) * size
            ids = [i for _, i in idx.keys[first : min(first + size, hi)]] if first < hi else []
            items = [idx.by_id[i] if i in idx.by_id else idx.raw[i] for i in ids]
            return {"total": max(hi - lo, 0), "page": page, "page_size": size, "items": items}

    # --- flows 3 and 4 ----------------------------------------------------------------------
    def external_upsert(self, kind: str, body: Any) -> dict[str, Any]:
        """``POST /api/v1/external/*``: create or update by (origin, source_id)."""
        kind = _kind(kind)
        _validate_external(kind, body)
        rec = {k: v for k, v in body.items() if k not in ("id", "updated_at")}
        with self._lock:
            key = (kind, rec["origin"], rec["source_id"])
            existing = self._by_source.get(key)
            record_id = existing or self._new_id(kind, True)
            self._put(kind, {"id": record_id, **rec, "updated_at": self.now()})
            return {"id": record_id, "created": existing is None}

    def credit_event(self, body: Any) -> dict[str, Any]:
        """``POST /api/v1/credit-events``: idempotent on event_id (a repeat raises 40901, same data)."""
        if not isinstance(body, dict):
            raise _bad("body")
        for name in ("event_id", "uscc", "decision_no", "kind", "occurred_at"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                raise _bad(name)
        if body["kind"] not in _CREDIT_KINDS:
            raise _bad("kind")
        _check_dt(body, "occurred_at")
        with self._lock:
            seen = self._credit.get(body["event_id"])
            if seen is not None:
                raise ApiError(40901, "记录已存在", seen["data"])
            if body["uscc"] not in self._enterprises:
                raise ApiError(40401, f"记录不存在: 统一社会信用代码 {body['uscc']} 不在本平台企业库")
            data = {"event_id": body["event_id"], "received_at": self.now()}
            self._credit[body["event_id"]] = {"event": copy.deepcopy(body), "data": data}
            return data


def _copy(rec: dict[str, Any]) -> dict[str, Any]:
    """Copy of a generated record (two levels deep is all they have); far cheaper than deepcopy."""
    return {
        k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v for k, v in rec.items()
    }


def _check_dt(body: dict[str, Any], name: str, optional: bool = False) -> None:
    value = body.get(name)
    if value is None and optional:
        return
    try:
        parse_beijing(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _bad(f"{name} 格式应为 yyyy-MM-dd HH:mm:ss") from None


_ITEM_KIND = {i.code: i.kind for i in universe.ITEMS}
_USERS = {o.user_id for o in universe.OFFICERS}


# What the platform checks on records pushed by other systems, as a table: each rule looks at the body
# and names what is wrong (the detail of the 40001 answer), or None; the first problem is answered.
_Rule = Callable[[dict[str, Any]], str | None]
_RECORD_KIND = {"inspections": "inspection", "penalties": "penalty"}
_KIND_WORD = {"inspections": "检查", "penalties": "处罚"}


def _text(name: str) -> _Rule:
    """A non-blank string."""
    return lambda body: None if isinstance(body.get(name), str) and body[name].strip() else name


def _one_of(name: str, allowed: Collection[Any]) -> _Rule:
    return lambda body: None if body.get(name) in allowed else name


def _datetime(name: str, *, optional: bool = False) -> _Rule:
    def rule(body: dict[str, Any]) -> str | None:
        try:
            _check_dt(body, name, optional)
        except ApiError:
            return f"{name} 格式应为 yyyy-MM-dd HH:mm:ss"
        return None

    return rule


def _count(name: str) -> _Rule:
    """Absent, or a non-negative JSON integer."""
    return lambda body: (
        None if body.get(name) is None or (type(body[name]) is int and body[name] >= 0) else name
    )


def _amount(name: str) -> _Rule:
    """Absent, or a string of 元 with at most two decimals."""
    return lambda body: (
        None
        if body.get(name) is None or (isinstance(body[name], str) and _AMOUNT.match(body[name]))
        else f"{name} 应为金额字符串"
    )


def _origin(body: dict[str, Any]) -> str | None:
    return (
        None if isinstance(body.get("origin"), str) and body["origin"] not in ("", "district") else "origin"
    )


def _item(kind: str) -> _Rule:
    """An item of this platform's catalogue, of the record's kind."""

    def rule(body: dict[str, Any]) -> str | None:
        code = body.get("item_code")
        if (_ITEM_KIND.get(code) if isinstance(code, str) else None) == _RECORD_KIND[kind]:
            return None
        return f"item_code {code} 不是本平台的{_KIND_WORD[kind]}事项"

    return rule


def _dept(body: dict[str, Any]) -> str | None:
    return (
        None if body.get("dept_code") is None or body["dept_code"] in universe.DEPT_BY_CODE else "dept_code"
    )


def _officers(body: dict[str, Any]) -> str | None:
    """District users by id, or others as ``{"cert_no", "name"}``."""
    officers = body.get("officers")
    if not isinstance(officers, list) or not officers:
        return "officers"
    for o in officers:
        if isinstance(o, dict):
            if not isinstance(o.get("cert_no"), str) or not o["cert_no"].strip():
                return "officers.cert_no"
        elif o not in _USERS:
            return f"officers: 用户 {o} 不存在"
    return None


def _enterprise(body: dict[str, Any]) -> str | None:
    ent = body.get("enterprise")
    return None if isinstance(ent, dict) and ent.get("name") and ent.get("uscc") else "enterprise"


def _party(body: dict[str, Any]) -> str | None:
    party = body.get("party")
    ok = isinstance(party, dict) and party.get("type") in ("1", "2", "3") and party.get("name")
    return None if ok else "party"


def _penalty_types(body: dict[str, Any]) -> str | None:
    types = body.get("penalty_types")
    ok = isinstance(types, list) and types and all(t in _PENALTY_TYPES for t in types)
    return None if ok else "penalty_types"


def _decided_on(body: dict[str, Any]) -> str | None:
    value = body.get("decided_on")
    return None if isinstance(value, str) and _DATE.match(value) else "decided_on"


def _common_rules(kind: str) -> tuple[_Rule, ...]:
    return (_origin, _text("source_id"), _one_of("status", _STATUSES[kind]), _item(kind), _dept, _officers)


_EXTERNAL_RULES: dict[str, tuple[_Rule, ...]] = {
    "inspections": (
        *_common_rules("inspections"),
        _enterprise,
        _datetime("started_at"),
        _datetime("ended_at", optional=True),
        _one_of("inspection_type", ("01", "02", "03", "04", "05")),
        _one_of("result", ("1", "2", "3")),
        _count("hazard_count"),
        _count("major_hazard_count"),
    ),
    "penalties": (
        *_common_rules("penalties"),
        _text("decision_no"),
        _party,
        _penalty_types,
        _amount("fine_yuan"),
        _amount("confiscation_yuan"),
        _decided_on,
        _one_of("procedure", ("general", "summary")),
    ),
}


def _validate_external(kind: str, body: Any) -> None:
    """What the platform checks on records pushed by other systems (40001 naming the first problem)."""
    if not isinstance(body, dict):
        raise _bad("body")
    for rule in _EXTERNAL_RULES[kind]:
        if (problem := rule(body)) is not None:
            raise _bad(problem)


# --- HTTP ------------------------------------------------------------------------------------
def _env(code: int, msg: str, data: Any = None, status: int = 200, **kw: Any) -> Response:
    items = data.get("items") if isinstance(data, dict) else None
    if isinstance(items, list) and any(isinstance(i, bytes) for i in items):
        # a page holding raw items (test hook): spliced in byte for byte
        head = json.dumps(
            {"code": code, "msg": msg, "data": {k: v for k, v in data.items() if k != "items"}},
            ensure_ascii=False,
        ).encode()
        parts = [i if isinstance(i, bytes) else json.dumps(i, ensure_ascii=False).encode() for i in items]
        body = head[:-2] + b', "items": [' + b", ".join(parts) + b"]}}"
        return Response(body, status_code=status, media_type="application/json", **kw)
    return JSONResponse({"code": code, "msg": msg, "data": data}, status_code=status, **kw)


# What a gateway in front of the platform answers with HTTP 200 while its session or a notice is in the
# way: a page for people, not the API's JSON.
_PORTAL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>统一身份认证</title></head>
<body><form action="/sso/login" method="post"><p>会话已失效，请重新登录。</p></form></body></html>
"""


Handler = Callable[[Request], Awaitable[Any]]


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name) from None
    if not lo <= value <= hi:
        raise _bad(f"{name} 应在 {lo}–{hi} 之间")
    return value


def _outage(faults: Faults) -> Response | None:
    """What the gateway answers instead of the platform during an outage (None: the call gets through)."""
    if faults["down"]:
        faults.count("5xx")
        return proxy_page(503)
    if faults.roll("html_error_rate"):
        faults.count("5xx")
        return proxy_page(faults.choice([502, 503]))
    if faults.roll("html_200_rate"):
        faults.count("html200")
        return HTMLResponse(_PORTAL_PAGE)
    if faults.roll("error_rate"):
        faults.count("5xx")
        status = faults.choice([500, 502, 503])
        return faults.choice([Response(b"", status_code=status), proxy_page(status)])
    return None


def _refusal(state: DistrictState, request: Request) -> Response | None:
    """401 for a missing or expired token, 429 above the rate limit per token (None: let it in)."""
    faults = state.faults
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    if not state.token_valid(token):
        faults.count("401")
        return _env(40101, "令牌无效或已过期", status=401)
    if not state.limiter.allow(token or "", faults.limit(RATE_LIMIT)):
        faults.count("429")
        return _env(42900, "请求过于频繁", status=429, headers={"Retry-After": "1"})
    return None


def _endpoint(state: DistrictState, name: str, handler: Handler, *, auth: bool, write: bool) -> Handler:
    """An API endpoint: the faults and checks a call meets before ``handler``, and the envelope after it."""
    faults = state.faults

    async def endpoint(request: Request) -> Response:
        faults.call(name)
        await faults.delay()
        refused = _outage(faults)
        if refused is None and auth:
            refused = _refusal(state, request)
        if refused is not None:
            return refused
        try:
            data = await handler(request)
        except ApiError as e:
            await faults.slow()
            return _env(e.code, e.msg, e.data)
        await faults.slow()
        if write and faults.roll("drop_after_store_rate"):
            faults.count("drop")
            return DroppedResponse()  # stored, but the client never hears so
        return _env(0, "ok", data)

    return endpoint


async def _body(request: Request) -> Any:
    """The JSON body (40001 if it is not JSON)."""
    try:
        return await json_body(request)
    except ValueError:
        raise _bad("body") from None


def _paged(rows: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    page = _int_param(request, "page", 1, 1, 10**9)
    size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    return {
        "total": len(rows),
        "page": page,
        "page_size": size,
        "items": rows[(page - 1) * size : page * size],
    }


class _Api:
    """The platform's API handlers, over its state."""

    def __init__(self, state: DistrictState) -> None:
        self.state = state

    async def token(self, request: Request) -> Any:
        body = await _body(request)
        if not isinstance(body, dict):
            raise _bad("body")
        tok = self.state.login(str(body.get("username")), str(body.get("password")))
        if tok is None:
            raise ApiError(40100, "用户名或密码错误")
        return {"access_token": tok, "expires_in": TOKEN_TTL}

    def pull(self, kind: str) -> Handler:
        async def handler(request: Request) -> Any:
            q = request.query_params
            for name in ("start_time", "end_time"):
                try:
                    parse_beijing(q.get(name) or "")
                except ValueError:
                    raise _bad(f"{name} 格式应为 yyyy-MM-dd HH:mm:ss") from None
            page = _int_param(request, "page", 1, 1, 10**9)
            size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
            return self.state.window(kind, q["start_time"], q["end_time"], page, size)

        return handler

    async def users(self, request: Request) -> Any:
        rows = [{"id": o.user_id, "name": o.name, "cert_no": o.cert_no, "dept_code": o.dept_code, "active": o.active}
                for o in universe.OFFICERS]  # fmt: skip
        return _paged(rows, request)

    async def items(self, request: Request) -> Any:
        kind = request.query_params.get("kind")
        if kind not in (None, "inspection", "penalty"):
            raise _bad("kind")
        rows = [
            {"code": i.code, "name": i.name, "kind": i.kind} for i in universe.ITEMS if kind in (None, i.kind)
        ]
        return _paged(rows, request)

    async def depts(self, request: Request) -> Any:
        return {"items": [{"code": d.code, "name": d.name} for d in universe.DEPARTMENTS]}

    def external(self, kind: str) -> Handler:
        async def handler(request: Request) -> Any:
            return self.state.external_upsert(kind, await _body(request))

        return handler

    async def credit(self, request: Request) -> Any:
        return self.state.credit_event(await _body(request))

    def routes(self) -> list[Route]:
        state = self.state

        def api(path: str, name: str, handler: Handler, method: str = "GET", **kw: bool) -> Route:
            auth, write = kw.get("auth", True), kw.get("write", False)
            return Route(path, _endpoint(state, name, handler, auth=auth, write=write), methods=[method])

        return [
            api("/api/auth/token", "token", self.token, "POST", auth=False),
            api("/api/v1/inspections", "inspections", self.pull("inspections")),
            api("/api/v1/penalties", "penalties", self.pull("penalties")),
            api("/api/v1/users", "users", self.users),
            api("/api/v1/items", "items", self.items),
            api("/api/v1/depts", "depts", self.depts),
            api("/api/v1/external/inspections", "external/inspections", self.external("inspections"), "POST",
                write=True),
            api("/api/v1/external/penalties", "external/penalties", self.external("penalties"), "POST",
                write=True),
            api("/api/v1/credit-events", "credit-events", self.credit, "POST", write=True),
        ]  # fmt: skip


def create_app(state: DistrictState | None = None) -> Starlette:
    """The platform's HTTP API plus the ``/_sim/`` admin hooks."""
    state = state if state is not None else DistrictState()
    quiet_dropped_log()
    return Starlette(routes=[*_Api(state).routes(), *_Admin(state).routes()])


async def _admin_body(request: Request) -> Any:
    try:
        return await json_body(request) or {}
    except ValueError:
        return {}


def _not_found(what: str = "not found") -> Response:
    return JSONResponse({"error": what}, status_code=404)


class _Admin:
    """``/_sim/``: test hooks; no auth, no faults, not counted."""

    def __init__(self, state: DistrictState) -> None:
        self.state = state

    async def expire(self, request: Request) -> Response:
        self.state.expire_tokens_now()
        return JSONResponse({"ok": True})

    async def credit_events(self, request: Request) -> Response:
        return JSONResponse(self.state.credit_events())

    async def collection(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in _STATUSES:
            return _not_found("unknown kind")
        if request.method == "GET":
            return JSONResponse(self.state.records(kind))
        body = await _admin_body(request)
        rows = body if isinstance(body, list) else [body]
        return JSONResponse({"ids": [self.state.upsert(kind, r) for r in rows]})

    async def one(self, request: Request) -> Response:
        kind, record_id = request.path_params["kind"], request.path_params["id"]
        if kind not in _STATUSES or self.state.get(kind, record_id) is None:
            return _not_found()
        if request.method == "GET":
            return JSONResponse(self.state.get(kind, record_id))
        if request.method == "DELETE":
            return JSONResponse({"deleted": self.state.remove(kind, record_id)})
        return JSONResponse(await self._change(request, kind, record_id))

    async def _change(self, request: Request, kind: str, record_id: str) -> dict[str, Any]:
        """``void``/``revoke`` as the action, else the body's fields edited in."""
        action = request.path_params.get("action")
        if action == "void":
            return self.state.void_inspection(record_id)
        if action == "revoke":
            return self.state.revoke_penalty(record_id)
        return self.state.update(kind, record_id, **(await _admin_body(request)))

    async def raw_item(self, request: Request) -> Response:
        """``POST /_sim/raw/{kind}`` ``{"id", "updated_at", "hex"}``: an item served as those bytes."""
        kind = request.path_params["kind"]
        body = await _admin_body(request)
        if kind not in _STATUSES or not isinstance(body, dict):
            return _not_found("unknown kind or body")
        try:
            self.state.add_raw_item(
                kind, str(body["id"]), str(body["updated_at"]), bytes.fromhex(body["hex"])
            )
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    def routes(self) -> list[Route]:
        kinds = "{kind:str}"
        return [
            *common_admin_routes(self.state.faults, self.state.clock, _admin_body),
            Route("/_sim/raw/{kind:str}", self.raw_item, methods=["POST"]),
            Route("/_sim/expire-tokens", self.expire, methods=["POST"]),
            Route("/_sim/credit-events", self.credit_events, methods=["GET"]),
            Route(f"/_sim/{kinds}", self.collection, methods=["GET", "POST"]),
            Route(f"/_sim/{kinds}/{{id:str}}", self.one, methods=["GET", "POST", "DELETE"]),
            Route(f"/_sim/{kinds}/{{id:str}}/{{action:str}}", self.one, methods=["POST"]),
        ]
