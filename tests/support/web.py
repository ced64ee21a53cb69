"""Logging in to the console from a test: the password the tests use and the CSRF field of a form."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)
