"""What every console request handler shares: the app's state, rendering, flash messages, redirects."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from sync.config import Settings
from sync.ledger import Ledger

if TYPE_CHECKING:
    from connectors.contract.mapping import Mappings
    from console.limits import LoginGate, LoginLimiter
    from console.users import User
    from sync.mapping.check import LiveCheck

StatusFn = Callable[[], dict[str, Any]]


@dataclass
class ConsoleState:
    """Everything the handlers need, kept on ``app.state.console``."""

    ledger: Ledger
    settings: Settings | None
    status: StatusFn | None
    templates: Jinja2Templates
    limiter: LoginLimiter
    login_gate: LoginGate
    clock: Callable[[], float]
    session_seconds: int
    page_size: int = 50
    # Run queued retries of these pipelines now (the service provides it); None: the next scheduled run does.
    retry_now: Callable[[list[str]], None] | None = None
    # What the running service adds to /healthz (stuck runs, open circuits); None: the console alone.
    health: Callable[[], dict[str, Any]] | None = None
    # The mapping set checked against the live catalogues of the configured systems (the service
    # provides it, as only it builds systems); None: the upload check is offline only.
    check_live: Callable[[Mappings], LiveCheck] | None = None


def state(request: Request) -> ConsoleState:
    result: ConsoleState = request.app.state.console
    return result


def current(request: Request) -> User | None:
    """The logged-in user of this request (set by the auth decorators)."""
    return getattr(request.state, "user", None)


def flash(request: Request, message: str, level: str = "ok") -> None:
    """A one-time message shown on the next page (kept in the session)."""
    request.session.setdefault("flash", []).append([level, message])


def csrf_token(request: Request) -> str:
    """This session's CSRF token (created on first use); every form carries it in a hidden field."""
    if "session" not in request.scope:
        return ""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    ctx: dict[str, Any] = {
        "user": current(request),
        "csrf_token": csrf_token(request),
        "flashes": request.session.pop("flash", []) if "session" in request.scope else [],
        "path": request.url.path,
    }
    ctx.update(context or {})
    return state(request).templates.TemplateResponse(request, template, ctx, status_code=status_code)


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status_code)


def redirect(url: str) -> RedirectResponse:
    # 303 so a POST is followed by a GET (reloading the page does not repeat the action).
    return RedirectResponse(url, status_code=303)


def query_url(path: str, params: dict[str, Any]) -> str:
    """``path?a=1&b=2`` without empty parameters."""
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to; anything else (another host, ``//x``) becomes ``default``."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
