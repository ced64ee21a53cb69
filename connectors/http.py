"""HTTP plumbing shared by the REST connectors: one retry policy, a client-side rate limiter, and the
translation of transport failures into our own error types."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import orjson
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.contract.config import RetryConfig
from connectors.contract.errors import BadResponse, RetriableError

T = TypeVar("T")
log = structlog.get_logger("zhifa.http")


class RateLimiter:
    """Spacing shared by all threads calling one system: at most ``rate`` calls per second, and a
    common pause for everyone after the system said "too many calls" (each thread backing off alone
    would keep the others hammering the limit)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            if self.rate > 0:
                self._next = slot + 1.0 / self.rate
        if slot > now:
            time.sleep(slot - now)

    def cool_down(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


class _Wait:
    """Exponential back-off with full jitter, never shorter than the server's ``Retry-After``."""

    def __init__(self, cfg: RetryConfig, offset: int = 0) -> None:
        self.cfg = cfg
        self.offset = offset

    def seconds(self, attempt: int, exc: BaseException | None) -> float:
        exp = min(self.cfg.max_wait_s, self.cfg.initial_wait_s * 2 ** (attempt - 1))
        wait = random.uniform(self.cfg.initial_wait_s / 2, exp)
        if isinstance(exc, RetriableError) and exc.retry_after:
            wait = max(wait, min(exc.retry_after, self.cfg.max_wait_s))
        return wait

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.seconds(state.attempt_number + self.offset, exc)


def retrying(cfg: RetryConfig, system: str, *, offset: int = 0) -> Retrying:
    """The one retry policy: only ``RetriableError``, back-off with jitter, log each attempt, re-raise.
    ``offset``: attempts already made before this policy took over (for the log and the back-off)."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "call_retry",
            system=system,
            attempt=state.attempt_number + offset,
            error=str(exc),
            wait_s=round(state.upcoming_sleep, 2),
        )

    return Retrying(
        retry=retry_if_exception_type(RetriableError),
        stop=stop_after_attempt(cfg.attempts - offset),
        wait=_Wait(cfg, offset),
        before_sleep=before_sleep,
        reraise=True,
    )


class RetryPolicy:
    """``retrying`` with a fast path: the first attempt is a plain call (most calls succeed, and
    tenacity's bookkeeping costs more than a push's own Python work); only after a ``RetriableError``
    does the policy take over for the remaining attempts."""

    def __init__(self, cfg: RetryConfig, system: str) -> None:
        self.system = system
        self._wait = _Wait(cfg)
        self._rest = retrying(cfg, system, offset=1) if cfg.attempts > 1 else None

    def __call__(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        try:
            return fn(*args, **kw)
        except RetriableError as exc:
            if self._rest is None:
                raise
            wait = self._wait.seconds(1, exc)
            log.warning("call_retry", system=self.system, attempt=1, error=str(exc), wait_s=round(wait, 2))
            time.sleep(wait)
        return self._rest(fn, *args, **kw)


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"zhifa-sync/{version('zhifa-sync')}"
    except Exception:  # running from a source tree that was never installed
        return "zhifa-sync"


USER_AGENT = _user_agent()


class HttpSession:
    """One system's HTTP: a pooled httpx transport, requests built and sent straight through it.

    ``httpx.Client`` adds per call what none of the four systems uses, and under threads it costs: a
    cookie jar that every thread passes through one lock (``http.cookiejar``, with two urllib
    compatibility objects per response), URL merging and header defaults, redirect and auth hooks.
    In ``make bench`` the loop posting through ``httpx.Client`` spends 1.50 ms of CPU per record and
    the one posting through this path 1.10 ms (bench/RESULTS.md, 20,000 records, 8 threads); a process
    bound by its GIL gets exactly that much less throughput. Redirects are not followed (none of the interfaces has any:
    a 3xx is a misconfigured gateway and is reported as such), no cookies are kept.
    """

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        timeout_s: float,
        max_connections: int,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        self._base = base_url.rstrip("/")
        self._transport = transport or httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        )
        self._timeout = httpx.Timeout(timeout_s).as_dict()
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self._urls: dict[str, httpx.URL] = {}

    def url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self._base + path)
            if len(self._urls) < 256:  # the interfaces have a handful of fixed paths; never grow unbounded
                self._urls[path] = url
        return url

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send and read one request; transport failures become ``RetriableError`` (the outcome of a
        write is unknown)."""
        url = self.url(path)
        if params:
            url = url.copy_merge_params(params)
        all_headers = {**self._headers, **headers} if headers else self._headers
        if json is not None:
            # orjson: the same compact UTF-8 JSON httpx would write, in a tenth of the time; a value
            # JSON cannot hold raises TypeError, as with httpx
            content = orjson.dumps(json)
            all_headers = {**all_headers, "Content-Type": "application/json"}
        request = httpx.Request(
            method, url, content=content, headers=all_headers, extensions={"timeout": self._timeout}
        )
        try:
            response = self._transport.handle_request(request)
            response.request = request
            try:
                response.read()
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise RetriableError(
                f"{self.system} 响应超时 ({type(exc).__name__})", system=self.system
            ) from exc
        except httpx.TransportError as exc:
            raise RetriableError(
                f"{self.system} 连接失败或被中断 ({type(exc).__name__}: {exc})", system=self.system
            ) from exc
        return response

    def close(self) -> None:
        self._transport.close()


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def json_body(response: httpx.Response, system: str) -> Any:
    """The JSON body, or ``BadResponse`` describing what came instead (an HTML page from a proxy, …)."""
    try:
        return orjson.loads(response.content)  # several times faster than json; same values
    except orjson.JSONDecodeError:
        pass  # not strict JSON, or not UTF-8: let the standard library say what it is
    try:
        return json.loads(response.content)
    except UnicodeDecodeError:
        # A record holding bytes that are not UTF-8 must not sink the whole page: decode with
        # replacement characters, and validation fails just the record that carries them.
        try:
            return json.loads(response.content.decode("utf-8", errors="replace"))
        except ValueError:
            pass
    except ValueError:
        pass
    text = response.content.decode("utf-8", errors="replace")
    html = "html" in response.headers.get("content-type", "") or text.lstrip().startswith("<")
    snippet = " ".join(text.split())[:120]
    raise BadResponse(
        f"{system} 返回了{'HTML 页面' if html else '非 JSON 内容'} (HTTP {response.status_code}) 而不是 JSON: {snippet!r}",
        system=system,
        response=snippet,
    )
