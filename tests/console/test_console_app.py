"""The operator console over HTTP: health, metrics, login, sessions, roles, CSRF, masking, escaping."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route

from connectors.contract.errors import MappingMissing
from connectors.contract.states import Action
from console.app import create_app
from console.users import UserError, add_user, get_user, main, set_disabled, verify
from simulators.server import serving
from sync.ledger import Ledger
from sync.ledger.schema import make_engine, metadata
from sync.outcomes import Outcome
from tests.support.console import (
    ID_MASKED,
    ID_NO,
    PASSWORD,
    SETTINGS,
    XSS,
    Console,
    FakeClock,
    csrf_of,
    seed,
)

PAGES = ("/", "/failures", "/failures/1", "/runs", "/audit", "/unmapped")


def failure_state(ledger: Ledger, failure_id: int) -> str:
    failure = ledger.get_failure(failure_id)
    assert failure is not None
    return str(failure["state"])


# -- health and metrics ------------------------------------------------------------------------------


def test_healthz_answers_without_login_and_without_data(console: Console) -> None:
    """/healthz needs no session, says only ok, and sets no cookie."""
    r = console.client().get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert "set-cookie" not in r.headers


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: Any) -> None:
    """A ledger whose database cannot be opened makes /healthz answer 503."""
    ledger = Ledger(make_engine(f"sqlite:///{tmp_path}/no/such/dir/ledger.db"))
    with serving(create_app(ledger, secret_key="k")) as server, httpx.Client(base_url=server.url) as client:
        r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable"}


def test_healthz_is_503_with_the_stuck_run_and_lists_open_circuits(tmp_path: Any) -> None:
    """The service's health callback: a stuck run makes /healthz 503 "stuck"; an open circuit is listed."""
    ledger = Ledger.connect(f"sqlite:///{tmp_path}/ledger.db")
    found: dict[str, Any] = {"stuck": [], "circuit_open": ["municipal"]}
    with (
        serving(create_app(ledger, secret_key="k", health=lambda: found)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        healthy = client.get("/healthz")
        found["stuck"] = [{"pipeline": "district-inspections", "idle_s": 301.0, "message": "卡住"}]
        stuck = client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.json() == {"status": "ok", "circuit_open": ["municipal"]}
    assert stuck.status_code == 503
    assert stuck.json()["status"] == "stuck"
    assert stuck.json()["stuck"][0]["pipeline"] == "district-inspections"


def open_failures_gauge(text: str) -> dict[tuple[str, str], float]:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return {
        (s.labels["target"], s.labels["error_kind"]): s.value for s in families["zhifa_open_failures"].samples
    }


def test_metrics_are_prometheus_text_with_open_failures_from_the_ledger(console: Console) -> None:
    """/metrics serves the registry; the open-failure gauge follows the ledger on every scrape."""
    client = console.client()
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE zhifa_open_failures gauge" in r.text
    assert "# TYPE zhifa_records_total counter" in r.text
    gauge = open_failures_gauge(r.text)
    assert gauge[("hlwjg", "mapping")] == 2
    assert gauge[("municipal", "rejected")] == 1
    console.ledger.resolve([console.seeded.rejected_id], "test", "已在市系统手工补录")
    gauge = open_failures_gauge(client.get("/metrics").text)
    assert ("municipal", "rejected") not in gauge  # a resolved kind leaves the gauge, not a stale 1.0
    assert gauge[("hlwjg", "mapping")] == 2


# -- login, sessions, rate limit ---------------------------------------------------------------------------


def test_pages_send_anonymous_users_to_the_login_page(console: Console) -> None:
    """Every page redirects to /login with the page to come back to."""
    client = console.client()
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=")


def test_login_cookie_is_httponly_lax_and_expires(console: Console) -> None:
    """The session cookie cannot be read by scripts, is not sent cross-site, and has the configured lifetime."""
    client = console.client()
    page = client.get("/login")
    r = client.post(
        "/login", data={"username": "op", "password": PASSWORD, "csrf": csrf_of(page.text), "next": "/runs"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/runs"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "max-age=3600" in cookie
    for path in PAGES:
        assert client.get(path).status_code == 200, path


def test_login_does_not_redirect_off_site(console: Console) -> None:
    """A ``next`` pointing at another host is replaced by the overview."""
    client = console.client()
    page = client.get("/login")
    r = client.post(
        "/login",
        data={
            "username": "op",
            "password": PASSWORD,
            "csrf": csrf_of(page.text),
            "next": "//evil.example/steal",
        },
    )
    assert r.headers["location"] == "/"


def test_login_is_rate_limited_per_user_and_address(console: Console) -> None:
    """Five wrong passwords in five minutes lock that name out (429), even with the right password next."""
    client = console.client()
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        r = client.post("/login", data={"username": "op", "password": "wrong-password", "csrf": token})
        assert r.status_code == 401
        assert "用户名或密码错误" in r.text
    r = client.post("/login", data={"username": "op", "password": PASSWORD, "csrf": token})
    assert r.status_code == 429
    assert "尝试次数过多" in r.text
    assert console.login("viewer").get("/").status_code == 200  # another account is not affected
    assert any(a["action"] == "login_locked" and a["actor"] == "op" for a in console.ledger.audit())
    console.clock.advance(301)
    assert console.login("op").get("/").status_code == 200


def test_session_expires_after_the_configured_minutes(console: Console) -> None:
    """After session_minutes the session no longer opens pages or allows actions."""
    client = console.login("op")
    page = client.get(f"/failures/{console.seeded.transient_id}")
    assert page.status_code == 200
    console.clock.advance(59 * 60)
    assert client.get("/").status_code == 200
    console.clock.advance(2 * 60)
    r = client.get("/")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    assert "会话已过期" in client.get(r.headers["location"]).text
    r = client.post(f"/failures/{console.seeded.transient_id}/retry", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 403
    assert failure_state(console.ledger, console.seeded.transient_id) == "open"


def test_sessions_survive_a_restart(ledger: Ledger, users: None) -> None:
    """The signing key is kept in the ledger, so a new process accepts the old session cookie."""
    with serving(create_app(ledger)) as first, httpx.Client(base_url=first.url) as client:
        page = client.get("/login")
        client.post("/login", data={"username": "op", "password": PASSWORD, "csrf": csrf_of(page.text)})
        cookies = dict(client.cookies)
    with serving(create_app(ledger)) as second, httpx.Client(base_url=second.url, cookies=cookies) as client:
        assert client.get("/", follow_redirects=False).status_code == 200


def test_disabled_account_is_logged_out_at_once(console: Console) -> None:
    """Disabling an account ends its open sessions on the next request."""
    client = console.login("op")
    set_disabled(console.ledger, "op", True)
    assert client.get("/").status_code == 303


# -- roles and CSRF --------------------------------------------------------------------------------------


def test_viewer_sees_no_action_buttons_and_the_server_refuses_its_posts(console: Console) -> None:
    """A viewer gets no forms to act with, and a hand-made POST with its valid token is refused (403)."""
    client = console.login("viewer")
    fid = console.seeded.rejected_id
    page = client.get(f"/failures/{fid}")
    assert page.status_code == 200
    assert 'action="/failures/' not in page.text  # no retry / resolve / reopen form
    assert "<button" in page.text  # (the logout button: the page did render its forms)
    assert "全部重试" not in client.get("/failures?error_kind=mapping").text
    token = csrf_of(page.text)  # the logout form's token: valid for this session
    for path, data in (
        (f"/failures/{fid}/retry", {}),
        (f"/failures/{fid}/resolve", {"note": "x"}),
        ("/failures/retry-kind", {"error_kind": "mapping"}),
    ):
        r = client.post(path, data={"csrf": token, **data})
        assert r.status_code == 403, path
        assert "权限不足" in r.text
    assert failure_state(console.ledger, fid) == "open"
    assert all(a["action"] not in ("retry", "resolve") for a in console.ledger.audit())


def test_every_form_post_without_the_session_csrf_token_is_refused(console: Console) -> None:
    """Each POST route answers 403 to a missing or foreign token, and changes nothing."""
    client = console.login("op")
    fid = console.seeded.rejected_id
    app_routes = create_app(console.ledger, SETTINGS, secret_key="k").routes
    posts = [r.path for r in app_routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert len(posts) >= 6
    for route in posts:
        path = re.sub(r"\{[a-z_]+:int\}", str(fid), route).replace("{name}", "district-inspections")
        for token in ({}, {"csrf": "forged"}):
            data = {"note": "伪造", "error_kind": "rejected", "username": "op", "password": PASSWORD, **token}
            assert client.post(path, data=data).status_code == 403, (path, token)
    assert failure_state(console.ledger, fid) == "open"
    assert client.get("/").status_code == 200  # the forged logout did not log out


# -- actions ----------------------------------------------------------------------------------------------


def test_retry_resolve_and_reopen_are_recorded_with_who_and_when(console: Console) -> None:
    """Operators' actions change the failure's state and appear in the audit page with the note."""
    client = console.login("op")
    fid, other = console.seeded.rejected_id, console.seeded.validation_id
    token = csrf_of(client.get(f"/failures/{fid}").text)
    r = client.post(f"/failures/{fid}/retry", data={"csrf": token})
    assert r.status_code == 303
    assert "待重试" in client.get(r.headers["location"]).text
    assert failure_state(console.ledger, fid) == "retry"
    # The contract with the pipeline: its next run picks the failure up from the stored record.
    queued = console.ledger.failures_to_retry("district-penalties", max_attempts=10, mapping_version="any")
    assert ("P-1001", "municipal") in queued

    r = client.post(f"/failures/{other}/resolve", data={"csrf": token, "note": "   "})
    assert "请填写处理说明" in client.get(r.headers["location"]).text
    assert failure_state(console.ledger, other) == "open"
    client.post(f"/failures/{other}/resolve", data={"csrf": token, "note": "已在市系统手工补录"})
    assert failure_state(console.ledger, other) == "resolved"
    client.post(f"/failures/{other}/reopen", data={"csrf": token, "note": "补录有误"})
    assert failure_state(console.ledger, other) == "open"

    audit = client.get("/audit?only=failures").text
    for text in ("已在市系统手工补录", "补录有误", "标记已解决", "重新打开", "重试", f"#{other}", f"#{fid}"):
        assert text in audit
    actions = [(a["actor"], a["action"], a["failure_id"]) for a in console.ledger.audit()]
    assert ("op", "resolve", other) in actions and ("op", "retry", fid) in actions


def test_retry_all_failures_of_one_error_kind(console: Console) -> None:
    """One button queues every open or parked failure of the chosen kind, and only those."""
    client = console.login("op")
    page = client.get("/failures?error_kind=mapping")
    assert "全部重试: 3 条「映射缺失」失败" in page.text
    r = client.post(
        "/failures/retry-kind",
        data={"csrf": csrf_of(page.text), "error_kind": "mapping", "back": "/failures?error_kind=mapping"},
    )
    assert r.headers["location"] == "/failures?error_kind=mapping"
    assert "已将 3 条「映射缺失」失败加入重试队列" in client.get(r.headers["location"]).text
    assert {failure_state(console.ledger, i) for i in console.seeded.mapping_ids} == {"retry"}
    assert failure_state(console.ledger, console.seeded.transient_id) == "open"


# -- what the pages show --------------------------------------------------------------------------------


def test_personal_id_numbers_are_masked_on_every_page(console: Console) -> None:
    """The 身份证号 in the record, payload, answer and message shows only masked."""
    client = console.login("op")
    detail = client.get(f"/failures/{console.seeded.rejected_id}").text
    assert ID_MASKED in detail
    assert "当事人证件号码" in detail and "4002" in detail  # the target's answer is there, masked
    for path in (*PAGES, f"/failures/{console.seeded.rejected_id}", "/failures?q=P-1001"):
        assert ID_NO not in client.get(path).text, path


def test_record_fields_are_escaped_not_interpreted(console: Console) -> None:
    """A party name holding a script tag is printed as text, and the CSP forbids inline scripts anyway."""
    client = console.login("op")
    for path in ("/failures", f"/failures/{console.seeded.xss_id}"):
        r = client.get(path)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert XSS not in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]


def test_failure_filters_search_and_paging(console: Console) -> None:
    """Filters narrow the list, search finds by decision number or name, and paging walks tens of rows."""
    outcomes = [
        Outcome(
            system="district",
            kind="inspection",
            source_id=f"I-9{i:03d}",
            target="municipal",
            action=Action.FAILED,
            stage="push",
            error_kind="transient",
            message="市系统繁忙, 请稍后再试",
            party_name=f"企业{i}",
        )
        for i in range(120)
    ]
    console.ledger.commit_page(
        pipeline="district-inspections", run_id="bulk", snapshots=[], outcomes=outcomes, cursor=None
    )
    client = console.login("viewer")
    first = client.get("/failures?error_kind=transient").text
    assert "共 121 条 · 第 1 / 3 页" in first
    last = client.get("/failures?error_kind=transient&page=3").text
    assert len(re.findall(r'<a href="/failures/\d+\?back=[^"]*">#\d+</a>', last)) == 21
    found = client.get("/failures", params={"q": "应急罚〔2026〕13号", "state": "all"}).text
    assert "共 1 条" in found and "P-1002" in found
    assert "共 1 条" in client.get("/failures", params={"q": "企业119"}).text
    assert "共 0 条" in client.get("/failures", params={"state": "resolved"}).text
    parked = client.get("/failures", params={"state": "parked", "target": "hlwjg"}).text
    assert "共 2 条" in parked
    assert "共 0 条" in client.get("/failures", params={"until": "2020-01-01"}).text
    assert "格式应为" in client.get("/failures", params={"since": "昨天"}).text


def test_detail_page_says_what_to_do(console: Console) -> None:
    """Advice follows the error kind; for a mapping it names the table and the key."""
    client = console.login("viewer")
    mapping = client.get(f"/failures/{console.seeded.mapping_ids[0]}").text
    assert "修改映射表" in mapping and "mappings/officers.csv" in mapping and "E0123" in mapping
    assert "在区平台更正" in client.get(f"/failures/{console.seeded.validation_id}").text
    assert "自动重试 (最多 10 次)" in client.get(f"/failures/{console.seeded.transient_id}").text
    assert client.get("/failures/99999").status_code == 404


def test_unmapped_codes_are_grouped_by_table_and_key(console: Console) -> None:
    """The 待映射 page lists each missing key once, with how many records wait for it."""
    console.ledger.commit_page(
        pipeline="district-inspections",
        run_id="x",
        snapshots=[],
        outcomes=[
            Outcome(
                system="district",
                kind="inspection",
                source_id="I-2009",
                target="hlwjg",
                action=Action.PARKED,
                stage="map",
                error_kind="mapping",
                message=str(MappingMissing("items.csv", "A-17", "事项编码")),
            )
        ],
        cursor=None,
    )
    page = console.login("viewer").get("/unmapped").text
    rows = re.findall(
        r"<code>([^<]+)</code></td>\s*<td>([^<]*)</td>\s*<td>([^<]+)</td>\s*<td class=\"num\">(\d+)", page
    )
    assert ("E0123", "执法人员", "执法证号", "2") in rows
    assert ("07", "检查类型", "CHECK_TYPE", "1") in rows
    assert ("A-17", "", "事项编码", "1") in rows
    assert "映射表 officers.csv" in page and "3 个, 涉及 4 条" in page


def test_overview_shows_the_service_status_when_given(ledger: Ledger, users: None) -> None:
    """Next runs and system health come from the status callable; personal data in it is masked."""
    seed(ledger)

    def status() -> dict[str, Any]:
        from datetime import datetime

        return {
            "pipelines": [
                {
                    "name": "district-penalties",
                    "enabled": True,
                    "source": "district",
                    "kind": "penalty",
                    "targets": ["credit"],
                    "next_run": datetime(2026, 3, 2, 10, 15),
                }
            ],
            "systems": [
                {
                    "name": "credit",
                    "type": "credit",
                    "health": "down",
                    "last_error": f"证件号 {ID_NO} 校验失败",
                }
            ],
            "mappings": {
                "version": "9f3a61c0",
                "loaded_at": datetime(2026, 3, 2, 8, 0),
                "refused": ["officers.csv 第 7 行: 执法证号 为空"],
            },
            "deadlines": [],
        }

    with (
        serving(create_app(ledger, SETTINGS, status=status)) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        c.post(
            "/login", data={"username": "viewer", "password": PASSWORD, "csrf": csrf_of(c.get("/login").text)}
        )
        page = c.get("/").text
    assert "2026-03-02 10:15:00" in page and "不可用" in page and ID_MASKED in page and ID_NO not in page
    assert "没有临近 7 个工作日报送期限的处罚决定" in page
    assert "9f3a61c0" in page and "被拒绝, 仍在使用上一版有效映射表" in page and "第 7 行" in page


def test_overview_survives_a_failing_status_callable(ledger: Ledger, users: None) -> None:
    """If the service cannot report, the overview says so and shows what the ledger knows."""
    seed(ledger)

    def status() -> dict[str, Any]:
        raise RuntimeError("scheduler not started")

    with (
        serving(create_app(ledger, SETTINGS, status=status)) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        c.post(
            "/login", data={"username": "viewer", "password": PASSWORD, "csrf": csrf_of(c.get("/login").text)}
        )
        page = c.get("/").text
    assert "无法获取服务运行状态" in page
    assert "district-penalties" in page and "信用信息共享平台" in page


# -- accounts ---------------------------------------------------------------------------------------------


def test_users_are_stored_hashed_and_verified(ledger: Ledger) -> None:
    """Passwords are argon2 hashes; wrong passwords, unknown and disabled users do not verify."""
    add_user(ledger, "zhangsan", "s3cret-pass", "operator")
    with ledger.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM users").scalar_one()
    assert stored.startswith("$argon2") and "s3cret-pass" not in stored
    user = verify(ledger, "zhangsan", "s3cret-pass")
    assert user is not None and user.role == "operator" and user.can("viewer") and not user.can("admin")
    assert verify(ledger, "zhangsan", "wrong") is None
    assert verify(ledger, "lisi", "s3cret-pass") is None
    with pytest.raises(UserError, match="已存在"):
        add_user(ledger, "zhangsan", "another-pass", "viewer")
    with pytest.raises(UserError, match="角色"):
        add_user(ledger, "wangwu", "another-pass", "root")
    set_disabled(ledger, "zhangsan", True)
    assert verify(ledger, "zhangsan", "s3cret-pass") is None


def test_users_command_adds_an_account_from_stdin(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    """``users add NAME --role operator --password-stdin`` creates the account; errors exit non-zero."""
    out = io.StringIO()
    assert (
        main(
            ledger,
            ["add", "zhaoliu", "--role", "operator", "--password-stdin"],
            stdin=io.StringIO("long-enough-pw\n"),
            stdout=out,
        )
        == 0
    )
    assert "已创建用户 zhaoliu" in out.getvalue()
    assert verify(ledger, "zhaoliu", "long-enough-pw") is not None
    assert main(ledger, ["add", "zhaoliu", "--password-stdin"], stdin=io.StringIO("long-enough-pw\n")) == 1
    assert main(ledger, ["add", "sunqi", "--password-stdin"], stdin=io.StringIO("short\n")) == 1
    assert "至少 8 个字符" in capsys.readouterr().err
    prompts = iter(["first-password", "other-password"])
    assert main(ledger, ["add", "sunqi"], prompt=lambda _: next(prompts)) == 1
    assert main(ledger, ["role", "zhaoliu", "admin"], stdout=out) == 0
    user = get_user(ledger, "zhaoliu")
    assert user is not None and user.role == "admin"
    listing = io.StringIO()
    assert main(ledger, ["list"], stdout=listing) == 0
    assert "zhaoliu\tadmin" in listing.getvalue()


def test_users_command_opens_the_database_by_url(tmp_path: Any) -> None:
    """Without an engine from the caller, ``--db`` names the ledger (migrated on the way)."""
    url = f"sqlite:///{tmp_path}/cli.db"
    assert (
        main(
            None,
            ["--db", url, "add", "a1", "--role", "viewer", "--password-stdin"],
            stdin=io.StringIO("password-1\n"),
            stdout=io.StringIO(),
        )
        == 0
    )
    ledger = Ledger.connect(url)
    assert verify(ledger, "a1", "password-1") is not None
    ledger.close()


def test_users_migration_matches_the_schema(ledger: Ledger) -> None:
    """Migration 0002 creates the users table exactly as ``sync.db`` declares it."""
    with ledger.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "users" in repr(d)] == []


def test_session_clock_is_injectable(ledger: Ledger) -> None:
    """create_app takes the clock the session expiry and rate limit use (tests move it by hand)."""
    clock = FakeClock()
    app = create_app(ledger, clock=clock, secret_key="k")
    assert app.state.console.clock is clock
    assert app.state.console.session_seconds == 480 * 60  # the default when no settings are given
