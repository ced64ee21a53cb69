"""Chinese working days for the 7-working-day 双公示 deadline: chinese-calendar, then the admin table."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.contract.mapping import MappingFileError
from sync.workdays import DEFAULT_TABLE, WorkCalendar, coverage_warning, due_date

TABLE_2027 = """\ufeffdate,kind,note
# 测试用: 2027 年的假想安排,,
2027-01-01,off,元旦
2027-02-08,off,春节
2027-02-09,off,春节
2027-02-10,off,春节
2027-02-11,off,春节
2027-02-12,off,春节
2027-02-06,work,春节调休
2027-02-20,work,春节调休
"""


@pytest.fixture
def cal(tmp_path: Path) -> WorkCalendar:
    path = tmp_path / "holidays.csv"
    path.write_text(TABLE_2027, encoding="utf-8")
    return WorkCalendar.load(path)


def test_national_day_example_from_the_rules() -> None:
    """Decided 2026-09-30 → due 2026-10-15 (holidays 10-01..07 off, Saturday 10-10 a make-up working day)."""
    assert due_date(date(2026, 9, 30)) == date(2026, 10, 15)


def test_decision_on_a_holiday_counts_from_the_next_working_day() -> None:
    """Decided on 2026-10-03 (holiday): day 1 is 2026-10-08, so the due date is again 2026-10-15."""
    assert due_date(date(2026, 10, 3)) == date(2026, 10, 15)
    assert due_date(date(2026, 10, 8)) == date(2026, 10, 16)  # a working day itself is not counted


def test_ordinary_week_skips_the_weekend() -> None:
    """Decided Friday 2026-06-05 → the 7th working day is Tuesday 2026-06-16."""
    assert due_date(date(2026, 6, 5)) == date(2026, 6, 16)


def test_year_after_chinese_calendar_comes_from_the_admin_table(cal: WorkCalendar) -> None:
    """2027 is unknown to chinese-calendar; the table's days off and make-up Saturdays apply."""
    assert not cal.is_workday(date(2027, 2, 8)) and cal.is_workday(date(2027, 2, 6))
    # Friday 2027-02-05: Sat 02-06 (work) is day 1, then the holiday week, Mon 02-15 … Thu 02-18, Sat 02-20
    assert cal.due_date(date(2027, 2, 5)) == date(2027, 2, 20)
    assert cal.due_date(date(2026, 12, 30)) == date(2027, 1, 11)  # crosses into the table's year


def test_table_rows_for_known_years_do_not_override_chinese_calendar(tmp_path: Path) -> None:
    """chinese-calendar wins for the years it knows (the table is for the others)."""
    path = tmp_path / "h.csv"
    path.write_text("date,kind,note\n2026-10-01,work,误填\n", encoding="utf-8")
    assert not WorkCalendar.load(path).is_workday(date(2026, 10, 1))


def test_coverage_warning_when_this_or_next_year_is_unknown(cal: WorkCalendar, tmp_path: Path) -> None:
    """Loud when the current or next year is in neither source; silent once the table has it."""
    empty = WorkCalendar.load(tmp_path / "missing.csv")
    warning = empty.coverage_warning(date(2026, 11, 22))
    assert warning is not None and "2027" in warning and "2026" not in warning.split("年")[0]
    assert cal.coverage_warning(date(2026, 11, 22)) is None
    assert "2028" in (cal.coverage_warning(date(2027, 3, 1)) or "")
    assert empty.coverage_warning(date(2025, 6, 1)) is None


def test_shipped_table_is_valid_and_covers_nothing_yet() -> None:
    """The repository's mappings/holidays.csv loads (header, comment row) and holds no dates."""
    shipped = WorkCalendar.load(DEFAULT_TABLE)
    assert shipped.table_years == set()
    assert "2027" in (coverage_warning(date(2026, 11, 22), calendar=shipped) or "")


def test_bad_rows_are_listed_with_file_and_line(tmp_path: Path) -> None:
    """A bad date, an unknown kind and a repeated date are each reported with their line."""
    path = tmp_path / "holidays.csv"
    path.write_text(
        "date,kind,note\n2027-13-01,off,\n2027-01-01,holiday,\n2027-01-02,off,\n2027-01-02,work,\n",
        encoding="utf-8",
    )
    with pytest.raises(MappingFileError) as info:
        WorkCalendar.load(path)
    assert [p.line for p in info.value.problems] == [2, 3, 5]
