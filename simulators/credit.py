"""Simulator of the 信用信息共享平台 (双公示): signed batch submission, credit events, xlsx upload.

Behaves as ``docs/interfaces/credit.md`` says, quirks included: HMAC signatures with single-use
nonces, 5 calls/s per app, per-record results inside an HTTP 200, DUPLICATE on a normalised 文号,
cursors that expire after 24 hours. Test hooks and fault knobs are on ``CreditState``; the same
knobs are reachable over HTTP under ``/_sim/`` for simulators run in their own process.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import collections
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from simulators import credit_rules as rules
from simulators.universe import BUREAU_USCC, make_uscc

APP_ID = "SGS-BH"
APP_SECRET = "credit-secret"
SOURCE_USCC = BUREAU_USCC  # the default app's data source (CF_SJLYDM)
BATCH_PATH = "/api/sgs/v2/xzcf/batch"
RECORD_PATH = "/api/sgs/v2/xzcf/{xybm}"
EVENTS_PATH = "/api/credit/v1/events"
MAX_BATCH = 200
RATE_PER_SECOND = 5
TIMESTAMP_SKEW_S = 300
NONCE_TTL_S = 600
CURSOR_TTL_S = 24 * 3600
BEIJING = dt.timezone(dt.timedelta(hours=8))
STATUSES = ("公示中", "已修复", "已撤销", "已到期")
EVENT_TYPES = ("REPAIRED", "WITHDRAWN", "EXPIRED", "BLACKLIST_ADD", "BLACKLIST_REMOVE")
DEFAULT_FAULTS: dict[str, Any] = {
    "error_rate": 0.0,  # share of API calls answered 503 before anything happens
    "latency_ms": 0,  # added to every API call
    "slow_rate": 0.0,  # share of answers held for slow_ms after the work is done (a client timeout)
    "slow_ms": 0,
    "drop_after_store_rate": 0.0,  # batch applied, then the connection is dropped
    "rate_limits": True,  # the documented 5 calls/s; a test may switch it off
    "reject_signature_once_rate": 0.0,  # correctly signed calls answered 401 (never twice in a row)
    "down": False,  # maintenance: every API call 503
}
_SINCE_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00")


class SimHTTPError(Exception):
    """An HTTP error answer: status, JSON body and extra headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status, self.body, self.headers = status, body, dict(headers or {})


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised in-process (httpx ASGITransport) where a real server would drop the connection."""


@dataclass(frozen=True)
class App:
    app_id: str
    secret: str
    source_uscc: str  # the CF_SJLYDM it is registered for; SJBS are scoped to it


@dataclass
class StoredRecord:
    xybm: str
    sjbs: str
    scope: str | None  # source USCC whose SJBS this is; None while platform-assigned (XLSX…/WEB…)
    origin: str  # api | xlsx | hand
    fields: dict[str, str | None]
    status: str = "公示中"

    def public(self) -> dict[str, Any]:
        """The GET /api/sgs/v2/xzcf/{xybm} body."""
        return {"xybm": self.xybm, "SJBS": self.sjbs, "status": self.status, **self.fields}

    def admin(self) -> dict[str, Any]:
        return {**self.public(), "scope": self.scope, "origin": self.origin}


@dataclass
class Event:
    seq: int
    occurred_at: dt.datetime
    type: str
    uscc: str
    cf_wsh: str | None
    xybm: str | None

    @property
    def key(self) -> tuple[dt.datetime, int]:
        return (self.occurred_at, self.seq)

    def public(self) -> dict[str, Any]:
        return {
            "eventId": f"EV{self.seq:010d}",
            "type": self.type,
            "uscc": self.uscc,
            "cfWsh": self.cf_wsh,
            "xybm": self.xybm,
            "occurredAt": _fmt_time(self.occurred_at),
        }


@dataclass
class _Cursor:
    after: tuple[dt.datetime, int]
    limit: int
    issued_at: float
    expired: bool = False


@dataclass
class CreditState:
    """The platform's memory: apps, records, events, cursors, nonces; thread-safe."""

    clock: Callable[[], float] = time.time  # Unix seconds; inject to control time
    seed: int | None = None
    apps: dict[str, App] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_FAULTS))
    stats: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(self.seed)
        self._records: dict[str, StoredRecord] = {}
        self._by_sjbs: dict[tuple[str, str], str] = {}
        self._by_wsh: dict[tuple[str, str], str] = {}
        self._events: list[Event] = []
        self._cursors: dict[str, _Cursor] = {}
        self._nonces: dict[tuple[str, str], float] = {}
        self._nonce_order: collections.deque[tuple[float, tuple[str, str]]] = collections.deque()
        self._calls: dict[str, collections.deque[float]] = {}
        self._rejected_last: set[str] = set()
        self._seq = 0
        if not self.apps:
            self.register_app(APP_ID, APP_SECRET, SOURCE_USCC)

    # ---- time and ids -----------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """Beijing time, from the injected clock."""
        return dt.datetime.fromtimestamp(self.clock(), BEIJING)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def register_app(self, app_id: str, secret: str, source_uscc: str) -> None:
        with self._lock:
            self.apps[app_id] = App(app_id, secret, source_uscc)

    # ---- auth and limits ----------------------------------------------------------------------
    def authenticate(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> App:
        """Check signature, timestamp, nonce and rate limit; raise SimHTTPError(401/429) otherwise."""
        with self._lock:
            now = self.clock()
            app = self.apps.get(headers.get("x-app-id", ""))
            ts, nonce, signature = (headers.get(h, "") for h in ("x-timestamp", "x-nonce", "x-signature"))
            if app is None:
                self._auth_failed("未知的 X-App-Id")
            if not ts.isdigit() or abs(now - int(ts)) > TIMESTAMP_SKEW_S:
                self._auth_failed("X-Timestamp 缺失或与服务器时间相差超过300秒")
            if not 16 <= len(nonce) <= 64:
                self._auth_failed("X-Nonce 长度应为16–64个字符")
            payload = "\n".join((method, path, ts, nonce, hashlib.sha256(body).hexdigest()))
            expected = base64.b64encode(hmac.new(app.secret.encode(), payload.encode(), "sha256").digest())
            if not hmac.compare_digest(expected, signature.encode()):
                self._auth_failed("签名错误")
            self._prune_nonces(now)
            if (app.app_id, nonce) in self._nonces:
                self._auth_failed("X-Nonce 在10分钟内已使用")
            # From here on the nonce is spent, whatever the answer (injected 401, 429, 5xx).
            self._nonces[(app.app_id, nonce)] = now
            self._nonce_order.append((now, (app.app_id, nonce)))
            rate = self.faults["reject_signature_once_rate"]
            if app.app_id in self._rejected_last:
                self._rejected_last.discard(app.app_id)
            elif rate and self._rng.random() < rate:
                self._rejected_last.add(app.app_id)
                self.stats["signature_rejected_injected"] += 1
                self._auth_failed("签名错误")
            if self.faults["rate_limits"]:
                calls = self._calls.setdefault(app.app_id, collections.deque())
                while calls and calls[0] <= now - 1:
                    calls.popleft()
                if len(calls) >= RATE_PER_SECOND:
                    self.stats["rate_limited"] += 1
                    retry_after = max(1, int(-(-(calls[0] + 1 - now) // 1)))
                    raise SimHTTPError(
                        429,
                        {"code": "RATE_LIMITED", "message": "调用过于频繁，每秒最多5次"},
                        {"Retry-After": str(retry_after)},
                    )
                calls.append(now)
            return app

    def _auth_failed(self, message: str) -> NoReturn:
        self.stats["auth_failed"] += 1
        raise SimHTTPError(401, {"code": "AUTH_FAILED", "message": message})

    def _prune_nonces(self, now: float) -> None:
        while self._nonce_order and self._nonce_order[0][0] < now - NONCE_TTL_S:
            _, key = self._nonce_order.popleft()
            if self._nonces.get(key, now) < now - NONCE_TTL_S:
                del self._nonces[key]

    # ---- records ------------------------------------------------------------------------------
    def submit(self, records: list[Any], app_id: str = APP_ID) -> list[dict[str, Any]]:
        """Apply one batch for an app; one result per record, in order (the batch endpoint's core)."""
        with self._lock:
            app = self.apps[app_id]
            results = [self._submit_one(app, r) for r in records]
            self.stats["batches"] += 1
            for r in results:
                self.stats["records_" + r["status"].lower()] += 1
            return results

    def _submit_one(self, app: App, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            return _result("", "REJECTED", None, [{"field": "", "message": "记录应为 JSON 对象"}])
        raw_sjbs = record.get("SJBS")
        sjbs = raw_sjbs if isinstance(raw_sjbs, str) else ""
        errors = rules.validate(record, self.now().date())  # validation runs before anything else
        if errors:
            return _result(sjbs, "REJECTED", None, errors)
        sjbs = sjbs.strip()
        scope = app.source_uscc
        known = self._records.get(self._by_sjbs.get((scope, sjbs), ""))
        if record["CZLX"] == "D":
            return self._withdraw_one(record, sjbs, known)
        if record["CZLX"] == "I":
            return self._insert_one(_fields(record), sjbs, scope, known)
        return self._update_one(record, sjbs, scope, known)

    @staticmethod
    def _withdraw_one(record: dict[str, Any], sjbs: str, known: StoredRecord | None) -> dict[str, Any]:
        """``D``: 撤销公示 of a record the caller sent (D twice: already 已撤销, still ACCEPTED)."""
        if known is None:
            return _result(sjbs, "REJECTED", None, [_e("SJBS", f"数据标识 {sjbs} 不存在，无法撤销")])
        known.status = "已撤销"
        if record.get("BZ"):
            known.fields["BZ"] = record["BZ"].strip()
        return _result(sjbs, "ACCEPTED", known.xybm)

    def _insert_one(
        self, fields: dict[str, str | None], sjbs: str, scope: str, known: StoredRecord | None
    ) -> dict[str, Any]:
        """``I``: a new decision, unless the SJBS is known (then nothing changes) or its 文号 is (DUPLICATE)."""
        if known is not None:  # a re-sent I never changes the stored record
            return _result(sjbs, "ACCEPTED", known.xybm)
        key = _wsh_key(fields)
        if key in self._by_wsh:
            return _result(sjbs, "DUPLICATE", self._by_wsh[key])
        stored = self._store(fields, sjbs, scope, "api")
        return _result(sjbs, "ACCEPTED", stored.xybm)

    def _update_one(
        self, record: dict[str, Any], sjbs: str, scope: str, known: StoredRecord | None
    ) -> dict[str, Any]:
        """``U``: a correction of the record found by ``xybm`` (adoption) or by SJBS in the app's scope."""
        target = self._update_target(record, sjbs, scope, known)
        if isinstance(target, dict):
            return target  # refused
        fields = _fields(record)
        other = self._by_wsh.get(_wsh_key(fields))
        if other is not None and other != target.xybm:
            return _result(sjbs, "DUPLICATE", other)
        self._by_sjbs.pop((target.scope or "", target.sjbs), None)
        target.sjbs, target.scope = sjbs, scope  # adopts the caller's SJBS
        self._by_sjbs[(scope, sjbs)] = target.xybm
        self._reindex(target, fields)
        return _result(sjbs, "ACCEPTED", target.xybm)  # U never changes the status

    def _update_target(
        self, record: dict[str, Any], sjbs: str, scope: str, known: StoredRecord | None
    ) -> StoredRecord | dict[str, Any]:
        """The stored record a ``U`` changes, or the REJECTED result saying why there is none."""
        xybm = record.get("xybm")
        if not xybm:
            if known is None:
                return _result(sjbs, "REJECTED", None, [_e("SJBS", f"数据标识 {sjbs} 不存在，无法更新")])
            return known
        target = self._records.get(xybm) if isinstance(xybm, str) else None
        if target is None:
            return _result(sjbs, "REJECTED", None, [_e("xybm", f"信用编码 {xybm} 不存在")])
        if target.scope not in (None, scope):
            return _result(sjbs, "REJECTED", None, [_e("xybm", f"信用编码 {xybm} 属于其他数据来源单位")])
        if known is not None and known is not target:
            return _result(
                sjbs, "REJECTED", None, [_e("SJBS", f"数据标识 {sjbs} 已对应信用编码 {known.xybm}")]
            )
        return target

    def _store(
        self, fields: dict[str, str | None], sjbs: str, scope: str | None, origin: str
    ) -> StoredRecord:
        stored = StoredRecord(f"XYBM{self._next():010d}", sjbs, scope, origin, {})
        self._records[stored.xybm] = stored
        self._by_sjbs[(scope or "", sjbs)] = stored.xybm
        self._reindex(stored, fields)
        return stored

    def _reindex(self, stored: StoredRecord, fields: dict[str, str | None]) -> None:
        if stored.fields:
            self._by_wsh.pop(_wsh_key(stored.fields), None)
        stored.fields = fields
        self._by_wsh[_wsh_key(fields)] = stored.xybm

    def get(self, xybm: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._records.get(xybm)
            return stored.public() if stored else None

    def remove(self, xybm: str) -> bool:
        """A record deleted behind the sender's back (a clerk, a restore from backup): gone, as if never sent."""
        with self._lock:
            stored = self._records.pop(xybm, None)
            if stored is None:
                return False
            self._by_sjbs.pop((stored.scope or "", stored.sjbs), None)
            self._by_wsh.pop(_wsh_key(stored.fields), None)
            return True

    def alter(self, xybm: str, fields: Mapping[str, str | None]) -> dict[str, Any] | None:
        """CF_* fields changed behind the sender's back (not through the API: nothing is checked)."""
        with self._lock:
            stored = self._records.get(xybm)
            if stored is None:
                return None
            self._reindex(stored, {**stored.fields, **fields})
            return stored.admin()

    def records(self) -> list[dict[str, Any]]:
        """Every stored record, with SJBS, xybm, status, scope, origin and CF_* fields."""
        with self._lock:
            return [r.admin() for r in self._records.values()]

    def find(self, cf_wsh: str, cf_cfjgdm: str) -> dict[str, Any] | None:
        """The record with this 文号 (normalised) and 处罚机关, if any."""
        with self._lock:
            xybm = self._by_wsh.get((rules.normalise_wsh(cf_wsh), cf_cfjgdm))
            return self._records[xybm].admin() if xybm else None

    def _add_manual(self, record: Mapping[str, Any], origin: str, prefix: str) -> dict[str, Any]:
        """Store a decision entered on the web page; DUPLICATE/REJECTED like the API would answer."""
        errors = rules.validate({**record, "SJBS": "-", "CZLX": "I"}, self.now().date())
        if errors:
            return _result("", "REJECTED", None, errors)
        fields = _fields(record)
        key = _wsh_key(fields)
        if key in self._by_wsh:
            return _result("", "DUPLICATE", self._by_wsh[key])
        sjbs = f"{prefix}{self.now():%Y%m%d}{self._seq + 1:06d}"
        stored = self._store(fields, sjbs, None, origin)
        return _result(sjbs, "ACCEPTED", stored.xybm)

    def upload_xlsx(self, source: str | Path | bytes) -> list[dict[str, Any]]:
        """Upload the 双公示 template: one result per data row (SJBS ``XLSX…`` when stored)."""
        rows = rules.read_template(source)
        with self._lock:
            results = [self._add_manual(row, "xlsx", "XLSX") | {"row": n} for n, row in enumerate(rows, 2)]
            self.stats["xlsx_rows"] += len(rows)
            return results

    def add_hand_typed(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A decision typed in by hand on the web page (SJBS ``WEB…``); raises ValueError if invalid."""
        with self._lock:
            result = self._add_manual(record, "hand", "WEB")
        if result["status"] == "REJECTED":
            raise ValueError(result["errors"])
        return result

    # ---- status hooks and events ------------------------------------------------------------
    def _set_status(self, xybm: str, status: str, event_type: str) -> dict[str, Any]:
        with self._lock:
            stored = self._records[xybm]
            stored.status = status
            f = stored.fields
            return self.add_event(event_type, f["CF_XDR_SHXYM"] or "", f["CF_WSH"], xybm)

    def repair(self, xybm: str) -> dict[str, Any]:
        """信用修复 by the credit office: status 已修复 and a REPAIRED event."""
        return self._set_status(xybm, "已修复", "REPAIRED")

    def expire(self, xybm: str) -> dict[str, Any]:
        """公示期满: status 已到期 and an EXPIRED event."""
        return self._set_status(xybm, "已到期", "EXPIRED")

    def withdraw(self, xybm: str) -> dict[str, Any]:
        """撤销 by the credit office itself: status 已撤销 and a WITHDRAWN event (a sender's D makes none)."""
        return self._set_status(xybm, "已撤销", "WITHDRAWN")

    def add_event(
        self,
        type: str,
        uscc: str,
        cf_wsh: str | None = None,
        xybm: str | None = None,
        occurred_at: dt.datetime | str | None = None,
    ) -> dict[str, Any]:
        """Publish a credit event (naive datetimes are Beijing time); returns it as the feed shows it."""
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        with self._lock:
            if occurred_at is None:
                when = self.now().replace(microsecond=0)
            elif isinstance(occurred_at, str):
                when = _parse_since(occurred_at)
            else:
                when = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=BEIJING)
            event = Event(
                self._next(), when.astimezone(BEIJING).replace(microsecond=0), type, uscc, cf_wsh, xybm
            )
            bisect.insort(self._events, event, key=lambda e: e.key)  # the feed is in occurredAt order
            return event.public()

    def events_page(self, since: str | None, limit: str | None, cursor: str | None) -> dict[str, Any]:
        """One page of the events feed; SimHTTPError 400/410 as the platform answers."""
        with self._lock:
            now = self.clock()
            if cursor:  # a cursor wins over since, and carries its own limit
                state = self._cursors.get(cursor)
                if state is None:
                    raise SimHTTPError(410, {"code": "CURSOR_EXPIRED", "message": "游标不存在"})
                if state.expired or now - state.issued_at > CURSOR_TTL_S:
                    self.stats["cursor_expired"] += 1
                    raise SimHTTPError(410, {"code": "CURSOR_EXPIRED", "message": "游标已过期"})
                start, size = bisect.bisect_right(self._events, state.after, key=lambda e: e.key), state.limit
            else:
                if not since or not _SINCE_RE.fullmatch(since):
                    raise _bad_request("since 应为 yyyy-MM-ddTHH:mm:ss+08:00（或给出 cursor）")
                try:
                    size = int(limit) if limit is not None else 100
                except ValueError:
                    size = 0
                if not 1 <= size <= 500:
                    raise _bad_request("limit 应为 1..500")
                start = bisect.bisect_left(self._events, (_parse_since(since), 0), key=lambda e: e.key)
            page = self._events[start : start + size]
            next_cursor = None
            if page and start + size < len(self._events):
                next_cursor = secrets.token_urlsafe(24)
                self._cursors[next_cursor] = _Cursor(page[-1].key, size, now)
            self.stats["event_pages"] += 1
            return {"events": [e.public() for e in page], "nextCursor": next_cursor}

    def expire_cursors_now(self) -> None:
        """Fault: every cursor issued so far answers 410 CURSOR_EXPIRED."""
        with self._lock:
            for c in self._cursors.values():
                c.expired = True

    def roll_fault(self, name: str) -> bool:
        """True with the probability configured in faults[name]."""
        with self._lock:
            rate = float(self.faults.get(name) or 0)
            return bool(rate) and self._rng.random() < rate


def event_specs(dataset: Any, count: int) -> list[dict[str, Any]]:
    """``count`` credit events, arguments for :meth:`CreditState.add_event`: the kinds the credit office
    publishes in turn, for companies penalised in ``dataset`` — every sixth for a company of another
    district, which the district platform does not know (40401)."""
    rng = random.Random(dataset.seed)
    pens = [p for p in dataset.penalties if p["party"].get("uscc") and p.get("decision_no")]
    out = []
    for n in range(count):
        when = dataset.event_time(n)
        kind = EVENT_TYPES[n % len(EVENT_TYPES)]
        if pens and n % 6 != 5:
            pen = pens[n % len(pens)]
            out.append(
                {
                    "type": kind,
                    "uscc": pen["party"]["uscc"],
                    "cf_wsh": pen["decision_no"],
                    "occurred_at": when,
                }
            )
        else:
            wsh = f"（和平）应急罚〔{when[:4]}〕{n + 1}号"
            out.append({"type": kind, "uscc": make_uscc("91120101", rng), "cf_wsh": wsh, "occurred_at": when})
    return out


def _e(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _result(
    sjbs: str, status: str, xybm: str | None, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"SJBS": sjbs, "status": status, "xybm": xybm, "errors": errors or []}


def _wsh_key(fields: Mapping[str, str | None]) -> tuple[str, str]:
    """What the platform finds a decision by: its normalised 文号 and its 处罚机关."""
    return rules.normalise_wsh(fields["CF_WSH"] or ""), fields["CF_CFJGDM"] or ""


def _fields(record: Mapping[str, Any]) -> dict[str, str | None]:
    """The stored CF_* and BZ fields: text stripped, amounts as written, '' stored as None."""
    out: dict[str, str | None] = {}
    for name in rules.FIELD_NAMES:
        value = record.get(name)
        out[name] = rules.amount_text(value) if name in rules.AMOUNT_FIELDS else (value or "").strip() or None
    return out


def _parse_since(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


def _fmt_time(when: dt.datetime) -> str:
    return when.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S+08:00")


def _bad_request(message: str) -> SimHTTPError:
    return SimHTTPError(400, {"code": "BAD_REQUEST", "message": message})


class _DroppedResponse(Response):
    """Starts a response it never finishes: uvicorn closes the socket, the client sees a transport error."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"batchId": ', "more_body": True})
        raise ConnectionDropped("simulated: connection dropped after the batch was stored")


class _QuietDrops(logging.Filter):
    """Hide uvicorn's traceback for connections dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Signed:
    """A call that passed the checks: the app that signed it, and its body."""

    app: App
    body: bytes


class _Api:
    """The platform's HTTP API: every call meets latency, outages, auth and the rate limit first
    (``guarded``), and the slow-answer fault after (``endpoint``)."""

    def __init__(self, state: CreditState) -> None:
        self.state = state

    async def guarded(self, request: Request) -> _Signed:
        """Latency, outage, auth and rate limit: everything before the API handler proper."""
        state = self.state
        state.stats["calls"] += 1
        if state.faults["latency_ms"]:
            await asyncio.sleep(state.faults["latency_ms"] / 1000)
        if state.faults["down"] or state.roll_fault("error_rate"):
            state.stats["errors_injected"] += 1
            raise SimHTTPError(503, {"code": "SERVICE_UNAVAILABLE", "message": "系统维护中，请稍后再试"})
        body = await request.body()
        return _Signed(state.authenticate(request.method, request.url.path, request.headers, body), body)

    def endpoint(self, handler: Endpoint) -> Endpoint:
        state = self.state

        async def endpoint(request: Request) -> Response:
            try:
                response = await handler(request)
            except SimHTTPError as exc:
                return _json(exc.status, exc.body, exc.headers)
            if state.faults.get("slow_ms") and state.roll_fault("slow_rate"):
                state.stats["slow_injected"] += 1  # stored already; the client times out first
                await asyncio.sleep(state.faults["slow_ms"] / 1000)
            return response

        return endpoint

    async def batch(self, request: Request) -> Response:
        call = await self.guarded(request)
        try:
            payload = json.loads(call.body, parse_float=Decimal)  # amounts checked as written
        except ValueError as exc:
            raise _bad_request(f"请求体不是有效的 JSON: {exc}") from None
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list):
            raise _bad_request('请求体应为 {"records": [...]}')
        if len(records) > MAX_BATCH:
            raise SimHTTPError(400, {"code": "BATCH_TOO_LARGE", "message": f"每批最多{MAX_BATCH}条"})
        results = self.state.submit(records, call.app.app_id)
        if self.state.roll_fault("drop_after_store_rate"):
            self.state.stats["dropped_after_store"] += 1
            return _DroppedResponse()
        return _json(200, {"batchId": secrets.token_hex(8), "results": results})

    async def get_record(self, request: Request) -> Response:
        await self.guarded(request)
        record = self.state.get(request.path_params["xybm"])
        if record is None:
            return _json(404, {"code": "NOT_FOUND", "message": "记录不存在"})
        return _json(200, record)

    async def events(self, request: Request) -> Response:
        await self.guarded(request)
        q = request.query_params
        return _json(200, self.state.events_page(q.get("since"), q.get("limit"), q.get("cursor")))

    def routes(self) -> list[Route]:
        return [
            Route(BATCH_PATH, self.endpoint(self.batch), methods=["POST"]),
            Route(EVENTS_PATH, self.endpoint(self.events), methods=["GET"]),
            Route(RECORD_PATH, self.endpoint(self.get_record), methods=["GET"]),
        ]


class _Admin:
    """``/_sim/``: fault knobs, counters, stored records, and the ways records and events arrive other
    than by the API (spreadsheet upload, typed by hand, the credit office's own actions)."""

    def __init__(self, state: CreditState) -> None:
        self.state = state

    async def faults(self, request: Request) -> Response:
        if request.method == "POST":
            changes = await request.json()
            if changes.pop("expire_cursors_now", False):
                self.state.expire_cursors_now()
            unknown = set(changes) - set(DEFAULT_FAULTS)
            if unknown:
                return _json(400, {"code": "BAD_REQUEST", "message": f"unknown faults {sorted(unknown)}"})
            self.state.faults.update(changes)
        return _json(200, self.state.faults)

    async def stats(self, request: Request) -> Response:
        return _json(200, dict(self.state.stats))

    async def records(self, request: Request) -> Response:
        return _json(200, {"records": self.state.records()})

    async def upload(self, request: Request) -> Response:
        try:
            return _json(200, {"results": self.state.upload_xlsx(await request.body())})
        except Exception as exc:  # a wrong template or not an xlsx at all
            return _json(400, {"code": "BAD_TEMPLATE", "message": str(exc)})

    async def hand_typed(self, request: Request) -> Response:
        try:
            return _json(200, self.state.add_hand_typed(await request.json()))
        except ValueError as exc:
            return _json(400, {"code": "REJECTED", "errors": exc.args[0]})

    async def event(self, request: Request) -> Response:
        e = await request.json()
        event = self.state.add_event(e["type"], e["uscc"], e.get("cfWsh"), e.get("xybm"), e.get("occurredAt"))
        return _json(200, event)

    async def status(self, request: Request) -> Response:
        state = self.state
        hooks = {"repair": state.repair, "expire": state.expire, "withdraw": state.withdraw}
        hook = hooks.get(request.path_params["action"])
        if hook is None or state.get(request.path_params["xybm"]) is None:
            return _json(404, {"code": "NOT_FOUND"})
        return _json(200, hook(request.path_params["xybm"]))

    async def one(self, request: Request) -> Response:
        """DELETE: the record removed; POST ``{CF_*: value}``: fields altered (both behind the sender's back)."""
        xybm = request.path_params["xybm"]
        if request.method == "DELETE":
            return _json(200 if self.state.remove(xybm) else 404, {"xybm": xybm})
        altered = self.state.alter(xybm, await request.json())
        return _json(404, {"code": "NOT_FOUND"}) if altered is None else _json(200, altered)

    def routes(self) -> list[Route]:
        return [
            Route("/_sim/records/{xybm}", self.one, methods=["POST", "DELETE"]),
            Route("/_sim/faults", self.faults, methods=["GET", "POST"]),
            Route("/_sim/stats", self.stats, methods=["GET"]),
            Route("/_sim/records", self.records, methods=["GET"]),
            Route("/_sim/upload", self.upload, methods=["POST"]),
            Route("/_sim/hand_typed", self.hand_typed, methods=["POST"]),
            Route("/_sim/events", self.event, methods=["POST"]),
            Route("/_sim/records/{xybm}/{action}", self.status, methods=["POST"]),
        ]


def create_app(state: CreditState | None = None) -> Starlette:
    """The platform's HTTP API plus the simulator's ``/_sim/`` admin endpoints."""
    state = state if state is not None else CreditState()
    return Starlette(routes=[*_Api(state).routes(), *_Admin(state).routes()])


if __name__ == "__main__":  # python -m simulators.credit [port]
    import sys

    from simulators.server import serve_forever

    serve_forever(create_app(CreditState()), "127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8703)
