"""The configuration file: one YAML file, validated whole at start.

Secrets (passwords, app secrets) are never written in the file: each is ``{env: NAME}`` or
``{file: /path}`` (e.g. a systemd ``LoadCredential=`` path) and is held as ``SecretStr``, so it never
shows in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
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


def _loc(loc: tuple[int | str, ...]) -> str:
    if len(loc) > 2 and loc[0] == "systems" and loc[2] in TYPES:
        loc = loc[:2] + loc[3:]  # the union's tag (the system's type) is not part of the path in the file
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(根)"


def load_settings(
    path: Path | str, *, base_dir: Path | None = None, secrets_dir: Path | None = None
) -> tuple[Settings, Secrets]:
    """Read, validate and cross-check the file; raise ``ConfigError`` listing every problem with its path.

    Secrets are not read here: the returned ``Secrets`` resolves a system's references when that system
    is built (``Secrets.require`` checks them all at once, as ``run``, ``sync`` and ``check`` do)."""
    path = Path(path)
    settings = _validated(_read(path))
    base = base_dir or path.parent
    settings = _with_absolute_paths(settings, base)
    errors = _cross_check(settings)
    if errors:
        raise ConfigError(errors)
    return settings, _secret_refs(settings, base, secrets_dir)


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
    """Relative paths are taken from the configuration file's folder, whatever the working directory:
    ``mappings_dir``, ``holidays_file`` and an SQLite ledger's file (``sqlite:///zhifa-sync.db``)."""
    update: dict[str, Any] = {}
    for key in ("mappings_dir", "holidays_file"):
        if not getattr(settings, key).is_absolute():
            update[key] = (base / getattr(settings, key)).resolve()
    url = sqlite_url_against(settings.database.url, base)
    if url != settings.database.url:
        update["database"] = settings.database.model_copy(update={"url": url})
    return settings.model_copy(update=update) if update else settings


def sqlite_url_against(url: str, base: Path) -> str:
    """An SQLite URL with a relative file made absolute against ``base``; any other URL unchanged."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # reported by whoever connects
    db = parsed.database
    if not parsed.drivername.startswith("sqlite") or not db or db == ":memory:" or db.startswith("file:"):
        return url
    if Path(db).is_absolute():
        return url
    return parsed.set(database=str((base / db).resolve())).render_as_string(hide_password=False)


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


CREDENTIALS_ROOT = Path("/run/credentials")  # systemd puts a unit's LoadCredential= files under here


def _secret_refs(settings: Settings, base: Path, secrets_dir: Path | None) -> Secrets:
    """Each system's secret references, files made absolute; resolved only when that system is used.

    A file under ``/run/credentials/UNIT/`` (where the unit's ``LoadCredential=`` puts it) is read from
    ``secrets_dir`` when given (``--secrets-dir /etc/zhifa-sync/credentials``: the files the unit loads),
    else from ``$CREDENTIALS_DIRECTORY`` when set (any unit or ``systemd-run`` with the same
    ``LoadCredential=`` lines), so ``check`` runs outside the service with the same credentials."""
    credentials = secrets_dir or (Path(d) if (d := os.environ.get("CREDENTIALS_DIRECTORY")) else None)
    refs: dict[str, SecretRef] = {}
    for name, system in settings.systems.items():
        for field, ref in system.secret_refs().items():
            if ref.file is not None and not ref.file.is_absolute():
                ref = ref.model_copy(update={"file": base / ref.file})
            if (
                ref.file is not None
                and credentials is not None
                and ref.file.parent.parent == CREDENTIALS_ROOT
            ):
                ref = ref.model_copy(update={"file": credentials / ref.file.name})
            refs[f"{name}.{field}"] = ref
    return Secrets(refs=refs)
