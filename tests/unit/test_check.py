"""`zhifa-sync check`: config, database, mapping tables and every system, exit 0 only when all are good."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.stack import Stack, make_stack
from zhifa_sync.cli import main as cli


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with make_stack(tmp_path, monkeypatch, inspections=10, penalties=2) as s:
        yield s


def edit_config(stack: Stack, change: dict[str, object]) -> None:
    config = yaml.safe_load(stack.config_path.read_text(encoding="utf-8"))
    for dotted, value in change.items():
        *path, last = dotted.split(".")
        node = config
        for key in path:
            node = node[key]
        node[last] = value
    stack.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


def check(stack: Stack, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = cli(["-c", str(stack.config_path), "check"])
    return rc, capsys.readouterr().out


def test_all_good_exits_0_and_names_every_part(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """A good set-up: every line passes, each system is named, exit 0."""
    rc, out = check(stack, capsys)
    assert rc == 0, out
    for part in ("配置文件", "数据库", "映射表", "系统 district", "系统 municipal", "全部通过"):
        assert part in out
    assert "[失败]" not in out


def test_unreachable_system_fails(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """A system nobody answers at is a failure naming it; exit 1."""
    edit_config(
        stack,
        {
            "systems.municipal.base_url": "http://127.0.0.1:9",
            "systems.municipal.retry.attempts": 1,
            "systems.municipal.timeout_s": 2,
        },
    )
    rc, out = check(stack, capsys)
    assert rc == 1
    assert "[失败] 系统 municipal" in out and "[通过] 系统 district" in out


def test_wrong_password_fails_without_showing_it(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rejected password fails the district line; the password itself is never printed."""
    monkeypatch.setenv("ZS_DISTRICT_PASSWORD", "Wrong-Pass-123")
    rc, out = check(stack, capsys)
    assert rc == 1 and "[失败] 系统 district" in out
    assert "Wrong-Pass-123" not in out


def test_invalid_config_fails_listing_the_problems(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config error (here a missing secret) fails with its path; exit 1."""
    monkeypatch.delenv("ZS_MUNICIPAL_SECRET")
    rc, out = check(stack, capsys)
    assert rc == 1 and "[失败] 配置文件" in out and "systems.municipal.app_secret" in out


def test_unreachable_database_fails(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """A ledger database that cannot be reached fails the database line; exit 1."""
    edit_config(stack, {"database.url": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"})
    rc, out = check(stack, capsys)
    assert rc == 1 and "[失败] 数据库" in out


def test_database_behind_without_auto_upgrade_fails(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty ledger with auto_upgrade off needs `zhifa-sync db upgrade`: check says so, exit 1."""
    edit_config(stack, {"database.auto_upgrade": False})
    rc, out = check(stack, capsys)
    assert rc == 1 and "zhifa-sync db upgrade" in out
    assert cli(["-c", str(stack.config_path), "db", "upgrade"]) == 0
    capsys.readouterr()
    rc, out = check(stack, capsys)
    assert rc == 0, out


def test_broken_mapping_table_fails(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """A mapping table that does not load fails the mapping line, naming the problem; exit 1."""
    officers = stack.mappings / "officers.csv"
    officers.write_text("user,who\nu1001,黎文\n", encoding="utf-8")  # the columns are not the ones expected
    rc, out = check(stack, capsys)
    assert rc == 1 and "[失败] 映射表" in out and "officers.csv" in out


def test_console_on_a_non_loopback_address_without_tls_is_a_loud_warning(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """``console.host: 0.0.0.0`` without a declared HTTPS proxy: a [警告] line that says what to do
    (the check still passes: it is a risk, not a broken set-up)."""
    config = yaml.safe_load(stack.config_path.read_text(encoding="utf-8"))
    config["console"] = {**(config.get("console") or {}), "host": "0.0.0.0"}
    stack.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    rc, out = check(stack, capsys)
    line = next(x for x in out.splitlines() if x.startswith("[警告] 控制台 0.0.0.0"))
    assert "明文" in line and "反向代理" in line and "secure_cookies" in line
    assert rc == 0
    edit_config(stack, {"console.secure_cookies": True})
    rc, out = check(stack, capsys)
    assert "[警告]" not in out and "[通过] 控制台 0.0.0.0" in out


def _stop_municipal(stack: Stack) -> None:
    edit_config(stack, {"systems.municipal.retry.attempts": 1, "systems.municipal.timeout_s": 2})
    stack.sims.servers["municipal"].stop()


def test_for_unit_a_stopped_system_only_warns(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 18.5: the unit's `check --for-unit` with one simulator stopped warns and exits 0 (the
    service starts and retries it); the plain `check` still fails on it."""
    _stop_municipal(stack)
    rc = cli(["-c", str(stack.config_path), "check", "--for-unit"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "[警告] 系统 municipal" in out and "[通过] 系统 district" in out and "[失败]" not in out
    rc, out = check(stack, capsys)
    assert rc == 1 and "[失败] 系统 municipal" in out


def test_for_unit_configuration_errors_still_fail(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing secret, a rejected password: not reachability, so `--for-unit` fails (2 / 1)."""
    monkeypatch.delenv("ZS_MUNICIPAL_SECRET")
    assert cli(["-c", str(stack.config_path), "check", "--for-unit"]) == 2
    assert "systems.municipal.app_secret" in capsys.readouterr().out
    monkeypatch.setenv("ZS_MUNICIPAL_SECRET", "wrong")
    rc = cli(["-c", str(stack.config_path), "check", "--for-unit"])
    assert rc == 1 and "[失败] 系统 municipal" in capsys.readouterr().out


def test_secrets_dir_reads_the_units_credential_files(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 18.2: a config reading /run/credentials/zhifa-sync.service/NAME (as the example does) is
    checked outside the unit with `--secrets-dir DIR` (the files LoadCredential= loads), or under any
    unit or `systemd-run` that sets $CREDENTIALS_DIRECTORY."""
    creds = tmp_path / "credentials"
    creds.mkdir()
    for name, var in (
        ("district_password", "ZS_DISTRICT_PASSWORD"),
        ("municipal_app_secret", "ZS_MUNICIPAL_SECRET"),
    ):
        (creds / name).write_text(__import__("os").environ[var] + "\n", encoding="utf-8")
        monkeypatch.delenv(var)
    edit_config(
        stack,
        {
            "systems.district.password": {"file": "/run/credentials/zhifa-sync.service/district_password"},
            "systems.municipal.app_secret": {
                "file": "/run/credentials/zhifa-sync.service/municipal_app_secret"
            },
        },
    )
    rc, out = check(stack, capsys)
    assert rc == 1 and "无法读取密钥文件 /run/credentials/zhifa-sync.service/district_password" in out
    rc = cli(["-c", str(stack.config_path), "--secrets-dir", str(creds), "check"])
    assert rc == 0, capsys.readouterr().out
    capsys.readouterr()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    rc, out = check(stack, capsys)
    assert rc == 0, out
