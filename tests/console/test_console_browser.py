"""The operator console in a real browser (headless Chromium): what an operator sees and clicks.

Screenshots of each page at 1366×768 go to ``test-artifacts/console/`` for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from console.app import create_app
from console.users import add_user
from simulators.server import serving
from sync.ledger import Ledger
from tests.support.browser import ARTIFACTS
from tests.support.console import ID_MASKED, ID_NO, PASSWORD, SETTINGS, XSS, Seeded, csrf_of, seed

pytestmark = pytest.mark.browser


@dataclass
class Site:
    url: str
    ledger: Ledger
    seeded: Seeded


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ledger = Ledger.connect(f"sqlite:///{tmp_path_factory.mktemp('console-browser')}/ledger.db")
    for name, role in (("op", "operator"), ("viewer", "viewer")):
        add_user(ledger, name, PASSWORD, role)
    seeded = seed(ledger)
    with serving(create_app(ledger, SETTINGS)) as server:
        yield Site(server.url, ledger, seeded)
    ledger.close()


def login(browser: Browser, site: Site, username: str) -> Page:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{site.url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("总览")
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def state_of(site: Site, failure_id: int) -> str:
    failure = site.ledger.get_failure(failure_id)
    assert failure is not None
    return str(failure["state"])


def test_operator_filters_by_kind_opens_a_masked_failure_and_retries_it(browser: Browser, site: Site) -> None:
    """Filter to 目标拒收, open the failure: ID masked, the target's message shown; 重试 makes it 待重试."""
    page = login(browser, site, "op")
    shot(page, "overview")
    page.click("text=同步失败")
    expect(page.locator("h1")).to_have_text("同步失败")
    shot(page, "failures")
    page.select_option("select[name=error_kind]", "rejected")
    page.click("text=查询")
    rows = page.locator("table.failures tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator(".badge").first).to_have_text("目标拒收")
    shot(page, "failures-filtered")

    rows.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text(f"同步失败 #{site.seeded.rejected_id}")
    html = page.content()
    assert ID_NO not in html
    assert ID_MASKED in html
    expect(page.locator("pre.box").filter(has_text='"code": "4002"')).to_contain_text("与登记信息不符")
    expect(page.locator(".advice h2")).to_contain_text("目标系统")
    shot(page, "failure-detail")

    page.get_by_role("button", name="重试").click()
    expect(page.locator(".flash")).to_contain_text("已加入重试队列")
    expect(page.locator("h1 .badge").first).to_have_text("待重试")
    assert state_of(site, site.seeded.rejected_id) == "retry"
    page.click("text=← 返回列表")
    expect(page.locator("select[name=error_kind]")).to_have_value(
        "rejected"
    )  # the list comes back as filtered
    page.context.close()


def test_operator_resolves_with_a_note_and_finds_it_in_the_audit(browser: Browser, site: Site) -> None:
    """标记为已解决 with a note; the audit page shows who did it, when and the note."""
    page = login(browser, site, "op")
    page.goto(f"{site.url}/failures/{site.seeded.validation_id}")
    page.fill("#note", "已在市系统手工补录")
    page.get_by_role("button", name="标记为已解决").click()
    expect(page.locator("h1 .badge").first).to_have_text("已解决")
    expect(page.locator("table.facts")).to_contain_text("已在市系统手工补录")
    page.click("text=审计")
    row = page.locator("table.audit tbody tr").filter(has_text=f"#{site.seeded.validation_id}")
    expect(row).to_contain_text("op")
    expect(row).to_contain_text("标记已解决")
    expect(row).to_contain_text("已在市系统手工补录")
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", row.inner_text())
    shot(page, "audit")
    page.click("text=运行记录")
    expect(page.locator("table.grid tbody tr")).to_have_count(2)
    shot(page, "runs")
    page.click("text=待映射")
    expect(page.locator("body")).to_contain_text("E0123")
    shot(page, "unmapped")
    page.context.close()


def test_viewer_has_no_buttons_and_forged_posts_are_refused(browser: Browser, site: Site) -> None:
    """A viewer sees no action buttons; POSTs made by hand with a session but no valid token get 403."""
    fid = site.seeded.transient_id
    page = login(browser, site, "viewer")
    page.goto(f"{site.url}/failures/{fid}")
    expect(page.locator("h1")).to_contain_text(f"#{fid}")
    expect(page.locator("form[action^='/failures/']")).to_have_count(0)
    expect(page.get_by_role("button", name="重试")).to_have_count(0)
    expect(page.get_by_role("button", name="标记为已解决")).to_have_count(0)
    shot(page, "failure-detail-viewer")
    viewer_cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    token = csrf_of(page.content())  # the viewer's own valid token (from the logout form)

    operator = login(browser, site, "op")
    operator_cookies = {c["name"]: c["value"] for c in operator.context.cookies()}
    attempts = [
        (viewer_cookies, {}),  # no token
        (viewer_cookies, {"csrf": token}),  # valid token, but a viewer may not act
        (operator_cookies, {}),  # an operator's session without a token (a cross-site form)
        (operator_cookies, {"csrf": token}),  # someone else's token
    ]
    with httpx.Client(base_url=site.url, follow_redirects=False) as client:
        for cookies, data in attempts:
            client.cookies.clear()
            client.cookies.update(cookies)
            r = client.post(f"/failures/{fid}/resolve", data={"note": "伪造的请求", **data})
            assert r.status_code == 403, data
    assert state_of(site, fid) == "open"
    page.context.close()
    operator.context.close()


def test_script_in_a_record_field_is_shown_as_text(browser: Browser, site: Site) -> None:
    """A party name ``<script>alert(1)</script>`` shows as those characters and runs nothing."""
    page = login(browser, site, "op")
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(f"{site.url}/failures?q=P-1004")
    expect(page.get_by_text(XSS).first).to_be_visible()
    page.goto(f"{site.url}/failures/{site.seeded.xss_id}")
    expect(page.get_by_text(XSS).first).to_be_visible()
    expect(page.locator("pre.msg")).to_contain_text(XSS)
    assert dialogs == []
    page.context.close()


def test_login_page_and_wrong_password(browser: Browser, site: Site) -> None:
    """The login page is in Chinese and a wrong password says so without saying which part was wrong."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{site.url}/failures")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ffailures$"))
    shot(page, "login")
    page.fill("#username", "op")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_have_text("用户名或密码错误。")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("同步失败")  # back to the page asked for
    context.close()
