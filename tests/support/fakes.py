"""In-memory fakes of the contract's roles, to unit-test the engine (``sync.pipeline``) without HTTP.

Each fake implements its protocol in ``connectors.contract.roles``, records what it was asked, and can
be told to misbehave the way real systems do: fail one record with a given error (a refusal, a time-out
as ``RetriableError``, our credentials refused as ``FatalConnectorError``), fail every call, or hold a
call until the test lets it go — so that answers come slowly, concurrently, and in an order the test
chooses (a later page's pushes finishing before an earlier page's). No sleeps: holds are events, and a
hold that is never released fails the call after ``WAIT_S`` instead of hanging the suite.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from connectors.contract.errors import FatalConnectorError
from connectors.contract.records import Record, RecordKind, is_unsubmitted, parse_record
from connectors.contract.roles import (
    Capabilities,
    Context,
    Cursor,
    Delivered,
    Feedback,
    FeedbackPage,
    Page,
    Push,
    RawSummary,
    deliver_one,
)
from connectors.contract.states import Action
from sync.ledger import Ledger, RecordSnapshot
from sync.outcomes import Outcome
from tests.support.records import T0

WAIT_S = 10.0  # the longest a held call waits for its release


# -- the source ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FakeCursor:
    """How far into the source's change log a page reaches."""

    offset: int
    watermark: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, "offset": self.offset}


class FakeSource:
    """A change log read in order, ``page_size`` entries a page; the cursor is the offset read up to.

    ``emit`` appends changes (a record re-emitted is a re-read); ``pulls`` lists the saved cursor each
    pull started from; ``fail_pull`` makes the next pulls raise (the source is down)."""

    def __init__(self, name: str = "district", kind: RecordKind = "inspection") -> None:
        self.name = name
        self.kind = kind
        self.changes: list[Any] = []
        self.pulls: list[dict[str, Any] | None] = []
        self.fail_pull: Exception | None = None
        self.clock = T0 + timedelta(days=1)

    def emit(self, *raws: Any) -> None:
        self.changes.extend(copy.deepcopy(list(raws)))

    def now(self) -> datetime:
        return self.clock

    def pull(
        self, kind: RecordKind, saved: dict[str, Any] | None, start: datetime, until: datetime, page_size: int
    ) -> Iterator[Page]:
        assert kind == self.kind, f"pulled {kind} from a source of {self.kind}"
        self.pulls.append(saved)
        if self.fail_pull is not None:
            raise self.fail_pull
        offset = int(saved["offset"]) if saved else 0
        while offset < len(self.changes):
            items = copy.deepcopy(self.changes[offset : offset + page_size])
            offset += len(items)
            yield Page(items, FakeCursor(offset, self.clock))

    def parse(self, kind: RecordKind, raw: Any) -> Record:
        return parse_record(kind, raw)

    def is_unsubmitted(self, kind: RecordKind, raw: dict[str, Any]) -> bool:
        return is_unsubmitted(kind, raw)

    def cursor_at(self, when: datetime) -> FakeCursor:
        """The offset of the first change made at or after ``when`` (changes carry ``updated_at``)."""
        times = [str(c.get("updated_at", "")) if isinstance(c, dict) else "" for c in self.changes]
        first = next((i for i, t in enumerate(times) if t >= when.strftime("%Y-%m-%d %H:%M:%S")), len(times))
        return FakeCursor(first, when)

    def describe(self, kind: RecordKind, raw: Any) -> RawSummary:
        if not isinstance(raw, dict):
            return RawSummary(None)
        ent = raw.get("enterprise")
        ent = ent if isinstance(ent, dict) else {}
        return RawSummary(raw.get("id"), raw.get("document_no"), ent.get("name"), ent.get("uscc"))


# -- targets ---------------------------------------------------------------------------------------
@dataclass
class _Rule:
    error: Exception
    times: int | None  # None: every time


class FakeTarget:
    """A single-record target holding what it was sent in ``store``, by our record id (an upsert, as
    every real target is written). ``calls`` lists every push it received, ``finished`` the record ids
    in the order their calls returned, ``max_in_flight`` the most calls it answered at once."""

    def __init__(
        self,
        name: str = "municipal",
        *,
        concurrency: int = 4,
        item_column: str = "municipal_item_code",
        capabilities: Capabilities | None = None,
    ) -> None:
        self.name = name
        self.concurrency = concurrency
        self.item_column = item_column
        self.capabilities = capabilities or Capabilities()
        self.store: dict[str, dict[str, Any]] = {}
        self.calls: list[Push] = []
        self.finished: list[str] = []
        self.runs = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.everything: Exception | None = None  # every call fails with this
        self._rules: dict[str, _Rule] = {}
        self._holds: dict[str, threading.Event] = {}
        self._done: dict[str, threading.Event] = {}
        self._crowd: tuple[int, threading.Event] | None = None
        self._lock = threading.Lock()

    # what a test tells it
    def fail(self, record_id: str, error: Exception, *, times: int | None = None) -> None:
        """Pushes of ``record_id`` raise ``error`` (``times`` times, or every time)."""
        self._rules[record_id] = _Rule(error, times)

    def heal(self, record_id: str | None = None) -> None:
        """Stop failing ``record_id`` (or everything)."""
        if record_id is None:
            self._rules.clear()
            self.everything = None
        else:
            self._rules.pop(record_id, None)

    def hold(self, record_id: str, until: threading.Event | None = None) -> threading.Event:
        """Calls for ``record_id`` wait until ``until`` (or the returned event) is set."""
        event = until or threading.Event()
        self._holds[record_id] = event
        return event

    def hold_until_concurrent(self, n: int) -> threading.Event:
        """An event set once ``n`` calls are in flight at once: calls held on it go on only if the engine
        really pushes ``n`` at a time."""
        self._crowd = (n, threading.Event())
        return self._crowd[1]

    def done(self, record_id: str) -> threading.Event:
        """Set once a call for ``record_id`` has returned."""
        with self._lock:
            return self._done.setdefault(record_id, threading.Event())

    def pushed(self, record_id: str) -> list[Push]:
        """The pushes this target received for ``record_id``."""
        return [p for p in self.calls if p.record.id == record_id]

    # the protocol
    def begin_run(self, kind: RecordKind) -> None:
        self.runs += 1

    def wants(self, record: Record) -> bool:
        return True

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        """Item and officers through the mapping tables (``MappingMissing`` if a row is missing); the rest
        as the record has it, but for the source's change time (a re-read is not a change)."""
        return {
            "id": record.id,
            "item": ctx.mappings.get("items", record.item_code, self.item_column),
            "officers": [ctx.mappings.get("officers", o, "cert_no") for o in record.officers],
            "record": record.model_dump(mode="json", exclude={"updated_at"}),
        }

    def deliver(self, push: Push) -> Delivered:
        self._enter(push)
        try:
            self._misbehave(push.record.id)
            return self._apply(push)
        finally:
            self._leave(push.record.id)

    # inside
    def _enter(self, push: Push) -> None:
        with self._lock:
            self.calls.append(push)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self._crowd is not None and self.in_flight >= self._crowd[0]:
                self._crowd[1].set()
        hold = self._holds.get(push.record.id)
        if hold is not None and not hold.wait(WAIT_S):
            raise AssertionError(f"{self.name}: {push.record.id} was held and never released")

    def _leave(self, record_id: str) -> None:
        with self._lock:
            self.in_flight -= 1
            self.finished.append(record_id)
        self.done(record_id).set()

    def _misbehave(self, record_id: str) -> None:
        if self.everything is not None:
            raise self.everything
        error = self._error_for(record_id)
        if error is not None:
            raise error

    def _error_for(self, record_id: str) -> Exception | None:
        with self._lock:
            rule = self._rules.get(record_id)
            if rule is None:
                return None
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    del self._rules[record_id]
            return rule.error

    def _apply(self, push: Push) -> Delivered:
        record_id = push.record.id
        with self._lock:
            held = record_id in self.store
            if push.record.withdrawn:
                if not held:
                    return Delivered(Action.SKIPPED)
                del self.store[record_id]
                return Delivered(Action.WITHDRAWN, f"{self.name}-{record_id}")
            self.store[record_id] = push.payload
        return Delivered(Action.UPDATED if held else Action.CREATED, f"{self.name}-{record_id}")


class FakeBatchTarget(FakeTarget):
    """A target taking ``batch_size`` records a call (as credit does). A record's error comes back in its
    place in the batch; a ``FatalConnectorError`` (or ``everything``) fails the whole call."""

    def __init__(self, name: str = "credit", *, batch_size: int = 3, **kw: Any) -> None:
        super().__init__(name, item_column=kw.pop("item_column", "municipal_item_code"), **kw)
        self.batch_size = batch_size
        self.batches: list[list[str]] = []

    def deliver(self, push: Push) -> Delivered:
        return deliver_one(self, push)

    def deliver_batch(self, pushes: list[Push]) -> list[Delivered | Exception]:
        assert len(pushes) <= self.batch_size, f"a batch of {len(pushes)} for at most {self.batch_size}"
        with self._lock:
            self.batches.append([p.record.id for p in pushes])
        for push in pushes:
            self._enter(push)
        try:
            if self.everything is not None:
                raise self.everything
            errors = {p.record.id: self._error_for(p.record.id) for p in pushes}
            fatal = next((e for e in errors.values() if isinstance(e, FatalConnectorError)), None)
            if fatal is not None:
                raise fatal
            return [errors[p.record.id] or self._apply(p) for p in pushes]
        finally:
            for push in pushes:
                self._leave(push.record.id)


class FakeFeedbackTarget(FakeTarget):
    """A target that takes writes now and gives its verdict later (as the 前置库 does): each write is
    ``sent`` with a version; ``verdict`` queues the answer the next ``poll_feedback`` returns. A record
    withdrawn before it was ever sent is not written (``withdraw_unsent`` False, as for the 前置库)."""

    def __init__(self, name: str = "hlwjg", **kw: Any) -> None:
        kw.setdefault("capabilities", Capabilities(withdraw_unsent=False))
        super().__init__(name, item_column=kw.pop("item_column", "hlwjg_item_code"), **kw)
        self.versions: dict[str, int] = {}
        self.feedback: list[Feedback] = []
        self.polls: list[str | None] = []

    def deliver(self, push: Push) -> Delivered:
        done = super().deliver(push)
        if done.action not in (Action.CREATED, Action.UPDATED, Action.WITHDRAWN):
            return done
        with self._lock:
            version = self.versions[push.record.id] = self.versions.get(push.record.id, 0) + 1
        return Delivered(
            Action.WITHDRAWN if done.action == Action.WITHDRAWN else Action.SENT,
            done.target_id,
            target_version=str(version),
        )

    def verdict(
        self, record_id: str, *, ok: bool, message: str = "", kind: RecordKind = "inspection"
    ) -> None:
        """The target's answer on the latest version written of ``record_id``."""
        version = str(self.versions[record_id])
        self.feedback.append(Feedback(kind, record_id, version, ok, message))

    def poll_feedback(self, watermark: str | None) -> FeedbackPage:
        self.polls.append(watermark)
        start = int(watermark or 0)
        return FeedbackPage(self.feedback[start:], str(len(self.feedback)))


# -- the ledger ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Commit:
    """One page transaction the engine asked for: the ids it wrote and the cursor (None: not moved)."""

    cursor: dict[str, Any] | None
    ids: frozenset[str]
    outcomes: tuple[Outcome, ...] = field(repr=False)


class SpyLedger(Ledger):
    """The real ledger, recording every page transaction in ``commits`` (in order). ``fail_cursor``
    makes the transaction of a page whose cursor it matches fail *after* everything of the page was
    written inside it (as a connection lost at COMMIT would), once."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.commits: list[Commit] = []
        self.fail_cursor: Callable[[dict[str, Any]], bool] | None = None

    @classmethod
    def open(cls, url: str) -> SpyLedger:
        ledger = cls.connect(url)
        assert isinstance(ledger, SpyLedger)
        return ledger

    def commit_page(
        self,
        *,
        pipeline: str,
        run_id: str,
        snapshots: list[RecordSnapshot],
        outcomes: list[Outcome],
        cursor: Cursor | None,
    ) -> None:
        ids = frozenset({s.source_id for s in snapshots} | {o.source_id for o in outcomes})
        self.commits.append(Commit(cursor.to_json() if cursor else None, ids, tuple(outcomes)))
        super().commit_page(
            pipeline=pipeline, run_id=run_id, snapshots=snapshots, outcomes=outcomes, cursor=cursor
        )

    def _save_cursor(self, conn: Connection, pipeline: str, cursor: Cursor) -> None:
        super()._save_cursor(conn, pipeline, cursor)
        if self.fail_cursor is not None and self.fail_cursor(cursor.to_json()):
            self.fail_cursor = None
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection unexpectedly"))
