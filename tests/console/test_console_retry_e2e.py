"""The whole loop an operator goes through, in a real browser over a real pipeline: a record parked for a
missing officer, the administrator fixes officers.csv, the operator presses 重试, and it is delivered."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from console.app import create_app
from console.users import add_user
from simulators.server import serving
from tests.support.browser import ARTIFACTS, CHROMIUM
from tests.support.checks import found
from tests.support.console import PASSWORD
from tests.support.stack import make_stack

pytestmark = pytest.mark.browser


def test_fix_the_mapping_press_retry_and_see_it_delivered(
    browser: Browser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the officer row is added back, 重试 in the console delivers the parked inspection."""
    assert CHROMIUM.exists()
    with make_stack(tmp_path, monkeypatch, inspections=40, penalties=0) as stack:
        officers = stack.mappings / "officers.csv"
        rows = list(csv.reader(officers.open(encoding="utf-8-sig")))
        used = Counter(u for r in stack.district.records("inspections") for u in r["officers"])
        victim = max(used, key=lambda u: used[u])
        with officers.open("w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows(r for r in rows if r[0] != victim)
        app = stack.app()
        try:
            app.run_once(["district-inspections"])
            (failure_id, *_) = app.ledger.failure_ids(error_kind="mapping")
            add_user(app.ledger, "op", PASSWORD, "operator")

            def retry_now(pipelines: list[str]) -> None:  # what the service does, synchronously
                for name in pipelines:
                    app.run_pipeline(name, retries_only=True)

            with serving(create_app(app.ledger, app.settings, retry_now=retry_now)) as server:
                page = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()
                page.goto(f"{server.url}/login")
                page.fill("#username", "op")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.goto(f"{server.url}/failures/{failure_id}")
                expect(page.locator("body")).to_contain_text("officers.csv")
                expect(page.locator("body")).to_contain_text(victim)
                expect(page.locator("body")).to_contain_text("待映射")

                with officers.open("w", encoding="utf-8-sig", newline="") as fh:  # the administrator's fix
                    csv.writer(fh).writerows(rows)
                page.get_by_role("button", name="重试").first.click()
                expect(page.locator("body")).to_contain_text("已解决")
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "retry-succeeded.png"))
            assert found(app.ledger.get_failure(failure_id))["state"] == "resolved"
            assert all(len(v) == 1 for v in stack.ours("jcjl").values())
            delivered = {r["id"] for r in stack.district.records("inspections") if r["status"] != "draft"}
            assert set(stack.ours("jcjl")) == delivered
        finally:
            app.close()
