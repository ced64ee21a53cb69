"""The ledger's schema (SQLAlchemy Core), engine set-up and migrations (alembic).

Works on SQLite (a file, the zero-set-up default) and PostgreSQL (production). The schema changes only
through the migrations in ``sync/migrations``; ``tests/unit/test_migrations.py`` checks that the migrated
schema equals this metadata.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Where each pipeline has read up to in its source: the source's own cursor (JSON with its version
# under "v"), and the source time it stands for (what status, the console and the lag read).
cursors = Table(
    "cursors",
    metadata,
    Column("pipeline", String(100), primary_key=True),
    Column("position", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("watermark", DateTime),
)

# The latest version of every source record seen (the canonical JSON), so failures can be retried
# and reports computed without asking the source again.
records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("doc_no", String(128)),
    Column("party_name", String(200)),
    Column("party_code", String(32)),  # USCC, or a masked ID number
    Column("dept_code", String(64)),
    Column("event_date", Date),
    Column("source_updated_at", DateTime),
    Column("record_hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    # inspection: USCC|date|item; penalty: normalised decision number (finds a record's twin)
    Column("natural_key", String(200)),
    UniqueConstraint("system", "kind", "source_id", name="uq_records_key"),
    Index("ix_records_natural_key", "system", "kind", "natural_key"),
)

# One row per (source record, target): the link source id ↔ target id and what was last delivered.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("target", String(20), nullable=False),
    Column("target_id", String(64)),
    Column("payload_hash", String(64)),
    Column("state", String(16), nullable=False),  # delivered | withdrawn | sent | failed | parked
    Column("last_action", String(16)),  # created | updated | linked | withdrawn
    Column("linked", Boolean, nullable=False, default=False),  # adopted a record typed in by hand
    Column("target_version", String(32)),  # e.g. the 前置库 CD_BATCH awaiting feedback
    Column("first_delivered_at", DateTime),
    Column("delivered_at", DateTime),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("system", "kind", "source_id", "target", name="uq_deliveries_key"),
    Index("ix_deliveries_target_state", "target", "state"),
)

failures = Table(
    "failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(100), nullable=False),
    Column("system", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("target", String(20), nullable=False),
    Column("stage", String(16), nullable=False),  # validate | map | push | feedback
    Column(
        "error_kind", String(16), nullable=False
    ),  # validation | mapping | rejected | transient | conflict | auth | internal
    Column("error_code", String(32)),
    Column("message", Text, nullable=False),
    Column("payload", Text),  # as mapped for the target, personal data masked
    Column("response", Text),  # the target's answer, masked
    Column("doc_no", String(128)),
    Column("party_name", String(200)),
    Column("party_code", String(32)),
    Column("attempts", Integer, nullable=False, default=1),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    Column("state", String(16), nullable=False),  # open | parked | resolved
    Column("mapping_version", String(64)),
    # parked for a mapping: which table, key and column it waits for (the 待映射 page groups by them)
    Column("map_table", String(64)),
    Column("map_key", String(200)),
    Column("map_column", String(100)),
    Column("resolution_note", Text),
    Column("resolved_by", String(64)),
    Column("resolved_at", DateTime),
    UniqueConstraint("system", "kind", "source_id", "target", name="uq_failures_key"),
    Index("ix_failures_state_target", "state", "target"),
    Index("ix_failures_error_kind", "error_kind"),
)

failure_attempts = Table(
    "failure_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("failure_id", Integer, ForeignKey("failures.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("run_id", String(36)),
    Column("stage", String(16), nullable=False),
    Column("error_kind", String(16), nullable=False),
    Column("message", Text, nullable=False),
)

# Pushes started and not yet recorded: written before the push, removed in the page's transaction. One
# still here after a crash or a lost page commit means the target may hold the record although the
# ledger has no delivery for it; the next push says so (Prior state "attempted").
push_intents = Table(
    "push_intents",
    metadata,
    Column("system", String(20), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("source_id", String(64), primary_key=True),
    Column("target", String(20), primary_key=True),
    Column("run_id", String(36)),
    Column("at", DateTime, nullable=False),
)

# Every version of a source record seen (by its hash): when first and last, and by which run — what
# ``trace`` shows. One row per distinct version, so a record re-read unchanged adds nothing.
record_versions = Table(
    "record_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("source_updated_at", DateTime),
    Column("pipeline", String(100)),
    Column("run_id", String(36)),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    Column("body", Text, nullable=False),  # the canonical JSON of this version (masked when shown)
    UniqueConstraint("system", "kind", "source_id", "record_hash", name="uq_record_versions_key"),
)

# Each push of a record to a target (delivered, sent, failed or parked) with the payload sent and what
# the target answered, masked; capped in size (the oldest rows go, see ``TraceWritePart.prune_attempts``).
push_attempts = Table(
    "push_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("target", String(20), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("run_id", String(36)),
    Column("action", String(16), nullable=False),
    Column("target_id", String(64)),
    Column("target_version", String(32)),
    Column("payload", Text),  # masked, truncated
    Column("response", Text),  # masked, truncated
    Index("ix_push_attempts_record", "system", "kind", "source_id"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, unique=True),
    Column("pipeline", String(100), nullable=False),
    Column("instance", String(100)),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String(16), nullable=False),  # running | ok | failed | interrupted | error
    Column("pulled", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("linked", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("withdrawn", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("retried", Integer, nullable=False, default=0),
    Column("error", Text),
    Index("ix_runs_pipeline_started", "pipeline", "started_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("failure_id", Integer),
    Column("detail", Text),
)

# What operators asked of a pipeline (console or ``zhifa-sync pipelines``): paused, a run now, a
# re-read from a date. Every instance sharing the ledger reads it before each run.
pipeline_controls = Table(
    "pipeline_controls",
    metadata,
    Column("pipeline", String(100), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("reason", Text),
    Column("changed_by", String(64)),
    Column("changed_at", DateTime),
    Column("run_requested_at", DateTime),  # a run now, asked for and not yet started
    Column("reread_from", DateTime),  # the next run reads again from here (then cleared)
)

# Mapping tables applied from the console: each upload's file and the file it replaced, with who and
# when, so that any applied version can be looked at and the one before it restored.
mapping_versions = Table(
    "mapping_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("table_name", String(64), nullable=False),
    Column("filename", String(100), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("sha", String(16), nullable=False),
    Column("replaced_name", String(100)),
    Column("replaced_content", LargeBinary),
    Column("changes", Integer, nullable=False, default=0),
    Column("rollback_of", Integer),
    Column("applied_by", String(64), nullable=False),
    Column("applied_at", DateTime, nullable=False),
)

# Reconciliation (``zhifa-sync reconcile``): one row per run, and what it found, record by record.
reconcile_runs = Table(
    "reconcile_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, unique=True),
    Column("pipeline", String(100), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("since", DateTime),  # the window's start (None: the pipeline's start)
    Column("repair", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),  # running | ok | error
    Column("listed", Integer, nullable=False, default=0),  # records the source listed
    Column("found", Integer, nullable=False, default=0),
    Column("repaired", Integer, nullable=False, default=0),
    Column("error", Text),
    Index("ix_reconcile_runs_pipeline_started", "pipeline", "started_at"),
)

reconcile_findings = Table(
    "reconcile_findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, index=True),
    Column("target", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("finding", String(16), nullable=False),  # missing | stale | extra | diverged
    Column("detail", Text),
    Column("repaired", Boolean, nullable=False, default=False),
)

# Alerts (``sync.alerts``): each alert's key, whether its condition is open and was told, when it was
# last sent, and a mark (the failures digest: the highest failure id already digested).
alert_state = Table(
    "alert_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("is_open", Boolean, nullable=False, default=False),
    Column("notified", Boolean, nullable=False, default=False),
    Column("opened_at", DateTime),
    Column("last_sent_at", DateTime),
    Column("title", Text),
    Column("mark", Text),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Operator-console accounts (``zhifa-sync users add``): argon2 password hashes, never the password.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("created_at", DateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # Bumped by logout, password change and disabling: session cookies carry it and die with it.
    Column("session_version", Integer, nullable=False, default=0, server_default="0"),
)

MIGRATIONS = Path(__file__).parents[1] / "migrations"


def _private_sqlite_file(url: str) -> None:
    """Create a new SQLite ledger file 0600: it holds personal data. SQLite gives its -wal and -shm files
    the database file's mode. An existing file is left as it is; a missing directory is not made (a
    mistyped path must fail, not grow a tree)."""
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:" or url.endswith("://") or path.startswith("file:"):
        return
    db = Path(path)
    if db.exists() or not db.parent.is_dir():
        return
    try:
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # SQLite will say what is wrong when it opens the file


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine with the settings the ledger needs on each backend."""
    # A failed statement's message leaves its parameters out: they are record fields (身份证号) and reach
    # tracebacks and logs.
    kw.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # A database host that does not answer fails a connection in 10 s, not the kernel's two minutes
    # (``status`` and ``sync`` say so in one line: zhifa_sync/cli_errors.py); the URL may say otherwise.
    connect_args = {} if "connect_timeout" in url else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kw)


PG_CONNECT_TIMEOUT_S = 10


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every pending migration."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # pysqlite opens a transaction only before DML: without this, each CREATE TABLE commits on
            # its own, and a process killed mid-upgrade leaves tables without their revision (the next
            # start: "table … already exists"). IMMEDIATE: a second instance waits, as on PostgreSQL.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if conn.dialect.name == "postgresql":
            # Two instances starting together on an empty database: one migrates, the other waits.
            from sqlalchemy import text

            from sync.lease import advisory_key

            conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": advisory_key("migrations")})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_state(engine: Engine) -> tuple[str | None, str]:
    """(current revision in the database, newest revision shipped)."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head or ""
