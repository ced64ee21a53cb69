"""What operators asked of each pipeline: paused (with who, when and why), a run now, a re-read from a date.

Kept in the ledger, so that it survives restarts and every instance sharing the ledger obeys it: a
paused pipeline is not started by any of them; a run asked for is claimed by exactly one (an UPDATE
that only one of them can win); a re-read is applied by the run that next holds the pipeline's lease.
Each change is written with its audit entry in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from connectors.contract.roles import Cursor
from connectors.contract.states import AuditAction
from sync.ledger.base import now
from sync.ledger.cursors import CursorsPart
from sync.ledger.schema import audit_log, pipeline_controls
from sync.ledger.upsert import upsert


@dataclass(frozen=True, slots=True)
class Control:
    """One pipeline's controls; the default is a running pipeline nobody asked anything of."""

    pipeline: str
    paused: bool = False
    reason: str | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None
    run_requested_at: datetime | None = None
    reread_from: datetime | None = None


class ControlsPart(CursorsPart):
    """Pause/resume, run now and re-read, each audited."""

    def control(self, pipeline: str) -> Control:
        return self.controls([pipeline])[pipeline]

    def controls(self, pipelines: list[str]) -> dict[str, Control]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(pipeline_controls).where(pipeline_controls.c.pipeline.in_(pipelines))
            ).all()
        found = {r.pipeline: Control(**dict(r._mapping)) for r in rows}
        return {p: found.get(p, Control(p)) for p in pipelines}

    def set_paused(self, pipeline: str, paused: bool, actor: str, reason: str | None = None) -> None:
        action = AuditAction.PIPELINE_PAUSE if paused else AuditAction.PIPELINE_RESUME
        changes = {"paused": paused, "reason": reason if paused else None}
        with self.engine.begin() as conn:
            self._change(conn, pipeline, actor, changes)
            self._audit(conn, actor, action, pipeline + (f": {reason}" if reason else ""))

    def request_run(self, pipeline: str, actor: str) -> None:
        with self.engine.begin() as conn:
            self._change(conn, pipeline, actor, {"run_requested_at": now()}, by_operator=False)
            self._audit(conn, actor, AuditAction.PIPELINE_RUN_NOW, pipeline)

    def claim_run_requests(self) -> list[str]:
        """Pipelines whose asked-for run this instance now starts (each claimed by one instance)."""
        with self.engine.connect() as conn:
            asked = conn.scalars(
                select(pipeline_controls.c.pipeline).where(pipeline_controls.c.run_requested_at.is_not(None))
            ).all()
        claimed = []
        for pipeline in asked:
            with self.engine.begin() as conn:
                won = conn.execute(
                    update(pipeline_controls)
                    .where(
                        pipeline_controls.c.pipeline == pipeline,
                        pipeline_controls.c.run_requested_at.is_not(None),
                    )
                    .values(run_requested_at=None)
                ).rowcount
            if won:
                claimed.append(pipeline)
        return claimed

    def request_reread(self, pipeline: str, since: datetime, actor: str) -> None:
        with self.engine.begin() as conn:
            self._change(conn, pipeline, actor, {"reread_from": since}, by_operator=False)
            self._audit(
                conn, actor, AuditAction.PIPELINE_BACKFILL, f"{pipeline}: 自 {since:%Y-%m-%d %H:%M:%S}"
            )

    def apply_reread(self, pipeline: str, cursor: Cursor, asked: datetime) -> bool:
        """Move the pipeline's cursor back to ``cursor`` and clear the request, if it is still the one
        read as ``asked`` (the caller holds the pipeline's lease); False if it changed meanwhile."""
        with self.engine.begin() as conn:
            cleared = conn.execute(
                update(pipeline_controls)
                .where(pipeline_controls.c.pipeline == pipeline, pipeline_controls.c.reread_from == asked)
                .values(reread_from=None)
            ).rowcount
            if cleared:
                self._save_cursor(conn, pipeline, cursor)
            return bool(cleared)

    # -- helpers ---------------------------------------------------------------------------------
    def _change(
        self, conn: Connection, pipeline: str, actor: str, values: dict[str, Any], *, by_operator: bool = True
    ) -> None:
        who = {"changed_by": actor, "changed_at": now()} if by_operator else {}
        row = {"pipeline": pipeline, "paused": False, **values, **who}
        existing = conn.scalar(
            select(pipeline_controls.c.paused).where(pipeline_controls.c.pipeline == pipeline)
        )
        if existing is not None and "paused" not in values:
            row["paused"] = existing
        upsert(conn, pipeline_controls, [row], ["pipeline"], [k for k in row if k != "pipeline"])

    @staticmethod
    def _audit(conn: Connection, actor: str, action: AuditAction, detail: str) -> None:
        conn.execute(audit_log.insert().values(at=now(), actor=actor, action=action.value, detail=detail))
