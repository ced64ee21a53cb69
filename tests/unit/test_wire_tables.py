"""Every error code an interface description documents has a row in its system's wire-code table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.credit import client as credit
from connectors.district import client as district
from connectors.municipal import client as municipal
from connectors.rest import WireTable, lookup

DOCS = Path(__file__).resolve().parents[2] / "docs" / "interfaces"

CASES = [
    ("district.md", r"\b(40\d{3})\b", district.CODES, int),
    ("municipal.md", r"\b(E\d{4})\b", municipal.CODES, str),
    ("credit.md", r'"code": "([A-Z_]+)"', credit.CODES, str),
]


@pytest.mark.parametrize(("doc", "pattern", "table", "cast"), CASES, ids=[c[0] for c in CASES])
def test_every_documented_code_has_a_row(doc: str, pattern: str, table: WireTable, cast: type) -> None:
    """A code the interface description names but the table lacks would fall through to 'unknown'."""
    codes = {cast(c) for c in re.findall(pattern, (DOCS / doc).read_text(encoding="utf-8"))}
    assert codes, f"no codes found in {doc}: the pattern no longer matches the description"
    missing = sorted(str(c) for c in codes if lookup(table, c) is None)
    assert not missing, f"{doc} documents codes with no row in the table: {missing}"


def test_http_statuses_every_rest_system_documents() -> None:
    """429 and 5xx are blips for district and credit (municipal retries every non-200 itself)."""
    for table in (district.HTTP, credit.HTTP):
        assert (
            lookup(table, 429) is not None
            and lookup(table, 503) is not None
            and lookup(table, 500) is not None
        )
    assert lookup(district.HTTP, 401) is not None  # log in again
