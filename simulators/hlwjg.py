"""Simulator of the 互联网+监管 前置库: the exchange tables, the province's catalogues, and its collector.

The 前置库 is a real database (SQLite file here, PostgreSQL too). The daemon writes rows into
``TR_T_JGXW_CHECK_ACTION`` / ``TR_T_JGXW_PUNISH``; the :class:`Collector` plays the exchange
platform as ``docs/interfaces/hlwjg.md`` describes it: it takes rows whose ``CD_TIME`` is strictly
newer than its watermark, validates them, writes one ``TR_T_FEEDBACK`` row per collected row
version, and keeps what passed in a "national" store that tests can query. Watermark and national
store live in the same database (``SIM_*`` tables), so a restarted collector carries on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from simulators.idcodes import is_ric, is_uscc
from simulators.universe import DEPARTMENTS, INSPECTION_ITEMS, ITEMS, OFFICERS, check_icode

log = logging.getLogger(__name__)

BEIJING = dt.timezone(dt.timedelta(hours=8))
CHECK_ACTION = "TR_T_JGXW_CHECK_ACTION"
PUNISH = "TR_T_JGXW_PUNISH"
FEEDBACK = "TR_T_FEEDBACK"
EXCHANGE_TABLES = (CHECK_ACTION, PUNISH)
# Registered in TR_T_LAW_OFFICER with a VALID_TO in the past: "not registered" for the collector.
EXPIRED_OFFICERS = (
    ("12011629901", "过期甲", "2020-12-31"),
    ("12011629902", "过期乙", "2024-06-30"),
)

S = sa.String
metadata = sa.MetaData()


def _envelope() -> list[sa.Column[Any]]:
    return [
        sa.Column("CD_ID", S(64), primary_key=True),
        sa.Column("CD_TIME", sa.DateTime, index=True),  # microseconds on PostgreSQL and SQLite
        sa.Column("CD_SOURCE", S(20)),
        sa.Column("CD_BATCH", S(20)),
        sa.Column("CD_OPERATION", sa.CHAR(1)),
    ]


def _party() -> list[sa.Column[Any]]:
    return [
        sa.Column("ADMINISTRATIVE_CP", S(200)),
        sa.Column("ADMINISTRATIVE_CP_NA", S(2)),
        sa.Column("ADMINISTRATIVE_CP_CE_TYPE", S(3)),
        sa.Column("ADMINISTRATIVE_CP_UI_CODE", S(20)),
    ]


check_action = sa.Table(
    CHECK_ACTION,
    metadata,
    *_envelope(),
    sa.Column("PLAN_ID", S(50)),
    sa.Column("SUPERVISE_ITEM_CODE", S(14)),
    sa.Column("CHECK_ICODE", S(32)),
    sa.Column("CHECK_ACTION_NAME", S(200)),
    sa.Column("CHECK_ACTION_CODE", S(50)),
    sa.Column("IMPLEMENT_INSTITUTION", S(100)),
    sa.Column("IMPLEMENT_INSTITUTION_CODE", S(18)),
    sa.Column("SUPERVISE_OBJECT", S(200)),
    *_party(),
    sa.Column("ADDRESS_REGISTERED", S(400)),
    sa.Column("AREA_NUMBER", S(6)),
    sa.Column("CHECK_FORM", S(1)),
    sa.Column("CHECK_TYPE", S(1)),
    sa.Column("CHECK_RESULT", S(1)),
    sa.Column("CHECK_DATE", sa.Date),
    sa.Column("CHECK_PERSONNEL", S(500)),
    sa.Column("CHECK_PERSONNEL_CODE", S(500)),
    sa.Column("SUBMITTED_DATE", sa.DateTime),
    sa.Column("SUBMITTED_PERSONNEL", S(50)),
)
punish = sa.Table(
    PUNISH,
    metadata,
    *_envelope(),
    sa.Column("SUPERVISE_ITEM_CODE", S(14)),
    sa.Column("PUNISH_ACTION_NAME", S(200)),
    sa.Column("PUNISH_ACTION_CODE", S(128)),
    sa.Column("CHECK_ACTION_CODE", S(50)),
    sa.Column("IMPLEMENT_INSTITUTION", S(100)),
    sa.Column("IMPLEMENT_INSTITUTION_CODE", S(18)),
    *_party(),
    sa.Column("LEGAL_REPRESENTATIVE", S(50)),
    sa.Column("AREA_NUMBER", S(6)),
    sa.Column("ILLEGAL_FACT", S(2000)),
    sa.Column("PUNISH_BASIS", S(2048)),
    sa.Column("PUNISH_TYPE", S(100)),
    sa.Column("FINE_AMOUNT", sa.Numeric(18, 2)),  # 元
    sa.Column("CONFISCATION_AMOUNT", sa.Numeric(18, 2)),  # 元
    sa.Column("DECISION_DATE", sa.Date),
    sa.Column("PROCEDURE_TYPE", S(1)),
    sa.Column("SUBMITTED_DATE", sa.DateTime),
    sa.Column("SUBMITTED_PERSONNEL", S(50)),
)
feedback = sa.Table(
    FEEDBACK,
    metadata,
    sa.Column("FB_ID", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("TABLE_NAME", S(64), nullable=False),
    sa.Column("CD_ID", S(64), nullable=False),
    sa.Column("CD_BATCH", S(20)),
    sa.Column("STATUS", sa.CHAR(1), nullable=False),
    sa.Column("ERROR_MSG", S(2000)),
    sa.Column("FEEDBACK_TIME", sa.DateTime, nullable=False),
    sqlite_autoincrement=True,  # FB_ID never reused, only increasing
)
supervise_item = sa.Table(
    "TR_T_SUPERVISE_ITEM",
    metadata,
    sa.Column("ITEM_CODE", S(14), primary_key=True),
    sa.Column("ITEM_NAME", S(200)),
    sa.Column("DEPT_NAME", S(100)),
)
check_implement = sa.Table(
    "TR_T_CHECK_IMPLEMENT",
    metadata,
    sa.Column("ICODE", S(32), primary_key=True),
    sa.Column("ITEM_CODE", S(14)),
    sa.Column("AGENCY_USCC", S(18)),
    sa.Column("NAME", S(300)),
)
law_officer = sa.Table(
    "TR_T_LAW_OFFICER",
    metadata,
    sa.Column("CERT_NO", S(20), primary_key=True),
    sa.Column("NAME", S(50)),
    sa.Column("AGENCY_USCC", S(18)),
    sa.Column("VALID_TO", sa.Date),
)
# The simulator's own memory (not part of the interface).
collector_state = sa.Table(
    "SIM_COLLECTOR_STATE",
    metadata,
    sa.Column("TABLE_NAME", S(64), primary_key=True),
    sa.Column("WATERMARK", sa.DateTime),
)
national_record = sa.Table(
    "SIM_NATIONAL_RECORD",
    metadata,
    sa.Column("TABLE_NAME", S(64), primary_key=True),
    sa.Column("CD_ID", S(64), primary_key=True),
    sa.Column("CD_BATCH", S(20)),
    sa.Column("CD_OPERATION", sa.CHAR(1)),
    sa.Column("DELETED", sa.Boolean, nullable=False),
    sa.Column("DATA", sa.Text, nullable=False),  # the accepted row version, JSON
    sa.Column("ACCEPTED_AT", sa.DateTime, nullable=False),
)
TABLES = {CHECK_ACTION: check_action, PUNISH: punish}


def create_schema(engine: sa.Engine) -> None:
    """Create the exchange, feedback, catalogue and simulator tables (existing ones are kept)."""
    metadata.create_all(engine)


def seed_catalogue(engine: sa.Engine) -> None:
    """Fill the catalogues from the demo universe (idempotent: existing keys are left alone)."""
    items = [{"ITEM_CODE": i.hlwjg_code, "ITEM_NAME": i.name, "DEPT_NAME": "应急管理部"} for i in ITEMS]
    implements = [
        {
            "ICODE": check_icode(i, d),
            "ITEM_CODE": i.hlwjg_code,
            "AGENCY_USCC": d.agency_uscc,
            "NAME": d.agency_name + i.name,
        }
        for i in INSPECTION_ITEMS  # 检查实施清单 exist for inspection items only
        for d in DEPARTMENTS
    ]
    agency = {d.code: d.agency_uscc for d in DEPARTMENTS}
    officers = [
        {
            "CERT_NO": o.cert_no,
            "NAME": o.name,
            "AGENCY_USCC": agency[o.dept_code],
            "VALID_TO": _date(o.valid_to),
        }
        for o in OFFICERS
    ]
    officers += [
        {"CERT_NO": c, "NAME": n, "AGENCY_USCC": DEPARTMENTS[0].agency_uscc, "VALID_TO": _date(v)}
        for c, n, v in EXPIRED_OFFICERS
    ]
    with engine.begin() as conn:
        for table, rows in ((supervise_item, items), (check_implement, implements), (law_officer, officers)):
            key = next(iter(table.primary_key.columns))
            have = set(conn.scalars(sa.select(key)))
            new = [r for r in rows if r[key.name] not in have]
            if new:
                conn.execute(table.insert(), new)


# ---- validation ---------------------------------------------------------------------------------
_DIGITS14 = re.compile(r"\d{14}")
_AREA = re.compile(r"\d{6}")
_CD_SOURCE = re.compile(r"\d{6}[A-Za-z0-9]{1,14}")
_CD_BATCH = re.compile(r"(\d{8})\d{5}")
CP_NA = {"01": "法人及非法人组织", "02": "自然人", "03": "个体工商户"}
CE_TYPE = {"001": "统一社会信用代码", "111": "居民身份证", "414": "护照", "516": "港澳居民来往内地通行证",
           "511": "台湾居民来往大陆通行证"}  # fmt: skip
CHECK_FORM = {"1": "现场检查", "2": "非现场检查"}
CHECK_TYPE = {"1": "双随机抽查", "2": "重点检查", "3": "专项检查", "4": "投诉举报核查", "9": "其他"}
CHECK_RESULT = {"1": "未发现问题", "2": "发现问题责令改正", "3": "发现问题予以处罚", "4": "其他"}
PUNISH_TYPE = {
    "01": "警告", "02": "通报批评", "03": "罚款", "04": "没收违法所得", "05": "没收非法财物", "06": "暂扣许可证件",
    "07": "降低资质等级", "08": "吊销许可证件", "09": "限制开展生产经营活动", "10": "责令停产停业", "11": "责令关闭",
    "12": "限制从业", "13": "行政拘留", "99": "其他",
}  # fmt: skip
PROCEDURE_TYPE = {"1": "一般程序", "2": "简易程序"}
_ENUMS = {
    "ADMINISTRATIVE_CP_NA": ("行政相对人性质", CP_NA),
    "ADMINISTRATIVE_CP_CE_TYPE": ("证件类型", CE_TYPE),
    "CHECK_FORM": ("检查形式", CHECK_FORM),
    "CHECK_TYPE": ("检查类别", CHECK_TYPE),
    "CHECK_RESULT": ("检查结果", CHECK_RESULT),
    "PROCEDURE_TYPE": ("程序类型", PROCEDURE_TYPE),
}
_PARTY = (
    "ADMINISTRATIVE_CP",
    "ADMINISTRATIVE_CP_NA",
    "ADMINISTRATIVE_CP_CE_TYPE",
    "ADMINISTRATIVE_CP_UI_CODE",
)
REQUIRED = {
    CHECK_ACTION: ("SUPERVISE_ITEM_CODE", "CHECK_ICODE", "CHECK_ACTION_NAME", "CHECK_ACTION_CODE",
                   "SUPERVISE_OBJECT", *_PARTY, "AREA_NUMBER", "CHECK_DATE", "CHECK_PERSONNEL",
                   "CHECK_PERSONNEL_CODE", "SUBMITTED_DATE"),
    PUNISH: ("SUPERVISE_ITEM_CODE", "PUNISH_ACTION_CODE", *_PARTY, "AREA_NUMBER", "PUNISH_TYPE", "DECISION_DATE",
             "SUBMITTED_DATE"),
}  # fmt: skip


class Catalogue:
    """The province's catalogues, read once per collection run."""

    def __init__(self, conn: sa.Connection) -> None:
        self.items = set(conn.scalars(sa.select(supervise_item.c.ITEM_CODE)))
        self.implements = dict(
            conn.execute(sa.select(check_implement.c.ICODE, check_implement.c.ITEM_CODE)).all()
        )
        self.officers = {
            c: _to_date(v) for c, v in conn.execute(sa.select(law_officer.c.CERT_NO, law_officer.c.VALID_TO))
        }


def _present(text: Mapping[str, Any], col: str) -> bool:
    return text.get(col) not in (None, "")


def _envelope_errors(text: Mapping[str, Any]) -> list[str]:
    """CD_ID, CD_SOURCE, CD_BATCH and CD_OPERATION: present and well-formed (all a ``d`` row is checked on)."""
    errors = [
        f"{col}: 必填项不能为空"
        for col in ("CD_ID", "CD_SOURCE", "CD_BATCH", "CD_OPERATION")
        if not _present(text, col)
    ]
    if _present(text, "CD_SOURCE") and not _CD_SOURCE.fullmatch(text["CD_SOURCE"]):
        errors.append(
            f"CD_SOURCE: 报送单位编码 {text['CD_SOURCE']} 格式不正确，应为6位行政区划代码加1–14位部门代码"
        )
    if _present(text, "CD_BATCH") and not _valid_batch(text["CD_BATCH"]):
        errors.append(f"CD_BATCH: 批次号 {text['CD_BATCH']} 格式不正确，应为yyyyMMdd加5位序号")
    op = text.get("CD_OPERATION")
    if _present(text, "CD_OPERATION") and op not in ("i", "u", "d"):
        errors.append(f"CD_OPERATION: 操作类型 {op} 不正确，应为 i、u 或 d")
    return errors


def _shape_errors(table: str, text: Mapping[str, Any]) -> list[str]:
    """The table's required columns present, and no text longer than its column."""
    errors = [f"{name}: 必填项不能为空" for name in REQUIRED[table] if not _present(text, name)]
    for column in TABLES[table].c:
        length = getattr(column.type, "length", None)
        if length and isinstance(text.get(column.name), str) and len(text[column.name]) > length:
            errors.append(f"{column.name}: 长度超过{length}个字符")
    return errors


# Each check of a row's codes: (table, the row as stripped text, the catalogues) -> the errors it finds.
# "" stands for an absent code: each is checked only where present, and "" reads as absent in messages.
_CodeRule = Callable[[str, Mapping[str, Any], Catalogue], list[str]]


def _item_errors(table: str, text: Mapping[str, Any], cat: Catalogue) -> list[str]:
    item = text.get("SUPERVISE_ITEM_CODE") or ""
    if not _present(text, "SUPERVISE_ITEM_CODE"):
        return []
    if not _DIGITS14.fullmatch(item):
        return [f"SUPERVISE_ITEM_CODE: 监管事项目录编码 {item} 应为14位数字"]
    if item not in cat.items:
        return [f"SUPERVISE_ITEM_CODE: 监管事项目录编码 {item} 不在监管事项目录中"]
    return []


def _agency_errors(table: str, text: Mapping[str, Any], cat: Catalogue) -> list[str]:
    agency = text.get("IMPLEMENT_INSTITUTION_CODE") or ""
    if _present(text, "IMPLEMENT_INSTITUTION_CODE") and not is_uscc(agency):
        return [f"IMPLEMENT_INSTITUTION_CODE: 实施机构统一社会信用代码 {agency} 校验不通过"]
    return []


def _icode_errors(table: str, text: Mapping[str, Any], cat: Catalogue) -> list[str]:
    """检查实施清单编码: in the list, of the row's item, starting with the agency's USCC, 19th character 1–5."""
    if table != CHECK_ACTION or not _present(text, "CHECK_ICODE"):
        return []
    icode, item = text["CHECK_ICODE"], text.get("SUPERVISE_ITEM_CODE") or ""
    agency = text.get("IMPLEMENT_INSTITUTION_CODE") or ""
    errors = []
    if icode not in cat.implements:
        errors.append(f"CHECK_ICODE: 检查实施清单编码 {icode} 不在检查实施清单中")
    elif _present(text, "SUPERVISE_ITEM_CODE") and cat.implements[icode] != item:
        errors.append(f"CHECK_ICODE: 检查实施清单编码 {icode} 不属于监管事项 {item}")
    if icode[:18] != agency:
        errors.append(
            f"CHECK_ICODE: 检查实施清单编码 {icode} 前18位与实施机构统一社会信用代码 {agency or '（空）'} 不一致"
        )
    if len(icode) < 19 or icode[18] not in "12345":
        errors.append(f"CHECK_ICODE: 检查实施清单编码 {icode} 第19位应为1–5")
    return errors


def _enum_errors(table: str, text: Mapping[str, Any], cat: Catalogue) -> list[str]:
    columns = TABLES[table].c
    return [
        f"{col}: {label} {text[col]} 不在代码表中（{'、'.join(codes)}）"
        for col, (label, codes) in _ENUMS.items()
        if col in columns and _present(text, col) and text[col] not in codes
    ]


def _party_code_errors(table: str, text: Mapping[str, Any], cat: Catalogue) -> list[str]:
    ce_type, ui_code = text.get("ADMINISTRATIVE_CP_CE_TYPE"), text.get("ADMINISTRATIVE_CP_UI_CODE") or ""
    if not _present(text, "ADMINISTRATIVE_CP_UI_CODE"):
        return []
    if ce_type == "001" and not is_uscc(ui_code):
        return [f"ADMINISTRATIVE_CP_UI_CODE: 统一社会信用代码 {ui_code} 校验不通过"]
    if ce_type == "111" and not is_ric(ui_code):
        return ["ADMINISTRATIVE_CP_UI_CODE: 居民身份证号码校验不通过"]  # never echo an ID number
    return []


def _area_errors(table: str, text: Mapping[str, Any], cat: Catalogue) -> list[str]:
    if _present(text, "AREA_NUMBER") and not _AREA.fullmatch(text["AREA_NUMBER"]):
        return [f"AREA_NUMBER: 行政区划代码 {text['AREA_NUMBER']} 应为6位数字"]
    return []


_CODE_RULES: tuple[_CodeRule, ...] = (
    _item_errors,
    _agency_errors,
    _icode_errors,
    _enum_errors,
    _party_code_errors,
    _area_errors,
)


def _day_errors(table: str, dates: Mapping[str, Any], today: dt.date) -> list[str]:
    """The check or decision date not in the future, and submitted after 00:00 of it."""
    day_col = "CHECK_DATE" if table == CHECK_ACTION else "DECISION_DATE"
    day, submitted = dates.get(day_col), dates.get("SUBMITTED_DATE")
    errors = []
    if isinstance(day, dt.date) and day > today:
        errors.append(f"{day_col}: 日期 {day} 晚于当前日期")
    midnight = dt.datetime.combine(day, dt.time()) if isinstance(day, dt.date) else None
    if midnight and isinstance(submitted, dt.datetime) and submitted <= midnight:
        errors.append(f"SUBMITTED_DATE: 报送时间 {submitted} 应晚于 {day_col} 当日0时")
    return errors


def _table_errors(table: str, text: Mapping[str, Any], cat: Catalogue, today: dt.date) -> list[str]:
    """What one table alone has: the inspection's officers; the penalty's types and amounts."""
    if table == CHECK_ACTION:
        return _check_personnel(text.get("CHECK_PERSONNEL"), text.get("CHECK_PERSONNEL_CODE"), cat, today)
    errors = _check_punish_type(text.get("PUNISH_TYPE"), text.get("FINE_AMOUNT"))
    for col in ("FINE_AMOUNT", "CONFISCATION_AMOUNT"):
        amount = _decimal(text.get(col))
        if _present(text, col) and (amount is None or amount < 0):
            errors.append(f"{col}: 金额 {text[col]} 不是有效的非负数")
    return errors


def validate_row(table: str, row: Mapping[str, Any], cat: Catalogue, today: dt.date) -> list[str]:
    """Every rule of docs/interfaces/hlwjg.md for one collected row version; each error is ``COLUMN: 中文说明``."""
    text: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
    errors = _envelope_errors(text)
    if text.get("CD_OPERATION") == "d":  # deletions are checked on the envelope only
        return errors
    errors += _shape_errors(table, text)
    dates = {
        c.name: _parse(c, text.get(c.name), errors)
        for c in TABLES[table].c
        if isinstance(c.type, sa.Date | sa.DateTime)
    }
    for rule in _CODE_RULES:
        errors += rule(table, text, cat)
    errors += _day_errors(table, dates, today)
    errors += _table_errors(table, text, cat, today)
    return errors


def _check_personnel(names: Any, codes: Any, cat: Catalogue, today: dt.date) -> list[str]:
    if not names or not codes:
        return []
    name_list, code_list = names.split("|"), [c.strip() for c in codes.split("|")]
    errors = []
    if len(code_list) < 2:
        errors.append("CHECK_PERSONNEL_CODE: 执法人员不得少于2名")
    if len(name_list) != len(code_list):
        errors.append(f"CHECK_PERSONNEL: 执法人员姓名{len(name_list)}个，与执法证号{len(code_list)}个不一致")
    seen: set[str] = set()
    for code in code_list:
        valid_to = cat.officers.get(code)
        if not code:
            errors.append("CHECK_PERSONNEL_CODE: 执法证号不能为空")
        elif code in seen:
            errors.append(f"CHECK_PERSONNEL_CODE: 执法证号 {code} 重复")
        elif valid_to is None or valid_to < today:  # past VALID_TO = not registered
            errors.append(f"CHECK_PERSONNEL_CODE: 执法证号 {code} 未在本系统注册")
        seen.add(code)
    return errors


def _check_punish_type(types: Any, fine: Any) -> list[str]:
    if not types:
        return []
    codes = types.split("|")
    errors = [f"PUNISH_TYPE: 处罚类型 {c} 不在代码表中" for c in codes if c not in PUNISH_TYPE]
    amount = _decimal(fine)
    if "03" in codes and (amount is None or amount <= 0):
        errors.append("FINE_AMOUNT: 处罚类型含罚款（03）时罚款金额应大于0")
    return errors


def _valid_batch(batch: str) -> bool:
    match = _CD_BATCH.fullmatch(batch)
    if not match:
        return False
    try:
        dt.datetime.strptime(match.group(1), "%Y%m%d")
    except ValueError:
        return False
    return True


def _parse(col: sa.Column[Any], value: Any, errors: list[str]) -> dt.date | dt.datetime | None:
    """Dates as stored; a malformed value (raw SQL on SQLite) is an error for that column."""
    if value in (None, ""):
        return None
    want_datetime = isinstance(col.type, sa.DateTime)
    try:
        if isinstance(value, dt.datetime):
            return value if want_datetime else value.date()
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time()) if want_datetime else value
        parsed = dt.datetime.fromisoformat(str(value))
        return parsed if want_datetime else parsed.date()
    except ValueError:
        errors.append(f"{col.name}: 日期时间 {value} 格式不正确")
        return None


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _to_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, Decimal | float):
        return str(value)
    return value


# ---- the collector --------------------------------------------------------------------------------
class Collector:
    """The exchange platform's collection job, over one 前置库 database."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock  # Unix seconds
        self._lock = threading.Lock()
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> dt.datetime:
        """Beijing wall time, naive, as the 前置库 keeps timestamps."""
        return dt.datetime.fromtimestamp(self.clock(), BEIJING).replace(tzinfo=None)

    def pause(self) -> None:
        """Stop collecting (the platform "stopped for hours"); rows wait in the exchange tables."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def collect_once(self) -> list[dict[str, Any]]:
        """Collect every row newer than the watermark, table by table; returns the feedback written."""
        if self.paused:
            return []
        written: list[dict[str, Any]] = []
        with self._lock:
            for name in EXCHANGE_TABLES:
                written += self._collect_table(name)
        return written

    def _collect_table(self, name: str) -> list[dict[str, Any]]:
        table = TABLES[name]
        now = self.now()
        with self.engine.begin() as conn:  # feedback, national store and watermark move together
            watermark = conn.scalar(
                sa.select(collector_state.c.WATERMARK).where(collector_state.c["TABLE_NAME"] == name)
            )
            # Date/number columns are read untyped so that a malformed value becomes a feedback
            # error rather than a crash of the collector (SQLite stores whatever it is given).
            loose = [
                sa.type_coerce(c, sa.String) if not isinstance(c.type, sa.String) else c for c in table.c
            ]
            query = (
                sa.select(*loose).where(table.c.CD_TIME.is_not(None)).order_by(table.c.CD_TIME, table.c.CD_ID)
            )
            if watermark is not None:
                query = query.where(table.c["CD_TIME"] > watermark)  # strictly newer
            rows = [dict(r._mapping) for r in conn.execute(query)]
            if not rows:
                return []
            cat = Catalogue(conn)
            written = []
            for row in rows:
                errors = validate_row(name, row, cat, now.date())
                fb = {
                    "TABLE_NAME": name,
                    "CD_ID": row["CD_ID"],
                    "CD_BATCH": row["CD_BATCH"],
                    "STATUS": "2" if errors else "1",
                    "ERROR_MSG": "；".join(errors)[:2000] if errors else None,
                    "FEEDBACK_TIME": now,
                }
                key = conn.execute(feedback.insert().values(**fb)).inserted_primary_key
                if key is None:
                    raise RuntimeError(f"the 前置库 gave no FB_ID for the feedback on {row['CD_ID']}")
                fb["FB_ID"] = key[0]
                written.append(fb)
                if not errors:
                    self._store(conn, name, row, now)
            newest = max(_parse(table.c.CD_TIME, r["CD_TIME"], []) or dt.datetime.min for r in rows)
            if watermark is None:
                conn.execute(collector_state.insert().values(TABLE_NAME=name, WATERMARK=newest))
            else:
                conn.execute(
                    collector_state.update()
                    .where(collector_state.c["TABLE_NAME"] == name)
                    .values(WATERMARK=newest)
                )
        log.info("hlwjg_collected", extra={"table": name, "rows": len(rows)})
        return written

    def _store(self, conn: sa.Connection, name: str, row: Mapping[str, Any], now: dt.datetime) -> None:
        """``i`` and ``u`` insert-or-replace; ``d`` marks the national record deleted."""
        key = (national_record.c["TABLE_NAME"] == name) & (national_record.c["CD_ID"] == row["CD_ID"])
        data = {k: _jsonable(v) for k, v in row.items()}
        for col in TABLES[name].c:  # amounts, numeric(18,2): the same text on SQLite and PostgreSQL
            amount = _decimal(row.get(col.name)) if isinstance(col.type, sa.Numeric) else None
            if amount is not None:
                data[col.name] = str(amount.quantize(Decimal("0.01")))
        text = json.dumps(data, ensure_ascii=False)
        deleted = row["CD_OPERATION"] == "d"
        existing = conn.scalar(sa.select(national_record.c.DATA).where(key))
        values = {"CD_BATCH": row["CD_BATCH"], "CD_OPERATION": row["CD_OPERATION"], "DELETED": deleted}
        if existing is None:
            conn.execute(
                national_record.insert().values(
                    TABLE_NAME=name, CD_ID=row["CD_ID"], DATA=text, ACCEPTED_AT=now, **values
                )
            )
        else:  # a deletion keeps the last accepted content
            conn.execute(
                national_record.update()
                .where(key)
                .values(**values, **({} if deleted else {"DATA": text, "ACCEPTED_AT": now}))
            )

    # ---- inspection ---------------------------------------------------------------------------
    def accepted(self, table: str, include_deleted: bool = False) -> dict[str, dict[str, Any]]:
        """The national store: CD_ID → last accepted row (values as text: ISO dates, amounts with 2 decimals)."""
        query = sa.select(national_record).where(national_record.c["TABLE_NAME"] == table)
        if not include_deleted:
            query = query.where(national_record.c.DELETED.is_(False))
        with self.engine.connect() as conn:
            return {
                r.CD_ID: {**json.loads(r.DATA), "CD_OPERATION": r.CD_OPERATION, "DELETED": bool(r.DELETED)}
                for r in conn.execute(query)
            }

    def feedback(self, after_fb_id: int = 0) -> list[dict[str, Any]]:
        """Feedback rows with FB_ID greater than ``after_fb_id``, in order."""
        with self.engine.connect() as conn:
            query = sa.select(feedback).where(feedback.c["FB_ID"] > after_fb_id).order_by(feedback.c.FB_ID)
            return [dict(r._mapping) for r in conn.execute(query)]

    def watermark(self, table: str) -> dt.datetime | None:
        with self.engine.connect() as conn:
            return conn.scalar(
                sa.select(collector_state.c.WATERMARK).where(collector_state.c["TABLE_NAME"] == table)
            )

    def pending(self, table: str) -> int:
        """Rows of an exchange table not collected yet (``CD_TIME`` newer than the watermark)."""
        t = TABLES[table]
        query = sa.select(sa.func.count()).select_from(t).where(t.c.CD_TIME.is_not(None))
        mark = self.watermark(table)
        if mark is not None:
            query = query.where(t.c["CD_TIME"] > mark)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    def stats(self) -> dict[str, Any]:
        """Paused or not; per exchange table rows waiting, accepted, deleted; feedback rows by STATUS."""
        out: dict[str, Any] = {"paused": self.paused, "tables": {}}
        with self.engine.connect() as conn:
            for name in EXCHANGE_TABLES:
                by_deleted: dict[bool, int] = dict(
                    conn.execute(
                        sa.select(national_record.c.DELETED, sa.func.count())
                        .where(national_record.c["TABLE_NAME"] == name)
                        .group_by(national_record.c.DELETED)
                    ).all()
                )
                out["tables"][name] = {
                    "accepted": by_deleted.get(False, 0),
                    "deleted": by_deleted.get(True, 0),
                }
            out["feedback"] = {
                str(k): v
                for k, v in conn.execute(
                    sa.select(feedback.c.STATUS, sa.func.count()).group_by(feedback.c.STATUS)
                ).all()
            }
        for name in EXCHANGE_TABLES:
            out["tables"][name]["pending"] = self.pending(name)
        return out

    # ---- background loop ------------------------------------------------------------------------
    def run_in_thread(self, interval_s: float = 5.0) -> threading.Thread:
        """Collect every ``interval_s`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval_s,), name="hlwjg-collector", daemon=True
        )
        self._thread.start()
        return self._thread

    def _loop(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.collect_once()
            except Exception:  # a locked SQLite file, a PostgreSQL restart: try again next round
                log.exception("hlwjg_collect_failed")
            self._stop.wait(interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def create_admin_app(collector: Collector) -> Any:
    """``/_sim/hlwjg/``: pause and resume the collector, read its counts (the 前置库 itself is a database)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def pause(request: Request) -> JSONResponse:
        collector.pause()
        return JSONResponse({"paused": True})

    def resume(request: Request) -> JSONResponse:
        collector.resume()
        return JSONResponse({"paused": False})

    def stats(request: Request) -> JSONResponse:
        return JSONResponse(collector.stats())

    return Starlette(
        routes=[
            Route("/_sim/hlwjg/pause", pause, methods=["POST"]),
            Route("/_sim/hlwjg/resume", resume, methods=["POST"]),
            Route("/_sim/hlwjg/stats", stats, methods=["GET"]),
        ]
    )


def open_exchange(url: str) -> sa.Engine:
    """An engine on the 前置库 with schema and catalogues in place."""
    engine = sa.create_engine(url)
    create_schema(engine)
    seed_catalogue(engine)
    return engine


def main(argv: Iterable[str] | None = None) -> None:
    """``python -m simulators.hlwjg --url sqlite:///hlwjg.db --interval 5``"""
    parser = argparse.ArgumentParser(prog="python -m simulators.hlwjg", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the 前置库")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between collections")
    parser.add_argument("--once", action="store_true", help="collect once and exit")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    engine = open_exchange(args.url)
    collector = Collector(engine)
    log.info(
        "hlwjg collector on %s every %s s", engine.url.render_as_string(hide_password=True), args.interval
    )
    if args.once:
        print(
            json.dumps(
                [{k: _jsonable(v) for k, v in fb.items()} for fb in collector.collect_once()],
                ensure_ascii=False,
            )
        )
        return
    collector.run_in_thread(args.interval)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        collector.stop()


if __name__ == "__main__":
    main()
