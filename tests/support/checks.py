"""Small typed checks for tests: a lookup that must have found something."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def found(value: T | None) -> T:
    """``value``, asserting it is there (a ``get`` that answers ``None`` for a missing row fails here)."""
    assert value is not None, "nothing found"
    return value
