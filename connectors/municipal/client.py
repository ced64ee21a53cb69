"""The municipal system's REST client: MD5-signed POSTs, the ``success``/``errCode`` envelope, and the table
of what each error code means (docs/interfaces/municipal.md).

- every call is POST with ``appKey``/``timestamp``/``sign`` headers, signed afresh on every attempt (a
  retried call with an old timestamp could be refused as expired);
- HTTP 200 even for auth errors and rate limits: the envelope decides; ``E4290`` (no Retry-After) and
  ``E5000`` are retried with back-off; the gateway's proxy answers 502/503/504 with an HTML page;
- ``E2005 数据重复: <id>`` names a record typed in by hand at the city (``DuplicateRecord``); ``E2003``/
  ``E2004`` name a code the city's catalogue lacks: a mapping problem, parked until the tables change.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from connectors.contract.clock import TIME_FORMAT
from connectors.contract.errors import BadResponse, CatalogueMismatch, ConflictError
from connectors.contract.records import RecordKind
from connectors.contract.roles import Page
from connectors.municipal.config import MunicipalConfig
from connectors.paging import Position, iter_window
from connectors.rest import CallLimits, Next, RestClient, Wire, WireTable, json_body, lookup, snippet

SOURCE_TAG = "QJJR"  # wbxtly of records sent through the open API by a district
PREFIX = {"inspection": "jcjl", "penalty": "xzcf"}
ID_FIELD = {"inspection": "jcjlbh", "penalty": "ajbh"}

HTTP_NOT_OK = Wire(Next.RETRY, "网关返回")  # any status but 200: the gateway's proxy (HTML page)
CODES: WireTable = {
    "E1000": Wire(Next.FATAL, "鉴权失败: 应用不存在 (请检查 app_key / app_secret 配置)"),
    "E1001": Wire(Next.FATAL, "鉴权失败: 签名错误 (请检查 app_key / app_secret 配置)"),
    "E1002": Wire(Next.RETRY, "签名已过期"),
    "E2001": Wire(Next.REJECT, "市系统拒绝: 必填字段缺失"),
    "E2002": Wire(Next.REJECT, "市系统拒绝: 字段格式错误"),
    "E2003": Wire(Next.SPECIAL, "检查/处罚事项目录"),  # CatalogueMismatch on items.csv
    "E2004": Wire(Next.SPECIAL, "执法人员库 (执法证号)"),  # CatalogueMismatch on officers.csv
    "E2005": Wire(Next.SPECIAL, "数据重复"),  # DuplicateRecord: link the hand-typed record
    "E2006": Wire(Next.REJECT, "市系统拒绝: 记录不存在"),
    "E4290": Wire(Next.RETRY, "调用频率超限", pause_s=1.0),  # no Retry-After: pause every thread
    "E5000": Wire(Next.RETRY, "系统繁忙"),
}
UNKNOWN_CODE = Wire(Next.REJECT, "市系统拒绝")
# errCode -> (mapping table, column) the missing catalogue code was mapped from
CATALOGUE = {"E2003": ("items.csv", "municipal_item_code"), "E2004": ("officers.csv", "cert_no")}
_DUP_RE = re.compile(r"数据重复[:：]\s*(\S+)")


class DuplicateRecord(ConflictError):
    """``E2005 数据重复``: the city already holds this record (``existing_id``)."""

    def __init__(self, message: str, existing_id: str, **kw: Any) -> None:
        self.existing_id = existing_id
        super().__init__(message, **kw)


class MunicipalClient(RestClient):
    def __init__(
        self, name: str, cfg: MunicipalConfig, app_secret: str, transport: httpx.BaseTransport | None
    ) -> None:
        super().__init__(
            name,
            cfg.base_url,
            timeout_s=cfg.timeout_s,
            concurrency=cfg.concurrency,
            rate_limit_per_s=cfg.rate_limit_per_s,
            retry=cfg.retry,
            limits=CallLimits.of(cfg),
            transport=transport,
        )
        self.region_code = cfg.region_code
        self._app_key = cfg.app_key
        self._secret = app_secret

    def _headers(self) -> dict[str, str]:
        ts = str(int(time.time() * 1000))
        sign = hashlib.md5((self._app_key + self._secret + ts).encode()).hexdigest().upper()
        return {"appKey": self._app_key, "timestamp": ts, "sign": sign}

    def _once(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.send("POST", path, json=body, headers=self._headers())
        if resp.status_code != 200:
            text = snippet(resp)
            self.fail(HTTP_NOT_OK, resp.status_code, text, answer=text)
        env = json_body(resp, self.system)
        if not isinstance(env, dict) or "success" not in env:
            raise BadResponse(
                f"{self.system} 返回格式不符合约定 (缺少 success): {str(env)[:120]!r}", system=self.system
            )
        if env["success"] is True:
            return env.get("result")
        code, msg = str(env.get("errCode") or ""), str(env.get("errMsg") or "")
        wire = lookup(CODES, code) or UNKNOWN_CODE
        if wire.next is not Next.SPECIAL:
            self.fail(wire, code, msg, answer=msg)
        if code == "E2005":
            m = _DUP_RE.search(msg)
            raise DuplicateRecord(
                f"{self.system} {code} {msg}",
                m.group(1) if m else "",
                system=self.system,
                code=code,
                response=msg,
            )
        # The city's catalogue lacks a code we mapped to: a mapping problem, parked until the tables
        # change (then replayed), not a rejection that waits for the source to change.
        table, column = CATALOGUE[code]
        value = msg.split(":", 1)[-1].split("：", 1)[-1].strip()
        raise CatalogueMismatch(
            table,
            value,
            column,
            f"市系统{wire.meaning}中没有 {value} ({code} {msg}): 请核对 mappings/{table} 的 {column} 列, "
            f"或请市局在系统中登记后重试",
        )

    def request(self, path: str, body: dict[str, Any]) -> Any:
        """The envelope's ``result`` of a call, retried (and re-signed) on blips."""
        return self.call(self._once, path, body)

    def dictionary(self, name: str) -> list[dict[str, Any]]:
        """``/openapi/dict/{jcsx|zfry|zfjg}``: the city's catalogues."""
        result = self.request(f"/openapi/dict/{name}", {})
        return result if isinstance(result, list) else []

    def pull_list(
        self,
        kind: RecordKind,
        position: Position,
        until: datetime,
        page_size: int,
        overlap: timedelta = timedelta(0),
    ) -> Iterator[Page]:
        """The region's records of ``kind`` changed in [position, until], by keyset (``connectors.paging``)."""
        path = f"/openapi/{PREFIX[kind]}/list"
        id_field = ID_FIELD[kind]

        def fetch(start: datetime, end: datetime, page: int, size: int) -> tuple[int, list[dict[str, Any]]]:
            result = self.request(
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
                raise BadResponse(f"{self.system} {path} 返回的 result 不含 list", system=self.system)
            return int(result.get("total", 0)), result["list"]

        def key(item: Any) -> tuple[datetime, str] | None:
            try:
                return datetime.strptime(str(item["gxsj"]), TIME_FORMAT), str(item[id_field])
            except (KeyError, ValueError, TypeError):
                return None

        for items, pos in iter_window(fetch, position, until, min(page_size, 100), key, overlap):
            yield Page(items, pos)
