"""``zhifa-sync users`` pasted as the README writes it (issue 18 item 15): no traceback without a
terminal, the password from stdin or a file, ``users --help`` lists every sub-command, ``users list``."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators import daemon_config
from tests.support.cli import run_cli

URLS = {"district": "http://127.0.0.1:9", "municipal": "http://127.0.0.1:9"}  # never contacted


@pytest.fixture
def config(tmp_path: Path) -> Path:
    mappings = daemon_config.copy_mappings(tmp_path / "mappings")
    built = daemon_config.build(URLS, db_url=f"sqlite:///{tmp_path / 'ledger.db'}", mappings_dir=mappings)
    return daemon_config.write(built, tmp_path / "zhifa-sync.yaml")


def test_add_without_a_terminal_fails_cleanly_with_a_hint(config: Path) -> None:
    ran = run_cli(config, "users", "add", "op2", "--role", "operator")  # stdin is /dev/null
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr and "EOFError" not in ran.stderr
    assert "没有终端" in ran.stderr and "--password-stdin" in ran.stderr and "--password-file" in ran.stderr


def test_password_from_stdin_or_a_file_then_list(config: Path, tmp_path: Path) -> None:
    ran = run_cli(
        config, "users", "add", "op2", "--role", "operator", "--password-stdin", stdin="op2-secret-pw\n"
    )
    assert ran.returncode == 0, ran.stderr
    secret = tmp_path / "pw.txt"
    secret.write_text("admin-secret-pw\n", encoding="utf-8")
    ran = run_cli(config, "users", "add", "boss", "--role", "admin", "--password-file", str(secret))
    assert ran.returncode == 0, ran.stderr
    empty = run_cli(config, "users", "add", "op3", "--password-stdin")  # nothing on stdin
    assert empty.returncode == 1 and "Traceback" not in empty.stderr
    listed = run_cli(config, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "op2\toperator 操作员" in listed.stdout and "boss\tadmin 管理员" in listed.stdout
    assert "op3" not in listed.stdout


def test_users_help_lists_every_sub_command() -> None:
    ran = run_cli(None, "users", "--help")
    assert ran.returncode == 0, ran.stderr
    for sub in ("add", "passwd", "role", "disable", "enable", "list"):
        assert sub in ran.stdout
    assert "rest" not in ran.stdout
