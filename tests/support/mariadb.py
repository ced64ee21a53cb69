"""The MariaDB/MySQL test server (``ZHIFA_TEST_MARIADB_URL`` or root@127.0.0.1:3306): whether it answers,
a private utf8mb4 database per test, and an engine whose COMMIT can lose its answer."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

CANDIDATES = [os.environ.get("ZHIFA_TEST_MARIADB_URL", ""), "mysql+pymysql://root@127.0.0.1:3306/test"]
_found: dict[str, str] = {}


def server_url() -> str | None:
    """The first URL that accepts a connection, or None (``skip_reason()`` says why)."""
    if not _found:
        errors = []
        for url in filter(None, CANDIDATES):
            try:
                engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
                with engine.connect() as conn:
                    conn.execute(sa.text("select 1"))
                engine.dispose()
                _found["url"] = url
                break
            except Exception as exc:
                errors.append(f"{url}: {str(exc).splitlines()[0]}")
        if "url" not in _found:
            _found["reason"] = "no MariaDB/MySQL server reachable (" + "; ".join(errors) + ")"
    return _found.get("url")


def skip_reason() -> str:
    return _found.get("reason", "")


@contextmanager
def private_database(url: str) -> Iterator[str]:
    """A fresh utf8mb4 database on the server at ``url`` (its URL), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"create database `{name}` character set utf8mb4 collate utf8mb4_bin"))
    try:
        yield f"{url.rsplit('/', 1)[0]}/{name}?charset=utf8mb4"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"drop database if exists `{name}`"))
        admin.dispose()


def lossy_engine(url: str, lose: threading.Event, lost: list[int]) -> sa.Engine:
    """An engine whose COMMIT, while ``lose`` is set, goes through and then fails as a lost connection."""
    import pymysql

    class Lossy(pymysql.connections.Connection):  # type: ignore[misc]  # pymysql is untyped (a base of Any)
        def commit(self) -> None:
            super().commit()
            if lose.is_set():
                lost.append(1)
                raise pymysql.err.OperationalError(2013, "Lost connection to server (simulated: committed)")

    u = sa.make_url(url)
    return sa.create_engine(
        "mysql+pymysql://",
        creator=lambda: Lossy(
            host=u.host, port=u.port or 3306, user=u.username, password=u.password or "",
            database=u.database, charset="utf8mb4",
        ),
    )  # fmt: skip
