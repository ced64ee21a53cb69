"""The monthly statistics report against a small ledger whose figures are counted by hand below.

The data set (month 2026-10; departments D1 执法大队, D2 塘沽街道; enterprises A–E):

inspections (event date = start date)                          entry ≈ min(first_seen, updated_at)
  I1  D1  A 10-12 09:00–11:00  双随机(02)  hazards 3, major 1   updated 11:30 (seen 11:35) → 0.5 h
  I2  D1  A 10-12 14:00–15:00  日常(01)    hazards 0           updated 10-14 15:00 → 2 days
  I3  D1  B 10-13 09:00–11:00  双随机(02)  hazards 2           seen 12:00, changed 10-20 → 1 h
  I4  D2  A 10-12 09:00–10:00  日常(01)    hazards 1           updated 10-17 10:00 → 5 days (late)
  I5  D2  C 10-20 14:00–16:00  专项(03)    hazards 0           updated 10-21 16:00 → 1 day
  I6  D2  C 10-21              void                            not counted; 作废 1 (D2)
  I7  —   D 10-31 08:00–10:00  复查(05)    hazards 4, major 2  updated 11-02 10:00 → 2 days
  I8  D1  E 11-01 (next month), I9 D1 E 09-30 (previous month): not in October
  I10 D1  origin municipal (a city team's record): not counted, "city" 1
  I11 invalid (bad USCC), body says 10-15: not counted, "invalid" 1

  district: inspections 6; 家次 4 = (A,10-12) [I1 I2 I4], (B,10-13), (C,10-20), (D,10-31);
            hazards 10, major 3; types 01:2 02:2 03:1 05:1 → 双随机 2/6; void 1
  D1: 3 inspections, 家次 2, hazards 5, major 1, 双随机 2/3.  D2: 2, 家次 2, hazards 1, void 1.
  no dept: 1, 家次 1, hazards 4, major 2.  Σ departments' 家次 5 ≠ district 4 (A on 10-12 twice).
  entry days: [0.5/24, 2, 1/24, 5, 1, 2] → mean 10.0625/6 = 1.677083, median 1.5, over 3 days: 1,
            within 1 day: 3/6

penalties (event date = decision date)                              credit (7 working days)
  P1  D1 10-12 general 30000  一案双罚 with P2 (inspection I1)      due 10-21, published 10-13 (linked)
  P2  D1 10-12 general 10000  一案双罚 (a person)                   due 10-21, published 10-21 23:00 ✓
  P3  D2 10-13 summary   500                                        not sent (summary)
  P4  D2 10-20 general 1234.56                                      due 10-29, published 10-30: 1 day late
  P5  D1 10-15 revoked 50000                                        撤销 1, not a penalty
  P6  D1 09-30 (previous month)
  P7  D2 10-28 general 20000                                        due 11-06: pending on 11-03
  P8  D1 10-09 general  5000                                        due 10-19, unpublished: 15 days overdue

  district: decisions 6 (P1 P2 P3 P4 P7 P8), cases 5 (P1+P2 one), 一案双罚 1 case (2 decisions) → 1/5;
            general 5, summary 1; fines 66734.56 元 = 6.673456 万元; revocations 1
  D1: decisions 3, cases 2, fines 45000 → 4.5 万元, revocations 1.  D2: 3, 3, summary 1, 2.173456 万元.
  credit: required 5, on time 2, late 1, overdue 1, pending 1 → on-time share 2/4

deliveries: inspections → municipal: I1 11:35 (+5 min), I2 +5 min, I3 +0, I5 +24 h, I7 +2 min;
  I4 has an open municipal failure (undelivered 1): hours [1/12, 1/12, 0, 24, 1/30] → mean 4.84, max 24
  penalties → credit: P1 18 h, P2 223 h, P4 233 h → mean 158; P8 has an open credit failure.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, insert

from simulators.universe import make_uscc
from sync.ledger import Ledger
from sync.ledger.schema import deliveries, failures, records, runs
from sync.report import xlsx as report_xlsx
from sync.report.figures import ACCIDENT_UNAVAILABLE, Month, MonthlyReport
from sync.report.monthly import department_names, monthly_report
from sync.report.text import render_text
from sync.workdays import WorkCalendar

_rng = random.Random(3)
USCC = {k: make_uscc("91120116", _rng) for k in "ABCDE"}
ID_NO = "11010519491231002X"
DEPTS = {"D1": "滨海新区应急管理局执法大队", "D2": "滨海新区塘沽街道综合执法队"}
OCT = Month(2026, 10)
AS_OF = datetime(2026, 11, 3, 9, 0)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}")


def inspection(sid: str, dept: str | None, ent: str, start: str, end: str, itype: str, hazards: int = 0,
               major: int = 0, status: str = "submitted", updated: str = "", **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "id": sid, "origin": "district", "status": status,
        "enterprise": {"name": f"企业{ent}", "uscc": USCC[ent], "address": None, "region_code": "120116"},
        "item_code": "QZJC-0005", "inspection_type": itype, "plan_id": "SSJ-1" if itype == "02" else None,
        "started_at": f"2026-{start}:00", "ended_at": f"2026-{end}:00", "officers": ["u1", "u2"],
        "result": "2" if hazards else "1", "hazard_count": hazards, "major_hazard_count": major,
        "document_no": None, "dept_code": dept, "updated_at": f"2026-{updated or end}:00", **extra,
    }  # fmt: skip


def penalty(sid: str, dept: str, decided: str, fine: str, *, procedure: str = "general", status: str = "decided",
            double: bool = False, person: bool = False, inspection_id: str | None = None,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    party = (
        {"type": "2", "name": "张三", "uscc": None, "legal_rep": None, "id_type": "SFZ", "id_no": ID_NO}
        if person
        else {
            "type": "1",
            "name": "企业A",
            "uscc": USCC["A"],
            "legal_rep": "李四",
            "id_type": None,
            "id_no": None,
        }
    )
    return {
        "id": sid, "origin": "district", "status": status, "decision_no": f"（滨海）应急罚〔2026〕{sid}号",
        "party": party, "inspection_id": inspection_id, "item_code": "QZCF-0031", "violation": "未培训",
        "facts": "经查", "basis": "安全生产法", "penalty_types": ["03"], "fine_yuan": fine,
        "confiscation_yuan": "0.00", "license_action": None, "procedure": procedure,
        "decided_on": f"2026-{decided}", "officers": ["u1", "u2"], "dept_code": dept, "double_penalty": double,
        "updated_at": f"2026-{decided} 16:00:00", **extra,
    }  # fmt: skip


def add_record(engine: Engine, kind: str, body: dict[str, Any], first_seen: str, *, status: str | None = None,
               event_date: date | None = None) -> None:  # fmt: skip
    """One ``records`` row as the pipeline writes it (event date: start date or decision date)."""
    if event_date is None and status != "invalid":
        event_date = date.fromisoformat(
            (body["started_at"] if kind == "inspection" else body["decided_on"])[:10]
        )
    with engine.begin() as conn:
        conn.execute(insert(records).values(
            system="district", kind=kind, source_id=body["id"], status=status or body["status"],
            dept_code=None if status == "invalid" else body.get("dept_code"), event_date=event_date,
            source_updated_at=None if status == "invalid" else datetime.fromisoformat(body["updated_at"]),
            record_hash="h", body=json.dumps(body, ensure_ascii=False), first_seen=ts(first_seen),
            last_seen=ts(first_seen),
        ))  # fmt: skip


def add_delivery(engine: Engine, kind: str, sid: str, target: str, at: str, *, linked: bool = False,
                 state: str = "delivered") -> None:  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(deliveries).values(
            system="district", kind=kind, source_id=sid, target=target, target_id=f"T-{sid}", state=state,
            last_action="linked" if linked else "created", linked=linked, first_delivered_at=ts(at),
            delivered_at=ts(at), updated_at=ts(at),
        ))  # fmt: skip


def add_failure(engine: Engine, kind: str, sid: str, target: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(failures).values(
            pipeline=f"district-{kind}s", system="district", kind=kind, source_id=sid, target=target, stage="push",
            error_kind="rejected", message="拒收", attempts=1, first_seen=AS_OF, last_seen=AS_OF, state="open",
        ))  # fmt: skip


def build(engine: Engine, *, accident: dict[str, bool] | None = None) -> None:
    """The hand-counted data set of the module docstring."""
    acc = accident or {}
    for body, seen in [
        (inspection("I1", "D1", "A", "10-12 09:00", "10-12 11:00", "02", 3, 1, updated="10-12 11:30"), "10-12 11:35"),
        (inspection("I2", "D1", "A", "10-12 14:00", "10-12 15:00", "01", updated="10-14 15:00"), "10-14 15:05"),
        (inspection("I3", "D1", "B", "10-13 09:00", "10-13 11:00", "02", 2, updated="10-20 09:00"), "10-13 12:00"),
        (inspection("I4", "D2", "A", "10-12 09:00", "10-12 10:00", "01", 1, updated="10-17 10:00"), "10-17 10:10"),
        (inspection("I5", "D2", "C", "10-20 14:00", "10-20 16:00", "03", updated="10-21 16:00"), "10-21 16:10"),
        (inspection("I6", "D2", "C", "10-21 09:00", "10-21 10:00", "01", 2, status="void"), "10-21 10:05"),
        (inspection("I7", None, "D", "10-31 08:00", "10-31 10:00", "05", 4, 2, updated="11-02 10:00"), "11-02 10:02"),
        (inspection("I8", "D1", "E", "11-01 09:00", "11-01 10:00", "01", 1), "11-01 10:05"),
        (inspection("I9", "D1", "E", "09-30 09:00", "09-30 10:00", "01", 1), "09-30 10:05"),
        (inspection("I10", "D1", "E", "10-14 09:00", "10-14 10:00", "01", 1, origin="municipal"), "10-14 10:05"),
    ]:  # fmt: skip
        add_record(engine, "inspection", body, seen)
    bad = inspection("I11", "D1", "E", "10-15 09:00", "10-15 10:00", "01")
    bad["enterprise"]["uscc"] = USCC["E"][:17] + ("0" if USCC["E"][17] != "0" else "1")
    add_record(engine, "inspection", bad, "10-15 10:05", status="invalid")

    for body in [
        penalty("P1", "D1", "10-12", "30000.00", double=True, inspection_id="I1"),
        penalty(
            "P2", "D1", "10-12", "10000.00", double=True, person=True, inspection_id="I1", status="closed"
        ),
        penalty("P3", "D2", "10-13", "500.00", procedure="summary", status="closed"),
        penalty("P4", "D2", "10-20", "1234.56"),
        penalty("P5", "D1", "10-15", "50000.00", status="revoked"),
        penalty("P6", "D1", "09-30", "8000.00"),
        penalty("P7", "D2", "10-28", "20000.00"),
        penalty("P8", "D1", "10-09", "5000.00"),
    ]:
        if body["id"] in acc:
            body["after_accident"] = acc[body["id"]]
        add_record(engine, "penalty", body, f"{body['decided_on'][5:]} 16:05")

    for sid, at in [("I1", "10-12 11:35"), ("I2", "10-14 15:05"), ("I3", "10-13 12:00"), ("I5", "10-22 16:00"),
                    ("I7", "11-02 10:02"), ("I8", "11-01 10:05"), ("I10", "10-14 10:05")]:  # fmt: skip
        add_delivery(engine, "inspection", sid, "municipal", at)
    add_delivery(engine, "inspection", "I6", "municipal", "10-21 10:05", state="withdrawn")
    add_failure(engine, "inspection", "I4", "municipal")
    add_delivery(engine, "penalty", "P1", "credit", "10-13 10:00", linked=True)
    add_delivery(engine, "penalty", "P2", "credit", "10-21 23:00")
    add_delivery(engine, "penalty", "P4", "credit", "10-30 09:00")
    add_delivery(engine, "penalty", "P6", "credit", "10-09 09:00")
    add_failure(engine, "penalty", "P8", "credit")
    with engine.begin() as conn:
        conn.execute(insert(runs).values(run_id="r1", pipeline="district-inspections", started_at=ts("09-01 08:00"),
                                         status="ok"))  # fmt: skip


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    led = Ledger.connect(f"sqlite:///{tmp_path}/ledger.db")
    yield led
    led.close()


def make(ledger: Ledger, **kw: Any) -> MonthlyReport:
    build(ledger.engine, **kw)
    return monthly_report(
        ledger, OCT, departments=DEPTS, calendar=WorkCalendar(), as_of=AS_OF, unit="滨海新区"
    )


def by_code(report: MonthlyReport) -> dict[str | None, Any]:
    return {f.code: f for f in report.departments}


def test_district_totals_match_the_hand_count(ledger: Ledger) -> None:
    """District inspections, 家次, hazards, types, penalties, cases, 一案双罚, fines and revocations."""
    d = make(ledger).district
    assert (d.inspections, d.visits, d.hazards, d.major_hazards, d.void_inspections) == (6, 4, 10, 3, 1)
    assert dict(d.by_type) == {"01": 2, "02": 2, "03": 1, "05": 1}
    assert d.random_share == pytest.approx(2 / 6)
    assert (d.decisions, d.cases, d.double_penalty_cases, d.double_penalty_decisions) == (6, 5, 1, 2)
    assert d.double_penalty_share == pytest.approx(1 / 5)
    assert (d.general_procedure, d.summary_procedure, d.revocations) == (5, 1, 1)
    assert d.fines_yuan == Decimal("66734.56")
    assert d.fines_wan == Decimal("6.673456")


def test_departments_are_listed_in_table_order_with_their_own_figures(ledger: Ledger) -> None:
    """D1, D2 (from the table), then records without a department; 家次 counted per department."""
    report = make(ledger)
    assert [f.name for f in report.departments] == [DEPTS["D1"], DEPTS["D2"], "(未填部门)"]
    d1, d2, none = (by_code(report)[c] for c in ("D1", "D2", None))
    assert (d1.inspections, d1.visits, d1.hazards, d1.major_hazards, d1.random_share) == (3, 2, 5, 1, 2 / 3)
    assert (d1.decisions, d1.cases, d1.double_penalty_cases, d1.fines_wan, d1.revocations) == (
        3, 2, 1, Decimal("4.5"), 1)  # fmt: skip
    assert (d2.inspections, d2.visits, d2.hazards, d2.void_inspections) == (2, 2, 1, 1)
    assert (d2.decisions, d2.cases, d2.summary_procedure, d2.fines_wan) == (3, 3, 1, Decimal("2.173456"))
    assert (none.inspections, none.visits, none.hazards, none.major_hazards) == (1, 1, 4, 2)
    assert sum(f.visits for f in report.departments) == 5 != report.district.visits


def test_records_outside_the_month_from_the_city_or_invalid_are_left_out(ledger: Ledger) -> None:
    """September/November records are not counted; a city record and an invalid one are counted apart."""
    report = make(ledger)
    assert report.excluded == {"city": 1, "invalid": 1}
    assert [(d.day, i, p) for d, i, p in report.daily if i or p] == [
        (9, 0, 1), (12, 3, 2), (13, 1, 1), (20, 1, 1), (28, 0, 1), (31, 1, 0)]  # fmt: skip
    assert report.notes == []  # the daemon ran before October began


def test_entry_delay_uses_the_earlier_of_first_seen_and_updated_at(ledger: Ledger) -> None:
    """Days from the end of an inspection to its entry: mean, median, late entries, per department."""
    report = make(ledger)
    e = report.district.entry_days
    assert sorted(e.values) == pytest.approx([1 / 48, 1 / 24, 1, 2, 2, 5])
    assert e.mean == pytest.approx(10.0625 / 6)
    assert e.median == pytest.approx(1.5)
    assert e.over(3) == 1
    assert e.share_within(1) == pytest.approx(0.5)
    assert by_code(report)["D2"].entry_days.mean == pytest.approx(3.0)


def test_hours_to_each_target_count_counted_records_only(ledger: Ledger) -> None:
    """Municipal: five inspections delivered, one stuck; credit: three penalties, one linked, one stuck."""
    report = make(ledger)
    t = {(x.kind, x.target): x for x in report.targets}
    assert list(t) == [("inspection", "municipal"), ("penalty", "credit")]
    muni = t[("inspection", "municipal")]
    assert sorted(muni.hours.values) == pytest.approx([0, 1 / 30, 1 / 12, 1 / 12, 24])
    assert (muni.hours.max, muni.undelivered, muni.linked) == (24, 1, 0)
    credit = t[("penalty", "credit")]
    assert sorted(credit.hours.values) == pytest.approx([18, 223, 233])
    assert (credit.linked, credit.undelivered) == (1, 1)


def test_credit_seven_working_days_share_and_overdue_list(ledger: Ledger) -> None:
    """2 on time (one at 23:00 on the due day), 1 late, 1 overdue, 1 pending; summary not required."""
    report = make(ledger)
    (c,) = report.credit
    states = {i.source_id: (i.due, i.state, i.days_late) for i in c.items}
    assert states == {
        "P1": (date(2026, 10, 21), "on_time", 0),
        "P2": (date(2026, 10, 21), "on_time", 0),
        "P4": (date(2026, 10, 29), "late", 1),
        "P7": (date(2026, 11, 6), "pending", 0),
        "P8": (date(2026, 10, 19), "overdue", 15),
    }
    assert (c.required, c.decided, c.on_time_share) == (5, 4, 0.5)
    assert [(i.source_id, i.dept_name) for i in report.overdue] == [("P8", DEPTS["D1"]), ("P4", DEPTS["D2"])]


def test_after_accident_figures_are_unavailable_without_a_field(ledger: Ledger) -> None:
    """The district record has no accident flag: the figure is 不可得, with the reason."""
    report = make(ledger)
    assert report.accident_note == ACCIDENT_UNAVAILABLE
    assert report.district.accident_fines_yuan is None
    assert "不可得" in render_text(report)


def test_after_accident_figures_are_counted_when_every_decision_says(ledger: Ledger) -> None:
    """With an ``after_accident`` field on every decision, accident fines are summed (P1 and P4 here)."""
    flags = {p: p in ("P1", "P4") for p in ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8")}
    report = make(ledger, accident=flags)
    assert report.accident_note is None
    assert (report.district.accident_decisions, report.district.accident_fines_yuan) == (
        2,
        Decimal("31234.56"),
    )


def test_workbook_has_chinese_sheets_number_formats_and_widths(ledger: Ledger, tmp_path: Path) -> None:
    """Totals, by department (total row last), timeliness, the overdue list and daily volume."""
    report = make(ledger)
    path = tmp_path / "report.xlsx"
    report_xlsx.write_xlsx(report, path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "按部门", "时效", "逾期公示清单", "每日"]
    totals = {row[0]: row[1] for row in wb["汇总"].iter_rows(min_row=4, values_only=True) if row[0]}
    assert totals["检查企业"] == 4
    assert totals["罚款金额"] == pytest.approx(6.673456)
    assert totals["  其中: 事故后处罚罚款"] == "不可得"
    assert totals["7 个工作日内公示率 (credit)"] == 0.5

    ws = wb["按部门"]
    header = [c.value for c in ws[4]]
    assert header[:4] == ["部门代码", "部门 / 街道", "检查企业(家次)", "检查(次)"]
    last = [c.value for c in ws[8]]
    assert last[1] == "合计" and last[2] == 4 and last[3] == 6
    fine_col = header.index("罚款(万元)") + 1
    assert ws.cell(8, fine_col).number_format == report_xlsx.WAN
    assert ws.cell(5, header.index("双随机占比") + 1).number_format == report_xlsx.PCT
    assert ws.column_dimensions["B"].width >= 28  # the longest department name fits

    overdue = list(wb["逾期公示清单"].iter_rows(min_row=5, values_only=True))
    assert [(r[1], r[7], r[8]) for r in overdue if r[0]] == [
        ("（滨海）应急罚〔2026〕P8号", "逾期未公示", 15), ("（滨海）应急罚〔2026〕P4号", "逾期后公示", 1)]  # fmt: skip
    assert wb["逾期公示清单"].cell(5, 5).number_format == report_xlsx.DAY
    assert ID_NO not in "".join(str(c) for ws in wb for row in ws.iter_rows(values_only=True) for c in row)


def test_month_parsing_and_default() -> None:
    """``2026-10`` and ``2026-1`` parse; nonsense is a Chinese error; the default is last month."""
    assert Month.parse("2026-10") == OCT and Month.parse("2026-1").last == date(2026, 1, 31)
    assert Month.previous(date(2026, 1, 5)) == Month(2025, 12)
    assert Month(2026, 12).next() == Month(2027, 1)
    with pytest.raises(ValueError, match="年-月"):
        Month.parse("October")


def test_department_names_come_from_the_mapping_table() -> None:
    """The shipped departments.csv gives 22 names and the bureau's name."""
    names, unit = department_names(Path(__file__).resolve().parents[2] / "mappings")
    assert len(names) == 22 and names["BH-JD-02"] == "滨海新区塘沽街道综合执法队"
    assert unit == "天津市滨海新区应急管理局"


def test_report_after_a_real_sync_matches_the_simulators_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sync the simulators' district into a ledger, then `report monthly`: totals equal a direct count."""
    from collections import Counter

    from tests.e2e.stack import make_stack
    from zhifa_sync.cli import main

    with make_stack(tmp_path, monkeypatch) as stack:
        stack.run()
        data = stack.dataset
        busiest = Counter(r["started_at"][:7] for r in data.inspections).most_common(1)[0][0]
        out = tmp_path / "月报.xlsx"
        assert (
            main(["-c", str(stack.config_path), "report", "monthly", "--month", busiest, "--out", str(out)])
            == 0
        )
        app = stack.app()
        try:
            report = monthly_report(app.ledger, Month.parse(busiest))
        finally:
            app.close()
    assert "行政执法综合统计" in capsys.readouterr().out

    insp = [
        r for r in data.inspections if r["started_at"].startswith(busiest) and r["id"] not in data.bad_ids
    ]
    done = [r for r in insp if r["status"] == "submitted"]
    pens = [r for r in data.penalties if (r["decided_on"] or "").startswith(busiest)]
    decided = [r for r in pens if r["status"] in ("decided", "closed")]
    d = report.district
    assert d.inspections == len(done) > 10
    assert d.visits == len({(r["enterprise"]["uscc"], r["started_at"][:10]) for r in done})
    assert d.hazards == sum(r["hazard_count"] for r in done)
    assert d.major_hazards == sum(r["major_hazard_count"] for r in done)
    assert d.random_inspections == sum(r["inspection_type"] == "02" for r in done)
    assert d.void_inspections == sum(r["status"] == "void" for r in insp)
    assert d.decisions == len(decided)
    assert d.fines_yuan == sum((Decimal(r["fine_yuan"]) for r in decided), Decimal("0.00"))
    assert d.revocations == sum(r["status"] == "revoked" for r in pens)
    assert d.summary_procedure == sum(r["procedure"] == "summary" for r in decided)
    per_dept = Counter(r["dept_code"] for r in done)
    assert {f.code: f.inspections for f in report.departments if f.inspections} == dict(per_dept)
    (muni,) = [t for t in report.targets if t.kind == "inspection"]
    twins = {t.district_id for t in data.twins if t.kind == "inspection"}
    assert (muni.target, muni.hours.count, muni.undelivered) == ("municipal", len(done), 0)
    assert muni.linked == sum(r["id"] in twins for r in done)

    totals = {
        r[0]: r[1] for r in openpyxl.load_workbook(out)["汇总"].iter_rows(min_row=4, values_only=True) if r[0]
    }
    assert (totals["检查企业"], totals["检查记录"], totals["行政处罚决定书"]) == (
        d.visits,
        d.inspections,
        d.decisions,
    )


def test_workbook_writes_formula_like_names_as_text(ledger: Ledger, tmp_path: Path) -> None:
    """A department or unit name that starts with = (from a mapping file or a source) is a text cell."""
    build(ledger.engine)
    hostile = '=HYPERLINK("http://evil.example/x","点击")'
    report = monthly_report(
        ledger, OCT, departments={**DEPTS, "D1": hostile}, calendar=WorkCalendar(), as_of=AS_OF, unit="-1+1"
    )
    path = tmp_path / "report.xlsx"
    report_xlsx.write_xlsx(report, path)
    cells = [c for ws in openpyxl.load_workbook(path).worksheets for row in ws.iter_rows() for c in row]
    risky = [c for c in cells if isinstance(c.value, str) and c.value[:1] in "=+-@"]
    assert any(c.value == hostile for c in risky)
    assert all(c.data_type == "s" and c.quotePrefix for c in risky)
