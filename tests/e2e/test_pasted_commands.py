"""Issue 18.1 / 15.15: every follow-up command the README and ``make demo`` print works when pasted.

After a demo-like sync, each command runs as its own process, from the checkout's folder, with none of
the ZS_*/ZHIFA_* secret variables set: commands that only read the ledger or manage console users must
not need the systems' secrets."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.harness import free_port, terminate, wait_for
from tests.support.pasted import REPO, clean_env, fill, paste, paste_at_terminal, start, strip_annotation
from tests.support.stack import Stack, make_stack
from zhifa_sync.demo import next_steps

PASSWORD = "Zs-Demo-Console-2026!"


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A small world synced once, with two bad records (so there are failures to list and show)."""
    tmp = tmp_path_factory.mktemp("pasted")
    with (
        pytest.MonkeyPatch.context() as mp,
        make_stack(tmp, mp, inspections=20, penalties=4, bad_records=2) as s,
    ):
        s.run()
        yield s


def _failure_id(stack: Stack) -> str:
    app = stack.app()
    try:
        rows, _ = app.ledger.query_failures(state="unresolved", limit=1)
    finally:
        app.close()
    assert rows, "the bad records made no failure"
    return str(rows[0]["id"])


def _values(stack: Stack) -> dict[str, str]:
    return {"<编号>": _failure_id(stack), " ID": " " + _failure_id(stack), "NAME": "op1",
            "viewer|operator|admin": "operator"}  # fmt: skip


def _console_works(command: str) -> None:
    """``console`` serves until stopped: it must come up (``/healthz`` 200), not exit."""
    port = free_port()
    proc = start(f"{command} --port {port}")
    try:

        def up() -> bool:
            assert proc.poll() is None, (
                f"{command} exited {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}"
            )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_for(up, 30, f"{command} to serve /healthz")
    finally:
        terminate(proc)  # type: ignore[arg-type]


def _works(command: str, stack: Stack) -> None:
    command = fill(strip_annotation(command), _values(stack))
    if command.split()[-1] == "console":
        _console_works(command)
        return
    if " users add " in command and "--password" not in command:
        # asks for the password at the terminal, as when an administrator pastes it into a shell
        done = paste_at_terminal(command, answers=[PASSWORD, PASSWORD], prompt="密码")
    else:
        done = paste(command, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert "未设置" not in done.stderr and "密钥" not in done.stderr, done.stderr


def test_the_demo_next_steps_work_without_secrets(synced: Stack) -> None:
    """Each command under 下一步 runs as printed (console: comes up), no secret in the environment."""
    assert not [k for k in clean_env() if k.startswith(("ZS_", "ZHIFA_"))]
    for _what, command in next_steps(synced.config_path):
        _works(command, synced)


LEDGER_ONLY = (
    "status",
    "failures list",
    "failures show",
    "db upgrade",
    "users add",
    "console",
    "pipelines list",
)


def _readme_commands() -> list[str]:
    """The "Using it" commands that only read the ledger or manage users, as the README prints them."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Using it", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    ledger_only = LEDGER_ONLY
    found = []
    for line in block.splitlines():
        command = re.sub(r"\[[^]]*\]", "", strip_annotation(line)).strip()
        if command.startswith("zhifa-sync ") and command.split(" ", 1)[1].startswith(ledger_only):
            found.append(command)
    return found


def test_the_readme_ledger_commands_work_without_secrets(synced: Stack) -> None:
    """README "Using it": status, failures list/show, db upgrade, users add, console — no secrets."""
    commands = _readme_commands()
    for kind in LEDGER_ONLY:  # each is in the README, and each is pasted below
        assert any(c.split(" ", 1)[1].startswith(kind) for c in commands), (kind, commands)
    cli = f"{REPO / '.venv' / 'bin' / 'zhifa-sync'} -c {synced.config_path}"
    for i, command in enumerate(commands):  # each account a name of its own
        _works(command.replace("zhifa-sync", cli, 1).replace(" NAME ", f" user{i} "), synced)


def test_sync_without_secrets_names_every_missing_one(synced: Stack, tmp_path: Path) -> None:
    """A command that contacts the systems still says, at once, which secrets are missing (exit 2)."""
    done = paste(f".venv/bin/zhifa-sync -c {synced.config_path} sync --once")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "systems.district.password" in done.stderr and "systems.municipal.app_secret" in done.stderr
