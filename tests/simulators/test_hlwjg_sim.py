"""The 互联网+监管 前置库 simulator: schema, catalogues and the collector's validation and watermark."""

from __future__ import annotations

import datetime as dt
import os
import random
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from simulators import hlwjg
from simulators.server import serving
from simulators.universe import (
    DEPARTMENTS,
    INSPECTION_ITEMS,
    ITEMS,
    OFFICERS_BY_DEPT,
    PENALTY_ITEMS,
    REGION_CODE,
    check_icode,
    make_uscc,
)

BEIJING = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 6, 10, 10, 0, tzinfo=BEIJING)
DEPT = DEPARTMENTS[0]
OFFICERS = OFFICERS_BY_DEPT[DEPT.code][:2]
COMPANY = make_uscc("91" + REGION_CODE, random.Random(7))
PG_URL = os.environ.get("ZHIFA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class Clock:
    """A hand-moved clock (Unix seconds)."""

    def __init__(self, when: dt.datetime) -> None:
        self.t = when.timestamp()

    def __call__(self) -> float:
        return self.t


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[sa.Engine]:
    if request.param in ("sqlite", "mariadb"):
        url = (
            f"sqlite:///{tmp_path / 'qzk.db'}"
            if request.param == "sqlite"
            else request.getfixturevalue("mariadb_db_url")
        )
        eng = sa.create_engine(url)
        hlwjg.create_schema(eng)
        hlwjg.seed_catalogue(eng)
        yield eng
        eng.dispose()
        return
    # PostgreSQL: a throw-away schema per test, the tables' names unqualified as the daemon writes them.
    base = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with base.connect():
            pass
    except sa.exc.OperationalError as exc:
        base.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc.orig}")
    schema = f"sim_hlwjg_{uuid.uuid4().hex[:8]}"
    with base.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    eng = sa.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        hlwjg.create_schema(eng)
        hlwjg.seed_catalogue(eng)
        yield eng
    finally:
        with base.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        eng.dispose()
        base.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def collector(engine: sa.Engine, clock: Clock) -> hlwjg.Collector:
    return hlwjg.Collector(engine, clock=clock)


def check_row(cd_id: str = "JC-1", cd_time: dt.datetime | None = None, **changes: Any) -> dict[str, Any]:
    """A valid 检查行为 row, as the daemon would write it."""
    item = INSPECTION_ITEMS[0]
    row = {
        "CD_ID": cd_id,
        "CD_TIME": cd_time or dt.datetime(2025, 6, 10, 9, 0, 0, 1),
        "CD_SOURCE": DEPT.cd_source,
        "CD_BATCH": "2025061000001",
        "CD_OPERATION": "i",
        "SUPERVISE_ITEM_CODE": item.hlwjg_code,
        "CHECK_ICODE": check_icode(item, DEPT),
        "CHECK_ACTION_NAME": item.name,
        "CHECK_ACTION_CODE": "津滨应急检〔2025〕101号",
        "IMPLEMENT_INSTITUTION": DEPT.agency_name,
        "IMPLEMENT_INSTITUTION_CODE": DEPT.agency_uscc,
        "SUPERVISE_OBJECT": "天津某某化工有限公司",
        "ADMINISTRATIVE_CP": "天津某某化工有限公司",
        "ADMINISTRATIVE_CP_NA": "01",
        "ADMINISTRATIVE_CP_CE_TYPE": "001",
        "ADMINISTRATIVE_CP_UI_CODE": COMPANY,
        "AREA_NUMBER": REGION_CODE,
        "CHECK_FORM": "1",
        "CHECK_TYPE": "1",
        "CHECK_RESULT": "2",
        "CHECK_DATE": dt.date(2025, 6, 9),
        "CHECK_PERSONNEL": "|".join(o.name for o in OFFICERS),
        "CHECK_PERSONNEL_CODE": "|".join(o.cert_no for o in OFFICERS),
        "SUBMITTED_DATE": dt.datetime(2025, 6, 10, 8, 30),
        "SUBMITTED_PERSONNEL": "报送员",
    }
    return row | changes


def punish_row(cd_id: str = "CF-1", **changes: Any) -> dict[str, Any]:
    """A valid 行政处罚行为 row."""
    row = {
        "CD_ID": cd_id,
        "CD_TIME": dt.datetime(2025, 6, 10, 9, 0, 0, 2),
        "CD_SOURCE": DEPT.cd_source,
        "CD_BATCH": "2025061000002",
        "CD_OPERATION": "i",
        "SUPERVISE_ITEM_CODE": PENALTY_ITEMS[0].hlwjg_code,
        "PUNISH_ACTION_NAME": PENALTY_ITEMS[0].name,
        "PUNISH_ACTION_CODE": "（滨海）应急罚〔2025〕45号",
        "IMPLEMENT_INSTITUTION": DEPT.agency_name,
        "IMPLEMENT_INSTITUTION_CODE": DEPT.agency_uscc,
        "ADMINISTRATIVE_CP": "天津某某化工有限公司",
        "ADMINISTRATIVE_CP_NA": "01",
        "ADMINISTRATIVE_CP_CE_TYPE": "001",
        "ADMINISTRATIVE_CP_UI_CODE": COMPANY,
        "LEGAL_REPRESENTATIVE": "张三",
        "AREA_NUMBER": REGION_CODE,
        "ILLEGAL_FACT": "未按规定对从业人员进行安全生产教育和培训",
        "PUNISH_BASIS": "《中华人民共和国安全生产法》第九十七条",
        "PUNISH_TYPE": "01|03",
        "FINE_AMOUNT": Decimal("30000.00"),
        "DECISION_DATE": dt.date(2025, 6, 9),
        "PROCEDURE_TYPE": "1",
        "SUBMITTED_DATE": dt.datetime(2025, 6, 10, 8, 30),
    }
    return row | changes


def write(engine: sa.Engine, table: str, row: dict[str, Any]) -> None:
    """Insert-or-rewrite a row in place, as a sender does."""
    t = hlwjg.TABLES[table]
    with engine.begin() as conn:
        conn.execute(t.delete().where(t.c["CD_ID"] == row["CD_ID"]))
        conn.execute(t.insert().values(**row))


def test_valid_rows_are_accepted_into_the_national_store(
    engine: sa.Engine, collector: hlwjg.Collector
) -> None:
    """A valid 检查行为 and 行政处罚行为 each get one STATUS 1 feedback row and reach the national store."""
    write(engine, hlwjg.CHECK_ACTION, check_row())
    write(engine, hlwjg.PUNISH, punish_row())
    written = collector.collect_once()
    assert [(f["TABLE_NAME"], f["CD_ID"], f["STATUS"], f["ERROR_MSG"]) for f in written] == [
        (hlwjg.CHECK_ACTION, "JC-1", "1", None),
        (hlwjg.PUNISH, "CF-1", "1", None),
    ]
    feedback = collector.feedback()
    assert [f["FB_ID"] for f in feedback] == sorted(f["FB_ID"] for f in feedback)
    assert feedback[0]["CD_BATCH"] == "2025061000001"
    assert collector.accepted(hlwjg.CHECK_ACTION)["JC-1"]["CHECK_ICODE"] == check_row()["CHECK_ICODE"]
    assert collector.accepted(hlwjg.PUNISH)["CF-1"]["FINE_AMOUNT"] == "30000.00"


@pytest.mark.parametrize(
    "cert_no", ["12011699999", hlwjg.EXPIRED_OFFICERS[0][0]], ids=["unregistered", "past VALID_TO"]
)
def test_unregistered_or_expired_officer_is_rejected(
    engine: sa.Engine, collector: hlwjg.Collector, cert_no: str
) -> None:
    """An officer not in TR_T_LAW_OFFICER, or past VALID_TO, fails the row with the documented message."""
    codes = f"{OFFICERS[0].cert_no}|{cert_no}"
    write(engine, hlwjg.CHECK_ACTION, check_row(CHECK_PERSONNEL_CODE=codes))
    [fb] = collector.collect_once()
    assert fb["STATUS"] == "2"
    assert fb["ERROR_MSG"] == f"CHECK_PERSONNEL_CODE: 执法证号 {cert_no} 未在本系统注册"
    assert collector.accepted(hlwjg.CHECK_ACTION) == {}


def test_officer_valid_to_is_compared_with_the_collection_date(
    engine: sa.Engine, collector: hlwjg.Collector, clock: Clock
) -> None:
    """An officer registered until yesterday is not registered today."""
    with engine.begin() as conn:
        conn.execute(
            hlwjg.law_officer.update()
            .where(hlwjg.law_officer.c["CERT_NO"] == OFFICERS[1].cert_no)
            .values(VALID_TO=NOW.date())
        )
    write(engine, hlwjg.CHECK_ACTION, check_row())
    assert collector.collect_once()[0]["STATUS"] == "1"  # VALID_TO == collection date still counts
    clock.t += 86400
    write(engine, hlwjg.CHECK_ACTION, check_row(cd_time=dt.datetime(2025, 6, 11, 9, 0), CD_OPERATION="u"))
    assert "未在本系统注册" in collector.collect_once()[0]["ERROR_MSG"]


REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    (hlwjg.CHECK_ACTION, {"SUPERVISE_ITEM_CODE": "1200000000001"}, "SUPERVISE_ITEM_CODE: 监管事项目录编码 1200000000001 应为14位数字"),
    (hlwjg.CHECK_ACTION, {"SUPERVISE_ITEM_CODE": "12000009999999"}, "不在监管事项目录中"),
    (hlwjg.CHECK_ACTION, {"CHECK_ICODE": DEPT.agency_uscc + "6" + INSPECTION_ITEMS[0].hlwjg_code[-7:]}, "CHECK_ICODE: "),
    (hlwjg.CHECK_ACTION, {"CHECK_ICODE": check_icode(INSPECTION_ITEMS[1], DEPT)}, "不属于监管事项"),
    (hlwjg.CHECK_ACTION, {"IMPLEMENT_INSTITUTION_CODE": DEPARTMENTS[1].agency_uscc}, "前18位"),
    (hlwjg.CHECK_ACTION, {"CHECK_PERSONNEL": OFFICERS[0].name, "CHECK_PERSONNEL_CODE": OFFICERS[0].cert_no},
     "CHECK_PERSONNEL_CODE: 执法人员不得少于2名"),
    (hlwjg.CHECK_ACTION, {"CHECK_PERSONNEL": OFFICERS[0].name}, "CHECK_PERSONNEL: 执法人员姓名1个"),
    (hlwjg.CHECK_ACTION, {"CHECK_DATE": dt.date(2025, 6, 11)}, "CHECK_DATE: 日期 2025-06-11 晚于当前日期"),
    (hlwjg.CHECK_ACTION, {"SUBMITTED_DATE": dt.datetime(2025, 6, 9)}, "SUBMITTED_DATE: "),
    (hlwjg.CHECK_ACTION, {"CHECK_TYPE": "5"}, "CHECK_TYPE: 检查类别 5 不在代码表中"),
    (hlwjg.CHECK_ACTION, {"ADMINISTRATIVE_CP_UI_CODE": COMPANY[:-1] + "0"}, "ADMINISTRATIVE_CP_UI_CODE"),
    (hlwjg.CHECK_ACTION, {"ADMINISTRATIVE_CP_CE_TYPE": "111"}, "居民身份证号码校验不通过"),
    (hlwjg.CHECK_ACTION, {"AREA_NUMBER": "12011"}, "AREA_NUMBER: "),
    (hlwjg.CHECK_ACTION, {"SUPERVISE_OBJECT": None}, "SUPERVISE_OBJECT: 必填项不能为空"),
    (hlwjg.CHECK_ACTION, {"CD_SOURCE": "12011"}, "CD_SOURCE: "),
    (hlwjg.CHECK_ACTION, {"CD_BATCH": "202506100001"}, "CD_BATCH: "),
    (hlwjg.CHECK_ACTION, {"CD_OPERATION": "I"}, "CD_OPERATION: "),
    (hlwjg.PUNISH, {"FINE_AMOUNT": Decimal("0")}, "FINE_AMOUNT: 处罚类型含罚款（03）时罚款金额应大于0"),
    (hlwjg.PUNISH, {"PUNISH_TYPE": "01|3"}, "PUNISH_TYPE: 处罚类型 3 不在代码表中"),
    (hlwjg.PUNISH, {"DECISION_DATE": None}, "DECISION_DATE: 必填项不能为空"),
    (hlwjg.PUNISH, {"PROCEDURE_TYPE": "3"}, "PROCEDURE_TYPE: "),
]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "changes", "expected"),
    REJECTIONS,
    ids=[f"{t[-6:].lower()}-{next(iter(c))}-{n}" for n, (t, c, _) in enumerate(REJECTIONS)],
)
def test_rule_violations_are_rejected_naming_the_column(
    engine: sa.Engine, collector: hlwjg.Collector, table: str, changes: dict[str, Any], expected: str
) -> None:
    """Each rule of docs/interfaces/hlwjg.md fails the row with STATUS 2 and a Chinese message naming the column."""
    write(engine, table, (check_row() if table == hlwjg.CHECK_ACTION else punish_row()) | changes)
    [fb] = collector.collect_once()
    assert fb["STATUS"] == "2"
    assert expected in fb["ERROR_MSG"]


def test_delete_rows_are_checked_on_the_envelope_only(engine: sa.Engine, collector: hlwjg.Collector) -> None:
    """A ``d`` row with nothing but the envelope is accepted and removes the national record."""
    write(engine, hlwjg.PUNISH, punish_row())
    collector.collect_once()
    envelope = {"CD_ID": "CF-1", "CD_TIME": dt.datetime(2025, 6, 10, 9, 30), "CD_SOURCE": DEPT.cd_source,
                "CD_BATCH": "2025061000003", "CD_OPERATION": "d"}  # fmt: skip
    write(engine, hlwjg.PUNISH, envelope)
    [fb] = collector.collect_once()
    assert (fb["STATUS"], fb["CD_BATCH"]) == ("1", "2025061000003")
    assert collector.accepted(hlwjg.PUNISH) == {}
    assert collector.accepted(hlwjg.PUNISH, include_deleted=True)["CF-1"]["DELETED"] is True


def test_watermark_is_strict(engine: sa.Engine, collector: hlwjg.Collector) -> None:
    """A row written later with a CD_TIME equal to one already collected is never collected (to the
    column's precision: a MySQL/MariaDB ``DATETIME`` keeps whole seconds, so 1 µs later is the same time)."""
    whole_seconds = engine.dialect.name == "mysql"
    t1 = dt.datetime(2025, 6, 10, 9, 0, 0, 0 if whole_seconds else 500)
    write(engine, hlwjg.CHECK_ACTION, check_row("A", t1))
    assert [f["CD_ID"] for f in collector.collect_once()] == ["A"]
    write(engine, hlwjg.CHECK_ACTION, check_row("B", t1))
    assert collector.collect_once() == []
    if whole_seconds:
        write(engine, hlwjg.CHECK_ACTION, check_row("B2", t1 + dt.timedelta(microseconds=1)))
        assert collector.collect_once() == []  # stored as the same second: never collected
    step = dt.timedelta(seconds=1) if whole_seconds else dt.timedelta(microseconds=1)
    write(engine, hlwjg.CHECK_ACTION, check_row("C", t1 + step))
    assert [f["CD_ID"] for f in collector.collect_once()] == ["C"]
    assert collector.collect_once() == []
    assert set(collector.accepted(hlwjg.CHECK_ACTION)) == {"A", "C"}
    assert collector.watermark(hlwjg.CHECK_ACTION) == t1 + step


def test_rewrite_before_collection_is_collected_once(engine: sa.Engine, collector: hlwjg.Collector) -> None:
    """A row rewritten before collection gives one feedback row, for its latest version."""
    write(engine, hlwjg.CHECK_ACTION, check_row(SUPERVISE_OBJECT="旧名称"))
    write(
        engine,
        hlwjg.CHECK_ACTION,
        check_row(
            cd_time=dt.datetime(2025, 6, 10, 9, 5),
            CD_BATCH="2025061000009",
            CD_OPERATION="u",
            SUPERVISE_OBJECT="新名称",
        ),
    )
    written = collector.collect_once()
    assert [(f["CD_ID"], f["CD_BATCH"], f["STATUS"]) for f in written] == [("JC-1", "2025061000009", "1")]
    assert collector.accepted(hlwjg.CHECK_ACTION)["JC-1"]["SUPERVISE_OBJECT"] == "新名称"


def test_pause_and_resume(engine: sa.Engine, collector: hlwjg.Collector) -> None:
    """A paused collector writes no feedback; rows wait and are collected after resume."""
    collector.pause()
    write(engine, hlwjg.CHECK_ACTION, check_row())
    assert collector.collect_once() == []
    assert collector.feedback() == []
    collector.resume()
    assert [f["STATUS"] for f in collector.collect_once()] == ["1"]


def test_admin_hooks_pause_resume_and_count(engine: sa.Engine, collector: hlwjg.Collector) -> None:
    """/_sim/hlwjg/pause|resume steer the collector; /_sim/hlwjg/stats counts waiting, accepted, feedback."""
    with serving(hlwjg.create_admin_app(collector)) as srv, httpx.Client(base_url=srv.url) as admin:
        assert admin.post("/_sim/hlwjg/pause").json() == {"paused": True}
        write(engine, hlwjg.CHECK_ACTION, check_row())
        write(engine, hlwjg.CHECK_ACTION, check_row("JC-2", CHECK_TYPE="7"))
        assert collector.collect_once() == []
        stats = admin.get("/_sim/hlwjg/stats").json()
        assert stats["paused"] and stats["tables"][hlwjg.CHECK_ACTION] == {
            "accepted": 0,
            "deleted": 0,
            "pending": 2,
        }
        assert admin.post("/_sim/hlwjg/resume").json() == {"paused": False}
        collector.collect_once()
        stats = admin.get("/_sim/hlwjg/stats").json()
    assert stats["tables"][hlwjg.CHECK_ACTION] == {"accepted": 1, "deleted": 0, "pending": 0}
    assert stats["feedback"] == {"1": 1, "2": 1}


def test_restarted_collector_keeps_its_watermark(engine: sa.Engine, clock: Clock) -> None:
    """Watermark and national store are in the database: a new collector does not collect again."""
    write(engine, hlwjg.CHECK_ACTION, check_row())
    assert len(hlwjg.Collector(engine, clock=clock).collect_once()) == 1
    again = hlwjg.Collector(engine, clock=clock)
    assert again.collect_once() == []
    assert set(again.accepted(hlwjg.CHECK_ACTION)) == {"JC-1"}


def test_background_thread_collects_until_stopped(engine: sa.Engine, collector: hlwjg.Collector) -> None:
    """run_in_thread collects on its own; stop() ends the thread."""
    write(engine, hlwjg.CHECK_ACTION, check_row())
    thread = collector.run_in_thread(interval_s=0.02)
    try:
        deadline = time.monotonic() + 5
        while not collector.feedback() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        collector.stop()
    assert not thread.is_alive()
    assert [f["CD_ID"] for f in collector.feedback()] == ["JC-1"]


def test_schema_types_and_catalogue(engine: sa.Engine) -> None:
    """Exchange tables carry the documented columns; catalogues hold every item, 清单 and officer."""
    inspector = sa.inspect(engine)
    columns = {c["name"] for c in inspector.get_columns(hlwjg.PUNISH)}
    assert {
        "CD_ID",
        "CD_TIME",
        "CD_OPERATION",
        "FINE_AMOUNT",
        "CONFISCATION_AMOUNT",
        "PROCEDURE_TYPE",
    } <= columns
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(hlwjg.supervise_item)) == len(ITEMS)
        officers = dict(
            conn.execute(sa.select(hlwjg.law_officer.c["CERT_NO"], hlwjg.law_officer.c["VALID_TO"])).all()
        )
    assert officers[OFFICERS[0].cert_no] == dt.date.fromisoformat(OFFICERS[0].valid_to)
    assert all(officers[c] < NOW.date() for c, _, _ in hlwjg.EXPIRED_OFFICERS)
