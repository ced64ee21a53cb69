"""The configuration file: one YAML file, validated whole at start.

Secrets (passwords, app secrets) are never written in the file: each is ``{env: NAME}`` or
``{file: /path}`` (e.g. a systemd ``LoadCredential=`` path) and is held as ``SecretStr``, so it never
shows in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


class WebhookChannel(_Frozen):
    """A generic JSON webhook: POST {"title", "text", "urgent", "key"}."""

    type: Literal["webhook"]
    name: str | None = None
    url: str | SecretRef


class WecomChannel(_Frozen):
    """A 企业微信 group robot; its URL carries the robot's key, so it is a secret reference."""

    type: Literal["wecom"]
    name: str | None = None
    url: SecretRef


class DingtalkChannel(_Frozen):
    """A 钉钉 robot; with ``secret`` (加签) each call is signed (timestamp + HMAC-SHA256)."""

    type: Literal["dingtalk"]
    name: str | None = None
    url: SecretRef
    secret: SecretRef | None = None


class SmtpChannel(_Frozen):
    """Mail through an SMTP server: STARTTLS (587), SSL (465) or none (a local relay)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type: Literal["smtp"]
    name: str | None = None
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout_s: float = Field(default=15.0, gt=0)
    # The CA (PEM) that signed the server's certificate, for a bureau's own or internal CA; relative
    # to the configuration file. None: the system's CAs.
    ca_file: Path | None = None


CHANNEL_MODELS: dict[str, type[BaseModel]] = {
    "wecom": WecomChannel,
    "dingtalk": DingtalkChannel,
    "smtp": SmtpChannel,
    "webhook": WebhookChannel,
}
CHANNEL_TYPES = tuple(CHANNEL_MODELS)
Channel = Annotated[
    WebhookChannel | WecomChannel | DingtalkChannel | SmtpChannel, Field(discriminator="type")
]


class AlertsConfig(_Frozen):
    """Where alerts go and when (docs/alerts.md)."""

    channels: list[Channel] = []
    quiet_hours: str | None = "22:00-07:00"  # non-urgent alerts wait till it ends; None: never quiet
    min_interval_minutes: float = Field(default=60, ge=0)  # the same alert at most this often
    due_within_workdays: int = Field(default=2, ge=0, le=7)  # "due soon" on the credit platform

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            quiet_window(v)
        except ValueError:
            raise ValueError(f"应为 HH:MM-HH:MM, 如 22:00-07:00 (得到 {v!r})") from None
        return v


def quiet_window(text: str) -> tuple[time, time]:
    """``"22:00-07:00"`` as (start, end); raises ``ValueError`` when it is not that shape."""
    start, end = text.split("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


class Settings(_Frozen):
    database: DatabaseConfig = DatabaseConfig()
    mappings_dir: Path = Path("mappings")
    # Holidays for years the chinese-calendar package does not know (administrator-edited).
    holidays_file: Path = Path("mappings/holidays.csv")
    systems: dict[str, SystemConfig]
    pipelines: list[PipelineConfig]
    console: ConsoleConfig = ConsoleConfig()
    reconcile: ReconcileConfig = ReconcileConfig()  # every pipeline's, unless it has its own
    alerts: AlertsConfig = AlertsConfig()
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
    if len(loc) > 3 and loc[:2] == ("alerts", "channels") and loc[3] in CHANNEL_TYPES:
        loc = loc[:3] + loc[4:]  # likewise a channel's type
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
    settings = _alert_secrets_placed(settings, base, credentials_dir(secrets_dir))
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
            raw = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
            errors.append(f"{_loc(raw)}: {_message(err, raw)}")
        raise ConfigError(errors) from None


# pydantic's error types, in the operator's words ({…} from the error's context).
_MESSAGES: dict[str, str] = {
    "missing": "缺少必填项",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文本",
    "list_type": "应为列表 ([a, b])",
    "dict_type": "应为映射 (key: value)",
    "model_type": "应为映射 (key: value)",
    "literal_error": "应为以下之一: {expected}",
    "union_tag_invalid": "未知的系统类型 {tag}; 应为以下之一: {expected_tags}",
    "union_tag_not_found": "缺少 type (系统类型: district, municipal, credit, hlwjg)",
    "string_pattern_mismatch": "格式不符 (应匹配 {pattern})",
    "too_short": "至少应有 {min_length} 项",
    "too_long": "至多可有 {max_length} 项",
    "datetime_from_date_parsing": "应为日期时间, 如 2024-01-01 00:00:00",
}


def _message(err: Any, loc: tuple[int | str, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "model_type" and err.get("ctx", {}).get("class_name") == "SecretRef":
        return "密钥不能直接写在配置文件中: 请写 {env: 环境变量名} 或 {file: /密钥文件路径}"
    if kind.startswith("union_tag_") and loc[:2] == ("alerts", "channels"):
        tag = err.get("ctx", {}).get("tag")
        head = f"未知的告警渠道类型 {tag}" if kind == "union_tag_invalid" else "缺少 type (告警渠道类型)"
        return f"{head}; 应为以下之一: {', '.join(CHANNEL_TYPES)}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    template = _MESSAGES.get(kind)
    if template is None:
        return f"无效的值 ({err['msg']})"
    return template.format_map(_Default(err.get("ctx") or {}))


class _Default(dict[str, Any]):
    """An error's context for a message: numbers as written (0, not 0.0), lists with commas."""

    def __init__(self, ctx: dict[str, Any]) -> None:
        super().__init__({k: _shown(v) for k, v in ctx.items()})

    def __missing__(self, key: str) -> str:
        return "?"


def _shown(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.replace(" or ", ", ")
    return value


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    key = str(loc[-1])
    known = sorted(_model_at(loc[:-1]).model_fields)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; 是否应为 {close[0]}?" if close else f"; 可用的配置项: {', '.join(known)}"
    return f"未知的配置项 {key}{hint}"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model that validates the mapping at ``loc`` (pydantic's path, with the systems' type tags)."""
    model: type[BaseModel] = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        if part in TYPES and model is not Settings:
            model = TYPES[part].config
            continue
        if part in CHANNEL_MODELS and model in CHANNEL_MODELS.values():
            model = CHANNEL_MODELS[part]  # a channel's tag, after the union's first model
            continue
        field = model.model_fields.get(part)
        inner = _inner_model(field.annotation) if field is not None else None
        if inner is not None:
            model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _inner_model(arg)) is not None:
            return found
    return None


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
    credentials = credentials_dir(secrets_dir)
    refs: dict[str, SecretRef] = {}
    for name, system in settings.systems.items():
        for field, ref in system.secret_refs().items():
            refs[f"{name}.{field}"] = _placed(ref, base, credentials)
    return Secrets(refs=refs)


def credentials_dir(secrets_dir: Path | None) -> Path | None:
    return secrets_dir or (Path(d) if (d := os.environ.get("CREDENTIALS_DIRECTORY")) else None)


def _placed(ref: SecretRef, base: Path, credentials: Path | None) -> SecretRef:
    """A secret file relative to the configuration file's folder, a unit's credential from ``credentials``."""
    if ref.file is not None and not ref.file.is_absolute():
        ref = ref.model_copy(update={"file": base / ref.file})
    if ref.file is not None and credentials is not None and ref.file.parent.parent == CREDENTIALS_ROOT:
        ref = ref.model_copy(update={"file": credentials / ref.file.name})
    return ref


def _alert_secrets_placed(settings: Settings, base: Path, credentials: Path | None) -> Settings:
    """The alert channels' secret files found as the systems' are (their secrets are read when sent),
    and an SMTP channel's CA file beside the configuration file."""
    channels = []
    for channel in settings.alerts.channels:
        update: dict[str, object] = {
            k: _placed(v, base, credentials) for k, v in channel if isinstance(v, SecretRef)
        }
        if isinstance(channel, SmtpChannel) and channel.ca_file and not channel.ca_file.is_absolute():
            update["ca_file"] = base / channel.ca_file
        channels.append(channel.model_copy(update=update))
    alerts = settings.alerts.model_copy(update={"channels": channels})
    return settings.model_copy(update={"alerts": alerts})
