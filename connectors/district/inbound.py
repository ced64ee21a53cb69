"""Flow 3 into the district: inspections and penalties typed in at the city, as district records.

A city record arrives in the canonical model with the city's own codes (``origin`` "municipal": the
source has no mapping tables); here they are mapped back to district codes through the mapping
tables, and the record is written with ``POST /api/v1/external/*`` (an upsert by origin + source id).

A city record that matches a district record by natural key (inspection: USCC + date + item;
penalty: normalised decision number) is *linked* to it and never copied: the district record is the
source of truth. Candidates come from the ledger's snapshots of the records pulled from the district.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from connectors.contract.clock import TIME_FORMAT as TIME
from connectors.contract.errors import (
    BadResponse,
    ConflictError,
    FieldError,
    MappingMissing,
    RecordInvalid,
    ZhifaError,
)
from connectors.contract.mapping import Mappings
from connectors.contract.records import Inspection, Penalty, Record, RecordKind, inspection_key
from connectors.contract.roles import Capabilities, Context, Delivered, Push
from connectors.contract.states import Action
from connectors.contract.validators import normalize_decision_no
from connectors.district.client import DistrictClient

log = structlog.get_logger("zhifa.district")
PATHS = {"inspection": "/api/v1/external/inspections", "penalty": "/api/v1/external/penalties"}


class ReverseMappingMissing(MappingMissing):
    """A code of another system that no row of a mapping table maps to."""

    def __init__(self, maps: Mappings, table: str, column: str, value: str, what: str) -> None:
        self.table, self.key, self.column = maps.file_of(table), value, column
        file = maps.file_of(table)
        ZhifaError.__init__(
            self, f"映射表 {file} 中没有 {column} 为 {value} 的行 ({what}): 请在 mappings/{file} 中补充该行"
        )


def _back(maps: Mappings, table: str, column: str, value: str, what: str) -> str:
    key = maps.reverse(table, column, value)
    if key is None:
        raise ReverseMappingMissing(maps, table, column, value, what)
    return key


def natural_key(record: Record, maps: Mappings) -> str:
    """The district-side natural key of a city record (its item mapped back to the district's)."""
    if isinstance(record, Penalty):
        return normalize_decision_no(record.decision_no)
    item = _back(maps, "items", "municipal_item_code", record.item_code, "市系统检查事项")
    return inspection_key(record.enterprise.uscc, record.started_at.date(), item)


def twin(system: str, record: Record, ctx: Context) -> str | None:
    """The id of the district's own record with the same natural key, if the ledger has seen one."""
    if ctx.same_key is None:
        return None
    for seen in ctx.same_key(system, record.kind, natural_key(record, ctx.mappings)):
        try:
            origin = json.loads(seen.body).get("origin", "district")
        except (ValueError, AttributeError):
            continue
        if origin == "district":  # not a copy of a city record written by us
            return seen.source_id
    return None


def translate(system: str, record: Record, ctx: Context) -> dict[str, Any]:
    if record.origin != "municipal":
        raise RecordInvalid(
            record.id, [FieldError("origin", f"区平台只接收市系统记录, 不接收 {record.origin}")]
        )
    if (district_id := twin(system, record, ctx)) is not None:
        return {"link": district_id}  # nothing else to map: the district record stays as it is
    m = ctx.mappings
    body = _inspection(record, m) if isinstance(record, Inspection) else _penalty(system, record, ctx)
    dept = m.reverse("departments", "municipal_org_code", record.dept_code) if record.dept_code else None
    officers: list[Any] = []
    for o in record.external_officers:
        uid = m.reverse("officers", "cert_no", o.cert_no)
        if uid is None and not o.name:
            raise RecordInvalid(
                record.id,
                [
                    FieldError(
                        "zfry",
                        f"执法证号 {o.cert_no} 不是区平台用户, 且市系统执法人员字典中没有其姓名: 请在市系统核对",
                    )
                ],
            )
        officers.append(uid if uid is not None else {"cert_no": o.cert_no, "name": o.name})
    officers += record.officers
    body.update(
        origin=record.origin, source_id=record.id, status=record.status, officers=officers, dept_code=dept
    )  # dept_code may be null for city teams
    return {"path": PATHS[record.kind], "body": body}


def _inspection(r: Inspection, m: Mappings) -> dict[str, Any]:
    e = r.enterprise
    return {
        "enterprise": {"name": e.name, "uscc": e.uscc, "address": e.address, "region_code": e.region_code},
        "item_code": _back(m, "items", "municipal_item_code", r.item_code, "市系统检查事项"),
        "inspection_type": _back(
            m, "inspection_types", "municipal_code", r.inspection_type, "市系统检查类型"
        ),
        "plan_id": r.plan_id,
        "started_at": r.started_at.strftime(TIME),
        "ended_at": r.ended_at.strftime(TIME),
        "result": _result(m, r.result, r.source_codes.get("sfla")),
        "hazard_count": r.hazard_count,
        "major_hazard_count": r.major_hazard_count,
        "document_no": r.document_no,
    }


def _result(m: Mappings, jcjg: str, sfla: str | None) -> str:
    """检查结果 from the city's two fields (jcjg 发现问题, sfla 立案): a row matching both."""
    table = m.tables.get("inspection_results")
    for key, row in table.rows.items() if table else ():
        if row.values.get("municipal_jcjg") == jcjg and (
            sfla is None or row.values.get("municipal_sfla") == sfla
        ):
            return key[0]
    raise ReverseMappingMissing(
        m, "inspection_results", "municipal_jcjg/municipal_sfla", f"{jcjg}/{sfla or ''}", "市系统检查结果"
    )


def _penalty(system: str, r: Penalty, ctx: Context) -> dict[str, Any]:
    m = ctx.mappings
    p = r.party
    return {
        "decision_no": r.decision_no,
        "party": {
            "type": p.type,
            "name": p.name,
            "uscc": p.uscc,
            "legal_rep": p.legal_rep,
            "id_type": p.id_type,
            "id_no": p.id_no,
        },
        # the city inspection's district id, once flow 3 has copied or linked it
        "inspection_id": ctx.link("inspection", r.inspection_id, system) if r.inspection_id else None,
        "item_code": _back(m, "items", "municipal_item_code", r.item_code, "市系统处罚事项"),
        "violation": r.violation,
        "facts": r.facts,
        "basis": r.basis,
        "penalty_types": [
            _back(m, "penalty_types", "municipal_code", t, "市系统处罚类别") for t in r.penalty_types
        ],
        "fine_yuan": f"{r.fine_yuan:.2f}",
        "confiscation_yuan": f"{r.confiscation_yuan:.2f}",
        "license_action": None,  # the city keeps no licence details
        "procedure": r.procedure,
        "decided_on": r.decided_on.isoformat(),
        "double_penalty": r.double_penalty,
    }


class InboundTarget:
    """The district as the target of city records (flow 3): copied, or linked to the district's twin."""

    capabilities = Capabilities()

    def __init__(self, client: DistrictClient, concurrency: int) -> None:
        self.client = client
        self.name = client.system
        self.concurrency = concurrency

    def begin_run(self, kind: RecordKind) -> None:
        return None

    def wants(self, record: Record) -> bool:
        """Records of other systems only: the district's own never go back to it."""
        return record.origin != "district"

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        return translate(self.name, record, ctx)

    def deliver(self, push: Push) -> Delivered:
        record, payload, prior = push.record, push.payload, push.prior
        copied = prior is not None and prior.known and not prior.linked
        if prior is not None and prior.linked and prior.target_id:
            return Delivered(
                Action.LINKED, prior.target_id, linked=True
            )  # a linked twin is never overwritten
        if "link" in payload:
            if copied:
                assert prior is not None
                raise ConflictError(
                    f"市系统记录 {record.id} 已复制到区平台 ({prior.target_id}), 区平台又录入了同一记录"
                    f" {payload['link']}: 请在区平台核对并删除重复记录后处理",
                    system=self.name,
                )
            log.info("linked_district_twin", system=self.name, record_id=record.id, target_id=payload["link"])
            return Delivered(Action.LINKED, payload["link"], linked=True)
        if record.withdrawn and not copied:
            return Delivered(Action.SKIPPED)  # void at the city before it ever reached the district
        data = self.client.request("POST", payload["path"], json=payload["body"])
        if not isinstance(data, dict) or not data.get("id"):
            raise BadResponse(f"{self.name} 写入外部记录未返回 id: {str(data)[:120]!r}", system=self.name)
        action = (
            Action.WITHDRAWN
            if record.withdrawn
            else (Action.CREATED if data.get("created") else Action.UPDATED)
        )
        return Delivered(action, str(data["id"]))
