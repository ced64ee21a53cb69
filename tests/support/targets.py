"""What a target under test gives the shared conformance suite (``tests/conformance/test_targets.py``), as
singer-sdk's shared tap tests ask of a tap: how to build it against its simulator, a record that maps
cleanly, how to read back what the simulator holds, how to make the system lose an answer after storing,
how to turn its rate limit on, and the records it refuses with the error each must raise.

One ``TargetCase`` subclass per target: municipal, credit (双公示), the 互联网+监管 前置库 (the
simulator's SQLite exchange database and its collector), and the district as the target of city
records and of credit events. Simulators run in threads of the test process (``simulators.server``);
their rate limits are off except inside ``limits()``.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from connectors import systems
from connectors.contract.config import Secrets
from connectors.contract.errors import CatalogueMismatch, ConflictError, TargetRejected, ZhifaError
from connectors.contract.mapping import Mappings
from connectors.contract.records import Record, RecordKind, parse_record
from connectors.contract.roles import (
    Context,
    Delivered,
    Feedback,
    FeedbackTarget,
    Prior,
    Push,
    System,
    Target,
)
from connectors.contract.states import DeliveryState
from simulators import credit, district, hlwjg, municipal
from simulators.server import RunningServer, start
from simulators.simkit import Faults
from tests.support import mariadb
from tests.support.records import (
    OTHER_USCC,
    USCC,
    city_inspection,
    credit_event,
    enterprise,
    inspection,
    penalty,
)
from tests.support.tables import Tables

_ids = itertools.count(1)
RETRY = {"attempts": 6, "initial_wait_s": 0.01, "max_wait_s": 0.1}
UNKNOWN_ITEM = "QZJC-9990"  # mapped, but in no system's catalogue
UNKNOWN_OFFICER = "u9999"  # mapped to a 执法证号 no system has registered


def tables(directory: Path) -> Mappings:
    """The shipped tables plus the rows the refused records need (codes no system knows)."""
    t = Tables(directory)
    t.set_item(UNKNOWN_ITEM, municipal="120000-AQJC-9990", hlwjg="12000000009990")
    t.put("officers", district_user_id=UNKNOWN_OFFICER, name="未注册", cert_no="12011699999")
    t.put("penalty_types", district_code="98", name="测试类别", municipal_code="QT", credit_name="不存在的类别",
          hlwjg_code="99")  # fmt: skip
    return t.current


@dataclass(frozen=True, slots=True)
class Attempt:
    """A record to push, with what the ledger would know of it."""

    record: Record
    prior: Prior | None = None


# what a refusal must come out as: an error of this class, a skip, or a refusal in the later feedback
Expect = type[ZhifaError] | Literal["skipped", "feedback"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record the system refuses, what the target must make of it, and what the message must name."""

    why: str
    make: Callable[[TargetCase], Attempt]
    expect: Expect
    names: str


class TargetCase(ABC):
    """A target under test, against its simulator."""

    name: ClassVar[str]
    kind: ClassVar[RecordKind]
    versioned: ClassVar[bool] = True  # its records change (credit events do not)
    rate_limit: ClassVar[str] = "documented"  # or the reason it has none
    burst: ClassVar[int] = 4  # calls at once that exceed the limit ``limits()`` turns on
    rejections: ClassVar[tuple[Rejection, ...]] = ()
    target: Target
    ctx: Context

    # -- set up and take down ----------------------------------------------------------------------
    def start(self, tmp: Path) -> None:
        self.ctx = Context(tables(tmp / "mappings"), lambda kind, sid, target: None)
        self.servers: list[RunningServer] = []
        self.system = self.build(tmp)
        self.target = self.system.target(self.kind)
        self.target.begin_run(self.kind)
        self.reset()

    @abstractmethod
    def build(self, tmp: Path) -> System:
        """The simulator running, and the system built against it."""

    def stop(self) -> None:
        self.system.close()
        for server in self.servers:
            server.stop()

    def serve(self, app: Any) -> str:
        server = start(app)
        self.servers.append(server)
        return server.url

    @abstractmethod
    def reset(self) -> None:
        """Every fault off, the rate limit too."""

    # -- records -----------------------------------------------------------------------------------
    def new_id(self) -> str:
        return f"CT{next(_ids):06d}"

    @abstractmethod
    def record(self, record_id: str, version: int = 1) -> Record:
        """A record that maps cleanly; ``version`` shows in what the system stores (``text``)."""

    @staticmethod
    def marker(version: int) -> str:
        return f"第{version}版"

    def push(self, record: Record, prior: Prior | None = None) -> Delivered:
        """Translate and deliver, as the engine does."""
        return self.target.deliver(Push(record, self.target.translate(record, self.ctx), prior))

    # -- what the system holds ---------------------------------------------------------------------
    @abstractmethod
    def held(self, record_id: str) -> list[dict[str, Any]]:
        """Every record the system holds as our ``record_id`` (more than one: a duplicate)."""

    def text(self, held: dict[str, Any]) -> str:
        """The stored field that ``record(version=…)`` changes."""
        raise NotImplementedError(f"{self.name} records do not change")

    # -- faults ------------------------------------------------------------------------------------
    @abstractmethod
    def lose_answers(self) -> AbstractContextManager[None]:
        """Inside: every write is stored and its answer lost."""

    @abstractmethod
    def lost(self) -> int:
        """How many answers the system has lost after storing so far."""

    def limits(self) -> AbstractContextManager[None]:
        """Inside: the system's rate limit on, tight enough that a handful of calls exceed it."""
        raise NotImplementedError(self.rate_limit)

    def limited(self) -> int:
        """How many calls the system has refused for the rate so far."""
        raise NotImplementedError(self.rate_limit)


def _inspection(**changes: Any) -> Callable[[TargetCase], Attempt]:
    """A district inspection of a fresh id with ``changes``."""
    return lambda case: Attempt(parse_record("inspection", inspection(case.new_id(), **changes)))


def secrets(**values: str) -> Secrets:
    return Secrets({k.replace("__", "."): SecretStr(v) for k, v in values.items()})


class _SimkitCase(TargetCase):
    """A simulator built on ``simulators.simkit``: its fault knobs and counters (district, municipal)."""

    faults: Faults
    refused_for_rate: ClassVar[str]  # the counter of calls refused for the rate

    def reset(self) -> None:
        self.faults.reset()
        self.faults.update(rate_limits=False)

    @contextmanager
    def lose_answers(self) -> Iterator[None]:
        self.faults.update(drop_after_store_rate=1.0)
        try:
            yield
        finally:
            self.faults.update(drop_after_store_rate=0.0)

    @contextmanager
    def limits(self) -> Iterator[None]:
        self.faults.update(rate_limits=True, rate_limit_per_s=2)
        try:
            yield
        finally:
            self.faults.update(rate_limits=False)

    def limited(self) -> int:
        return int(self.faults.stats()["faults"].get(self.refused_for_rate, 0))

    def lost(self) -> int:
        return int(self.faults.stats()["faults"].get("drop", 0))


# -- municipal -------------------------------------------------------------------------------------
class MunicipalCase(_SimkitCase):
    name = "municipal"
    kind = "inspection"
    refused_for_rate = "E4290"
    rejections = (
        Rejection(
            "E2002-address-too-long",
            _inspection(enterprise=enterprise(address="滨" * 401)),
            TargetRejected,
            "qydz",
        ),
        Rejection(
            "E2003-item-not-in-catalogue",
            _inspection(item_code=UNKNOWN_ITEM),
            CatalogueMismatch,
            "120000-AQJC-9990",
        ),
        Rejection(
            "E2004-officer-not-registered",
            _inspection(officers=["u1001", UNKNOWN_OFFICER]),
            CatalogueMismatch,
            "12011699999",
        ),
    )

    def build(self, tmp: Path) -> System:
        self.state = municipal.MunicipalState()
        self.faults = self.state.faults
        url = self.serve(municipal.create_app(self.state))
        cfg = systems.MunicipalConfig.model_validate(
            {
                "type": "municipal",
                "base_url": url,
                "app_key": municipal.MUNICIPAL_APP_KEY,
                "app_secret": {"env": "UNUSED"},
                "region_code": "120116",
                "retry": RETRY,
                "timeout_s": 5,
                "push_process": False,
            }
        )
        return systems.create(self.name, cfg, secrets(municipal__app_secret=municipal.MUNICIPAL_APP_SECRET))

    def record(self, record_id: str, version: int = 1) -> Record:
        raw = inspection(
            record_id, enterprise=enterprise(address=f"滨海新区港城大道1号 {self.marker(version)}")
        )
        return parse_record("inspection", raw)

    def held(self, record_id: str) -> list[dict[str, Any]]:
        return [r for r in self.state.records("jcjl") if r["wbxtbh"] == record_id]

    def text(self, held: dict[str, Any]) -> str:
        return str(held["qydz"])


# -- credit (双公示) ---------------------------------------------------------------------------------
def _decision_no(record_id: str) -> str:
    return f"（滨海）应急罚〔2025〕{int(record_id[2:])}号"


def _duplicate_correction(case: TargetCase) -> Attempt:
    """Two decisions published; the second corrected to the first one's 文号 (DUPLICATE on ``U``)."""
    first, second = case.record(case.new_id()), case.record(case.new_id())
    case.push(first)
    done = case.push(second)
    raw = penalty(second.id, _decision_no(first.id))
    return Attempt(parse_record("penalty", raw), Prior(done.target_id, DeliveryState.DELIVERED))


class CreditCase(TargetCase):
    name = "credit"
    kind = "penalty"
    burst = 8  # its limit, 5 calls/s, cannot be set lower
    rejections = (
        Rejection(
            "REJECTED-unknown-penalty-kind",
            lambda c: Attempt(
                parse_record("penalty", penalty(n := c.new_id(), _decision_no(n), penalty_types=["98", "03"]))
            ),
            TargetRejected,
            "CF_CFLB",
        ),
        Rejection("DUPLICATE-on-correction", _duplicate_correction, ConflictError, "文号重复"),
    )

    def build(self, tmp: Path) -> System:
        self.state = credit.CreditState()
        url = self.serve(credit.create_app(self.state))
        # The client paces itself below the platform's 5 calls/s by default; here it may go faster, so
        # that limits() can show the platform's own limit handled.
        cfg = systems.CreditConfig.model_validate(
            {
                "type": "credit",
                "base_url": url,
                "app_key": credit.APP_ID,
                "app_secret": {"env": "UNUSED"},
                "retry": RETRY,
                "timeout_s": 5,
                "rate_limit_per_s": 50,
            }
        )
        return systems.create(self.name, cfg, secrets(credit__app_secret=credit.APP_SECRET))

    def reset(self) -> None:
        self.state.faults.clear()
        self.state.faults.update(credit.DEFAULT_FAULTS, rate_limits=False)

    def record(self, record_id: str, version: int = 1) -> Record:
        facts = f"经查，该公司未按规定对从业人员进行安全生产教育和培训（{self.marker(version)}）。"
        return parse_record("penalty", penalty(record_id, _decision_no(record_id), facts=facts))

    def held(self, record_id: str) -> list[dict[str, Any]]:
        return [r for r in self.state.records() if r["SJBS"] == record_id]

    def text(self, held: dict[str, Any]) -> str:
        return str(held["CF_SY"])

    @contextmanager
    def lose_answers(self) -> Iterator[None]:
        self.state.faults["drop_after_store_rate"] = 1.0
        try:
            yield
        finally:
            self.state.faults["drop_after_store_rate"] = 0.0

    @contextmanager
    def limits(self) -> Iterator[None]:
        self.state.faults["rate_limits"] = True
        try:
            yield
        finally:
            self.state.faults["rate_limits"] = False

    def limited(self) -> int:
        return int(self.state.stats["rate_limited"])

    def lost(self) -> int:
        return int(self.state.stats["dropped_after_store"])


# -- the 互联网+监管 前置库 ---------------------------------------------------------------------------
class HlwjgCase(TargetCase):
    """The 前置库 is a database: an answer is lost when the COMMIT goes through and the connection breaks
    before the driver hears so (``_lossy_engine``); the exchange's collector says later what it took."""

    name = "hlwjg"
    kind = "inspection"
    rate_limit = "the 前置库 is a database: it has no rate limit to back off from"
    rejections = (
        Rejection(
            "item-not-in-catalogue",
            _inspection(item_code=UNKNOWN_ITEM),
            CatalogueMismatch,
            "12000000009990",
        ),
        Rejection(
            "officer-not-registered",
            _inspection(officers=["u1001", UNKNOWN_OFFICER]),
            CatalogueMismatch,
            "12011699999",
        ),
        Rejection(
            "check-date-in-the-future", lambda c: Attempt(_tomorrow(c.new_id())), "feedback", "CHECK_DATE"
        ),
    )

    def build(self, tmp: Path) -> System:
        path = tmp / "exchange.db"
        self.collector = hlwjg.Collector(hlwjg.open_exchange(f"sqlite:///{path}"))
        self.lose = _Loss()
        cfg = systems.HlwjgConfig.model_validate({"type": "hlwjg", "url": {"env": "UNUSED"}})
        return systems.create(self.name, cfg, secrets(), engine=_lossy_engine(path, self.lose))

    def stop(self) -> None:
        super().stop()
        self.collector.engine.dispose()

    def reset(self) -> None:
        self.lose.on.clear()

    def record(self, record_id: str, version: int = 1) -> Record:
        raw = inspection(
            record_id, enterprise=enterprise(address=f"滨海新区港城大道1号 {self.marker(version)}")
        )
        return parse_record("inspection", raw)

    def held(self, record_id: str) -> list[dict[str, Any]]:
        """What the national system holds once the exchange has collected what waits."""
        self.collector.collect_once()
        found = self.collector.accepted(hlwjg.CHECK_ACTION).get(record_id)
        return [found] if found else []

    def text(self, held: dict[str, Any]) -> str:
        return str(held["ADDRESS_REGISTERED"])

    @contextmanager
    def lose_answers(self) -> Iterator[None]:
        self.lose.on.set()
        try:
            yield
        finally:
            self.lose.on.clear()

    def lost(self) -> int:
        return self.lose.count


class HlwjgMariaDBCase(HlwjgCase):
    """The same 前置库 case on MariaDB (a private database; skipped when no server answers): a COMMIT
    that goes through and then loses the connection, whole-second ``CD_TIME``."""

    name = "hlwjg-mariadb"

    def build(self, tmp: Path) -> System:
        server = mariadb.server_url()
        if server is None:
            pytest.skip(mariadb.skip_reason())
        self._database = mariadb.private_database(server)
        url = self._database.__enter__()
        self.collector = hlwjg.Collector(hlwjg.open_exchange(url))
        self.lose = _Loss()
        self._lost: list[int] = []
        cfg = systems.HlwjgConfig.model_validate({"type": "hlwjg", "url": {"env": "UNUSED"}})
        engine = mariadb.lossy_engine(url, self.lose.on, self._lost)
        return systems.create(self.name, cfg, secrets(), engine=engine)

    def stop(self) -> None:
        super().stop()
        self._database.__exit__(None, None, None)

    def lost(self) -> int:
        return len(self._lost)


def _tomorrow(record_id: str) -> Record:
    at = (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    return parse_record("inspection", inspection(record_id, started_at=at, ended_at=at, updated_at=at))


class _Loss:
    """Whether COMMITs lose their answer now, and how many did."""

    def __init__(self) -> None:
        self.on = threading.Event()
        self.count = 0


def _lossy_engine(path: Path, lose: _Loss) -> sa.Engine:
    """An engine on the 前置库 whose COMMIT, while ``lose.on`` is set, goes through and then fails."""

    class Lossy(sqlite3.Connection):
        def commit(self) -> None:
            super().commit()
            if lose.on.is_set():
                lose.count += 1
                raise sqlite3.OperationalError("disk I/O error (simulated: committed, answer lost)")

    return sa.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(path, factory=Lossy, check_same_thread=False)
    )


# -- the district, as the target of city records and of credit events ------------------------------
class _DistrictCase(_SimkitCase):
    refused_for_rate = "429"

    def build(self, tmp: Path) -> System:
        self.state = district.DistrictState()
        self.faults = self.state.faults
        self.state.add_enterprise(USCC)
        url = self.serve(district.create_app(self.state))
        cfg = systems.DistrictConfig.model_validate(
            {
                "type": "district",
                "base_url": url,
                "username": district.DISTRICT_USER,
                "password": {"env": "UNUSED"},
                "retry": RETRY,
                "timeout_s": 5,
            }
        )
        return systems.create("district", cfg, secrets(district__password=district.DISTRICT_PASSWORD))


class DistrictRecordsCase(_DistrictCase):
    """Flow 3: inspections typed in at the city, written to the district (``/api/v1/external/*``)."""

    name = "district-records"
    kind = "inspection"
    rejections = (
        Rejection(
            "40001-penalty-item-on-an-inspection",
            lambda c: Attempt(city_inspection(c.new_id(), item_code="120000-AQCF-0001")),
            TargetRejected,
            "item_code",
        ),
    )

    def record(self, record_id: str, version: int = 1) -> Record:
        return city_inspection(
            record_id, enterprise=enterprise(address=f"滨海新区港城大道1号 {self.marker(version)}")
        )

    def held(self, record_id: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.state.records("inspections")
            if r.get("origin") == "municipal" and r.get("source_id") == record_id
        ]

    def text(self, held: dict[str, Any]) -> str:
        return str(held["enterprise"]["address"])


class DistrictEventsCase(_DistrictCase):
    """Flow 4: credit events, written to the district (``/api/v1/credit-events``)."""

    name = "district-events"
    kind = "credit_event"
    versioned = False
    rejections = (
        Rejection(
            "40401-company-of-another-district",
            # a credit event is pushed like a record, but Push.record is typed Inspection | Penalty only
            lambda c: Attempt(credit_event(c.new_id(), uscc=OTHER_USCC)),  # type: ignore[arg-type]
            "skipped",
            "",
        ),
    )

    def record(self, record_id: str, version: int = 1) -> Record:
        return credit_event(record_id)  # type: ignore[return-value]  # quacks like a Record

    def held(self, record_id: str) -> list[dict[str, Any]]:
        return [e for e in self.state.credit_events() if e["event_id"] == record_id]


CASES: dict[str, type[TargetCase]] = {
    c.name: c
    for c in (MunicipalCase, CreditCase, HlwjgCase, HlwjgMariaDBCase, DistrictRecordsCase, DistrictEventsCase)
}


def feedback_on(target: Target, record_id: str) -> list[Feedback]:
    """Every verdict the target's feedback gives on ``record_id``."""
    assert isinstance(target, FeedbackTarget), f"{target.name} gives no feedback"
    return [f for f in target.poll_feedback(None).items if f.source_id == record_id]
