"""The monthly report's figures: the month, a department's counts, delays, timeliness, the report itself
(computed by ``sync.report.monthly``, shown by ``sync.report.text``, the console and ``sync.report.xlsx``)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from connectors.contract.records import Inspection, Penalty
from connectors.contract.states import Timeliness, labels

if TYPE_CHECKING:
    pass

RANDOM_TYPE = "02"  # 双随机
ACTIVE = {"inspection": ("submitted",), "penalty": ("decided", "closed")}
ACCIDENT_FIELDS = (
    "after_accident",
    "accident",
    "is_accident",
)  # none of these is in docs/interfaces/district.md
NO_DEPT = ""  # key of records without a department
NO_DEPT_NAME = "(未填部门)"
WAN = Decimal(10000)
LATE_ENTRY_DAYS = 3  # entry later than this many days after the inspection counts as late
CREDIT_WORKDAYS = 7

ACCIDENT_UNAVAILABLE = (
    "不可得: 区执法监督平台的处罚记录没有“是否事故后处罚”字段 (见 docs/interfaces/district.md), "
    "按违法事实文字或处罚事项名称推断并不可靠, 故不统计; 如需此项, 须由区平台增加该字段。"
)


# -- the month ------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, ``2026-10``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``yyyy-MM`` (also ``yyyy-M``); ValueError with a Chinese message otherwise."""
        try:
            y, m = (int(p) for p in text.strip().split("-"))
            if not (2000 <= y <= 2100 and 1 <= m <= 12):
                raise ValueError
        except ValueError:
            raise ValueError(f"月份格式应为 年-月 (如 2026-10), 实际为 {text!r}") from None
        return cls(y, m)

    @classmethod
    def previous(cls, today: date) -> Month:
        """The month before ``today``'s: the one a bureau reports at the start of a month."""
        last = today.replace(day=1) - timedelta(days=1)
        return cls(last.year, last.month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return self.next().first - timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.last.day)]

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"


# -- figures --------------------------------------------------------------------------------------
@dataclass
class DelayStats:
    """Summary of a set of delays (days or hours): count, mean, median, maximum."""

    values: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def max(self) -> float | None:
        return max(self.values) if self.values else None

    def over(self, limit: float) -> int:
        """How many exceed ``limit``."""
        return sum(1 for v in self.values if v > limit)

    def share_within(self, limit: float) -> float | None:
        return (self.count - self.over(limit)) / self.count if self.values else None


@dataclass
class Figures:
    """The month's figures for the district or one department / street team."""

    code: str | None
    name: str
    inspections: int = 0  # inspection records (检查次数)
    visits: int = 0  # 家次: enterprise × day
    hazards: int = 0
    major_hazards: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    void_inspections: int = 0
    decisions: int = 0  # 处罚决定 (decided or closed)
    cases: int = 0  # 案件: a 一案双罚 pair is one case
    double_penalty_cases: int = 0
    double_penalty_decisions: int = 0
    general_procedure: int = 0
    summary_procedure: int = 0
    fines_yuan: Decimal = Decimal("0.00")
    revocations: int = 0
    accident_decisions: int | None = None  # None: 不可得
    accident_fines_yuan: Decimal | None = None
    entry_days: DelayStats = field(default_factory=DelayStats)
    _visit_keys: set[tuple[str, date]] = field(default_factory=set, repr=False)
    _case_keys: set[tuple[str, ...]] = field(default_factory=set, repr=False)
    _double_keys: set[tuple[str, ...]] = field(default_factory=set, repr=False)

    @property
    def random_inspections(self) -> int:
        return self.by_type.get(RANDOM_TYPE, 0)

    @property
    def random_share(self) -> float | None:
        return self.random_inspections / self.inspections if self.inspections else None

    @property
    def double_penalty_share(self) -> float | None:
        return self.double_penalty_cases / self.cases if self.cases else None

    @property
    def fines_wan(self) -> Decimal:
        return self.fines_yuan / WAN

    @property
    def accident_fines_wan(self) -> Decimal | None:
        return None if self.accident_fines_yuan is None else self.accident_fines_yuan / WAN

    @property
    def active(self) -> bool:
        """Anything at all this month (departments without activity are still listed, with zeros)."""
        return bool(self.inspections or self.void_inspections or self.decisions or self.revocations)

    def add_inspection(self, r: Inspection, entry: datetime) -> None:
        self.inspections += 1
        self._visit_keys.add((r.enterprise.uscc, r.event_date))
        self.visits = len(self._visit_keys)
        self.hazards += r.hazard_count or 0  # a count the source left empty adds nothing to a sum
        self.major_hazards += r.major_hazard_count or 0
        self.by_type[r.inspection_type] += 1
        self.entry_days.values.append(max(0.0, (entry - r.ended_at).total_seconds() / 86400))

    def add_penalty(self, r: Penalty, accident: bool | None) -> None:
        self.decisions += 1
        case = _case_key(r)
        self._case_keys.add(case)
        self.cases = len(self._case_keys)
        if r.double_penalty:
            self.double_penalty_decisions += 1
            self._double_keys.add(case)
            self.double_penalty_cases = len(self._double_keys)
        if r.procedure == "summary":
            self.summary_procedure += 1
        else:
            self.general_procedure += 1
        self.fines_yuan += r.fine_yuan
        if accident and self.accident_decisions is not None and self.accident_fines_yuan is not None:
            self.accident_decisions += 1
            self.accident_fines_yuan += r.fine_yuan


def _case_key(r: Penalty) -> tuple[str, ...]:
    """The two decisions of one 一案双罚 case share the inspection and the decision date."""
    if r.double_penalty and r.inspection_id:
        return ("pair", r.inspection_id, r.decided_on.isoformat())
    return ("one", r.id)


@dataclass(frozen=True)
class TargetTimeliness:
    """Hours from entry in the district platform to the first delivery to one target."""

    kind: str
    target: str
    hours: DelayStats
    linked: int  # of which linked to a record typed in by hand
    undelivered: int  # counted records with an unresolved failure for this target


@dataclass(frozen=True)
class CreditItem:
    """One decision's 双公示 deadline."""

    source_id: str
    target: str
    doc_no: str
    party_name: str
    dept_code: str
    dept_name: str
    decided_on: date
    due: date
    published_at: datetime | None
    state: str  # on_time | late | late_when_read | overdue | pending
    days_late: int  # calendar days past the due date (to publication, or to ``as_of``)


CREDIT_STATE_NAMES = labels(Timeliness)


@dataclass(frozen=True)
class CreditTimeliness:
    """One credit target's 7-working-day figures for the month."""

    target: str
    items: tuple[CreditItem, ...]

    def count(self, state: str) -> int:
        return sum(1 for i in self.items if i.state == state)

    @property
    def required(self) -> int:
        return len(self.items)

    @property
    def decided(self) -> int:
        """Decisions whose outcome is known (published, or past due)."""
        return self.required - self.count("pending")

    @property
    def on_time_share(self) -> float | None:
        return self.count("on_time") / self.decided if self.decided else None


@dataclass
class MonthlyReport:
    """Everything the xlsx workbook and the console page show."""

    month: Month
    system: str
    generated_at: datetime
    as_of: datetime
    unit: str
    district: Figures
    departments: list[Figures]
    daily: list[tuple[date, int, int]]  # (day, inspections, penalty decisions)
    targets: list[TargetTimeliness]
    credit: list[CreditTimeliness]
    excluded: dict[str, int]  # city: district copies of city records; invalid; unreadable
    accident_note: str | None  # None: the figure is available
    late_entry_days: int = LATE_ENTRY_DAYS
    notes: list[str] = field(default_factory=list)

    @property
    def overdue(self) -> list[CreditItem]:
        """Decisions published late or not yet published past their due date, oldest due first."""
        items = [i for c in self.credit for i in c.items if i.state in ("late", "late_when_read", "overdue")]
        return sorted(items, key=lambda i: (i.due, i.doc_no))

    @property
    def title(self) -> str:
        return f"{self.unit} {self.month.label}行政执法综合统计".strip()


def iter_all(report: MonthlyReport) -> Iterable[Figures]:
    """The departments, then the district total."""
    yield from report.departments
    yield report.district
