"""What the engine and every connector share: the roles a system plays and what passes between them.

A configured external system (``System``) plays one or more roles, each a small object holding the
system's client: a *source* pulls changed records in pages and parses them into the canonical model; a
*target* translates a canonical record through the mapping tables into its own format and delivers it
idempotently (keyed by our record id), saying what it did; a *catalogue* checks the mapping tables
against the system's live code lists. What a role can do beyond its protocol is *declared*
(``Capabilities``), never probed for.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

from connectors.contract.checks import MappingRules
from connectors.contract.config import SystemConfig
from connectors.contract.health import Health, HealthReport
from connectors.contract.mapping import CheckReport, Mappings
from connectors.contract.records import Record, RecordKind
from connectors.contract.states import Action, DeliveryState, Kind, label


# -- cursors ---------------------------------------------------------------------------------------
class Cursor(Protocol):
    """Where a source has read up to: opaque to the engine but for the source time it stands for."""

    @property
    def watermark(self) -> datetime | None:
        """The source time (naive Beijing) everything up to which has been read; None if it has none."""
        ...

    def to_json(self) -> dict[str, Any]:
        """What the ledger stores, with its version under ``"v"``."""
        ...


class CursorVersionError(ValueError):
    """A stored cursor written by a newer zhifa-sync than this one (a downgrade is not supported)."""


def upgrade_cursor(
    data: Mapping[str, Any] | None,
    version: int,
    steps: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]],
) -> dict[str, Any] | None:
    """A stored cursor brought to ``version``: ``steps[n]`` turns version ``n`` into ``n + 1`` (a cursor
    without ``"v"`` is version 0), as dlt migrates its pipeline state. None stays None (first run)."""
    if data is None:
        return None
    out = dict(data)
    v = int(out.get("v", 0))
    if v > version:
        raise CursorVersionError(f"游标版本 {v} 高于本程序支持的 {version}: 请使用写入它的新版本 zhifa-sync")
    while v < version:
        out = steps[v](out)
        v += 1
        out["v"] = v
    return out


@dataclass(frozen=True, slots=True)
class Page:
    """A page of raw records and the source position after them (saved with the page's outcomes)."""

    items: list[Any]
    cursor: Cursor


# -- what passes between the engine and a target ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class Prior:
    """What the ledger knows of a record's last delivery to this target."""

    target_id: str | None
    state: DeliveryState
    linked: bool = False
    target_version: str | None = None
    payload_hash: str | None = None

    @property
    def known(self) -> bool:
        """The target holds (or held) this record under ``target_id``."""
        return self.target_id is not None


@dataclass(frozen=True, slots=True)
class Push:
    """One record for one target: the canonical record, its translation, and what was there before."""

    record: Record
    payload: dict[str, Any]
    prior: Prior | None


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a target did with a record: created | updated | linked | withdrawn | sent | skipped."""

    action: Action
    target_id: str | None = None
    linked: bool = False
    target_version: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    """An asynchronous verdict on a delivered record version (the 前置库's TR_T_FEEDBACK)."""

    kind: RecordKind
    source_id: str
    target_version: str | None
    ok: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class FeedbackPage:
    """Verdicts since a watermark, and the watermark after them (None: nothing new, or unreadable)."""

    items: list[Feedback]
    watermark: str | None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record the ledger has seen from some system: its id and its body as the source sent it."""

    source_id: str
    body: str


@dataclass
class Context:
    """What a translation may need beyond the record: the mapping tables, and links to other records
    (e.g. the municipal id of the inspection a penalty came from)."""

    mappings: Mappings
    link: Callable[[RecordKind, str, str], str | None]  # (kind, source_id, target) -> target id
    # (system, kind, natural key) -> the records seen from that system with that key
    same_key: Callable[[str, RecordKind, str], list[StoredRecord]] | None = None


@dataclass(frozen=True, slots=True)
class RawSummary:
    """What a source says about a raw record it cannot parse: enough for an operator to find it."""

    source_id: str | None
    doc_no: str | None = None
    party_name: str | None = None
    party_code: str | None = None
    # the natural key as far as the raw record gives it: an invalid record still has a twin elsewhere
    natural_key: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a target declares it allows, beyond the protocol."""

    # Its pushes may run in a push process (sync.push_process): writes are upserts by our own id and
    # nothing the engine reads back lives in the target object (and the configuration allows it).
    process_safe: bool = False
    # The client-side limit its calls are paced at (0: none): a process of its own helps only when the
    # CPU, not this limit, sets the pace.
    pace_per_s: float = 0
    # A record withdrawn before we ever delivered it is still sent: the target may hold a copy typed in
    # by hand that must be taken back (credit, municipal), or decides itself (district). Where it is
    # False (the 前置库) such a record is not written at all.
    withdraw_unsent: bool = True


# -- the roles -------------------------------------------------------------------------------------
@runtime_checkable
class Source(Protocol):
    name: str

    def now(self) -> datetime:
        """The source's clock (naive Beijing time)."""
        ...

    def pull(
        self, kind: RecordKind, saved: dict[str, Any] | None, start: datetime, until: datetime, page_size: int
    ) -> Iterator[Page]:
        """Pages of records changed since ``saved`` (the last page's cursor) or ``start``, up to ``until``."""
        ...

    def parse(self, kind: RecordKind, raw: Any) -> Record:
        """The canonical record, or ``RecordInvalid`` naming every bad field."""
        ...

    def is_unsubmitted(self, kind: RecordKind, raw: dict[str, Any]) -> bool:
        """Drafts, undecided cases, and our own records coming back: never synced."""
        ...

    def describe(self, kind: RecordKind, raw: Any) -> RawSummary:
        """Id, decision number and party of a raw record, as far as it says (for an invalid one)."""
        ...

    def cursor_at(self, when: datetime) -> Cursor:
        """A cursor from which ``pull`` reads everything changed at or after ``when`` (an operator's
        re-read from a date; records already delivered unchanged cost nothing downstream)."""
        ...


@runtime_checkable
class Target(Protocol):
    name: str
    concurrency: int
    capabilities: Capabilities

    def begin_run(self, kind: RecordKind) -> None:
        """Called once per pipeline run before any delivery (refresh indexes, …)."""
        ...

    def wants(self, record: Record) -> bool:
        """False for records this target does not take (e.g. summary-procedure penalties on credit)."""
        ...

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        """The record in the target's format; ``MappingMissing`` or ``RecordInvalid`` if it cannot be."""
        ...

    def deliver(self, push: Push) -> Delivered: ...


@runtime_checkable
class BatchTarget(Target, Protocol):
    """A target that takes many records per call (credit: at most 200)."""

    batch_size: int

    def deliver_batch(self, pushes: list[Push]) -> list[Delivered | Exception]:
        """One result per push, in order: a ``Delivered``, or the error for that record alone."""
        ...


def deliver_one(target: BatchTarget, push: Push) -> Delivered:
    """``deliver`` for a batch target: a batch of one."""
    result = target.deliver_batch([push])[0]
    if isinstance(result, Exception):
        raise result
    return result


# -- reconciliation: what a source lists and what a target holds ----------------------------------
@dataclass(frozen=True, slots=True)
class Listed:
    """A record as a source's listing names it: its id, when it last changed, whether it is synced at
    all (drafts, undecided cases and our own records coming back are not)."""

    source_id: str
    updated_at: datetime
    synced: bool = True


class Lister(Protocol):
    """A source that can list every record of a window, ids and ``updated_at`` only, page by page."""

    def list_ids(
        self, kind: RecordKind, start: datetime, until: datetime, page_size: int
    ) -> Iterator[list[Listed]]:
        """Every record changed in [start, until], as pages of ``Listed``."""
        ...

    def fetch(self, kind: RecordKind, listed: list[Listed], page_size: int) -> list[Any]:
        """The raw records named (each read again from the source, in its current version)."""
        ...


@dataclass(frozen=True, slots=True)
class Held:
    """What a target holds of one of our records: its id there, the fields as stored, and the version
    marker the target keeps (the 前置库's CD_BATCH; None where it keeps none)."""

    source_id: str
    target_id: str | None
    fields: Mapping[str, Any]
    version: str | None = None


class Reader(Protocol):
    """A target whose contents can be read back (municipal list, credit lookup, 前置库 tables)."""

    def held(self, kind: RecordKind, known: Mapping[str, Prior]) -> dict[str, Held]:
        """What the target holds of ``known`` (source id → ledger's delivery), by source id; every other
        record of ours it holds as well where it can list them (``lists_all``)."""
        ...

    @property
    def lists_all(self) -> bool:
        """``held`` also returns records of ours the ledger does not name (the target can be listed):
        only then can records on the target without a source record be found."""
        ...

    def differs(self, payload: dict[str, Any], held: Held) -> list[str]:
        """The fields (target's names) whose stored value is not what ``payload`` sends; [] if none."""
        ...


@runtime_checkable
class FeedbackTarget(Target, Protocol):
    """A target that accepts writes now and says later whether they were taken (the 前置库)."""

    def poll_feedback(self, watermark: str | None) -> FeedbackPage:
        """Verdicts written since ``watermark``."""
        ...


@dataclass(frozen=True, slots=True)
class Officer:
    """An officer as a system's directory lists them (for mapping suggestions)."""

    cert_no: str
    name: str
    user_id: str | None = None  # the district's user id; other systems know officers by 执法证号
    active: bool = True
    valid_to: date | None = None


class Catalogue(Protocol):
    """A system's live code lists, against which the mapping tables are checked."""

    def check(self, maps: Mappings, report: CheckReport, today: date) -> None:
        """Add a ``file:line`` problem to ``report`` for every code the system does not know."""
        ...

    def officers(self) -> list[Officer]:
        """The officers the system knows (empty when it keeps no such directory)."""
        ...


class System(Protocol):
    """One configured external system and the roles it plays; built by ``connectors.systems.create``."""

    @property
    def name(self) -> str: ...

    def source(self) -> Source:
        """The system as a source (``ValueError`` if it is not one)."""
        ...

    def target(self, kind: RecordKind) -> Target:
        """The system as the target of records of ``kind`` (``ValueError`` if it takes none)."""
        ...

    def catalogue(self) -> Catalogue | None:
        """Its live code lists, if it publishes any."""
        ...

    def lister(self) -> Lister | None:
        """Its listing of records (ids and ``updated_at``) for reconciliation, if it is a source that has one."""
        ...

    def reader(self, kind: RecordKind) -> Reader | None:
        """Its contents as a target of ``kind`` records, if they can be read back."""
        ...

    def ping(self) -> str:
        """Reach the system with the configured credentials; a short Chinese line saying what worked."""
        ...

    def health(self) -> HealthReport:
        """How the system has been answering lately."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Roles:
    """A ``System`` assembled from the roles a system package builds (each may be absent)."""

    name: str
    source_role: Source | None = None
    target_roles: Mapping[str, Target] = field(default_factory=dict)  # by record kind
    catalogue_role: Catalogue | None = None
    lister_role: Lister | None = None
    reader_roles: Mapping[str, Reader] = field(default_factory=dict)  # by record kind
    pinger: Callable[[], str] | None = None
    closer: Callable[[], None] | None = None
    health_of: Health = field(default_factory=Health)  # the client's, shared by every role

    def source(self) -> Source:
        if self.source_role is None:
            raise ValueError(f"系统 {self.name} 不能作为来源系统")
        return self.source_role

    def target(self, kind: RecordKind) -> Target:
        try:
            return self.target_roles[kind]
        except KeyError:
            raise ValueError(f"系统 {self.name} 不接收{label(Kind, kind)}记录") from None

    def catalogue(self) -> Catalogue | None:
        return self.catalogue_role

    def lister(self) -> Lister | None:
        return self.lister_role

    def reader(self, kind: RecordKind) -> Reader | None:
        return self.reader_roles.get(kind)

    def ping(self) -> str:
        return self.pinger() if self.pinger else "已创建连接"

    def health(self) -> HealthReport:
        return self.health_of.report()

    def close(self) -> None:
        if self.closer is not None:
            self.closer()


@dataclass(frozen=True)
class SystemType:
    """One kind of external system, as its package declares it to the registry (``connectors.systems``)."""

    type: str
    label: str  # what it is called, in Chinese
    short: str  # ... in a sentence that names several ("市系统、互联网+监管需要它")
    config: builtins.type[SystemConfig]
    build: Callable[..., System]  # (name, its config, secrets, **test hooks) -> System
    rules: MappingRules = field(default_factory=lambda: MappingRules({}))
