"""The small ledger month (2026-10) behind the monthly-report tests, its figures counted by hand.


The data set (month 2026-10; departments D1 执法大队, D2 塘沽街道; enterprises A–E):

inspections (event date = start date)                          entry ≈ min(first_seen, updated_at)
  I1  D1  A 10-12 09:00–11:00  双随机(02)  hazards 3, major 1   updated 11:30 (seen 11:35) → 0.5 h
  I2  D1  A 10-12 14:00–15:00  日常(01)    hazards 0           updated 10-14 15:00 → 2 days
  I3  D1  B 10-13 09:00–11:00  双随机(02)  hazards 2           seen 12:00, changed 10-20 → 1 h
  I4  D2  A 10-12 09:00–10:00  日常(01)    hazards 1           updated 10-17 10:00 → 5 days (late)
  I5  D2  C 10-20 14:00–16:00  专项(03)    hazards 0           updated 10-21 16:00 → 1 day
  I6  D2  C 10-21              void                            not counted; 作废 1 (D2)
  I7  —   D 10-31 08:00–10:00  复查(05)    hazards 4, major 2  updated 11-02 10:00 → 2 days
  I8  D1  E 11-01 (next month), I9 D1 E 09-30 (previous month): not in October
  I10 D1  origin municipal (a city team's record): not counted, "city" 1
  I11 invalid (bad USCC), body says 10-15: not counted, "invalid" 1

  district: inspections 6; 家次 4 = (A,10-12) [I1 I2 I4], (B,10-13), (C,10-20), (D,10-31);
            hazards 10, major 3; types 01:2 02:2 03:1 05:1 → 双随机 2/6; void 1
  D1: 3 inspections, 家次 2, hazards 5, major 1, 双随机 2/3.  D2: 2, 家次 2, hazards 1, void 1.
  no dept: 1, 家次 1, hazards 4, major 2.  Σ departments' 家次 5 ≠ district 4 (A on 10-12 twice).
  entry days: [0.5/24, 2, 1/24, 5, 1, 2] → mean 10.0625/6 = 1.677083, median 1.5, over 3 days: 1,
            within 1 day: 3/6

penalties (event date = decision date)                              credit (7 working days)
  P1  D1 10-12 general 30000  一案双罚 with P2 (inspection I1)      due 10-21, published 10-13 (linked)
  P2  D1 10-12 general 10000  一案双罚 (a person)                   due 10-21, published 10-21 23:00 ✓
  P3  D2 10-13 summary   500                                        not sent (summary)
  P4  D2 10-20 general 1234.56                                      due 10-29, published 10-30: 1 day late
  P5  D1 10-15 revoked 50000                                        撤销 1, not a penalty
  P6  D1 09-30 (previous month)
  P7  D2 10-28 general 20000                                        due 11-06: pending on 11-03
  P8  D1 10-09 general  5000                                        due 10-19, unpublished: 15 days overdue

  district: decisions 6 (P1 P2 P3 P4 P7 P8), cases 5 (P1+P2 one), 一案双罚 1 case (2 decisions) → 1/5;
            general 5, summary 1; fines 66734.56 元 = 6.673456 万元; revocations 1
  D1: decisions 3, cases 2, fines 45000 → 4.5 万元, revocations 1.  D2: 3, 3, summary 1, 2.173456 万元.
  credit: required 5, on time 2, late 1, overdue 1, pending 1 → on-time share 2/4

deliveries: inspections → municipal: I1 11:35 (+5 min), I2 +5 min, I3 +0, I5 +24 h, I7 +2 min;
  I4 has an open municipal failure (undelivered 1): hours [1/12, 1/12, 0, 24, 1/30] → mean 4.84, max 24
  penalties → credit: P1 18 h, P2 223 h, P4 233 h → mean 158; P8 has an open credit failure.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, insert

from simulators.universe import make_uscc
from sync.ledger.schema import deliveries, failures, records, runs
from sync.report.figures import Month

_rng = random.Random(3)
USCC = {k: make_uscc("91120116", _rng) for k in "ABCDE"}
ID_NO = "11010519491231002X"
DEPTS = {"D1": "滨海新区应急管理局执法大队", "D2": "滨海新区塘沽街道综合执法队"}
OCT = Month(2026, 10)
AS_OF = datetime(2026, 11, 3, 9, 0)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}")


def inspection(sid: str, dept: str | None, ent: str, start: str, end: str, itype: str, hazards: int = 0,
               major: int = 0, status: str = "submitted", updated: str = "", **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "id": sid, "origin": "district", "status": status,
        "enterprise": {"name": f"企业{ent}", "uscc": USCC[ent], "address": None, "region_code": "120116"},
        "item_code": "QZJC-0005", "inspection_type": itype, "plan_id": "SSJ-1" if itype == "02" else None,
        "started_at": f"2026-{start}:00", "ended_at": f"2026-{end}:00", "officers": ["u1", "u2"],
        "result": "2" if hazards else "1", "hazard_count": hazards, "major_hazard_count": major,
        "document_no": None, "dept_code": dept, "updated_at": f"2026-{updated or end}:00", **extra,
    }  # fmt: skip


def penalty(sid: str, dept: str, decided: str, fine: str, *, procedure: str = "general", status: str = "decided",
            double: bool = False, person: bool = False, inspection_id: str | None = None,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    party = (
        {"type": "2", "name": "张三", "uscc": None, "legal_rep": None, "id_type": "SFZ", "id_no": ID_NO}
        if person
        else {
            "type": "1",
            "name": "企业A",
            "uscc": USCC["A"],
            "legal_rep": "李四",
            "id_type": None,
            "id_no": None,
        }
    )
    return {
        "id": sid, "origin": "district", "status": status, "decision_no": f"（滨海）应急罚〔2026〕{sid}号",
        "party": party, "inspection_id": inspection_id, "item_code": "QZCF-0031", "violation": "未培训",
        "facts": "经查", "basis": "安全生产法", "penalty_types": ["03"], "fine_yuan": fine,
        "confiscation_yuan": "0.00", "license_action": None, "procedure": procedure,
        "decided_on": f"2026-{decided}", "officers": ["u1", "u2"], "dept_code": dept, "double_penalty": double,
        "updated_at": f"2026-{decided} 16:00:00", **extra,
    }  # fmt: skip


def add_record(engine: Engine, kind: str, body: dict[str, Any], first_seen: str, *, status: str | None = None,
               event_date: date | None = None) -> None:  # fmt: skip
    """One ``records`` row as the pipeline writes it (event date: start date or decision date)."""
    if event_date is None and status != "invalid":
        event_date = date.fromisoformat(
            (body["started_at"] if kind == "inspection" else body["decided_on"])[:10]
        )
    with engine.begin() as conn:
        conn.execute(insert(records).values(
            system="district", kind=kind, source_id=body["id"], status=status or body["status"],
            dept_code=None if status == "invalid" else body.get("dept_code"), event_date=event_date,
            source_updated_at=None if status == "invalid" else datetime.fromisoformat(body["updated_at"]),
            record_hash="h", body=json.dumps(body, ensure_ascii=False), first_seen=ts(first_seen),
            last_seen=ts(first_seen),
        ))  # fmt: skip


def add_delivery(engine: Engine, kind: str, sid: str, target: str, at: str, *, linked: bool = False,
                 state: str = "delivered") -> None:  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(deliveries).values(
            system="district", kind=kind, source_id=sid, target=target, target_id=f"T-{sid}", state=state,
            last_action="linked" if linked else "created", linked=linked, first_delivered_at=ts(at),
            delivered_at=ts(at), updated_at=ts(at),
        ))  # fmt: skip


def add_failure(engine: Engine, kind: str, sid: str, target: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(failures).values(
            pipeline=f"district-{kind}s", system="district", kind=kind, source_id=sid, target=target, stage="push",
            error_kind="rejected", message="拒收", attempts=1, first_seen=AS_OF, last_seen=AS_OF, state="open",
        ))  # fmt: skip


def build(engine: Engine, *, accident: dict[str, bool] | None = None) -> None:
    """The hand-counted data set of the module docstring."""
    acc = accident or {}
    for body, seen in [
        (inspection("I1", "D1", "A", "10-12 09:00", "10-12 11:00", "02", 3, 1, updated="10-12 11:30"), "10-12 11:35"),
        (inspection("I2", "D1", "A", "10-12 14:00", "10-12 15:00", "01", updated="10-14 15:00"), "10-14 15:05"),
        (inspection("I3", "D1", "B", "10-13 09:00", "10-13 11:00", "02", 2, updated="10-20 09:00"), "10-13 12:00"),
        (inspection("I4", "D2", "A", "10-12 09:00", "10-12 10:00", "01", 1, updated="10-17 10:00"), "10-17 10:10"),
        (inspection("I5", "D2", "C", "10-20 14:00", "10-20 16:00", "03", updated="10-21 16:00"), "10-21 16:10"),
        (inspection("I6", "D2", "C", "10-21 09:00", "10-21 10:00", "01", 2, status="void"), "10-21 10:05"),
        (inspection("I7", None, "D", "10-31 08:00", "10-31 10:00", "05", 4, 2, updated="11-02 10:00"), "11-02 10:02"),
        (inspection("I8", "D1", "E", "11-01 09:00", "11-01 10:00", "01", 1), "11-01 10:05"),
        (inspection("I9", "D1", "E", "09-30 09:00", "09-30 10:00", "01", 1), "09-30 10:05"),
        (inspection("I10", "D1", "E", "10-14 09:00", "10-14 10:00", "01", 1, origin="municipal"), "10-14 10:05"),
    ]:  # fmt: skip
        add_record(engine, "inspection", body, seen)
    bad = inspection("I11", "D1", "E", "10-15 09:00", "10-15 10:00", "01")
    bad["enterprise"]["uscc"] = USCC["E"][:17] + ("0" if USCC["E"][17] != "0" else "1")
    add_record(engine, "inspection", bad, "10-15 10:05", status="invalid")

    for body in [
        penalty("P1", "D1", "10-12", "30000.00", double=True, inspection_id="I1"),
        penalty(
            "P2", "D1", "10-12", "10000.00", double=True, person=True, inspection_id="I1", status="closed"
        ),
        penalty("P3", "D2", "10-13", "500.00", procedure="summary", status="closed"),
        penalty("P4", "D2", "10-20", "1234.56"),
        penalty("P5", "D1", "10-15", "50000.00", status="revoked"),
        penalty("P6", "D1", "09-30", "8000.00"),
        penalty("P7", "D2", "10-28", "20000.00"),
        penalty("P8", "D1", "10-09", "5000.00"),
    ]:
        if body["id"] in acc:
            body["after_accident"] = acc[body["id"]]
        add_record(engine, "penalty", body, f"{body['decided_on'][5:]} 16:05")

    for sid, at in [("I1", "10-12 11:35"), ("I2", "10-14 15:05"), ("I3", "10-13 12:00"), ("I5", "10-22 16:00"),
                    ("I7", "11-02 10:02"), ("I8", "11-01 10:05"), ("I10", "10-14 10:05")]:  # fmt: skip
        add_delivery(engine, "inspection", sid, "municipal", at)
    add_delivery(engine, "inspection", "I6", "municipal", "10-21 10:05", state="withdrawn")
    add_failure(engine, "inspection", "I4", "municipal")
    add_delivery(engine, "penalty", "P1", "credit", "10-13 10:00", linked=True)
    add_delivery(engine, "penalty", "P2", "credit", "10-21 23:00")
    add_delivery(engine, "penalty", "P4", "credit", "10-30 09:00")
    add_delivery(engine, "penalty", "P6", "credit", "10-09 09:00")
    add_failure(engine, "penalty", "P8", "credit")
    with engine.begin() as conn:
        conn.execute(insert(runs).values(run_id="r1", pipeline="district-inspections", started_at=ts("09-01 08:00"),
                                         status="ok"))  # fmt: skip
