"""The operator console: a server-rendered Starlette app over the ledger (``create_app``).

``zhifa-sync run`` serves it beside the scheduler, ``zhifa-sync console`` alone; both on 127.0.0.1 by
default (``console.host``/``console.port`` in the configuration).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable

from prometheus_client.exposition import choose_encoder
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console import actions, report, trace, views
from console.auth import LoginLimiter, login_page, login_submit, logout
from console.present import STATIC, make_env
from console.web import ConsoleState, StatusFn, error_page, state
from sync.config import ConsoleConfig, Settings
from sync.ledger import Ledger
from sync.metrics import OPEN_FAILURES, REGISTRY

SECRET_META_KEY = "console_secret"

# No inline script or style anywhere, so the policy can forbid both: injected markup cannot run.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """Adds the headers above; pages (not static files) are not cached, as they hold personal data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers.setdefault(name, value)
                if not scope["path"].startswith("/static/"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def session_secret(ledger: Ledger) -> str:
    """The cookie-signing key kept in the ledger's ``meta`` table, so sessions survive restarts."""
    key = ledger.get_meta(SECRET_META_KEY)
    if not key:
        ledger.set_meta(SECRET_META_KEY, secrets.token_urlsafe(48))
        key = ledger.get_meta(SECRET_META_KEY)  # another process may have written first: use what is stored
    assert key
    return key


def healthz(request: Request) -> Response:
    """For service monitors: no login, no data; 503 when the ledger database cannot be reached."""
    try:
        state(request).ledger.ping()
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


_metrics_lock = threading.Lock()


def metrics(request: Request) -> Response:
    """Prometheus metrics; the open-failure gauge is read from the ledger on each scrape."""
    try:
        counts = state(request).ledger.failure_counts()
    except SQLAlchemyError:
        counts = None  # keep the last values; the engine's own metrics still go out
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    with _metrics_lock:  # clear-and-refill must not interleave with another scrape
        if counts is not None:
            totals: Counter[tuple[str, str]] = Counter()
            for c in counts:
                totals[(c["target"], c["error_kind"])] += c["n"]
            OPEN_FAILURES.clear()
            for (target, kind), n in totals.items():
                OPEN_FAILURES.labels(target=target, error_kind=kind).set(n)
        body = encoder(REGISTRY)
    return Response(body, headers={"Content-Type": content_type})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: ("未找到", "您访问的页面不存在。"), 405: ("不支持的请求", "该地址不支持此请求方式。")}
    title, message = titles.get(exc.status_code, ("请求有误", "请求无法处理, 请返回上一页重试。"))
    return error_page(request, exc.status_code, title, message)


# Every page and action of the console (the handlers check login, role and CSRF themselves).
ROUTES = [
    Route("/healthz", healthz),
    Route("/metrics", metrics),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", views.overview),
    Route("/failures", views.failure_list),
    Route("/failures/retry-kind", actions.retry_kind, methods=["POST"]),
    Route("/failures/{failure_id:int}", views.failure_detail),
    Route("/failures/{failure_id:int}/retry", actions.retry, methods=["POST"]),
    Route("/failures/{failure_id:int}/resolve", actions.resolve, methods=["POST"]),
    Route("/failures/{failure_id:int}/reopen", actions.reopen, methods=["POST"]),
    Route("/runs", views.run_history),
    Route("/audit", views.audit),
    Route("/unmapped", views.unmapped),
    Route("/report", report.report_page),
    Route("/trace", trace.trace_page),
    Route("/report.xlsx", report.report_download),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


def create_app(
    ledger: Ledger,
    settings: Settings | None = None,
    *,
    status: StatusFn | None = None,
    secret_key: str | None = None,
    clock: Callable[[], float] = time.time,
    retry_now: Callable[[list[str]], None] | None = None,
) -> Starlette:
    """The console app over ``ledger``.

    ``status`` (from the running service) tells the pipelines' schedules and the systems' health;
    without it the console shows what ``settings`` and the ledger say. ``clock`` is for tests
    (session expiry, login rate limit).
    """
    console_cfg = settings.console if settings else ConsoleConfig()
    session_seconds = console_cfg.session_minutes * 60
    console_state = ConsoleState(
        ledger=ledger,
        settings=settings,
        status=status,
        templates=Jinja2Templates(env=make_env()),
        limiter=LoginLimiter(clock),
        clock=clock,
        session_seconds=session_seconds,
        retry_now=retry_now,
    )
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret_key or session_secret(ledger),
            session_cookie="zhifa_console",
            max_age=session_seconds,
            same_site="lax",
            https_only=False,  # served on loopback or behind the bureau's own TLS proxy
        ),
    ]
    app = Starlette(routes=ROUTES, middleware=middleware, exception_handlers={HTTPException: http_error})
    app.state.console = console_state
    return app
