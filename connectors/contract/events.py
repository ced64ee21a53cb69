"""Credit events (信用修复, 撤销, 到期, 黑名单) from the credit platform, as the pipeline sees them (flow 4).

``CreditEvent`` quacks like a ``Record`` for ``sync.pipeline``: it has ``id`` (the platform's
``eventId``), ``kind``, ``status``, ``origin``, ``withdrawn``, ``syncable`` and the summary fields the
ledger keeps. Events are immutable facts: never withdrawn, always syncable.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.contract.clock import to_beijing
from connectors.contract.validators import control_char_problem

EventType = Literal["REPAIRED", "WITHDRAWN", "EXPIRED", "BLACKLIST_ADD", "BLACKLIST_REMOVE"]


class CreditEvent(BaseModel):
    """One event of ``GET /api/credit/v1/events`` (field names as the platform spells them)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    kind: ClassVar[Literal["credit_event"]] = "credit_event"

    id: str = Field(alias="eventId", min_length=1, max_length=64)
    type: EventType
    uscc: str = Field(min_length=1)
    cf_wsh: str | None = Field(default=None, alias="cfWsh")
    xybm: str | None = None
    occurred_at: datetime = Field(alias="occurredAt")  # naive Beijing time once validated

    @field_validator("id", mode="before")
    @classmethod
    def _no_controls(cls, v: Any) -> Any:
        if isinstance(v, str) and (problem := control_char_problem(v)):
            raise ValueError(f"{problem}: 来源数据有误, 请在来源系统更正")
        return v

    @field_validator("uscc", "cf_wsh", "xybm", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        if isinstance(v, str):
            if problem := control_char_problem(v):  # a NUL never reaches a target or the ledger
                raise ValueError(f"{problem}: 来源数据有误, 请在来源系统更正")
            v = v.strip()
            return v or None
        return v

    @field_validator("occurred_at", mode="after")
    @classmethod
    def _beijing(cls, v: datetime) -> datetime:
        # ``yyyy-MM-ddTHH:mm:ss+08:00`` on the wire; the ledger keeps naive Beijing time
        return to_beijing(v)

    # -- what the pipeline and the ledger read from any record ---------------------------------
    origin: ClassVar[str] = "credit"
    withdrawn: ClassVar[bool] = False
    syncable: ClassVar[bool] = True
    dept_code: ClassVar[str | None] = None

    @property
    def status(self) -> str:
        return self.type.lower()

    @property
    def doc_no(self) -> str | None:
        return self.cf_wsh

    @property
    def party_name(self) -> str:
        return self.uscc

    @property
    def party_code(self) -> str | None:
        return self.uscc

    @property
    def event_date(self) -> date:
        return self.occurred_at.date()

    @property
    def updated_at(self) -> datetime:
        return self.occurred_at

    @property
    def natural_key(self) -> str:
        return self.id
