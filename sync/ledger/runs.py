"""Runs (one row per pipeline run, with its counts) and the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import ColumnElement, func, select, update

from connectors.contract.states import RunStatus
from sync.ledger.base import Part, now
from sync.ledger.schema import audit_log, runs
from sync.outcomes import RunCounts

log = structlog.get_logger("zhifa.ledger")

CRASHED_NOTE = "进程在运行中终止 (被强制结束、崩溃或主机断电), 由下一次运行标记; 已提交的页不受影响, 其余记录下次运行补上"


class RunsPart(Part):
    """Runs and audit entries."""

    def start_run(self, pipeline: str) -> str:
        """A new run of ``pipeline``; the caller holds the pipeline's lease (``sync.lease``), so a run
        of it still marked running is one whose process died (SIGKILL, a crash, a lost host): it is
        closed as crashed here, on the next start or when another instance takes the pipeline over."""
        run_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            ts = now()
            closed = conn.execute(
                update(runs)
                .where(runs.c.pipeline == pipeline, runs.c.status == RunStatus.RUNNING)
                .values(status=RunStatus.CRASHED, finished_at=ts, error=CRASHED_NOTE)
            ).rowcount
            if closed:
                log.warning("crashed_runs_closed", pipeline=pipeline, runs=closed)
            conn.execute(
                runs.insert().values(
                    run_id=run_id,
                    pipeline=pipeline,
                    instance=self.instance,
                    started_at=ts,
                    status=RunStatus.RUNNING,
                )
            )
        return run_id

    def finish_run(self, run_id: str, counts: RunCounts, status: str, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(finished_at=now(), status=status, error=error, **counts.as_dict())
            )

    def recent_runs(
        self, pipeline: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        cond = [runs.c.pipeline == pipeline] if pipeline else []
        with self.engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(
                    select(runs).where(*cond).order_by(runs.c.id.desc()).limit(limit).offset(offset)
                )
            ]

    def audit(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(
                    select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
                )
            ]

    def add_audit(
        self, actor: str, action: str, detail: str | None = None, failure_id: int | None = None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=now(), actor=actor, action=action, failure_id=failure_id, detail=detail
                )
            )

    def audit_page(
        self,
        *,
        limit: int,
        offset: int = 0,
        failures_only: bool = False,
        failure_id: int | None = None,
        actions: Sequence[str] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Audit entries, newest first, and their total."""
        cond: list[ColumnElement[bool]] = []
        if failures_only:
            cond.append(audit_log.c.failure_id.is_not(None))
        if failure_id is not None:
            cond.append(audit_log.c.failure_id == failure_id)
        if actions is not None:
            cond.append(audit_log.c.action.in_(tuple(actions)))
        with self.engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(audit_log).where(*cond)) or 0
            rows = conn.execute(
                select(audit_log).where(*cond).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
            )
            return [dict(r._mapping) for r in rows], int(total)
