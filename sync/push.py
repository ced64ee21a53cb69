"""Pushing records one call at a time, and turning what happened into ledger outcomes.

The same code runs in the daemon's own threads and in a push process (``sync.push_process``): a
few workers take the jobs of a page from one queue; a target that refuses our credentials is not
called again for the rest of the page; every other error becomes the record's own failure.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from connectors.contract.errors import ConnectorError, FatalConnectorError, MappingMissing, RecordInvalid
from connectors.contract.records import Record
from connectors.contract.roles import Delivered, PriorDelivery, Target
from connectors.contract.validators import mask_text
from sync.ledger import Delivery, Outcome

log = structlog.get_logger("zhifa.pipeline")
# (record, target name, payload, payload hash, what the ledger knew)
Job = tuple[Record, str, dict[str, Any], str, Delivery | None]


def masked_json(value: Any) -> str:
    return mask_text(json.dumps(value, ensure_ascii=False, default=str, sort_keys=True))


def prior_of(d: Delivery | None) -> PriorDelivery | None:
    """What a connector may know of the record's last delivery to it."""
    return PriorDelivery(d.target_id, d.state, d.linked, d.target_version) if d else None


def delivered_outcome(
    system: str, kind: str, record: Record, target: str, digest: str, done: Delivered
) -> Outcome:
    return Outcome(
        system=system,
        kind=kind,
        source_id=record.id,
        target=target,
        action=done.action,
        target_id=done.target_id,
        payload_hash=digest,
        linked=done.linked,
        target_version=done.target_version,
    )


def failure_outcome(
    system: str,
    kind: str,
    record: Record,
    target: str,
    stage: str,
    exc: Exception,
    mapping_version: Callable[[], str],
    payload: dict[str, Any] | None,
) -> Outcome:
    """A failed (or, for a missing mapping, parked) record, logged with its personal data masked."""
    error_kind = getattr(exc, "kind", "internal")
    parked = isinstance(exc, MappingMissing)
    message = (
        str(exc)
        if isinstance(exc, ConnectorError | MappingMissing | RecordInvalid)
        else f"内部错误 {type(exc).__name__}: {exc}"
    )
    log.warning(
        "record_failed",
        record_id=record.id,
        system=target,
        stage=stage,
        error_kind=error_kind,
        message=mask_text(message),
    )
    return Outcome(
        system=system,
        kind=kind,
        source_id=record.id,
        target=target,
        action="parked" if parked else "failed",
        stage=stage,
        error_kind=error_kind,
        error_code=getattr(exc, "code", None),
        message=mask_text(message),
        payload=masked_json(payload) if payload is not None else None,
        response=mask_text(str(getattr(exc, "response", None) or "")) or None,
        doc_no=record.doc_no,
        party_name=record.party_name,
        party_code=record.party_code,
        mapping_version=mapping_version() if parked else None,
    )


class Pusher:
    """Delivers the jobs of one source kind to one single-record target.

    ``observe`` receives the seconds of each push (the daemon's histogram, or a list a push process
    sends back); ``mapping_version`` is asked only when a record is parked."""

    def __init__(
        self,
        system: str,
        kind: str,
        name: str,
        target: Target,
        mapping_version: Callable[[], str],
        observe: Callable[[float], None],
        *,
        debug: bool = False,
    ) -> None:
        self.system, self.kind, self.name, self.target = system, kind, name, target
        self.mapping_version = mapping_version
        self.observe = observe
        self.debug = debug

    def push_each(self, todo: deque[Job], fatal: dict[str, FatalConnectorError]) -> list[Outcome]:
        """Take jobs from ``todo`` until it is empty (the workers of a page share it). After a
        ``FatalConnectorError`` (kept in ``fatal``) the rest fail with it without a call."""
        out: list[Outcome] = []
        while True:
            try:
                job = todo.popleft()  # atomic: the workers of a page share the queue
            except IndexError:
                return out
            record, name, payload, _digest, _prior = job
            refused = fatal.get(name)
            if refused is not None:  # the target refused us as a whole (credentials): don't hammer it
                out.append(self.failure(record, refused, payload))
                continue
            try:
                out.append(self.push(job))
            except FatalConnectorError as exc:
                fatal.setdefault(name, exc)
                out.append(self.failure(record, exc, payload))

    def push(self, job: Job) -> Outcome:
        record, name, payload, digest, prior = job
        started = time.monotonic()
        # No per-record bind_contextvars here: at ~50 µs a push it costs more than the push's own Python
        # work; the task runs in a copy of the run's context (pipeline, run_id), and lines about one
        # record name it (record_id=, system=).
        try:
            done = self.target.deliver(record, payload, prior_of(prior))
        except FatalConnectorError:
            raise
        except (ConnectorError, MappingMissing, RecordInvalid) as exc:
            return self.failure(record, exc, payload)
        except Exception as exc:  # a bug must not stop the other records
            log.exception("push_crashed", record_id=record.id, system=name)
            return self.failure(record, exc, payload)
        finally:
            self.observe(time.monotonic() - started)
        if self.debug:  # resolving the lazy logger for a line nobody reads costs ~5 µs a record
            log.debug(
                "pushed", record_id=record.id, system=name, action=done.action, target_id=done.target_id
            )
        return delivered_outcome(self.system, self.kind, record, name, digest, done)

    def failure(self, record: Record, exc: Exception, payload: dict[str, Any] | None) -> Outcome:
        return failure_outcome(
            self.system, self.kind, record, self.name, "push", exc, self.mapping_version, payload
        )
