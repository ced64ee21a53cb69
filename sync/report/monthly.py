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
  decisions still inside their period and unpublished are "pending" and left out of the share. A late
  one that was already past due when the daemon first read it (``records.first_seen``: history from
  before the installation) is counted apart as 首次读到时已逾期, still late for the share.
- **After-accident penalties** (事故后处罚): only from an explicit field of the record
  (``ACCIDENT_FIELDS``); the district platform has none, so the figure is reported as 不可得.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.contract.clock import beijing_now, for_people
from connectors.contract.errors import RecordInvalid
from connectors.contract.records import Inspection, Penalty, parse_record
from connectors.contract.validators import mask_text
from sync.workdays import WorkCalendar, default_calendar

if TYPE_CHECKING:
    from sync.config import Settings
    from sync.ledger import Ledger

from sync.report.figures import (
    ACCIDENT_FIELDS,
    ACCIDENT_UNAVAILABLE,
    ACTIVE,
    CREDIT_WORKDAYS,
    LATE_ENTRY_DAYS,
    NO_DEPT,
    NO_DEPT_NAME,
    CreditItem,
    CreditTimeliness,
    DelayStats,
    Figures,
    Month,
    MonthlyReport,
    TargetTimeliness,
)


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
    now = (as_of or beijing_now()).replace(microsecond=0)
    cal = calendar or default_calendar()
    credit_targets = {"credit": False} if credit_targets is None else dict(credit_targets)
    credit = [
        m.credit(target, send_summary, published, cal, now.date())
        for target, send_summary in sorted(credit_targets.items())
    ]
    return MonthlyReport(
        month=month,
        system=system,
        generated_at=beijing_now(),
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
        self.first_seen: dict[str, datetime] = {}  # penalties by id
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
                self._penalty(rec, row.kind, entry, row.first_seen, figures, raw)

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
        self,
        rec: Penalty,
        kind: str,
        entry: datetime,
        first_seen: datetime,
        figures: tuple[Figures, ...],
        raw: dict[str, Any],
    ) -> None:
        if rec.status == "revoked":
            for f in figures:
                f.revocations += 1
            return
        self.entries[(kind, rec.id)] = entry
        self.first_seen[rec.id] = first_seen
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
                if state == "late" and self.first_seen[rec.id].date() > due:
                    state = "late_when_read"  # already past due when first read: not the daemon's delay
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
        since = for_people(first_run, fmt="%Y-%m-%d %H:%M") if first_run else "(尚未运行)"
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
