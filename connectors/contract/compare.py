"""How a reader compares what a target holds with what we send (reconciliation): the same value in
another spelling is the same — ``30000`` and ``"30000.00"``, a ``date`` and its ISO text, text with
spaces around it, ``None`` and ``""``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_DECIMAL = re.compile(r"-?\d+\.\d+")
_INTEGER = re.compile(r"-?\d+")


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    text = str(value).strip()
    return Decimal(text).normalize() if _DECIMAL.fullmatch(text) else text


def same(sent: Any, held: Any) -> bool:
    """``sent`` and ``held`` say the same thing."""
    a, b = _plain(sent), _plain(held)
    if isinstance(a, Decimal) and isinstance(b, str) and _INTEGER.fullmatch(b):
        b = Decimal(b).normalize()
    elif isinstance(b, Decimal) and isinstance(a, str) and _INTEGER.fullmatch(a):
        a = Decimal(a).normalize()
    return bool(a == b)


def differing(
    sent: Mapping[str, Any], held: Mapping[str, Any], fields: Iterable[str] | None = None
) -> list[str]:
    """The fields of ``sent`` (or only ``fields``) whose value in ``held`` is not the same."""
    names = list(fields) if fields is not None else list(sent)
    return sorted(n for n in names if not same(sent.get(n), held.get(n)))
