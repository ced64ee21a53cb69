"""Console hardening over real HTTP (issue 15 items 3, 5, 6, 8, 16): trusted proxies, login limits reserved
before the hash, bounded hashing under a login flood, revocable sessions, the signing key's file,
Secure cookies, page bounds, error headers, passwords and user names."""

from __future__ import annotations

import concurrent.futures
import json
import resource
import stat
import time
from pathlib import Path
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher

from console import users as console_users
from console.app import create_app, exposure_warning
from console.peers import SERVER_OPTIONS
from console.users import UserError, add_user, get_user, set_disabled, set_password, verify
from simulators.server import serving
from sync import logs
from sync.config import ConsoleConfig, Settings
from sync.ledger import Ledger
from tests.support.checks import found
from tests.support.console import ID_NO, PASSWORD, SETTINGS, Console, FakeClock, csrf_of
from tests.support.ids import unmasked_ids


def settings_with(**console: object) -> Settings:
    data = SETTINGS.model_dump(mode="python")
    data["console"] = {**data["console"], **console}
    for system in data["systems"].values():  # the dump resolves nothing: keep the references as written
        for key, value in list(system.items()):
            if value is None:
                del system[key]
    return Settings.model_validate(data)


def attempt(client: httpx.Client, username: str, password: str, **headers: str) -> httpx.Response:
    token = csrf_of(client.get("/login", headers=headers).text)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf": token}, headers=headers
    )


def audit_details(ledger: Ledger, action: str) -> list[str]:
    return [str(a["detail"]) for a in ledger.audit() if a["action"] == action]


# -- item 3: proxy headers, limits before the hash, bounded hashing ------------------------------------


def test_forwarded_for_from_an_untrusted_peer_is_ignored(console: Console) -> None:
    """30 wrong passwords, each with a new X-Forwarded-For: locked after 5; the right password through
    a spoofed header is refused too, and the audit log names the real peer."""
    client = console.client()
    codes = [
        attempt(client, "op", "wrong-password", **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(30)
    ]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    r = attempt(client, "op", PASSWORD, **{"X-Forwarded-For": "198.51.100.7"})
    assert r.status_code == 429 and "登录尝试过多" in r.text and int(r.headers["retry-after"]) > 0
    locked = audit_details(console.ledger, "login_locked")
    assert locked and all("127.0.0.1" in d and "203.0.113" not in d for d in locked)


def test_limits_are_reserved_before_the_hash(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    """40 parallel wrong passwords for one name: at most 5 reach the password check."""
    checked: list[str] = []

    class SlowCountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            checked.append(str(password))
            time.sleep(0.05)  # what a real argon2 check costs: the window the old count raced in
            return super().verify(hash, password)

    monkeypatch.setattr(
        console_users, "_hasher", SlowCountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    clients = [console.client() for _ in range(40)]
    tokens = [csrf_of(c.get("/login").text) for c in clients]

    def wrong(i: int) -> int:
        data = {"username": "op", "password": f"wrong-{i}", "csrf": tokens[i]}
        return clients[i].post("/login", data=data).status_code

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(wrong, range(40)))
    assert codes.count(401) <= 5 and len(checked) <= 5, codes
    assert set(codes) <= {401, 429}


def test_a_locked_user_can_log_in_from_another_address_through_a_trusted_proxy(
    ledger: Ledger, users: None
) -> None:
    """Behind a trusted proxy the forwarded client counts: a stranger's lock does not shut the real
    user out, and the audit log names the client and the proxy."""
    app = create_app(ledger, settings_with(trusted_proxies=["127.0.0.1"]), clock=FakeClock())
    with serving(app, **SERVER_OPTIONS) as server, httpx.Client(base_url=server.url) as client:
        stranger = {"X-Forwarded-For": "203.0.113.9"}
        codes = [attempt(client, "op", "guess-guess", **stranger).status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
        assert attempt(client, "op", PASSWORD, **stranger).status_code == 429
        client.cookies.clear()
        r = attempt(client, "op", PASSWORD, **{"X-Forwarded-For": "198.51.100.20, 127.0.0.1"})
        assert r.status_code == 303
    assert any(d == "来自 198.51.100.20 (经代理 127.0.0.1)" for d in audit_details(ledger, "login"))
    assert any("203.0.113.9" in d for d in audit_details(ledger, "login_locked"))


def test_per_address_limit_across_names(console: Console) -> None:
    """One address guessing many names is stopped by the per-address limit (20 in 5 minutes)."""
    client = console.client()
    codes = [attempt(client, f"user{i}", "guess-guess").status_code for i in range(22)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429, 429]


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_a_login_flood_cannot_starve_healthz_or_eat_memory(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """64 parallel logins with the real argon2 cost (64 MiB each): at most 2 hash at once, the excess is
    refused at once with 429 and a Chinese message, /healthz stays fast and the process stays small."""
    monkeypatch.setattr(console_users, "_hasher", PasswordHasher())
    add_user(ledger, "op", PASSWORD, "operator")
    app = create_app(ledger, SETTINGS, clock=FakeClock())
    with serving(app, **SERVER_OPTIONS) as server:
        clients = [httpx.Client(base_url=server.url, timeout=60) for _ in range(64)]
        tokens = [csrf_of(c.get("/login").text) for c in clients]
        rss_before = _rss_mb()
        peak = [rss_before]
        health: list[float] = []

        def login(i: int) -> httpx.Response:
            data = {"username": f"user{i % 8}", "password": "wrong-password", "csrf": tokens[i]}
            return clients[i].post("/login", data=data)

        with httpx.Client(base_url=server.url) as probe, concurrent.futures.ThreadPoolExecutor(64) as pool:
            futures = [pool.submit(login, i) for i in range(64)]
            while not all(f.done() for f in futures):
                t0 = time.monotonic()
                assert probe.get("/healthz").status_code == 200
                health.append(time.monotonic() - t0)
                peak.append(_rss_mb())
                time.sleep(0.02)
            answers = [f.result() for f in futures]
        for c in clients:
            c.close()
    codes = [r.status_code for r in answers]
    busy = [r for r in answers if r.status_code == 429]
    assert set(codes) <= {401, 429} and busy, codes
    assert all("同时进行的登录已暂停" in r.text for r in busy)
    # Alone: every probe under 0.06 s (before the fix: up to 1.8 s). On a loaded CI machine one probe may
    # wait for a core, so the bound is on the 90th percentile, with a loose cap on the slowest.
    assert sorted(health)[int(len(health) * 0.9)] < 0.3 and max(health) < 1.5, health
    assert max(peak) - rss_before < 400, (rss_before, max(peak))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before < 600


# -- item 6: sessions, the signing key, file modes, Secure cookies -------------------------------------


def test_logout_ends_every_session_of_the_user(console: Console) -> None:
    """A cookie captured before logout no longer works, not even for a POST."""
    first = console.login("op")
    second = console.login("op")
    stolen = dict(first.cookies)
    token = csrf_of(second.get("/failures/1").text)
    assert second.post("/logout", data={"csrf": token}).status_code == 303
    thief = console.client()
    thief.cookies.update(stolen)
    assert thief.get("/").status_code == 303
    failure = console.seeded.transient_id
    r = thief.post(
        f"/failures/{failure}/resolve", data={"csrf": csrf_of(first.get("/login").text), "note": "x"}
    )
    assert r.status_code == 403
    assert found(console.ledger.get_failure(failure))["state"] != "resolved"


def test_password_change_and_disabling_end_sessions(console: Console) -> None:
    client = console.login("op")
    assert client.get("/").status_code == 200
    set_password(console.ledger, "op", "a new long passphrase")
    assert client.get("/").status_code == 303
    client = console.login("viewer")
    set_disabled(console.ledger, "viewer", True)
    set_disabled(console.ledger, "viewer", False)  # enabled again: the old cookie stays dead
    assert client.get("/").status_code == 303


def test_signing_key_is_a_0600_file_beside_the_ledger_not_in_it(tmp_path: Path) -> None:
    """The key is not in ``meta``; the file and the SQLite ledger are 0600."""
    ledger = Ledger.connect(f"sqlite:///{tmp_path}/ledger.db")
    try:
        create_app(ledger)
        secret = tmp_path / "console-secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "ledger.db").stat().st_mode) == 0o600
        assert ledger.get_meta("console_secret") is None
        key = secret.read_text().strip()
        with (tmp_path / "ledger.db").open("rb") as f:
            assert key.encode() not in f.read()
        create_app(ledger)
        assert secret.read_text().strip() == key  # sessions survive a restart
    finally:
        ledger.close()


def test_signing_key_from_the_configured_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIFA_TEST_CONSOLE_SECRET", "s" * 48)
    ledger = Ledger.connect(f"sqlite:///{tmp_path}/ledger.db")
    try:
        create_app(ledger, settings_with(secret={"env": "ZHIFA_TEST_CONSOLE_SECRET"}))
        assert not (tmp_path / "console-secret").exists()
    finally:
        ledger.close()


def test_secure_cookie_over_https_through_a_trusted_proxy_and_when_configured(
    ledger: Ledger, users: None
) -> None:
    """Unset: Secure when a trusted proxy says the request came over HTTPS; true: always."""
    https = {"X-Forwarded-Proto": "https"}
    app = create_app(ledger, settings_with(trusted_proxies=["127.0.0.1/32"]), clock=FakeClock())
    with serving(app, **SERVER_OPTIONS) as server, httpx.Client(base_url=server.url) as client:
        assert "; secure" in client.get("/login", headers=https).headers["set-cookie"].lower()
        assert "secure" not in client.get("/login").headers["set-cookie"].lower()
    app = create_app(ledger, settings_with(secure_cookies=True), clock=FakeClock())
    with serving(app, **SERVER_OPTIONS) as server, httpx.Client(base_url=server.url) as client:
        assert "; secure" in client.get("/login").headers["set-cookie"].lower()


def test_forwarded_proto_from_an_untrusted_peer_is_ignored(console: Console) -> None:
    r = console.client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in r.headers["set-cookie"].lower()


# -- item 5: page bounds, error headers ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/failures", "/runs", "/audit"])
def test_huge_page_numbers_are_a_clear_400_with_security_headers(console: Console, path: str) -> None:
    client = console.login("viewer")
    r = client.get(path, params={"page": "9" * 20, "q": "11010519491231002X"})
    assert r.status_code == 400 and "页码超出范围" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["x-frame-options"] == "DENY"


class BrokenLedger:
    """Every ledger call fails with a message that quotes a 身份证号 (as a failed SQL statement might)."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"查询失败: 当事人证件号码 {ID_NO}")


def test_404_and_500_carry_the_security_headers_and_the_traceback_is_logged_masked(
    ledger: Ledger, users: None, capfd: pytest.CaptureFixture[str]
) -> None:
    """An unexpected error is a Chinese 500 page with the headers; uvicorn's and the console's log lines
    are JSON and masked, with no plain traceback."""
    before = logs.current
    logs.configure("json")
    app = create_app(ledger, SETTINGS, clock=FakeClock())
    try:
        with serving(app, **SERVER_OPTIONS) as server, httpx.Client(base_url=server.url) as client:
            assert client.get("/no-such-page").headers["x-content-type-options"] == "nosniff"
            token = csrf_of(client.get("/login").text)
            client.post("/login", data={"username": "op", "password": PASSWORD, "csrf": token})
            app.state.console.ledger = BrokenLedger()
            r = client.get("/runs")
    finally:
        logs.configure(*before)
    assert r.status_code == 500 and "内部错误" in r.text
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert "Traceback" not in r.text and ID_NO not in r.text
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one JSON object: no plain traceback
    assert any(e.get("event") == "console_error" for e in events)
    assert any(e.get("logger", "").startswith("uvicorn") for e in events)  # uvicorn's own line, as JSON
    assert not any(unmasked_ids(line) for line in lines)


# -- item 8: exposure warning --------------------------------------------------------------------------


def test_a_non_loopback_console_without_tls_is_warned_about() -> None:
    assert exposure_warning("127.0.0.1", ConsoleConfig()) is None
    assert exposure_warning("::1", ConsoleConfig()) is None
    assert exposure_warning("localhost", ConsoleConfig()) is None
    warning = exposure_warning("0.0.0.0", ConsoleConfig())
    assert warning and "明文" in warning and "反向代理" in warning
    assert exposure_warning("10.1.2.3", ConsoleConfig(secure_cookies=True)) is None


# -- item 16: passwords and user names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("12345678", "常见"),
        ("password1", "常见"),
        ("Woaini1314", "常见"),
        (" " * 8, "空格"),
        ("aaaaaaaaaaaa", "同一个字符"),
        ("zhangsan", "用户名"),
        ("short", "至少 8"),
    ],
)
def test_common_and_trivial_passwords_are_refused(ledger: Ledger, password: str, why: str) -> None:
    with pytest.raises(UserError, match=why):
        add_user(ledger, "zhangsan", password)


def test_user_names_are_folded_to_lower_case(ledger: Ledger) -> None:
    add_user(ledger, "Admin", PASSWORD, "admin")
    with pytest.raises(UserError, match="已存在"):
        add_user(ledger, "ADMIN", PASSWORD)
    user = get_user(ledger, "ADMIN")
    assert user is not None and user.username == "admin"
    assert verify(ledger, "AdMiN", PASSWORD) is not None


def test_login_with_the_name_in_another_case(console: Console) -> None:
    assert console.login("OP").get("/").status_code == 200
