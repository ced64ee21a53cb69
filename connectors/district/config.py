"""How the district platform is configured (``type: district``)."""

from __future__ import annotations

from typing import Literal

from connectors.contract.config import SecretRef, WindowedSystemConfig


class DistrictConfig(WindowedSystemConfig):
    type: Literal["district"]
    username: str  # the API account (not a secret)
    password: SecretRef
