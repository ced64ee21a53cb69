"""Which codes seen in real records no mapping table maps yet, and rows to add for them.

Reads the ledger: every stored source record, parsed by its source into the canonical model (so this
module knows no system's field names), and the parked failures. For officers it suggests ready-to-paste
``officers.csv`` lines by matching the district's users (id, name, 执法证号) with the municipal officer
dictionary and, where configured, the 前置库's registered officers (``Catalogue.officers``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog

from connectors.contract.cells import csv_cell
from connectors.contract.clock import beijing_now
from connectors.contract.errors import RecordInvalid
from connectors.contract.mapping import TABLES, Mappings
from connectors.contract.records import Inspection, Penalty, Record
from connectors.contract.roles import Officer
from sync.mapping import files as mapping_files

log = structlog.get_logger("zhifa.mappings")


@dataclass
class Unmapped:
    """A code seen in records that its table does not map, how often, and a row to add if one is known."""

    table: str
    file: str
    column: str
    code: str
    count: int = 0
    parked: int = 0
    example: str | None = None
    suggestion: str | None = None  # a CSV line in the table's column order
    note: str = ""
    records: set[str] = field(default_factory=set, repr=False)


@dataclass(frozen=True, slots=True)
class Ref:
    """A code a record refers to: which table, looked up by which column(s), with which value."""

    table: str
    column: str
    value: str


def district_refs(r: Record, maps: Mappings, hlwjg: bool) -> Iterator[Ref]:
    """What a district record looks up: the tables' keys hold district codes."""
    yield Ref("items", "district_item_code", r.item_code)
    if r.dept_code:
        yield Ref("departments", "district_dept_code", r.dept_code)
    for uid in r.officers:
        yield Ref("officers", "district_user_id", uid)
    if isinstance(r, Inspection):
        yield Ref("inspection_types", "district_code", r.inspection_type)
        yield Ref("inspection_results", "district_code", r.result)
        dept = (
            maps.tables["departments"].rows.get((r.dept_code or "",))
            if "departments" in maps.tables
            else None
        )
        agency = dept.values.get("agency_uscc") if dept else None
        if hlwjg and agency:
            yield Ref("hlwjg_check_implement", "district_item_code/agency_uscc", f"{r.item_code}/{agency}")
    elif isinstance(r, Penalty):
        for t in r.penalty_types:
            yield Ref("penalty_types", "district_code", t)
        yield Ref("party_types", "district_code", r.party.type)
        if r.party.id_type:
            yield Ref("id_types", "district_code", r.party.id_type)


def city_refs(r: Record) -> Iterator[Ref]:
    """What a city record (flow 3) is mapped back through: the municipal columns."""
    yield Ref("items", "municipal_item_code", r.item_code)
    if isinstance(r, Inspection):
        yield Ref("inspection_types", "municipal_code", r.inspection_type)
        if sfla := r.source_codes.get("sfla"):
            yield Ref("inspection_results", "municipal_jcjg/municipal_sfla", f"{r.result}/{sfla}")
    elif isinstance(r, Penalty):
        for t in r.penalty_types:
            yield Ref("penalty_types", "municipal_code", t)


def refs(record: Record, maps: Mappings, hlwjg: bool) -> Iterator[Ref]:
    return district_refs(record, maps, hlwjg) if record.origin == "district" else city_refs(record)


def is_mapped(maps: Mappings, table: str, column: str, value: str) -> bool:
    """Whether the table has a row for this key (district codes) or this target value (flow 3)."""
    t = maps.tables.get(table)
    if t is None:
        return False
    spec = TABLES[table]
    columns = column.split("/")
    if tuple(columns) == spec.key:
        return tuple(value.split("/")) in t.rows
    wanted = value.split("/")
    return any([row.values.get(c, "") for c in columns] == wanted for row in t.rows.values())


def _flows(app: Any) -> dict[tuple[str, str], bool]:
    """(source system, kind) of every pipeline carrying inspections or penalties, and whether one of
    its pipelines writes to a 前置库 (whose 检查实施清单 rows are then needed)."""
    settings = app.settings
    flows: dict[tuple[str, str], bool] = {}
    for p in settings.pipelines:
        if p.kind in ("inspection", "penalty") and p.source in settings.systems:
            hlwjg = any(settings.systems[t].type == "hlwjg" for t in p.targets if t in settings.systems)
            flows[(p.source, p.kind)] = flows.get((p.source, p.kind), False) or hlwjg
    return flows


def scan(app: Any, maps: Mappings) -> list[Unmapped]:
    """Unmapped codes in the ledger's records, counted, with one example record and the parked count."""
    found: dict[Ref, Unmapped] = {}
    parked = app.ledger.parked_records()
    for (system, kind), hlwjg in _flows(app).items():
        source = app.system(system).source()
        for stored in app.ledger.stored_records(system, kind):
            try:
                record = source.parse(kind, json.loads(stored.body))
            except (RecordInvalid, ValueError):
                continue  # an invalid record is a failure of its own, shown with the failures
            for ref in set(refs(record, maps, hlwjg)):
                if not ref.value or is_mapped(maps, ref.table, ref.column, ref.value):
                    continue
                entry = found.get(ref)
                if entry is None:
                    entry = found[ref] = Unmapped(
                        ref.table, maps.file_of(ref.table), ref.column, ref.value, example=stored.source_id
                    )
                if stored.source_id not in entry.records:
                    entry.records.add(stored.source_id)
                    entry.count += 1
                    entry.parked += (system, kind, stored.source_id) in parked
    return sorted(found.values(), key=lambda u: (list(TABLES).index(u.table), -u.count, u.code))


def csv_line(values: list[str]) -> str:
    """One CSV line as Excel writes it (quoted where needed), without the line break."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([csv_cell(v) for v in values])
    return buf.getvalue()


def suggest_officer(
    user_id: str,
    user: Officer | None,
    city: list[Officer],
    registered: dict[str, Officer] | None,
    today: date,
) -> tuple[str | None, str]:
    """An ``officers.csv`` line for a district user, by 执法证号 and name across systems, and why."""
    if user is None:
        return None, f"区平台用户库中没有 {user_id}: 请核对记录中的执法人员"
    name, cert = user.name, user.cert_no
    by_cert = {o.cert_no: o.name for o in city}
    line, note = None, ""
    if cert and cert in by_cert:
        line = csv_line([user_id, name, cert])
        note = (
            "执法证号与姓名在区平台和市系统一致"
            if by_cert[cert] == name
            else f"执法证号一致, 但市系统登记的姓名是 {by_cert[cert]}: 请核对"
        )
    else:
        same_name = sorted(o.cert_no for o in city if o.name == name)
        if len(same_name) == 1:
            line = csv_line([user_id, name, same_name[0]])
            note = f"按姓名匹配 (区平台登记的证号 {cert or '(空)'} 不在市系统): 请核对证号 {same_name[0]}"
        elif same_name:
            note = f"市系统有 {len(same_name)} 名同名执法人员 ({', '.join(same_name)}), 且证号都与区平台 ({cert or '空'}) 不同: 请人工确认"
        else:
            note = f"市系统没有执法证号 {cert or '(空)'} 或姓名 {name} 的执法人员: 请先在市系统登记"
    if line and registered is not None:
        chosen = line.rsplit(",", 1)[-1]
        if chosen not in registered:
            note += f"; 证号 {chosen} 未在互联网+监管注册"
        elif (valid_to := registered[chosen].valid_to) is not None and valid_to < today:
            note += f"; 证号 {chosen} 在互联网+监管已于 {valid_to} 过期"
    return line, note


def _officers_of(app: Any, system_type: str) -> list[Officer] | None:
    """The officers the first configured system of ``system_type`` knows; None when none is configured."""
    for name, cfg in app.settings.systems.items():
        if cfg.type == system_type:
            catalogue = app.system(name).catalogue()
            return catalogue.officers() if catalogue is not None else []
    return None


def coverage(app: Any, *, suggest: bool = True, today: date | None = None) -> list[Unmapped]:
    """Unmapped codes seen in records (with counts and an example record id), then active district
    users who have no ``officers`` row yet (count 0); officers come with suggested lines where found."""
    maps, _problems = mapping_files.load_with_problems(app.settings.mappings_dir)  # the files as edited
    found = scan(app, maps)
    if not suggest:
        return found
    today = today or beijing_now().date()
    users: dict[str, Officer] = {}
    city: list[Officer] = []
    registered: dict[str, Officer] | None = None
    problem = ""
    try:
        users = {o.user_id or "": o for o in _officers_of(app, "district") or []}
        city = _officers_of(app, "municipal") or []
        hlwjg = _officers_of(app, "hlwjg")
        registered = {o.cert_no: o for o in hlwjg} if hlwjg is not None else None
    except Exception as exc:  # suggestions are a help; the list of unmapped codes stands without them
        problem = f"{type(exc).__name__}: {str(exc)[:160]}"
        log.warning("coverage_lookup_failed", error=problem)
    officers = maps.tables.get("officers")
    seen = {u.code for u in found if u.table == "officers"}
    for uid, user in sorted(users.items()):
        if user.active and uid not in seen and (officers is None or (uid,) not in officers.rows):
            found.append(Unmapped("officers", maps.file_of("officers"), "district_user_id", uid))
    for u in found:
        if u.table != "officers":
            continue
        if problem:
            u.note = f"无法读取人员目录, 未能给出建议 ({problem})"
        elif users or city:
            u.suggestion, u.note = suggest_officer(u.code, users.get(u.code), city, registered, today)
    return found
