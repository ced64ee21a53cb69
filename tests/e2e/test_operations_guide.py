"""Issue 18.2 / 18.8: docs/operations.md walked on this machine as far as it can be.

The guide's ``sh`` blocks of sections 1 and 2 are pasted one command at a time, with the server's
folders moved into a temp dir (``/etc/zhifa-sync`` → ``TMP/etc``, ``/var/lib/zhifa-sync`` → ``TMP/var``,
the venv → this checkout's) and what needs root, a system user or a running systemd skipped. No
secret is in the environment: `db upgrade` must work without one, `check` reads them from the unit's
credential files through `--secrets-dir`."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.ledger import schema
from tests.support.pasted import REPO, paste

GUIDE = REPO / "docs" / "operations.md"
# ".venv/": the trial against the simulators (tests/simulators/test_serve.py runs it)
SKIP = (
    "useradd",
    "python3.11 -m venv",
    "/opt/zhifa-sync/venv/bin/pip",
    "systemctl",
    "systemd-run",
    "#",
    ".venv/",
)


def guide_commands(sections: tuple[str, ...] = ("## 1.", "## 2.", "## 5.", "## 6.")) -> list[str]:
    """The shell commands of those sections, continuation lines joined, comments kept for skipping."""
    text = GUIDE.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^(?=## )", text)
    chosen = [p for p in parts if p.startswith(sections)]
    commands: list[str] = []
    for part in chosen:
        for block in re.findall(r"```sh\n(.*?)```", part, flags=re.S):
            joined = block.replace("\\\n", " ")
            commands.extend(line.strip() for line in joined.splitlines() if line.strip())
    return commands


PG_EXAMPLE = "postgresql://zhifa@db.example.gov.cn/zhifa"


def on_this_machine(command: str, tmp: Path) -> str | None:
    """The command as it runs here, or None when it cannot (root, systemd, package install, a line
    that is an outline ("…") rather than a command, the PostgreSQL backup: its own test)."""
    command = re.sub(r"^sudo (-u zhifa-sync )?", "", command)
    if command.endswith("pip freeze > /var/lib/zhifa-sync/freeze-before.txt   # what to roll back to"):
        command = command.replace("/opt/zhifa-sync/venv/bin/pip", str(REPO / ".venv" / "bin" / "pip"))
    if command.startswith(SKIP) or "…" in command or PG_EXAMPLE in command:
        return None
    command = re.sub(r" -[og] (root|zhifa-sync)", "", command)
    command = re.sub(r"\s+#.*$", "", command)
    for server, here in (
        ("/opt/zhifa-sync/venv/bin/zhifa-sync", str(REPO / ".venv" / "bin" / "zhifa-sync")),
        ("/etc/systemd/system/", f"{tmp}/systemd/"),
        ("/etc/zhifa-sync", f"{tmp}/etc"),
        ("/var/lib/zhifa-sync", f"{tmp}/var"),
        ("/backup/", f"{tmp}/backup/"),
    ):
        command = command.replace(server, here)
    return command


def test_the_guide_works_when_pasted(tmp_path: Path) -> None:
    """Install, first start, upgrade and the SQLite backup, as pasted (sections 1, 2, 5 and 6)."""
    (tmp_path / "systemd").mkdir()
    (tmp_path / "backup").mkdir()
    ran: dict[str, str] = {}
    for command in guide_commands():
        here = on_this_machine(command, tmp_path)
        if here is None:
            continue
        done = paste(here, cwd=REPO)
        ran[command] = done.stdout + done.stderr
        config = tmp_path / "etc" / "zhifa-sync.yaml"
        if command.startswith("install -m 0640") and config.exists():
            # the server's /var/lib, here in the temp dir (the only line of the config a test moves)
            config.write_text(
                config.read_text("utf-8").replace("/var/lib/zhifa-sync", f"{tmp_path}/var"), "utf-8"
            )
        if command.endswith(" check"):
            out = ran[command]
            assert "[通过] 配置文件" in out and "[通过] 数据库" in out and "[通过] 映射表" in out, out
            assert "密钥" not in out, out  # every credential read from the unit's files
            # the example's systems (*.example.gov.cn) cannot be reached from here: those lines only
            assert {line.split(" ")[1] for line in out.splitlines() if line.startswith("[失败]")} <= {"系统"}
            continue
        assert done.returncode == 0, f"{here}\n{ran[command]}"
    assert any("db upgrade" in c for c in ran) and any(c.endswith(" check") for c in ran), list(ran)
    assert (tmp_path / "var" / "zhifa-sync.db").is_file()  # the ledger where the config says, not in cwd
    assert (tmp_path / "etc" / "mappings" / "holidays.csv").is_file()
    for name in ("district_password", "municipal_app_secret", "credit_app_secret", "hlwjg_url"):
        assert (tmp_path / "etc" / "credentials" / name).is_file()
    # § 5: what to roll back to names this program (zhifa-sync==X.Y.Z, or zhifa_sync in a checkout)
    assert re.search(r"(?i)zhifa[-_]sync", (tmp_path / "var" / "freeze-before.txt").read_text("utf-8"))
    (backup,) = (tmp_path / "backup").glob("zhifa-*.db")  # § 6: the online backup is a whole ledger
    assert _revision(f"sqlite:///{backup}") == _revision(f"sqlite:///{tmp_path / 'var' / 'zhifa-sync.db'}")


def _revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        return schema.schema_state(engine)[0]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_postgresql_backup_and_restore_lines_work_when_pasted(tmp_path: Path, pg_schema_url: str) -> None:
    """§ 6's pg_dump and pg_restore, against a ledger database of their own on the test server."""
    url = sa.engine.make_url(pg_schema_url).set(query={}).render_as_string(hide_password=False)
    name = f"guide_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    db = sa.engine.make_url(url).set(database=name)
    try:
        engine = schema.make_engine(db.render_as_string(hide_password=False))
        schema.upgrade(engine)
        engine.dispose()
        plain = db.set(drivername="postgresql").render_as_string(hide_password=False)
        (tmp_path / "backup").mkdir()
        lines = [c for c in guide_commands(("## 6.",)) if PG_EXAMPLE in c]
        assert [c.split()[0] for c in lines] == ["pg_dump", "pg_restore"], lines
        for line in lines:
            # the guide restores an example day's dump: here, the one just made
            here = line.replace(PG_EXAMPLE, plain).replace("/backup/", f"{tmp_path}/backup/")
            here = here.replace("zhifa-2026-01-01.dump", "zhifa-$(date +%F).dump")
            done = paste(here, cwd=REPO)
            assert done.returncode == 0, f"{here}\n{done.stdout}{done.stderr}"
        assert _revision(db.render_as_string(hide_password=False)) == schema.schema_state(admin)[1]
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def test_unit_and_example_config_agree() -> None:
    """A LoadCredential= line (not commented out) for every credential the example config reads, and
    no line for one it does not; the unit's start check is the config-only `--for-unit` mode."""
    unit = (REPO / "config" / "zhifa-sync.service").read_text(encoding="utf-8")
    example = (REPO / "config" / "zhifa-sync.example.yaml").read_text(encoding="utf-8")
    loaded = set(re.findall(r"(?m)^LoadCredential=(\w+):/etc/zhifa-sync/credentials/\1$", unit))
    # what the config reads: commented-out examples (the alerts block) are read only once enabled,
    # and say to add their LoadCredential= line then
    live = "\n".join(line for line in example.splitlines() if not line.lstrip().startswith("#"))
    read = set(re.findall(r"\{file: /run/credentials/zhifa-sync\.service/(\w+)\}", live))
    assert read and loaded == read, (loaded, read)
    assert not re.search(r"(?m)^#\s*LoadCredential=", unit)
    assert not re.search(r"(?m)^\s+\w+: \{env: ", example), "a secret the unit does not load"
    assert re.search(r"(?m)^ExecStartPre=.* check --for-unit$", unit)
