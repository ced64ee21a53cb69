"""双公示 periods: how long a penalty decision stays published (公示截止期 ``CF_GSJZQ``, 有效期 ``CF_YXQ``).

docs/domain.md "Precise rules": a penalty is *serious* (严重失信, 3 years by default) when it orders
责令停产停业 (10), 吊销许可证件 (08) or 责令关闭 (11), or fines at least the configured threshold
(500,000.00 元 by default); everything else is *general* (1 year). "+ N years" lands on the same
calendar day, and 29 February becomes 28 February.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

# district penalty_types codes that make a decision serious whatever the fine
SERIOUS_TYPES = frozenset({"08", "10", "11"})
DEFAULT_SERIOUS_FINE_YUAN = Decimal("500000.00")


def is_serious(
    penalty_types: Iterable[str], fine_yuan: Decimal, threshold_yuan: Decimal = DEFAULT_SERIOUS_FINE_YUAN
) -> bool:
    """True for 严重 decisions: closure, licence revocation, suspension, or a fine ≥ the threshold."""
    return bool(SERIOUS_TYPES.intersection(penalty_types)) or fine_yuan >= threshold_yuan


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # only 29 Feb → a year without it
        return day.replace(year=day.year + years, day=28)


def publicity_end(decided_on: date, serious: bool, *, general_years: int = 1, serious_years: int = 3) -> date:
    """公示截止期 (and, unless the source says otherwise, 处罚有效期) of a decision."""
    return add_years(decided_on, serious_years if serious else general_years)
