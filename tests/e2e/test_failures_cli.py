"""``failures list`` / ``show`` / ``--search`` as an operator pastes them (issue 18 items 11, 12, 13):
one vocabulary with ``status`` and the console, 处理建议, a readable layout, 文号 search that folds
brackets as linking does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.cli import run_cli
from tests.support.stack import Stack, make_stack


@dataclass
class Failed:
    stack: Stack
    failures: list[dict[str, Any]]


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Failed]:
    """A real sync in which four records fail validation (wrong 统一社会信用代码 check characters)."""
    with (
        pytest.MonkeyPatch.context() as mp,
        make_stack(
            tmp_path_factory.mktemp("fcli"), mp, inspections=60, penalties=12, seed=11, bad_records=4
        ) as stack,
    ):
        stack.run()
        app = stack.app()
        try:
            rows, _ = app.ledger.query_failures(limit=50)
        finally:
            app.close()
        assert len(rows) >= 4
        yield Failed(stack, rows)


def test_list_says_the_kind_as_status_does(failed: Failed) -> None:
    listed = run_cli(failed.stack.config_path, "failures", "list")
    status = run_cli(failed.stack.config_path, "status")
    assert listed.returncode == 0 and status.returncode == 0, listed.stderr + status.stderr
    assert "数据不合规" in listed.stdout and "数据不合规" in status.stdout
    assert "validation" not in listed.stdout and "open" not in listed.stdout


def test_show_is_chinese_readable_and_advises(failed: Failed) -> None:
    f = failed.failures[0]
    shown = run_cli(failed.stack.config_path, "failures", "show", str(f["id"]))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    for english in ("source_id", "state ", "error_kind", "stage ", "payload", "record "):
        assert english not in out
    assert "类别" in out and "数据不合规" in out and "出错环节" in out
    assert "处理建议: 在区平台更正来源记录" in out
    assert "不合规的字段" in out and "统一社会信用代码" in out and "校验位错误" in out
    assert "发送内容: 无" in out  # nothing was sent for a record that failed validation
    first_line_of_json = next(i for i, line in enumerate(out.splitlines()) if line.strip() == "{")
    assert out.splitlines()[first_line_of_json - 1] == "来源记录"  # indented JSON, labelled


def test_search_finds_a_decision_number_whatever_its_brackets(failed: Failed) -> None:
    with_doc = [f for f in failed.failures if f["doc_no"] and "〔" in f["doc_no"]]
    assert with_doc
    doc_no = with_doc[0]["doc_no"]
    typed = doc_no.replace("〔", "[").replace("〕", "]").replace("（", "(").replace("）", ")")
    found = {}
    for text in (doc_no, typed, typed.split(")", 1)[1]):
        listed = run_cli(failed.stack.config_path, "failures", "list", "--search", text)
        assert listed.returncode == 0, listed.stderr
        found[text] = listed.stdout.splitlines()[-1]
    assert len(set(found.values())) == 1 and "共 0 条" not in found[doc_no], found
