"""市应急管理执法系统 (municipal enforcement system): target of district inspections and penalties.

Quirks handled here (see shared/platforms/municipal.md):
- every call is POST with ``appKey``/``timestamp``/``sign`` headers, signed afresh on every attempt
  (a retried call with an old timestamp could be refused as expired);
- HTTP 200 even for auth errors and rate limits: the ``success``/``errCode`` envelope decides;
  ``E4290`` (no Retry-After) and ``E5000`` are retried with back-off; the gateway's proxy answers
  502/503/504 with an HTML page;
- ``save`` is an upsert by (``wbxtly``, ``wbxtbh``), so repeating it after a timeout or a dropped
  connection is safe;
- a record typed in by hand at the city makes ``save`` fail with ``E2005 数据重复: <id>``: link it
  with ``/link`` and save again. The city compares decision numbers exactly, so a hand-typed twin
  with other brackets or widths is found by us, from an index of the region's hand-typed penalties.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import structlog

from connectors.contract.config import Secrets, SystemConfig
from connectors.contract.errors import (
    BadResponse,
    CatalogueMismatch,
    ConflictError,
    FatalConnectorError,
    RetriableError,
    TargetRejected,
)
from connectors.contract.records import Inspection, Penalty, Record, RecordKind
from connectors.contract.roles import Context, Delivered, Page, PriorDelivery
from connectors.contract.validators import normalize_decision_no
from connectors.http import HttpSession, RateLimiter, RetryPolicy, json_body
from connectors.paging import TIME_FORMAT, Position, iter_window

log = structlog.get_logger("zhifa.municipal")
SOURCE_TAG = "QJJR"
_RETRIABLE = {"E4290": "调用频率超限", "E5000": "系统繁忙", "E1002": "签名已过期"}
_FATAL = {"E1000", "E1001"}
_CATALOGUE = {  # errCode -> (mapping table, column, what the city calls it)
    "E2003": ("items.csv", "municipal_item_code", "检查/处罚事项目录"),
    "E2004": ("officers.csv", "cert_no", "执法人员库 (执法证号)"),
}
_DUP_RE = re.compile(r"数据重复[:：]\s*(\S+)")
_PREFIX = {"inspection": "jcjl", "penalty": "xzcf"}
_ID_FIELD = {"inspection": "jcjlbh", "penalty": "ajbh"}


class DuplicateRecord(ConflictError):
    """``E2005 数据重复``: the city already holds this record (``existing_id``)."""

    def __init__(self, message: str, existing_id: str, **kw: Any) -> None:
        self.existing_id = existing_id
        super().__init__(message, **kw)


class MunicipalConnector:
    # Its pushes may run in a push process (sync.push_process): ``save`` is an upsert by our own id,
    # and nothing the pipeline reads back lives in this object.
    process_safe = True

    def __init__(
        self, name: str, cfg: SystemConfig, secrets: Secrets, *, transport: httpx.BaseTransport | None = None
    ):
        self.name = name
        self.cfg = cfg
        self.concurrency = cfg.concurrency
        self.region_code = cfg.region_code or ""
        self._app_key = cfg.app_key or ""
        self._secret = secrets.get(name, "app_secret")
        self._http = HttpSession(
            name,
            cfg.base_url or "",
            timeout_s=cfg.timeout_s,
            max_connections=cfg.concurrency + 2,
            transport=transport,
        )
        self._limiter = RateLimiter(cfg.rate_limit_per_s)
        self._retry = RetryPolicy(cfg.retry, name)
        # normalised decision number -> ajbh of penalties typed in by hand at the city for our region
        self._twins: dict[str, str] = {}
        self._twins_position: Position | None = None
        self._twins_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        ts = str(int(time.time() * 1000))
        sign = hashlib.md5((self._app_key + self._secret + ts).encode()).hexdigest().upper()
        return {"appKey": self._app_key, "timestamp": ts, "sign": sign}

    def _once(self, path: str, body: dict[str, Any]) -> Any:
        self._limiter.acquire()
        resp = self._http.request("POST", path, json=body, headers=self._headers())
        if resp.status_code != 200:
            snippet = " ".join(resp.text.split())[:120]
            raise RetriableError(
                f"{self.name} 网关返回 HTTP {resp.status_code} {snippet}".strip(),
                system=self.name,
                code=str(resp.status_code),
                response=snippet,
            )
        env = json_body(resp, self.name)
        if not isinstance(env, dict) or "success" not in env:
            raise BadResponse(
                f"{self.name} 返回格式不符合约定 (缺少 success): {str(env)[:120]!r}", system=self.name
            )
        if env["success"] is True:
            return env.get("result")
        code, msg = str(env.get("errCode") or ""), str(env.get("errMsg") or "")
        if code == "E4290":  # no Retry-After: pause every thread a moment (the limit is per second)
            self._limiter.cool_down(1.0)
        if code in _RETRIABLE:
            raise RetriableError(
                f"{self.name} {code} {msg or _RETRIABLE[code]}", system=self.name, code=code, response=msg
            )
        if code in _FATAL:
            raise FatalConnectorError(
                f"{self.name} 鉴权失败: {code} {msg} (请检查 app_key / app_secret 配置)",
                system=self.name,
                code=code,
                response=msg,
            )
        if code == "E2005":
            m = _DUP_RE.search(msg)
            raise DuplicateRecord(
                f"{self.name} {code} {msg}",
                m.group(1) if m else "",
                system=self.name,
                code=code,
                response=msg,
            )
        if code in _CATALOGUE:
            # The city's catalogue lacks a code we mapped to: a mapping problem, parked until the
            # tables change (then replayed), not a rejection that waits for the source to change.
            table, column, what = _CATALOGUE[code]
            value = msg.split(":", 1)[-1].split("：", 1)[-1].strip()
            raise CatalogueMismatch(
                table,
                value,
                column,
                (
                    f"市系统{what}中没有 {value} ({code} {msg}): 请核对 mappings/{table} 的 {column} 列, "
                    f"或请市局在系统中登记后重试"
                ),
            )
        raise TargetRejected(f"市系统拒绝: {code} {msg}", system=self.name, code=code, response=msg)

    def call(self, path: str, body: dict[str, Any]) -> Any:
        return self._retry(self._once, path, body)

    # -- target ----------------------------------------------------------------------------------
    def begin_run(self, kind: RecordKind) -> None:
        if kind == "penalty":
            self._refresh_twins()

    def _refresh_twins(self) -> None:
        """Catch up the index of the region's hand-typed penalties (``wbxtly`` null)."""
        with self._twins_lock:
            position = self._twins_position or Position(datetime(2000, 1, 1))
            for page in self.pull_list("penalty", position, datetime(2100, 1, 1), 100):
                for item in page.items:
                    key, ajbh = (
                        normalize_decision_no(str(item.get("cfjdswh") or "")),
                        str(item.get("ajbh") or ""),
                    )
                    if item.get("wbxtly") is None and key and ajbh:
                        self._twins[key] = ajbh
                    elif self._twins.get(key) == ajbh:
                        del self._twins[key]  # linked since: no longer a candidate
                position = Position.from_json(page.position)
            self._twins_position = position

    def pull_list(
        self, kind: RecordKind, position: Position, until: datetime, page_size: int
    ) -> Iterator[Page]:
        path = f"/openapi/{_PREFIX[kind]}/list"
        id_field = _ID_FIELD[kind]

        def fetch(start: datetime, end: datetime, page: int, size: int) -> tuple[int, list[dict[str, Any]]]:
            result = self.call(
                path,
                {
                    "pageNo": page,
                    "pageSize": min(size, 100),
                    "gxsjStart": start.strftime(TIME_FORMAT),
                    "gxsjEnd": end.strftime(TIME_FORMAT),
                    "xzqhdm": self.region_code,
                },
            )
            if not isinstance(result, dict) or not isinstance(result.get("list"), list):
                raise BadResponse(f"{self.name} {path} 返回的 result 不含 list", system=self.name)
            return int(result.get("total", 0)), result["list"]

        def key(item: Any) -> tuple[datetime, str] | None:
            try:
                return datetime.strptime(str(item["gxsj"]), TIME_FORMAT), str(item[id_field])
            except (KeyError, ValueError, TypeError):
                return None

        for items, pos in iter_window(fetch, position, until, min(page_size, 100), key):
            yield Page(items, pos.to_json())

    def wants(self, record: Record) -> bool:
        return True

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

    def deliver(self, record: Record, payload: dict[str, Any], prior: PriorDelivery | None) -> Delivered:
        prefix = _PREFIX[record.kind]
        id_field = _ID_FIELD[record.kind]
        known = prior is not None and prior.target_id is not None
        if record.withdrawn and known:
            assert prior is not None
            op = "void" if record.kind == "inspection" else "revoke"
            self.call(f"/openapi/{prefix}/{op}", {"wbxtly": SOURCE_TAG, "wbxtbh": record.id})
            return Delivered("withdrawn", prior.target_id, prior.linked)
        linked = prior.linked if prior else False
        if not known and isinstance(record, Penalty):
            twin = self._twins.get(record.natural_key)
            if twin:
                self._link(prefix, id_field, twin, record.id)
                linked = True
        try:
            result = self.call(f"/openapi/{prefix}/save", payload)
        except DuplicateRecord as dup:
            if not dup.existing_id:
                raise
            self._link(prefix, id_field, dup.existing_id, record.id)
            linked = True
            result = self.call(f"/openapi/{prefix}/save", payload)
        target_id = str(result.get(id_field)) if isinstance(result, dict) and result.get(id_field) else None
        if target_id is None:
            raise BadResponse(f"{self.name} save 未返回 {id_field}: {str(result)[:120]!r}", system=self.name)
        if record.withdrawn:
            action = "withdrawn"
        elif linked and not known:
            action = "linked"
        else:
            action = "updated" if known else "created"
        return Delivered(action, target_id, linked)

    def _link(self, prefix: str, id_field: str, existing_id: str, wbxtbh: str) -> None:
        try:
            self.call(
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

    def ping(self) -> str:
        return f"签名校验通过, 执法机构字典 {len(self.dictionary('zfjg'))} 项"

    # -- reference data ----------------------------------------------------------------------------
    def dictionary(self, name: str) -> list[dict[str, Any]]:
        result = self.call(f"/openapi/dict/{name}", {})
        return result if isinstance(result, list) else []


# The type "municipal" is registered by connectors/municipal_source.py: its subclass serves as the
# target here and as the source of flow 3, one connector object for both roles.
