"""Raw records as the systems send them, valid and mapping cleanly through the shipped tables."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from connectors.contract.events import CreditEvent
from connectors.contract.records import Penalty, Record, parse_record

T0 = datetime(2025, 3, 1, 9, 0, 0)
USCC = "91120116MA05T8XK3J"  # valid (GB 32100)
OTHER_USCC = "91120101MA05T8XK3T"  # valid, and no district platform knows it
TIME = "%Y-%m-%d %H:%M:%S"


def enterprise(**changes: Any) -> dict[str, Any]:
    return {"name": "滨海化工有限公司", "uscc": USCC, "region_code": "120116", **changes}


def inspection(record_id: str, *, minute: int = 0, **changes: Any) -> dict[str, Any]:
    """A district inspection (``GET /api/v1/inspections`` item)."""
    at = (T0 + timedelta(minutes=minute)).strftime(TIME)
    raw: dict[str, Any] = {
        "id": record_id,
        "status": "submitted",
        "officers": ["u1001", "u1002"],
        "dept_code": "BH-ZFDD-01",
        "item_code": "QZJC-0001",
        "inspection_type": "01",
        "result": "1",
        "enterprise": enterprise(),
        "started_at": at,
        "ended_at": at,
        "updated_at": at,
    }
    raw.update(changes)
    return raw


def penalty(record_id: str, decision_no: str, **changes: Any) -> dict[str, Any]:
    """A decided district penalty (general procedure, a fine): what the credit platform publishes."""
    raw: dict[str, Any] = {
        "id": record_id,
        "status": "decided",
        "decision_no": decision_no,
        "party": {"type": "1", "name": "滨海化工有限公司", "uscc": USCC, "legal_rep": "张伟"},
        "item_code": "QZCF-0001",
        "violation": "未按规定对从业人员进行安全生产教育和培训",
        "facts": "经查，该公司未按规定对从业人员进行安全生产教育和培训。",
        "basis": "《中华人民共和国安全生产法》第九十七条",
        "penalty_types": ["03"],
        "fine_yuan": "30000.00",
        "procedure": "general",
        "decided_on": T0.date().isoformat(),
        "officers": ["u1001", "u1002"],
        "dept_code": "BH-ZFDD-01",
        "updated_at": T0.strftime(TIME),
    }
    raw.update(changes)
    return raw


def city_inspection(record_id: str, **changes: Any) -> Record:
    """An inspection typed in at the city, as the municipal source parses it: the city's codes, officers
    known by 执法证号 (``origin`` municipal)."""
    at = T0.strftime(TIME)
    raw: dict[str, Any] = {
        "id": record_id,
        "origin": "municipal",
        "status": "submitted",
        "officers": [],
        "external_officers": [
            {"cert_no": "12011619001", "name": "黎文"},
            {"cert_no": "12011619002", "name": "冯洋艳"},
        ],
        "dept_code": "YJJ-BH-01",
        "item_code": "120000-AQJC-0001",
        "inspection_type": "RCJC",
        "result": "0",
        "source_codes": {"sfla": "N"},
        "enterprise": enterprise(),
        "started_at": at,
        "ended_at": at,
        "updated_at": at,
    }
    raw.update(changes)
    return parse_record("inspection", raw)


def credit_event(event_id: str, **changes: Any) -> CreditEvent:
    """A credit event of the 双公示 platform's feed (信用修复 of a district company)."""
    raw = {
        "eventId": event_id,
        "type": "REPAIRED",
        "uscc": USCC,
        "cfWsh": "（滨海）应急罚〔2025〕1号",
        "occurredAt": "2025-03-02T10:00:00+08:00",
        **changes,
    }
    return CreditEvent.model_validate(raw)


# A decided penalty as the district API sends it (untrimmed decision number, a company party).
PENALTY: dict[str, Any] = {
    "id": "CF2021000045",
    "origin": "district",
    "status": "decided",
    "decision_no": " （滨海）应急罚〔2021〕45号 ",
    "party": {
        "type": "1",
        "name": "天津滨港化工有限公司",
        "uscc": "91120116MA05K1XY35",
        "legal_rep": "张建国",
        "id_type": None,
        "id_no": None,
    },
    "inspection_id": "JC2021000123",
    "item_code": "QZCF-0031",
    "violation": "未按规定培训",
    "facts": "经查…",
    "basis": "《安全生产法》第九十七条",
    "penalty_types": ["01", "03"],
    "fine_yuan": "30000.00",
    "confiscation_yuan": "0.00",
    "license_action": None,
    "procedure": "general",
    "decided_on": "2021-06-20",
    "officers": ["u1024", "u2048"],
    "dept_code": "BH-ZFDD-01",
    "double_penalty": False,
    "updated_at": "2021-06-20 16:40:03",
}


def changed_penalty(**changes: Any) -> dict[str, Any]:
    """A deep copy of ``PENALTY`` with ``changes``; ``"party.name"`` reaches into the party."""
    raw = copy.deepcopy(PENALTY)
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            raw[outer][inner] = value
        else:
            raw[key] = value
    return raw


def parse_penalty(raw: Any) -> Penalty:
    """``parse_record("penalty", raw)``, typed as the penalty it is."""
    record = parse_record("penalty", raw)
    assert isinstance(record, Penalty)
    return record
