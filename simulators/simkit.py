"""Shared machinery of the simulators: an injectable clock, fault knobs, rate limits, proxy pages.

Nothing here knows about a particular system; ``district`` and ``municipal`` build on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

_T = TypeVar("_T")
BEIJING = timezone(timedelta(hours=8))
DT_FMT = "%Y-%m-%d %H:%M:%S"


class SimClock:
    """Epoch-seconds clock that tests can move: real time plus an offset, or frozen at a point."""

    def __init__(self, frozen_at: float | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = frozen_at

    def __call__(self) -> float:
        with self._lock:
            return self._frozen if self._frozen is not None else time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def set(self, when: float | str) -> None:
        """Jump to an epoch or a Beijing ``yyyy-MM-dd HH:mm:ss``; keeps running unless frozen."""
        target = parse_beijing(when) if isinstance(when, str) else when
        with self._lock:
            if self._frozen is not None:
                self._frozen = target
            else:
                self._offset = target - time.time()

    def freeze(self, at: float | str | None = None) -> None:
        now = self()
        with self._lock:
            self._frozen = now if at is None else (parse_beijing(at) if isinstance(at, str) else at)

    def unfreeze(self) -> None:
        now = self()
        with self._lock:
            self._frozen = None
            self._offset = now - time.time()

    def beijing(self) -> str:
        """Now as Beijing ``yyyy-MM-dd HH:mm:ss`` (second precision, as the platforms keep it)."""
        return fmt_beijing(self())

    def admin(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply ``{"advance": s}`` / ``{"set": ...}`` / ``{"freeze": bool}`` from ``POST /_sim/clock``."""
        if "set" in body:
            self.set(body["set"])
        if "advance" in body:
            self.advance(float(body["advance"]))
        if body.get("freeze") is True:
            self.freeze()
        elif body.get("freeze") is False:
            self.unfreeze()
        return {"now": self.beijing(), "frozen": self._frozen is not None}


def fmt_beijing(epoch: float, fmt: str = DT_FMT) -> str:
    return datetime.fromtimestamp(int(epoch), BEIJING).strftime(fmt)


def parse_beijing(text: str, fmt: str = DT_FMT) -> float:
    """Parse a Beijing-time string; raises ValueError on any other shape (no lenient parsing)."""
    dt = datetime.strptime(text, fmt)
    if dt.strftime(fmt) != text:  # strptime accepts "2025-1-2 3:4:5"; the platforms do not
        raise ValueError(text)
    return dt.replace(tzinfo=BEIJING).astimezone(UTC).timestamp()


DEFAULT_FAULTS: dict[str, Any] = {
    "error_rate": 0.0,  # share of calls answered by an outage (5xx, or E5000 on municipal)
    "html_error_rate": 0.0,  # share answered by the proxy's HTML 502/503/504 page
    "html_200_rate": 0.0,  # district only: share answered HTTP 200 with a gateway's HTML login page
    "e5000_rate": 0.0,  # municipal only: share answered with the E5000 系统繁忙 envelope
    "latency_ms": 0,  # added to every API call
    "slow_rate": 0.0,  # share of calls whose answer is held for slow_ms after the work is done
    "slow_ms": 0,  # set it beyond the client's timeout: the client gives up, the change is stored
    "drop_after_store_rate": 0.0,  # writes: store, then drop the connection without a response
    "rate_limits": True,  # the documented limits (district 20/s per token, municipal 10/s per appKey)
    "rate_limit_per_s": None,  # override of the documented limit; 0 = off
    "token_ttl_s": None,  # district: real token lifetime (expires_in still says 7200)
    "down": False,  # maintenance: every API call gets the proxy's 503 page
    "seed": None,  # reseed the fault RNG for reproducible runs
}


class Faults:
    """Fault knobs (all off by default), their RNG and the counters of what was injected."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.knobs: dict[str, Any] = dict(DEFAULT_FAULTS)
        self.rng = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def update(self, *args: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Change knobs (``faults.update(error_rate=0.1)`` or with a dict); unknown names raise KeyError."""
        merged: dict[str, Any] = {}
        for arg in args:
            merged.update(arg)
        merged.update(changes)
        with self._lock:
            for name, value in merged.items():
                if name not in DEFAULT_FAULTS:
                    raise KeyError(f"unknown fault knob {name!r}")
                self.knobs[name] = value
                if name == "seed" and value is not None:
                    self.rng.seed(value)
            return dict(self.knobs)

    def reset_stats(self) -> None:
        with self._lock:
            self.injected.clear()
            self.calls.clear()

    def reset(self) -> None:
        with self._lock:
            self.knobs = dict(DEFAULT_FAULTS)
            self.injected.clear()
            self.calls.clear()

    def __getitem__(self, name: str) -> Any:
        return self.knobs[name]

    def roll(self, knob: str) -> bool:
        """True with the probability the knob gives."""
        rate = float(self.knobs.get(knob) or 0.0)
        if rate <= 0:
            return False
        with self._lock:
            return rate >= 1 or self.rng.random() < rate

    def choice(self, options: Sequence[_T]) -> _T:
        with self._lock:
            return self.rng.choice(options)

    def count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def call(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": dict(self.injected), "calls": dict(self.calls), "knobs": dict(self.knobs)}

    def limit(self, documented: int) -> int:
        """The rate limit in force: 0 when off."""
        if not self.knobs["rate_limits"]:
            return 0
        override = self.knobs["rate_limit_per_s"]
        return documented if override is None else int(override)

    async def delay(self) -> None:
        ms = self.knobs["latency_ms"] or 0
        if ms > 0:
            await asyncio.sleep(ms / 1000)

    async def slow(self) -> None:
        """Hold the answer of a ``slow_rate`` share of calls for ``slow_ms``: a timeout whose outcome
        the client cannot know (a write is already stored when the wait begins)."""
        ms = self.knobs["slow_ms"] or 0
        if ms > 0 and self.roll("slow_rate"):
            self.count("slow")
            await asyncio.sleep(ms / 1000)


class RateLimiter:
    """Sliding one-second window per key, on the simulator's clock (frozen clock = one long second)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, limit: int) -> bool:
        """Record a call for ``key`` unless ``limit`` calls happened in the last second."""
        if limit <= 0:
            return True
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 1.0:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True


_PROXY_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{status} {reason}</title></head>
<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center>
<p>系统维护中，请稍后再试。</p></body></html>
"""
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
            504: "Gateway Time-out"}  # fmt: skip


def proxy_page(status: int) -> HTMLResponse:
    """The nginx-style error page a gateway answers during outages."""
    return HTMLResponse(_PROXY_PAGE.format(status=status, reason=_REASONS[status]), status_code=status)


class DroppedResponse(Response):
    """Starts a response and never finishes it: the server then closes the connection.

    Used for drop-after-store: the change is already stored, the client gets the status line and
    headers (Content-Length promises a body), then EOF, which httpx reports as RemoteProtocolError.
    The ASGI server must close a connection whose response was started but not completed; uvicorn
    does exactly that (and logs a line that :func:`quiet_dropped_log` filters out).
    """

    def __init__(self) -> None:
        super().__init__(b"", status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", b"64"),
                ],
            }
        )


class _DroppedFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


_filter_installed = False


def quiet_dropped_log() -> None:
    """Silence uvicorn's error line for the connections we drop on purpose."""
    global _filter_installed
    if not _filter_installed:
        logging.getLogger("uvicorn.error").addFilter(_DroppedFilter())
        _filter_installed = True


async def json_body(request: Request) -> Any:
    """The request's JSON body, or raises ValueError."""
    raw = await request.body()
    if not raw:
        return None
    return json.loads(raw)


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def is_uscc(code: str) -> bool:
    """GB 32100: 18 characters of the alphabet, first 1–9/A/N/Y, right check character."""
    if len(code) != 18 or code[0] not in "123456789ANY" or any(c not in _USCC_ALPHABET for c in code):
        return False
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code, _USCC_WEIGHTS, strict=False))
    return code[17] == _USCC_ALPHABET[(31 - total % 31) % 31]


BodyOf = Callable[[Any], Any]  # async (request) -> the JSON body as a dict ({} when absent or bad)


def common_admin_routes(faults: Faults, clock: Any, body_of: BodyOf) -> list[Any]:
    """``/_sim/faults``, ``/_sim/stats`` and ``/_sim/clock``: the test hooks every HTTP simulator has."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def faults_route(request: Any) -> Any:
        if request.method == "POST":
            try:
                faults.update(await body_of(request))
            except KeyError as e:
                return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse(faults.knobs)

    async def stats_route(request: Any) -> Any:
        if request.method == "POST":  # reset
            faults.reset_stats()
        return JSONResponse(faults.stats())

    async def clock_route(request: Any) -> Any:
        if not isinstance(clock, SimClock):
            return JSONResponse({"error": "clock is not a SimClock"}, status_code=400)
        return JSONResponse(clock.admin(await body_of(request) if request.method == "POST" else {}))

    return [
        Route("/_sim/faults", faults_route, methods=["GET", "POST"]),
        Route("/_sim/stats", stats_route, methods=["GET", "POST"]),
        Route("/_sim/clock", clock_route, methods=["GET", "POST"]),
    ]
