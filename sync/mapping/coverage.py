"""Which codes seen in real records no mapping table maps yet, and rows to add for them.

Reads the ledger: every stored source record (``records.body`` is the source's raw JSON) and the
parked failures. For officers it suggests ready-to-paste ``officers.csv`` lines by matching the
district's users (``/api/v1/users``: id, name, 执法证号) with the municipal officer dictionary
(``/openapi/dict/zfry``: zjh, xm) and, where configured, the 前置库's ``TR_T_LAW_OFFICER``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog
from sqlalchemy import select

from connectors.contract.mapping import TABLES, Mappings
from sync.db import failures, records

log = structlog.get_logger("zhifa.mappings")
UNSYNCED = ("draft", "filed")  # never synced: their codes do not matter yet


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


# What each source's raw record refers to: (table, column looked up, value).  The column is the key
# for district records, the municipal column for city records (flow 3 maps them back).
Ref = tuple[str, str, str]


def _district_refs(kind: str, raw: dict[str, Any], maps: Mappings, hlwjg: bool) -> Iterator[Ref]:
    key = "district_item_code"
    if raw.get("item_code"):
        yield "items", key, str(raw["item_code"])
    if raw.get("dept_code"):
        yield "departments", "district_dept_code", str(raw["dept_code"])
    for uid in raw.get("officers") or ():
        if isinstance(uid, str):
            yield "officers", "district_user_id", uid
    if kind == "inspection":
        if raw.get("inspection_type"):
            yield "inspection_types", "district_code", str(raw["inspection_type"])
        if raw.get("result"):
            yield "inspection_results", "district_code", str(raw["result"])
        dept = (
            maps.tables["departments"].rows.get((str(raw.get("dept_code")),))
            if "departments" in maps.tables
            else None
        )
        agency = dept.values.get("agency_uscc") if dept else None
        if hlwjg and agency and raw.get("item_code"):
            yield "hlwjg_check_implement", "district_item_code/agency_uscc", f"{raw['item_code']}/{agency}"
    elif kind == "penalty":
        for t in raw.get("penalty_types") or ():
            yield "penalty_types", "district_code", str(t)
        party: dict[str, Any] = raw["party"] if isinstance(raw.get("party"), dict) else {}
        if party.get("type"):
            yield "party_types", "district_code", str(party["type"])
        if party.get("id_type"):
            yield "id_types", "district_code", str(party["id_type"])


def _municipal_refs(kind: str, raw: dict[str, Any], maps: Mappings, hlwjg: bool) -> Iterator[Ref]:
    if raw.get("jcsxbm"):
        yield "items", "municipal_item_code", str(raw["jcsxbm"])
    if raw.get("jclx"):
        yield "inspection_types", "municipal_code", str(raw["jclx"])
    for t in str(raw.get("cflb") or "").split(","):
        if t.strip():
            yield "penalty_types", "municipal_code", t.strip()
    if raw.get("dsrlx"):
        yield "party_types", "municipal_code", str(raw["dsrlx"])
    if raw.get("zjlx"):
        yield "id_types", "municipal_code", str(raw["zjlx"])
    if raw.get("jcjg") is not None and raw.get("sfla"):
        yield "inspection_results", "municipal_jcjg/municipal_sfla", f"{raw['jcjg']}/{raw['sfla']}"


EXTRACTORS: dict[str, Callable[[str, dict[str, Any], Mappings, bool], Iterator[Ref]]] = {
    "district": _district_refs,
    "municipal": _municipal_refs,
}


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


def scan(app: Any, maps: Mappings) -> list[Unmapped]:
    """Unmapped codes in the ledger's records, counted, with one example record and the parked count."""
    settings = app.settings
    sources: dict[tuple[str, str], bool] = {}
    for p in settings.pipelines:
        if p.kind in ("inspection", "penalty") and p.source in settings.systems:
            hlwjg = any(settings.systems[t].type == "hlwjg" for t in p.targets if t in settings.systems)
            sources[(p.source, p.kind)] = sources.get((p.source, p.kind), False) or hlwjg
    found: dict[Ref, Unmapped] = {}
    with app.ledger.engine.connect() as conn:
        parked = {
            (r.system, r.kind, r.source_id)
            for r in conn.execute(
                select(failures.c.system, failures.c.kind, failures.c.source_id).where(
                    failures.c.state == "parked"
                )
            )
        }
        for (system, kind), hlwjg in sources.items():
            extract = EXTRACTORS.get(settings.systems[system].type)
            if extract is None:
                continue
            rows = conn.execute(
                select(records.c.source_id, records.c.status, records.c.body)
                .where(records.c.system == system, records.c.kind == kind)
                .order_by(records.c.source_id)
            )
            for r in rows:
                if r.status in UNSYNCED:
                    continue
                try:
                    raw = json.loads(r.body)
                except ValueError:
                    continue
                if not isinstance(raw, dict) or raw.get("status") in UNSYNCED:
                    continue
                for ref in set(extract(kind, raw, maps, hlwjg)):
                    table, column, value = ref
                    if is_mapped(maps, table, column, value):
                        continue
                    entry = found.get(ref)
                    if entry is None:
                        entry = found[ref] = Unmapped(
                            table, maps.file_of(table), column, value, example=r.source_id
                        )
                    if r.source_id not in entry.records:
                        entry.records.add(r.source_id)
                        entry.count += 1
                        entry.parked += (system, kind, r.source_id) in parked
    return sorted(found.values(), key=lambda u: (list(TABLES).index(u.table), -u.count, u.code))


def csv_line(values: list[str]) -> str:
    """One CSV line as Excel writes it (quoted where needed), without the line break."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


def suggest_officer(
    user_id: str,
    user: dict[str, Any] | None,
    zfry: list[dict[str, Any]],
    registered: dict[str, tuple[str, date | None]] | None,
    today: date,
) -> tuple[str | None, str]:
    """An ``officers.csv`` line for a district user, by 执法证号 and name across systems, and why."""
    if user is None:
        return None, f"区平台用户库中没有 {user_id}: 请核对记录中的执法人员"
    name, cert = str(user.get("name") or "").strip(), str(user.get("cert_no") or "").strip()
    by_cert = {str(d.get("zjh")): str(d.get("xm") or "") for d in zfry}
    line, note = None, ""
    if cert and cert in by_cert:
        line = csv_line([user_id, name, cert])
        note = (
            "执法证号与姓名在区平台和市系统一致"
            if by_cert[cert] == name
            else f"执法证号一致, 但市系统登记的姓名是 {by_cert[cert]}: 请核对"
        )
    else:
        same_name = sorted(str(d.get("zjh")) for d in zfry if str(d.get("xm") or "") == name)
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
        elif (valid_to := registered[chosen][1]) is not None and valid_to < today:
            note += f"; 证号 {chosen} 在互联网+监管已于 {valid_to} 过期"
    return line, note


def _hlwjg_officers(app: Any) -> dict[str, tuple[str, date | None]] | None:
    import sqlalchemy as sa

    from sync.mapping.check import law_officers

    for name, cfg in app.settings.systems.items():
        if cfg.type == "hlwjg":
            engine = sa.create_engine(app.secrets.get(name, "url"))
            try:
                with engine.connect() as db:
                    return law_officers(db)
            finally:
                engine.dispose()
    return None


def _first(app: Any, system_type: str) -> str | None:
    return next((n for n, c in app.settings.systems.items() if c.type == system_type), None)


def coverage(app: Any, *, suggest: bool = True, today: date | None = None) -> list[Unmapped]:
    """Unmapped codes seen in records (with counts and an example record id), then active district
    users who have no ``officers`` row yet (count 0); officers come with suggested lines where found."""
    maps, _problems = Mappings.load_with_problems(app.settings.mappings_dir)  # the files as edited, read only
    found = scan(app, maps)
    if not suggest:
        return found
    today = today or date.today()
    district, municipal = _first(app, "district"), _first(app, "municipal")
    users: dict[str, dict[str, Any]] = {}
    zfry: list[dict[str, Any]] = []
    registered = None
    problems = []
    try:
        if district:
            users = {str(u.get("id")): u for u in app.connector(district).list_all("/api/v1/users")}
        if municipal:
            zfry = app.connector(municipal).dictionary("zfry")
        registered = _hlwjg_officers(app)
    except Exception as exc:  # suggestions are a help; the list of unmapped codes stands without them
        problems.append(f"{type(exc).__name__}: {str(exc)[:160]}")
        log.warning("coverage_lookup_failed", error=problems[-1])
    officers = maps.tables.get("officers")
    seen = {u.code for u in found if u.table == "officers"}
    for uid, user in sorted(users.items()):
        if user.get("active", True) and uid not in seen and (officers is None or (uid,) not in officers.rows):
            found.append(Unmapped("officers", maps.file_of("officers"), "district_user_id", uid))
    for u in found:
        if u.table != "officers":
            continue
        if problems:
            u.note = f"无法读取人员目录, 未能给出建议 ({problems[0]})"
        elif users or zfry:
            u.suggestion, u.note = suggest_officer(u.code, users.get(u.code), zfry, registered, today)
    return found
