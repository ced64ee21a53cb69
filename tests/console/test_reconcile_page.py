"""The 对账 page: the last reconciliation of each pipeline, in Chinese, linked from the menu."""

from __future__ import annotations

from sync.ledger.reconcile import FindingRow, RunTotals
from tests.support.console import Console


def test_reconcile_page_shows_the_last_run_per_pipeline(console: Console) -> None:
    ledger = console.ledger
    old = ledger.start_reconcile("district-penalties", None, False)
    ledger.finish_reconcile(
        old, [FindingRow("credit", "penalty", "CF-OLD", "missing", "旧的")], RunTotals("ok", 3, 0)
    )
    run = ledger.start_reconcile("district-penalties", None, True)
    found = [
        FindingRow(
            "credit", "penalty", "CF2025000007", "missing", "账本记为已同步, 目标系统中没有该记录", True
        ),
        FindingRow("municipal", "penalty", "CF2025000009", "diverged", "字段与推送内容不一致: wfss"),
        FindingRow(
            "municipal", "penalty", "CF2025000011", "extra", "来源系统中没有该记录 (不会自动删除, 请人工核实)"
        ),
    ]
    ledger.finish_reconcile(run, found, RunTotals("ok", 14, 1))

    client = console.login("viewer")
    html = client.get("/reconcile").text
    assert 'href="/reconcile"' in html and "对账" in html
    for word in (
        "缺失",
        "版本落后",
        "多余",
        "内容不一致",
        "已补推",
        "CF2025000009",
        "来源记录 14 条",
        "发现问题 3 条",
    ):
        assert word in html, word
    assert "CF-OLD" not in html  # only the last run
    # every finding names a record of the pipeline's source: its id leads to the record's trace
    for sid in ("CF2025000007", "CF2025000009", "CF2025000011"):
        assert f'href="/trace?system=district&amp;kind=penalty&amp;id={sid}"' in html, sid
    assert (
        client.get(
            "/trace", params={"system": "district", "kind": "penalty", "id": "CF2025000009"}
        ).status_code
        == 200
    )
    assert console.client().get("/reconcile").status_code in (302, 303)  # login required
