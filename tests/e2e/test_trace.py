"""Trace a record after a real sync through the simulators: the CLI and the console page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from console.app import create_app
from console.users import add_user
from simulators.server import serving
from tests.support.stack import Stack, make_stack
from tests.support.web import PASSWORD, csrf_of

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with make_stack(tmp_path, monkeypatch, inspections=20, penalties=12) as s:
        yield s


def _penalty(stack: Stack) -> dict:  # type: ignore[type-arg]
    ours = stack.ours("xzcf")
    return next(r for r in stack.district.records("penalties") if r["id"] in ours)


def test_cli_trace_by_decision_number_shows_versions_and_pushes(stack: Stack) -> None:
    """`zhifa-sync trace <文号>` (any bracket form) lists the version read and the push to municipal."""
    stack.run()
    rec = _penalty(stack)
    city_id = stack.ours("xzcf")[rec["id"]][0]["ajbh"]
    doc = rec["decision_no"].replace("〔", "[").replace("〕", "]")
    out = subprocess.run(
        [sys.executable, "-m", "zhifa_sync", "-c", str(stack.config_path), "trace", doc],
        capture_output=True, text=True, env=dict(os.environ), cwd=REPO, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert rec["id"] in out.stdout
    assert "版本" in out.stdout and "目标 municipal: 已同步" in out.stdout
    assert str(city_id) in out.stdout  # the target's id
    assert "发送:" in out.stdout and "应答:" in out.stdout


def test_console_trace_page_by_target_id(stack: Stack) -> None:
    """The console's /trace finds a record by its municipal id and shows state, attempts and payload."""
    stack.run()
    rec = _penalty(stack)
    city_id = str(stack.ours("xzcf")[rec["id"]][0]["ajbh"])
    app = stack.app()
    try:
        add_user(app.ledger, "op", "correct horse battery", "operator")
        web = create_app(app.ledger, app.settings)
        with serving(web) as server, httpx.Client(base_url=server.url, timeout=10) as c:
            login = c.get("/login")
            c.post("/login", data={"username": "op", "password": PASSWORD, "csrf": csrf_of(login.text)})
            page = c.get("/trace", params={"q": city_id})
            assert page.status_code == 200
            assert rec["id"] in page.text and "已同步" in page.text and "发送内容" in page.text
            assert 'action="/trace"' in c.get("/runs").text  # the search box on every page
    finally:
        app.close()
