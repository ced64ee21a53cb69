"""The district platform as the target of credit events (flow 4): ``POST /api/v1/credit-events``.

- idempotent on ``event_id``: a repeat answers ``40901`` with the first answer's data (success);
- ``40401``: a company the platform does not know — another district's; skipped and counted.
"""

from __future__ import annotations

from typing import Any

import structlog

from connectors.contract.clock import TIME_FORMAT
from connectors.contract.errors import TargetRejected
from connectors.contract.events import CreditEvent
from connectors.contract.records import Record, RecordKind
from connectors.contract.roles import Capabilities, Context, Delivered, Push
from connectors.contract.states import Action
from connectors.district.client import DistrictClient
from connectors.district.codes import EVENT_KINDS

log = structlog.get_logger("zhifa.district")
PATH = "/api/v1/credit-events"


class CreditEventsTarget:
    capabilities = Capabilities()

    def __init__(self, client: DistrictClient, concurrency: int) -> None:
        self.client = client
        self.name = client.system
        self.concurrency = concurrency

    def begin_run(self, kind: RecordKind) -> None:
        return None

    def wants(self, record: Record) -> bool:
        return isinstance(record, CreditEvent)

    def translate(self, record: Record, ctx: Context) -> dict[str, Any]:
        if not isinstance(record, CreditEvent):
            raise TypeError(f"{self.name} 作为目标只接收信用事件, 不接收 {record.kind}")
        return {
            "event_id": record.id,
            "uscc": record.uscc,
            # A blacklist event may concern no decision: null then, as the district documents, never
            # a placeholder (the project never invents a value its source left empty).
            "decision_no": record.cf_wsh,
            "kind": EVENT_KINDS[record.type],
            "occurred_at": record.occurred_at.strftime(TIME_FORMAT),
        }

    def deliver(self, push: Push) -> Delivered:
        try:
            # 40901: the district already holds this event_id (a repeat after a lost answer) — success
            data = self.client.request("POST", PATH, json=push.payload, ok_codes=(40901,))
        except TargetRejected as exc:
            if exc.code == "40401":  # a company of another district: not ours to apply
                log.info(
                    "credit_event_other_district",
                    system=self.name,
                    record_id=push.record.id,
                    uscc=push.payload["uscc"],
                )
                return Delivered(Action.SKIPPED)
            raise
        event_id = data.get("event_id") if isinstance(data, dict) else None
        return Delivered(Action.CREATED, str(event_id or push.record.id))
