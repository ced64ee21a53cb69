"""Plain-text tables for the terminal (CJK characters are two columns wide)."""

from __future__ import annotations

from typing import Any


def table(rows: list[list[Any]], header: list[str]) -> str:
    def width(s: str) -> int:
        return sum(2 if ord(c) > 0x2E80 else 1 for c in s)

    cells = [[str(c) if c is not None else "" for c in row] for row in [header, *rows]]
    widths = [max(width(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c + " " * (widths[i] - width(c)) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
