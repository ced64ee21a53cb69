"""The durable ledger: cursors, record snapshots, deliveries (links), failures, runs, audit, accounts.

Every write of one page of work — record snapshots, delivery outcomes, failures and the cursor —
happens in one transaction, so a crash leaves either all of a page or none of it; a page that is
redone finds the targets already hold it (each target is written idempotently by our own record id).
A page the database refuses for one record's sake is written again record by record (``commit_page``).

All reads and writes of the ledger's tables go through ``Ledger``, whose parts are split by what they
are about: ``cursors``, ``deliveries``, ``pages`` (the page transaction), ``failures``, ``runs``,
``reports`` (the queries of status, deadlines and the monthly report), ``users`` (console accounts),
``controls`` (pause, run now, re-read: what operators asked of each pipeline), ``reconcile``
(reconciliation runs and their findings), ``trace`` (versions and pushes of one record), ``alerts``
(what the alerts last said).
The schema and its migrations are in ``schema``.
"""

from __future__ import annotations

import socket
import uuid

from sqlalchemy import Engine, text

from sync.ledger import schema
from sync.ledger.alerts import AlertsPart, AlertState
from sync.ledger.base import now
from sync.ledger.controls import Control, ControlsPart
from sync.ledger.deliveries import DeliveriesPart
from sync.ledger.failures import FailuresPart
from sync.ledger.mapping_versions import MappingVersion, MappingVersionsPart
from sync.ledger.pages import PagesPart, RecordSnapshot
from sync.ledger.reconcile import ReconcilePart
from sync.ledger.reports import ReportsPart
from sync.ledger.runs import RunsPart
from sync.ledger.trace import TracePart
from sync.ledger.users import UsersPart


class Ledger(
    PagesPart,
    DeliveriesPart,
    FailuresPart,
    RunsPart,
    UsersPart,
    ReportsPart,
    ControlsPart,
    MappingVersionsPart,
    ReconcilePart,
    TracePart,
    AlertsPart,
):
    """All reads and writes of the ledger database go through here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.instance = f"{socket.gethostname()}:{uuid.uuid4().hex[:6]}"

    @classmethod
    def connect(cls, url: str, *, upgrade: bool = True) -> Ledger:
        engine = schema.make_engine(url)
        if upgrade:
            schema.upgrade(engine)
        return cls(engine)

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["AlertState", "Control", "Ledger", "MappingVersion", "RecordSnapshot", "now"]
