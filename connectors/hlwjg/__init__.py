"""国家"互联网+监管"系统 via its 前置库 (exchange database): the target of district inspections and
penalties (flows 1, 2, 5), written as rows and confirmed later by feedback rows.

- ``tables.py``: the exchange, feedback and catalogue tables; ``target.py``: translation, batches with
  strictly increasing ``CD_TIME``, feedback; ``catalogue.py``: the province's catalogues, record by
  record and against the mapping tables;
- ``config.py``: its configuration; ``codes.py``: its code lists and offline checks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.contract.clock import aware_now
from connectors.contract.config import Secrets
from connectors.contract.health import Health
from connectors.contract.roles import Roles, SystemType
from connectors.hlwjg.catalogue import HlwjgCatalogue
from connectors.hlwjg.codes import MAPPING_RULES
from connectors.hlwjg.config import HlwjgConfig
from connectors.hlwjg.tables import supervise_item
from connectors.hlwjg.target import HlwjgTarget


def connect_args(url: sa.URL, cfg: HlwjgConfig) -> dict[str, Any]:
    """How long connecting and one statement may take, in each driver's words (the 前置库 is a database:
    a peer that stops answering must not hold a run forever, as an HTTP peer cannot either)."""
    connect, statement = cfg.connect_timeout_s, cfg.statement_timeout_s
    given = url.query.get("options", "")  # e.g. "-csearch_path=…": kept, the timeout added to it
    options = " ".join(
        [*(given if isinstance(given, tuple) else [given]), f"-c statement_timeout={statement * 1000}"]
    )
    table: dict[str, dict[str, Any]] = {
        "postgresql": {"connect_timeout": connect, "options": options.strip()},
        "mysql": {"connect_timeout": connect, "read_timeout": statement, "write_timeout": statement},
        "sqlite": {"timeout": connect},  # the wait for a lock; SQLite has no server to hang
    }
    return table.get(url.get_backend_name(), {})


def build(
    name: str,
    cfg: HlwjgConfig,
    secrets: Secrets,
    *,
    engine: sa.Engine | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Roles:
    if engine is None:
        url = sa.make_url(secrets.get(name, "url"))
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args(url, cfg))
    now = clock or (lambda: aware_now().replace(tzinfo=None))  # to the microsecond: CD_TIME orders batches
    catalogue = HlwjgCatalogue(name, engine, now)
    health = Health()
    target = HlwjgTarget(name, cfg, engine, catalogue, now, health)

    def ping() -> str:
        with engine.connect() as conn:
            n = conn.scalar(sa.select(sa.func.count()).select_from(supervise_item))
        return f"前置库可连接, 监管事项目录 {n} 项"

    return Roles(
        name,
        target_roles={"inspection": target, "penalty": target},
        reader_roles={"inspection": target, "penalty": target},
        catalogue_role=catalogue,
        pinger=ping,
        closer=engine.dispose,
        health_of=health,
    )


SYSTEM = SystemType("hlwjg", "互联网+监管系统", "互联网+监管", HlwjgConfig, build, MAPPING_RULES)

__all__ = ["SYSTEM", "HlwjgConfig", "build"]
