"""How one external system is configured: its secrets (``{env}``/``{file}`` references), retry policy
and connection settings.

Secrets (passwords, app secrets) are never written in the configuration file: each is ``{env: NAME}`` or
``{file: /path}`` (e.g. a systemd ``LoadCredential=`` path) and is held as ``SecretStr``, so it never
shows in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import os
from pathlib import Path

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


class CircuitConfig(_Frozen):
    """A circuit breaker per system: after ``failures`` transient failures in a row, calls fail fast for
    ``cool_down_s``; then one probe call decides (success closes, failure opens again)."""

    failures: int = Field(default=5, ge=1, le=1000)
    cool_down_s: float = Field(default=60.0, gt=0)


class SystemConfig(_Frozen):
    """What every system's configuration has: its ``type`` (which system package reads it) and, for
    each secret, a reference. Each system package defines its own model on top (``connectors/*/config.py``);
    the configuration file's ``systems`` map is validated as a union discriminated by ``type``."""

    type: str

    def secret_refs(self) -> dict[str, SecretRef]:
        """The secrets this system needs, by field name."""
        return {name: value for name, value in self if isinstance(value, SecretRef)}


class HttpSystemConfig(SystemConfig):
    """A REST system: where it is, how long a call may take, how many at once, how fast, how often retried."""

    base_url: str
    timeout_s: float = Field(default=30.0, gt=0)  # per socket operation (connect, each read)
    deadline_s: float = Field(default=30.0, gt=0)  # a whole call: connect + every read, however slow
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)  # a bigger answer is refused
    circuit: CircuitConfig = CircuitConfig()
    concurrency: int = Field(default=4, ge=1, le=64)
    # client-side pace; each system defaults to its documented limit; 0 = no client-side limit
    rate_limit_per_s: float = Field(default=0, ge=0)
    retry: RetryConfig = RetryConfig()


class WindowedSystemConfig(HttpSystemConfig):
    """A REST source read by ``updated_at`` windows (``connectors.paging``)."""

    # Each pull re-reads this far before the cursor, for edits stamped by a clock that stepped back;
    # unchanged records cost nothing downstream. Size it to the largest step the source's clock takes.
    overlap_s: int = Field(default=600, ge=0)


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
