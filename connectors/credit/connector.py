"""信用信息共享平台 (credit-information platform, 双公示): target of penalties, source of credit events.

Quirks handled here (see shared/platforms/credit.md):
- every call is signed (HMAC-SHA256 over method, path, timestamp, nonce and the body's SHA-256) with
  a single-use nonce: a retried call is built and signed afresh, never re-sent as it was;
- 401 ``AUTH_FAILED`` also answers a replayed nonce or a clock blip, so it is re-signed and tried
  twice more before it counts as wrong credentials (or a server clock more than 300 s off);
- 429 with ``Retry-After`` above 5 calls per second (a nonce is spent even by a 429); 5xx in outages;
- one HTTP 200 answers a whole batch, with one result per record (``ACCEPTED``/``REJECTED``/
  ``DUPLICATE``): each record succeeds or fails alone;
- ``SJBS`` (our district record id) is the idempotency key: ``I`` again for a known ``SJBS`` answers
  ``ACCEPTED`` with the same ``xybm`` and stores nothing, so a batch whose answer was lost is re-sent;
- ``DUPLICATE``: the decision was typed in or uploaded by hand; we adopt it (``U`` with its ``xybm``)
  instead of publishing it twice;
- 万元 with at most 6 decimals *as written*: ``0.1234560`` is rejected, so no trailing zeros;
- the event feed pages by opaque cursors that expire (410): we then start again from the last
  ``occurredAt`` seen, which is inclusive, and skip the events already seen at that second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog

from connectors.contract.config import Secrets, SystemConfig
from connectors.contract.errors import (
    BadResponse,
    ConflictError,
    ConnectorError,
    FatalConnectorError,
    RetriableError,
    TargetRejected,
)
from connectors.contract.events import BEIJING
from connectors.contract.records import Penalty, Record, RecordKind, parse_record
from connectors.contract.roles import Context, Delivered, Page, PriorDelivery, deliver_one
from connectors.contract.validators import uscc_problem
from connectors.credit.fields import XLSX_COLUMNS, penalty_fields, yuan_in_words, yuan_to_wan
from connectors.http import HttpSession, RateLimiter, RetryPolicy, json_body, retry_after

__all__ = ["XLSX_COLUMNS", "CreditConnector", "penalty_fields", "yuan_in_words", "yuan_to_wan"]
log = structlog.get_logger("zhifa.credit")
BATCH_PATH = "/api/sgs/v2/xzcf/batch"
EVENTS_PATH = "/api/credit/v1/events"
MAX_BATCH = 200
AUTH_RETRIES = 2  # 401s in a row (re-signed each time) taken for blips; one more means wrong credentials
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S+08:00"
LEDGER_TIME = "%Y-%m-%d %H:%M:%S"


# -- per-record answers ----------------------------------------------------------------------------
@dataclass
class _Answer:
    status: str
    xybm: str | None
    errors: list[dict[str, Any]]

    def message(self) -> str:
        fields = "; ".join(
            f"{e.get('field') or '(记录)'}: {e.get('message') or ''}"
            for e in self.errors
            if isinstance(e, dict)
        )
        return f"双公示平台拒绝: {fields or '(未说明原因)'}"


@dataclass
class _Job:
    """One record's way through the rounds of a batch: I → (U with xybm) → (D)."""

    record: Record
    payload: dict[str, Any]
    prior: PriorDelivery | None
    xybm: str | None = None
    adopted: bool = False  # DUPLICATE: a hand-typed/uploaded record we took over

    @property
    def known(self) -> str | None:
        return self.prior.target_id if self.prior and self.prior.target_id else None


class CursorExpired(ConnectorError):
    """HTTP 410 ``CURSOR_EXPIRED``: page again from the last ``occurredAt`` seen."""


class CreditConnector:
    """Batch target for penalties (``CZLX`` I/U/D) and source of credit events."""

    keeps_withdrawn = True  # a revoked decision we never sent may still be on the platform, typed by hand

    def __init__(
        self, name: str, cfg: SystemConfig, secrets_: Secrets, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.concurrency = cfg.concurrency
        self.batch_size = min(cfg.batch_size, MAX_BATCH)
        self._app_id = cfg.app_key or ""
        self._secret = secrets_.get(name, "app_secret").encode()
        self._http = HttpSession(
            name,
            cfg.base_url or "",
            timeout_s=cfg.timeout_s,
            max_connections=cfg.concurrency + 2,
            transport=transport,
        )
        # The platform allows 5 calls/s per app and spends the nonce even of a call it answers 429:
        # stay below that unless the configuration says otherwise.
        self._limiter = RateLimiter(cfg.rate_limit_per_s or 4.0)
        self._retry = RetryPolicy(cfg.retry, name)
        self._auth_lock = threading.Lock()
        self._auth_in_a_row = 0  # consecutive 401 answers, across threads
        if cfg.data_source_uscc and (problem := uscc_problem(cfg.data_source_uscc)):
            raise FatalConnectorError(
                f"{name}: data_source_uscc {cfg.data_source_uscc} {problem}", system=name
            )

    def close(self) -> None:
        self._http.close()

    # -- transport ---------------------------------------------------------------------------------
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
            self._limiter.acquire()
            headers = self.sign(method, path, body)
            if body:
                headers["Content-Type"] = "application/json; charset=utf-8"
            resp = self._http.request(method, path, params=params, content=body or None, headers=headers)
            if resp.status_code != 401:
                with self._auth_lock:
                    self._auth_in_a_row = 0
                return self._answer(resp, path)
            # A 401 may be a blip (a replayed nonce, clock skew at a second's edge): sign afresh and try
            # again. Only 401s with no accepted call in between, from any thread, mean wrong credentials.
            with self._auth_lock:
                self._auth_in_a_row += 1
                in_a_row = self._auth_in_a_row
            log.warning("auth_failed_resigning", system=self.name, attempt=attempt, in_a_row=in_a_row)
            if in_a_row > AUTH_RETRIES:
                raise FatalConnectorError(
                    f"{self.name} 鉴权失败 (连续 {in_a_row} 次 HTTP 401 AUTH_FAILED, 每次都重新签名): 请检查"
                    " app_key / app_secret 配置, 以及本机时钟是否与北京时间相差超过 300 秒",
                    system=self.name,
                    code="AUTH_FAILED",
                )
        # other threads' calls went through meanwhile: the credentials work, this call was unlucky
        raise RetriableError(
            f"{self.name} 多次返回 HTTP 401 (其他调用正常), 稍后重试", system=self.name, code="401"
        )

    def _answer(self, resp: httpx.Response, path: str) -> Any:
        status = resp.status_code
        if status == 429:
            self._limiter.cool_down(retry_after(resp) or 1.0)  # every thread pauses, not just this one
            raise RetriableError(
                f"{self.name} 调用频率超限 (HTTP 429)",
                system=self.name,
                code="429",
                retry_after=retry_after(resp),
            )
        if status >= 500:
            snippet = " ".join(resp.text.split())[:120]
            raise RetriableError(
                f"{self.name} 服务不可用 (HTTP {status}) {snippet}".strip(),
                system=self.name,
                code=str(status),
                response=snippet,
            )
        body = json_body(resp, self.name)
        if status == 200:
            return body
        code = str(body.get("code")) if isinstance(body, dict) else ""
        msg = str(body.get("message") or "") if isinstance(body, dict) else str(body)[:120]
        if status == 410 and code == "CURSOR_EXPIRED":
            raise CursorExpired(f"{self.name} 游标已过期", system=self.name, code=code, response=msg)
        if code == "BATCH_TOO_LARGE":  # we never send more than 200: reaching here is our bug
            raise ConnectorError(
                f"{self.name} 拒绝整批 (BATCH_TOO_LARGE, 每批最多 {MAX_BATCH} 条): 程序缺陷, 请报告开发人员",
                system=self.name,
                code=code,
                response=msg,
            )
        raise ConnectorError(
            f"{self.name} {path} 返回 HTTP {status} {code} {msg}".strip(),
            system=self.name,
            code=code or str(status),
            response=msg,
        )

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_: Any = None) -> Any:
        """A signed call, retried (and re-signed) on blips; the decoded JSON answer."""
        body = b"" if json_ is None else json.dumps(json_, ensure_ascii=False, separators=(",", ":")).encode()
        return self._retry(self._once, method, path, params, body)

    def ping(self) -> str:
        self.call(
            "GET", EVENTS_PATH, params={"since": datetime.now(BEIJING).strftime(ISO_FORMAT), "limit": 1}
        )
        return "签名校验通过"

    # -- target: penalties -------------------------------------------------------------------------
    def begin_run(self, kind: RecordKind) -> None:
        return None

    def wants(self, record: Record) -> bool:
        """Penalties decided at the district; summary-procedure ones only if configured."""
        return (
            isinstance(record, Penalty)
            and record.origin == "district"
            and (record.procedure == "general" or self.cfg.send_summary)
        )

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        """``SJBS`` + the CF_* fields; ``CZLX`` is ``D`` for a revoked decision, else ``I`` (``deliver``
        turns it into ``U`` when the platform already holds the record)."""
        if not isinstance(record, Penalty):
            raise TypeError(f"{self.name} 只接收行政处罚, 不接收 {record.kind}")
        fields = penalty_fields(record, ctx, self.cfg, datetime.now(BEIJING).date())
        return {"SJBS": record.id, "CZLX": "D" if record.withdrawn else "I", **fields}

    def deliver(self, record: Record, payload: dict[str, Any], prior: PriorDelivery | None) -> Delivered:
        return deliver_one(self, record, payload, prior)

    def deliver_batch(
        self, jobs: list[tuple[Record, dict[str, Any], PriorDelivery | None]]
    ) -> list[Delivered | Exception]:
        """Send the batch, then the follow-ups some records need (adopt a DUPLICATE, withdraw), in
        rounds of one call each; one ``Delivered`` or error per job, in order."""
        state = [_Job(r, payload, prior) for r, payload, prior in jobs]
        results: list[Delivered | Exception | None] = [None] * len(jobs)
        todo = {i: self._first_op(job) for i, job in enumerate(state)}
        for _round in range(3):  # at most I → U (adopt) → D (withdraw)
            if not todo:
                break
            answers = self._submit(list(todo.values()))
            follow: dict[int, dict[str, Any]] = {}
            for (i, body), answer in zip(todo.items(), answers, strict=True):
                step = answer if isinstance(answer, Exception) else self._advance(state[i], body, answer)
                if isinstance(step, dict):
                    follow[i] = step
                else:
                    results[i] = step
            todo = follow
        for i in todo:  # unreachable unless the platform answers against its contract
            results[i] = BadResponse(
                f"{self.name} 记录 {state[i].record.id} 处理步骤超出预期", system=self.name
            )
        return [r if r is not None else BadResponse("无结果", system=self.name) for r in results]

    def _first_op(self, job: _Job) -> dict[str, Any]:
        if job.record.withdrawn and job.known:
            return self._withdrawal(job)
        if job.known:  # ours (or adopted): a correction; xybm also finds a record we adopted
            job.xybm = job.known
            return {**job.payload, "CZLX": "U", "xybm": job.known}
        # New, or revoked before we ever sent it: I first — it may be on the platform already
        # (typed by hand → DUPLICATE), or stored by an attempt whose answer we lost (→ ACCEPTED).
        return {**job.payload, "CZLX": "I"}

    def _withdrawal(self, job: _Job) -> dict[str, Any]:
        return {"SJBS": job.payload["SJBS"], "CZLX": "D", "BZ": "行政处罚决定已撤销"}

    def _advance(
        self, job: _Job, sent: dict[str, Any], answer: _Answer
    ) -> Delivered | Exception | dict[str, Any]:
        """The next request for this record, or its final result."""
        op, rid = sent["CZLX"], job.record.id
        if answer.status == "REJECTED":
            if op == "I" and job.record.withdrawn:
                # A revoked decision the platform refuses to store: it cannot hold it either (hand-typed
                # and uploaded records pass the same checks), so there is nothing to withdraw.
                log.warning(
                    "revoked_never_published_skipped",
                    system=self.name,
                    record_id=rid,
                    reason=answer.message(),
                )
                return Delivered("skipped")
            return TargetRejected(
                answer.message(),
                system=self.name,
                code="REJECTED",
                response=json.dumps(answer.errors, ensure_ascii=False)[:2000],
            )
        if answer.status == "DUPLICATE":
            if op != "I" or not answer.xybm:
                return ConflictError(
                    f"双公示平台认为记录 {rid} 与平台上另一条决定 {answer.xybm or '(未给出)'} 文号重复"
                    f" ({op}): 请在平台核对两条记录是否为同一决定",
                    system=self.name,
                    code="DUPLICATE",
                )
            job.xybm, job.adopted = answer.xybm, True
            log.info("adopting_hand_typed", system=self.name, record_id=rid, target_id=answer.xybm)
            return {**job.payload, "CZLX": "U", "xybm": answer.xybm}
        # ACCEPTED
        xybm = answer.xybm or job.xybm or job.known
        if not xybm:
            return BadResponse(f"{self.name} 对记录 {rid} 答复 ACCEPTED 但未给出 xybm", system=self.name)
        job.xybm = xybm
        linked = job.adopted or bool(job.prior and job.prior.linked)
        if op == "D":
            return Delivered("withdrawn", xybm, linked)
        if job.record.withdrawn:  # published (now, or by an earlier attempt) or adopted: withdraw it
            return self._withdrawal(job)
        if job.adopted:
            return Delivered("linked", xybm, True)
        if op == "I" and job.prior is not None and job.prior.state == "attempted":
            # An earlier I may have been stored without our hearing back, and I never changes a stored
            # record: send the current version as U so the platform does not keep the old one.
            return {**job.payload, "CZLX": "U", "xybm": xybm}
        return Delivered("updated" if op == "U" else "created", xybm, linked)

    def _submit(self, bodies: list[dict[str, Any]]) -> list[_Answer | Exception]:
        """One batch call; each record's answer, or the error that stands for it."""
        try:
            data = self.call("POST", BATCH_PATH, json_={"records": bodies})
        except FatalConnectorError:
            raise
        except ConnectorError as exc:
            return [exc] * len(bodies)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            bad = BadResponse(
                f"{self.name} 批量提交的答复不含 results 列表: {str(data)[:120]!r}", system=self.name
            )
            return [bad] * len(bodies)
        by_sjbs: dict[str, list[dict[str, Any]]] = {}
        for res in results:
            if isinstance(res, dict) and isinstance(res.get("SJBS"), str):
                by_sjbs.setdefault(res["SJBS"], []).append(res)
        out: list[_Answer | Exception] = []
        counts: dict[str, int] = {}
        for i, body in enumerate(bodies):
            res = results[i] if i < len(results) else None
            if not (isinstance(res, dict) and res.get("SJBS") == body["SJBS"]):
                # Results come in request order; should they not, find the record's own by SJBS.
                candidates = by_sjbs.get(body["SJBS"], [])
                res = candidates[0] if len(candidates) == 1 else None
            status = res.get("status") if isinstance(res, dict) else None
            if res is None or status not in ("ACCEPTED", "REJECTED", "DUPLICATE"):
                out.append(
                    BadResponse(
                        f"{self.name} 答复中缺少记录 {body['SJBS']} 的结果或结果无法识别: {str(res)[:120]!r}",
                        system=self.name,
                    )
                )
                continue
            xybm = res.get("xybm")
            errors = res.get("errors")
            out.append(
                _Answer(str(status), str(xybm) if xybm else None, errors if isinstance(errors, list) else [])
            )
            counts[str(status)] = counts.get(str(status), 0) + 1
        log.info(
            "batch_pushed", system=self.name, records=len(bodies), **{k.lower(): v for k, v in counts.items()}
        )
        return out

    # -- source: credit events ----------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)

    def pull(
        self, kind: RecordKind, saved: dict[str, Any] | None, start: datetime, until: datetime, page_size: int
    ) -> Iterator[Page]:
        """Pages of events since the saved position: ``{"since", "ids", "cursor", "ts"}``.

        ``since`` is the last ``occurredAt`` seen (inclusive on the platform, so ``ids`` lists the events
        already seen at that second, to skip them), ``cursor`` the page to fetch next, if any. ``until``
        is not used: the feed ends where the platform's does, and events are facts that never change.
        """
        if kind != "credit_event":
            raise ValueError(f"{self.name} 只提供信用事件 (credit_event), 不提供 {kind}")
        since = saved["since"] if saved else start.strftime(ISO_FORMAT)
        seen: set[str] = set(saved.get("ids", ())) if saved else set()
        cursor: str | None = saved.get("cursor") if saved else None
        restarts = 0
        while True:
            params = {"cursor": cursor} if cursor else {"since": since, "limit": min(max(page_size, 1), 500)}
            try:
                data = self.call("GET", EVENTS_PATH, params=params)
            except CursorExpired as exc:
                if not cursor or restarts >= 3:  # against the contract: give up until the next run
                    raise RetriableError(
                        f"{self.name} 信用事件游标反复过期 ({exc})", system=self.name
                    ) from exc
                restarts += 1
                log.info("cursor_expired_restarting", system=self.name, since=since)
                cursor = None  # start again from the last occurredAt seen; repeats are skipped below
                continue
            events = data.get("events") if isinstance(data, dict) else None
            if not isinstance(events, list):
                raise BadResponse(
                    f"{self.name} 信用事件答复不含 events 列表: {str(data)[:120]!r}", system=self.name
                )
            fresh = []
            for event in events:
                when, eid = (
                    (event.get("occurredAt"), event.get("eventId"))
                    if isinstance(event, dict)
                    else (None, None)
                )
                if not isinstance(eid, str) or not isinstance(when, str) or _ledger_time(when) is None:
                    fresh.append(event)  # let the pipeline fail it with a message naming the field
                    continue
                if when == since and eid in seen:
                    continue  # seen before the cursor expired, or at the end of the last run
                if when != since:
                    since, seen = when, set()
                seen.add(eid)
                fresh.append(event)
            cursor = data.get("nextCursor") or None
            position: dict[str, Any] = {"since": since, "ids": sorted(seen), "cursor": cursor}
            if ts := _ledger_time(since):
                position["ts"] = ts  # the pipeline reads it for the lag metric
            yield Page(fresh, position)
            if not cursor:
                return

    def parse(self, kind: RecordKind, raw: Any) -> Record:
        return parse_record(kind, raw)

    def is_unsubmitted(self, kind: RecordKind, raw: dict[str, Any]) -> bool:
        return False


def _ledger_time(iso: Any) -> str | None:
    """``2026-01-02T03:04:05+08:00`` → ``2026-01-02 03:04:05`` (Beijing); None if it is no such time."""
    if not isinstance(iso, str):
        return None
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return (when.astimezone(BEIJING) if when.tzinfo else when).strftime(LEDGER_TIME)
