"""Flows 2 and 4 end to end: district penalties → 双公示, credit events → district, over real HTTP."""

from __future__ import annotations

import random
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from simulators import credit, datagen, district
from simulators.server import serving
from simulators.universe import make_uscc
from sync.outcomes import RunCounts
from sync.report.deadlines import deadline_section, deadlines
from tests.support.checks import found
from zhifa_sync.app import App
from zhifa_sync.export_sgs import export_sgs

REPO = Path(__file__).resolve().parents[2]
# docs/interfaces/credit.md, "Spreadsheet upload", copied as written there
TEMPLATE_HEADERS = (
    "行政相对人名称, 行政相对人类别, 行政相对人代码_1(统一社会信用代码), "
    "行政相对人代码_2(工商注册号), 行政相对人代码_3(组织机构代码), 行政相对人代码_4(税务登记号), "
    "行政相对人代码_5(事业单位证书号), 行政相对人代码_6(社会组织登记证号), 法定代表人, 法定代表人证件类型, "
    "法定代表人证件号码, 证件类型, 证件号码, 行政处罚决定书文号, 违法行为类型, 违法事实, 处罚依据, 处罚类别, "
    "处罚内容, 罚款金额（万元）, 没收违法所得、没收非法财物的金额（万元）, 暂扣或吊销证照名称及编号, 处罚决定日期, "
    "处罚有效期, 公示截止期, 处罚机关, 处罚机关统一社会信用代码, 数据来源单位, 数据来源单位统一社会信用代码, 备注"
)
PENALTIES = "district-penalties"
EVENTS = "credit-events"


@dataclass
class World:
    """District and credit simulators on loopback, and a config file pointing the engine at them."""

    tmp: Path
    data: datagen.Dataset
    district: district.DistrictState
    credit: credit.CreditState
    district_url: str
    credit_url: str

    def configure(
        self,
        *,
        credit_batch: int = 200,
        credit_rate: float = 0,
        attempts: int = 4,
        max_wait_s: float = 0.2,
        events_page: int = 200,
    ) -> None:
        retry = {"attempts": attempts, "initial_wait_s": 0.01, "max_wait_s": max_wait_s}
        mappings = self.tmp / "mappings"
        if not mappings.exists():
            shutil.copytree(REPO / "mappings", mappings, ignore=shutil.ignore_patterns("*.md"))
        config = {
            "database": {"url": f"sqlite:///{self.tmp / 'ledger.db'}"},
            "mappings_dir": str(mappings),
            "holidays_file": str(mappings / "holidays.csv"),
            "systems": {
                "district": {
                    "type": "district",
                    "base_url": self.district_url,
                    "username": district.DISTRICT_USER,
                    "password": {"env": "ZS_DISTRICT_PASSWORD"},
                    "retry": retry,
                    "timeout_s": 5,
                },
                "credit": {
                    "type": "credit",
                    "base_url": self.credit_url,
                    "app_key": credit.APP_ID,
                    "app_secret": {"env": "ZS_CREDIT_SECRET"},
                    "retry": retry,
                    "timeout_s": 5,
                    "batch_size": credit_batch,
                    "rate_limit_per_s": credit_rate,
                    "data_source_name": "天津市滨海新区应急管理局",
                    "data_source_uscc": credit.SOURCE_USCC,
                },
            },
            "pipelines": [
                {
                    "name": PENALTIES,
                    "source": "district",
                    "kind": "penalty",
                    "targets": ["credit"],
                    "start": "2025-01-01 00:00:00",
                    "lag_s": 0,
                },
                {
                    "name": EVENTS,
                    "source": "credit",
                    "kind": "credit_event",
                    "targets": ["district"],
                    "start": "2026-01-01 00:00:00",
                    "lag_s": 0,
                    "batch_size": events_page,
                },
            ],
        }
        (self.tmp / "zhifa-sync.yaml").write_text(
            yaml.safe_dump(config, allow_unicode=True), encoding="utf-8"
        )

    def app(self) -> App:
        return App.from_config(self.tmp / "zhifa-sync.yaml")

    def run(self, name: str, stop: threading.Event | None = None) -> RunCounts:
        app = self.app()
        try:
            return app.run_once([name], stop)[name]
        finally:
            app.close()

    def published(self) -> Counter[str]:
        """How many records the credit platform holds per 文号 (more than 1 = published twice)."""
        return Counter(r["CF_WSH"] for r in self.credit.records())

    def by_sjbs(self) -> dict[str, dict[str, Any]]:
        return {r["SJBS"]: r for r in self.credit.records()}

    def expected(self) -> dict[str, dict[str, Any]]:
        """District penalties that must be on the platform: decided/closed, general procedure."""
        return {
            p["id"]: p
            for p in self.district.records("penalties")
            if p["status"] in ("decided", "closed") and p["procedure"] == "general"
        }

    def revoked(self) -> set[str]:
        """General-procedure penalties revoked at the district (withdrawn on the platform)."""
        return {
            p["id"]
            for p in self.district.records("penalties")
            if p["status"] == "revoked" and p["procedure"] == "general"
        }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("ZS_DISTRICT_PASSWORD", district.DISTRICT_PASSWORD)
    monkeypatch.setenv("ZS_CREDIT_SECRET", credit.APP_SECRET)
    data = datagen.generate(seed=11, inspections=120, penalties=40, hand_typed_share=0)
    d_state, c_state = district.DistrictState(), credit.CreditState(seed=5)
    d_state.load(data)
    d_state.faults.update(rate_limits=False)
    with serving(district.create_app(d_state)) as d, serving(credit.create_app(c_state)) as c:
        w = World(tmp_path, data, d_state, c_state, d.url, c.url)
        w.configure()
        yield w


def test_penalties_are_published_once_with_correct_fields(world: World) -> None:
    """Every decided general penalty once, CF_* right; revoked ones withdrawn; a second run sends nothing."""
    revoked_early = next(iter(world.expected()))
    world.district.revoke_penalty(revoked_early)  # revoked before we ever sent it
    first = world.run(PENALTIES)
    assert first.status == "ok" and first.failed == 0

    expected = world.expected()
    held = world.by_sjbs()
    assert set(held) == {*expected, *world.revoked()} and revoked_early in world.revoked()
    assert all(n == 1 for n in world.published().values())
    assert all(held[pid]["status"] == "已撤销" for pid in world.revoked())
    for pid, p in expected.items():
        r = held[pid]
        assert r["status"] == "公示中" and r["CF_WSH"] == p["decision_no"].strip()
        assert Decimal(r.get("CF_NR_FK") or 0) * 10000 == Decimal(p["fine_yuan"])
        decided = date.fromisoformat(p["decided_on"])
        serious = {"08", "10", "11"} & set(p["penalty_types"]) or Decimal(p["fine_yuan"]) >= 500000
        assert r["CF_JDRQ"] == p["decided_on"]
        assert (
            r["CF_GSJZQ"]
            == r["CF_YXQ"]
            == decided.replace(year=decided.year + (3 if serious else 1)).isoformat()
        )
        assert r["CF_SJLYDM"] == credit.SOURCE_USCC
    summary = [p["id"] for p in world.district.records("penalties") if p["procedure"] == "summary"]
    assert summary and not set(summary) & set(held)

    second = world.run(PENALTIES)
    assert (second.created, second.updated, second.linked, second.withdrawn, second.failed) == (0, 0, 0, 0, 0)

    published = next(pid for pid in expected if pid != revoked_early)
    world.district.revoke_penalty(published)
    third = world.run(PENALTIES)
    assert third.withdrawn == 1 and world.by_sjbs()[published]["status"] == "已撤销"
    assert len(world.credit.records()) == len(held)


def test_uploaded_spreadsheet_decisions_are_linked_not_duplicated(world: World) -> None:
    """While the API is down: export the template, upload it by hand; then DUPLICATE → adopted, once each."""
    world.configure(attempts=2)
    world.credit.faults.update(down=True)
    down = world.run(PENALTIES)
    assert down.failed == len(world.expected()) + len(world.revoked()) and world.credit.records() == []

    out = world.tmp / "sgs.xlsx"
    app = world.app()
    try:
        rows, problems = export_sgs(app, out)
    finally:
        app.close()
    assert (rows, problems) == (len(world.expected()), [])
    sheet = openpyxl.load_workbook(out).worksheets[0]
    header, first = [c.value for c in sheet[1]], [c.value for c in sheet[2]]
    assert header == TEMPLATE_HEADERS.split(", ")
    assert all(isinstance(v, str) for v in first if v is not None)  # dates and amounts as text
    uploaded = world.credit.upload_xlsx(out)
    assert all(r["SJBS"].startswith("XLSX") for r in uploaded)

    world.credit.faults.update(down=False)
    back = world.run(PENALTIES)
    assert (back.linked, back.withdrawn, back.failed) == (len(world.expected()), len(world.revoked()), 0)
    assert all(n == 1 for n in world.published().values())
    assert set(world.by_sjbs()) == {*world.expected(), *world.revoked()}  # our SJBS adopted for each


def test_everything_arrives_exactly_once_under_faults(world: World) -> None:
    """Signature blips, 429s, dropped answers after storing and 503s: each decision still once."""
    world.configure(credit_batch=7, credit_rate=50, attempts=6, max_wait_s=1.0)
    world.credit.faults.update(reject_signature_once_rate=0.3, drop_after_store_rate=0.3, error_rate=0.2)
    revoked = next(iter(world.expected()))
    world.district.revoke_penalty(revoked)
    runs = [world.run(PENALTIES)]
    while runs[-1].failed and len(runs) < 6:
        runs.append(world.run(PENALTIES))
    assert runs[-1].failed == 0, [r.as_dict() for r in runs]
    stats = world.credit.stats  # every fault was met at least once
    assert all(
        stats[k]
        for k in ("signature_rejected_injected", "rate_limited", "dropped_after_store", "errors_injected")
    ), stats
    assert revoked in world.revoked() and set(world.by_sjbs()) == {*world.expected(), *world.revoked()}
    assert all(n == 1 for n in world.published().values())
    assert all(world.by_sjbs()[pid]["status"] == "已撤销" for pid in world.revoked())


def test_credit_events_reach_the_district_once_across_an_expired_cursor(world: World) -> None:
    """Events page by cursor; a run cut short, cursors expired, more events: each reaches the district once."""
    world.configure(events_page=2)
    ours = [e["uscc"] for e in world.data.enterprises[:5]]
    stranger = make_uscc("91120101", random.Random(3))  # a company of another district
    base = datetime(2026, 3, 1, 9, 0)
    kinds = list(credit.EVENT_TYPES)
    for i, uscc in enumerate(ours):
        world.credit.add_event(
            kinds[i % len(kinds)],
            uscc,
            cf_wsh=f"（滨海）应急罚〔2025〕{i + 1}号",
            occurred_at=base + timedelta(minutes=i // 2),
        )  # two events per second
    world.credit.add_event("BLACKLIST_ADD", stranger, occurred_at=base + timedelta(minutes=10))

    stop = threading.Event()
    stop.set()  # stop after the first page: the saved position holds a live cursor
    cut = world.run(EVENTS, stop)
    assert cut.status == "interrupted" and len(world.district.credit_events()) == 2

    world.credit.expire_cursors_now()
    world.credit.add_event("REPAIRED", ours[0], occurred_at=base + timedelta(minutes=20))
    rest = world.run(EVENTS)
    assert rest.status == "ok" and rest.failed == 0
    assert rest.by_target["district"].get("skipped") == 1  # the stranger: another district's

    received = [e["event_id"] for e in world.district.credit_events()]
    assert len(received) == len(set(received)) == len(ours) + 1
    assert {e["kind"] for e in world.district.credit_events()} <= {k.lower() for k in kinds}
    again = world.run(EVENTS)
    assert (again.pulled, again.created) == (0, 0)


def test_a_blacklist_event_without_a_decision_reaches_the_district_with_null(world: World) -> None:
    """cfWsh null on the credit platform: the district receives decision_no null, not an invented "无"."""
    uscc = world.data.enterprises[0]["uscc"]
    at = datetime(2026, 3, 2, 9, 0)
    world.credit.add_event("BLACKLIST_ADD", uscc, occurred_at=at)
    world.credit.add_event(
        "REPAIRED", uscc, cf_wsh="（滨海）应急罚〔2025〕7号", occurred_at=at + timedelta(minutes=1)
    )
    counts = world.run(EVENTS)
    assert counts.status == "ok" and counts.failed == 0 and counts.created == 2
    got = {e["kind"]: e["decision_no"] for e in world.district.credit_events()}
    assert got == {"blacklist_add": None, "repaired": "（滨海）应急罚〔2025〕7号"}


def test_deadline_report_names_an_overdue_decision(world: World) -> None:
    """A decision that could not be published (unmapped department) is overdue in the report."""
    stuck = next(iter(world.expected()))
    world.district.update("penalties", stuck, dept_code="BH-NEW-99")  # not in departments.csv
    counts = world.run(PENALTIES)
    assert counts.failed == 1
    app = world.app()
    try:
        report = deadlines(app.ledger, app.settings, date(2026, 11, 22))
        section = deadline_section(app.ledger, app.settings, date(2026, 11, 22))
    finally:
        app.close()
    assert report[0].source_id == stuck and report[0].state == "overdue"
    assert {d.state for d in report[1:]} == {"published"}
    doc_no = found(world.district.get("penalties", stuck))["decision_no"]
    assert "已逾期" in section and doc_no.strip() in section and stuck in section
    assert "2027" in section  # next year's holidays are not known yet: said loudly
