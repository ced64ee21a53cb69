"""What the engine needs from a connector, and the registry that finds one by its config ``type``.

A *source* pulls changed records in pages and parses them into the canonical model; a *target*
translates a canonical record through the mapping tables into its own format and delivers it
idempotently (keyed by our record id), reporting what it did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connectors.contract.mapping import Mappings
from connectors.contract.records import Record, RecordKind


@dataclass
class Page:
    """A page of raw records and the source position after them (JSON-able, saved with the page)."""

    items: list[Any]
    position: dict[str, Any]


@dataclass
class Feedback:
    """An asynchronous verdict on a delivered record version (the 前置库's TR_T_FEEDBACK)."""

    kind: str
    source_id: str
    target_version: str | None
    ok: bool
    message: str = ""


@dataclass
class Delivered:
    """What a target did with a record: created | updated | linked | withdrawn | sent | skipped."""

    action: str
    target_id: str | None = None
    linked: bool = False
    target_version: str | None = None


@dataclass
class Context:
    """What a translation may need beyond the record: the mapping tables, and links to other records
    (e.g. the municipal id of the inspection a penalty came from)."""

    mappings: Mappings
    link: Callable[[RecordKind, str, str], str | None]  # (kind, source_id, target) -> target id
    # (system, kind, natural key) -> [(source id, stored JSON body)] of records seen from that system
    same_key: Callable[[str, str, str], list[tuple[str, str]]] | None = None


@dataclass
class PriorDelivery:
    """What the ledger knows of a record's last delivery to this target. ``state`` "attempted": never
    confirmed, but an earlier push ended without an answer, so the target may hold an older version."""

    target_id: str | None
    state: str
    linked: bool
    target_version: str | None = None


@runtime_checkable
class Source(Protocol):
    name: str

    def now(self) -> datetime:
        """The source's clock (naive Beijing time)."""
        ...

    def pull(
        self, kind: RecordKind, saved: dict[str, Any] | None, start: datetime, until: datetime, page_size: int
    ) -> Iterator[Page]:
        """Pages of records changed since ``saved`` (the last page's position) or ``start``, up to ``until``."""
        ...

    def parse(self, kind: RecordKind, raw: Any) -> Record: ...

    def is_unsubmitted(self, kind: RecordKind, raw: dict[str, Any]) -> bool: ...


@runtime_checkable
class Target(Protocol):
    name: str
    concurrency: int

    def begin_run(self, kind: RecordKind) -> None:
        """Called once per pipeline run before any delivery (refresh indexes, …)."""
        ...

    def wants(self, record: Record) -> bool:
        """False for records this target does not take (e.g. summary-procedure penalties on credit)."""
        ...

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]: ...

    def deliver(self, record: Record, payload: dict[str, Any], prior: PriorDelivery | None) -> Delivered: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchTarget(Target, Protocol):
    """A target that takes many records per call (credit: at most 200)."""

    batch_size: int

    def deliver_batch(
        self, jobs: list[tuple[Record, dict[str, Any], PriorDelivery | None]]
    ) -> list[Delivered | Exception]:
        """One result per job, in order: a ``Delivered``, or the error for that record alone."""
        ...


def deliver_one(
    target: BatchTarget, record: Record, payload: dict[str, Any], prior: PriorDelivery | None
) -> Delivered:
    """``deliver`` for a batch target: a batch of one."""
    result = target.deliver_batch([(record, payload, prior)])[0]
    if isinstance(result, Exception):
        raise result
    return result


@runtime_checkable
class FeedbackTarget(Target, Protocol):
    """A target that accepts writes now and says later whether they were taken (the 前置库)."""

    def poll_feedback(self, watermark: str | None) -> tuple[list[Feedback], str | None]:
        """Verdicts written since ``watermark``, and the new watermark."""
        ...
