"""How the district platform is configured (``type: district``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.contract.config import HttpSystemConfig, SecretRef


class DistrictConfig(HttpSystemConfig):
    type: Literal["district"]
    username: str  # the API account (not a secret)
    password: SecretRef
    # the platform allows 20 calls/s per token (docs/interfaces/district.md); paced just below it
    rate_limit_per_s: float = Field(default=20, ge=0)
