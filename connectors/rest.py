"""The REST client every HTTP system's connector holds: it sends, paces, retries and classifies.

- ``RestClient`` owns one system's pooled transport (``HttpSession``), its client-side rate limit with a
  cool-down shared by every thread (``RateLimiter``), and its one retry policy (``RetryPolicy``);
- each system gives a *table* from its wire codes (HTTP statuses, envelope error codes) to what happens
  next (``Wire``), as Airbyte's error mapping does, and ``RestClient.fail`` turns a row into our own
  error type; the system's module keeps only what the table cannot say (log in again, link a twin);
- transport failures become ``RetriableError`` (the outcome of a write is then unknown).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

import httpx
import orjson
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.breaker import Breaker
from connectors.contract.config import CircuitConfig, HttpSystemConfig, RetryConfig
from connectors.contract.errors import (
    BadResponse,
    ConnectorError,
    FatalConnectorError,
    RetriableError,
    TargetRejected,
)
from connectors.contract.health import Health
from connectors.deadline import DeadlineTransport, within

T = TypeVar("T")
log = structlog.get_logger("zhifa.http")


# -- wire codes -> what happens next --------------------------------------------------------------
class Next(StrEnum):
    """What a wire code means for the call that got it."""

    RETRY = "retry"  # a blip: back off and try again (and pause every caller for ``pause_s``)
    FATAL = "fatal"  # the system refuses us as configured (credentials): stop calling it
    REJECT = "reject"  # the system refused this request: the record's own failure
    BUG = "bug"  # we sent what the contract forbids: a defect of ours
    SPECIAL = "special"  # the system's module handles it (log in again, link a twin, restart a feed)


@dataclass(frozen=True, slots=True)
class Wire:
    """One row of a system's table: what the code means, and what happens next."""

    next: Next
    meaning: str
    pause_s: float | None = None  # pause every caller this long (a rate limit without Retry-After)
    honour_retry_after: bool = False


WireTable = Mapping[int | str, Wire]  # HTTP status, "5xx"-style class, or the envelope's error code


def lookup(table: WireTable, code: int | str) -> Wire | None:
    """The row for ``code``; an HTTP status falls back to its class (``503`` → ``"5xx"``)."""
    row = table.get(code)
    if row is None and isinstance(code, int):
        row = table.get(f"{code // 100}xx")
    return row


class RateLimiter:
    """The pace shared by all threads calling one system: at most ``rate`` calls in any second, and a
    common pause for everyone after the system said "too many calls" (each thread backing off alone
    would keep the others hammering the limit).

    Calls are spread evenly, each ``(1 + MARGIN) / rate`` seconds after the previous one *reached the
    wire*: ``acquire`` grants a slot and returns a ticket, the caller reports ``sent(ticket)`` once its
    request is written (``HttpSession`` does so when the body is out), and the next slot counts from
    then. So any ``rate`` + 1 calls arrive more than ``1 + MARGIN`` seconds apart however late a
    thread woke or how long a body took to go out; the margin is for what happens after (the network,
    the platform's own queue).

    Measured by ``python -m bench.limits`` (bench/RESULTS.md), each of these got refusals: a fixed
    spacing of slots booked in advance (calls bunched behind a thread that woke late); a sliding window
    that let ``rate`` calls go at once (a platform that serves one request at a time counted the burst
    in an order of its own, so a call it counted late and the call ``rate`` after it fell into one
    second); an even spacing counted from the grant (a pause of the whole process between grant and
    send — the garbage collector, a long C call holding the GIL — sent two calls together)."""

    # 20 ms a second for what happens after the request is written: the most measured from grant to
    # the platform's count was 13 ms, the send included (bench.limits); 3 % cost municipal 1 % of share.
    MARGIN = 0.02
    # How long the next call waits for the previous one to reach the wire: a body the platform does
    # not read is not counted there either, and must not hold every other call back for long.
    UNSENT_WAIT_S = 2.0

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._gap = (1 + self.MARGIN) / rate if rate > 0 else 0.0
        self._lock = threading.Lock()
        self._last = float("-inf")  # when the previous call went (granted, then reached the wire)
        self._ticket = 0  # the last call granted
        self._unsent: int | None = None  # its ticket until it reports ``sent``
        self._hold_until = 0.0

    def acquire(self) -> int:
        """Wait for this call's slot; the ticket to pass to ``sent``."""
        if self._gap == 0:  # unpaced, but a "too many calls" still holds every caller
            wait = self._hold_until - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            return 0
        with self._lock:  # one caller at a time takes the next free moment, and sleeps until it
            while True:
                now = time.monotonic()
                if self._unsent is not None and now < self._last + self.UNSENT_WAIT_S:
                    time.sleep(0.001)  # the previous call is still on its way out
                    continue
                free = max(self._hold_until, self._last + self._gap)
                if now >= free:
                    self._ticket += 1
                    self._last, self._unsent = now, self._ticket
                    return self._ticket
                time.sleep(free - now)

    def sent(self, ticket: int) -> None:
        """The call with ``ticket`` is on the wire (or failed before it got there): the next slot
        counts from now. Not under the lock (the next caller may be waiting in ``acquire`` holding
        it): both stores are atomic, and a ticket other than the pending one changes nothing."""
        if ticket and self._unsent == ticket:
            self._last = max(self._last, time.monotonic())
            self._unsent = None

    def cool_down(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now. Not under the lock: a caller may be sleeping in
        ``acquire`` holding it; the store is atomic and the sleeper reads it again before going ahead."""
        self._hold_until = max(self._hold_until, time.monotonic() + seconds)


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
        deadline_s: float = 30.0,
        max_bytes: int = 16 * 1024 * 1024,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        self._base = base_url.rstrip("/")
        self._transport = transport or DeadlineTransport(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        )
        self.deadline_s = deadline_s
        self.max_bytes = max_bytes
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
        on_sent: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """Send and read one request; transport failures become ``RetriableError`` (the outcome of a
        write is unknown). ``on_sent`` is called once the request is written (httpcore's trace event
        for the end of the body), and again, harmlessly, when the call ends however it ended."""
        url = self.url(path)
        if params:
            url = url.copy_merge_params(params)
        all_headers = {**self._headers, **headers} if headers else self._headers
        if json is not None:
            # orjson: the same compact UTF-8 JSON httpx would write, in a tenth of the time; a value
            # JSON cannot hold raises TypeError, as with httpx
            content = orjson.dumps(json)
            all_headers = {**all_headers, "Content-Type": "application/json"}
        extensions: dict[str, Any] = {"timeout": self._timeout}
        if on_sent is not None:
            extensions["trace"] = _when_sent(on_sent)
        request = httpx.Request(method, url, content=content, headers=all_headers, extensions=extensions)
        started = time.monotonic()
        try:
            with within(self.deadline_s):
                response = self._transport.handle_request(request)
                response.request = request
                try:
                    self._read(response, started)
                finally:
                    response.close()
        except httpx.TimeoutException as exc:
            if time.monotonic() - started >= self.deadline_s - 0.05:
                raise RetriableError(
                    f"{self.system} 响应超过总时限 {self.deadline_s:g} 秒 (连接与读取合计), 本次调用放弃",
                    system=self.system,
                    code="deadline",
                ) from exc
            raise RetriableError(
                f"{self.system} 响应超时 ({type(exc).__name__})", system=self.system
            ) from exc
        except httpx.TransportError as exc:
            raise RetriableError(
                f"{self.system} 连接失败或被中断 ({type(exc).__name__}: {exc})", system=self.system
            ) from exc
        finally:
            if on_sent is not None:  # a transport that traces nothing, or a call that never got out
                on_sent()
        return response

    def _read(self, response: httpx.Response, started: float) -> None:
        """Read the body chunk by chunk: never more than ``max_bytes``, never past the deadline (the
        transport's reads are clamped to it too; this also covers a transport without that)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_big()
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_big()
            if time.monotonic() - started > self.deadline_s:
                raise httpx.ReadTimeout("overall deadline passed", request=response.request)
            chunks.append(chunk)
        response._content = b"".join(chunks)  # what ``response.read()`` would have kept

    def _too_big(self) -> RetriableError:
        return RetriableError(
            f"{self.system} 响应超过大小上限 {_size(self.max_bytes)}, 本次调用放弃 (未读完的内容已丢弃)",
            system=self.system,
            code="too_big",
        )

    def close(self) -> None:
        self._transport.close()


def _when_sent(callback: Callable[[], None]) -> Callable[[str, dict[str, Any]], None]:
    """An httpcore ``trace`` extension calling ``callback`` when the request's body has been written."""

    def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):
            callback()

    return trace


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"


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


_NO_CIRCUIT_CHANGE = CircuitConfig()  # the defaults (a frozen model: safe to share)


@dataclass(frozen=True, slots=True)
class CallLimits:
    """How long a whole call may take, how big its answer may be, and when to stop calling at all."""

    deadline_s: float = 30.0
    max_response_bytes: int = 16 * 1024 * 1024
    circuit: CircuitConfig = _NO_CIRCUIT_CHANGE

    @classmethod
    def of(cls, cfg: HttpSystemConfig) -> CallLimits:
        return cls(cfg.deadline_s, cfg.max_response_bytes, cfg.circuit)


class RestClient:
    """One REST system's connection: send (paced by the rate limit), retry, and classify by table."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        timeout_s: float,
        concurrency: int,
        rate_limit_per_s: float,
        retry: RetryConfig,
        limits: CallLimits | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        limits = limits or CallLimits()
        self.session = HttpSession(
            system,
            base_url,
            timeout_s=timeout_s,
            max_connections=concurrency + 2,
            deadline_s=limits.deadline_s,
            max_bytes=limits.max_response_bytes,
            transport=transport,
        )
        self.limiter = RateLimiter(rate_limit_per_s)
        self.retry = RetryPolicy(retry, system)
        self.health = Health()
        self.breaker = Breaker(system, limits.circuit, self.health)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One attempt, after waiting for its slot under the rate limit (the next slot counts from when
        this request has been written)."""
        ticket = self.limiter.acquire()
        return self.session.request(
            method,
            path,
            params=params,
            json=json,
            content=content,
            headers=headers,
            on_sent=lambda: self.limiter.sent(ticket),
        )

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` under the retry policy (each attempt is built afresh: new signature, new nonce);
        what came of it, once for all the attempts, goes to ``health`` and the circuit breaker (while
        it is open the call is not made: ``CircuitOpen``)."""
        self.breaker.admit()
        try:
            result = self.retry(fn, *args)
        except RetriableError as exc:
            self.health.failed(str(exc))
            self.breaker.failed()
            raise
        except FatalConnectorError as exc:
            self.health.refused(str(exc))
            self.breaker.succeeded()  # it answered (no to our credentials): not what a breaker is for
            raise
        except ConnectorError:
            self.health.answered()  # the system answered: it refused this request, not us
            self.breaker.succeeded()
            raise
        except BaseException:
            self.breaker.failed()  # a crash of ours mid-call: never leave a half-open probe hanging
            raise
        self.health.answered()
        self.breaker.succeeded()
        return result

    def fail(
        self,
        wire: Wire,
        code: int | str,
        detail: str = "",
        *,
        response: httpx.Response | None = None,
        answer: str | None = None,
    ) -> NoReturn:
        """Raise what ``wire`` says for a call that got ``code`` (``detail``: the system's own message)."""
        where = f"HTTP {code}" if isinstance(code, int) and 100 <= code < 600 else code
        text = f"{self.system} {wire.meaning} ({where})" + (f": {detail}" if detail else "")
        wait = retry_after(response) if response is not None and wire.honour_retry_after else None
        if wire.next is Next.RETRY:
            pause = wait or wire.pause_s or (1.0 if wire.honour_retry_after else None)
            if pause:
                self.limiter.cool_down(pause)  # every thread pauses, not just this one
            raise RetriableError(text, system=self.system, code=str(code), response=answer, retry_after=wait)
        if wire.next is Next.FATAL:
            raise FatalConnectorError(text, system=self.system, code=str(code), response=answer)
        if wire.next is Next.REJECT:
            raise TargetRejected(text, system=self.system, code=str(code), response=answer)
        if wire.next is Next.BUG:
            raise ConnectorError(f"{text}: 程序缺陷, 请报告开发人员", system=self.system, code=str(code))
        raise AssertionError(f"{self.system}: code {code} is handled by the system's module")

    def check_status(self, response: httpx.Response, table: WireTable) -> None:
        """Raise for an HTTP status the table says is not an answer to read (429, 5xx, …)."""
        wire = lookup(table, response.status_code)
        if wire is not None and wire.next is not Next.SPECIAL:
            self.fail(
                wire, response.status_code, snippet(response), response=response, answer=snippet(response)
            )

    def close(self) -> None:
        self.session.close()


def snippet(response: httpx.Response, limit: int = 120) -> str:
    """The start of a body, whitespace folded: what an operator needs to recognise an HTML error page."""
    return " ".join(response.text.split())[:limit]


# The HTTP statuses every REST system here answers alike (each system's table starts from these).
HTTP_BLIPS: dict[int | str, Wire] = {
    429: Wire(Next.RETRY, "调用频率超限", honour_retry_after=True),
    "5xx": Wire(Next.RETRY, "服务不可用"),
}
