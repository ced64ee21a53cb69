"""The municipal system as the target of district inspections and penalties (flows 1, 2 and 5).

- ``save`` is an upsert by (``wbxtly``, ``wbxtbh``), so repeating it after a timeout or a dropped
  connection is safe — which is why these pushes may run in a push process;
- a record typed in by hand at the city makes ``save`` fail with ``E2005 数据重复: <id>``: link it with
  ``/link`` and save again. The city compares decision numbers exactly, so a hand-typed twin with other
  brackets or widths is found by us, from an index of the region's hand-typed penalties;
- district copies of city records (``origin`` ≠ district) are never sent back to the city.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog

from connectors.contract.compare import differing
from connectors.contract.errors import BadResponse, ConflictError
from connectors.contract.records import Inspection, Penalty, Record, RecordKind
from connectors.contract.roles import Capabilities, Context, Delivered, Held, Prior, Push
from connectors.contract.states import Action
from connectors.contract.validators import normalize_decision_no
from connectors.municipal.client import ID_FIELD, PREFIX, SOURCE_TAG, DuplicateRecord, MunicipalClient
from connectors.paging import Position

log = structlog.get_logger("zhifa.municipal")


class MunicipalTarget:
    def __init__(
        self, client: MunicipalClient, concurrency: int, *, push_process: bool, pace_per_s: float
    ) -> None:
        self.client = client
        self.name = client.system
        self.concurrency = concurrency
        self.capabilities = Capabilities(process_safe=push_process, pace_per_s=pace_per_s)
        # normalised decision number -> ajbh of penalties typed in by hand at the city for our region
        self._twins: dict[str, str] = {}
        self._twins_position: Position | None = None
        self._twins_lock = threading.Lock()

    def begin_run(self, kind: RecordKind) -> None:
        if kind == "penalty":
            self._refresh_twins()

    def _refresh_twins(self) -> None:
        """Catch up the index of the region's hand-typed penalties (``wbxtly`` null)."""
        with self._twins_lock:
            position = self._twins_position or Position(datetime(2000, 1, 1))
            for page in self.client.pull_list("penalty", position, datetime(2100, 1, 1), 100):
                for item in page.items:
                    key = normalize_decision_no(str(item.get("cfjdswh") or ""))
                    ajbh = str(item.get("ajbh") or "")
                    if item.get("wbxtly") is None and key and ajbh:
                        self._twins[key] = ajbh
                    elif self._twins.get(key) == ajbh:
                        del self._twins[key]  # linked since: no longer a candidate
                assert isinstance(page.cursor, Position)
                position = page.cursor
            self._twins_position = position

    def wants(self, record: Record) -> bool:
        return record.origin == "district"

    # -- reading back (reconciliation) -------------------------------------------------------------
    lists_all = True  # the region's list names every record of ours

    def held(self, kind: RecordKind, known: Mapping[str, Prior]) -> dict[str, Held]:
        """Every record of the region carrying our external id (``wbxtly`` QJJR), by ``wbxtbh``; a record
        the ledger knows that the region's list does not show (filed under another region code) is
        looked up by its external id."""
        out: dict[str, Held] = {}
        for page in self.client.pull_list(kind, Position(datetime(2000, 1, 1)), datetime(2100, 1, 1), 100):
            self._hold(kind, page.items, out)
        for source_id, prior in known.items():
            if prior.known and source_id not in out:
                found = self.client.request(
                    f"/openapi/{PREFIX[kind]}/query", {"wbxtly": SOURCE_TAG, "wbxtbh": source_id}
                )
                self._hold(kind, found if isinstance(found, list) else [], out)
        return out

    @staticmethod
    def _hold(kind: RecordKind, items: list[Any], out: dict[str, Held]) -> None:
        for item in items:
            if isinstance(item, dict) and item.get("wbxtly") == SOURCE_TAG and item.get("wbxtbh"):
                out[str(item["wbxtbh"])] = Held(
                    str(item["wbxtbh"]), str(item.get(ID_FIELD[kind]) or ""), item
                )

    def differs(self, payload: dict[str, Any], held: Held) -> list[str]:
        return differing(payload, held.fields)

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        if isinstance(record, Inspection):
            return self._inspection(record, ctx)
        return self._penalty(record, ctx)

    def _common(self, record: Record, ctx: Context) -> dict[str, str]:
        m = ctx.mappings
        dept = record.dept_code or "(空)"
        return {
            "zfry": ",".join(m.get("officers", uid, "cert_no", what="执法人员") for uid in record.officers),
            "zfjgdm": m.get("departments", dept, "municipal_org_code", what="部门"),
        }

    def _inspection(self, r: Inspection, ctx: Context) -> dict[str, Any]:
        m = ctx.mappings
        return {
            "wbxtly": SOURCE_TAG,
            "wbxtbh": r.id,
            "qymc": r.enterprise.name,
            "tyshxydm": r.enterprise.uscc,
            "qydz": r.enterprise.address,
            "xzqhdm": r.enterprise.region_code,
            "jcsxbm": m.get("items", r.item_code, "municipal_item_code", what="检查事项"),
            "jclx": m.get("inspection_types", r.inspection_type, "municipal_code", what="检查类型"),
            "jckssj": r.started_at.strftime("%Y%m%d%H%M%S"),
            "jcjssj": r.ended_at.strftime("%Y%m%d%H%M%S"),
            "jcjg": m.get("inspection_results", r.result, "municipal_jcjg", what="检查结果"),
            "sfla": m.get("inspection_results", r.result, "municipal_sfla", what="检查结果"),
            "yhsl": r.hazard_count,
            "zdyhsl": r.major_hazard_count,
            "wsbh": r.document_no,
            "jlzt": "ZF" if r.withdrawn else "ZC",
            **self._common(r, ctx),
        }

    def _penalty(self, r: Penalty, ctx: Context) -> dict[str, Any]:
        m = ctx.mappings
        p = r.party
        dsrlx = m.get("party_types", p.type, "municipal_code", what="当事人类型")
        payload: dict[str, Any] = {
            "wbxtly": SOURCE_TAG,
            "wbxtbh": r.id,
            "cfjdswh": r.decision_no,
            "dsrlx": dsrlx,
            "dsrmc": p.name,
            "jcsxbm": m.get("items", r.item_code, "municipal_item_code", what="处罚事项"),
            "wfxw": r.violation,
            "wfss": r.facts,
            "cfyj": r.basis,
            "cflb": ",".join(
                m.get("penalty_types", t, "municipal_code", what="处罚类别") for t in r.penalty_types
            ),
            "fkje": f"{r.fine_yuan:.2f}",
            "mswfsdje": f"{r.confiscation_yuan:.2f}",
            "cfjdrq": r.decided_on.isoformat(),
            "cxlx": "YB" if r.procedure == "general" else "JY",
            "ajzt": "YCX" if r.withdrawn else ("YJA" if r.status == "closed" else "YJD"),
            "xzqhdm": m.get("departments", r.dept_code or "(空)", "region_code", what="部门"),
            **self._common(r, ctx),
        }
        if p.type in ("1", "3"):
            payload["tyshxydm"] = p.uscc
        if p.type == "1":
            payload["fddbr"] = p.legal_rep
        if p.type == "2":
            payload["zjlx"] = m.get("id_types", p.id_type or "(空)", "municipal_code", what="证件类型")
            payload["zjhm"] = p.id_no
        if r.inspection_id and (jcjlbh := ctx.link("inspection", r.inspection_id, self.name)):
            payload["jcjlbh"] = jcjlbh
        return payload

    def deliver(self, push: Push) -> Delivered:
        record, payload, prior = push.record, push.payload, push.prior
        prefix, id_field = PREFIX[record.kind], ID_FIELD[record.kind]
        known = prior is not None and prior.known
        if record.withdrawn and known:
            assert prior is not None
            op = "void" if record.kind == "inspection" else "revoke"
            self.client.request(f"/openapi/{prefix}/{op}", {"wbxtly": SOURCE_TAG, "wbxtbh": record.id})
            return Delivered(Action.WITHDRAWN, prior.target_id, prior.linked)
        linked = prior.linked if prior else False
        if not known and isinstance(record, Penalty):
            twin = self._twins.get(record.natural_key)
            if twin:
                self._link(prefix, id_field, twin, record.id)
                linked = True
        try:
            result = self.client.request(f"/openapi/{prefix}/save", payload)
        except DuplicateRecord as dup:
            if not dup.existing_id:
                raise
            self._link(prefix, id_field, dup.existing_id, record.id)
            linked = True
            result = self.client.request(f"/openapi/{prefix}/save", payload)
        target_id = str(result.get(id_field)) if isinstance(result, dict) and result.get(id_field) else None
        if target_id is None:
            raise BadResponse(f"{self.name} save 未返回 {id_field}: {str(result)[:120]!r}", system=self.name)
        if record.withdrawn:
            action = Action.WITHDRAWN
        elif linked and not known:
            action = Action.LINKED
        else:
            action = Action.UPDATED if known else Action.CREATED
        return Delivered(action, target_id, linked)

    def _link(self, prefix: str, id_field: str, existing_id: str, wbxtbh: str) -> None:
        try:
            self.client.request(
                f"/openapi/{prefix}/link", {id_field: existing_id, "wbxtly": SOURCE_TAG, "wbxtbh": wbxtbh}
            )
        except DuplicateRecord as exc:
            raise ConflictError(
                f"市系统记录 {existing_id} 已关联其他外部编号, 无法关联本记录 {wbxtbh}: 请在市系统核对是否为同一记录"
                f" ({exc})",
                system=self.name,
                code="E2005",
                response=exc.response,
            ) from None
        with self._twins_lock:
            for key, value in list(self._twins.items()):
                if value == existing_id:
                    del self._twins[key]
        log.info("linked_hand_typed", system=self.name, target_id=existing_id, record_id=wbxtbh)
