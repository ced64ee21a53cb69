"""Words shown to people match what the code emits (issue 18 item 15): the metrics table in
docs/operations.md lists every outcome ``zhifa_records_total`` uses; the report cites the interface
descriptions under docs/, never the working notes' ``platforms/`` files."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.contract.states import FIELD_LABELS, LABELS, Action, field_label

REPO = Path(__file__).resolve().parents[2]


def test_the_metrics_table_lists_every_outcome() -> None:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `zhifa_records_total"))
    listed = set(re.findall(r"[a-z]+", row.split("|")[2]))
    assert {a.value for a in Action} <= listed, {a.value for a in Action} - listed


def test_the_report_cites_no_working_notes() -> None:
    for path in (REPO / "sync" / "report").glob("*.py"):
        assert "platforms/" not in path.read_text(encoding="utf-8"), path


def test_every_state_has_a_word_and_fields_have_names() -> None:
    for enum, words in LABELS.items():
        assert set(words) == {m.value for m in enum}, enum
    assert field_label("party.id_no") == "证件号码"
    assert field_label("officers.1") == "执法人员 第2项"
    assert field_label("no_such") == "no_such"
    assert all(FIELD_LABELS.values())
