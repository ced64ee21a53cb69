"""Steering a pipeline from the console: operators pause, resume, ask for a run and a re-read; viewers
see the state but cannot change it; every change is audited and read back from the ledger."""

from __future__ import annotations

from tests.support.console import Console, csrf_of

PIPE = "district-inspections"


def _post(console: Console, user: str, action: str, **data: str) -> tuple[int, str]:
    client = console.login(user)
    page = client.get(f"/runs?pipeline={PIPE}")
    r = client.post(f"/pipelines/{PIPE}/{action}", data={"csrf": csrf_of(page.text), **data})
    if r.status_code == 303:
        return r.status_code, client.get(r.headers["location"]).text
    return r.status_code, r.text


def test_operator_pauses_and_resumes_and_the_overview_says_so(console: Console) -> None:
    code, page = _post(console, "op", "pause", reason="市系统维护至周五")
    assert code == 303 and "已暂停" in page and "市系统维护至周五" in page
    assert console.ledger.control(PIPE).paused
    overview = console.login("viewer").get("/").text
    assert "已暂停" in overview
    code, page = _post(console, "op", "resume")
    assert code == 303 and not console.ledger.control(PIPE).paused
    actions = [(e["actor"], e["action"]) for e in console.ledger.audit(limit=5)]
    assert ("op", "pipeline_resume") in actions and ("op", "pipeline_pause") in actions


def test_run_now_and_reread_are_requests_in_the_ledger(console: Console) -> None:
    code, page = _post(console, "op", "run")
    assert code == 303 and "已请求立即运行" in page
    assert console.ledger.claim_run_requests() == [PIPE]
    code, page = _post(console, "op", "reread", since="2025-03-01")
    assert code == 303 and "2025-03-01" in page
    reread = console.ledger.control(PIPE).reread_from
    assert reread is not None and reread.strftime("%Y-%m-%d") == "2025-03-01"


def test_a_reread_outside_the_pipelines_window_or_garbage_is_refused(console: Console) -> None:
    for since, says in (
        ("1999-01-01", "不能从更早的"),
        ("2999-01-01", "还没有到来"),
        ("03/01/2025", "日期格式"),
    ):
        code, page = _post(console, "op", "reread", since=since)
        assert code == 303 and says in page, since
    assert console.ledger.control(PIPE).reread_from is None


def test_a_viewer_cannot_steer(console: Console) -> None:
    code, _ = _post(console, "viewer", "pause")
    assert code == 403
    assert not console.ledger.control(PIPE).paused
    page = console.login("viewer").get(f"/runs?pipeline={PIPE}").text
    assert "运行中" in page and "/pause" not in page


def test_an_unknown_pipeline_is_named(console: Console) -> None:
    client = console.login("op")
    page = client.get("/runs")
    r = client.post("/pipelines/nope/pause", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert "未知的管道: nope" in client.get(r.headers["location"]).text
