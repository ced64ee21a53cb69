"""The credit platform's REST client: HMAC-SHA256 signatures with a single-use nonce, and the table of what
each HTTP status and ``code`` means (docs/interfaces/credit.md).

- every call is signed over method, path, timestamp, nonce and the body's SHA-256: a retried call is
  built and signed afresh, never re-sent as it was;
- 401 ``AUTH_FAILED`` also answers a replayed nonce or a clock blip, so it is re-signed and tried twice
  more before it counts as wrong credentials (or a server clock more than 300 s off);
- 429 with ``Retry-After`` above 5 calls per second (a nonce is spent even by a 429); 5xx in outages;
- 410 ``CURSOR_EXPIRED`` on the events feed; 400 ``BATCH_TOO_LARGE`` above 200 records (our defect).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

import httpx
import structlog

from connectors.contract.errors import ConnectorError, FatalConnectorError, RetriableError
from connectors.credit.config import CreditConfig
from connectors.rest import HTTP_BLIPS, CallLimits, Next, RestClient, Wire, WireTable, json_body, lookup

log = structlog.get_logger("zhifa.credit")
AUTH_RETRIES = 2  # 401s in a row (re-signed each time) taken for blips; one more means wrong credentials
MAX_BATCH = 200
# The platform allows 5 calls/s per app and spends the nonce even of a call it answers 429: never
# unpaced (0 in the configuration means its documented limit, paced just below it).
DEFAULT_RATE = 5.0

HTTP: WireTable = {**HTTP_BLIPS}
CODES: WireTable = {
    "AUTH_FAILED": Wire(Next.SPECIAL, "鉴权失败"),  # re-signed and tried again, then fatal
    "CURSOR_EXPIRED": Wire(Next.SPECIAL, "游标已过期"),  # CursorExpired: page again from the last time
    "BATCH_TOO_LARGE": Wire(Next.BUG, f"拒绝整批 (BATCH_TOO_LARGE, 每批最多 {MAX_BATCH} 条)"),
}


class CursorExpired(ConnectorError):
    """HTTP 410 ``CURSOR_EXPIRED``: page again from the last ``occurredAt`` seen."""


class CreditClient(RestClient):
    def __init__(
        self, name: str, cfg: CreditConfig, app_secret: str, transport: httpx.BaseTransport | None
    ) -> None:
        super().__init__(
            name,
            cfg.base_url,
            timeout_s=cfg.timeout_s,
            concurrency=cfg.concurrency,
            rate_limit_per_s=cfg.rate_limit_per_s or DEFAULT_RATE,
            retry=cfg.retry,
            limits=CallLimits.of(cfg),
            transport=transport,
        )
        self._app_id = cfg.app_key
        self._secret = app_secret.encode()
        self._auth_lock = threading.Lock()
        self._auth_in_a_row = 0  # consecutive 401 answers, across threads

    def sign(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """Fresh ``X-Timestamp``/``X-Nonce`` and their signature: one set per attempt, never reused."""
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        text = "\n".join((method, path, ts, nonce, hashlib.sha256(body).hexdigest()))
        digest = hmac.new(self._secret, text.encode(), hashlib.sha256).digest()
        return {
            "X-App-Id": self._app_id,
            "X-Timestamp": ts,
            "X-Nonce": nonce,
            "X-Signature": base64.b64encode(digest).decode(),
        }

    def _once(self, method: str, path: str, params: dict[str, Any] | None, body: bytes) -> Any:
        for attempt in range(1, 2 + 2 * AUTH_RETRIES):
            headers = self.sign(method, path, body)
            if body:
                headers["Content-Type"] = "application/json; charset=utf-8"
            resp = self.send(method, path, params=params, content=body or None, headers=headers)
            if resp.status_code != 401:
                with self._auth_lock:
                    self._auth_in_a_row = 0
                return self._answer(resp, path)
            # A 401 may be a blip (a replayed nonce, clock skew at a second's edge): sign afresh and try
            # again. Only 401s with no accepted call in between, from any thread, mean wrong credentials.
            with self._auth_lock:
                self._auth_in_a_row += 1
                in_a_row = self._auth_in_a_row
            log.warning("auth_failed_resigning", system=self.system, attempt=attempt, in_a_row=in_a_row)
            if in_a_row > AUTH_RETRIES:
                raise FatalConnectorError(
                    f"{self.system} 鉴权失败 (连续 {in_a_row} 次 HTTP 401 AUTH_FAILED, 每次都重新签名): 请检查"
                    " app_key / app_secret 配置, 以及本机时钟是否与北京时间相差超过 300 秒",
                    system=self.system,
                    code="AUTH_FAILED",
                )
        # other threads' calls went through meanwhile: the credentials work, this call was unlucky
        raise RetriableError(
            f"{self.system} 多次返回 HTTP 401 (其他调用正常), 稍后重试", system=self.system, code="401"
        )

    def _answer(self, resp: httpx.Response, path: str) -> Any:
        self.check_status(resp, HTTP)
        body = json_body(resp, self.system)
        if resp.status_code == 200:
            return body
        code = str(body.get("code")) if isinstance(body, dict) else ""
        msg = str(body.get("message") or "") if isinstance(body, dict) else str(body)[:120]
        if resp.status_code == 410 and code == "CURSOR_EXPIRED":
            raise CursorExpired(f"{self.system} 游标已过期", system=self.system, code=code, response=msg)
        wire = lookup(CODES, code)
        if wire is not None and wire.next is Next.BUG:
            self.fail(wire, code, msg)
        raise ConnectorError(
            f"{self.system} {path} 返回 HTTP {resp.status_code} {code} {msg}".strip(),
            system=self.system,
            code=code or str(resp.status_code),
            response=msg,
        )

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json_: Any = None
    ) -> Any:
        """A signed call, retried (and re-signed) on blips; the decoded JSON answer."""
        body = b"" if json_ is None else json.dumps(json_, ensure_ascii=False, separators=(",", ":")).encode()
        return self.call(self._once, method, path, params, body)
