"""Console test helpers: the settings, a seeded failure log an operator would see, logged-in clients."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime

import httpx

from connectors.contract.errors import MappingMissing
from connectors.contract.states import Action
from sync.config import Settings
from sync.ledger import Ledger, RecordSnapshot
from sync.outcomes import Outcome, RunCounts

PASSWORD = "correct horse battery"
ID_NO = "11010519491231002X"  # a valid 居民身份证号 (check character X)
ID_MASKED = "1101**********002X"
XSS = "<script>alert(1)</script>"

SETTINGS = Settings.model_validate(
    {
        "systems": {
            "district": {
                "type": "district",
                "base_url": "http://127.0.0.1:1",
                "username": "sync",
                "password": {"env": "ZHIFA_TEST_UNUSED"},
            },
            "municipal": {
                "type": "municipal",
                "base_url": "http://127.0.0.1:2",
                "app_key": "k",
                "app_secret": {"env": "ZHIFA_TEST_UNUSED"},
                "region_code": "120101",
            },
            "credit": {
                "type": "credit",
                "base_url": "http://127.0.0.1:3",
                "app_key": "k",
                "app_secret": {"env": "ZHIFA_TEST_UNUSED"},
            },
            "hlwjg": {"type": "hlwjg", "url": {"env": "ZHIFA_TEST_UNUSED"}},
        },
        "pipelines": [
            {
                "name": "district-inspections",
                "source": "district",
                "kind": "inspection",
                "targets": ["municipal", "hlwjg"],
            },
            {
                "name": "district-penalties",
                "source": "district",
                "kind": "penalty",
                "targets": ["municipal", "credit", "hlwjg"],
                "schedule": {"cron": "*/15 * * * *"},
            },
        ],
        "console": {"session_minutes": 60},
    }
)


class FakeClock:
    """A clock the tests move by hand (session expiry, login lock-out)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def add_failure(
    ledger: Ledger,
    source_id: str,
    *,
    target: str = "municipal",
    kind: str = "penalty",
    action: str = "failed",
    error_kind: str = "rejected",
    stage: str = "push",
    message: str = "目标系统拒收",
    payload: str | None = None,
    response: str | None = None,
    doc_no: str | None = None,
    party_name: str | None = "滨海化工有限公司",
    party_code: str | None = "91120116MA05JD8N7C",
    record: dict[str, object] | None = None,
) -> int:
    """Log one failure (and its source record) through the ledger as a pipeline run would; its id."""
    pipeline = "district-penalties" if kind == "penalty" else "district-inspections"
    body = json.dumps(record or {"id": source_id, "kind": kind}, ensure_ascii=False)
    snapshot = RecordSnapshot(
        system="district",
        kind=kind,
        source_id=source_id,
        status="decided",
        record_hash=hashlib.sha256(body.encode()).hexdigest(),
        body=body,
        doc_no=doc_no,
        party_name=party_name,
        party_code=party_code,
        dept_code="D01",
        event_date=date(2026, 3, 2),
        source_updated_at=datetime(2026, 3, 2, 9),
    )
    outcome = Outcome(
        system="district",
        kind=kind,
        source_id=source_id,
        target=target,
        action=Action(action),
        stage=stage,
        error_kind=error_kind,
        message=message,
        payload=payload,
        response=response,
        doc_no=doc_no,
        party_name=party_name,
        party_code=party_code,
    )
    ledger.commit_page(
        pipeline=pipeline, run_id="r-test", snapshots=[snapshot], outcomes=[outcome], cursor=None
    )
    rows, _ = ledger.query_failures(search=source_id, target=target, limit=1)
    return int(rows[0]["id"])


@dataclass
class Seeded:
    """Ids of the failures ``seed`` wrote, by role in the tests."""

    rejected_id: int  # carries ID_NO in payload, response, message and record
    mapping_ids: list[int]
    validation_id: int
    transient_id: int
    xss_id: int


def seed(ledger: Ledger) -> Seeded:
    """A small but realistic failure log: one of each error kind, a 身份证号, a hostile party name."""
    rejected = add_failure(
        ledger,
        "P-1001",
        doc_no="（滨海）应急罚〔2026〕12号",
        party_name="张三",
        party_code=ID_NO,
        message=f"市系统拒收: 当事人证件号码 {ID_NO} 与登记信息不符 (4002)",
        payload=json.dumps(
            {
                "CFJDSWH": "（滨海）应急罚〔2026〕12号",
                "DSR_MC": "张三",
                "DSR_ZJHM": ID_NO,
                "FKJE": "30000.00",
            },
            ensure_ascii=False,
        ),
        response=json.dumps(
            {"code": "4002", "msg": f"当事人证件号码 {ID_NO} 与登记信息不符"}, ensure_ascii=False
        ),
        record={
            "id": "P-1001",
            "party": {"type": "2", "name": "张三", "id_type": "SFZ", "id_no": ID_NO},
            "fine": "30000.00",
        },
    )
    officer = str(MappingMissing("officers.csv", "E0123", "执法证号", "执法人员"))
    mapping = [
        add_failure(
            ledger,
            "I-2001",
            kind="inspection",
            target="hlwjg",
            action="parked",
            error_kind="mapping",
            stage="map",
            message=officer,
        ),
        add_failure(
            ledger,
            "I-2002",
            kind="inspection",
            target="hlwjg",
            action="parked",
            error_kind="mapping",
            stage="map",
            message=officer,
        ),
        add_failure(
            ledger,
            "I-2003",
            kind="inspection",
            target="municipal",
            action="parked",
            error_kind="mapping",
            stage="map",
            message=str(MappingMissing("inspection_types.csv", "07", "CHECK_TYPE", "检查类型")),
        ),
    ]
    validation = add_failure(
        ledger,
        "P-1002",
        target="credit",
        error_kind="validation",
        stage="validate",
        doc_no="（滨海）应急罚〔2026〕13号",
        message="记录 P-1002 数据不合规: party.uscc: 统一社会信用代码 91120116MA05JD8N7D 校验位错误 (应为 C)",
    )
    transient = add_failure(
        ledger,
        "P-1003",
        target="credit",
        error_kind="transient",
        message="信用平台超时 (30 秒)",
        doc_no="（滨海）应急罚〔2026〕14号",
    )
    xss = add_failure(
        ledger,
        "P-1004",
        target="municipal",
        error_kind="conflict",
        party_name=XSS,
        message=f"市系统已有文号相同的记录, 当事人不同: {XSS}",
        doc_no="（滨海）应急罚〔2026〕15号",
    )
    for pipeline, failed in (("district-inspections", 3), ("district-penalties", 4)):
        run_id = ledger.start_run(pipeline)
        ledger.finish_run(run_id, RunCounts(pulled=40, created=30, linked=3, failed=failed), "failed")
    return Seeded(rejected, mapping, validation, transient, xss)


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)


@dataclass
class Console:
    """A console app served on loopback, with its clock and ledger, and logged-in HTTP clients."""

    url: str
    clock: FakeClock
    ledger: Ledger
    seeded: Seeded
    clients: list[httpx.Client]

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)
        self.clients.append(client)
        return client

    def login(self, username: str, password: str = PASSWORD) -> httpx.Client:
        client = self.client()
        page = client.get("/login")
        r = client.post(
            "/login", data={"username": username, "password": password, "csrf": csrf_of(page.text)}
        )
        assert r.status_code == 303, r.text
        return client
