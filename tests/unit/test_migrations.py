"""Migrations: the migrated schema is ``sync.ledger.schema.metadata``, and an upgrade from the first release keeps data."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from connectors.paging import Position
from sync.ledger import Ledger
from sync.ledger import schema as db

T = datetime(2025, 3, 1, 9, 0)


def test_migrated_schema_equals_metadata(ledger_url: str) -> None:
    """After `upgrade head`, alembic finds no difference between the database and the metadata."""
    engine = db.make_engine(ledger_url)
    try:
        db.upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata
            )
        assert diff == []
        current, head = db.schema_state(engine)
        assert current == head and head
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(ledger_url: str) -> None:
    """Upgrading an up-to-date database changes nothing and does not fail."""
    engine = db.make_engine(ledger_url)
    try:
        db.upgrade(engine)
        db.upgrade(engine)
        assert db.schema_state(engine)[0] == db.schema_state(engine)[1]
    finally:
        engine.dispose()


def test_upgrade_from_the_first_release_keeps_the_data(ledger_url: str) -> None:
    """A ledger at revision 0001, with data in every table, upgrades to head with nothing lost."""
    engine = db.make_engine(ledger_url)
    try:
        cfg = db.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "insert into cursors (pipeline, position, updated_at) values ('p', '{\"ts\": \"x\"}', :t)"
                ),
                {"t": T},
            )
            conn.execute(
                text(
                    "insert into records (system, kind, source_id, status, record_hash, body, first_seen, last_seen, doc_no)"
                    " values ('district', 'penalty', 'CF1', 'decided', 'h', '{\"id\": \"CF1\"}', :t, :t, '应急罚〔2025〕1号')"
                ),
                {"t": T},
            )
            conn.execute(
                text(
                    "insert into deliveries (system, kind, source_id, target, target_id, payload_hash, state, linked, updated_at)"
                    " values ('district', 'penalty', 'CF1', 'municipal', 'AJ1', 'p', 'delivered', false, :t)"
                ),
                {"t": T},
            )
            conn.execute(
                text(
                    "insert into failures (pipeline, system, kind, source_id, target, stage, error_kind, message, attempts,"
                    " first_seen, last_seen, state) values ('district-penalties', 'district', 'penalty', 'CF2', 'municipal',"
                    " 'push', 'rejected', '被拒绝', 2, :t, :t, 'open')"
                ),
                {"t": T},
            )
            fid = conn.execute(text("select id from failures")).scalar_one()
            conn.execute(
                text(
                    "insert into failure_attempts (failure_id, at, run_id, stage, error_kind, message)"
                    " values (:f, :t, 'r1', 'push', 'rejected', '被拒绝')"
                ),
                {"f": fid, "t": T},
            )
            conn.execute(
                text(
                    "insert into runs (run_id, pipeline, started_at, status, pulled, created, updated, linked,"
                    " unchanged, withdrawn, skipped, failed, retried) values ('r1', 'district-penalties', :t,"
                    " 'ok', 2, 1, 0, 0, 0, 0, 0, 1, 0)"
                ),
                {"t": T},
            )
            conn.execute(text("insert into meta (key, value, updated_at) values ('k', 'v', :t)"), {"t": T})
            conn.execute(
                text(
                    "insert into audit_log (at, actor, action, failure_id, detail) values (:t, '张三', 'resolve',"
                    " :f, '说明')"
                ),
                {"t": T, "f": fid},
            )
        assert db.schema_state(engine)[0] == "0001"
    finally:
        engine.dispose()

    ledger = Ledger.connect(ledger_url)  # upgrades to head, as the service does at start
    try:
        current, head = db.schema_state(ledger.engine)
        assert current == head != "0001"
        assert ledger.get_cursor("p") == {"ts": "x"}
        assert ledger.load_records("district", "penalty", ["CF1"]) == {"CF1": '{"id": "CF1"}'}
        assert ledger.target_id("district", "penalty", "CF1", "municipal") == "AJ1"
        (f,), total = ledger.query_failures(state=None)
        assert total == 1 and (f["source_id"], f["attempts"], f["state"]) == ("CF2", 2, "open")
        assert [a["run_id"] for a in (ledger.get_failure(f["id"]) or {})["attempt_log"]] == ["r1"]
        assert [(r["run_id"], r["pulled"]) for r in ledger.recent_runs()] == [("r1", 2)]
        assert ledger.get_meta("k") == "v"
        assert [(a["actor"], a["detail"]) for a in ledger.audit()] == [("张三", "说明")]
        # and the upgraded ledger works for new writes
        ledger.set_cursor("p", Position(T))
        assert ledger.get_cursor("p") == {"v": 1, "ts": "2025-03-01 09:00:00", "ids": []}
    finally:
        ledger.close()


def test_0007_folds_user_names_disables_case_duplicates_and_drops_the_signing_key(
    ledger_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """``ADMIN`` and ``admin``: the lower-case one keeps the name, the other is disabled and reported;
    ``Zhang`` becomes ``zhang``; ``meta.console_secret`` is gone; sessions get a version."""
    engine = db.make_engine(ledger_url)
    try:
        cfg = db.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
        with engine.begin() as conn:
            for name in ("ADMIN", "admin", "Zhang"):
                conn.execute(
                    text(
                        "insert into users (username, password_hash, role, created_at, disabled)"
                        " values (:n, 'h', 'viewer', :t, false)"
                    ),
                    {"n": name, "t": T},
                )
            conn.execute(
                text("insert into meta (key, value, updated_at) values ('console_secret', 'forgeable', :t)"),
                {"t": T},
            )
        db.upgrade(engine)
        with engine.connect() as conn:
            rows = {
                r.username: (bool(r.disabled), r.session_version)
                for r in conn.execute(text("select username, disabled, session_version from users"))
            }
            secret = conn.execute(text("select value from meta where key = 'console_secret'")).first()
        assert rows == {"admin": (False, 0), "ADMIN": (True, 0), "zhang": (False, 0)}
        assert secret is None
        assert "ADMIN" in capfd.readouterr().err
    finally:
        engine.dispose()


def test_an_upgrade_that_fails_part_way_leaves_nothing_behind(ledger_url: str) -> None:
    """A process killed (or failing) in the middle of an upgrade must not leave the tables of the
    migrations before the failure without their revision: the next start would stop at
    "table … already exists". Here a later migration fails (its table is already there): the whole
    upgrade is undone, and once the obstacle is gone the next upgrade goes through."""
    engine = db.make_engine(ledger_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("create table mapping_versions (x integer)"))
        with pytest.raises(Exception, match="mapping_versions"):
            db.upgrade(engine)
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() is None
            assert not engine.dialect.has_table(conn, "records"), "the first migration's tables stayed"
        with engine.begin() as conn:
            conn.execute(text("drop table mapping_versions"))
        db.upgrade(engine)
        current, head = db.schema_state(engine)
        assert current == head
    finally:
        engine.dispose()
