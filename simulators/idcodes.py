"""Identifier checks the simulated platforms apply: 统一社会信用代码 (GB 32100) and 居民身份证号 (GB 11643).

Written here from the standards themselves, not shared with the daemon, so that a misreading on one
side is caught by the other.
"""

from __future__ import annotations

import re

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# First character: the registration authority, 1–9, A, N or Y (python-stdnum wrongly refuses A/N/Y).
_USCC_RE = re.compile(r"[1-9ANY][0-9ABCDEFGHJKLMNPQRTUWXY]{17}")

_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_RIC_CHECK = "10X98765432"
_RIC_RE = re.compile(r"\d{17}[\dX]")


def is_uscc(code: str) -> bool:
    """True for a well-formed 18-character USCC whose check character is right."""
    if not _USCC_RE.fullmatch(code):
        return False
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS, strict=True))
    return code[17] == _USCC_ALPHABET[(31 - total % 31) % 31]


def is_ric(number: str) -> bool:
    """True for an 18-digit 身份证号 passing ISO 7064 MOD 11-2 (the check ``X`` must be upper case)."""
    if not _RIC_RE.fullmatch(number):
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], _RIC_WEIGHTS, strict=True))
    return number[17] == _RIC_CHECK[total % 11]
