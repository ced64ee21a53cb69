"""How one external system is configured: its secrets (``{env}``/``{file}`` references), retry policy
and connection settings.

Secrets (passwords, app secrets) are never written in the configuration file: each is ``{env: NAME}`` or
``{file: /path}`` (e.g. a systemd ``LoadCredential=`` path) and is held as ``SecretStr``, so it never
shows in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRef(_Frozen):
    """Where a secret comes from: an environment variable or a file (first line, stripped)."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("应且只应给出 env 或 file 之一 (密钥不能直接写在配置文件中)")
        return self

    def resolve(self) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ValueError(f"环境变量 {self.env} 未设置")
            return SecretStr(value)
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ValueError(f"无法读取密钥文件 {self.file}: {exc.strerror}") from None


class RetryConfig(_Frozen):
    attempts: int = Field(default=5, ge=1, le=20)
    initial_wait_s: float = Field(default=0.5, gt=0)
    max_wait_s: float = Field(default=30.0, gt=0)


class SystemConfig(_Frozen):
    type: Literal["district", "municipal", "credit", "hlwjg"]
    base_url: str | None = None
    url: SecretRef | None = None  # hlwjg: SQLAlchemy URL of the 前置库 (it holds a password)
    username: str | None = None
    password: SecretRef | None = None
    app_key: str | None = None
    app_secret: SecretRef | None = None
    region_code: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    concurrency: int = Field(default=4, ge=1, le=64)
    rate_limit_per_s: float = Field(default=0, ge=0)  # 0 = no client-side limit
    page_size: int = Field(default=200, ge=1, le=500)
    retry: RetryConfig = RetryConfig()
    # Big pages are pushed from a process of their own (a core of its own): see sync/push_process.py.
    # Only systems whose pushes are upserts by our id support it (municipal); off: all in-process.
    push_process: bool = True
    # credit (双公示)
    batch_size: int = Field(default=200, ge=1, le=200)
    data_source_name: str | None = None  # 数据来源单位 (CF_SJLY); default: the department's agency
    data_source_uscc: str | None = None  # its USCC (CF_SJLYDM): the source the app is registered for
    send_summary: bool = False  # summary-procedure (简易程序) penalties are not published by default
    serious_fine_yuan: Decimal = Decimal("500000.00")  # a fine at or above this is 严重 (3-year period)
    general_period_years: int = Field(default=1, ge=1, le=10)
    serious_period_years: int = Field(default=3, ge=1, le=10)
    # hlwjg (前置库)
    submitter: str = "zhifa-sync"  # SUBMITTED_PERSONNEL
    feedback_timeout_minutes: int = Field(default=240, ge=1)  # rows without feedback this long show in status

    @model_validator(mode="after")
    def _required(self) -> SystemConfig:
        need = {
            "district": ("base_url", "username", "password"),
            "municipal": ("base_url", "app_key", "app_secret", "region_code"),
            "credit": ("base_url", "app_key", "app_secret"),
            "hlwjg": ("url",),
        }[self.type]
        missing = [name for name in need if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.type} 类型的系统必须配置: {', '.join(missing)}")
        return self


class Secrets:
    """Resolved secrets by ``system.field``; values are ``SecretStr``."""

    def __init__(self, values: dict[str, SecretStr]) -> None:
        self._values = values

    def get(self, system: str, field: str) -> str:
        return self._values[f"{system}.{field}"].get_secret_value()

    def only(self, system: str) -> Secrets:
        """The secrets of one system (what a push process for it is given)."""
        return Secrets({k: v for k, v in self._values.items() if k.startswith(f"{system}.")})

    def __repr__(self) -> str:
        return f"Secrets({sorted(self._values)})"
