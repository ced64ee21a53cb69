"""Logging in and out, sessions that expire, CSRF tokens, roles, and login rate limiting.

The session is Starlette's signed cookie (HttpOnly, SameSite=Lax, Secure over HTTPS); it carries the
user name, the login time, the user's session version and the CSRF token, never the password or the
role (the role is read from the database on every request, so a changed role or a disabled account
takes effect at once). Logout, a password change and disabling bump the user's session version in the
ledger, which ends every session of that user at once, wherever its cookie is.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import structlog
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from connectors.contract.states import LoginLimit
from console.limits import Refusal
from console.passwords import MAX_PASSWORD
from console.users import User, end_sessions, get_user, verify
from console.web import error_page, flash, query_url, redirect, render, safe_next, state

log = structlog.get_logger("console.auth")

Endpoint = Callable[[Request], Awaitable[Response]]
View = Callable[[Request], Response]


def csrf_ok(request: Request, form: FormData) -> bool:
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    return isinstance(sent, str) and bool(expected) and hmac.compare_digest(sent, str(expected))


def session_user(request: Request) -> User | None:
    """The logged-in user, or None (not logged in, session expired, account gone or disabled)."""
    st = state(request)
    session = request.session
    username = session.get("user")
    if not username:
        return None
    # Expiry is counted from the login, on the server, whatever the browser does with the cookie.
    if st.clock() - float(session.get("login", 0)) > st.session_seconds:
        session.clear()
        request.state.expired = True
        return None
    user = get_user(st.ledger, username)
    # The session version changes at logout, password change and disabling: every older cookie dies.
    if user is None or user.disabled or user.id != session.get("uid") or user.session != session.get("ver"):
        session.clear()
        return None
    return user


def page(fn: View) -> Endpoint:
    """A page any logged-in user may see; others go to the login page and come back after.

    The view is a plain function run in a worker thread, as the ledger's calls block."""

    def guarded(request: Request) -> Response:
        user = session_user(request)
        if user is None:
            if getattr(request.state, "expired", False):
                flash(request, "会话已过期, 请重新登录", "warn")
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect(query_url("/login", {"next": here}))
        request.state.user = user
        return fn(request)

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(guarded, request)

    return endpoint


# What a user whose role is too low is told, by the role an action needs.
_NOT_ALLOWED = {
    "viewer": "您的账号不能执行此操作。",
    "operator": "您的账号为只读角色, 不能执行此操作。",
    "admin": "只有管理员可以执行此操作。",
}


def action(role: str = "operator") -> Callable[[View], Endpoint]:
    """A form POST: needs a live session, the session's CSRF token and at least ``role``; else 403."""

    def decorate(fn: View) -> Endpoint:
        def guarded(request: Request, form: FormData) -> Response:
            user = session_user(request)
            if user is None:
                return error_page(request, 403, "未登录", "未登录或会话已过期, 请重新登录后再操作。")
            request.state.user = user
            if not csrf_ok(request, form):
                return error_page(
                    request, 403, "请求无效", "表单校验失败 (缺少或错误的安全令牌)。请返回上一页刷新后重试。"
                )
            if not user.can(role):
                return error_page(request, 403, "权限不足", _NOT_ALLOWED[role])
            request.state.form = form
            return fn(request)

        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            form = await request.form(max_files=0, max_fields=200)
            return await run_in_threadpool(guarded, request, form)

        return endpoint

    return decorate


def _client(request: Request) -> str:
    """The client's address: the TCP peer, or what a trusted proxy says (``console.peers``)."""
    return request.client.host if request.client else "unknown"


def _origin(request: Request) -> str:
    """Where a login came from, for the audit log and the log: the client, and the proxy it came through."""
    peer = getattr(request.state, "peer", None)
    client = _client(request)
    return client if not peer or peer == client else f"{client} (经代理 {peer})"


def _login_page(request: Request) -> Response:
    if session_user(request) is not None:
        return redirect(safe_next(request.query_params.get("next")))
    if getattr(request.state, "expired", False):
        flash(request, "会话已过期, 请重新登录", "warn")
    return render(request, "login.html", {"next": safe_next(request.query_params.get("next"))})


async def login_page(request: Request) -> Response:
    return await run_in_threadpool(_login_page, request)


def _refused(request: Request, refusal: Refusal) -> Response:
    response = render(request, "error.html", {"title": "尝试次数过多", "message": refusal.message}, 429)
    response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def _login(request: Request, form: FormData) -> Response:
    st = state(request)
    username = str(form.get("username") or "").strip()[:64].lower()
    password = str(form.get("password") or "")
    nxt = safe_next(str(form.get("next") or ""))
    ctx: dict[str, Any] = {"next": nxt, "username": username}
    if not csrf_ok(request, form):
        # Most often a login page left open past the session lifetime: a fresh page fixes it.
        return render(request, "login.html", {**ctx, "error": "登录页已过期, 请重新输入。"}, 403)
    attempt = st.limiter.reserve(username, _client(request))  # counted before the hash: no race
    if isinstance(attempt, Refusal):
        log.warning("login_refused", user=username, client=_origin(request), limit=attempt.scope.value)
        return _refused(request, attempt)
    user = None
    try:
        # No account has a longer password: not worth a hash of megabytes (still counted as wrong).
        user = None if len(password) > MAX_PASSWORD else verify(st.ledger, username, password)
    finally:
        filled = st.limiter.settle(attempt, user is not None)
    if user is None:
        log.warning("login_failed", user=username, client=_origin(request))
        if filled is not None:
            st.ledger.add_audit(
                username or "(空)",
                "login_locked",
                f"来自 {_origin(request)} 的密码错误次数达到上限 ({filled.value})",
            )
        return render(request, "login.html", {**ctx, "error": "用户名或密码错误。"}, 401)
    # A fresh session and CSRF token at login, so a token planted before login is worthless.
    request.session.clear()
    request.session.update(
        {
            "user": user.username,
            "uid": user.id,
            "ver": user.session,
            "login": st.clock(),
            "csrf": secrets.token_urlsafe(32),
        }
    )
    st.ledger.add_audit(user.username, "login", f"来自 {_origin(request)}")
    log.info("login", user=user.username, client=_origin(request))
    return redirect(nxt)


async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
    gate = state(request).login_gate
    if not gate.enter():  # refused on the event loop, without a thread or a hash
        return _refused(request, Refusal(LoginLimit.BUSY, 1))
    try:
        return await anyio.to_thread.run_sync(_login, request, form, limiter=gate.threads())
    finally:
        gate.leave()


@action(role="viewer")
def logout(request: Request) -> Response:
    user = request.state.user
    end_sessions(state(request).ledger, user.username)  # every session of this user, on every device
    state(request).ledger.add_audit(user.username, "logout")
    request.session.clear()
    flash(request, "已退出登录")
    return redirect("/login")
