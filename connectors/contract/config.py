"""How one external system is configured: its secrets (``{env}``/``{file}`` references), retry policy
and connection settings.

Secrets (passwords, app secrets) are never written in the configuration file: each is ``{env: NAME}`` or
``{file: /path}`` (e.g. a systemd ``LoadCredential=`` path) and is held as ``SecretStr``, so it never
shows in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.contract.errors import ConfigError


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

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"网址无效: {v!r}; 应以 http:// 或 https:// 开头并含主机名, 如 https://zfjd.example.gov.cn"
            )
        return v


class WindowedSystemConfig(HttpSystemConfig):
    """A REST source read by ``updated_at`` windows (``connectors.paging``)."""

    # Each pull re-reads this far before the cursor, for edits stamped by a clock that stepped back;
    # unchanged records cost nothing downstream. Size it to the largest step the source's clock takes.
    overlap_s: int = Field(default=600, ge=0)


class Secrets:
    """Secrets by ``system.field``, resolved from their references only when asked for.

    A command that never contacts a system (``status``, ``failures list``, ``users``, ``db upgrade``)
    never reads that system's secrets, so it works where they are not available (outside the unit,
    without the environment variables). ``get`` raises ``ConfigError`` naming the secret's path in the
    configuration file when its reference cannot be resolved; ``problems`` lists every one at once."""

    def __init__(
        self, values: dict[str, SecretStr] | None = None, refs: dict[str, SecretRef] | None = None
    ) -> None:
        self._values = dict(values or {})
        self._refs = dict(refs or {})

    def get(self, system: str, field: str) -> str:
        return self._resolved(f"{system}.{field}").get_secret_value()

    def _resolved(self, key: str) -> SecretStr:
        if key not in self._values:
            try:
                self._values[key] = self._refs[key].resolve()
            except ValueError as exc:
                raise ConfigError([f"systems.{key}: {exc}"]) from None
        return self._values[key]

    def _keys(self, systems: Iterable[str] | None) -> list[str]:
        keys = sorted({*self._values, *self._refs})
        if systems is None:
            return keys
        wanted = set(systems)
        return [k for k in keys if k.split(".", 1)[0] in wanted]

    def problems(self, systems: Iterable[str] | None = None) -> list[str]:
        """Every secret of these systems (all when None) that cannot be resolved, with its path."""
        found: list[str] = []
        for key in self._keys(systems):
            try:
                self._resolved(key)
            except ConfigError as exc:
                found.extend(exc.errors)
        return found

    def require(self, systems: Iterable[str] | None = None) -> None:
        """Raise ``ConfigError`` listing every unresolvable secret of these systems."""
        if found := self.problems(systems):
            raise ConfigError(found)

    def only(self, system: str) -> Secrets:
        """The secrets of one system, resolved (what a push process for it is given)."""
        keys = self._keys([system])
        return Secrets({k: self._resolved(k) for k in keys})

    def __repr__(self) -> str:
        return f"Secrets({self._keys(None)})"
