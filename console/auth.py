"""Logging in and out, sessions that expire, CSRF tokens, roles, and login rate limiting.

The session is Starlette's signed cookie (HttpOnly, SameSite=Lax); it carries the user name, the
login time and the CSRF token, never the password or the role (the role is read from the database on
every request, so a changed role or a disabled account takes effect at once).
"""

from __future__ import annotations

import functools
import hmac
import secrets
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from console.users import User, get_user, verify
from console.web import error_page, flash, query_url, redirect, render, safe_next, state

Endpoint = Callable[[Request], Awaitable[Response]]
View = Callable[[Request], Response]


class LoginLimiter:
    """At most ``max_failures`` wrong passwords per (user name, client address) in ``window_s`` seconds."""

    def __init__(self, clock: Callable[[], float], max_failures: int = 5, window_s: float = 300) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        horizon = self.clock() - self.window_s
        times = self._failures.get(key, deque())
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, key: tuple[str, str]) -> int:
        """Seconds until ``key`` may try again (0 when it may now)."""
        with self._lock:
            times = self._recent(key)
            if len(times) < self.max_failures:
                return 0
            return max(1, int(times[-self.max_failures] + self.window_s - self.clock()) + 1)

    def fail(self, key: tuple[str, str]) -> bool:
        """Count a wrong password; True when this one reached the limit."""
        with self._lock:
            if len(self._failures) > 10_000:  # guessing across many names: drop what has aged out
                for k in list(self._failures):
                    self._recent(k)
            times = self._recent(key)
            times.append(self.clock())
            self._failures[key] = times
            return len(times) == self.max_failures

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


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
    if user is None or user.disabled or user.id != session.get("uid"):
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
                return error_page(request, 403, "权限不足", "您的账号为只读角色, 不能执行此操作。")
            request.state.form = form
            return fn(request)

        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            form = await request.form(max_files=0, max_fields=200)
            return await run_in_threadpool(guarded, request, form)

        return endpoint

    return decorate


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_page(request: Request) -> Response:
    if session_user(request) is not None:
        return redirect(safe_next(request.query_params.get("next")))
    if getattr(request.state, "expired", False):
        flash(request, "会话已过期, 请重新登录", "warn")
    return render(request, "login.html", {"next": safe_next(request.query_params.get("next"))})


async def login_page(request: Request) -> Response:
    return await run_in_threadpool(_login_page, request)


def _login(request: Request, form: FormData) -> Response:
    st = state(request)
    username = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")
    nxt = safe_next(str(form.get("next") or ""))
    ctx: dict[str, Any] = {"next": nxt, "username": username}
    if not csrf_ok(request, form):
        # Most often a login page left open past the session lifetime: a fresh page fixes it.
        return render(request, "login.html", {**ctx, "error": "登录页已过期, 请重新输入。"}, 403)
    key = (username.lower(), _client(request))
    wait = st.limiter.retry_after(key)
    if wait:
        minutes = (wait + 59) // 60
        return render(
            request,
            "error.html",
            {
                "title": "尝试次数过多",
                "message": f"密码错误次数过多, 该账号在本机的登录已暂停, 请 {minutes} 分钟后再试。",
            },
            429,
        )
    user = verify(st.ledger, username, password)
    if user is None:
        if st.limiter.fail(key):
            st.ledger.add_audit(
                username or "(空)", "login_locked", f"来自 {_client(request)} 的密码错误次数达到上限"
            )
        return render(request, "login.html", {**ctx, "error": "用户名或密码错误。"}, 401)
    st.limiter.clear(key)
    # A fresh session and CSRF token at login, so a token planted before login is worthless.
    request.session.clear()
    request.session.update(
        {"user": user.username, "uid": user.id, "login": st.clock(), "csrf": secrets.token_urlsafe(32)}
    )
    st.ledger.add_audit(user.username, "login", f"来自 {_client(request)}")
    return redirect(nxt)


async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    return await run_in_threadpool(_login, request, form)


@action(role="viewer")
def logout(request: Request) -> Response:
    user = request.state.user
    state(request).ledger.add_audit(user.username, "logout")
    request.session.clear()
    flash(request, "已退出登录")
    return redirect("/login")
