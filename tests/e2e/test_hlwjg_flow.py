"""Flows 1 and 2 into 互联网+监管: district simulator → engine → a real 前置库 with the exchange's collector."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.contract.clock import beijing_now
from simulators import hlwjg as sim
from sync.ledger.schema import deliveries, failures
from sync.report import awaiting_feedback as hlwjg_status
from tests.support.stack import Stack, make_stack, synced_district_ids

EXPIRED_CERT, EXPIRED_NAME, EXPIRED_UNTIL = sim.EXPIRED_OFFICERS[0]
EXPIRED_USER = "u9901"
TABLE = {"inspections": sim.CHECK_ACTION, "penalties": sim.PUNISH}


@dataclass
class World:
    stack: Stack
    exchange: sa.Engine
    collector: sim.Collector
    expired_record: str

    def run(self) -> None:
        for name, counts in self.stack.run().items():
            assert counts.status in ("ok", "failed"), f"{name}: {counts.error}"

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        with self.exchange.connect() as conn:
            t = sa.Table(table, sa.MetaData(), autoload_with=conn)
            return {r.CD_ID: dict(r._mapping) for r in conn.execute(sa.select(t))}

    def cd_times(self) -> list[datetime]:
        return [r["CD_TIME"] for t in TABLE.values() for r in self.rows(t).values()]

    def states(self) -> dict[str, str]:
        app = self.stack.app()
        try:
            with app.ledger.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(deliveries.c.source_id, deliveries.c.state).where(
                        deliveries.c.target == "hlwjg"
                    )
                )
                return {r.source_id: r.state for r in rows}
        finally:
            app.close()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange_url: str) -> Iterator[World]:
    exchange = sim.open_exchange(exchange_url)
    monkeypatch.setenv("ZS_HLWJG_URL", exchange_url)
    with make_stack(tmp_path, monkeypatch, inspections=45, penalties=9) as stack:
        stack.extra_systems = {
            "hlwjg": {
                "type": "hlwjg",
                "url": {"env": "ZS_HLWJG_URL"},
                "batch_size": 20,
                "feedback_timeout_minutes": 30,
            }
        }
        stack.pipelines = [
            {
                "name": f"district-{kind}s",
                "source": "district",
                "kind": kind,
                "targets": ["hlwjg"],
                "start": "2024-01-01 00:00:00",
                "lag_s": 0,
                "batch_size": 50,
            }
            for kind in ("inspection", "penalty")
        ]
        stack.write_config()
        # An officer whose registration in TR_T_LAW_OFFICER has run out, on one submitted inspection.
        with (stack.mappings / "officers.csv").open("a", encoding="utf-8") as fh:
            fh.write(f"{EXPIRED_USER},{EXPIRED_NAME},{EXPIRED_CERT}\n")
        victim = next(r for r in stack.district.records("inspections") if r["status"] == "submitted")
        stack.district.update("inspections", victim["id"], officers=[victim["officers"][0], EXPIRED_USER])
        try:
            yield World(stack, exchange, sim.Collector(exchange), victim["id"])
        finally:
            exchange.dispose()


def expected(world: World, kind: str) -> set[str]:
    """District records that must reach the exchange table: synced, not void/revoked from the start."""
    recs = world.stack.district.records(kind)
    ids = synced_district_ids(recs, set(world.stack.dataset.bad_ids))
    return {r["id"] for r in recs if r["id"] in ids and r["status"] not in ("void", "revoked")} - {
        world.expired_record
    }


def test_rows_are_written_collected_and_confirmed(world: World) -> None:
    """Every record lands once with a valid envelope, the collector accepts all, the ledger marks them delivered."""
    world.run()
    for kind, table in TABLE.items():
        rows = world.rows(table)
        assert set(rows) == expected(world, kind)
        for row in rows.values():
            assert row["CD_OPERATION"] == "i"
            assert re.fullmatch(r"\d{8}\d{5}", row["CD_BATCH"]) and row["CD_BATCH"][:8] == row[
                "CD_TIME"
            ].strftime("%Y%m%d")
            assert re.fullmatch(r"120116[A-Za-z0-9]{1,14}", row["CD_SOURCE"])
    assert set(world.states().values()) == {"sent"}

    feedback = world.collector.collect_once()
    assert [f for f in feedback if str(f["STATUS"]) != "1"] == []
    assert set(world.collector.accepted(sim.CHECK_ACTION)) == expected(world, "inspections")
    assert set(world.collector.accepted(sim.PUNISH)) == expected(world, "penalties")

    world.run()  # polls the feedback
    states = world.states()
    assert set(states) == expected(world, "inspections") | expected(world, "penalties")
    assert set(states.values()) == {"delivered"}


def test_inspection_fields_follow_the_precise_rules(world: World) -> None:
    """CHECK_FORM 1, party nature by USCC, CHECK_TYPE mapped, officers' names and numbers in the same order."""
    world.run()
    by_id = {r["id"]: r for r in world.stack.district.records("inspections")}
    types = {"01": "9", "02": "1", "03": "3", "04": "4", "05": "9"}
    for cd_id, row in world.rows(sim.CHECK_ACTION).items():
        src = by_id[cd_id]
        assert row["CHECK_FORM"] == "1"
        assert row["ADMINISTRATIVE_CP_NA"] == ("03" if src["enterprise"]["uscc"].startswith("92") else "01")
        assert (row["ADMINISTRATIVE_CP_CE_TYPE"], row["ADMINISTRATIVE_CP_UI_CODE"]) == (
            "001",
            src["enterprise"]["uscc"],
        )
        assert row["CHECK_TYPE"] == types[src["inspection_type"]]
        assert len(row["CHECK_PERSONNEL"].split("|")) == len(row["CHECK_PERSONNEL_CODE"].split("|")) >= 2
        assert row["CHECK_ICODE"][:18] == row["IMPLEMENT_INSTITUTION_CODE"]
        assert row["SUBMITTED_DATE"] > datetime.combine(row["CHECK_DATE"], datetime.min.time())
    penalties = {r["id"]: r for r in world.stack.district.records("penalties")}
    for cd_id, row in world.rows(sim.PUNISH).items():
        assert row["PUNISH_TYPE"] == "|".join(penalties[cd_id]["penalty_types"])
        assert row["PROCEDURE_TYPE"] == ("1" if penalties[cd_id]["procedure"] == "general" else "2")


def test_expired_officer_fails_before_writing(world: World) -> None:
    """An officer past VALID_TO parks the record with a message naming officers.csv and the date; no row is written."""
    world.run()
    assert world.expired_record not in world.rows(sim.CHECK_ACTION)
    app = world.stack.app()
    try:
        with app.ledger.engine.connect() as conn:
            row = conn.execute(sa.select(failures).where(failures.c.source_id == world.expired_record)).one()
    finally:
        app.close()
    assert (row.target, row.state, row.error_kind) == ("hlwjg", "parked", "mapping")
    assert row.message == (
        f"执法证号 {EXPIRED_CERT} (officers.csv: {EXPIRED_USER}) 在互联网+监管 TR_T_LAW_OFFICER 中"
        f"已过期 (VALID_TO {EXPIRED_UNTIL}): 请更新 officers.csv 或联系省级平台"
    )


def test_void_paused_collector_and_status(world: World) -> None:
    """A voided inspection becomes a `d` row with a later CD_TIME; it stays 'sent' while the collector is paused."""
    world.run()
    world.collector.collect_once()
    world.run()
    first_times = world.cd_times()
    voided = sorted(expected(world, "inspections"))[0]
    world.stack.district.void_inspection(voided)

    world.collector.pause()
    world.run()
    row = world.rows(sim.CHECK_ACTION)[voided]
    assert row["CD_OPERATION"] == "d" and row["CD_TIME"] > max(first_times)
    assert world.collector.collect_once() == []
    world.run()
    assert world.states()[voided] == "sent"

    app = world.stack.app()
    try:
        late = hlwjg_status.sent_without_feedback(
            app.ledger, "hlwjg", 30, now=beijing_now() + timedelta(minutes=31)
        )
        assert [r["source_id"] for r in late] == [voided]
        assert hlwjg_status.sent_without_feedback(app.ledger, "hlwjg", 30) == []
        text = hlwjg_status.section(app.ledger, app.settings, now=beijing_now() + timedelta(minutes=31))
        assert "超过 30 分钟仍无反馈的记录 1 条" in text and voided in text and row["CD_BATCH"] in text
    finally:
        app.close()

    world.collector.resume()
    assert [str(f["STATUS"]) for f in world.collector.collect_once()] == ["1"]
    world.run()
    assert world.states()[voided] == "withdrawn"
    assert world.collector.accepted(sim.CHECK_ACTION, include_deleted=True)[voided]["DELETED"]


def test_cd_time_and_batch_grow_across_restarts(world: World) -> None:
    """Each run is a new process: CD_TIME stays strictly later and CD_BATCH continues the day's count."""
    world.run()
    before = {cd: (r["CD_TIME"], r["CD_BATCH"]) for cd, r in world.rows(sim.PUNISH).items()}
    changed = sorted(before)[0]
    world.stack.district.update("penalties", changed, facts="经复查, 事实已补充。")
    world.run()
    row = world.rows(sim.PUNISH)[changed]
    assert row["CD_OPERATION"] == "u" and row["ILLEGAL_FACT"] == "经复查, 事实已补充。"
    assert row["CD_TIME"] > max(t for t, _ in before.values())
    assert row["CD_BATCH"] > max(b for _, b in before.values())


def test_rejected_feedback_fails_the_record(world: World) -> None:
    """STATUS 2 feedback turns the delivery into a failure carrying the platform's ERROR_MSG."""
    world.run()
    row = next(iter(world.rows(sim.CHECK_ACTION).values()))
    cert = row["CHECK_PERSONNEL_CODE"].split("|")[0]
    with world.exchange.begin() as conn:  # the province withdraws the officer's registration meanwhile
        # (through SQLAlchemy: a quoted name is "…" in SQL but `…` on MySQL/MariaDB)
        conn.execute(sim.law_officer.delete().where(sim.law_officer.c["CERT_NO"] == cert))
    rejected = {f["CD_ID"] for f in world.collector.collect_once() if str(f["STATUS"]) == "2"}
    assert row["CD_ID"] in rejected
    world.run()
    assert world.states()[row["CD_ID"]] == "failed"
    app = world.stack.app()
    try:
        with app.ledger.engine.connect() as conn:
            fail = conn.execute(sa.select(failures).where(failures.c.source_id == row["CD_ID"])).one()
    finally:
        app.close()
    assert (fail.pipeline, fail.stage, fail.error_kind) == ("district-inspections", "feedback", "rejected")
    assert fail.message.startswith("hlwjg 反馈校验失败: ") and cert in fail.message
