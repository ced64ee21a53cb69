"""How the credit-information platform (双公示) is configured (``type: credit``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from connectors.contract.config import HttpSystemConfig, SecretRef


class CreditConfig(HttpSystemConfig):
    type: Literal["credit"]
    app_key: str  # X-App-Id, registered for our data source
    app_secret: SecretRef
    batch_size: int = Field(default=200, ge=1, le=200)
    # the platform allows 5 calls/s per app and spends the nonce of a refused call: paced just below it
    rate_limit_per_s: float = Field(default=5, ge=0)
    data_source_name: str | None = None  # 数据来源单位 (CF_SJLY); default: the department's agency
    data_source_uscc: str | None = None  # its USCC (CF_SJLYDM): the source the app is registered for
    send_summary: bool = False  # summary-procedure (简易程序) penalties are not published by default
    serious_fine_yuan: Decimal = Decimal("500000.00")  # a fine at or above this is 严重 (3-year period)
    general_period_years: int = Field(default=1, ge=1, le=10)
    serious_period_years: int = Field(default=3, ge=1, le=10)
