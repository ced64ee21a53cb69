"""Which passwords the console refuses: too short, common, or trivial (issue 15 item 16).

The common list is bundled (``data/common-passwords.txt.gz``, see ``data/README.md``), as NIST SP
800-63B asks a verifier to check new passwords against values known to be commonly used; the rules
catch what no list holds: one character repeated, only spaces, the user name itself.
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; a cap keeps a hostile form from hashing megabytes
COMMON = Path(__file__).with_name("data") / "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` may not be used (in Chinese), or None when it may."""
    folded = password.strip().lower()
    rules = (
        (len(password) < MIN_PASSWORD, f"密码至少 {MIN_PASSWORD} 个字符"),
        (len(password) > MAX_PASSWORD, f"密码最多 {MAX_PASSWORD} 个字符"),
        (not password.strip(), "密码不能只由空格组成"),
        (len(set(password)) == 1, "密码不能由同一个字符重复组成"),
        (bool(username) and username.lower() in (folded, folded[::-1]), "密码不能与用户名相同"),
        (folded in common_passwords(), "该密码过于常见 (在常用密码表中), 请换一个"),
    )
    return next((message for broken, message in rules if broken), None)
