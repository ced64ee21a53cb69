"""The failure page and search (issue 18 items 12 and 13): 发送内容 only when something was sent, a bad
record's offending fields as a table above the raw JSON, and search that folds 文号 brackets as linking."""

from __future__ import annotations

import json
from typing import Any

from connectors.contract.states import AuditAction, label
from tests.support.console import ID_MASKED, ID_NO, Console, add_failure


def _bad_person(console: Console) -> int:
    """A penalty whose 身份证号 has a wrong check character, logged as the engine did before: the
    unmapped source record kept as its "payload"."""
    record: dict[str, Any] = {
        "id": "P-3001",
        "decision_no": "（滨海）应急简罚〔2025〕127号",
        "party": {"type": "2", "name": "李四", "id_type": "SFZ", "id_no": ID_NO[:-1] + "1"},
        "fine_yuan": "200.00",
    }
    return add_failure(
        console.ledger,
        "P-3001",
        target="credit",
        error_kind="validation",
        stage="validate",
        doc_no=record["decision_no"],
        party_name="李四",
        message=f"记录 P-3001 数据不合规: party: party.id_no: 身份证号 {ID_NO[:-1]}1 校验位错误; fine_yuan: 不能小于 0",
        payload=json.dumps(record, ensure_ascii=False),
        record=record,
    )


def test_a_bad_record_shows_its_fields_not_a_payload_that_was_never_sent(console: Console) -> None:
    failure_id = _bad_person(console)
    html = console.login("viewer").get(f"/failures/{failure_id}").text
    assert "没有发送任何内容" in html and "「校验」环节失败" in html
    table = html.index("不合规的字段")
    assert table < html.index("<h2>来源记录</h2>")  # the table above the raw JSON
    assert "证件号码" in html and "罚款金额 (元)" in html  # fields in Chinese
    assert "身份证号" in html and "校验位错误" in html  # the rule
    assert ID_NO[:-1] not in html and ID_MASKED[:-1] in html  # the value, masked
    assert html[table:].index("200.00") < html[table:].index("<h2>来源记录</h2>")


def test_a_pushed_record_still_shows_what_was_sent(console: Console) -> None:
    html = console.login("viewer").get(f"/failures/{console.seeded.rejected_id}").text
    assert "没有发送任何内容" not in html
    assert "CFJDSWH" in html and "不合规的字段" not in html


def test_search_folds_the_brackets_of_a_decision_number(console: Console) -> None:
    _bad_person(console)
    client = console.login("viewer")
    for typed in (
        "（滨海）应急简罚〔2025〕127号",
        "(滨海)应急简罚[2025]127号",
        "应急简罚[2025]127号",
        "简罚【2025】127",
    ):
        html = client.get("/failures", params={"q": typed}).text
        assert "P-3001" in html, typed


def test_the_audit_page_translates_every_action(console: Console) -> None:
    for action in AuditAction:
        console.ledger.add_audit("zhifa-sync", action, "细节")
    html = console.login("admin").get("/audit").text
    for action in AuditAction:
        assert label(AuditAction, action) in html
        if "_" in action:
            assert action.value not in html, action
