"""User management from the console (administrators only): list, create, disable/enable, reset a
password, change a role.

Every change goes through ``console.users`` (the same name and password rules as ``zhifa-sync users``)
and is audited in the ledger with who did it; the console refuses to disable or demote the last enabled
administrator, so that someone can always manage the accounts from here.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from console.auth import action, page
from console.users import (
    ROLE_LABELS,
    ROLES,
    Change,
    UserError,
    add_user,
    list_users,
    set_disabled,
    set_password,
    set_role,
)
from console.web import error_page, flash, redirect, render, state

ADMIN_ONLY = "只有管理员可以管理账号。"


def _change(request: Request) -> Change:
    return Change(actor=request.state.user.username, keep_an_admin=True)


def _field(request: Request, name: str) -> str:
    return str(request.state.form.get(name) or "")


@page
def users_page(request: Request) -> Response:
    if not request.state.user.can("admin"):
        return error_page(request, 403, "权限不足", ADMIN_ONLY)
    ledger = state(request).ledger
    logins = ledger.last_logins()
    rows = [{"user": u, "last_login": logins.get(u.username)} for u in list_users(ledger)]
    return render(request, "users.html", {"rows": rows, "roles": [(r, ROLE_LABELS[r]) for r in ROLES]})


def _done(request: Request, do: Callable[[], str]) -> Response:
    """Run one change; its message (or the refusal, in Chinese) is flashed on the users page."""
    try:
        flash(request, do())
    except UserError as exc:
        flash(request, str(exc), "error")
    return redirect("/users")


@action(role="admin")
def create(request: Request) -> Response:
    def do() -> str:
        role = _field(request, "role")
        user = add_user(
            state(request).ledger,
            _field(request, "username"),
            _field(request, "password"),
            role,
            actor=request.state.user.username,
        )
        return f"已创建账号 {user.username} (角色: {ROLE_LABELS[user.role]})"

    return _done(request, do)


def _name(request: Request) -> str:
    """The name of the account the path's id names."""
    user_id = int(request.path_params["user_id"])
    found = next((u.username for u in list_users(state(request).ledger) if u.id == user_id), None)
    if found is None:
        raise UserError(f"账号 #{user_id} 不存在")
    return found


@action(role="admin")
def disable(request: Request) -> Response:
    def do() -> str:
        name = _name(request)
        set_disabled(state(request).ledger, name, True, _change(request))
        return f"账号 {name} 已停用, 它的所有会话已立即结束。"

    return _done(request, do)


@action(role="admin")
def enable(request: Request) -> Response:
    def do() -> str:
        name = _name(request)
        set_disabled(state(request).ledger, name, False, _change(request))
        return f"账号 {name} 已启用。"

    return _done(request, do)


@action(role="admin")
def reset_password(request: Request) -> Response:
    def do() -> str:
        name = _name(request)
        set_password(state(request).ledger, name, _field(request, "password"), _change(request))
        return f"已重设账号 {name} 的密码, 它的所有会话已结束 (需用新密码重新登录)。"

    return _done(request, do)


@action(role="admin")
def change_role(request: Request) -> Response:
    def do() -> str:
        name, role = _name(request), _field(request, "role")
        set_role(state(request).ledger, name, role, _change(request))
        return f"账号 {name} 的角色已改为 {ROLE_LABELS[role]}。"

    return _done(request, do)
