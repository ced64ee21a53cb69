"""Mapping tables over their life: a missing row parks records, the fix replays them, and a broken edit
made while ``zhifa-sync run`` is running leaves the last good tables in force and shows in status."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.ledger import Ledger
from sync.mapping.coverage import coverage
from sync.mapping.store import META_IN_FORCE, META_REFUSED
from tests.support.stack import REPO, Stack, make_stack, synced_district_ids

CYCLE = {"interval_minutes": 0.02}  # 1.2 s between runs of the service


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with make_stack(tmp_path, monkeypatch, inspections=60, penalties=10, seed=11) as s:
        yield s


def remove_row(path: Path, key: str) -> tuple[str, str]:
    """Drop the row whose key is ``key``; returns the row and the file's original text."""
    text = path.read_text(encoding="utf-8-sig")
    row = next(line for line in text.splitlines() if line.startswith(f"{key},"))
    path.write_text(text.replace(row + "\n", ""), encoding="utf-8-sig")
    return row, text


def busiest_officer(stack: Stack) -> tuple[str, set[str]]:
    """The district user on most synced records, and those records' ids."""
    bad = set(stack.dataset.bad_ids)
    uses: dict[str, set[str]] = {}
    for kind in ("inspections", "penalties"):
        expected = synced_district_ids(stack.district.records(kind), bad)
        for r in stack.district.records(kind):
            if r["id"] in expected:
                for uid in r["officers"]:
                    uses.setdefault(uid, set()).add(r["id"])
    uid = max(uses, key=lambda u: len(uses[u]))
    return uid, uses[uid]


def test_record_parked_for_missing_officer_is_delivered_after_the_row_is_added(stack: Stack) -> None:
    """A missing officer row parks the records (待映射), coverage names the code with counts, an example and
    the row to paste; once the row is back the next cycle delivers them, with no manual retry."""
    uid, affected = busiest_officer(stack)
    row, original = remove_row(stack.mappings / "officers.csv", uid)
    stack.run()
    ours = set(stack.ours("jcjl")) | set(stack.ours("xzcf"))
    assert not affected & ours
    app = stack.app()
    try:
        parked, _ = app.ledger.query_failures(state="parked", limit=1000)
        assert {f["source_id"] for f in parked} == affected
        assert all(f["error_kind"] == "mapping" and f"执法人员 {uid}" in f["message"] for f in parked)
        found = coverage(app)
    finally:
        app.close()
    (entry,) = [u for u in found if u.table == "officers" and u.code == uid]
    assert (entry.file, entry.column, entry.count, entry.parked) == (
        "officers.csv",
        "district_user_id",
        len(affected),
        len(affected),
    )
    assert entry.example in affected
    assert entry.suggestion == row and entry.note == "执法证号与姓名在区平台和市系统一致"

    (stack.mappings / "officers.csv").write_text(original, encoding="utf-8-sig")
    stack.run()
    ours = set(stack.ours("jcjl")) | set(stack.ours("xzcf"))
    assert affected <= ours
    app = stack.app()
    try:
        assert app.ledger.query_failures(state="unresolved")[1] == 0
        assert not [a for a in app.ledger.audit() if a["action"] == "retry"]  # nobody retried by hand
        reload = next(a for a in app.ledger.audit() if a["action"] == "mappings_reload")
        assert f"officers.csv 新增 1 行 ({uid})" in reload["detail"]
    finally:
        app.close()


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_broken_edit_while_running_keeps_old_tables_and_shows_in_status(stack: Stack, tmp_path: Path) -> None:
    """``zhifa-sync run`` refuses a broken edit (the old tables stay in force: a new record goes out with the
    old 执法证号), ``zhifa-sync status`` in another process shows why, and a good edit is switched to."""
    stack.pipelines = [
        {
            "name": "district-inspections",
            "source": "district",
            "kind": "inspection",
            "targets": ["municipal"],
            "start": "2024-01-01 00:00:00",
            "lag_s": 0,
            "batch_size": 100,
            "schedule": CYCLE,
        },
    ]
    stack.write_config()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "zhifa_sync", "-c", str(stack.config_path), "--log-format", "json"]
    log_path = tmp_path / "service.log"
    ledger = Ledger.connect(stack.db_url, upgrade=True)
    with log_path.open("wb") as log_file:
        service = subprocess.Popen(
            [*cmd, "run", "--no-console"], stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )
        try:
            expected = synced_district_ids(stack.district.records("inspections"), set(stack.dataset.bad_ids))
            wait_for("first delivery", lambda: expected <= set(stack.ours("jcjl")))
            old_version = json.loads(ledger.get_meta(META_IN_FORCE) or "{}")["version"]

            officers = stack.mappings / "officers.csv"
            good = officers.read_text(encoding="utf-8-sig")
            broken = (
                good.replace("u1001,黎文,12011619001", "u1001,黎文,12011619999") + "u1002,重复,12011619002\n"
            )
            officers.write_text(broken, encoding="utf-8-sig")
            dup_line = len(broken.splitlines())
            refused = wait_for("refusal", lambda: json.loads(ledger.get_meta(META_REFUSED) or "null"))
            assert refused["in_force"] == old_version
            assert any(
                p.startswith(f"officers.csv:{dup_line}: district_user_id: 键 u1002 重复")
                for p in refused["problems"]
            )

            template = next(
                r
                for r in stack.district.records("inspections")
                if r["id"] in expected and r["status"] == "submitted"
            )
            new = copy.deepcopy(template)
            for key in ("id", "updated_at"):
                new.pop(key)
            new.update(
                officers=["u1001", "u1002"],
                started_at=template["started_at"][:8] + "28 08:00:00",
                ended_at=template["started_at"][:8] + "28 09:00:00",
            )
            new_id = stack.district.upsert_inspection(new)
            (city,) = wait_for("new record delivered", lambda: stack.ours("jcjl").get(new_id))
            assert city["zfry"] == "12011619001,12011619002"  # the last good officers table
            assert json.loads(ledger.get_meta(META_IN_FORCE) or "{}")["version"] == old_version

            status = subprocess.run(
                [*cmd, "status"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
            )
            assert status.returncode == 0, status.stderr
            assert f"在用版本 {old_version}" in status.stdout
            assert "的修改被拒绝" in status.stdout and "仍使用上一版有效映射表" in status.stdout
            assert f"officers.csv:{dup_line}: district_user_id: 键 u1002 重复" in status.stdout

            officers.write_text(good.replace("u1001,黎文,", "u1001,黎 文,"), encoding="utf-8-sig")
            wait_for(
                "switch",
                lambda: (
                    ledger.get_meta(META_REFUSED) == ""
                    and json.loads(ledger.get_meta(META_IN_FORCE) or "{}")["version"] != old_version
                ),
            )
            status = subprocess.run(
                [*cmd, "status"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
            )
            assert "被拒绝 (实例" not in status.stdout
            assert "切换  映射表切换" in status.stdout and "officers.csv 修改 1 行 (u1001)" in status.stdout
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                rc = service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
                raise
            ledger.close()
    events = Counter(
        json.loads(line).get("event") for line in log_path.read_text().splitlines() if line.startswith("{")
    )
    assert rc == 0
    assert (
        events["mappings_refused"] == 1
        and events["mappings_reloaded"] == 1
        and events["service_stopped"] == 1
    )
