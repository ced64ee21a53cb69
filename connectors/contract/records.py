"""The canonical record model: every connector translates to and from these.

Codes are the source district's own code lists (the mapping tables translate them for each target);
amounts are ``Decimal`` in 元; times are naive Beijing time. ``parse_record`` turns a raw dict into a
model or raises ``RecordInvalid`` listing every bad field, in Chinese, with the value (masked where
personal).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.contract.errors import FieldError, RecordInvalid
from connectors.contract.events import CreditEvent
from connectors.contract.validators import (
    control_char_problem,
    escape_controls,
    id_card_problem,
    mask_id,
    region_problem,
    uscc_problem,
)

RecordKind = Literal["inspection", "penalty", "credit_event"]
KINDS: tuple[RecordKind, ...] = ("inspection", "penalty")  # what the district platform holds


def _strip(v: Any) -> Any:
    if isinstance(v, str):
        if "\ufffd" in v:  # bytes that were not UTF-8, replaced when the page was decoded
            raise ValueError("含有无法识别的字符 (来源数据不是 UTF-8 编码): 请在来源系统更正")
        if problem := control_char_problem(v):  # a NUL never reaches a target or the ledger
            raise ValueError(f"{problem}: 来源数据有误, 请在来源系统更正")
        return v.strip()
    return v


def _blank_to_none(v: Any) -> Any:
    v = _strip(v)
    return None if v == "" else v


def parse_time(text: str) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` exactly (fromisoformat is ~10x faster than strptime; the shape check
    keeps it from accepting the other ISO forms)."""
    if len(text) != 19 or text[10] != " " or text[4] != "-" or text[13] != ":":
        raise ValueError(text)
    return datetime.fromisoformat(text)


def _parse_time(v: Any) -> Any:
    if isinstance(v, str):
        v = unicodedata.normalize("NFKC", v).strip()  # full-width digits are digits
        try:
            return parse_time(v)
        except ValueError:
            raise ValueError(f"时间格式应为 yyyy-MM-dd HH:mm:ss, 实际为 {v!r}") from None
    return v


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_THOUSANDS_RE = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")


def _parse_date(v: Any) -> Any:
    if isinstance(v, str):
        text = unicodedata.normalize("NFKC", v).strip()
        try:
            if not _DATE_RE.match(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"日期格式应为 yyyy-MM-dd, 实际为 {v!r}") from None
    return v


def _parse_amount(v: Any) -> Any:
    if isinstance(v, bool | float):
        raise ValueError("金额应为十进制字符串 (元), 不接受浮点数")
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, str):
        # Normalise what has one meaning (full-width digits, a trailing 元, thousands separators);
        # refuse what has two (an amount in 万元 in a field that holds 元).
        text = unicodedata.normalize("NFKC", v).strip().removesuffix("元").strip()
        if "万" in text:
            raise ValueError(f"金额单位应为元, 不接受万元 ({v!r}): 请在来源系统更正")
        if _THOUSANDS_RE.match(text):
            text = text.replace(",", "")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"金额应为数字 (元), 实际为 {v!r}") from None
        if not amount.is_finite():
            raise ValueError(f"金额无效: {v!r}")
        return amount
    return v


Str = Annotated[str, BeforeValidator(_strip)]
OptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
Time = Annotated[datetime, BeforeValidator(_parse_time)]
Day = Annotated[date, BeforeValidator(_parse_date)]
Amount = Annotated[Decimal, BeforeValidator(_parse_amount)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Enterprise(_Model):
    name: Str = Field(min_length=1, max_length=200)
    uscc: Str
    address: OptStr = None
    region_code: Str

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, v: str) -> str:
        v = v.upper()
        if problem := uscc_problem(v):
            raise ValueError(f"统一社会信用代码 {v} {problem}")
        return v

    @field_validator("region_code")
    @classmethod
    def _region(cls, v: str) -> str:
        if problem := region_problem(v):
            raise ValueError(f"{problem}, 实际为 {v!r}")
        return v


class Party(_Model):
    type: Literal["1", "2", "3"]
    name: Str = Field(min_length=1, max_length=200)
    uscc: OptStr = None
    legal_rep: OptStr = None
    id_type: OptStr = None
    id_no: OptStr = None

    @model_validator(mode="after")
    def _by_type(self) -> Party:
        if self.type in ("1", "3"):
            if not self.uscc:
                raise ValueError("法人/个体工商户须有统一社会信用代码 (party.uscc)")
            if problem := uscc_problem(self.uscc.upper()):
                raise ValueError(f"party.uscc: 统一社会信用代码 {self.uscc} {problem}")
            if self.type == "1" and not self.legal_rep:
                raise ValueError("法人及非法人组织须有法定代表人 (party.legal_rep)")
        else:
            if not self.id_type or not self.id_no:
                raise ValueError("自然人须有证件类型和证件号码 (party.id_type, party.id_no)")
            if self.id_type == "SFZ" and (problem := id_card_problem(self.id_no.upper())):
                raise ValueError(f"party.id_no: 身份证号 {mask_id(self.id_no)} {problem}")
        return self

    @field_validator("uscc", "id_no")
    @classmethod
    def _upper(cls, v: str | None) -> str | None:
        # 身份证 final x is sent upper-cased; USCCs are upper-case by definition.
        return v.upper() if v else v


class LicenseAction(_Model):
    type: Literal["06", "08"]
    license_name: Str
    license_no: Str
    period: OptStr = None


class ExternalOfficer(_Model):
    """An officer who is not a district user (a city team's), known by 执法证号 and name."""

    cert_no: Str = Field(min_length=1)
    name: OptStr = None


class _Record(_Model):
    kind: ClassVar[RecordKind]
    id: Str = Field(min_length=1, max_length=64)
    origin: Str = "district"
    # Officers who are not district users: given as ``{"cert_no", "name"}`` objects in ``officers``
    # (the district's own copies of city records), moved here so ``officers`` stays district user ids.
    external_officers: list[ExternalOfficer] = []
    officers: list[Str]
    dept_code: OptStr = None
    item_code: Str = Field(min_length=1)
    updated_at: Time
    # Codes of the origin system that have no canonical field (a record with ``origin`` ≠ district
    # keeps its origin's codes in the code fields; the target maps them back, e.g. municipal ``sfla``).
    source_codes: dict[Str, Str] = {}

    @model_validator(mode="before")
    @classmethod
    def _split_officers(cls, data: Any) -> Any:
        officers = data.get("officers") if isinstance(data, dict) else None
        if isinstance(officers, list) and any(isinstance(o, dict) for o in officers):
            data = {
                **data,
                "officers": [o for o in officers if not isinstance(o, dict)],
                "external_officers": [
                    *data.get("external_officers", []),
                    *(o for o in officers if isinstance(o, dict)),
                ],
            }
        return data

    @field_validator("officers")
    @classmethod
    def _two_officers(cls, v: list[str], info: ValidationInfo) -> list[str]:
        n = len(set(v)) + len({o.cert_no for o in info.data.get("external_officers", [])})
        if n < 2:
            raise ValueError(f"至少需要两名执法人员, 实际 {n} 名")
        return v


def inspection_key(uscc: str, day: date, item_code: str) -> str:
    """An inspection's natural key: the enterprise's USCC, the inspection date and the (district) item."""
    return f"{uscc}|{day}|{item_code}"


class Inspection(_Record):
    kind: ClassVar[RecordKind] = "inspection"
    status: Literal["draft", "submitted", "void"]
    enterprise: Enterprise
    inspection_type: Str
    plan_id: OptStr = None
    started_at: Time
    ended_at: Time
    result: Str
    # None when the source left the count empty (the city's yhsl/zdyhsl are optional): never 0 invented
    hazard_count: int | None = Field(default=None, ge=0)
    major_hazard_count: int | None = Field(default=None, ge=0)
    document_no: OptStr = None

    @model_validator(mode="after")
    def _times(self) -> Inspection:
        if self.ended_at < self.started_at:
            raise ValueError("检查结束时间 (ended_at) 早于开始时间 (started_at)")
        return self

    @property
    def syncable(self) -> bool:
        return self.status != "draft"

    @property
    def withdrawn(self) -> bool:
        return self.status == "void"

    @property
    def natural_key(self) -> str:
        return inspection_key(self.enterprise.uscc, self.started_at.date(), self.item_code)

    @property
    def doc_no(self) -> str | None:
        return self.document_no

    @property
    def party_name(self) -> str:
        return self.enterprise.name

    @property
    def party_code(self) -> str | None:
        return self.enterprise.uscc

    @property
    def event_date(self) -> date:
        return self.started_at.date()


class Penalty(_Record):
    kind: ClassVar[RecordKind] = "penalty"
    status: Literal["filed", "decided", "revoked", "closed"]
    decision_no: Str = Field(min_length=1, max_length=128)
    party: Party
    inspection_id: OptStr = None
    violation: Str = Field(min_length=1, max_length=2000)
    facts: Str = Field(min_length=1, max_length=2000)
    basis: Str = Field(min_length=1, max_length=2048)
    penalty_types: list[Str] = Field(min_length=1)
    fine_yuan: Amount = Decimal("0")
    confiscation_yuan: Amount = Decimal("0")
    license_action: LicenseAction | None = None
    procedure: Literal["general", "summary"]
    decided_on: Day
    double_penalty: bool = False

    @field_validator("fine_yuan", "confiscation_yuan")
    @classmethod
    def _amount(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError(f"金额不能为负数: {v}")
        if v.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError(f"金额最多两位小数 (元): {v}")
        return v.quantize(Decimal("0.01"))

    @model_validator(mode="after")
    def _fine(self) -> Penalty:
        if "03" in self.penalty_types and self.fine_yuan <= 0:
            raise ValueError("处罚类别含罚款 (03) 但罚款金额 fine_yuan 为 0")
        if any(t in self.penalty_types for t in ("06", "08")) and self.license_action is None:
            raise ValueError("处罚类别含暂扣/吊销许可证件但缺少 license_action")
        return self

    @property
    def syncable(self) -> bool:
        return self.status != "filed"

    @property
    def withdrawn(self) -> bool:
        return self.status == "revoked"

    @property
    def natural_key(self) -> str:
        from connectors.contract.validators import normalize_decision_no

        return normalize_decision_no(self.decision_no)

    @property
    def doc_no(self) -> str | None:
        return self.decision_no

    @property
    def party_name(self) -> str:
        return self.party.name

    @property
    def party_code(self) -> str | None:
        return self.party.uscc or (mask_id(self.party.id_no) if self.party.id_no else None)

    @property
    def event_date(self) -> date:
        return self.decided_on


Record = Inspection | Penalty
# A CreditEvent (flow 4) is not part of ``Record`` — connectors that translate penalties need not
# handle it — but quacks like one for the pipeline and the ledger (see connectors/contract/events.py).
MODELS: dict[str, type[Inspection] | type[Penalty] | type[CreditEvent]] = {
    "inspection": Inspection,
    "penalty": Penalty,
    "credit_event": CreditEvent,
}

_STATUS_SKIP = {"inspection": "draft", "penalty": "filed"}


def is_unsubmitted(kind: RecordKind, raw: dict[str, Any]) -> bool:
    """Drafts and filed-but-undecided cases are never synced (and may be incomplete)."""
    return kind in _STATUS_SKIP and raw.get("status") == _STATUS_SKIP[kind]


_MESSAGES = {
    "missing": "必填字段缺失",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为列表",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "model_attributes_type": "应为对象",
    "datetime_type": "应为时间 yyyy-MM-dd HH:mm:ss",
    "date_type": "应为日期 yyyy-MM-dd",
    "decimal_type": "应为金额 (元)",
}


def _chinese(err: Any) -> str:
    """Pydantic's English messages, said in Chinese for the operator."""
    kind, ctx = err["type"], err.get("ctx", {})
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "literal_error":
        return f"取值无效, 应为 {ctx.get('expected', '')}"
    if kind == "string_too_long":
        return f"过长: 最多 {ctx.get('max_length')} 字"
    if kind == "string_too_short":
        return "不能为空"
    if kind == "too_short":
        return f"至少需要 {ctx.get('min_length')} 项"
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
    return str(err["msg"]).removeprefix("Value error, ")


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    return ".".join(parts) or "(记录)"


_JSON_TYPES = {list: "数组", str: "字符串", int: "数字", float: "数字", bool: "布尔值", type(None): "null"}


def parse_record(kind: RecordKind, raw: Any) -> Record:
    """Validate a raw record into the canonical model, or raise ``RecordInvalid`` naming every field."""
    if not isinstance(raw, dict):
        # No id to name it by: one failure per distinct item, named by what it holds.
        what = _JSON_TYPES.get(type(raw), type(raw).__name__)
        text = json.dumps(raw, ensure_ascii=False, default=str)[:60]
        raise RecordInvalid(
            "?" + stable_hash(raw)[:12],
            [
                FieldError(
                    "(记录)",
                    f"应为 JSON 对象, 实际为 {what}: {text} (来源系统返回了无法识别的条目, 请来源系统厂商更正)",
                )
            ],
        )
    record_id = escape_controls(str(raw.get("id") or raw.get("eventId") or "?"))
    try:
        return cast(Record, MODELS[kind].model_validate(raw))  # a CreditEvent stands in for a Record
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_input=False):
            msg = _chinese(err)
            errors.append(FieldError(_field_path(err["loc"]), msg))
        raise RecordInvalid(record_id, errors) from None


def stable_hash(payload: Any) -> str:
    """Hash of a JSON-able payload, stable across runs (sorted keys, Decimals as text)."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
