"""What ``zhifa-sync mappings check`` finds in a mapping-table set, before a record meets it: the driver
over what each system contributes.

Offline: keys, blank cells, code formats, code lists outside what each target system documents, codes
that map back ambiguously (flow 3 translates municipal codes back to the district's), and checks across
tables. The column rules come from each system package (``connectors/*/codes.py``) plus the few the
tables themselves have (names, item kinds, agencies, officers' 执法证号). Live: each configured system's
catalogue (``Catalogue.check``).

Errors are codes a target would reject (or could not be told apart): the running service refuses a
set with any error. Warnings are things a person should look at — chiefly a blank target cell, which
is allowed and means "not mapped for that system yet" (records needing it are parked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors import systems
from connectors.contract.checks import (
    MappingRules,
    Rule,
    enumeration,
    pattern,
    region_check,
    rule,
    uscc_check,
)
from connectors.contract.clock import beijing_now
from connectors.contract.mapping import TABLES, CheckReport, Mappings, Problem, Table
from connectors.contract.roles import System

ALL_SYSTEMS = frozenset(systems.TYPES)
ITEM_KINDS = {"inspection": "检查", "penalty": "处罚"}
_CERT_NO = re.compile(r"^\d{6}[0-9A-Z]{2,14}$")
M, C, H = "municipal", "credit", "hlwjg"

# Columns of the tables themselves, read by more than one system (or by none but people).
TABLE_RULES = MappingRules(
    {
        "items": {
            "district_item_name": rule("事项名称"),
            "kind": rule("事项类别", enumeration(ITEM_KINDS, "本表"), blank_is_error=True),
        },
        "departments": {
            "district_dept_name": rule("部门名称"),
            "region_code": rule("行政区划代码", region_check, M, H),
            "agency_name": rule("实施机构/处罚机关名称", None, C, H),
            "agency_uscc": rule("实施机构统一社会信用代码", uscc_check, C, H),
        },
        "officers": {
            "name": rule("姓名", None, H),
            "cert_no": rule(
                "执法证号", pattern(_CERT_NO, "6 位行政区划代码开头、共 8–20 位数字或大写字母"), M, H
            ),
        },
        **{t: {"name": rule("名称")} for t in ("inspection_types", "inspection_results", "penalty_types")},
        **{t: {"name": rule("名称")} for t in ("party_types", "id_types")},
        "hlwjg_check_implement": {"agency_uscc": rule("实施机构统一社会信用代码", uscc_check)},
    }
)


def all_rules() -> list[MappingRules]:
    """The tables' own rules, then every system's, in the registry's order."""
    return [TABLE_RULES, *(t.rules for t in systems.TYPES.values())]


def merged_columns(contributions: Iterable[MappingRules]) -> dict[str, dict[str, Rule]]:
    """table → column → rule; a column several systems read keeps the first check and the union of readers."""
    out: dict[str, dict[str, Rule]] = {}
    for rules in contributions:
        for table, columns in rules.columns.items():
            for column, r in columns.items():
                have = out.setdefault(table, {}).get(column)
                out[table][column] = (
                    r
                    if have is None
                    else Rule(
                        have.what,
                        have.check or r.check,
                        have.systems | r.systems,
                        have.blank_is_error or r.blank_is_error,
                    )
                )
    return out


def systems_in_use(settings: Any) -> frozenset[str]:
    """The system types a configuration connects to (their columns must be filled)."""
    return frozenset(s.type for s in settings.systems.values())


def _users(r: Rule) -> str:
    return "、".join(t.short for n, t in systems.TYPES.items() if n in r.systems) or "本表"


def check_offline(maps: Mappings, systems_used: Iterable[str] = ALL_SYSTEMS) -> CheckReport:
    """Formats, code lists, blank cells, ambiguous reverse mappings and cross-table checks of a loaded set."""
    in_use = frozenset(systems_used)
    contributions = all_rules()
    columns = merged_columns(contributions)
    report = CheckReport()
    for name, table in maps.tables.items():
        for at in maps.rows(name):
            for column, r in columns.get(name, {}).items():
                _check_cell(r, at, column, name, in_use, report)
        for rules in contributions:
            if rules.reverse.get(name):
                _reverse_ambiguity(table, rules.reverse[name], report)
    for rules in contributions:
        if rules.cross is not None:
            rules.cross(maps, report)
    return report


def _check_cell(
    r: Rule, at: Any, column: str, table: str, in_use: frozenset[str], report: CheckReport
) -> None:
    value = at.values.get(column, "")
    if value:
        if r.check and (problem := r.check(value)):
            report.error(at, column, f"{r.what} {value} {problem}")
        return
    if column in TABLES[table].key:
        return  # a blank key is a load problem, reported there
    if r.blank_is_error:
        report.error(at, column, f"{r.what}为空: 请填写")
    elif not r.systems or r.systems & in_use:
        report.warn(
            at,
            column,
            f"{'/'.join(at.key)} 的{r.what}为空: {_users(r)}需要它, 用到该行的记录会进入“待映射”;"
            " 请填写, 或确认该系统暂不同步",
        )


def _reverse_ambiguity(table: Table, columns: tuple[str, ...], report: CheckReport) -> None:
    seen: dict[tuple[str, ...], tuple[str, int]] = {}
    for key, row in sorted(table.rows.items(), key=lambda kv: kv[1].line):
        value = tuple(row.values.get(c, "") for c in columns)
        if not all(value):
            continue
        if value in seen:
            other, line = seen[value]
            report.errors.append(
                Problem(
                    table.file,
                    row.line,
                    "/".join(columns),
                    f"{'/'.join(value)} 同时对应 {other} (第 {line} 行) 和 {'/'.join(key)}: 市系统的记录回传区平台时"
                    " 无法确定是哪一个, 请核对后只保留一行对应该代码",
                )
            )
        else:
            seen[value] = ("/".join(key), row.line)


# -- live: against the catalogues of the configured systems ----------------------------------------
@dataclass(frozen=True, slots=True)
class LiveCheck:
    """The live catalogue check of a set: the problems found, and the systems whose catalogue could
    not be read (nothing checked against them)."""

    report: CheckReport
    unreachable: tuple[str, ...] = ()


def check_live(
    names: Iterable[str],
    connect: Callable[[str], System],
    maps: Mappings,
    *,
    today: date | None = None,
    unreachable: list[str] | None = None,
) -> CheckReport:
    """Every code checked against the live catalogue of each system in ``names`` that publishes one.

    A catalogue that cannot be read is an error, or, with ``unreachable`` given, the system's name
    appended to it (the console's upload check: checked "where reachable")."""
    today = today or beijing_now().date()
    report = CheckReport()
    for name in names:
        system: System | None = None
        try:
            system = connect(name)
            catalogue = system.catalogue()
            if catalogue is not None:
                catalogue.check(maps, report, today)
        except Exception as exc:
            if unreachable is not None:
                unreachable.append(name)
                continue
            report.errors.append(
                Problem(
                    name,
                    0,
                    "",
                    f"无法读取 {name} 的目录: {type(exc).__name__}: {str(exc)[:200]}; 未能核对该系统的代码",
                )
            )
        finally:
            if system is not None:
                system.close()
    return report


def check_live_where_reachable(
    names: Iterable[str], connect: Callable[[str], System], maps: Mappings
) -> LiveCheck:
    """``check_live`` that skips (and names) the systems whose catalogue cannot be read."""
    unreachable: list[str] = []
    report = check_live(names, connect, maps, unreachable=unreachable)
    return LiveCheck(report, tuple(unreachable))
