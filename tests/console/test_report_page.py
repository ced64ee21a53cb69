"""The 月度统计 console page and its workbook download, over the hand-counted ledger of
``tests/unit/test_report.py``; and one screenshot of the page over a month of realistic data."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import insert

from console.app import create_app
from simulators import datagen
from simulators.server import serving
from sync.ledger import Ledger
from sync.ledger.schema import deliveries, failures, records, runs
from tests.support.console import PASSWORD, SETTINGS, csrf_of
from tests.support.report_month import ID_NO, build


@pytest.fixture
def site(ledger: Ledger, users: None) -> Iterator[str]:
    build(ledger.engine)
    with serving(create_app(ledger, SETTINGS)) as server:
        yield server.url


@contextmanager
def login(url: str, username: str = "viewer") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as client:
        csrf = csrf_of(client.get("/login").text)
        r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf})
        assert r.status_code == 303, r.text
        yield client


def test_page_shows_the_months_figures_charts_and_overdue_list(site: str) -> None:
    """A viewer sees October's totals, three inline SVG charts, the overdue decisions; no script, no ID."""
    with login(site) as client:
        r = client.get("/report", params={"month": "2026-10"})
    assert r.status_code == 200
    html = r.text
    assert "2026年10月行政执法综合统计" in html
    assert 'value="2026-10"' in html and 'href="/report.xlsx?month=2026-10"' in html
    assert '<span class="n">4</span><span class="t">检查企业 (家次)</span>' in html
    assert '<span class="n">6.6735</span><span class="t">罚款 (万元)</span>' in html
    assert '<span class="n">40.0%</span>' in html  # on 11-22 P7 is overdue too: 2 / 5
    assert html.count("<svg") == 3 and "<script" not in html
    assert "（滨海）应急罚〔2026〕P8号" in html and "（滨海）应急罚〔2026〕P4号" in html
    assert "不可得" in html
    assert ID_NO not in html
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert 'href="/report" class="on">月度统计</a>' in html


def test_each_overdue_decision_leads_to_its_trace(site: str) -> None:
    """A row of the overdue list names a decision: its id links to the record's trace, which finds it."""
    with login(site) as client:
        html = client.get("/report", params={"month": "2026-10"}).text
        assert 'href="/trace?q=P8"' in html
        trace = client.get("/trace", params={"q": "P8"})
    assert trace.status_code == 200 and "<h2>行政处罚 P8</h2>" in trace.text
    assert "目标 credit: 未同步" in trace.text and 'href="/failures/' in trace.text  # its open failure


def test_a_bad_month_falls_back_to_last_month_with_a_warning(site: str) -> None:
    """``?month=abc`` shows a warning in Chinese and the previous month."""
    with login(site) as client:
        r = client.get("/report", params={"month": "abc"})
    assert r.status_code == 200
    assert "月份格式应为 年-月" in r.text


def test_workbook_download(site: str) -> None:
    """``/report.xlsx`` sends the workbook with a Chinese file name."""
    with login(site) as client:
        r = client.get("/report.xlsx", params={"month": "2026-10"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["汇总", "按部门", "时效", "逾期公示清单", "每日"]


def test_the_page_needs_a_login(site: str) -> None:
    """Without a session the page and the download redirect to the login page."""
    with httpx.Client(base_url=site, follow_redirects=False) as client:
        for path in ("/report", "/report.xlsx"):
            r = client.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login")


def seed_realistic_month(ledger: Ledger, year: int = 2026, month: int = 10) -> None:
    """A month of the simulators' data as the ledger would hold it: entries, deliveries, some late."""
    rng = random.Random(11)
    data = datagen.generate(seed=5, inspections=3000, penalties=300, year=year)
    prefix = f"{year}-{month:02d}"
    rows, dels, fails = [], [], []

    def t(text: str) -> datetime:
        return datetime.fromisoformat(text)

    kinds: list[tuple[str, list[dict[str, Any]], Callable[[dict[str, Any]], str]]] = [
        ("inspection", data.inspections, lambda r: r["started_at"]),
        ("penalty", data.penalties, lambda r: r["decided_on"] or ""),
    ]
    for kind, recs, day_of in kinds:
        for rec in recs:
            if not day_of(rec).startswith(prefix) or rec["status"] in ("draft", "filed"):
                continue
            updated = t(rec["updated_at"])
            seen = updated + timedelta(minutes=rng.randint(1, 10))
            rows.append({
                "system": "district", "kind": kind, "source_id": rec["id"], "status": rec["status"],
                "dept_code": rec["dept_code"], "event_date": t(day_of(rec)[:10]).date(), "source_updated_at": updated,
                "record_hash": "h", "body": json.dumps(rec, ensure_ascii=False), "first_seen": seen, "last_seen": seen,
            })  # fmt: skip
            if rec["status"] in ("void", "revoked"):
                continue
            targets = ["municipal"] + (
                ["credit"] if kind == "penalty" and rec["procedure"] == "general" else []
            )
            for target in targets:
                roll = rng.random()
                if roll < 0.03:
                    fails.append({
                        "pipeline": f"district-{kind}s", "system": "district", "kind": kind, "source_id": rec["id"],
                        "target": target, "stage": "push", "error_kind": "rejected", "message": "拒收", "attempts": 1,
                        "first_seen": seen, "last_seen": seen, "state": "open",
                    })  # fmt: skip
                    continue
                at = seen + (timedelta(days=rng.randint(8, 14)) if target == "credit" and roll < 0.12
                             else timedelta(minutes=rng.randint(0, 30)))  # fmt: skip
                dels.append({
                    "system": "district", "kind": kind, "source_id": rec["id"], "target": target, "state": "delivered",
                    "last_action": "created", "linked": False, "first_delivered_at": at, "delivered_at": at,
                    "updated_at": at,
                })  # fmt: skip
    with ledger.engine.begin() as conn:
        conn.execute(insert(records), rows)
        conn.execute(insert(deliveries), dels)
        if fails:
            conn.execute(insert(failures), fails)
        conn.execute(insert(runs).values(run_id="r0", pipeline="district-inspections",
                                         started_at=datetime(year, 1, 1), status="ok"))  # fmt: skip


@pytest.mark.browser
def test_screenshot_of_a_realistic_month(tmp_path: Path, users: None, ledger: Ledger) -> None:
    """Chromium renders the page (charts included) for a month of simulator data; a screenshot is saved."""
    pytest.importorskip("playwright")
    from playwright.sync_api import expect, sync_playwright

    from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip("浏览器测试需要 /usr/bin/chromium; 本机没有, 跳过")
    seed_realistic_month(ledger)
    with serving(create_app(ledger, SETTINGS)) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()
            page.goto(f"{server.url}/login")
            page.fill("#username", "viewer")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.click("text=月度统计")
            page.fill("input[name=month]", "2026-10")
            page.goto(f"{server.url}/report?month=2026-10")
            expect(page.locator("h1")).to_contain_text("月度统计")
            expect(page.locator("svg.chart")).to_have_count(3)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
