"""The configuration file: one YAML file, validated whole at start.

Secrets (passwords, app secrets) are never written in the file: each is ``{env: NAME}`` or
``{file: /path}`` (e.g. a systemd ``LoadCredential=`` path) and is held as ``SecretStr``, so it never
shows in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

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

from sync.errors import ConfigError

SYSTEM_TYPES = ("district", "municipal", "credit", "hlwjg")


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


class Settings(_Frozen):
    database: DatabaseConfig = DatabaseConfig()
    mappings_dir: Path = Path("mappings")
    # Holidays for years the chinese-calendar package does not know (administrator-edited).
    holidays_file: Path = Path("mappings/holidays.csv")
    systems: dict[str, SystemConfig]
    pipelines: list[PipelineConfig]
    console: ConsoleConfig = ConsoleConfig()
    log_format: Literal["auto", "json", "console"] = "auto"

    def pipeline(self, name: str) -> PipelineConfig:
        for p in self.pipelines:
            if p.name == name:
                return p
        raise KeyError(name)


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


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(根)"


def load_settings(path: Path | str, *, base_dir: Path | None = None) -> tuple[Settings, Secrets]:
    """Read, validate and cross-check the file; raise ``ConfigError`` listing every problem with its path."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: 无法读取: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML 语法错误: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: 顶层应为映射 (key: value)"])
    errors: list[str] = []
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            loc = _loc(tuple(p for p in err["loc"] if not str(p).startswith("function-")))
            errors.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError(errors) from None

    base = base_dir or path.parent
    for key in ("mappings_dir", "holidays_file"):
        if not getattr(settings, key).is_absolute():
            settings = settings.model_copy(update={key: (base / getattr(settings, key)).resolve()})
    seen: set[str] = set()
    for i, p in enumerate(settings.pipelines):
        where = f"pipelines[{i}]"
        if p.name in seen:
            errors.append(f"{where}.name: 管道名称 {p.name} 重复")
        seen.add(p.name)
        if p.source not in settings.systems:
            errors.append(f"{where}.source: 未定义的系统 {p.source} (已定义: {', '.join(settings.systems)})")
        for j, t in enumerate(p.targets):
            if t not in settings.systems:
                errors.append(
                    f"{where}.targets[{j}]: 未定义的系统 {t} (已定义: {', '.join(settings.systems)})"
                )
            elif t == p.source:
                errors.append(f"{where}.targets[{j}]: 目标系统不能与来源系统相同 ({t})")
    secrets: dict[str, SecretStr] = {}
    for name, system in settings.systems.items():
        for field in ("password", "app_secret", "url"):
            ref = getattr(system, field)
            if ref is None:
                continue
            if ref.file is not None and not ref.file.is_absolute():
                ref = ref.model_copy(update={"file": base / ref.file})
            try:
                secrets[f"{name}.{field}"] = ref.resolve()
            except ValueError as exc:
                errors.append(f"systems.{name}.{field}: {exc}")
    if errors:
        raise ConfigError(errors)
    return settings, Secrets(secrets)
