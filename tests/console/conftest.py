"""Fixtures for the console tests: a ledger on a SQLite file with failures an operator would see, and a
headless Chromium (helpers and constants live in ``tests/support/console.py`` and ``browser.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, sync_playwright

from console import users as console_users
from console.app import create_app
from console.peers import SERVER_OPTIONS
from console.users import add_user
from simulators.server import serving
from sync.ledger import Ledger
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.console import PASSWORD, SETTINGS, Console, FakeClock, seed


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with the smallest cost: the same code path, ~1 ms instead of ~100 ms a hash."""
    monkeypatch.setattr(
        console_users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.connect(f"sqlite:///{tmp_path}/ledger.db")
    yield led
    led.close()


@pytest.fixture
def users(ledger: Ledger) -> None:
    for name, role in (("admin", "admin"), ("op", "operator"), ("viewer", "viewer")):
        add_user(ledger, name, PASSWORD, role)


@pytest.fixture
def console(ledger: Ledger, users: None) -> Iterator[Console]:
    clock = FakeClock()
    seeded = seed(ledger)
    with serving(create_app(ledger, SETTINGS, clock=clock), **SERVER_OPTIONS) as server:
        c = Console(server.url, clock, ledger, seeded, [])
        yield c
        for client in c.clients:
            client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a test module; skipped (with the reason) where none is installed."""
    if not CHROMIUM.exists():
        pytest.skip("浏览器测试需要 /usr/bin/chromium (apt-get install chromium); 本机没有, 跳过")
    # No try/except: a Chromium that is there but does not start must fail the run, not skip it.
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
