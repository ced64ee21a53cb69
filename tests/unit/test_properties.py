"""Property-based tests (hypothesis) of the parts every record goes through: decision-number
normalisation, amount parsing, and the mapping-file parser."""

from __future__ import annotations

import csv
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from connectors.contract.mapping import TABLES, Problem
from connectors.contract.records import _parse_amount
from connectors.contract.validators import normalize_decision_no
from sync.mapping.files import load_table

FULLWIDTH = str.maketrans("0123456789()", "０１２３４５６７８９（）")
agency = st.sampled_from(["滨海", "津滨", "塘沽", "汉沽", "大港"])
year = st.integers(2000, 2099)
number = st.integers(1, 9999)
brackets = st.sampled_from([("〔", "〕"), ("[", "]"), ("【", "】"), ("［", "］")])


@given(agency, year, number, brackets, brackets, st.booleans(), st.booleans())
def test_decision_numbers_typed_differently_compare_equal(
    name: str, y: int, n: int, b1: tuple[str, str], b2: tuple[str, str], wide: bool, spaced: bool
) -> None:
    """Any bracket form, full-width digits/parentheses or spaces: the same decision number."""
    canonical = f"（{name}）应急罚{b1[0]}{y}{b1[1]}{n}号"
    typed = f"({name})应急罚{b2[0]}{y}{b2[1]}{n}号"
    if wide:
        typed = typed.translate(FULLWIDTH)
    if spaced:
        typed = " ".join(typed)
    assert normalize_decision_no(typed) == normalize_decision_no(canonical)
    assert normalize_decision_no(normalize_decision_no(typed)) == normalize_decision_no(typed)


year_brackets = st.sampled_from(
    [("〔", "〕"), ("[", "]"), ("（", "）"), ("(", ")"), ("【", "】"), ("［", "］")]
)
padding = st.sampled_from(["", " ", "\u3000", "  "])


@given(agency, year, number, year_brackets, year_brackets, padding, padding, st.booleans())
def test_every_year_bracket_is_the_same_decision(
    name: str,
    y: int,
    n: int,
    b1: tuple[str, str],
    b2: tuple[str, str],
    inside: str,
    outside: str,
    wide: bool,
) -> None:
    """〔〕 [] （） () 【】 ［］ around the year, full or half width, spaced or not: one decision."""
    canonical = f"津滨应急罚{b1[0]}{y}{b1[1]}{n}号"
    typed = f"津滨应急罚{outside}{b2[0]}{inside}{y}{inside}{b2[1]}{outside}{n}号"
    if wide:
        typed = typed.translate(FULLWIDTH)
    assert normalize_decision_no(typed) == normalize_decision_no(canonical)
    assert normalize_decision_no(f"（{name}）应急罚（{y}）{n}号") == normalize_decision_no(
        f"({name})应急罚〔{y}〕{n}号"
    )


@given(agency, year, number, year_brackets, year_brackets)
def test_year_brackets_never_merge_different_years_or_agencies(
    name: str, y: int, n: int, b1: tuple[str, str], b2: tuple[str, str]
) -> None:
    """Folding brackets keeps the year, the number and the agency apart."""
    a = normalize_decision_no(f"（{name}）应急罚{b1[0]}{y}{b1[1]}{n}号")
    assert a != normalize_decision_no(f"（{name}）应急罚{b2[0]}{y + 1}{b2[1]}{n}号")
    assert a != normalize_decision_no(f"（{name}）应急罚{b2[0]}{y}{b2[1]}{n + 1}号")
    assert a != normalize_decision_no(f"{name}应急罚{b2[0]}{y}{b2[1]}{n}号")


@given(agency, year, number, number)
def test_different_numbers_stay_different(name: str, y: int, n: int, m: int) -> None:
    """Normalising never makes two different decisions equal."""
    if n != m:
        assert normalize_decision_no(f"（{name}）应急罚〔{y}〕{n}号") != normalize_decision_no(
            f"（{name}）应急罚〔{y}〕{m}号"
        )


amounts = st.decimals(
    min_value=0, max_value=Decimal("99999999.99"), places=2, allow_nan=False, allow_infinity=False
)


@given(amounts, st.booleans(), st.booleans(), st.booleans())
def test_amount_written_any_harmless_way_parses_to_itself(
    amount: Decimal, commas: bool, yuan: bool, wide: bool
) -> None:
    """Thousands separators, a trailing 元 and full-width digits never change the amount read."""
    text = f"{amount:,.2f}" if commas else f"{amount:.2f}"
    if yuan:
        text += "元"
    if wide:
        text = text.translate(str.maketrans("0123456789.,", "０１２３４５６７８９．，"))
    assert _parse_amount(text) == amount


cell = (
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
SPEC = TABLES["officers"]


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(cell, st.tuples(cell, cell), min_size=1, max_size=15),
    st.sampled_from(["csv", "csv-bom", "xlsx"]),
)
def test_mapping_files_load_back_what_was_written(rows: dict[str, tuple[str, str]], form: str) -> None:
    """A table written as CSV (with or without BOM) or .xlsx loads back with exactly its rows, no problems.

    In .xlsx a text starting with "=" is a formula; we read what Excel saved as its value, and a file
    written by a program (as here) has none — so such cells are left out of the .xlsx form."""
    if form == "xlsx":
        rows = {k: v for k, v in rows.items() if not any(c.startswith("=") for c in (k, *v))}
    header = ["district_user_id", "name", "cert_no"]
    data = [[k, a, b] for k, (a, b) in rows.items()]
    with tempfile.TemporaryDirectory() as tmp:
        if form == "xlsx":
            path = Path(tmp) / "officers.xlsx"
            wb = Workbook()
            ws = wb.active
            assert ws is not None
            for row in [header, *data]:
                ws.append(row)
            wb.save(path)
        else:
            path = Path(tmp) / "officers.csv"
            with path.open("w", encoding="utf-8-sig" if form == "csv-bom" else "utf-8", newline="") as fh:
                csv.writer(fh).writerows([header, *data])
        problems: list[Problem] = []
        table = load_table(SPEC, path, problems)
    assert problems == []
    assert {k[0]: (r.values["name"], r.values["cert_no"]) for k, r in table.rows.items()} == rows


@given(st.lists(cell, min_size=2, max_size=8))
def test_every_repeated_key_is_reported_with_its_line(keys: list[str]) -> None:
    """However keys repeat, each repeat is one problem on its own line, and the first row wins."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "officers.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(
                [
                    ["district_user_id", "name", "cert_no"],
                    *[[k, f"n{i}", f"c{i}"] for i, k in enumerate(keys)],
                ]
            )
        problems: list[Problem] = []
        table = load_table(SPEC, path, problems)
    repeats = [i for i, k in enumerate(keys) if k in keys[:i]]
    assert sorted(p.line for p in problems) == [i + 2 for i in repeats]
    assert len(table.rows) == len(set(keys))
