"""How the 互联网+监管 前置库 is configured (``type: hlwjg``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.contract.config import SecretRef, SystemConfig


class HlwjgConfig(SystemConfig):
    type: Literal["hlwjg"]
    url: SecretRef  # SQLAlchemy URL of the 前置库 (it holds a password)
    batch_size: int = Field(default=200, ge=1, le=5000)  # rows per write batch (one CD_BATCH)
    submitter: str = "zhifa-sync"  # SUBMITTED_PERSONNEL
    feedback_timeout_minutes: int = Field(default=240, ge=1)  # rows without feedback this long show in status
    connect_timeout_s: int = Field(default=10, ge=1)  # opening a connection to the 前置库
    statement_timeout_s: int = Field(default=60, ge=1)  # one statement (where the driver allows it)
