"""The 前置库 statements compiled for Oracle (no server needed): every statement the connector runs
while writing batches and reading feedback — captured on SQLite — compiles for the Oracle dialect with
the platform's quoted upper-case names, without LIMIT / ON CONFLICT / MERGE, and the tables' types are
Oracle's (``DATE`` for CD_TIME: whole seconds there too, as on MySQL; see the README)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import oracle
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql import ClauseElement

from connectors import systems
from connectors.contract.records import parse_record
from connectors.contract.roles import Context, FeedbackTarget, Push
from connectors.hlwjg import tables
from simulators import hlwjg as sim
from tests.support.records import inspection
from tests.support.targets import secrets
from tests.support.targets import tables as mapping_tables

ORACLE = oracle.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's Oracle dialect __init__ is untyped


def captured_statements(tmp_path: Path) -> list[ClauseElement]:
    """The statements the connector executes to write two batches and read the feedback."""
    url = f"sqlite:///{tmp_path / 'qzk.db'}"
    exchange = sim.open_exchange(url)
    engine = sa.create_engine(url)
    seen: list[ClauseElement] = []

    @sa.event.listens_for(engine, "before_execute")
    def keep(conn: Any, clause: Any, multiparams: Any, params: Any, options: Any) -> None:
        if isinstance(clause, ClauseElement):
            seen.append(clause)

    cfg = systems.HlwjgConfig.model_validate({"type": "hlwjg", "url": {"env": "UNUSED"}})
    system = systems.create("hlwjg", cfg, secrets(), engine=engine, clock=lambda: datetime(2025, 6, 20, 10))
    try:
        target = system.target("inspection")
        target.begin_run("inspection")
        ctx = Context(mapping_tables(tmp_path / "mappings"), lambda kind, sid, t: None)
        for rid in ("JC2025000001", "JC2025000001", "JC2025000002"):  # an insert, then an update
            record = parse_record("inspection", inspection(rid))
            target.deliver(Push(record, target.translate(record, ctx), None))
        sim.Collector(exchange).collect_once()
        assert isinstance(target, FeedbackTarget)
        target.poll_feedback(None)
    finally:
        system.close()
        exchange.dispose()
    return seen


def test_every_statement_the_connector_runs_compiles_for_oracle(tmp_path: Path) -> None:
    statements = captured_statements(tmp_path)
    kinds = {type(s).__name__ for s in statements}
    assert {"Select", "Insert", "Update"} <= kinds, kinds
    for statement in statements:
        sql = str(statement.compile(dialect=ORACLE))
        assert (
            " LIMIT " not in sql.upper() and "ON CONFLICT" not in sql.upper() and "MERGE" not in sql.upper()
        )
        for name in ("TR_T_JGXW_CHECK_ACTION", "TR_T_FEEDBACK", "CD_TIME", "CD_ID"):
            if name in sql:
                assert f'"{name}"' in sql, sql  # quoted: Oracle would fold an unquoted name to upper case


def test_exchange_tables_on_oracle_are_upper_case_with_oracle_types() -> None:
    ddl = str(CreateTable(tables.check_action).compile(dialect=ORACLE))
    assert 'CREATE TABLE "TR_T_JGXW_CHECK_ACTION"' in ddl
    assert '"CD_TIME" DATE' in ddl  # Oracle DATE: seconds, no fraction (TIMESTAMP would keep them)
    assert '"CD_ID" VARCHAR2(64 CHAR) NOT NULL' in ddl  # lengths in characters, not bytes
    assert '"CHECK_DATE" DATE' in ddl
    punish = str(CreateTable(tables.punish).compile(dialect=ORACLE))
    assert '"FINE_AMOUNT" NUMERIC(18, 2)' in punish
