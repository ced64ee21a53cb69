"""The operator console: a server-rendered Starlette app over the ledger (``create_app``).

``zhifa-sync run`` serves it beside the scheduler, ``zhifa-sync console`` alone; both on 127.0.0.1 by
default (``console.host``/``console.port`` in the configuration).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
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

from connectors.contract.clock import BEIJING
from connectors.contract.mapping import Mappings
from console import accounts, actions, mappings, reconcile, report, steer, trace, views
from console.auth import login_page, login_submit, logout
from console.limits import LoginGate, LoginLimiter
from console.peers import PeerAddress, networks
from console.present import STATIC, make_env
from console.web import ConsoleState, StatusFn, error_page, state
from sync.config import ConsoleConfig, Settings
from sync.lag import pipeline_lag
from sync.ledger import Ledger
from sync.mapping.check import LiveCheck
from sync.metrics import LAG_SECONDS, OPEN_FAILURES, REGISTRY

SESSION_COOKIE = "zhifa_console"
SECRET_FILE = "console-secret"
log = structlog.get_logger("console")

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


def _secure_cookies(message: Message) -> None:
    """Add the Secure flag to every cookie the response sets."""
    message["headers"] = [
        (k, v + b"; secure") if k.lower() == b"set-cookie" and b"secure" not in v.lower() else (k, v)
        for k, v in message["headers"]
    ]


def add_security_headers(headers: MutableHeaders, path: str) -> None:
    for name, value in _HEADERS.items():
        headers.setdefault(name, value)
    if not path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")


class SecurityHeaders:
    """Adds the headers above; pages (not static files) are not cached, as they hold personal data.

    With ``secure_cookies`` unset (``None``) a response to a request made over HTTPS (directly, or
    through a trusted proxy that says so) sets its cookies ``Secure``; ``True``: always."""

    def __init__(self, app: ASGIApp, secure_cookies: bool | None = None) -> None:
        self.app = app
        self.secure_cookies = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message), scope["path"])
                secure = self.secure_cookies
                if secure is None:
                    secure = scope.get("scheme") == "https"
                if secure:
                    _secure_cookies(message)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def default_secret_file(database_url: str) -> Path | None:
    """Beside a SQLite ledger; for a server database, in systemd's ``$STATE_DIRECTORY`` (or the working
    directory); None for an in-memory ledger (a key per process)."""
    if database_url.startswith("sqlite"):
        db = database_url.split(":///", 1)[-1]
        if not db or db == ":memory:" or database_url.endswith("://"):
            return None
        return Path(db).parent / SECRET_FILE
    return Path(os.environ.get("STATE_DIRECTORY", ".").split(":")[0]) / SECRET_FILE


def read_or_make_secret(path: Path) -> str:
    """The key in ``path``, made (0600, in a 0700 directory if it has to make that) on first use."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # made by hand with the umask's mode: nobody else may read it
            log.warning("console_secret_mode_fixed", file=str(path))
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
    key = path.read_text(
        encoding="utf-8"
    ).strip()  # another process may have written first: use what is stored
    if len(key) < 32:
        raise ValueError(f"控制台会话密钥文件 {path} 内容过短 (至少 32 个字符)")
    return key


def session_secret(ledger: Ledger, console_cfg: ConsoleConfig | None = None) -> str:
    """The cookie-signing key: the configuration's secret reference, or a 0600 file (never the ledger:
    whoever can read the ledger's file could forge any user's cookie with it)."""
    cfg = console_cfg or ConsoleConfig()
    if cfg.secret is not None:
        return cfg.secret.resolve().get_secret_value()
    path = cfg.secret_file or default_secret_file(ledger.engine.url.render_as_string(hide_password=True))
    return secrets.token_urlsafe(48) if path is None else read_or_make_secret(path)


def _loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: may be reachable from anywhere


def exposure_warning(host: str, cfg: ConsoleConfig) -> str | None:
    """Why serving the console on ``host`` is unsafe (in Chinese), or None: a non-loopback address with
    no TLS proxy declared (``console.secure_cookies: true``) sends passwords and cookies in clear."""
    if _loopback(host) or cfg.secure_cookies is True:
        return None
    return (
        f"控制台监听在非本机地址 {host} 上, 且未声明前置的 HTTPS 反向代理: 密码和会话 cookie 会以明文在网络上传输。"
        " 请改为监听 127.0.0.1 并由反向代理提供 HTTPS (见 README「Security」一节);"
        " 已由 HTTPS 代理转发时请设置 console.secure_cookies: true 和 console.trusted_proxies。"
    )


def healthz(request: Request) -> Response:
    """For service monitors: no login, no data; 503 when the ledger database cannot be reached or a run
    is stuck (given up after no progress, still hanging); systems whose circuit is open are listed."""
    st = state(request)
    try:
        st.ledger.ping()
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    found = st.health() if st.health is not None else {}
    body: dict[str, Any] = {"status": "stuck" if found.get("stuck") else "ok"}
    body.update({key: value for key, value in found.items() if value})
    return JSONResponse(body, status_code=503 if found.get("stuck") else 200)


_metrics_lock = threading.Lock()


def _refresh_lags(st: ConsoleState) -> None:
    """The lag gauge as the console and ``status`` show it (``sync.lag``), also when another process runs."""
    for p in st.settings.pipelines if st.settings else ():
        found = pipeline_lag(st.ledger, p.name)
        if found.seconds is not None:
            LAG_SECONDS.labels(p.name).set(found.seconds)


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
            _refresh_lags(state(request))
        body = encoder(REGISTRY)
    return Response(body, headers={"Content-Type": content_type})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: ("未找到", "您访问的页面不存在。"), 405: ("不支持的请求", "该地址不支持此请求方式。")}
    title, message = titles.get(exc.status_code, ("请求有误", "请求无法处理, 请返回上一页重试。"))
    if exc.status_code == 400 and exc.detail and not exc.detail.isascii():
        message = exc.detail  # our own message, in Chinese (e.g. a page number out of range)
    return error_page(request, exc.status_code, title, message)


async def server_error(request: Request, exc: Exception) -> Response:
    """A 500: a plain page with the security headers, and the error in the masked structured log.

    Starlette sends this from outside every middleware, so the headers are added here."""
    log.error("console_error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
    response = Response(
        "<!doctype html><meta charset=utf-8><title>内部错误</title><h1>内部错误</h1>"
        "<p>控制台处理请求时出错, 详情已记入日志。请稍后重试。</p>",
        status_code=500,
        media_type="text/html",
    )
    add_security_headers(response.headers, request.url.path)
    return response


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
    Route("/failures/{failure_id:int}/retry-record", actions.retry_record, methods=["POST"]),
    Route("/failures/{failure_id:int}/resolve-record", actions.resolve_record, methods=["POST"]),
    Route("/runs", views.run_history),
    Route("/pipelines/{name}/pause", steer.pause, methods=["POST"]),
    Route("/pipelines/{name}/resume", steer.resume, methods=["POST"]),
    Route("/pipelines/{name}/run", steer.run_now, methods=["POST"]),
    Route("/pipelines/{name}/reread", steer.reread, methods=["POST"]),
    Route("/audit", views.audit),
    Route("/unmapped", views.unmapped),
    Route("/mappings", mappings.mappings_page),
    Route("/mappings/check", mappings.check_upload, methods=["POST"]),
    Route("/mappings/apply", mappings.apply_upload, methods=["POST"]),
    Route("/mappings/versions/{version_id:int}/rollback", mappings.rollback_version, methods=["POST"]),
    Route("/users", accounts.users_page, methods=["GET"]),
    Route("/users", accounts.create, methods=["POST"]),
    Route("/users/{user_id:int}/disable", accounts.disable, methods=["POST"]),
    Route("/users/{user_id:int}/enable", accounts.enable, methods=["POST"]),
    Route("/users/{user_id:int}/password", accounts.reset_password, methods=["POST"]),
    Route("/users/{user_id:int}/role", accounts.change_role, methods=["POST"]),
    Route("/reconcile", reconcile.reconcile_page),
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
    health: Callable[[], dict[str, Any]] | None = None,
    check_live: Callable[[Mappings], LiveCheck] | None = None,
) -> Starlette:
    """The console app over ``ledger``.

    ``status`` (from the running service) tells the pipelines' schedules and the systems' health;
    without it the console shows what ``settings`` and the ledger say. ``check_live`` (from the service)
    checks an uploaded mapping table against the systems' live catalogues. ``clock`` is for tests
    (session expiry, login rate limit).
    """
    console_cfg = settings.console if settings else ConsoleConfig()
    session_seconds = console_cfg.session_minutes * 60
    proxies = networks(console_cfg.trusted_proxies)
    console_state = ConsoleState(
        ledger=ledger,
        settings=settings,
        status=status,
        templates=Jinja2Templates(env=make_env(settings.zone if settings else BEIJING)),
        limiter=LoginLimiter(clock),
        login_gate=LoginGate(),
        clock=clock,
        session_seconds=session_seconds,
        retry_now=retry_now,
        health=health,
        check_live=check_live,
    )
    middleware = [
        Middleware(PeerAddress, proxies=proxies),
        Middleware(SecurityHeaders, secure_cookies=console_cfg.secure_cookies),
        Middleware(
            SessionMiddleware,
            secret_key=secret_key or session_secret(ledger, console_cfg),
            session_cookie=SESSION_COOKIE,
            max_age=session_seconds,
            same_site="lax",
            https_only=False,  # Secure is added by SecurityHeaders: always, or per request over HTTPS
        ),
    ]
    app = Starlette(
        routes=ROUTES,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.console = console_state
    return app
