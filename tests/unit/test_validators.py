"""Identifier validation, masking and decision-number normalisation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from connectors.contract.validators import (
    USCC_ALPHABET,
    id_card_problem,
    mask_id,
    mask_text,
    normalize_decision_no,
    uscc_problem,
)
from tests.support.ids import first_valid_id_passing_uscc, unmasked_ids, valid_ids

body = st.text(alphabet=USCC_ALPHABET, min_size=16, max_size=16)


@given(body)
def test_uscc_agrees_with_stdnum_for_codes_starting_with_9(rest: str) -> None:
    """For the codes python-stdnum handles, our check character is the same as its."""
    code17 = "9" + rest
    check = stdnum_uscc.calc_check_digit(code17)
    assert uscc_problem(code17 + check) is None
    wrong = USCC_ALPHABET[(USCC_ALPHABET.index(check) + 1) % 31]
    assert "校验位" in (uscc_problem(code17 + wrong) or "")


@given(st.sampled_from("ANY"), body)
def test_uscc_accepts_a_n_y_registration_authorities(first: str, rest: str) -> None:
    """Codes starting with A, N or Y are valid per GB 32100 (stdnum rejects them; we must not)."""
    check = stdnum_uscc.calc_check_digit(
        first + rest
    )  # the weighted sum does not depend on validity of char 1
    assert uscc_problem(first + rest + check) is None


def test_uscc_problems_are_specific() -> None:
    """Length, characters and authority code are each named."""
    assert "18位" in (uscc_problem("9112011") or "")
    assert "非法字符" in (uscc_problem("91120116MA05K1XYIO") or "")
    assert "登记管理部门" in (uscc_problem("B1120116MA05K1XY3B") or "")


def test_id_card_check_digit() -> None:
    """GB 11643: a real-format number passes, a wrong check character is named."""
    assert id_card_problem("11010519491231002X") is None
    assert id_card_problem("110105194912310021") == "校验位错误"
    assert id_card_problem("1101051949123100") is not None


def test_masking_in_free_text() -> None:
    """A 身份证号 inside any text is masked; a USCC is left alone."""
    assert mask_id("11010519491231002X") == "1101**********002X"
    text = "当事人 张三 证件 11010519491231002X, 单位 91120116MA05K1XY35"
    masked = mask_text(text)
    assert "11010519491231002X" not in masked
    assert "1101**********002X" in masked
    assert "91120116MA05K1XY35" in masked


def test_masking_covers_numbers_with_a_wrong_check_digit() -> None:
    """An ID number typed wrong is still personal data."""
    assert "110105194912310021" not in mask_text("证件 110105194912310021")


def test_decision_numbers_normalise_brackets_width_and_spaces() -> None:
    """The same 文号 typed with other brackets, full-width digits or spaces compares equal."""
    a = normalize_decision_no("（滨海）应急罚〔2021〕45号")
    assert a == normalize_decision_no("(滨海)应急罚[2021]45号")
    assert a == normalize_decision_no("（滨海） 应急罚【２０２１】４５号")
    assert a != normalize_decision_no("（滨海）应急罚〔2021〕46号")


def test_an_id_that_also_passes_the_uscc_check_is_masked() -> None:
    """The issue's number: a valid 身份证号 that is also a valid USCC is personal data first."""
    assert uscc_problem("120116199206059513") is None
    assert mask_text("120116199206059513") == "1201**********9513"
    other = first_valid_id_passing_uscc()
    assert other not in mask_text(f"证件 {other}")


def test_ids_glued_to_letters_after_percent_escapes_and_inside_longer_numbers_are_masked() -> None:
    number = "11010519491231002X"
    for text in (
        f"ID{number}",
        f"q%3D{number}&page=2",
        f"99{number}00",
        f'{{"zjhm":"{number}"}}',
        number.lower(),
    ):
        assert unmasked_ids(mask_text(text)) == [], text


CONTEXT = st.sampled_from(
    [
        ("", ""),
        ("证件号码 ", "。"),
        ("ID", "X"),
        ("/failures?q=", "&page=2"),
        ("q%3D", "%26"),
        ('{"DSR_ZJHM": "', '", "FKJE": "3000"}'),
        ("abc", "def"),
        ("7", "1234"),
        ("91120116MA05JD8N7C", "91120116MA05JD8N7C"),
        ("<td>", "</td>"),
        ("\t", "\n"),
    ]
)


@given(st.lists(st.tuples(CONTEXT, valid_ids), min_size=1, max_size=4), st.text(max_size=8))
@settings(max_examples=400)
def test_no_valid_id_survives_masking_in_any_context(
    parts: list[tuple[tuple[str, str], str]], glue: str
) -> None:
    """Property: whatever surrounds them, no valid 身份证号 is left in the masked text."""
    text = glue.join(before + number + after for (before, after), number in parts)
    masked = mask_text(text)
    assert unmasked_ids(masked) == []
    for _, number in parts:
        assert number not in masked
    assert len(masked) == len(text)
