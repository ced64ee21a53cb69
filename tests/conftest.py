"""Shared fixtures: ledgers on SQLite and (where a server answers) PostgreSQL; private MariaDB
databases for the 前置库."""

from __future__ import annotations

import inspect
import os
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

from tests.support import mariadb

# No per-example deadline: the suite shares two cores with simulators, daemons and a browser, and a
# 200 ms deadline then fails a property for the machine's load, not for the code (speed is measured
# in bench/, not asserted). A failing example is printed so that it can be replayed.
settings.register_profile("suite", deadline=None, print_blob=True)
settings.load_profile("suite")

PG_CANDIDATES = [
    os.environ.get("ZHIFA_TEST_PG_URL", ""),
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
]
_pg_url: str | None = None
_pg_reason = ""


def pg_url() -> str | None:
    """The first PostgreSQL URL that accepts a connection, or None (with the reason kept for the skip)."""
    global _pg_url, _pg_reason
    if _pg_url is None and not _pg_reason:
        errors = []
        for url in filter(None, PG_CANDIDATES):
            try:
                engine = create_engine(url, connect_args={"connect_timeout": 3})
                with engine.connect() as conn:
                    conn.execute(text("select 1"))
                engine.dispose()
                _pg_url = url
                break
            except Exception as exc:
                errors.append(f"{url}: {str(exc).splitlines()[0]}")
        if _pg_url is None:
            _pg_reason = "no PostgreSQL server reachable (" + "; ".join(errors) + ")"
    return _pg_url


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh, private schema on the PostgreSQL test server."""
    url = pg_url()
    if url is None:
        pytest.skip(_pg_reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'drop schema "{schema}" cascade'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger database URL: an SQLite file, and a private PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


# -- slow tests, marked by what they start ------------------------------------------------------
# A test (or one of its fixtures) that starts simulators, the daemon as a process, any other
# subprocess or a browser is `slow`; `make test-fast` leaves those out. Found from the names the
# code calls, so a new end-to-end test is marked without anyone remembering to.
STARTERS = frozenset(
    {
        "make_stack",  # tests.support.stack: simulators in threads + an App
        "start_in_process",  # simulators.harness
        "start_process",
        "serving",  # a simulator app on a real socket (simulators.server)
        "uvicorn",
        "zhifa",  # the daemon as a process
        "simulators",  # tests.support.procs.simulators (and the package's servers)
        "Popen",
        "subprocess",
        "sync_playwright",  # the browser
        "browser",
        "stack",
    }
)


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names) | set(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _starts_something(item: pytest.Function) -> bool:
    funcs = [item.function]
    for defs in item._fixtureinfo.name2fixturedefs.values():
        funcs += [d.func for d in defs]
    seen: set[str] = set()
    for func in funcs:
        code = getattr(inspect.unwrap(func), "__code__", None)
        if code is not None:
            seen |= _names(code)
    return bool(seen & STARTERS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and _starts_something(item):
            item.add_marker(pytest.mark.slow)
    # Slow tests first (a stable sort: same order on every xdist worker): the long ones start while
    # the quick ones are still queued to fill the gaps, instead of one worker running the last soak
    # alone for minutes at the end of the run.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def mariadb_db_url() -> Iterator[str]:
    """A URL of a fresh, private utf8mb4 database on the MariaDB test server (dropped afterwards)."""
    url = mariadb.server_url()
    if url is None:
        pytest.skip(mariadb.skip_reason())
    with mariadb.private_database(url) as db_url:
        yield db_url


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def exchange_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The 前置库: an SQLite file, a private PostgreSQL schema, a private MariaDB database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qzk.db'}"
    return str(
        request.getfixturevalue("pg_schema_url" if request.param == "postgresql" else "mariadb_db_url")
    )
