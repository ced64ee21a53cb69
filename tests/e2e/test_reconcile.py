"""Reconciliation end to end: sync, then delete and alter records behind the daemon's back in every
simulator and in the 前置库, and see exactly those found, repaired once, and nothing else touched."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from connectors.contract.states import AuditAction
from simulators import daemon_config, harness
from simulators import hlwjg as qzk
from sync import metrics
from sync.ledger.schema import deliveries
from zhifa_sync.app import App
from zhifa_sync.cli import main as cli

TABLE = {"inspection": qzk.CHECK_ACTION, "penalty": qzk.PUNISH}
MISSING, STALE, EXTRA, DIVERGED = "missing", "stale", "extra", "diverged"
CITY = "city-inspections"  # flow 3: records typed in at the city → district


@dataclass
class World:
    sims: harness.InProcess
    config: Path
    exchange: sa.Engine

    def app(self) -> App:
        return App.from_config(self.config)

    def sync(self) -> None:
        app = self.app()
        try:
            for name, counts in app.run_once().items():
                assert counts.status in ("ok", "failed"), f"{name}: {counts.error}"
        finally:
            app.close()

    def reconcile(
        self,
        *,
        repair: bool = False,
        pipelines: tuple[str, ...] = ("district-inspections", "district-penalties"),
        since: datetime | None = None,
    ) -> set[tuple[str, str, str]]:
        """(target, source id, finding) of every finding not repaired by this run, over ``pipelines``."""
        app = self.app()
        try:
            out = set()
            for name in pipelines:
                result = app.reconcile(name, since, repair=repair)
                assert result is not None and result.status == "ok", result and result.error
                out |= {(f.target, f.source_id, f.finding) for f in result.findings if not f.repaired}
            return out
        finally:
            app.close()

    def delivered(self, target: str, kind: str) -> dict[str, str]:
        """source id → target id of the records the ledger says ``target`` holds."""
        app = self.app()
        try:
            with app.ledger.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(deliveries.c.source_id, deliveries.c.target_id).where(
                        deliveries.c.target == target,
                        deliveries.c.kind == kind,
                        deliveries.c.state.in_(("delivered", "sent")),
                    )
                )
                return {r.source_id: r.target_id for r in rows}
        finally:
            app.close()

    def rows(self, kind: str) -> dict[str, dict[str, Any]]:
        with self.exchange.connect() as conn:
            t = sa.Table(TABLE[kind], sa.MetaData(), autoload_with=conn)
            return {r.CD_ID: dict(r._mapping) for r in conn.execute(sa.select(t))}

    def admin(self, system: str, method: str, path: str, body: Any = None) -> Any:
        resp = httpx.request(method, self.sims.urls[system] + path, json=body, timeout=5)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_url: str) -> Iterator[World]:
    exchange_url = f"sqlite:///{tmp_path / 'qzk.db'}"
    for name, value in daemon_config.secrets_env(exchange_url).items():
        monkeypatch.setenv(name, value)
    plan = harness.Plan(
        systems=("district", "municipal", "credit", "hlwjg"),
        inspections=40,
        penalties=14,
        seed=11,
        hand_typed_share=0.1,
        faults={n: {"rate_limits": False} for n in ("district", "municipal", "credit")},
        exchange_url=exchange_url,
        collector_interval_s=3600,
    )
    with harness.start_in_process(plan) as sims:
        knobs = daemon_config.Knobs(
            retry=daemon_config.Retry(attempts=3, initial_wait_s=0.01, max_wait_s=0.1),
            timeout_s=5,
            lag_s=0,
            batch_size={"district": 100},
        )
        config = daemon_config.build(
            sims.urls,
            db_url=ledger_url,
            mappings_dir=daemon_config.copy_mappings(tmp_path / "mappings"),
            knobs=knobs,
            flows=(*daemon_config.DISTRICT_FLOWS, CITY),
        )
        path = daemon_config.write(config, tmp_path / "zhifa-sync.yaml")
        exchange = qzk.open_exchange(exchange_url)
        try:
            yield World(sims, path, exchange)
        finally:
            exchange.dispose()


def _pick(ids: list[str], avoid: set[str]) -> str:
    chosen = next(i for i in sorted(ids) if i not in avoid)
    avoid.add(chosen)
    return chosen


def _older(stamp: str, hours: int = 1) -> str:
    return (datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S") - timedelta(hours=hours)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def _tamper(world: World) -> set[tuple[str, str, str]]:
    """Change every system behind the daemon's back; the findings that must come of it."""
    district = world.sims.district
    muni_ins, muni_pen = world.delivered("municipal", "inspection"), world.delivered("municipal", "penalty")
    credit_pen = world.delivered("credit", "penalty")
    qzk_ins, qzk_pen = world.delivered("hlwjg", "inspection"), world.delivered("hlwjg", "penalty")
    # an inspection a penalty links to would change that penalty's link when it is created anew
    linked = {str(p.get("inspection_id")) for p in district.records("penalties")}
    live = {
        r["id"]
        for k in ("inspections", "penalties")
        for r in district.records(k)
        if r["status"] in ("submitted", "decided", "closed")
    }
    used: set[str] = set(linked)
    ins_everywhere = [i for i in muni_ins if i in qzk_ins and i in live]
    pen_everywhere = [i for i in muni_pen if i in credit_pen and i in qzk_pen and i in live]
    expected: set[tuple[str, str, str]] = set()

    # district: a record deleted from its database, an edit stamped an hour back (behind the cursor),
    # a record inserted with an old stamp
    gone = _pick(ins_everywhere, used)
    world.admin("district", "DELETE", f"/_sim/inspections/{gone}")
    expected |= {("municipal", gone, EXTRA), ("hlwjg", gone, EXTRA)}
    stale = _pick(pen_everywhere, used)
    rec = district.get("penalties", stale)
    assert rec is not None
    world.admin(
        "district",
        "POST",
        f"/_sim/penalties/{stale}",
        {"facts": rec["facts"] + "（补充）", "updated_at": _older(rec["updated_at"])},
    )
    expected |= {(t, stale, STALE) for t in ("municipal", "credit", "hlwjg")}
    template = district.get("inspections", _pick(ins_everywhere, used))
    assert template is not None
    late = world.admin(
        "district",
        "POST",
        "/_sim/inspections",
        {**template, "id": "JC2025990001", "updated_at": _older(template["updated_at"], 2)},
    )["ids"][0]
    expected |= {("municipal", late, MISSING), ("hlwjg", late, MISSING)}

    # municipal: one record of ours deleted, one altered
    deleted = _pick(ins_everywhere, used)
    world.admin("municipal", "DELETE", f"/_sim/records/jcjl/{muni_ins[deleted]}")
    altered = _pick(ins_everywhere, used)
    world.admin("municipal", "POST", f"/_sim/records/jcjl/{muni_ins[altered]}", {"qymc": "被改动的企业名称"})
    expected |= {("municipal", deleted, MISSING), ("municipal", altered, DIVERGED)}

    # credit: one decision deleted, one altered
    deleted = _pick(pen_everywhere, used)
    world.admin("credit", "DELETE", f"/_sim/records/{credit_pen[deleted]}")
    altered = _pick(pen_everywhere, used)
    world.admin("credit", "POST", f"/_sim/records/{credit_pen[altered]}", {"CF_SY": "被改动的处罚事由"})
    expected |= {("credit", deleted, MISSING), ("credit", altered, DIVERGED)}

    # the 前置库: one row deleted, one altered, by SQL
    deleted, altered = _pick(ins_everywhere, used), _pick(pen_everywhere, used)
    with world.exchange.begin() as conn:
        conn.execute(sa.text(f'DELETE FROM "{qzk.CHECK_ACTION}" WHERE "CD_ID" = :i'), {"i": deleted})
        conn.execute(
            sa.text(f'UPDATE "{qzk.PUNISH}" SET "ILLEGAL_FACT" = :v WHERE "CD_ID" = :i'),
            {"i": altered, "v": "被改动"},
        )
    expected |= {("hlwjg", deleted, MISSING), ("hlwjg", altered, DIVERGED)}
    return expected


def _held(world: World) -> dict[str, dict[str, Any]]:
    """What every target holds, by target and our id (to see that a repair touched nothing else)."""
    muni = {
        f"{k}:{r['wbxtbh']}": r
        for k in ("jcjl", "xzcf")
        for r in world.sims.municipal.records(k)
        if r.get("wbxtbh")
    }
    credit = {r["SJBS"]: r for r in world.sims.credit.records()}
    rows = {f"{k}:{i}": r for k in TABLE for i, r in world.rows(k).items()}
    return {"municipal": muni, "credit": credit, "hlwjg": rows}


def test_reconcile_finds_exactly_what_was_changed_and_repairs_it_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.sync()
    assert world.reconcile() == set(), "a fresh sync must reconcile clean"

    expected = _tamper(world)
    # a window after every change: nothing in it, and what the targets hold from before is not "extra"
    assert world.reconcile(since=datetime(2099, 1, 1)) == set()
    assert world.reconcile() == expected
    for (target, kind), n in Counter((t, k) for t, _i, k in expected).items():
        pipeline = "district-penalties" if target == "credit" else None
        values = [
            metrics.REGISTRY.get_sample_value(
                "zhifa_reconcile_findings", {"pipeline": p, "target": target, "kind": kind}
            )
            for p in ([pipeline] if pipeline else ["district-inspections", "district-penalties"])
        ]
        assert sum(v or 0 for v in values) == n, (target, kind)

    before = _held(world)
    saves = {k: v for k, v in world.sims.municipal.faults.stats()["calls"].items() if "save" in k}
    args = ["-c", str(world.config), "reconcile", "district-inspections", "district-penalties", "--repair"]
    assert cli(args) == 1  # the extras stay, reported
    out = capsys.readouterr().out
    for words in ("缺失  版本落后  多余  内容不一致", "已补推", "不会自动删除"):
        assert words in out, words
    extras = {f for f in expected if f[2] == EXTRA}
    assert world.reconcile() == extras, "a second reconcile finds only the extras, never deleted"

    after = _held(world)
    repaired = {(t, i) for t, i, kind in expected if kind != EXTRA}
    for target, held in after.items():
        ours = {i for t, i in repaired if t == target}
        changed = {key for key in set(before[target]) | set(held) if before[target].get(key) != held.get(key)}
        assert {key.split(":")[-1] for key in changed} == ours, f"{target}: touched {sorted(changed)}"
    # each municipal repair is one save (nothing else re-sent)
    saves_after = {k: v for k, v in world.sims.municipal.faults.stats()["calls"].items() if "save" in k}
    assert sum(saves_after.values()) - sum(saves.values()) == len(
        {i for t, i in repaired if t == "municipal"}
    )
    app = world.app()
    try:
        audit = [a for a in app.ledger.audit() if a["action"] == AuditAction.RECONCILE_REPAIR]
    finally:
        app.close()
    assert len(audit) == 2 and all("对账补推" in a["detail"] for a in audit)


def test_city_records_are_listed_and_reconciled_with_the_ledger(world: World) -> None:
    """Flow 3: the municipal source lists its hand-typed records; one deleted at the city is extra on
    the district, one edited with an old ``gxsj`` is stale there and is repaired; nothing else moves."""
    for template in [r for r in world.sims.municipal.records("jcjl") if r.get("wbxtly") is None][:3]:
        day = datetime.strptime(template["jckssj"], "%Y%m%d%H%M%S") - timedelta(days=3)
        more = {k: v for k, v in template.items() if k != "jcjlbh"}
        more |= {
            "jckssj": day.strftime("%Y%m%d%H%M%S"),
            "jcjssj": day.strftime("%Y%m%d%H%M%S"),
            "gxsj": _older(template["gxsj"], 30),
        }
        world.admin("municipal", "POST", "/_sim/records/jcjl", more)  # typed in at the city, no district twin
    world.sync()
    assert world.reconcile(pipelines=(CITY,)) == set()
    district = world.sims.district
    copies = {r["source_id"]: r for r in district.records("inspections") if r.get("origin") == "municipal"}
    city = {r["jcjlbh"]: r for r in world.sims.municipal.records("jcjl") if r.get("wbxtly") is None}
    gone, edited = sorted(i for i in copies if i in city)[:2]
    world.admin("municipal", "DELETE", f"/_sim/records/jcjl/{gone}")
    world.admin(
        "municipal",
        "POST",
        f"/_sim/records/jcjl/{edited}",
        {"qymc": "市里改过的企业名称", "gxsj": _older(city[edited]["gxsj"])},
    )
    assert world.reconcile(pipelines=(CITY,)) == {("district", gone, EXTRA), ("district", edited, STALE)}

    before = {r["id"]: r for r in district.records("inspections")}
    assert world.reconcile(pipelines=(CITY,), repair=True) == {("district", gone, EXTRA)}
    assert world.reconcile(pipelines=(CITY,)) == {("district", gone, EXTRA)}
    after = {r["id"]: r for r in district.records("inspections")}
    changed = {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)}
    assert changed == {copies[edited]["id"]}
    assert after[copies[edited]["id"]]["enterprise"]["name"] == "市里改过的企业名称"
