"""The monthly statistics report against a small ledger whose figures are counted by hand in
``tests/support/report_month.py``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import update

from sync.ledger import Ledger
from sync.ledger.schema import records
from sync.report import xlsx as report_xlsx
from sync.report.figures import ACCIDENT_UNAVAILABLE, Month, MonthlyReport
from sync.report.monthly import department_names, monthly_report
from sync.report.text import render_text
from sync.workdays import WorkCalendar
from tests.support.report_month import AS_OF, DEPTS, ID_NO, OCT, build


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
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


def test_credit_late_publication_first_read_after_due_is_counted_apart(ledger: Ledger) -> None:
    """P4 first read on 10-30, a day after its due date (history before the installation): published late
    all the same (the share is unchanged), but as 首次读到时已逾期, not as the daemon's 逾期后公示."""
    build(ledger.engine)
    with ledger.engine.begin() as conn:
        conn.execute(
            update(records).where(records.c.source_id == "P4").values(first_seen=datetime(2026, 10, 30, 8, 0))
        )
    report = monthly_report(
        ledger, OCT, departments=DEPTS, calendar=WorkCalendar(), as_of=AS_OF, unit="滨海新区"
    )
    (c,) = report.credit
    assert {i.source_id: i.state for i in c.items}["P4"] == "late_when_read"
    assert (c.count("late"), c.count("late_when_read"), c.on_time_share) == (0, 1, 0.5)
    assert [i.source_id for i in report.overdue] == ["P8", "P4"]
    assert "其中首次读到时已逾期 (安装前的历史数据) (credit)  1" in render_text(report)


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

    from tests.support.stack import make_stack
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
