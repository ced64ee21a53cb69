"""How the municipal enforcement system is configured (``type: municipal``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.contract.config import HttpSystemConfig, SecretRef


class MunicipalConfig(HttpSystemConfig):
    type: Literal["municipal"]
    app_key: str  # the district's appKey at the city gateway (not a secret)
    app_secret: SecretRef
    region_code: str  # our 行政区划代码: finds hand-typed city records of the district
    # the gateway allows 10 calls/s per appKey (docs/interfaces/municipal.md); paced just below it
    rate_limit_per_s: float = Field(default=10, ge=0)
    # Big pages are pushed from a process of their own (a core of its own): see sync/push_process.py.
    push_process: bool = True
