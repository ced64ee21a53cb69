"""The configuration file: one YAML file, validated whole at start.

Secrets (passwords, app secrets) are never written in the file: each is ``{env: NAME}`` or
``{file: /path}`` (e.g. a systemd ``LoadCredential=`` path) and is held as ``SecretStr``, so it never
shows in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from connectors.contract.config import SecretRef, Secrets
from connectors.contract.errors import ConfigError
from connectors.systems import TYPES, SystemConfig


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Schedule(_Frozen):
    interval_minutes: float | None = Field(default=None, gt=0)
    cron: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.interval_minutes is None) == (self.cron is None):
            raise ValueError("应且只应给出 interval_minutes 或 cron 之一")
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron 表达式无效: {exc}") from None
        return self


class ReconcileConfig(_Frozen):
    """When and how the scheduled reconciliation runs (``zhifa-sync reconcile``; docs/operations.md)."""

    enabled: bool = True
    cron: str = "30 2 * * *"  # nightly, at 02:30 Beijing time
    # Only records changed in the last this many days (None: since the pipeline's ``start``).
    window_days: int | None = Field(default=None, ge=1)
    repair: bool = False  # re-push what it finds (missing, stale, diverged) without an operator

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        try:
            CronTrigger.from_crontab(v)
        except ValueError as exc:
            raise ValueError(f"cron 表达式无效: {exc}") from None
        return v


class PipelineConfig(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    source: str
    kind: Literal["inspection", "penalty", "credit_event"]
    targets: list[str] = Field(min_length=1)
    schedule: Schedule = Schedule(interval_minutes=10)
    enabled: bool = True
    batch_size: int = Field(default=200, ge=1, le=500)
    start: datetime = datetime(2020, 1, 1)  # backfill from here on first run
    lag_s: int = Field(default=5, ge=0)  # stay this far behind the source's clock
    # Flow 3: how far the clocks of this pipeline's source and of the system it writes back into may
    # disagree (it reads only up to where the pipelines reading that system have read, less this).
    clock_margin_s: int = Field(default=60, ge=0)
    auto_retry_attempts: int = Field(default=10, ge=0)  # later runs retry a transient failure this often
    reconcile: ReconcileConfig | None = None  # None: the file's top-level ``reconcile``

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any) -> Any:
        if isinstance(v, str):
            return datetime.fromisoformat(v)
        return v


class DatabaseConfig(_Frozen):
    url: str = "sqlite:///zhifa-sync.db"
    auto_upgrade: bool = True


class ConsoleConfig(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=8640, ge=0, le=65535)
    session_minutes: int = Field(default=480, ge=1)
    # Reverse proxies (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed;
    # from anyone else those headers are ignored. None by default.
    trusted_proxies: list[str] = []
    # The session cookie's Secure flag: true / false, or unset: on for requests that came over HTTPS.
    # true also tells ``check`` and the start-up warning that a TLS proxy serves the console.
    secure_cookies: bool | None = None
    # The cookie-signing key: a secret reference ({env: ...} / {file: ...}); unset: a 0600 file
    # ``console-secret`` beside the SQLite ledger (or ``secret_file``), made on first start.
    secret: SecretRef | None = None
    secret_file: Path | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"不是有效的 IP 地址或网段: {entry!r}") from None
        return v


class Settings(_Frozen):
    database: DatabaseConfig = DatabaseConfig()
    mappings_dir: Path = Path("mappings")
    # Holidays for years the chinese-calendar package does not know (administrator-edited).
    holidays_file: Path = Path("mappings/holidays.csv")
    systems: dict[str, SystemConfig]
    pipelines: list[PipelineConfig]
    console: ConsoleConfig = ConsoleConfig()
    reconcile: ReconcileConfig = ReconcileConfig()  # every pipeline's, unless it has its own
    log_format: Literal["auto", "json", "console"] = "auto"
    # The zone times are shown in and cron schedules read in (the ledger and the wire stay Beijing time).
    timezone: str = "Asia/Shanghai"
    # A run with no page read and no push finished for this long is stuck: reported in /healthz, the log
    # and metrics, and abandoned so the next scheduled run can start (zhifa_sync.service).
    stuck_after_s: float = Field(default=300, gt=0)
    # On SIGTERM, how long runs may take to finish the page in hand before the service exits anyway
    # (well inside TimeoutStopSec of config/zhifa-sync.service).
    stop_grace_s: float = Field(default=20, gt=0)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"未知的时区 {v!r} (例如 Asia/Shanghai)") from None
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def pipeline(self, name: str) -> PipelineConfig:
        for p in self.pipelines:
            if p.name == name:
                return p
        raise KeyError(name)

    def reconcile_of(self, name: str) -> ReconcileConfig:
        """The reconciliation settings of pipeline ``name``: its own, else the file's."""
        return self.pipeline(name).reconcile or self.reconcile


def _loc(loc: tuple[int | str, ...]) -> str:
    if len(loc) > 2 and loc[0] == "systems" and loc[2] in TYPES:
        loc = loc[:2] + loc[3:]  # the union's tag (the system's type) is not part of the path in the file
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(根)"


def load_settings(path: Path | str, *, base_dir: Path | None = None) -> tuple[Settings, Secrets]:
    """Read, validate and cross-check the file; raise ``ConfigError`` listing every problem with its path."""
    path = Path(path)
    settings = _validated(_read(path))
    base = base_dir or path.parent
    settings = _with_absolute_paths(settings, base)
    errors = _cross_check(settings)
    secrets = _resolve_secrets(settings, base, errors)
    if errors:
        raise ConfigError(errors)
    return settings, secrets


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: 无法读取: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML 语法错误: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: 顶层应为映射 (key: value)"])
    return data


def _validated(data: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = _loc(tuple(p for p in err["loc"] if not str(p).startswith("function-")))
            errors.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError(errors) from None


def _with_absolute_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths are taken from the configuration file's folder."""
    for key in ("mappings_dir", "holidays_file"):
        if not getattr(settings, key).is_absolute():
            settings = settings.model_copy(update={key: (base / getattr(settings, key)).resolve()})
    return settings


def _cross_check(settings: Settings) -> list[str]:
    """Pipelines that name systems the file does not define, or twice the same name."""
    errors: list[str] = []
    defined = ", ".join(settings.systems)
    seen: set[str] = set()
    for i, p in enumerate(settings.pipelines):
        where = f"pipelines[{i}]"
        if p.name in seen:
            errors.append(f"{where}.name: 管道名称 {p.name} 重复")
        seen.add(p.name)
        if p.source not in settings.systems:
            errors.append(f"{where}.source: 未定义的系统 {p.source} (已定义: {defined})")
        for j, t in enumerate(p.targets):
            if t not in settings.systems:
                errors.append(f"{where}.targets[{j}]: 未定义的系统 {t} (已定义: {defined})")
            elif t == p.source:
                errors.append(f"{where}.targets[{j}]: 目标系统不能与来源系统相同 ({t})")
    return errors


def _resolve_secrets(settings: Settings, base: Path, errors: list[str]) -> Secrets:
    secrets: dict[str, SecretStr] = {}
    for name, system in settings.systems.items():
        for field, ref in system.secret_refs().items():
            if ref.file is not None and not ref.file.is_absolute():
                ref = ref.model_copy(update={"file": base / ref.file})
            try:
                secrets[f"{name}.{field}"] = ref.resolve()
            except ValueError as exc:
                errors.append(f"systems.{name}.{field}: {exc}")
    return Secrets(secrets)
