"""What must be where after the soak, derived from the generated data set and the documented rules
alone — not from anything the daemon wrote."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulators import datagen, municipal
from simulators.universe import REGION_CODE

TARGETS = ("municipal/jcjl", "municipal/xzcf", "credit", "hlwjg/check", "hlwjg/punish",
           "district/inspections", "district/penalties")  # fmt: skip


@dataclass
class Expected:
    """One target's expectation: ids that must be there live, ids that must be there withdrawn, and
    ids that may be absent or withdrawn (a record never sent and already void is not written at all)."""

    live: set[str] = field(default_factory=set)
    withdrawn: set[str] = field(default_factory=set)
    absent_or_withdrawn: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return len(self.live) + len(self.withdrawn)


def expectations(data: datagen.Dataset, city_ids: dict[str, list[str]]) -> dict[str, Expected]:
    """From the data set and the documented rules alone (docs/domain.md): drafts and filed cases go nowhere,
    nor do invalid records; summary-procedure penalties not to credit; void/revoked as withdrawals
    (the 前置库 never gets a record that was void before its first write); district copies of city
    records are not sent on; city records reach the district unless they are the twin of a district
    record (linked instead) or of another region. A twin is one by natural key: a district inspection
    whose USCC the data set corrupted no longer matches its city twin, which is then copied."""
    out = {name: Expected() for name in TARGETS}
    _district_records(data, out)
    twins = {(t.kind, t.city_index) for t in data.twins if _still_twins(data, t)}
    for n, rec in enumerate(data.city_inspections):
        if ("inspection", n) not in twins and rec["xzqhdm"] == REGION_CODE:
            out["district/inspections"].live.add(city_ids["jcjl"][n])
    for n, rec in enumerate(data.city_penalties):
        if ("penalty", n) not in twins and rec["xzqhdm"] == REGION_CODE:
            out["district/penalties"].live.add(city_ids["xzcf"][n])
    return out


def _still_twins(data: datagen.Dataset, twin: datagen.Twin) -> bool:
    """Whether a city record and its district original still share a natural key (USCC, item, day)."""
    if twin.kind != "inspection" or twin.district_id not in data.bad_ids:
        return True
    rec = next(r for r in data.inspections if r["id"] == twin.district_id)
    city = data.city_inspections[twin.city_index]
    return (rec["enterprise"]["uscc"], rec["started_at"][:10].replace("-", "")) == (
        city["tyshxydm"],
        city["jckssj"][:8],
    )


def _district_records(data: datagen.Dataset, out: dict[str, Expected]) -> None:
    """The district's own records on municipal, credit and the 前置库."""
    bad = set(data.bad_ids)
    insp = [r for r in data.inspections if r["status"] != "draft" and r["id"] not in bad]
    pens = [r for r in data.penalties if r["status"] != "filed" and r["id"] not in bad]
    for r in insp:
        void = r["status"] == "void"
        (out["municipal/jcjl"].withdrawn if void else out["municipal/jcjl"].live).add(r["id"])
        (out["hlwjg/check"].absent_or_withdrawn if void else out["hlwjg/check"].live).add(r["id"])
    for r in pens:
        revoked = r["status"] == "revoked"
        (out["municipal/xzcf"].withdrawn if revoked else out["municipal/xzcf"].live).add(r["id"])
        (out["hlwjg/punish"].absent_or_withdrawn if revoked else out["hlwjg/punish"].live).add(r["id"])
        if r["procedure"] == "general":
            (out["credit"].withdrawn if revoked else out["credit"].live).add(r["id"])


def city_record_ids(data: datagen.Dataset) -> dict[str, list[str]]:
    """The ids the municipal system gives the city's records when it loads the data set (in order)."""
    state = municipal.MunicipalState()
    return {
        "jcjl": [state.add_hand_typed("jcjl", r) for r in data.city_inspections],
        "xzcf": [state.add_hand_typed("xzcf", r) for r in data.city_penalties],
    }


def known_usccs(data: datagen.Dataset) -> set[str]:
    """The district platform's 企业库: its enterprises and every party of its records."""
    out = {e["uscc"] for e in data.enterprises}
    for r in (*data.inspections, *data.penalties):
        holder = r.get("enterprise") or r.get("party") or {}
        if holder.get("uscc"):
            out.add(holder["uscc"])
    return out
