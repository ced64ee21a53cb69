"""Flows 1 and 2 end to end: district → municipal over real HTTP, with a real ledger."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.contract.validators import normalize_decision_no
from simulators import universe
from tests.support.stack import Stack, make_stack, synced_district_ids
from zhifa_sync.cli import main as cli

CERT = {o.user_id: o.cert_no for o in universe.OFFICERS}
ITEM = {i.code: i.municipal_code for i in universe.ITEMS}
ORG = {d.code: d.municipal_org_code for d in universe.DEPARTMENTS}
JCLX = {"01": "RCJC", "02": "SSJ", "03": "ZXJC", "04": "JBHC", "05": "FC"}


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with make_stack(tmp_path, monkeypatch) as s:
        yield s


def assert_exactly_once(stack: Stack) -> None:
    """Municipal holds every district record that should be synced, once, and nothing else of ours."""
    bad = set(stack.dataset.bad_ids)
    for kind, city_kind in (("inspections", "jcjl"), ("penalties", "xzcf")):
        expected = synced_district_ids(stack.district.records(kind), bad)
        ours = stack.ours(city_kind)
        assert set(ours) == expected, (
            f"{kind}: missing {sorted(expected - set(ours))[:5]}, extra {sorted(set(ours) - expected)[:5]}"
        )
        dups = {k: len(v) for k, v in ours.items() if len(v) > 1}
        assert not dups, f"{kind}: duplicated {dups}"
    # no second copy of a record typed in by hand at the city
    keys = Counter(normalize_decision_no(r["cfjdswh"]) for r in stack.city("xzcf"))
    assert [k for k, n in keys.items() if n > 1] == []


def test_first_run_delivers_every_record_once_with_mapped_fields(stack: Stack) -> None:
    """After one run municipal holds exactly the district's submitted records, fields mapped right."""
    results = stack.run()
    assert all(c.status == "ok" for c in results.values()), {n: c.error for n, c in results.items()}
    assert_exactly_once(stack)
    by_id = {r["id"]: r for r in stack.district.records("inspections")}
    for wbxtbh, (city,) in stack.ours("jcjl").items():
        src = by_id[wbxtbh]
        assert city["qymc"] == src["enterprise"]["name"].strip()
        assert city["tyshxydm"] == src["enterprise"]["uscc"]
        assert city["jcsxbm"] == ITEM[src["item_code"]]
        assert city["jclx"] == JCLX[src["inspection_type"]]
        assert city["zfry"] == ",".join(CERT[u] for u in src["officers"])
        assert city["zfjgdm"] == ORG[src["dept_code"]]
        assert city["jckssj"] == src["started_at"].replace("-", "").replace(" ", "").replace(":", "")
        assert city["jlzt"] == ("ZF" if src["status"] == "void" else "ZC")
    pen = {r["id"]: r for r in stack.district.records("penalties")}
    for wbxtbh, (city,) in stack.ours("xzcf").items():
        src = pen[wbxtbh]
        assert city["cfjdswh"] == src["decision_no"].strip()
        assert f"{float(city['fkje']):.2f}" == f"{float(src['fine_yuan']):.2f}"
        assert city["ajzt"] == {"revoked": "YCX", "closed": "YJA"}.get(src["status"], "YJD")


def test_second_run_pushes_nothing(stack: Stack) -> None:
    """A record re-read unchanged is not pushed again."""
    stack.run()
    saves_before = stack.municipal.faults.stats()["calls"]
    again = stack.run()
    for counts in again.values():
        assert counts.created == counts.updated == counts.linked == counts.failed == 0
    saves_after = stack.municipal.faults.stats()["calls"]
    assert {k: v for k, v in saves_after.items() if "save" in k} == {
        k: v for k, v in saves_before.items() if "save" in k
    }


def test_hand_typed_city_records_are_linked_not_duplicated(stack: Stack) -> None:
    """Records typed in by hand at the city (exact and bracket-variant twins) are adopted, never copied."""
    twins = stack.dataset.twins
    assert any(not t.exact for t in twins) and any(t.kind == "inspection" for t in twins)
    typed_by_hand = {
        "jcjl": {r["jcjlbh"] for r in stack.city("jcjl")},
        "xzcf": {r["ajbh"] for r in stack.city("xzcf")},
    }
    counts = stack.run()
    assert sum(c.linked for c in counts.values()) == len(twins)
    for twin in twins:
        city_kind, id_field = ("jcjl", "jcjlbh") if twin.kind == "inspection" else ("xzcf", "ajbh")
        (adopted,) = stack.ours(city_kind)[twin.district_id]
        assert adopted[id_field] in typed_by_hand[city_kind], f"{twin} was created anew instead of linked"
    assert_exactly_once(stack)


def test_edit_arrives_as_update_and_void_as_void(stack: Stack) -> None:
    """A changed record is an update of the same city record; a void/revocation is applied there."""
    stack.run()
    insp = next(r for r in stack.district.records("inspections") if r["status"] == "submitted")
    pen = next(
        r
        for r in stack.district.records("penalties")
        if r["status"] == "decided" and r["id"] not in {t.district_id for t in stack.dataset.twins}
    )
    (before,) = stack.ours("jcjl")[insp["id"]]
    stack.district.update("inspections", insp["id"], hazard_count=insp["hazard_count"] + 5)
    stack.district.revoke_penalty(pen["id"])
    other = next(
        r
        for r in stack.district.records("inspections")
        if r["status"] == "submitted" and r["id"] != insp["id"]
    )
    stack.district.void_inspection(other["id"])
    counts = stack.run()
    assert counts["district-inspections"].updated == 1 and counts["district-inspections"].withdrawn == 1
    assert counts["district-penalties"].withdrawn == 1
    (after,) = stack.ours("jcjl")[insp["id"]]
    assert after["jcjlbh"] == before["jcjlbh"] and after["yhsl"] == insp["hazard_count"] + 5
    assert stack.ours("jcjl")[other["id"]][0]["jlzt"] == "ZF"
    assert stack.ours("xzcf")[pen["id"]][0]["ajzt"] == "YCX"
    assert_exactly_once(stack)


def test_unmapped_officer_fails_with_table_and_key_then_retry_succeeds(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing officer row is a parked failure naming officers.csv and the id; after the fix, retry delivers."""
    officers = stack.mappings / "officers.csv"
    rows = list(csv.reader(officers.open(encoding="utf-8-sig")))
    used = Counter(u for r in stack.district.records("inspections") for u in r["officers"])
    victim = max(used, key=lambda u: used[u])
    kept = [r for r in rows if r[0] != victim]
    with officers.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(kept)
    counts = stack.run()["district-inspections"]
    assert counts.failed == used[victim]

    assert cli(["-c", str(stack.config_path), "failures", "list", "--kind", "mapping"]) == 0
    listing = capsys.readouterr().out
    assert "officers.csv" in listing and victim in listing and "待映射" in listing

    with officers.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    app = stack.app()
    ids = app.ledger.failure_ids(error_kind="mapping")
    app.close()
    assert cli(["-c", str(stack.config_path), "failures", "retry", *map(str, ids)]) == 0
    assert "重试后仍失败 0 条" in capsys.readouterr().out
    assert_exactly_once(stack)


def test_invalid_record_fails_for_every_target_and_others_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad USCC check character is a validation failure naming the field; the rest is delivered."""
    with make_stack(tmp_path, monkeypatch, bad_records=2) as stack:
        assert len(stack.dataset.bad_ids) == 2
        assert cli(["-c", str(stack.config_path), "sync", "--once"]) == 1  # something failed: exit non-zero
        assert "失败" in capsys.readouterr().out
        assert_exactly_once(stack)
        assert cli(["-c", str(stack.config_path), "failures", "list", "--kind", "validation"]) == 0
        out = capsys.readouterr().out
        assert all(bad in out for bad in stack.dataset.bad_ids) and "uscc" in out and "校验位" in out
        assert "共 2 条" in out
        assert cli(["-c", str(stack.config_path), "sync", "--once"]) == 0  # nothing new, nothing failed


def test_faults_lose_nothing_and_duplicate_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """5xx, HTML proxy pages, dropped connections after storing, rate limits and early token expiry:
    after the runs settle, every record is on the city exactly once."""
    with make_stack(tmp_path, monkeypatch, inspections=200, penalties=30, seed=11) as stack:
        stack.district.faults.update(
            error_rate=0.08, token_ttl_s=1, rate_limits=True, rate_limit_per_s=40, seed=3
        )
        stack.municipal.faults.update(
            error_rate=0.05,
            html_error_rate=0.05,
            e5000_rate=0.05,
            drop_after_store_rate=0.15,
            rate_limits=True,
            rate_limit_per_s=40,
            seed=4,
        )
        stack.write_config(retry_attempts=4, max_wait_s=1.5)
        for _ in range(8):
            results = stack.run()
            if all(c.status == "ok" for c in results.values()):
                break
        assert all(c.status == "ok" for c in results.values()), {
            n: (c.status, c.error) for n, c in results.items()
        }
        assert_exactly_once(stack)
        injected = {
            **{f"district.{k}": v for k, v in stack.district.faults.stats()["faults"].items()},
            **{f"municipal.{k}": v for k, v in stack.municipal.faults.stats()["faults"].items()},
        }
        for kind in ("district.5xx", "district.401", "municipal.drop", "municipal.E4290", "municipal.5xx"):
            assert injected.get(kind, 0) > 0, f"no {kind} fault was injected: {injected}"


@pytest.mark.postgres
def test_same_flow_with_a_postgresql_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_schema_url: str
) -> None:
    """The ledger on PostgreSQL: first run delivers all, the second pushes nothing."""
    with make_stack(tmp_path, monkeypatch, inspections=120, penalties=12, db_url=pg_schema_url) as stack:
        first = stack.run()
        assert all(c.status == "ok" for c in first.values())
        assert_exactly_once(stack)
        second = stack.run()
        assert sum(c.created + c.updated + c.linked for c in second.values()) == 0


def test_wrong_municipal_secret_stops_the_run_keeps_the_cursor_and_loses_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E1001 (签名错误) on every push: the run ends in error naming the credentials, the cursor does not
    move past records that were not delivered; with the secret fixed the next run delivers them once."""
    monkeypatch.setenv("ZS_MUNICIPAL_SECRET", "not-the-secret")
    first = stack.run("district-inspections")["district-inspections"]
    assert first.status == "error"
    assert "鉴权失败" in (first.error or "")
    assert stack.ours("jcjl") == {}
    # refused as a whole: the run stops at the first page instead of signing every record wrongly
    refused = stack.municipal.faults.stats()["faults"].get("auth", 0)
    assert 1 <= refused <= 2 * 8, f"{refused} refused calls (concurrency 8)"
    app = stack.app()
    try:
        assert app.ledger.get_cursor("district-inspections") is None
    finally:
        app.close()
    monkeypatch.setenv("ZS_MUNICIPAL_SECRET", municipal_secret())
    second = stack.run("district-inspections")["district-inspections"]
    assert second.status == "ok", second.error
    expected = synced_district_ids(stack.district.records("inspections"), set(stack.dataset.bad_ids))
    ours = stack.ours("jcjl")
    assert set(ours) == expected
    assert all(len(v) == 1 for v in ours.values())


def municipal_secret() -> str:
    from simulators import municipal

    return municipal.MUNICIPAL_APP_SECRET
