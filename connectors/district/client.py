"""The district platform's REST client: bearer-token login, the ``{"code", "msg", "data"}`` envelope, and
the table of what each wire code means (docs/interfaces/district.md).

- tokens expire, sometimes before ``expires_in`` says (the platform restarts): on HTTP 401 log in again
  and repeat the call once;
- 429 carries ``Retry-After`` (above 20 calls per second per token); outages answer 5xx with an empty
  body or an HTML page;
- errors come in the envelope with HTTP 200: 40100 wrong credentials at login, 40001 bad request,
  40401 unknown record (or, for a credit event, a company of another district), 40901 already held.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import httpx
import structlog

from connectors.contract.clock import beijing_now
from connectors.contract.errors import BadResponse, RetriableError
from connectors.district.config import DistrictConfig
from connectors.rest import HTTP_BLIPS, CallLimits, Next, RestClient, Wire, WireTable, json_body, lookup

log = structlog.get_logger("zhifa.district")

HTTP: WireTable = {**HTTP_BLIPS, 401: Wire(Next.SPECIAL, "令牌无效或已过期")}  # 401: log in again
CODES: WireTable = {
    0: Wire(Next.SPECIAL, "成功"),
    40100: Wire(Next.FATAL, "登录失败: 用户名或密码错误 (请检查用户名和密码配置)"),
    40001: Wire(Next.REJECT, "拒绝请求: 参数错误"),
    40101: Wire(Next.SPECIAL, "令牌无效或已过期"),
    40401: Wire(Next.REJECT, "拒绝请求: 记录不存在"),
    40901: Wire(Next.REJECT, "拒绝请求: 记录已存在"),
}
UNKNOWN_CODE = Wire(Next.REJECT, "拒绝请求")


class DistrictClient(RestClient):
    """Calls to the district platform with a shared bearer token, logging in again when it expires."""

    def __init__(
        self, name: str, cfg: DistrictConfig, password: str, transport: httpx.BaseTransport | None
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
        self._username = cfg.username
        self._password = password
        self._token: str | None = None
        self._token_lock = threading.Lock()

    def now(self) -> datetime:
        return beijing_now()

    def login(self, stale: str | None = None, force: bool = False) -> str:
        """A fresh token, unless another thread already replaced ``stale`` with one (``force``: always)."""
        with self._token_lock:
            if not force and self._token is not None and self._token != stale:
                return self._token
            body = self._envelope(
                self.send(
                    "POST", "/api/auth/token", json={"username": self._username, "password": self._password}
                )
            )
            code = _code(body)
            if code != 0:
                self.fail(lookup(CODES, code) or UNKNOWN_CODE, code, str(body.get("msg") or ""))
            if not isinstance(body.get("data"), dict) or not body["data"].get("access_token"):
                raise BadResponse(f"{self.system} 登录返回异常: {body!r:.200}", system=self.system)
            self._token = str(body["data"]["access_token"])
            log.info("logged_in", system=self.system)
            return self._token

    def _envelope(self, resp: httpx.Response) -> dict[str, Any]:
        self.check_status(resp, HTTP)
        body = json_body(resp, self.system)
        if not isinstance(body, dict) or "code" not in body:
            raise BadResponse(
                f"{self.system} 返回格式不符合约定 (缺少 code): {str(body)[:120]!r}", system=self.system
            )
        return body

    def _once(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any, ok_codes: tuple[int, ...]
    ) -> Any:
        token = self._token or self.login()
        for attempt in (1, 2):
            resp = self.send(
                method, path, params=params, json=json, headers={"Authorization": f"Bearer {token}"}
            )
            if resp.status_code == 401:
                if attempt == 2:
                    raise RetriableError(
                        f"{self.system} 重新登录后仍然返回 401", system=self.system, code="401"
                    )
                token = self.login(token)  # expired early: log in again and repeat once
                continue
            body = self._envelope(resp)
            code = _code(body)
            if code == 0 or code in ok_codes:
                return body.get("data")
            msg = str(body.get("msg"))
            self.fail(lookup(CODES, code) or UNKNOWN_CODE, code, msg, answer=msg)
        raise AssertionError("unreachable")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok_codes: tuple[int, ...] = (),
    ) -> Any:
        """The envelope's ``data`` of a call, retried on blips; ``ok_codes`` count as success too."""
        return self.call(self._once, method, path, params, json, ok_codes)

    def list_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged reference list (users, items)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self.request("GET", path, params={**(params or {}), "page": page, "page_size": 500})
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


def _code(body: dict[str, Any]) -> int | str:
    """The envelope's ``code`` (an int by the contract; kept as text when it is not one)."""
    code = body.get("code")
    return code if isinstance(code, int) else str(code)
