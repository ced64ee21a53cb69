"""The credit platform's (双公示) record rules: CF_* validation, 文号 normalisation, the xlsx template.

Everything here follows ``docs/interfaces/credit.md``; the HTTP side is in ``simulators.credit``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulators.idcodes import is_ric, is_uscc

# (field, 中文, template header). Order = the spreadsheet template's column order.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("CF_XDR_MC", "行政相对人名称", "行政相对人名称"),
    ("CF_XDR_LB", "行政相对人类别", "行政相对人类别"),
    ("CF_XDR_SHXYM", "统一社会信用代码", "行政相对人代码_1(统一社会信用代码)"),
    ("CF_XDR_GSZC", "工商注册号", "行政相对人代码_2(工商注册号)"),
    ("CF_XDR_ZZJG", "组织机构代码", "行政相对人代码_3(组织机构代码)"),
    ("CF_XDR_SWDJ", "税务登记号", "行政相对人代码_4(税务登记号)"),
    ("CF_XDR_SYDW", "事业单位证书号", "行政相对人代码_5(事业单位证书号)"),
    ("CF_XDR_SHZZ", "社会组织登记证号", "行政相对人代码_6(社会组织登记证号)"),
    ("CF_FRDB", "法定代表人", "法定代表人"),
    ("CF_FR_ZJLX", "法定代表人证件类型", "法定代表人证件类型"),
    ("CF_FR_ZJHM", "法定代表人证件号码", "法定代表人证件号码"),
    ("CF_XDR_ZJLX", "证件类型", "证件类型"),
    ("CF_XDR_ZJHM", "证件号码", "证件号码"),
    ("CF_WSH", "行政处罚决定书文号", "行政处罚决定书文号"),
    ("CF_WFXW", "违法行为类型", "违法行为类型"),
    ("CF_SY", "违法事实", "违法事实"),
    ("CF_YJ", "处罚依据", "处罚依据"),
    ("CF_CFLB", "处罚类别", "处罚类别"),
    ("CF_NR", "处罚内容", "处罚内容"),
    ("CF_NR_FK", "罚款金额（万元）", "罚款金额（万元）"),
    ("CF_NR_WFFF", "没收违法所得、没收非法财物的金额（万元）", "没收违法所得、没收非法财物的金额（万元）"),
    ("CF_NR_ZKDX", "暂扣或吊销证照名称及编号", "暂扣或吊销证照名称及编号"),
    ("CF_JDRQ", "处罚决定日期", "处罚决定日期"),
    ("CF_YXQ", "处罚有效期", "处罚有效期"),
    ("CF_GSJZQ", "公示截止期", "公示截止期"),
    ("CF_CFJG", "处罚机关", "处罚机关"),
    ("CF_CFJGDM", "处罚机关统一社会信用代码", "处罚机关统一社会信用代码"),
    ("CF_SJLY", "数据来源单位", "数据来源单位"),
    ("CF_SJLYDM", "数据来源单位统一社会信用代码", "数据来源单位统一社会信用代码"),
    ("BZ", "备注", "备注"),
)
FIELD_NAMES = tuple(f for f, _, _ in FIELDS)
TEMPLATE_HEADERS = tuple(h for _, _, h in FIELDS)
LABELS = {f: label for f, label, _ in FIELDS} | {"SJBS": "数据标识", "CZLX": "操作类型", "xybm": "信用编码"}

XDR_LB = ("法人及非法人组织", "自然人", "个体工商户")
ZJLX = ("身份证", "护照号", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "外国人永久居留身份证")
CFLB = (
    "警告", "通报批评", "罚款", "没收违法所得", "没收非法财物", "暂扣许可证件", "降低资质等级",
    "吊销许可证件", "限制开展生产经营活动", "责令停产停业", "责令关闭", "限制从业", "行政拘留", "其他",
)  # fmt: skip
AMOUNT_FIELDS = ("CF_NR_FK", "CF_NR_WFFF")
DATE_FIELDS = ("CF_JDRQ", "CF_YXQ", "CF_GSJZQ")

_REQUIRED = (
    "CF_XDR_MC", "CF_XDR_LB", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ", "CF_CFLB", "CF_NR",
    "CF_JDRQ", "CF_YXQ", "CF_GSJZQ", "CF_CFJG", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM",
)  # fmt: skip
_MAX_LEN = {
    "SJBS": 64, "CF_XDR_MC": 200, "CF_WSH": 128, "CF_WFXW": 2000, "CF_SY": 2000, "CF_YJ": 2048,
    "CF_NR": 4000, "CF_NR_ZKDX": 200, "BZ": 512,
}  # fmt: skip
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AMOUNT_TEXT_RE = re.compile(r"-?\d+(\.\d+)?")

Error = dict[str, str]


def _err(field: str, message: str) -> Error:
    return {"field": field, "message": message}


def _text(record: Mapping[str, Any], field: str, errors: list[Error]) -> str:
    """The field as stripped text ('' when absent); a non-string value is an error."""
    value = record.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append(_err(field, f"{LABELS[field]}应为字符串"))
        return ""
    return value.strip()


def _amount(value: Any, field: str, errors: list[Error]) -> Decimal | None:
    """Parse an amount in 万元; decimals are counted as written, so '0.1234560' has seven."""
    if value is None or value == "":
        return None
    label = LABELS[field]
    if isinstance(value, str):
        text = value.strip()
        if not _AMOUNT_TEXT_RE.fullmatch(text):
            errors.append(_err(field, f"{label}格式不正确，应为数字"))
            return None
        amount = Decimal(text)
    elif isinstance(value, Decimal) and value.is_finite():  # a JSON number, parsed as written
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    else:
        errors.append(_err(field, f"{label}格式不正确，应为数字"))
        return None
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        errors.append(_err(field, f"{label}小数位数不能超过6位"))
    if amount < 0:
        errors.append(_err(field, f"{label}不能为负数"))
    return amount


def _date(text: str, field: str, errors: list[Error]) -> dt.date | None:
    if not text:
        return None
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(_err(field, f"{LABELS[field]}格式应为yyyy-MM-dd"))
        return None


def amount_text(value: Any) -> str | None:
    """How an accepted amount is stored and shown: the number as written, as text."""
    if value is None or value == "":
        return None
    return value.strip() if isinstance(value, str) else str(value)


def _read(record: Mapping[str, Any], errors: list[Error]) -> dict[str, str]:
    """SJBS, CZLX and the fields the operation reads, as stripped text, with their lengths checked."""
    sjbs = _text(record, "SJBS", errors)
    if not sjbs:
        errors.append(_err("SJBS", "数据标识不能为空"))
    czlx = record.get("CZLX")
    if czlx not in ("I", "U", "D"):
        errors.append(_err("CZLX", "操作类型应为 I、U 或 D"))
    # 撤销公示 (D) reads SJBS and BZ only: nothing else in the record can make it fail.
    read = ("BZ",) if czlx == "D" else tuple(f for f in FIELD_NAMES if f not in AMOUNT_FIELDS)
    values = {f: _text(record, f, errors) for f in read}
    values["SJBS"] = sjbs
    for field in values:
        limit = _MAX_LEN.get(field)
        if limit and len(values[field]) > limit:
            errors.append(_err(field, f"{LABELS[field]}长度不能超过{limit}个字符"))
    return values


# Each rule of an I/U record: (the record, its fields as text, today) -> the errors it finds.
_Rule = Callable[[Mapping[str, Any], dict[str, str], dt.date], list[Error]]


def _required(record: Mapping[str, Any], v: dict[str, str], today: dt.date) -> list[Error]:
    return [_err(f, f"{LABELS[f]}不能为空") for f in _REQUIRED if not v[f]]


def _party(record: Mapping[str, Any], v: dict[str, str], today: dt.date) -> list[Error]:
    """The 行政相对人's category and, by category, its code, ID document and legal representative."""
    errors = []
    lb, shxym = v["CF_XDR_LB"], v["CF_XDR_SHXYM"]
    if lb and lb not in XDR_LB:
        errors.append(_err("CF_XDR_LB", f"行政相对人类别应为{'、'.join(XDR_LB)}之一"))
    if lb == "自然人":
        if shxym:
            errors.append(_err("CF_XDR_SHXYM", "行政相对人类别为自然人时统一社会信用代码应为空"))
        errors += [
            _err(f, f"行政相对人类别为自然人时{LABELS[f]}不能为空")
            for f in ("CF_XDR_ZJLX", "CF_XDR_ZJHM")
            if not v[f]
        ]
    elif lb and not shxym:
        errors.append(_err("CF_XDR_SHXYM", "统一社会信用代码不能为空"))
    elif lb and not is_uscc(shxym):
        errors.append(_err("CF_XDR_SHXYM", f"统一社会信用代码 {shxym} 校验不通过"))
    if lb == "法人及非法人组织" and not v["CF_FRDB"]:
        errors.append(_err("CF_FRDB", "行政相对人类别为法人及非法人组织时法定代表人不能为空"))
    return errors


def _id_document(record: Mapping[str, Any], v: dict[str, str], today: dt.date) -> list[Error]:
    errors = []
    zjlx, zjhm = v["CF_XDR_ZJLX"], v["CF_XDR_ZJHM"]
    if zjlx and zjlx not in ZJLX:
        errors.append(_err("CF_XDR_ZJLX", f"证件类型应为{'、'.join(ZJLX)}之一"))
    if zjlx == "身份证" and zjhm and not is_ric(zjhm):
        errors.append(_err("CF_XDR_ZJHM", "证件号码不是有效的居民身份证号码"))
    return errors


def _penalty(record: Mapping[str, Any], v: dict[str, str], today: dt.date) -> list[Error]:
    """处罚类别 from the code list, and the amounts and licence each needs."""
    kinds = v["CF_CFLB"].split(";") if v["CF_CFLB"] else []
    errors = [_err("CF_CFLB", f"处罚类别“{k}”不在代码表中") for k in kinds if k not in CFLB]
    fine = _amount(record.get("CF_NR_FK"), "CF_NR_FK", errors)
    _amount(record.get("CF_NR_WFFF"), "CF_NR_WFFF", errors)
    if "罚款" in kinds and fine is None:
        errors.append(_err("CF_NR_FK", "处罚类别含罚款时罚款金额不能为空"))
    elif "罚款" in kinds and fine is not None and fine <= 0:
        errors.append(_err("CF_NR_FK", "罚款金额应大于0"))
    if {"暂扣许可证件", "吊销许可证件"} & set(kinds) and not v["CF_NR_ZKDX"]:
        errors.append(_err("CF_NR_ZKDX", "处罚类别含暂扣或吊销许可证件时暂扣或吊销证照名称及编号不能为空"))
    return errors


def _dates(record: Mapping[str, Any], v: dict[str, str], today: dt.date) -> list[Error]:
    """The decision date, not in the future; the periods, not before it."""
    errors: list[Error] = []
    jdrq = _date(v["CF_JDRQ"], "CF_JDRQ", errors)
    if jdrq and jdrq > today:
        errors.append(_err("CF_JDRQ", "处罚决定日期不能晚于当前日期"))
    for field in ("CF_YXQ", "CF_GSJZQ"):
        day = _date(v[field], field, errors)
        if day and jdrq and day < jdrq:
            errors.append(_err(field, f"{LABELS[field]}不能早于处罚决定日期"))
    return errors


def _agency_codes(record: Mapping[str, Any], v: dict[str, str], today: dt.date) -> list[Error]:
    return [
        _err(f, f"{LABELS[f]} {v[f]} 校验不通过")
        for f in ("CF_CFJGDM", "CF_SJLYDM")
        if v[f] and not is_uscc(v[f])
    ]


_RULES: tuple[_Rule, ...] = (_required, _party, _id_document, _penalty, _dates, _agency_codes)


def validate(record: Mapping[str, Any], today: dt.date) -> list[Error]:
    """Every rule of the CF_* table for an ``I``/``U`` record (or SJBS/BZ only for ``D``)."""
    errors: list[Error] = []
    values = _read(record, errors)
    if record.get("CZLX") == "D":
        return errors
    for rule in _RULES:
        errors += rule(record, values, today)
    return errors


# 文号 normalisation for the DUPLICATE check: full-width letters, digits and parentheses to half-width,
# the brackets 〔〕【】[] to one form, spaces removed. Nothing else (（）stay distinct from 〔〕).
_WSH_TABLE: dict[int, int | str | None] = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF1A)}  # ０-９
_WSH_TABLE |= {c: c - 0xFEE0 for c in range(0xFF21, 0xFF3B)}  # Ａ-Ｚ
_WSH_TABLE |= {c: c - 0xFEE0 for c in range(0xFF41, 0xFF5B)}  # ａ-ｚ
_WSH_TABLE |= {ord("（"): "(", ord("）"): ")", ord("〔"): "[", ord("【"): "[", ord("〕"): "]", ord("】"): "]"}
_WSH_TABLE |= {ord(" "): None, ord("\u3000"): None}


def normalise_wsh(wsh: str) -> str:
    """The form in which the platform compares decision numbers."""
    return wsh.translate(_WSH_TABLE)


def read_template(source: str | Path | bytes) -> list[dict[str, Any]]:
    """Rows of a 双公示 penalty template (.xlsx) as CF_* dicts; raises ValueError on a wrong header row."""
    from openpyxl import load_workbook  # openpyxl is slow to import; only the upload needs it

    data = io.BytesIO(source) if isinstance(source, bytes) else source
    workbook = load_workbook(data, read_only=True, data_only=True)
    try:
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    header = tuple(str(c).strip() if c is not None else "" for c in (rows[0] if rows else ()))
    while header and not header[-1]:
        header = header[:-1]
    if header != TEMPLATE_HEADERS:
        raise ValueError(f"模板表头不符：应为 {'，'.join(TEMPLATE_HEADERS)}")
    records = []
    for row in rows[1:]:
        if all(c is None or str(c).strip() == "" for c in row):
            continue
        record: dict[str, Any] = {}
        for field, cell in zip(FIELD_NAMES, row, strict=False):
            if cell is None:
                continue
            if isinstance(cell, float):  # a number cell: its shortest decimal form
                record[field] = repr(cell)
            elif isinstance(cell, dt.date | dt.datetime):
                # The template wants dates as text; a date-formatted cell fails the yyyy-MM-dd check.
                record[field] = cell.isoformat()
            else:
                record[field] = str(cell)
        records.append(record)
    return records
