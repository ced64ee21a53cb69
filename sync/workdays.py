"""Chinese working days, for the 7-working-day deadline of 双公示 publication (国办发〔2018〕118号).

Weekends and statutory holidays are off; the make-up working weekends (调休) are on. The
``chinese_calendar`` package knows the years it was released with (2004–2026 in 1.11) and raises
``NotImplementedError`` for any other year; for those years we read ``mappings/holidays.csv``, a table
the administrator fills in when the State Council publishes the next year's schedule (columns
``date,kind,note``; ``kind`` is ``off`` for a day off on a weekday, ``work`` for a make-up working day
on a weekend; rows whose first cell starts with ``#`` are comments). A year known to neither is
counted with weekends only, and ``coverage_warning`` says so loudly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar

from connectors.contract.mapping import MappingFileError, Problem
from sync.mapping.files import check_size, decode_text, read_csv

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "mappings" / "holidays.csv"


def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


@dataclass
class WorkCalendar:
    """Working days from chinese-calendar where it knows the year, else from the administrator's table."""

    off: set[date] = field(default_factory=set)
    work: set[date] = field(default_factory=set)
    table_years: set[int] = field(default_factory=set)
    source: str = "(无)"

    @classmethod
    def load(cls, path: Path | str | None = None) -> WorkCalendar:
        """Read the holiday table (UTF-8, with or without BOM); a missing file is an empty table.

        Problems (a bad date, an unknown kind, a date listed twice) raise ``MappingFileError`` listing each
        ``file:line``, like the mapping tables.
        """
        path = Path(path) if path is not None else DEFAULT_TABLE
        cal = cls(source=str(path))
        if not path.exists():
            return cal
        problems: list[Problem] = []
        check_size(path, path.name)
        rows = read_csv(decode_text(path.read_bytes(), path.name), path.name)
        header = [h.strip() for h in rows[0]] if rows else []
        if header[:2] != ["date", "kind"]:
            raise MappingFileError([Problem(path.name, 1, "", "表头应为 date,kind,note")])
        for line, row in enumerate(rows[1:], start=2):
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            kind = cells[1] if len(cells) > 1 else ""
            try:
                day = date.fromisoformat(cells[0])
            except ValueError:
                problems.append(Problem(path.name, line, "date", f"日期应为 yyyy-MM-dd, 实际为 {cells[0]!r}"))
                continue
            if kind not in ("off", "work"):
                problems.append(
                    Problem(path.name, line, "kind", f"应为 off (放假) 或 work (调休上班), 实际为 {kind!r}")
                )
                continue
            if day in cal.off or day in cal.work:
                problems.append(Problem(path.name, line, "date", f"{day} 重复出现"))
                continue
            (cal.off if kind == "off" else cal.work).add(day)
            cal.table_years.add(day.year)
        if problems:
            raise MappingFileError(problems)
        return cal

    def covers(self, year: int) -> bool:
        """Whether the year's holidays are known (to chinese-calendar, or to the table)."""
        return _package_knows(year) or year in self.table_years

    def is_workday(self, day: date) -> bool:
        if _package_knows(day.year):  # the package wins for the years it knows; the table is for the others
            return bool(chinese_calendar.is_workday(day))
        if day in self.work:
            return True
        if day in self.off:
            return False
        return day.weekday() < 5

    def add_workdays(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself not counted)."""
        day, left = start, n
        while left > 0:
            day += timedelta(days=1)
            if self.is_workday(day):
                left -= 1
        return day

    def due_date(self, decided_on: date, n: int = 7) -> date:
        """Last day to publish a decision: the ``n``-th working day after the decision day.

        A decision dated on a holiday counts from the next working day, which is then day 1: the
        working days after a holiday begin there anyway, so both rules give one answer.
        """
        return self.add_workdays(decided_on, n)

    def coverage_warning(self, today: date) -> str | None:
        """A loud message when this year or next is known neither to chinese-calendar nor to the table."""
        missing = [y for y in (today.year, today.year + 1) if not self.covers(y)]
        if not missing:
            return None
        years = "、".join(str(y) for y in missing)
        return (
            f"!! 警告: {years} 年的法定节假日未知 (chinese-calendar 不含该年, 节假日表 {self.source} 也没有该年的行):"
            f" 工作日只按周末计算, 双公示 7 个工作日期限可能算错。请在国务院办公厅公布放假安排后,"
            f" 把放假日 (off) 和调休上班日 (work) 填入节假日表, 或升级 chinesecalendar。"
        )


_default: WorkCalendar | None = None


def default_calendar() -> WorkCalendar:
    global _default
    if _default is None:
        _default = WorkCalendar.load(DEFAULT_TABLE)
    return _default


def due_date(decided_on: date, n: int = 7, *, calendar: WorkCalendar | None = None) -> date:
    """The ``n``-th Chinese working day after ``decided_on`` (decided 2026-09-30 → 2026-10-15)."""
    return (calendar or default_calendar()).due_date(decided_on, n)


def coverage_warning(today: date, *, calendar: WorkCalendar | None = None) -> str | None:
    """See ``WorkCalendar.coverage_warning``."""
    return (calendar or default_calendar()).coverage_warning(today)
