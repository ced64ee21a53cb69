"""Bad input through the daemon: every kind of bad record a real system sends fails clearly (naming the
field) or is normalised correctly, and everything else still flows.

The kinds, and what the operator sees:

- bad codes, numbers, amounts, dates, lengths, officers (``corpus``): a 数据不合规 failure naming the field;
- items that are not objects, bytes that are not UTF-8, HTML answers: one failure per item, or a retry;
- a NUL or another control character in any text field: a failure naming the field and the character
  (``enterprise.name: 含有控制字符 NUL (\\u0000, 第3个字符)``), stored written out; on PostgreSQL too;
- mapping files with a stray CR, a NUL in a cell, or an .xlsx zip bomb: ``file:line: column:`` problems
  from ``mappings check`` (exit 1), the bomb refused from the zip directory;
- an unreachable ledger: one line ``无法连接账本数据库: …`` (exit 1); an inline secret: a config error (exit 2).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators import daemon_config
from simulators.harness import free_port, zhifa
from tests.support.console import csrf_of
from tests.support.hostile import Mode, hostile
from tests.support.stack import Stack, make_stack

HOSTILE = "<script>alert(1)</script>' OR 1=1; DROP TABLE records;--"


def variant(base: dict[str, Any], new_id: str, **changes: Any) -> dict[str, Any]:
    rec = copy.deepcopy(base)
    rec["id"] = new_id
    for key, value in changes.items():
        target = rec
        *path, last = key.split("__")
        for part in path:
            target = target[part]
        if value is KeyError:
            target.pop(last, None)
        else:
            target[last] = value
    return rec


def corpus(stack: Stack) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(record id → field the failure must name) and (record id → municipal fields it must arrive with)."""
    insp = next(r for r in stack.district.records("inspections") if r["status"] == "submitted")
    pen = next(
        r
        for r in stack.district.records("penalties")
        if r["status"] == "decided" and r["party"]["type"] == "1" and "03" in r["penalty_types"]
    )
    person = next(r for r in stack.district.records("penalties") if r["party"]["type"] == "2")
    must_fail = {
        "BAD-USCC": (
            "inspections",
            variant(
                insp,
                "BAD-USCC",
                enterprise__uscc=insp["enterprise"]["uscc"][:-1] + "0"
                if not insp["enterprise"]["uscc"].endswith("0")
                else insp["enterprise"]["uscc"][:-1] + "1",
            ),
            "enterprise.uscc",
        ),
        "BAD-ID": (
            "penalties",
            variant(
                person,
                "BAD-ID",
                party__id_no=person["party"]["id_no"][:-1]
                + ("0" if person["party"]["id_no"][-1] != "0" else "1"),
            ),
            "party",
        ),
        "NO-ITEM": ("inspections", variant(insp, "NO-ITEM", item_code=KeyError), "item_code"),
        "NO-FACTS": ("penalties", variant(pen, "NO-FACTS", facts=KeyError), "facts"),
        "WAN-YUAN": ("penalties", variant(pen, "WAN-YUAN", fine_yuan="3万元"), "fine_yuan"),
        "SLASH-DATE": ("penalties", variant(pen, "SLASH-DATE", decided_on="2025/06/20"), "decided_on"),
        "LONG-TEXT": ("penalties", variant(pen, "LONG-TEXT", facts="经查" * 1500), "facts"),
        "ONE-OFFICER": (
            "inspections",
            variant(insp, "ONE-OFFICER", officers=insp["officers"][:1]),
            "officers",
        ),
        "ZERO-FINE": ("penalties", variant(pen, "ZERO-FINE", fine_yuan="0.00"), "fine_yuan"),
        "HAZARDS-TEXT": ("inspections", variant(insp, "HAZARDS-TEXT", hazard_count="三"), "hazard_count"),
    }
    must_arrive = {
        "COMMA-AMOUNT": (
            "penalties",
            variant(pen, "COMMA-AMOUNT", fine_yuan="30,000.00", decision_no=pen["decision_no"] + "A"),
            {"fkje": "30000.00"},
        ),
        "FULLWIDTH": (
            "penalties",
            variant(pen, "FULLWIDTH", fine_yuan="１２３４.５６", decision_no=pen["decision_no"] + "B"),
            {"fkje": "1234.56"},
        ),
        "HOSTILE": (
            "inspections",
            variant(
                insp,
                "HOSTILE",
                enterprise__name=HOSTILE,
                started_at="2025-03-01 09:00:00",
                ended_at="2025-03-01 10:00:00",
            ),
            {"qymc": HOSTILE},
        ),
        "SPACES": (
            "inspections",
            variant(
                insp,
                "SPACES",
                enterprise__name="  天津滨港化工有限公司  ",
                started_at="2025-03-02 09:00:00",
                ended_at="2025-03-02 10:00:00",
            ),
            {"qymc": "天津滨港化工有限公司"},
        ),
    }
    for kind, rec, _ in must_fail.values():
        stack.district.upsert(kind, rec)
    for kind, rec, _ in must_arrive.values():
        stack.district.upsert(kind, rec)
    return {k: v[2] for k, v in must_fail.items()}, {k: v[2] for k, v in must_arrive.items()}


def test_bad_records_fail_clearly_and_the_rest_flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each bad record is a failure naming its field; normalisable ones arrive right; all others arrive once."""
    with make_stack(tmp_path, monkeypatch, inspections=60, penalties=20) as stack:
        must_fail, must_arrive = corpus(stack)
        stack.run()
        app = stack.app()
        try:
            rows, _total = app.ledger.query_failures(state="unresolved", limit=100)
        finally:
            app.close()
        by_id = {r["source_id"]: r for r in rows}
        assert set(by_id) == set(must_fail), f"unexpected failures: {set(by_id) ^ set(must_fail)}"
        for rid, field in must_fail.items():
            assert field in by_id[rid]["message"], (rid, by_id[rid]["message"])
            assert by_id[rid]["error_kind"] == "validation"
        city = {
            **{k: v[0] for k, v in stack.ours("jcjl").items()},
            **{k: v[0] for k, v in stack.ours("xzcf").items()},
        }
        for rid, fields in must_arrive.items():
            for name, value in fields.items():
                assert str(city[rid][name]) == value, (rid, name, city[rid][name])
        expected = {
            r["id"]
            for kind in ("inspections", "penalties")
            for r in stack.district.records(kind)
            if r["status"] not in ("draft", "filed")
        } - set(must_fail)
        assert set(city) == expected
        assert all(len(v) == 1 for kind in ("jcjl", "xzcf") for v in stack.ours(kind).values())


GBK_NAME = "滨海化工有限公司".encode("gbk")  # what a system that is not UTF-8 sends


def test_garbage_in_the_source_pages_fails_only_those_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items that are not JSON objects, a record whose bytes are not UTF-8 and HTTP 200 answers that are
    an HTML login page, all from the district: each garbage item is one failure saying what it is, the
    HTML pages are retried, and every other record arrives once."""
    with make_stack(tmp_path, monkeypatch, inspections=60, penalties=20) as stack:
        insp = [r for r in stack.district.records("inspections") if r["status"] == "submitted"]
        at = insp[len(insp) // 2]["updated_at"]  # mid-window: records before and after it
        for item_id, body in (("RAW-STR", b'"oops"'), ("RAW-LIST", b"[1, 2]"), ("RAW-NULL", b"null")):
            stack.district.add_raw_item("inspections", item_id, at, body)
        gbk = variant(insp[0], "NON-UTF8", started_at="2025-03-03 09:00:00", ended_at="2025-03-03 10:00:00")
        gbk["updated_at"] = at
        gbk["enterprise"]["name"] = "@@NAME@@"
        body = json.dumps(gbk, ensure_ascii=False).encode().replace(b"@@NAME@@", GBK_NAME)
        stack.district.add_raw_item("inspections", "NON-UTF8", at, body)
        config = yaml.safe_load(stack.config_path.read_text(encoding="utf-8"))
        for pipeline in config["pipelines"]:
            pipeline["batch_size"] = 10  # many pages: garbage at a page edge, many HTML answers
        stack.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        stack.district.faults.update(html_200_rate=0.3, seed=11)

        for _ in range(6):  # a pull that met only HTML pages ends the run; the next one carries on
            results = stack.run()
            if all(c.status in ("ok", "failed") for c in results.values()):
                break
        assert all(c.status in ("ok", "failed") for c in results.values()), {
            n: c.error for n, c in results.items()
        }
        assert stack.district.faults.stats()["faults"].get("html200", 0) > 0, stack.district.faults.stats()

        app = stack.app()
        try:
            rows, _total = app.ledger.query_failures(state="unresolved", limit=100)
        finally:
            app.close()
        not_objects = {r["source_id"]: r["message"] for r in rows if r["source_id"].startswith("?")}
        assert len(not_objects) == 3, not_objects
        assert all("应为 JSON 对象" in m for m in not_objects.values()), not_objects
        assert any("字符串" in m and "oops" in m for m in not_objects.values())
        by_id = {r["source_id"]: r for r in rows}
        assert "enterprise.name" in by_id["NON-UTF8"]["message"]
        assert "UTF-8" in by_id["NON-UTF8"]["message"]
        assert set(by_id) == {"NON-UTF8", *not_objects}

        expected = {
            r["id"]
            for kind in ("inspections", "penalties")
            for r in stack.district.records(kind)
            if r["status"] not in ("draft", "filed")
        }
        city = {**stack.ours("jcjl"), **stack.ours("xzcf")}
        assert set(city) == expected
        assert all(len(v) == 1 for v in city.values())


NUL_NAME = "天津\u0000测试有限公司"


def test_a_nul_byte_is_a_bad_field_and_every_pipeline_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_url: str
) -> None:
    """An inspection whose enterprise name holds a NUL, and a penalty whose facts hold an ESC, synced
    by a real ``sync --once`` on SQLite and on PostgreSQL (which refuses NUL in text): each is one
    validation failure naming its field, stored with the character written out; the pages commit, the
    process ends normally, the later pipeline runs, and everything else arrives once, without NUL."""
    with make_stack(tmp_path, monkeypatch, inspections=40, penalties=15, db_url=ledger_url) as stack:
        insp = next(r for r in stack.district.records("inspections") if r["status"] == "submitted")
        pen = next(r for r in stack.district.records("penalties") if r["status"] == "decided")
        stack.district.upsert("inspections", variant(insp, "NUL-NAME", enterprise__name=NUL_NAME))
        stack.district.upsert("penalties", variant(pen, "ESC-FACTS", facts="经查\x1b[2J属实"))
        proc = zhifa(stack.config_path, "sync", "--once", log=tmp_path / "sync.log")
        assert proc.wait(timeout=120) in (0, 1)  # 1: some records failed
        log_text = (tmp_path / "sync.log").read_text(encoding="utf-8")
        assert "Traceback" not in log_text and "run_crashed" not in log_text

        app = stack.app()
        try:
            rows, _total = app.ledger.query_failures(state="unresolved", limit=100)
            runs = {r["pipeline"]: r["status"] for r in app.ledger.recent_runs(limit=10)}
        finally:
            app.close()
        by_id = {r["source_id"]: r for r in rows}
        assert set(by_id) == {"NUL-NAME", "ESC-FACTS"}
        assert "enterprise.name" in by_id["NUL-NAME"]["message"] and "NUL" in by_id["NUL-NAME"]["message"]
        assert by_id["NUL-NAME"]["party_name"] == "天津\\u0000测试有限公司"
        assert "facts" in by_id["ESC-FACTS"]["message"] and "ESC" in by_id["ESC-FACTS"]["message"]
        assert all(r["error_kind"] == "validation" for r in rows)
        assert set(runs.values()) == {"failed"}, runs  # both pipelines ran to their end

        city = {**stack.ours("jcjl"), **stack.ours("xzcf")}
        expected = {
            r["id"]
            for kind in ("inspections", "penalties")
            for r in stack.district.records(kind)
            if r["status"] not in ("draft", "filed")
        } - {"NUL-NAME", "ESC-FACTS"}
        assert set(city) == expected
        assert not any("\x00" in str(v) for k in ("jcjl", "xzcf") for r in stack.city(k) for v in r.values())


def test_hostile_mapping_files_are_file_line_problems(tmp_path: Path) -> None:
    """``mappings check`` on tables with a stray CR next to a NUL, a NUL inside a cell and an .xlsx zip
    bomb: one line per problem with file and line, exit code 1, no traceback, in under a few seconds."""
    maps = daemon_config.copy_mappings(tmp_path / "mappings")
    officers = maps / "officers.csv"
    officers.write_bytes(officers.read_bytes() + "u9,名\r\x00字,123\nu8,黎\x00文,1\n".encode())
    (maps / "inspection_types.csv").unlink()
    bomb = maps / "inspection_types.xlsx"
    with (
        zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet,
    ):
        for _ in range(80):
            sheet.write(b"<row>" + b" " * (1024 * 1024) + b"</row>")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "zhifa_sync", "mappings", "check", "--dir", str(maps)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert time.monotonic() - started < 10
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stdout.splitlines()
    assert any(
        re.match(r"officers\.csv:\d+: district_user_id: 值 \\u0000字 含有控制字符 NUL", x) for x in lines
    )
    assert any(re.match(r"officers\.csv:\d+: name: 值 黎\\u0000文 含有控制字符 NUL", x) for x in lines)
    assert any(x.startswith("inspection_types.xlsx: 工作簿解压后过大") for x in lines), lines


UNREACHABLE_LEDGERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:{port}/zhifa",
    "sqlite": "sqlite:///{tmp}/no/such/dir/ledger.db",
}


@pytest.mark.parametrize(
    ("backend", "command"),
    [("postgresql", ["status"]), ("postgresql", ["sync", "--once"]), ("sqlite", ["failures", "list"])],
)
def test_an_unreachable_ledger_is_one_chinese_line_and_exit_1(
    tmp_path: Path, backend: str, command: list[str]
) -> None:
    """``status``, ``sync --once`` and ``failures list`` with a ledger nobody answers for (a closed port,
    a directory that does not exist): one line saying so in Chinese, exit code 1, no traceback."""
    url = UNREACHABLE_LEDGERS[backend].format(port=free_port(), tmp=tmp_path)
    urls = {"district": f"http://127.0.0.1:{free_port()}", "municipal": f"http://127.0.0.1:{free_port()}"}
    maps = daemon_config.copy_mappings(tmp_path / "mappings")
    config = daemon_config.write(
        daemon_config.build(urls, db_url=url, mappings_dir=maps), tmp_path / "c.yaml"
    )
    done = _cli(config, *command)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("无法连接账本数据库: ") and "database.url" in line


def test_an_inline_secret_is_a_config_error_exit_2_without_a_traceback(tmp_path: Path) -> None:
    """A password written into the config instead of a reference: a configuration error (exit 2), no
    traceback. (The wording of the message is issue 18's: sync/config.py.)"""
    urls = {"district": f"http://127.0.0.1:{free_port()}", "municipal": f"http://127.0.0.1:{free_port()}"}
    maps = daemon_config.copy_mappings(tmp_path / "mappings")
    config = daemon_config.build(urls, db_url=f"sqlite:///{tmp_path / 'l.db'}", mappings_dir=maps)
    config["systems"]["district"]["password"] = "hunter2"
    path = daemon_config.write(config, tmp_path / "c.yaml")
    for command in (["status"], ["sync", "--once"]):
        done = _cli(path, *command)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "systems.district.password" in done.stderr and "hunter2" not in done.stderr


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zhifa_sync", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, **daemon_config.secrets_env(), "ZHIFA_LOG_FORMAT": "json"},
    )


# -- hostile peers (issue 15 items 2, 10, 11): what the operator reads for each bad answer ----------
HOSTILE_ANSWERS = {
    Mode.DRIP: "响应超过总时限 1 秒",  # one byte a second: cut at the call's overall deadline
    Mode.STALL: "响应超过总时限 1 秒",  # never answers
    Mode.INFLATE: "响应超过大小上限 1 MB",  # a 4 MB answer against a 1 MB cap
    Mode.TRUNCATE: "连接失败或被中断",  # Content-Length promised more than came
    Mode.GARBLE: "返回了HTML 页面",  # an HTML error page with bytes that are not UTF-8
    Mode.WRONG_SHAPE: "municipal",  # JSON of the wrong shape: named as the system's bad answer
}


@pytest.mark.parametrize("mode", list(HOSTILE_ANSWERS))
def test_a_hostile_target_answer_is_a_clear_transient_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Mode
) -> None:
    """The municipal target behind the hostile proxy: every record fails as a transient failure whose
    message says what the peer did (time limit, size cap, cut-off, not JSON); nothing is stored whole."""
    with make_stack(tmp_path, monkeypatch, inspections=12, penalties=0) as stack:
        with hostile(stack.municipal_url, drip_s=1.0, inflate_bytes=4 << 20) as peer:
            peer.set("/", mode)
            config = yaml.safe_load(stack.config_path.read_text(encoding="utf-8"))
            municipal_cfg = config["systems"]["municipal"]
            municipal_cfg.update(
                base_url=peer.url,
                deadline_s=1.0,
                max_response_bytes=1 << 20,
                push_process=False,
                retry={"attempts": 1, "initial_wait_s": 0.01, "max_wait_s": 0.01},
                circuit={"failures": 1000, "cool_down_s": 60},
            )
            config["pipelines"] = [p for p in config["pipelines"] if p["name"] == "district-inspections"]
            stack.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
            counts = stack.run()["district-inspections"]
        assert counts.failed > 0 and counts.created == 0
        app = stack.app()
        try:
            rows, _total = app.ledger.query_failures(state="unresolved", limit=100)
        finally:
            app.close()
        assert rows and {r["error_kind"] for r in rows} == {"transient"}
        assert all(HOSTILE_ANSWERS[mode] in r["message"] for r in rows), rows[0]["message"]
        assert all(len(r.get("response") or "") <= 2000 for r in rows)


def test_hostile_login_input_is_answered_clearly(tmp_path: Path) -> None:
    """Bad input at the console's login (issue 15): a NUL in the name, a 10 000-character name, a 60 KB
    password, a garbage X-Forwarded-For, a case-changed name: each gets a clear Chinese answer (401, or
    429 once the address's limit is reached), never a 500, and nobody is logged in by it."""

    import httpx

    from console.app import create_app
    from console.peers import SERVER_OPTIONS
    from console.users import add_user
    from simulators.server import serving
    from sync.ledger import Ledger

    ledger = Ledger.connect(f"sqlite:///{tmp_path}/ledger.db")
    add_user(ledger, "admin", "a long enough passphrase", "admin")
    cases = [
        ({"username": "\x00admin", "password": "a long enough passphrase"}, {}),
        ({"username": "A" * 10_000, "password": "x"}, {}),
        ({"username": "admin", "password": "p" * 60_000}, {}),
        ({"username": "admin", "password": "wrong"}, {"X-Forwarded-For": "<script>, 999.1.1.1, ::ffff:1"}),
        ({"username": "ADMIN", "password": "wrong"}, {"X-Forwarded-Proto": "gopher"}),
    ]
    try:
        with serving(create_app(ledger), **SERVER_OPTIONS) as server, httpx.Client(base_url=server.url) as c:
            for form, headers in cases:
                token = csrf_of(c.get("/login").text)
                r = c.post("/login", data={**form, "csrf": token}, headers=headers)
                assert r.status_code in (401, 429), (form["username"][:10], r.status_code)
                assert "用户名或密码错误" in r.text or "登录尝试过多" in r.text
                assert "set-cookie" not in r.headers or "zhifa_console" in r.headers["set-cookie"]
            assert c.get("/").status_code == 303  # still not logged in
        assert all("<script>" not in str(a["detail"]) for a in ledger.audit())
    finally:
        ledger.close()
