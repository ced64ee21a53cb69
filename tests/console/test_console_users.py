"""User management from the console: administrators create, disable/enable, reset passwords and change
roles, each audited; the last enabled administrator cannot be disabled or demoted; operators and
viewers get 403 and no link; a disabled user's open session ends at once."""

from __future__ import annotations

import re

import httpx

from console.users import get_user, verify
from tests.support.console import PASSWORD, Console, csrf_of

NEW_PASSWORD = "tea kettle on the hob"


def _id(console: Console, name: str) -> int:
    user = get_user(console.ledger, name)
    assert user is not None
    return user.id


def _post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    """POST a users form with the session's token; the page it lands on (after the redirect)."""
    token = csrf_of(client.get("/").text)
    r = client.post(path, data={"csrf": token, **data})
    if r.status_code == 303:
        return client.get(r.headers["location"])
    return r


def _audit(console: Console) -> list[tuple[str, str, str]]:
    return [(a["actor"], a["action"], a["detail"] or "") for a in console.ledger.audit(limit=20)]


def test_the_users_page_lists_accounts_in_chinese_with_last_login(console: Console) -> None:
    """Names, roles in Chinese, disabled state and the last login from the audit log."""
    console.ledger.update_user("viewer", disabled=True)
    html = console.login("admin").get("/users").text
    assert 'href="/users"' in html
    for word in ("账号管理", "管理员", "操作员", "只读", "已停用", "最近登录"):
        assert word in html, word
    (login,) = [at for actor, at in console.ledger.last_logins().items() if actor == "admin"]
    rows = dict(re.findall(r"<tr>\s*<td>([^<\s]+)(.*?)</tr>", html, re.S))
    assert f"{login:%Y-%m-%d %H:%M}" in rows["admin"]
    assert "—" in rows["op"] and f"{login:%Y-%m-%d}" not in rows["op"]  # never logged in


def test_an_admin_creates_an_account_under_the_password_rules(console: Console) -> None:
    """A new operator can log in at once; a weak or duplicate one is refused in Chinese, not created."""
    admin = console.login("admin")
    page = _post(admin, "/users", username="Wangwu", role="operator", password=NEW_PASSWORD)
    assert "已创建账号 wangwu (角色: 操作员)" in page.text
    assert verify(console.ledger, "wangwu", NEW_PASSWORD) is not None
    console.login("wangwu", NEW_PASSWORD)
    page = _post(admin, "/users", username="zhaoliu", role="viewer", password="123456")
    assert "flash error" in page.text and get_user(console.ledger, "zhaoliu") is None
    page = _post(admin, "/users", username="wangwu", role="viewer", password=NEW_PASSWORD)
    assert "用户 wangwu 已存在" in page.text
    assert ("admin", "user_create", "wangwu (角色: 操作员)") in _audit(console)


def test_disabling_ends_the_users_open_session_at_once_and_enabling_lets_them_back(
    console: Console,
) -> None:
    """The operator's open session is refused on its next request; enabled again, they log in."""
    op = console.login("op")
    assert op.get("/").status_code == 200
    page = _post(console.login("admin"), f"/users/{_id(console, 'op')}/disable")
    assert "账号 op 已停用" in page.text
    assert op.get("/").status_code == 303  # back to the login page
    assert verify(console.ledger, "op", PASSWORD) is None
    page = _post(console.login("admin"), f"/users/{_id(console, 'op')}/enable")
    assert "账号 op 已启用" in page.text
    console.login("op")
    actions = [(actor, action) for actor, action, _ in _audit(console)]
    assert ("admin", "user_disable") in actions and ("admin", "user_enable") in actions


def test_resetting_a_password_ends_that_users_sessions(console: Console) -> None:
    """The old password and the old cookie stop working; the new password works; a weak one is refused."""
    op = console.login("op")
    admin = console.login("admin")
    page = _post(admin, f"/users/{_id(console, 'op')}/password", password="op")
    assert "flash error" in page.text and verify(console.ledger, "op", PASSWORD) is not None
    page = _post(admin, f"/users/{_id(console, 'op')}/password", password=NEW_PASSWORD)
    assert "已重设账号 op 的密码" in page.text
    assert op.get("/").status_code == 303
    assert verify(console.ledger, "op", PASSWORD) is None
    console.login("op", NEW_PASSWORD)
    assert ("admin", "user_password", "op") in _audit(console)
    assert all(NEW_PASSWORD not in detail for _, _, detail in _audit(console))


def test_changing_a_role_takes_effect_on_the_next_request(console: Console) -> None:
    """A viewer made operator may act at once; the change is audited with the new role in Chinese."""
    page = _post(console.login("admin"), f"/users/{_id(console, 'viewer')}/role", role="operator")
    assert "账号 viewer 的角色已改为 操作员" in page.text
    user = get_user(console.ledger, "viewer")
    assert user is not None and user.role == "operator"
    page = _post(console.login("admin"), f"/users/{_id(console, 'viewer')}/role", role="root")
    assert "角色应为" in page.text
    assert ("admin", "user_role", "viewer → 操作员") in _audit(console)


def test_the_last_enabled_admin_cannot_disable_or_demote_themselves(console: Console) -> None:
    """Refused in Chinese, nothing changed, nothing audited; with a second admin it is allowed."""
    admin = console.login("admin")
    me = _id(console, "admin")
    for path, data in ((f"/users/{me}/disable", {}), (f"/users/{me}/role", {"role": "operator"})):
        page = _post(admin, path, **data)
        assert "admin 是最后一个启用的管理员" in page.text, path
    user = get_user(console.ledger, "admin")
    assert user is not None and user.role == "admin" and not user.disabled
    assert not any(a == "admin" and action.startswith("user_") for a, action, _ in _audit(console))
    _post(admin, f"/users/{_id(console, 'op')}/role", role="admin")
    page = _post(admin, f"/users/{me}/role", role="operator")
    assert "账号 admin 的角色已改为 操作员" in page.text


def test_operators_and_viewers_get_403_and_no_link(console: Console) -> None:
    """Neither the page nor any action is theirs; the nav shows no 账号管理 link."""
    target = _id(console, "admin")
    for name in ("op", "viewer"):
        client = console.login(name)
        assert 'href="/users"' not in client.get("/").text
        r = client.get("/users")
        assert r.status_code == 403 and "只有管理员可以管理账号" in r.text
        for path, data in (
            ("/users", {"username": "mallory", "role": "admin", "password": NEW_PASSWORD}),
            (f"/users/{target}/disable", {}),
            (f"/users/{target}/password", {"password": NEW_PASSWORD}),
            (f"/users/{target}/role", {"role": "viewer"}),
        ):
            r = _post(client, path, **data)
            assert r.status_code == 403 and "只有管理员" in r.text, (name, path)
    assert get_user(console.ledger, "mallory") is None
    assert verify(console.ledger, "admin", PASSWORD) is not None
