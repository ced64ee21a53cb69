"""How a mapping-table column is checked offline: a rule per column, contributed by the system that reads
the column (``connectors/*/codes.py``), run by the engine's driver (``sync.mapping.check``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from connectors.contract.mapping import CheckReport, Mappings
from connectors.contract.validators import region_problem, uscc_problem

Check = Callable[[str], str | None]  # the value -> what is wrong with it, or None

_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+?\d+$", re.IGNORECASE)
_EXCEL_NUMBER = "Excel 把它当作数字改写了 (科学计数法): 请把该列设为“文本”格式后重新输入"


@dataclass(frozen=True)
class Rule:
    """How one column is checked: a label, a format/code-list check, and the systems that read it."""

    what: str
    check: Check | None = None
    systems: frozenset[str] = frozenset()  # system types that need it; empty: needed whatever is configured
    blank_is_error: bool = False


def rule(what: str, check: Check | None = None, *systems: str, blank_is_error: bool = False) -> Rule:
    return Rule(what, check, frozenset(systems), blank_is_error)


# table -> column -> rule
Rules = Mapping[str, Mapping[str, Rule]]


def excel_hint(value: str) -> str | None:
    """Excel turned a long code into a number in scientific notation."""
    return _EXCEL_NUMBER if _SCIENTIFIC.match(value) else None


def pattern(regex: re.Pattern[str], expected: str) -> Check:
    def check(value: str) -> str | None:
        return excel_hint(value) or (None if regex.match(value) else f"格式不对, 应为{expected}")

    return check


def enumeration(codes: Mapping[str, str], system: str) -> Check:
    """A code from a system's documented list; a code that lost its leading zeros in Excel says so."""
    listing = ", ".join(f"{k} {v}" if k != v else k for k, v in codes.items())

    def check(value: str) -> str | None:
        if value in codes:
            return None
        width = max(len(k) for k in codes)
        if value.isdigit() and value.zfill(width) in codes:
            return f"不在{system}的代码表中; 是否应为 {value.zfill(width)}? (Excel 会去掉前导 0: 请把该列设为“文本”格式)"
        return f"不在{system}的代码表中 (可选: {listing})"

    return check


def uscc_check(value: str) -> str | None:
    problem = uscc_problem(value)
    return f"不是有效的统一社会信用代码 (GB 32100): {problem}" if problem else None


def region_check(value: str) -> str | None:
    problem = region_problem(value)
    return excel_hint(value) or (f"格式不对: {problem}" if problem else None)


@dataclass(frozen=True)
class MappingRules:
    """What one system contributes to the offline check: column rules, and the columns it maps back
    from (flow 3 translates its codes back to the district's, so a value there must name one row)."""

    columns: Rules
    reverse: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cross: Callable[[Mappings, CheckReport], None] | None = None  # checks across tables
