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
from collections.abc import Awaitable, Callable
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


def _validate_external(kind: str, body: Any) -> None:
    """What the platform checks on records pushed by other systems (40001 otherwise)."""
    if not isinstance(body, dict):
        raise _bad("body")
    if not isinstance(body.get("origin"), str) or body["origin"] in ("", "district"):
        raise _bad("origin")
    if not isinstance(body.get("source_id"), str) or not body["source_id"].strip():
        raise _bad("source_id")
    if body.get("status") not in _STATUSES[kind]:
        raise _bad("status")
    item_code = body.get("item_code")
    item_kind = _ITEM_KIND.get(item_code) if isinstance(item_code, str) else None
    if item_kind != {"inspections": "inspection", "penalties": "penalty"}[kind]:
        raise _bad(
            f"item_code {body.get('item_code')} 不是本平台的{'检查' if kind == 'inspections' else '处罚'}事项"
        )
    if body.get("dept_code") is not None and body["dept_code"] not in universe.DEPT_BY_CODE:
        raise _bad("dept_code")
    officers = body.get("officers")
    if not isinstance(officers, list) or not officers:
        raise _bad("officers")
    for o in officers:
        if isinstance(o, dict):
            if not isinstance(o.get("cert_no"), str) or not o["cert_no"].strip():
                raise _bad("officers.cert_no")
        elif o not in _USERS:
            raise _bad(f"officers: 用户 {o} 不存在")
    if kind == "inspections":
        ent = body.get("enterprise")
        if not isinstance(ent, dict) or not ent.get("name") or not ent.get("uscc"):
            raise _bad("enterprise")
        _check_dt(body, "started_at")
        _check_dt(body, "ended_at", optional=True)
        if body.get("inspection_type") not in ("01", "02", "03", "04", "05"):
            raise _bad("inspection_type")
        if body.get("result") not in ("1", "2", "3"):
            raise _bad("result")
        for name in ("hazard_count", "major_hazard_count"):
            if body.get(name) is not None and (type(body[name]) is not int or body[name] < 0):
                raise _bad(name)
        return
    if not isinstance(body.get("decision_no"), str) or not body["decision_no"].strip():
        raise _bad("decision_no")
    party = body.get("party")
    if not isinstance(party, dict) or party.get("type") not in ("1", "2", "3") or not party.get("name"):
        raise _bad("party")
    types = body.get("penalty_types")
    if not isinstance(types, list) or not types or any(t not in _PENALTY_TYPES for t in types):
        raise _bad("penalty_types")
    for name in ("fine_yuan", "confiscation_yuan"):
        if body.get(name) is not None and not (isinstance(body[name], str) and _AMOUNT.match(body[name])):
            raise _bad(f"{name} 应为金额字符串")
    if not isinstance(body.get("decided_on"), str) or not _DATE.match(body["decided_on"]):
        raise _bad("decided_on")
    if body.get("procedure") not in ("general", "summary"):
        raise _bad("procedure")


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


def create_app(state: DistrictState | None = None) -> Starlette:
    """The platform's HTTP API plus the ``/_sim/`` admin hooks."""
    state = state if state is not None else DistrictState()
    quiet_dropped_log()
    faults = state.faults

    def api(name: str, handler: Handler, *, auth: bool = True, write: bool = False) -> Handler:
        async def endpoint(request: Request) -> Response:
            faults.call(name)
            await faults.delay()
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
            if auth:
                header = request.headers.get("authorization", "")
                token = header[7:].strip() if header[:7].lower() == "bearer " else None
                if not state.token_valid(token):
                    faults.count("401")
                    return _env(40101, "令牌无效或已过期", status=401)
                if not state.limiter.allow(token or "", faults.limit(RATE_LIMIT)):
                    faults.count("429")
                    return _env(42900, "请求过于频繁", status=429, headers={"Retry-After": "1"})
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

    async def token(request: Request) -> Any:
        try:
            body = await json_body(request)
        except ValueError:
            raise _bad("body") from None
        if not isinstance(body, dict):
            raise _bad("body")
        tok = state.login(str(body.get("username")), str(body.get("password")))
        if tok is None:
            raise ApiError(40100, "用户名或密码错误")
        return {"access_token": tok, "expires_in": TOKEN_TTL}

    def pull(kind: str) -> Handler:
        async def handler(request: Request) -> Any:
            q = request.query_params
            for name in ("start_time", "end_time"):
                try:
                    parse_beijing(q.get(name) or "")
                except ValueError:
                    raise _bad(f"{name} 格式应为 yyyy-MM-dd HH:mm:ss") from None
            page = _int_param(request, "page", 1, 1, 10**9)
            size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
            return state.window(kind, q["start_time"], q["end_time"], page, size)

        return handler

    def paged(rows: list[dict[str, Any]], request: Request) -> dict[str, Any]:
        page = _int_param(request, "page", 1, 1, 10**9)
        size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        return {
            "total": len(rows),
            "page": page,
            "page_size": size,
            "items": rows[(page - 1) * size : page * size],
        }

    async def users(request: Request) -> Any:
        rows = [{"id": o.user_id, "name": o.name, "cert_no": o.cert_no, "dept_code": o.dept_code, "active": o.active}
                for o in universe.OFFICERS]  # fmt: skip
        return paged(rows, request)

    async def items(request: Request) -> Any:
        kind = request.query_params.get("kind")
        if kind not in (None, "inspection", "penalty"):
            raise _bad("kind")
        rows = [
            {"code": i.code, "name": i.name, "kind": i.kind} for i in universe.ITEMS if kind in (None, i.kind)
        ]
        return paged(rows, request)

    async def depts(request: Request) -> Any:
        return {"items": [{"code": d.code, "name": d.name} for d in universe.DEPARTMENTS]}

    def external(kind: str) -> Handler:
        async def handler(request: Request) -> Any:
            try:
                body = await json_body(request)
            except ValueError:
                raise _bad("body") from None
            return state.external_upsert(kind, body)

        return handler

    async def credit(request: Request) -> Any:
        try:
            body = await json_body(request)
        except ValueError:
            raise _bad("body") from None
        return state.credit_event(body)

    routes = [
        Route("/api/auth/token", api("token", token, auth=False), methods=["POST"]),
        Route("/api/v1/inspections", api("inspections", pull("inspections")), methods=["GET"]),
        Route("/api/v1/penalties", api("penalties", pull("penalties")), methods=["GET"]),
        Route("/api/v1/users", api("users", users), methods=["GET"]),
        Route("/api/v1/items", api("items", items), methods=["GET"]),
        Route("/api/v1/depts", api("depts", depts), methods=["GET"]),
        Route("/api/v1/external/inspections", api("external/inspections", external("inspections"), write=True),
              methods=["POST"]),
        Route("/api/v1/external/penalties", api("external/penalties", external("penalties"), write=True),
              methods=["POST"]),
        Route("/api/v1/credit-events", api("credit-events", credit, write=True), methods=["POST"]),
        *_admin_routes(state),
    ]  # fmt: skip
    return Starlette(routes=routes)


def _admin_routes(state: DistrictState) -> list[Route]:
    """``/_sim/``: test hooks; no auth, no faults, not counted."""

    async def body_of(request: Request) -> Any:
        try:
            return await json_body(request) or {}
        except ValueError:
            return {}

    async def expire(request: Request) -> Response:
        state.expire_tokens_now()
        return JSONResponse({"ok": True})

    async def credit_events(request: Request) -> Response:
        return JSONResponse(state.credit_events())

    async def collection(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in _STATUSES:
            return JSONResponse({"error": "unknown kind"}, status_code=404)
        if request.method == "GET":
            return JSONResponse(state.records(kind))
        body = await body_of(request)
        rows = body if isinstance(body, list) else [body]
        return JSONResponse({"ids": [state.upsert(kind, r) for r in rows]})

    async def one(request: Request) -> Response:
        kind, record_id = request.path_params["kind"], request.path_params["id"]
        if kind not in _STATUSES or state.get(kind, record_id) is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if request.method == "GET":
            return JSONResponse(state.get(kind, record_id))
        action = request.path_params.get("action")
        if action == "void":
            return JSONResponse(state.void_inspection(record_id))
        if action == "revoke":
            return JSONResponse(state.revoke_penalty(record_id))
        return JSONResponse(state.update(kind, record_id, **(await body_of(request))))

    async def raw_item(request: Request) -> Response:
        """``POST /_sim/raw/{kind}`` ``{"id", "updated_at", "hex"}``: an item served as those bytes."""
        kind = request.path_params["kind"]
        body = await body_of(request)
        if kind not in _STATUSES or not isinstance(body, dict):
            return JSONResponse({"error": "unknown kind or body"}, status_code=404)
        try:
            state.add_raw_item(kind, str(body["id"]), str(body["updated_at"]), bytes.fromhex(body["hex"]))
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    kinds = "{kind:str}"
    return [
        *common_admin_routes(state.faults, state.clock, body_of),
        Route("/_sim/raw/{kind:str}", raw_item, methods=["POST"]),
        Route("/_sim/expire-tokens", expire, methods=["POST"]),
        Route("/_sim/credit-events", credit_events, methods=["GET"]),
        Route(f"/_sim/{kinds}", collection, methods=["GET", "POST"]),
        Route(f"/_sim/{kinds}/{{id:str}}", one, methods=["GET", "POST"]),
        Route(f"/_sim/{kinds}/{{id:str}}/{{action:str}}", one, methods=["POST"]),
    ]
