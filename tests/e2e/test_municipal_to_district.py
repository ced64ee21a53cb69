"""Flow 3 end to end: records typed in at the city for our region → the district, over real HTTP."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from simulators import datagen
from sync.ledger.schema import deliveries
from tests.support.stack import Stack, make_stack

KINDS = (("inspection", "inspections"), ("penalty", "penalties"))
FLOW_1_2: list[dict[str, Any]] = [
    {
        "name": f"district-{plural}",
        "source": "district",
        "kind": kind,
        "targets": ["municipal"],
        "start": "2024-01-01 00:00:00",
        "lag_s": 0,
    }
    for kind, plural in KINDS
]
FLOW_3: list[dict[str, Any]] = [
    {
        "name": f"city-{plural}",
        "source": "municipal",
        "kind": kind,
        "targets": ["district"],
        "start": "2024-01-01 00:00:00",
        "lag_s": 0,
        "clock_margin_s": 0,  # the simulators share one clock
    }
    for kind, plural in KINDS
]
CITY = {"inspections": ("jcjl", "jcjlbh"), "penalties": ("xzcf", "ajbh")}


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with make_stack(tmp_path, monkeypatch, inspections=90, penalties=12) as s:
        s.pipelines = FLOW_1_2 + FLOW_3
        s.write_config()
        yield s


def run(stack: Stack, *names: str) -> dict[str, int]:
    """Run the pipelines; the number of records each created on its targets."""
    results = stack.run(*names)
    assert all(c.status == "ok" for c in results.values()), {n: c.error for n, c in results.items()}
    return {n: c.created for n, c in results.items()}


def city_only(stack: Stack, kind: str) -> dict[str, dict[str, Any]]:
    """The city's records typed in by hand for region 120116 (not linked to any district record)."""
    city_kind, id_field = CITY[kind]
    return {r[id_field]: r for r in stack.city(city_kind) if r["wbxtly"] is None and r["xzqhdm"] == "120116"}


def copies(stack: Stack, kind: str) -> dict[str, list[dict[str, Any]]]:
    """District records written by flow 3, grouped by their municipal id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in stack.district.records(kind):
        if r.get("origin") == "municipal":
            out.setdefault(r["source_id"], []).append(r)
    return out


def city_deliveries(stack: Stack) -> dict[str, Any]:
    """The ledger's delivery rows of the city's records, by municipal id."""
    app = stack.app()
    try:
        with app.ledger.engine.connect() as conn:
            query = sa.select(deliveries).where(deliveries.c.system == "municipal")
            return {r.source_id: r for r in conn.execute(query)}
    finally:
        app.close()


def test_city_records_reach_the_district_once(stack: Stack) -> None:
    """Each hand-typed city record lands once (origin municipal); a second run creates nothing; our pushes never return."""
    run(stack, *(p["name"] for p in FLOW_1_2))  # links the city's twins of district records, pushes ours
    ours = {r["wbxtbh"] for r in stack.city("jcjl") + stack.city("xzcf") if r["wbxtly"] == "QJJR"}
    assert ours
    expected = {kind: city_only(stack, kind) for kind in CITY}
    assert expected["inspections"] and expected["penalties"]

    created = run(stack, *(p["name"] for p in FLOW_3))
    assert created == {
        "city-inspections": len(expected["inspections"]),
        "city-penalties": len(expected["penalties"]),
    }
    for kind, want in expected.items():
        got = copies(stack, kind)
        assert set(got) == set(want) and all(len(v) == 1 for v in got.values())
    for city_id, city in expected["inspections"].items():
        (copy,) = copies(stack, "inspections")[city_id]
        assert copy["enterprise"]["uscc"] == city["tyshxydm"] and copy["item_code"].startswith("QZJC-")
        assert copy["started_at"].replace("-", "").replace(" ", "").replace(":", "") == city["jckssj"]
        certs = [o if isinstance(o, str) else o["cert_no"] for o in copy["officers"]]
        assert len(certs) == len(city["zfry"].split(","))
    # nothing the daemon pushed to the city came back as a district record
    assert (
        not {
            r["source_id"] for k in CITY for r in stack.district.records(k) if r.get("origin") == "municipal"
        }
        & ours
    )

    before = {k: len(stack.district.records(k)) for k in CITY}
    assert set(run(stack).values()) == {
        0
    }  # every flow again: the district's copies do not go back to the city
    assert {k: len(stack.district.records(k)) for k in CITY} == before
    copy_ids = {r["id"] for k in CITY for r in stack.district.records(k) if r.get("origin") == "municipal"}
    assert (
        not {r["wbxtbh"] for r in stack.city("jcjl") + stack.city("xzcf") if r["wbxtly"] == "QJJR"} & copy_ids
    )


def test_city_twin_of_a_district_record_is_linked_not_copied(stack: Stack) -> None:
    """A city record matching a district record by natural key (bracket variants too) is linked, never copied."""
    run(stack, *(p["name"] for p in FLOW_1_2))
    rng = random.Random(3)
    insp = next(r for r in stack.district.records("inspections") if r["status"] == "submitted")
    pen = next(
        r
        for r in stack.district.records("penalties")
        if r["status"] == "decided" and "〔" in r["decision_no"]
    )
    now = stack.municipal.now()
    jcjlbh = stack.municipal.add_hand_typed("jcjl", datagen.city_inspection(insp, now, rng))
    number = pen["decision_no"].replace("〔", "[").replace("〕", "]")
    ajbh = stack.municipal.add_hand_typed("xzcf", datagen.city_penalty(pen, now, number))
    before = {k: len(stack.district.records(k)) for k in CITY}

    # Flow 3 reads the city only as far as the district flows have read: they run first, as scheduled.
    run(stack, *(p["name"] for p in FLOW_1_2 + FLOW_3))
    assert jcjlbh not in copies(stack, "inspections") and ajbh not in copies(stack, "penalties")
    rows = city_deliveries(stack)
    assert (rows[jcjlbh].target_id, rows[jcjlbh].linked, rows[jcjlbh].last_action) == (
        insp["id"],
        True,
        "linked",
    )
    assert (rows[ajbh].target_id, rows[ajbh].linked, rows[ajbh].last_action) == (pen["id"], True, "linked")
    created = {k: len(stack.district.records(k)) - before[k] for k in CITY}
    assert created == {k: len(city_only(stack, k)) - 1 for k in CITY}  # the rest: genuine city-only records


def test_city_flow_waits_until_the_district_flow_has_read(stack: Stack) -> None:
    """Before the district flows have read at all, flow 3 copies nothing (it cannot yet tell twins apart)."""
    counts = stack.run(*(p["name"] for p in FLOW_3))
    assert all(c.status == "ok" and c.pulled == 0 for c in counts.values())
    assert copies(stack, "inspections") == {} and copies(stack, "penalties") == {}


def test_city_twin_of_an_invalid_district_record_is_linked_not_copied(stack: Stack) -> None:
    """A district record that fails validation (a field outside its natural key is wrong) still has
    its natural key: the city's hand-typed twin of it is linked, not copied back as a second record."""
    insp = next(r for r in stack.district.records("inspections") if r["status"] == "submitted")
    pen = next(r for r in stack.district.records("penalties") if r["status"] == "decided")
    rng = random.Random(5)
    now = stack.municipal.now()
    jcjlbh = stack.municipal.add_hand_typed("jcjl", datagen.city_inspection(insp, now, rng))
    number = pen["decision_no"].replace("〔", "（").replace("〕", "）")
    ajbh = stack.municipal.add_hand_typed("xzcf", datagen.city_penalty(pen, now, number))
    stack.district.update("inspections", insp["id"], ended_at="昨天下午")  # not a time
    stack.district.update("penalties", pen["id"], facts="")  # 违法事实 is required

    counts = stack.run(*(p["name"] for p in FLOW_1_2 + FLOW_3))
    assert counts["district-inspections"].failed == counts["district-penalties"].failed == 1  # the two
    assert jcjlbh not in copies(stack, "inspections") and ajbh not in copies(stack, "penalties")
    rows = city_deliveries(stack)
    assert (rows[jcjlbh].target_id, rows[jcjlbh].last_action) == (insp["id"], "linked")
    assert (rows[ajbh].target_id, rows[ajbh].last_action) == (pen["id"], "linked")
