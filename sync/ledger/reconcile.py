"""Reconciliation's reads and writes: the versions the ledger holds of a source's records, the pairs
already known to fail, and each reconciliation run with its findings (``sync.reconcile``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from connectors.contract.states import FailureState
from sync.ledger.base import Part, now
from sync.ledger.schema import failures, reconcile_findings, reconcile_runs, records


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding as stored: a record on a target, what is wrong, whether ``--repair`` fixed it."""

    target: str
    kind: str
    source_id: str
    finding: str
    detail: str
    repaired: bool = False


@dataclass(frozen=True, slots=True)
class RunTotals:
    """A finished reconciliation run's figures."""

    status: str
    listed: int
    repaired: int
    error: str | None = None


class ReconcilePart(Part):
    """Reconciliation runs and findings."""

    def record_versions(self, system: str, kind: str) -> dict[str, datetime | None]:
        """Every record of ``kind`` kept from ``system``: its source ``updated_at`` as last read."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(records.c.source_id, records.c.source_updated_at).where(
                    records.c.system == system, records.c.kind == kind
                )
            )
            return {r.source_id: r.source_updated_at for r in rows}

    def unresolved_pairs(self, system: str, kind: str) -> set[tuple[str, str]]:
        """(source id, target) of every failure not resolved: known to operators, not a finding."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(failures.c.source_id, failures.c.target).where(
                    failures.c.system == system,
                    failures.c.kind == kind,
                    failures.c.state != FailureState.RESOLVED,
                )
            )
            return {(r.source_id, r.target) for r in rows}

    def start_reconcile(self, pipeline: str, since: datetime | None, repair: bool) -> str:
        run_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(
                reconcile_runs.insert().values(
                    run_id=run_id,
                    pipeline=pipeline,
                    started_at=now(),
                    since=since,
                    repair=repair,
                    status="running",
                    listed=0,
                    found=0,
                    repaired=0,
                )
            )
        return run_id

    def finish_reconcile(self, run_id: str, found: Sequence[FindingRow], totals: RunTotals) -> None:
        """The run's findings and figures, in one transaction."""
        with self.engine.begin() as conn:
            rows = list(found)
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                conn.execute(
                    reconcile_findings.insert(),
                    [
                        {
                            "run_id": run_id,
                            "target": f.target,
                            "kind": f.kind,
                            "source_id": f.source_id,
                            "finding": f.finding,
                            "detail": f.detail,
                            "repaired": f.repaired,
                        }
                        for f in chunk
                    ],
                )
            conn.execute(
                update(reconcile_runs)
                .where(reconcile_runs.c.run_id == run_id)
                .values(
                    finished_at=now(),
                    status=totals.status,
                    listed=totals.listed,
                    found=len(found),
                    repaired=totals.repaired,
                    error=totals.error,
                )
            )

    def last_reconciles(self, pipelines: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The latest finished reconciliation of each pipeline (all that have one, or those named), with
        its findings under ``"findings"`` (target, kind, finding, then id)."""
        with self.engine.connect() as conn:
            cond = [reconcile_runs.c.status != "running"]
            if pipelines is not None:
                cond.append(reconcile_runs.c.pipeline.in_(tuple(pipelines)))
            latest: dict[str, dict[str, Any]] = {}
            for r in conn.execute(select(reconcile_runs).where(*cond).order_by(reconcile_runs.c.id)):
                latest[r.pipeline] = dict(r._mapping)
            for run in latest.values():
                rows = conn.execute(
                    select(reconcile_findings)
                    .where(reconcile_findings.c.run_id == run["run_id"])
                    .order_by(
                        reconcile_findings.c.target,
                        reconcile_findings.c.kind,
                        reconcile_findings.c.finding,
                        reconcile_findings.c.source_id,
                    )
                )
                run["findings"] = [dict(f._mapping) for f in rows]
        return [latest[name] for name in sorted(latest)]
