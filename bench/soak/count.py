"""Counting what each target holds, from the simulators' own stores, against what must be there."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.soak.expect import Expected, known_usccs
from bench.soak.world import CREDIT_EVENTS
from simulators import credit, datagen, hlwjg, municipal
from simulators.credit_rules import normalise_wsh
from simulators.harness import Simulators
from simulators.universe import ITEMS

_MUNI_ITEM = {i.code: i.municipal_code for i in ITEMS}


@dataclass
class Row:
    """One target's line of the report."""

    target: str
    key: str
    expected: int
    present: int
    missing: int
    duplicated: int
    unexpected: int
    wrong_state: int

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected or self.wrong_state)


def compare(target: str, key: str, exp: Expected, present: dict[str, list[bool]], dups: int = 0) -> Row:
    """``present``: id → one "withdrawn?" flag per copy held by the target."""
    wanted = exp.live | exp.withdrawn
    copies = sum(max(0, len(v) - 1) for v in present.values())
    wrong = sum(1 for i in exp.live if i in present and any(present[i]))
    wrong += sum(1 for i in exp.withdrawn if i in present and not all(present[i]))
    wrong += sum(1 for i in exp.absent_or_withdrawn if i in present and not all(present[i]))
    return Row(
        target=target,
        key=key,
        expected=len(wanted),
        present=len(wanted & present.keys()),
        missing=len(wanted - present.keys()),
        duplicated=max(copies, dups),
        unexpected=len(present.keys() - wanted - exp.absent_or_withdrawn),
        wrong_state=wrong,
    )


def key_surplus(present_keys: Iterable[Any], expected_keys: Iterable[Any]) -> int:
    """Records beyond what the natural keys allow: the same decision typed in twice."""
    have, want = Counter(present_keys), Counter(expected_keys)
    return sum(max(0, n - want[k]) for k, n in have.items())


def count_targets(sims: Simulators, data: datagen.Dataset, exp: dict[str, Expected]) -> list[Row]:
    """A row per target: municipal, credit, the 前置库, and the district's copies and credit events."""
    return [
        *_municipal(sims, data, exp),
        _credit(sims, exp),
        *_hlwjg(sims, exp),
        *_district_copies(sims, exp),
        _credit_events(sims, data),
    ]


def _municipal(sims: Simulators, data: datagen.Dataset, exp: dict[str, Expected]) -> list[Row]:
    """Ours by wbxtbh; beyond that, no natural key more often than the data set has it."""
    rows = []
    for kind, city_kind, label in (("inspection", "jcjl", "检查"), ("penalty", "xzcf", "处罚")):
        recs = sims.get("municipal", f"/_sim/records/{city_kind}")
        ours: dict[str, list[bool]] = {}
        for r in recs:
            if r.get("wbxtly") == municipal.WBXTLY:
                ours.setdefault(r["wbxtbh"], []).append(r.get("jlzt" if kind == "inspection" else "ajzt") in ("ZF", "YCX"))  # fmt: skip
        e = exp[f"municipal/{city_kind}"]
        surplus = _natural_key_surplus(kind, recs, data, e.live | e.withdrawn)
        rows.append(compare(f"municipal {label}", "wbxtbh; 自然键", e, ours, surplus))
    return rows


def _natural_key_surplus(
    kind: str, recs: list[dict[str, Any]], data: datagen.Dataset, wanted: set[str]
) -> int:
    """Municipal records beyond what the natural keys allow: ours that must be there, and the city's
    own unless they are the twin of a district record that is synced (then ours is linked to it)."""
    twin_of = {(t.kind, t.city_index): t.district_id for t in data.twins}
    synced = {r["id"] for r in (*data.inspections, *data.penalties)} - set(data.bad_ids)
    if kind == "inspection":
        have = [(r["tyshxydm"], r["jcsxbm"], (r["jckssj"] or "")[:8]) for r in recs]
        want = [(r["enterprise"]["uscc"], _MUNI_ITEM[r["item_code"]], r["started_at"][:10].replace("-", ""))
                for r in data.inspections if r["id"] in wanted]  # fmt: skip
        want += [(c["tyshxydm"], c["jcsxbm"], c["jckssj"][:8]) for n, c in enumerate(data.city_inspections)
                 if twin_of.get((kind, n)) not in synced]  # fmt: skip
        return key_surplus(have, want)
    wsh = [normalise_wsh(r["cfjdswh"] or "") for r in recs]
    want_wsh = [normalise_wsh(r["decision_no"]) for r in data.penalties if r["id"] in wanted]
    want_wsh += [normalise_wsh(c["cfjdswh"]) for n, c in enumerate(data.city_penalties)
                 if twin_of.get((kind, n)) not in synced]  # fmt: skip
    return key_surplus(wsh, want_wsh)


def _credit(sims: Simulators, exp: dict[str, Expected]) -> Row:
    """By SJBS, and no decision number (normalised) twice."""
    records = sims.get("credit", "/_sim/records")["records"]
    by_sjbs: dict[str, list[bool]] = {}
    for r in records:
        by_sjbs.setdefault(r["SJBS"], []).append(r["status"] == "已撤销")
    wsh = Counter((normalise_wsh(r.get("CF_WSH") or ""), r.get("CF_CFJGDM")) for r in records)
    return compare("credit 双公示", "SJBS; CF_WSH", exp["credit"], by_sjbs, sum(n - 1 for n in wsh.values()))


def _hlwjg(sims: Simulators, exp: dict[str, Expected]) -> list[Row]:
    """Rows the exchange platform accepted (national store), by CD_ID, with their feedback."""
    rows = []
    collector = hlwjg.Collector(hlwjg.open_exchange(str(sims.exchange_url)))
    try:
        last_status = {(f["TABLE_NAME"], f["CD_ID"]): f["STATUS"] for f in collector.feedback()}
        for table, name, label in ((hlwjg.CHECK_ACTION, "check", "检查"), (hlwjg.PUNISH, "punish", "处罚")):
            accepted = collector.accepted(table, include_deleted=True)
            held = {cd: [bool(r["DELETED"])] for cd, r in accepted.items()}
            row = compare(f"hlwjg {label}", "CD_ID; 反馈", exp[f"hlwjg/{name}"], held)
            rejected = [cd for (t, cd), s in last_status.items() if t == table and s != "1"]
            row.wrong_state += len(rejected)  # the last verdict on a row we wrote must be "accepted"
            if table == hlwjg.PUNISH:
                codes = Counter(normalise_wsh(r.get("PUNISH_ACTION_CODE") or "") for r in accepted.values()
                                if not r["DELETED"])  # fmt: skip
                row.duplicated = max(row.duplicated, sum(n - 1 for n in codes.values()))
            rows.append(row)
    finally:
        collector.engine.dispose()
    return rows


def _district_copies(sims: Simulators, exp: dict[str, Expected]) -> list[Row]:
    """Copies of city records on the district, by (origin, source_id)."""
    rows = []
    for kind, label in (("inspections", "市→区 检查"), ("penalties", "市→区 处罚")):
        copies: dict[str, list[bool]] = {}
        for r in sims.get("district", f"/_sim/{kind}"):
            if r.get("origin", "district") != "district":
                key = r["source_id"] if r["origin"] == "municipal" else f"{r['origin']}:{r['source_id']}"
                copies.setdefault(key, []).append(r["status"] in ("void", "revoked"))
        rows.append(compare(f"district {label}", "(origin, source_id)", exp[f"district/{kind}"], copies))
    return rows


def _credit_events(sims: Simulators, data: datagen.Dataset) -> Row:
    """Credit events on the district, by event_id: each published one for a company it knows, once."""
    events = sims.get("district", "/_sim/credit-events")
    known = known_usccs(data)
    specs = credit.event_specs(data, CREDIT_EVENTS)
    want = Counter((s["uscc"], s["type"].lower(), s["occurred_at"]) for s in specs if s["uscc"] in known)
    got = Counter((e["uscc"], e["kind"], _iso(e["occurred_at"])) for e in events)
    ids = Counter(e["event_id"] for e in events)
    return Row(
        target="district 信用事件",
        key="event_id",
        expected=sum(want.values()),
        present=sum(min(n, got[k]) for k, n in want.items()),
        missing=sum(max(0, n - got[k]) for k, n in want.items()),
        duplicated=max(sum(n - 1 for n in ids.values()), sum(max(0, got[k] - n) for k, n in want.items())),
        unexpected=sum(n for k, n in got.items() if k not in want),
        wrong_state=0,
    )


def _iso(beijing: str) -> str:
    """``2025-12-10 10:00:00`` → ``2025-12-10T10:00:00+08:00`` (how the credit feed writes it)."""
    return beijing.replace(" ", "T") + "+08:00"
