"""The canonical model: field-level validation messages, amounts, normalisation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.contract.errors import RecordInvalid
from connectors.contract.records import parse_record
from tests.support.records import PENALTY, changed_penalty, parse_penalty


def errors_of(raw: Any) -> dict[str, str]:
    with pytest.raises(RecordInvalid) as info:
        parse_record("penalty", raw)
    return {e.field: e.message for e in info.value.errors}


def test_valid_penalty_is_trimmed_and_amounts_are_decimal() -> None:
    """Names and numbers are trimmed; amounts are Decimal with two places."""
    p = parse_penalty(PENALTY)
    assert p.decision_no == "（滨海）应急罚〔2021〕45号"
    assert p.fine_yuan == Decimal("30000.00") and isinstance(p.fine_yuan, Decimal)


def test_bad_uscc_names_the_field_and_the_value() -> None:
    """A wrong check character is reported on party with the code."""
    errs = errors_of(changed_penalty(**{"party.uscc": "91120116MA05K1XY3C"}))
    assert "91120116MA05K1XY3C" in errs["party"] and "校验位" in errs["party"]


def test_fine_of_zero_with_fine_type_is_invalid() -> None:
    """罚款 among the types needs a positive fine."""
    errs = errors_of(changed_penalty(fine_yuan="0"))
    assert any("罚款" in m for m in errs.values())


def test_fewer_than_two_officers_is_invalid() -> None:
    """两名以上执法人员."""
    assert "两名" in errors_of(changed_penalty(officers=["u1024"]))["officers"]


def test_every_missing_field_is_listed() -> None:
    """All problems at once, each with its field."""
    raw = changed_penalty()
    del raw["decision_no"], raw["basis"]
    errs = errors_of(raw)
    assert errs["decision_no"] == "必填字段缺失" and errs["basis"] == "必填字段缺失"


@pytest.mark.parametrize("amount", ["3万元", "3.5 万", "abc", "30,00", 30000.5, "NaN"])
def test_amounts_with_two_meanings_are_refused_with_the_value(amount: Any) -> None:
    """万元 in a 元 field, garbage and floats are not guessed at."""
    assert "fine_yuan" in errors_of(changed_penalty(fine_yuan=amount))


@pytest.mark.parametrize("amount", ["30,000.00", "30000元", "３００００.００", " 30000 ", 30000])
def test_amounts_with_one_meaning_are_normalised(amount: Any) -> None:
    """Thousands separators, a trailing 元 and full-width digits are read as the amount they are."""
    assert parse_penalty(changed_penalty(fine_yuan=amount)).fine_yuan == Decimal("30000.00")


def test_dates_with_full_width_digits_are_read_and_other_formats_refused() -> None:
    """２０２１-０６-２０ is a date; 2021/06/20 and 2021年6月20日 are named as wrong format."""
    assert str(parse_penalty(changed_penalty(decided_on="２０２１-０６-２０")).decided_on) == "2021-06-20"
    for text in ("2021/06/20", "2021年6月20日", "20210620"):
        assert "yyyy-MM-dd" in errors_of(changed_penalty(decided_on=text))["decided_on"]


def test_overlong_text_and_garbled_bytes_are_named_in_chinese() -> None:
    """A 3,000-character 违法事实 and replacement characters from non-UTF-8 bytes fail their fields."""
    errs = errors_of(changed_penalty(facts="经查" * 1500, violation="未按规定\ufffd\ufffd培训"))
    assert errs["facts"] == "过长: 最多 2000 字"
    assert "UTF-8" in errs["violation"]


def test_natural_person_id_is_checked_and_masked_in_the_message() -> None:
    """A wrong 身份证 check digit is reported without showing the number."""
    raw = changed_penalty(
        party={
            "type": "2",
            "name": "张三",
            "uscc": None,
            "legal_rep": None,
            "id_type": "SFZ",
            "id_no": "110105194912310021",
        }
    )
    errs = errors_of(raw)
    message = " ".join(errs.values())
    assert "校验位" in message and "110105194912310021" not in message and "1101**********0021" in message


def test_id_number_final_x_is_upper_cased() -> None:
    raw = changed_penalty(
        party={"type": "2", "name": "张三", "id_type": "SFZ", "id_no": "11010519491231002x"}
    )
    assert parse_penalty(raw).party.id_no == "11010519491231002X"


def test_not_an_object() -> None:
    """JSON that is not an object is a clear record error."""
    assert "JSON 对象" in errors_of(["not", "a", "record"])["(记录)"]


def test_inspection_dates_and_region() -> None:
    """Bad time formats and region codes are named."""
    raw = {
        "id": "JC1",
        "status": "submitted",
        "enterprise": {"name": "x", "uscc": "91120116MA05K1XY35", "region_code": "12011"},
        "item_code": "QZJC-0005",
        "inspection_type": "02",
        "started_at": "2021/06/01",
        "ended_at": "2021-06-01 11:00:00",
        "officers": ["a", "b"],
        "result": "1",
        "updated_at": "2021-06-01 11:05:12",
    }
    with pytest.raises(RecordInvalid) as info:
        parse_record("inspection", raw)
    fields = {e.field for e in info.value.errors}
    assert fields == {"enterprise.region_code", "started_at"}


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("party.name", "天津\u0000测试有限公司", "NUL (\\u0000, 第3个字符)"),
        ("facts", "经查\x1b[31m属实", "ESC (\\u001b"),
        ("violation", "未按规定\r培训", "CR (\\u000d"),
        ("decision_no", "（滨海）应急罚\x08〔2021〕45号", "BS (\\u0008"),
        ("id", "CF\x0045", "NUL"),
        ("officers", ["u1024", "u2\x0048"], "NUL"),
    ],
)
def test_control_characters_fail_the_field_they_are_in(field: str, value: Any, shown: str) -> None:
    """A NUL (PostgreSQL refuses it, the targets cut strings at it) or another C0 control character is
    a validation error naming the field, in Chinese, with the character written out."""
    errs = errors_of(changed_penalty(**{field: value}))
    (name,) = [f for f in errs if f.startswith(field)]
    assert shown in errs[name] and "控制字符" in errs[name], errs
    assert "\x00" not in errs[name]


def test_tabs_and_newlines_in_text_are_text() -> None:
    """Tab, LF and CRLF are part of a multi-line 违法事实: they pass."""
    record = parse_penalty(changed_penalty(facts="经查:\r\n1. 未培训;\n2.\t未记录"))
    assert record.facts == "经查:\r\n1. 未培训;\n2.\t未记录"


def test_a_nul_in_a_credit_event_fails_it() -> None:
    """Flow 4's events are checked the same way (their own model)."""
    with pytest.raises(RecordInvalid) as info:
        parse_record(
            "credit_event",
            {
                "eventId": "E\x001",
                "type": "REPAIRED",
                "uscc": "91120116MA05K1XY35",
                "occurredAt": "2025-03-02T10:00:00+08:00",
            },
        )
    assert info.value.record_id == "E\\u00001"
    assert "NUL" in str(info.value)
