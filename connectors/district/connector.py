"""区执法监督平台 (district enforcement supervision platform): the source of inspections and penalties.

Quirks handled here (see shared/platforms/district.md):
- bearer tokens expire, sometimes before ``expires_in`` (the platform restarts): on HTTP 401 log in
  again and repeat the call once;
- windows are inclusive and second-precise and pages shift under the client (``connectors.paging``);
- 429 carries ``Retry-After``; outages answer 5xx with an empty body or an HTML page;
- errors come in a ``{"code", "msg", "data"}`` envelope with HTTP 200 (40001, 40401, 40901);
- as the target of credit events (flow 4): ``40901`` is a repeat of an event it already holds
  (success), ``40401`` a company not in its 企业库, i.e. another district's (skipped and counted).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog

from connectors.contract.config import Secrets, SystemConfig
from connectors.contract.errors import (
    BadResponse,
    ConnectorError,
    FatalConnectorError,
    RetriableError,
    TargetRejected,
)
from connectors.contract.events import CreditEvent
from connectors.contract.records import KINDS, Record, RecordKind, is_unsubmitted, parse_record, parse_time
from connectors.contract.roles import Context, Delivered, Page, PriorDelivery
from connectors.district import inbound as district_inbound
from connectors.http import HttpSession, RateLimiter, RetryPolicy, json_body, retry_after
from connectors.paging import TIME_FORMAT, Position, iter_window

log = structlog.get_logger("zhifa.district")
BEIJING = ZoneInfo("Asia/Shanghai")
_PATHS = {"inspection": "/api/v1/inspections", "penalty": "/api/v1/penalties"}
CREDIT_EVENTS_PATH = "/api/v1/credit-events"
EVENT_KINDS = {
    "REPAIRED": "repaired",
    "WITHDRAWN": "withdrawn",
    "EXPIRED": "expired",
    "BLACKLIST_ADD": "blacklist_add",
    "BLACKLIST_REMOVE": "blacklist_remove",
}


class DistrictError(TargetRejected):
    """The district answered with a non-zero ``code``."""


class DistrictConnector:
    def __init__(
        self, name: str, cfg: SystemConfig, secrets: Secrets, *, transport: httpx.BaseTransport | None = None
    ):
        self.name = name
        self.cfg = cfg
        self.concurrency = cfg.concurrency
        self._username = cfg.username or ""
        self._password = secrets.get(name, "password")
        self._http = HttpSession(
            name,
            cfg.base_url or "",
            timeout_s=cfg.timeout_s,
            max_connections=cfg.concurrency + 2,
            transport=transport,
        )
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._limiter = RateLimiter(cfg.rate_limit_per_s)
        self._retry = RetryPolicy(cfg.retry, name)

    def close(self) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------------------------
    def _login(self, stale: str | None) -> str:
        with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token  # another thread already logged in again
            self._limiter.acquire()
            resp = self._http.request(
                "POST", "/api/auth/token", json={"username": self._username, "password": self._password}
            )
            body = self._envelope(resp)
            if body.get("code") == 40100:
                raise FatalConnectorError(
                    f"{self.name} 登录失败: {body.get('msg')} (请检查用户名和密码配置)",
                    system=self.name,
                    code="40100",
                )
            if body.get("code") != 0 or not isinstance(body.get("data"), dict):
                raise BadResponse(f"{self.name} 登录返回异常: {body!r:.200}", system=self.name)
            self._token = str(body["data"]["access_token"])
            log.info("logged_in", system=self.name)
            return self._token

    def _envelope(self, resp: httpx.Response) -> dict[str, Any]:
        if resp.status_code == 429:
            self._limiter.cool_down(retry_after(resp) or 1.0)
            raise RetriableError(
                f"{self.name} 调用频率超限 (HTTP 429)",
                system=self.name,
                code="429",
                retry_after=retry_after(resp),
            )
        if resp.status_code >= 500:
            snippet = " ".join(resp.text.split())[:120]
            raise RetriableError(
                f"{self.name} 服务不可用 (HTTP {resp.status_code}) {snippet}".strip(),
                system=self.name,
                code=str(resp.status_code),
                response=snippet,
            )
        body = json_body(resp, self.name)
        if not isinstance(body, dict) or "code" not in body:
            raise BadResponse(
                f"{self.name} 返回格式不符合约定 (缺少 code): {str(body)[:120]!r}", system=self.name
            )
        return body

    def _once(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any, ok_codes: tuple[int, ...]
    ) -> Any:
        token = self._token or self._login(None)
        for attempt in (1, 2):
            self._limiter.acquire()
            resp = self._http.request(
                method, path, params=params, json=json, headers={"Authorization": f"Bearer {token}"}
            )
            if resp.status_code == 401 and attempt == 1:
                token = self._login(token)  # expired early: log in again and repeat once
                continue
            if resp.status_code == 401:
                raise RetriableError(f"{self.name} 重新登录后仍然返回 401", system=self.name, code="401")
            body = self._envelope(resp)
            code = body.get("code")
            if code == 0 or code in ok_codes:
                return body.get("data")
            raise DistrictError(
                f"{self.name} 拒绝请求: {code} {body.get('msg')}",
                system=self.name,
                code=str(code),
                response=str(body.get("msg")),
            )
        raise AssertionError("unreachable")

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok_codes: tuple[int, ...] = (),
    ) -> Any:
        return self._retry(self._once, method, path, params, json, ok_codes)

    # -- source --------------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)

    def pull(
        self, kind: RecordKind, saved: dict[str, Any] | None, start: datetime, until: datetime, page_size: int
    ) -> Iterator[Page]:
        path = _PATHS[kind]
        position = Position.from_json(saved) if saved else Position(start)

        def fetch(start: datetime, end: datetime, page: int, size: int) -> tuple[int, list[dict[str, Any]]]:
            data = self.call(
                "GET",
                path,
                params={
                    "start_time": start.strftime(TIME_FORMAT),
                    "end_time": end.strftime(TIME_FORMAT),
                    "page": page,
                    "page_size": size,
                },
            )
            if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                raise BadResponse(f"{self.name} {path} 返回的 data 不含 items 列表", system=self.name)
            return int(data.get("total", 0)), data["items"]

        for items, pos in iter_window(fetch, position, until, page_size, _window_key):
            yield Page(items, pos.to_json())

    def parse(self, kind: RecordKind, raw: Any) -> Record:
        return parse_record(kind, raw)

    def is_unsubmitted(self, kind: RecordKind, raw: dict[str, Any]) -> bool:
        return is_unsubmitted(kind, raw)

    def ping(self) -> str:
        self._login(self._token)
        return "登录成功"

    # -- target: credit events (flow 4) ----------------------------------------------------------
    def begin_run(self, kind: RecordKind) -> None:
        return None

    def wants(self, record: Record) -> bool:
        """Credit events; and inspections/penalties of other systems only (flow 3)."""
        if record.kind in KINDS:  # flow 3: connectors/district_inbound.py
            return district_inbound.wants(record)
        return isinstance(record, CreditEvent)

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        if record.kind in KINDS:  # flow 3: connectors/district_inbound.py
            return district_inbound.translate(self.name, record, ctx)
        if not isinstance(record, CreditEvent):
            raise TypeError(f"{self.name} 作为目标只接收信用事件, 不接收 {record.kind}")
        return {
            "event_id": record.id,
            "uscc": record.uscc,
            # The district requires a decision number; a blacklist event may concern no decision.
            "decision_no": record.cf_wsh or "无",
            "kind": EVENT_KINDS[record.type],
            "occurred_at": record.occurred_at.strftime(TIME_FORMAT),
        }

    def deliver(self, record: Record, payload: dict[str, Any], prior: PriorDelivery | None) -> Delivered:
        if record.kind in KINDS:  # flow 3: connectors/district_inbound.py
            return district_inbound.deliver(self, record, payload, prior)
        try:
            # 40901: the district already holds this event_id (a repeat after a lost answer) — success
            data = self.call("POST", CREDIT_EVENTS_PATH, json=payload, ok_codes=(40901,))
        except DistrictError as exc:
            if exc.code == "40401":  # a company of another district: not ours to apply
                log.info(
                    "credit_event_other_district", system=self.name, record_id=record.id, uscc=payload["uscc"]
                )
                return Delivered("skipped")
            raise
        event_id = data.get("event_id") if isinstance(data, dict) else None
        return Delivered("created", str(event_id or record.id))

    # -- reference data (mapping checks and coverage) -------------------------------------------
    def list_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self.call("GET", path, params={**(params or {}), "page": page, "page_size": 500})
            items = data.get("items", []) if isinstance(data, dict) else []
            out.extend(items)
            if (
                not isinstance(data, dict)
                or "total" not in data
                or len(out) >= int(data["total"])
                or not items
            ):
                return out
            page += 1


def _window_key(item: Any) -> tuple[datetime, str] | None:
    try:
        return parse_time(str(item["updated_at"])), str(item["id"])
    except (KeyError, ValueError, TypeError):
        return None


__all__ = ["ConnectorError", "DistrictConnector"]
