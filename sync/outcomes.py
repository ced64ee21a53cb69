"""What happened to one record on one target in a run (``Outcome``), built in this one place, and the
counts of a run (``RunCounts``).

Every outcome the ledger writes comes from a builder here: ``skipped``, ``unchanged``, ``delivered``,
``failed`` (from the exception, parked when a mapping is missing), ``invalid`` (a record that failed
validation) and ``rejected_by_feedback``. Personal data is masked in every message and payload here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import structlog

from connectors.contract.errors import ConnectorError, MappingMissing, RecordInvalid
from connectors.contract.records import Record
from connectors.contract.roles import Delivered, RawSummary
from connectors.contract.states import Action, ErrorKind, RunStatus, Stage, label
from connectors.contract.validators import escape_controls, mask_text

log = structlog.get_logger("zhifa.pipeline")
# The most of a target's answer (and of a failure's message) the ledger keeps: enough to recognise an
# error page or read the target's own message; a whole answer (up to the size cap) is never stored.
MAX_STORED_ANSWER = 2000


@dataclass(slots=True)
class Outcome:
    """The result of handling one record for one target in a run."""

    system: str
    kind: str
    source_id: str
    target: str
    action: Action
    target_id: str | None = None
    payload_hash: str | None = None
    linked: bool = False
    target_version: str | None = None
    # failures (payload also for deliveries, what ``trace`` shows):
    stage: str = ""
    error_kind: str = ""
    error_code: str | None = None
    message: str = ""
    payload: str | None = None
    response: str | None = None
    doc_no: str | None = None
    party_name: str | None = None
    party_code: str | None = None
    mapping_version: str | None = None
    # parked: the table (file), key and column it waits for
    map_table: str | None = None
    map_key: str | None = None
    map_column: str | None = None

    @property
    def failed(self) -> bool:
        return Action(self.action).failed


@dataclass(frozen=True, slots=True)
class Subject:
    """Which record (from which source system) an outcome is about, and on which target."""

    system: str
    kind: str
    source_id: str
    target: str

    @classmethod
    def of(cls, system: str, kind: str, record: Record, target: str) -> Subject:
        return cls(system, kind, record.id, target)


def masked_json(value: Any) -> str:
    return mask_text(json.dumps(value, ensure_ascii=False, default=str, sort_keys=True))


def skipped(s: Subject) -> Outcome:
    return Outcome(s.system, s.kind, s.source_id, s.target, Action.SKIPPED)


def unchanged(s: Subject, target_id: str | None, digest: str) -> Outcome:
    return Outcome(s.system, s.kind, s.source_id, s.target, Action.UNCHANGED, target_id, digest)


def delivered(s: Subject, digest: str, done: Delivered, payload: Any = None) -> Outcome:
    """What the target did with the record; the payload sent (masked) is kept for ``trace``."""
    return Outcome(
        s.system,
        s.kind,
        s.source_id,
        s.target,
        done.action,
        done.target_id,
        digest,
        done.linked,
        done.target_version,
        payload=masked_json(payload) if payload is not None else None,
    )


def failed(
    s: Subject,
    record: Record,
    stage: Stage,
    exc: Exception,
    mapping_version: Callable[[], str],
    payload: dict[str, Any] | None,
) -> Outcome:
    """A failed (or, for a missing mapping, parked) record, logged with its personal data masked."""
    error_kind = getattr(exc, "kind", ErrorKind.INTERNAL)
    parked = isinstance(exc, MappingMissing)
    message = mask_text(
        (
            str(exc)
            if isinstance(exc, ConnectorError | MappingMissing | RecordInvalid)
            else f"内部错误 {type(exc).__name__}: {exc}"
        )[:MAX_STORED_ANSWER]
    )
    log.warning(
        "record_failed",
        record_id=s.source_id,
        system=s.target,
        stage=stage,
        error_kind=error_kind,
        message=message,
    )
    return Outcome(
        s.system,
        s.kind,
        s.source_id,
        s.target,
        Action.PARKED if parked else Action.FAILED,
        stage=stage,
        error_kind=error_kind,
        error_code=getattr(exc, "code", None),
        message=message,
        payload=masked_json(payload) if payload is not None else None,
        response=mask_text(str(getattr(exc, "response", None) or "")[:MAX_STORED_ANSWER]) or None,
        doc_no=record.doc_no,
        party_name=record.party_name,
        party_code=record.party_code,
        mapping_version=mapping_version() if parked else None,
        map_table=exc.table if isinstance(exc, MappingMissing) else None,
        map_key=exc.key[:200] if isinstance(exc, MappingMissing) else None,
        map_column=exc.column[:100] if isinstance(exc, MappingMissing) else None,
    )


def invalid(s: Subject, exc: RecordInvalid, raw: Any, about: RawSummary) -> Outcome:
    """A record that failed validation goes nowhere: this is its failure for one target."""
    return Outcome(
        s.system,
        s.kind,
        s.source_id,
        s.target,
        Action.FAILED,
        stage=Stage.VALIDATE,
        error_kind=ErrorKind.VALIDATION,
        message=mask_text(str(exc)),
        payload=masked_json(raw),
        doc_no=about.doc_no[:128] if about.doc_no else None,
        party_name=about.party_name[:200] if about.party_name else None,
        party_code=about.party_code[:32] if about.party_code else None,
    )


def not_recorded(o: Outcome, error: str) -> Outcome:
    """The ledger refused this outcome's rows (``error``, the database's words): a failure in its place,
    so the record is retried (an attempted push, if it was pushed) instead of being lost with the page."""
    return Outcome(
        o.system,
        o.kind,
        escape_controls(o.source_id)[:64],
        o.target,
        Action.FAILED,
        stage=Stage.RECORD,
        # a push that went through is retried (as attempted); a failure stays the kind it was
        error_kind=(o.error_kind or ErrorKind.INTERNAL) if o.failed else ErrorKind.TRANSIENT,
        message=f"结果未能写入账本 ({label(Action, o.action)}): {error}",
        doc_no=_clean(o.doc_no, 128),
        party_name=_clean(o.party_name, 200),
        party_code=_clean(o.party_code, 32),
    )


def _clean(text: str | None, size: int) -> str | None:
    return escape_controls(text)[:size] if text else None


def rejected_by_feedback(s: Subject, message: str) -> Outcome:
    """The target's asynchronous verdict refused the version we sent (前置库 feedback)."""
    return Outcome(
        s.system,
        s.kind,
        s.source_id,
        s.target,
        Action.FAILED,
        stage=Stage.FEEDBACK,
        error_kind=ErrorKind.REJECTED,
        message=f"{s.target} 反馈校验失败: {message[:MAX_STORED_ANSWER]}",
        response=message[:MAX_STORED_ANSWER],
    )


@dataclass
class RunCounts:
    """A run's figures. ``pulled`` and ``skipped`` count records; the others count outcomes, one per
    record and target (``by_target`` has them per target, each target's row summing to
    ``pulled − skipped``; ``retried`` records are read from the ledger, not pulled)."""

    pulled: int = 0
    created: int = 0
    updated: int = 0
    linked: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    by_target: dict[str, dict[str, int]] = field(default_factory=dict)
    status: str = RunStatus.RUNNING
    error: str | None = None

    # a parked record counts as failed, a row written to the 前置库 as created
    _AS: ClassVar[dict[Action, Action]] = {Action.PARKED: Action.FAILED, Action.SENT: Action.CREATED}

    def add(self, outcome: Outcome) -> None:
        action = str(self._AS.get(Action(outcome.action), outcome.action))
        # ``skipped`` counts records that go to no target at all (drafts, undecided cases, our own
        # records read back): a target that does not take one record is that target's column only,
        # so that each target's row adds up to pulled − skipped.
        if action != Action.SKIPPED and isinstance(getattr(self, action, None), int):
            setattr(self, action, getattr(self, action) + 1)
        per = self.by_target.setdefault(outcome.target, {})
        per[action] = per.get(action, 0) + 1

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}
