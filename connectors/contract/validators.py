"""Identifier checks: 统一社会信用代码 (GB 32100), 居民身份证号 (GB 11643), region codes, and masking.

python-stdnum's ``cn.uscc`` rejects valid codes whose first character is A, N or Y (registration
authorities that GB 32100 allows), so the USCC check is written out here. For 身份证 we use stdnum's
``cn.ric`` check character (ISO 7064 MOD 11-2) and birth date, but not its birth-place table: that
table lags behind new districts (it rejects every number from 120116 滨海新区).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_FIRST = set("123456789ANY")
_REGION_RE = re.compile(r"^[1-9]\d{5}$")


@lru_cache(maxsize=8192)  # a district's enterprises recur in record after record
def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid 统一社会信用代码, or None when it is."""
    if len(code) != 18:
        return f"应为18位, 实际{len(code)}位"
    bad = sorted({c for c in code if c not in USCC_ALPHABET})
    if bad:
        return f"含非法字符 {''.join(bad)}"
    if code[0] not in _USCC_FIRST:
        return f"登记管理部门代码 {code[0]} 无效"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(code, _USCC_WEIGHTS, strict=False))
    expected = USCC_ALPHABET[(31 - total % 31) % 31]
    if code[17] != expected:
        return f"校验位错误 (应为 {expected})"
    return None


def id_card_problem(number: str) -> str | None:
    """Why ``number`` is not a valid 居民身份证号 (GB 11643), or None when it is."""
    if len(number) != 18:
        return f"应为18位, 实际{len(number)}位"
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return "应为17位数字加一位校验位 (数字或X)"
    if number[17] != ric.calc_check_digit(number):
        return "校验位错误"
    try:
        ric.get_birth_date(number)
    except StdnumError:
        return "出生日期无效"
    return None


def region_problem(code: str) -> str | None:
    return None if _REGION_RE.match(code) else "行政区划代码应为6位数字"


def mask_id(number: str) -> str:
    """``120101199001011234`` → ``1201**********1234``."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


# A 身份证号 typed with a wrong check character, standing on its own: masked too (still someone's ID).
_ID_LIKE = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
# Where a valid one may hide: any run of 18 or more digits (and X), glued to letters (``ID1201…``,
# ``%3D1201…``) or inside a longer number; every 18-character window of it is checked.
_DIGIT_RUN = re.compile(r"[0-9Xx]{18,}")


def _valid_id_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for run in _DIGIT_RUN.finditer(text):
        digits = run.group(0).upper()
        for i in range(len(digits) - 17):
            if id_card_problem(digits[i : i + 18]) is None:
                spans.append((run.start() + i, run.start() + i + 18))
    return spans


def _mask_shaped(m: re.Match[str]) -> str:
    number = m.group(0)
    return number if uscc_problem(number.upper()) is None else mask_id(number)


def mask_text(text: str) -> str:
    """Mask every 身份证号 in free text (log lines, error messages, payloads, pages).

    Every valid GB 11643 number is masked wherever it stands: glued to letters, after ``%3D``, inside
    a longer run of digits, and also when it happens to pass the GB 32100 check as well (about 1 in 31
    do: masking a code costs nothing, showing a person's number is a breach). A 身份证号-shaped number
    with a wrong check character is masked too, unless it is a valid 统一社会信用代码.
    """
    if len(text) < 18:
        return text
    chars = list(_ID_LIKE.sub(_mask_shaped, text))
    for start, end in _valid_id_spans(text):
        chars[start + 4 : end - 4] = "*" * 10
    return "".join(chars)


# C0 control characters no field may hold: NUL always; tab and newline (LF, or CRLF) are text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]|\r(?!\n)")
_CONTROL_NAMES = {"\x00": "NUL", "\r": "CR", "\x1b": "ESC", "\x08": "BS", "\x0b": "VT", "\x0c": "FF"}


def control_char_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored or sent (a NUL or another C0 control character), or None.

    PostgreSQL refuses NUL in text, and the targets' databases cut strings at it; the other C0
    characters (ESC, BS, a lone CR, …) are never part of a name, a number or a note.
    """
    found = _CONTROL_RE.search(text)
    if found is None:
        return None
    char = found.group(0)
    name = _CONTROL_NAMES.get(char)
    return f"含有控制字符{' ' + name if name else ''} (\\u{ord(char):04x}, 第{found.start() + 1}个字符)"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as ``\\uXXXX`` text: what an operator is shown,
    and what the ledger keeps, of a value that failed ``control_char_problem``."""
    return _CONTROL_RE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def to_halfwidth(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


_BRACKETS = str.maketrans(
    {"〔": "[", "〕": "]", "【": "[", "】": "]", "［": "[", "］": "]", "（": "(", "）": ")"}
)


# A year in any bracket pair: 〔〕 [] （） () 【】 ［］ (after folding to half width, only [] and ()).
_YEAR_IN_BRACKETS = re.compile(r"[\[(](\d{4})[\])]")


def normalize_decision_no(number: str) -> str:
    """Compare decision numbers typed with different brackets, widths and spaces as one.

    Used only for linking (natural keys, look-ups): the text written to a target stays as typed.
    Every year bracket becomes ``[YYYY]`` (``津滨应急罚（2025）12号`` and ``津滨应急罚〔2025〕12号`` are
    one decision); other parentheses, such as an agency's ``（滨海）``, fold to ``()``.
    """
    text = re.sub(r"\s+", "", to_halfwidth(number).translate(_BRACKETS))
    return _YEAR_IN_BRACKETS.sub(r"[\1]", text).upper()
