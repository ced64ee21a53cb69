"""The credit platform as the target of penalty decisions for 双公示 (flows 2 and 5): ``CZLX`` I/U/D.

- one HTTP 200 answers a whole batch, with one result per record (``ACCEPTED``/``REJECTED``/
  ``DUPLICATE``): each record succeeds or fails alone;
- ``SJBS`` (our district record id) is the idempotency key: ``I`` again for a known ``SJBS`` answers
  ``ACCEPTED`` with the same ``xybm`` and stores nothing, so a batch whose answer was lost is re-sent;
- ``DUPLICATE``: the decision was typed in or uploaded by hand; we adopt it (``U`` with its ``xybm``)
  instead of publishing it twice; a revoked decision only ever uploaded by hand is adopted, then withdrawn;
- 万元 with at most 6 decimals *as written*: ``0.1234560`` is rejected, so no trailing zeros (``fields``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from connectors.contract.clock import beijing_now
from connectors.contract.compare import differing
from connectors.contract.errors import (
    BadResponse,
    ConflictError,
    ConnectorError,
    FatalConnectorError,
    TargetRejected,
)
from connectors.contract.records import Penalty, Record, RecordKind
from connectors.contract.roles import Capabilities, Context, Delivered, Held, Prior, Push, deliver_one
from connectors.contract.states import Action, DeliveryState
from connectors.credit.client import MAX_BATCH, CreditClient
from connectors.credit.config import CreditConfig
from connectors.credit.fields import penalty_fields

log = structlog.get_logger("zhifa.credit")
BATCH_PATH = "/api/sgs/v2/xzcf/batch"
RECORD_PATH = "/api/sgs/v2/xzcf/{xybm}"
_REVOKED = "已撤销"


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
    prior: Prior | None
    xybm: str | None = None
    adopted: bool = False  # DUPLICATE: a hand-typed/uploaded record we took over

    @property
    def known(self) -> str | None:
        return self.prior.target_id if self.prior and self.prior.target_id else None


class CreditTarget:
    """Batch target for penalties; a revoked decision we never sent may still be on the platform, typed
    in by hand, so it is sent too (``withdraw_unsent``)."""

    capabilities = Capabilities(withdraw_unsent=True)

    def __init__(self, client: CreditClient, cfg: CreditConfig) -> None:
        self.client = client
        self.name = client.system
        self.cfg = cfg
        self.concurrency = cfg.concurrency
        self.batch_size = min(cfg.batch_size, MAX_BATCH)

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
        fields = penalty_fields(record, ctx, self.cfg, beijing_now().date())
        return {"SJBS": record.id, "CZLX": "D" if record.withdrawn else "I", **fields}

    def deliver(self, push: Push) -> Delivered:
        return deliver_one(self, push)

    # -- reading back (reconciliation) -------------------------------------------------------------
    lists_all = False  # the platform is looked up by xybm, one decision at a time: it cannot be listed

    def held(self, kind: RecordKind, known: Mapping[str, Prior]) -> dict[str, Held]:
        """The decisions the ledger says the platform holds, looked up by their ``xybm`` (404: gone)."""
        out: dict[str, Held] = {}
        for source_id, prior in known.items():
            if not prior.target_id:
                continue
            try:
                body = self.client.request("GET", RECORD_PATH.format(xybm=prior.target_id))
            except ConnectorError as exc:
                if exc.code in ("404", "NOT_FOUND"):
                    continue
                raise
            if isinstance(body, dict):
                out[source_id] = Held(source_id, prior.target_id, body)
        return out

    def differs(self, payload: dict[str, Any], held: Held) -> list[str]:
        """The CF_* fields not as sent; a withdrawn decision only has to be withdrawn there."""
        if payload.get("CZLX") == "D":
            return [] if held.fields.get("status") == _REVOKED else ["status"]
        wrong = differing(payload, held.fields, [k for k in payload if k.startswith("CF_")])
        return wrong + (["status"] if held.fields.get("status") == _REVOKED else [])

    def deliver_batch(self, pushes: list[Push]) -> list[Delivered | Exception]:
        """Send the batch, then the follow-ups some records need (adopt a DUPLICATE, withdraw), in
        rounds of one call each; one ``Delivered`` or error per job, in order."""
        state = [_Job(p.record, p.payload, p.prior) for p in pushes]
        results: list[Delivered | Exception | None] = [None] * len(pushes)
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
                return Delivered(Action.SKIPPED)
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
            return Delivered(Action.WITHDRAWN, xybm, linked)
        if job.record.withdrawn:  # published (now, or by an earlier attempt) or adopted: withdraw it
            return self._withdrawal(job)
        if job.adopted:
            return Delivered(Action.LINKED, xybm, True)
        if op == "I" and job.prior is not None and job.prior.state == DeliveryState.ATTEMPTED:
            # An earlier I may have been stored without our hearing back, and I never changes a stored
            # record: send the current version as U so the platform does not keep the old one.
            return {**job.payload, "CZLX": "U", "xybm": xybm}
        return Delivered(Action.UPDATED if op == "U" else Action.CREATED, xybm, linked)

    def _submit(self, bodies: list[dict[str, Any]]) -> list[_Answer | Exception]:
        """One batch call; each record's answer, or the error that stands for it."""
        try:
            data = self.client.request("POST", BATCH_PATH, json_={"records": bodies})
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
