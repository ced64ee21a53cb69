"""The monthly enforcement statistics and timeliness report (月度行政执法综合统计), from the ledger alone.

Every figure is computed from what the daemon stored (``records``, ``deliveries``, ``failures``), so a
past month can be reported again while the platforms are down. The rules, once:

- **Which records**: those the district source (``system``) sent us whose ``event_date`` falls in the
  month — an inspection's start date, a penalty's decision date — and whose ``origin`` is the
  district itself (district copies of city records are the city's to report; counted apart).
- **Statuses**: submitted inspections and decided/closed penalties are activity. Void inspections and
  revoked penalties are *not* activity; revoked penalties are counted as 撤销 (by their decision
  month), void inspections as 作废. Drafts and filed cases never reach the ledger. Records that
  failed validation (status ``invalid``) go nowhere and are counted apart, as 不合规.
- **As the ledger holds them now**: the ledger keeps each record's latest version, so a report for a
  past month run again after a correction or a revocation shows the corrected figures.
- **家次**: inspections counted once per enterprise (USCC) per day. The district's 家次 is not the sum
  of the departments' when two departments inspect one enterprise on one day.
- **一案双罚**: the two decisions of one case carry ``double_penalty`` and share their inspection; a
  case is one decision, or one such pair (grouped by inspection id and decision date).
- **Entry time** (录入时间): the district record's first ``updated_at`` is not kept (the ledger holds
  the latest body), so entry ≈ min(``records.first_seen``, ``records.source_updated_at``): both are
  upper bounds of the first ``updated_at``; the latest ``updated_at`` is exact for a record never
  changed after entry, ``first_seen`` bounds one that was (within one sync interval). Entry delay is
  measured from the inspection's ``ended_at``; a negative delay (clocks apart) counts as 0.
- **Delivery time**: ``deliveries.first_delivered_at`` − entry time. (Not − ``first_seen``: the
  ledger writes both in one transaction, so that difference is 0 for every record delivered on its
  first attempt and would only measure failures.) A linked record (typed in by hand on the target)
  counts as delivered when linked.
- **双公示 7 working days**: penalties a credit target takes (general procedure; summary too where the
  target's ``send_summary`` is set), due = the 7th Chinese working day after the decision
  (``sync.workdays``); published on time when the first delivery to the target falls on or before
  the due date (to its end of day). On-time share = on time / (on time + late + unpublished past due);
  decisions still inside their period and unpublished are "pending" and left out of the share.
- **After-accident penalties** (事故后处罚): only from an explicit field of the record
  (``ACCIDENT_FIELDS``); the district platform has none, so the figure is reported as 不可得.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.contract.codes import INSPECTION_TYPES
from connectors.contract.errors import RecordInvalid
from connectors.contract.records import Inspection, Penalty, parse_record
from connectors.contract.states import Timeliness, labels
from connectors.contract.validators import mask_text
from sync.workdays import WorkCalendar, default_calendar

if TYPE_CHECKING:
    from sync.config import Settings
    from sync.ledger import Ledger

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
        self.hazards += r.hazard_count
        self.major_hazards += r.major_hazard_count
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
    state: str  # on_time | late | overdue | pending
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
        items = [i for c in self.credit for i in c.items if i.state in ("late", "overdue")]
        return sorted(items, key=lambda i: (i.due, i.doc_no))

    @property
    def title(self) -> str:
        return f"{self.unit} {self.month.label}行政执法综合统计".strip()


# -- computation ----------------------------------------------------------------------------------
def _accident_flag(raw: dict[str, Any]) -> bool | None:
    for key in ACCIDENT_FIELDS:
        value = raw.get(key)
        if isinstance(value, bool):
            return value
    return None


def _raw_event_date(kind: str, body: str) -> date | None:
    """The event date of a record that failed validation, if its body still says it."""
    try:
        raw = json.loads(body)
        text = str(raw["started_at"] if kind == "inspection" else raw["decided_on"])
        return date.fromisoformat(text.strip()[:10])
    except (ValueError, KeyError, TypeError):
        return None


def monthly_report(
    ledger: Ledger,
    month: Month,
    *,
    system: str = "district",
    departments: Mapping[str, str] | None = None,
    credit_targets: Mapping[str, bool] | None = None,
    calendar: WorkCalendar | None = None,
    as_of: datetime | None = None,
    unit: str = "",
    late_entry_days: int = LATE_ENTRY_DAYS,
) -> MonthlyReport:
    """The month's figures from ``ledger``.

    ``departments``: code → name, in the order to list them (every one is listed, zeros included);
    ``credit_targets``: credit target name → its ``send_summary``; ``as_of``: "now" for deadlines.
    """
    m = _Month(ledger, month, system, dict(departments or {}))
    m.count_records()
    accident_note = m.accidents()
    m.count_invalid()
    published, targets = m.timeliness()
    now = (as_of or datetime.now()).replace(microsecond=0)
    cal = calendar or default_calendar()
    credit_targets = {"credit": False} if credit_targets is None else dict(credit_targets)
    credit = [
        m.credit(target, send_summary, published, cal, now.date())
        for target, send_summary in sorted(credit_targets.items())
    ]
    return MonthlyReport(
        month=month,
        system=system,
        generated_at=datetime.now().replace(microsecond=0),
        as_of=now,
        unit=unit,
        district=m.district,
        departments=m.ordered_departments(),
        daily=[(d, n[0], n[1]) for d, n in sorted(m.daily.items())],
        targets=targets,
        credit=credit,
        excluded=dict(m.excluded),
        accident_note=accident_note,
        late_entry_days=late_entry_days,
        notes=m.notes(),
    )


class _Month:
    """The month's figures as they are gathered from the ledger, one step per method."""

    def __init__(self, ledger: Ledger, month: Month, system: str, departments: dict[str, str]) -> None:
        self.ledger, self.month, self.system, self.departments = ledger, month, system, departments
        self.district = Figures(None, "合计")
        self.by_dept: dict[str, Figures] = {code: Figures(code, name) for code, name in departments.items()}
        self.daily: dict[date, list[int]] = {d: [0, 0] for d in month.days()}
        self.excluded: Counter[str] = Counter()
        self.entries: dict[tuple[str, str], datetime] = {}
        self.penalties: list[tuple[Penalty, str]] = []
        self.accident_flags: list[bool | None] = []

    def dept(self, code: str | None) -> Figures:
        key = code or NO_DEPT
        if key not in self.by_dept:
            self.by_dept[key] = Figures(code, self.departments.get(key, code or NO_DEPT_NAME))
        return self.by_dept[key]

    def count_records(self) -> None:
        for row in self.ledger.month_records(self.system, tuple(ACTIVE), self.month.first, self.month.last):
            raw = json.loads(row.body)
            if raw.get("origin", "district") != "district":
                self.excluded["city"] += 1
                continue
            try:
                rec = parse_record(row.kind, raw)  # type: ignore[arg-type]
            except RecordInvalid:
                self.excluded["unreadable"] += 1  # stored by an older version of the model
                continue
            # Entry ≈ the earlier of first seen and the last updated_at (see the module's docstring).
            entry = min(row.first_seen, row.source_updated_at or row.first_seen)
            figures = (self.district, self.dept(rec.dept_code))
            if isinstance(rec, Inspection):
                self._inspection(rec, row.kind, entry, figures)
            elif isinstance(rec, Penalty):
                self._penalty(rec, row.kind, entry, figures, raw)

    def _inspection(self, rec: Inspection, kind: str, entry: datetime, figures: tuple[Figures, ...]) -> None:
        if rec.status == "void":
            for f in figures:
                f.void_inspections += 1
            return
        self.entries[(kind, rec.id)] = entry
        for f in figures:
            f.add_inspection(rec, entry)
        self.daily[rec.event_date][0] += 1

    def _penalty(
        self, rec: Penalty, kind: str, entry: datetime, figures: tuple[Figures, ...], raw: dict[str, Any]
    ) -> None:
        if rec.status == "revoked":
            for f in figures:
                f.revocations += 1
            return
        self.entries[(kind, rec.id)] = entry
        self.penalties.append((rec, rec.dept_code or NO_DEPT))
        self.accident_flags.append(_accident_flag(raw))
        self.daily[rec.event_date][1] += 1

    def accidents(self) -> str | None:
        """Accident figures only when every counted decision says whether it followed an accident."""
        note: str | None = ACCIDENT_UNAVAILABLE
        known = [a for a in self.accident_flags if a is not None]
        if self.penalties and len(known) == len(self.penalties):
            note = None
        elif known:
            missing = len(self.penalties) - len(known)
            note = f"不可得: 本月 {len(self.penalties)} 件处罚决定中有 {missing} 件没有“是否事故后处罚”字段"
        if note is None:
            for f in (self.district, *self.by_dept.values()):
                f.accident_decisions, f.accident_fines_yuan = 0, Decimal("0.00")
        for (rec, code), accident in zip(self.penalties, self.accident_flags, strict=True):
            self.district.add_penalty(rec, accident)
            self.dept(code).add_penalty(rec, accident)
        return note

    def count_invalid(self) -> None:
        for bad in self.ledger.invalid_bodies(self.system, tuple(ACTIVE)):
            day = _raw_event_date(bad.kind, bad.body)
            if day is not None and self.month.first <= day <= self.month.last:
                self.excluded["invalid"] += 1

    def timeliness(self) -> tuple[dict[tuple[str, str], datetime], list[TargetTimeliness]]:
        """Hours to each target for the records counted as activity, and when each penalty was published."""
        first, last = self.month.first, self.month.last
        hours: dict[tuple[str, str], DelayStats] = defaultdict(DelayStats)
        linked: Counter[tuple[str, str]] = Counter()
        published: dict[tuple[str, str], datetime] = {}
        for d in self.ledger.month_first_deliveries(self.system, tuple(ACTIVE), first, last):
            entry = self.entries.get((d.kind, d.source_id))
            if entry is None:
                continue
            hours[(d.kind, d.target)].values.append(max(0.0, (d.at - entry).total_seconds() / 3600))
            linked[(d.kind, d.target)] += d.linked
            if d.kind == "penalty":
                published[(d.source_id, d.target)] = d.at
        stuck: Counter[tuple[str, str]] = Counter(
            (f.kind, f.target)
            for f in self.ledger.month_open_failures(self.system, tuple(ACTIVE), first, last)
            if (f.kind, f.source_id) in self.entries
        )
        keys = sorted(set(hours) | set(stuck), key=lambda kt: (kt[0] != "inspection", kt[1]))
        return published, [
            TargetTimeliness(k, t, hours[(k, t)], linked[(k, t)], stuck[(k, t)]) for k, t in keys
        ]

    def credit(
        self,
        target: str,
        send_summary: bool,
        published: dict[tuple[str, str], datetime],
        cal: WorkCalendar,
        today: date,
    ) -> CreditTimeliness:
        items = []
        for rec, code in self.penalties:
            if rec.procedure == "summary" and not send_summary:
                continue
            due = cal.due_date(rec.decided_on, CREDIT_WORKDAYS)
            at = published.get((rec.id, target))
            if at is not None:
                state = "on_time" if at.date() <= due else "late"
                late_days = max(0, (at.date() - due).days)
            else:
                state = "overdue" if today > due else "pending"
                late_days = max(0, (today - due).days)
            party = mask_text(rec.party.name)
            name = self.dept(code).name
            items.append(
                CreditItem(
                    rec.id,
                    target,
                    rec.decision_no,
                    party,
                    code,
                    name,
                    rec.decided_on,
                    due,
                    at,
                    state,
                    late_days,
                )
            )
        return CreditTimeliness(target, tuple(sorted(items, key=lambda i: (i.decided_on, i.doc_no))))

    def notes(self) -> list[str]:
        first_run = self.ledger.first_run_at()
        if first_run is not None and first_run <= datetime.combine(self.month.first, time()):
            return []
        since = f"{first_run:%Y-%m-%d %H:%M}" if first_run else "(尚未运行)"
        return [
            f"本系统首次运行于 {since}, 晚于本月开始: 本月记录的送达时长与公示时效包含补录 (首次同步) 的时间, "
            "不代表日常时效。"
        ]

    def ordered_departments(self) -> list[Figures]:
        order = {code: i for i, code in enumerate(self.departments)}
        return sorted(
            self.by_dept.values(), key=lambda f: (order.get(f.code or NO_DEPT, len(order)), f.code or "")
        )


# -- from a configuration -------------------------------------------------------------------------
def department_names(mappings_dir: Path) -> tuple[dict[str, str], str]:
    """(code → name from ``departments.csv``/``.xlsx``, the bureau's name — the first row's agency)."""
    from connectors.contract.mapping import MappingFileError
    from sync.mapping.files import read_rows

    for name in ("departments.csv", "departments.xlsx"):
        path = mappings_dir / name
        if not path.exists():
            continue
        try:
            rows = read_rows(path)
        except MappingFileError:
            return {}, ""
        if not rows:
            return {}, ""
        header = [h.strip() for h in rows[0]]
        try:
            code_i, name_i = header.index("district_dept_code"), header.index("district_dept_name")
        except ValueError:
            return {}, ""
        agency_i = header.index("agency_name") if "agency_name" in header else None
        names: dict[str, str] = {}
        unit = ""
        for row in rows[1:]:
            cells = [c.strip() for c in row] + [""] * len(header)
            if not cells[code_i] or cells[code_i].startswith("#"):
                continue
            names[cells[code_i]] = cells[name_i] or cells[code_i]
            if not unit and agency_i is not None:
                unit = cells[agency_i]
        return names, unit
    return {}, ""


def district_source(settings: Settings) -> str:
    """The configured name of the district platform (the source of flows 1 and 2)."""
    for name, cfg in settings.systems.items():
        if cfg.type == "district":
            return name
    return "district"


def credit_targets_of(settings: Settings, system: str) -> dict[str, bool]:
    """Credit targets fed with penalties from ``system``, and whether each takes summary procedure."""
    out: dict[str, bool] = {}
    for p in settings.pipelines:
        if p.kind == "penalty" and p.source == system:
            for t in p.targets:
                cfg = settings.systems.get(t)
                if cfg is not None and cfg.type == "credit":
                    out[t] = cfg.send_summary
    return out


def report_for_settings(
    ledger: Ledger, settings: Settings, month: Month, *, as_of: datetime | None = None
) -> MonthlyReport:
    """``monthly_report`` with what the configuration says: names, credit targets, holidays."""
    system = district_source(settings)
    names, unit = department_names(settings.mappings_dir)
    return monthly_report(
        ledger,
        month,
        system=system,
        departments=names,
        credit_targets=credit_targets_of(settings, system),
        calendar=WorkCalendar.load(settings.holidays_file),
        as_of=as_of,
        unit=unit,
    )


# -- plain text (the command line) ----------------------------------------------------------------
def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def wan(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def summary_lines(report: MonthlyReport) -> list[tuple[str, str]]:
    """(indicator, value) pairs of the district's totals, as the totals sheet and the CLI show them."""
    d = report.district
    lines = [
        ("检查企业 (家次)", str(d.visits)),
        ("检查记录 (次)", str(d.inspections)),
        *((f"  其中 {name}", str(d.by_type.get(code, 0))) for code, name in INSPECTION_TYPES.items()),
        ("双随机抽查占比", pct(d.random_share)),
        ("发现隐患 (项)", str(d.hazards)),
        ("  其中重大隐患 (项)", str(d.major_hazards)),
        ("作废检查 (不计入)", str(d.void_inspections)),
        ("行政处罚案件 (件)", str(d.cases)),
        ("行政处罚决定书 (份)", str(d.decisions)),
        ("  一般程序", str(d.general_procedure)),
        ("  简易程序", str(d.summary_procedure)),
        ("一案双罚 (件)", str(d.double_penalty_cases)),
        ("一案双罚占比 (按案件)", pct(d.double_penalty_share)),
        ("罚款金额 (万元)", wan(d.fines_wan)),
        ("事故后处罚罚款 (万元)", wan(d.accident_fines_wan) if report.accident_note is None else "不可得"),
        ("撤销处罚决定 (份)", str(d.revocations)),
        ("检查录入平均用时 (天)", num(d.entry_days.mean, 2)),
        (f"检查超过 {report.late_entry_days} 天录入 (次)", str(d.entry_days.over(report.late_entry_days))),
    ]
    for c in report.credit:
        lines.append((f"双公示 7 个工作日内公示率 ({c.target})", pct(c.on_time_share)))
        lines.append((f"  逾期 (含逾期后公示) ({c.target})", str(c.count("late") + c.count("overdue"))))
    return lines


def render_text(report: MonthlyReport) -> str:
    """The totals and the department table for a terminal."""
    from sync.cli_format import table

    out = [report.title, f"数据截至 {report.as_of:%Y-%m-%d %H:%M} (来源系统 {report.system})", ""]
    out.append(table([[k, v] for k, v in summary_lines(report)], ["指标", "数值"]))
    out += ["", "按部门 / 街道:"]
    rows = [
        [
            f.name,
            f.visits,
            f.inspections,
            f.hazards,
            f.major_hazards,
            pct(f.random_share),
            f.cases,
            f.decisions,
            wan(f.fines_wan),
            f.revocations,
            num(f.entry_days.mean, 2),
        ]
        for f in [*report.departments, report.district]
    ]
    out.append(
        table(
            rows,
            [
                "部门",
                "家次",
                "检查",
                "隐患",
                "重大",
                "双随机",
                "案件",
                "决定",
                "罚款万元",
                "撤销",
                "录入天数",
            ],
        )
    )
    if report.accident_note:
        out += ["", f"事故后处罚: {report.accident_note}"]
    if report.overdue:
        out += ["", f"逾期公示 {len(report.overdue)} 件: 见工作簿“逾期公示清单”或控制台月度统计页"]
    for key, label in (
        ("city", "市级队伍录入的记录 (由市级统计)"),
        ("invalid", "数据不合规未同步的记录"),
        ("unreadable", "无法读取的记录"),
    ):
        if report.excluded.get(key):
            out.append(f"未计入: {label} {report.excluded[key]} 条")
    out += [f"注: {n}" for n in report.notes]
    return "\n".join(out)


def iter_all(report: MonthlyReport) -> Iterable[Figures]:
    """The departments, then the district total."""
    yield from report.departments
    yield report.district
