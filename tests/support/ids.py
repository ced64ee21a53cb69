"""Random valid 居民身份证号 (GB 11643) and a finder for any left unmasked in a text."""

from __future__ import annotations

import re
from datetime import date, timedelta

from hypothesis import strategies as st
from stdnum.cn import ric

from connectors.contract.validators import id_card_problem


def id_number(region: int, born: date, seq: int) -> str:
    body = f"{region:06d}{born:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


valid_ids = st.builds(
    id_number,
    st.integers(110000, 659999),
    st.dates(date(1900, 1, 1), date(2025, 12, 31)),
    st.integers(0, 999),
)

_RUN = re.compile(r"[0-9Xx]{18,}")


def unmasked_ids(text: str) -> list[str]:
    """Every 18-character run of ``text`` that is a valid 身份证号 (the sweep's criterion)."""
    found = []
    for run in _RUN.finditer(text):
        digits = run.group(0).upper()
        found += [
            digits[i : i + 18] for i in range(len(digits) - 17) if id_card_problem(digits[i : i + 18]) is None
        ]
    return found


def first_valid_id_passing_uscc(start: date = date(1990, 1, 1)) -> str:
    """A 身份证号 that is also a valid 统一社会信用代码 (about 1 in 31 are)."""
    from connectors.contract.validators import uscc_problem

    day = start
    while True:
        for seq in range(1000):
            number = id_number(120116, day, seq)
            if uscc_problem(number) is None:
                return number
        day += timedelta(days=1)
