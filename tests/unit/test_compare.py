"""How reconciliation compares a target's stored value with the one sent: spelling aside, the same."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from connectors.contract.compare import differing, same


@pytest.mark.parametrize(
    ("sent", "held"),
    [
        ("30000.00", 30000.0),  # the city returns amounts as JSON numbers
        (Decimal("1.50"), "1.5"),
        (3, "3"),
        (None, ""),
        (" 天津 ", "天津"),
        (date(2025, 6, 1), "2025-06-01"),
        (datetime(2025, 6, 1, 9, 30), "2025-06-01 09:30:00"),
    ],
)
def test_the_same_value_in_another_spelling_is_the_same(sent: object, held: object) -> None:
    assert same(sent, held)


@pytest.mark.parametrize(("sent", "held"), [("01", "1"), ("30000.00", 3000), ("张三", "李四"), ("x", None)])
def test_codes_and_changed_values_differ(sent: object, held: object) -> None:
    assert not same(sent, held)


def test_differing_names_only_the_changed_fields() -> None:
    sent = {"qymc": "天津滨港化工有限公司", "fkje": "30000.00", "jclx": "01"}
    held = {"qymc": "被改动", "fkje": 30000, "jclx": "01", "gxsj": "2025-06-01 10:00:00"}
    assert differing(sent, held) == ["qymc"]
    assert differing(sent, held, ["fkje"]) == []
