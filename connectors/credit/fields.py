"""The 双公示 penalty format (national 行政处罚 data standard, fields ``CF_*``): amounts in 万元, the
处罚内容 text, publicity periods, and the checks the credit platform makes that our canonical model
does not — so a record it would refuse fails here, with the field named, before it is sent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from connectors.contract.errors import FieldError, RecordInvalid
from connectors.contract.records import Penalty
from connectors.contract.roles import Context
from connectors.contract.validators import uscc_problem
from connectors.credit.config import CreditConfig
from connectors.credit.publicity import is_serious, publicity_end

# Field limits the platform checks and our canonical model does not (or not for the text we build).
_MAX_LEN = {
    "CF_XDR_MC": 200,
    "CF_WSH": 128,
    "CF_WFXW": 2000,
    "CF_SY": 2000,
    "CF_YJ": 2048,
    "CF_NR": 4000,
    "CF_NR_ZKDX": 200,
    "BZ": 512,
}
_REQUIRED = (
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_WSH",
    "CF_WFXW",
    "CF_SY",
    "CF_YJ",
    "CF_CFLB",
    "CF_NR",
    "CF_JDRQ",
    "CF_YXQ",
    "CF_GSJZQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SJLY",
    "CF_SJLYDM",
)
_DIGITS = "零壹贰叁肆伍陆柒捌玖"


# -- amounts ---------------------------------------------------------------------------------------
def yuan_to_wan(yuan: Decimal) -> str:
    """元 → 万元 as the platform counts digits: 30000 → ``3``, 1234.56 → ``0.123456`` (no trailing zeros)."""
    wan = (yuan / Decimal(10000)).normalize()
    text = format(wan, "f")
    return "0" if wan == 0 else text


def yuan_in_words(yuan: Decimal) -> str:
    """Upper-case Chinese amount as on a decision: 30000 → 叁万元整, 1234.56 → 壹仟贰佰叁拾肆元伍角陆分."""
    cents = int((yuan * 100).to_integral_value())
    whole, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    text, zero = "", False
    digits = str(whole)
    for i, ch in enumerate(digits):
        pos = len(digits) - 1 - i
        if ch == "0":
            zero = True
        else:
            text += ("零" if zero else "") + _DIGITS[int(ch)] + ("", "拾", "佰", "仟")[pos % 4]
            zero = False
        if pos % 4 == 0 and pos and int(digits[max(0, i - 3) : i + 1]):
            text += ("", "万", "亿", "万")[pos // 4]  # a section's unit, unless the whole section is 0
    if whole:
        text += "元"
    if not jiao and not fen:
        return (text or "零元") + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif whole:
        text += "零"
    return text + (_DIGITS[fen] + "分" if fen else "")


# -- the penalty as the platform wants it ------------------------------------------------------------
def _content(r: Penalty, names: list[str]) -> str:
    """处罚内容, e.g. ``警告，罚款人民币叁万元整``: each 处罚类别 with its amount or licence."""
    parts: list[str] = []
    confiscations = [i for i, t in enumerate(r.penalty_types) if t in ("04", "05")]
    for i, (code, name) in enumerate(zip(r.penalty_types, names, strict=True)):
        if code == "03" and r.fine_yuan > 0:
            parts.append(f"罚款人民币{yuan_in_words(r.fine_yuan)}")
        elif confiscations and i == confiscations[-1] and r.confiscation_yuan > 0:
            parts.append(f"{name}人民币{yuan_in_words(r.confiscation_yuan)}")
        elif code in ("06", "08") and r.license_action is not None:
            la = r.license_action
            period = f"{la.period}" if code == "06" and la.period else ""
            parts.append(f"{name}（{la.license_name}，{la.license_no}）{period}")
        else:
            parts.append(name)
    return "，".join(parts)


def penalty_fields(r: Penalty, ctx: Context, cfg: CreditConfig, today: date) -> dict[str, Any]:
    """The CF_* fields of one decision (without SJBS/CZLX); raises MappingMissing or RecordInvalid."""
    m = ctx.mappings
    p = r.party
    dept = r.dept_code or "(空)"
    names = [m.get("penalty_types", t, "credit_name", what="处罚类别") for t in r.penalty_types]
    agency = m.get("departments", dept, "agency_name", what="部门")
    agency_uscc = m.get("departments", dept, "agency_uscc", what="部门")
    end = publicity_end(
        r.decided_on,
        is_serious(r.penalty_types, r.fine_yuan, cfg.serious_fine_yuan),
        general_years=cfg.general_period_years,
        serious_years=cfg.serious_period_years,
    )
    fields: dict[str, Any] = {
        "CF_XDR_MC": p.name,
        "CF_XDR_LB": m.get("party_types", p.type, "credit_name", what="当事人类型"),
        "CF_XDR_SHXYM": p.uscc or "",  # blank for 自然人
        "CF_WSH": r.decision_no,  # sent as entered: the platform normalises brackets itself
        "CF_WFXW": r.violation,
        "CF_SY": r.facts,
        "CF_YJ": r.basis,
        "CF_CFLB": ";".join(names),
        "CF_NR": _content(r, names),
        "CF_JDRQ": r.decided_on.isoformat(),
        "CF_YXQ": end.isoformat(),
        "CF_GSJZQ": end.isoformat(),
        "CF_CFJG": agency,
        "CF_CFJGDM": agency_uscc,
        "CF_SJLY": cfg.data_source_name or agency,
        "CF_SJLYDM": cfg.data_source_uscc or agency_uscc,
    }
    if p.legal_rep:
        fields["CF_FRDB"] = p.legal_rep
    if p.type == "2":
        fields["CF_XDR_ZJLX"] = m.get("id_types", p.id_type or "(空)", "credit_name", what="证件类型")
        fields["CF_XDR_ZJHM"] = p.id_no  # the platform needs the full number; logs and failures mask it
    if r.fine_yuan > 0:
        fields["CF_NR_FK"] = yuan_to_wan(r.fine_yuan)
    if r.confiscation_yuan > 0:
        fields["CF_NR_WFFF"] = yuan_to_wan(r.confiscation_yuan)
    if r.license_action is not None:
        fields["CF_NR_ZKDX"] = r.license_action.license_name + r.license_action.license_no
    _check(r, fields, today)
    return fields


def _check(r: Penalty, f: dict[str, Any], today: date) -> None:
    """What the platform would reject and the canonical model lets through: fail it here, in Chinese."""
    errors = [FieldError(k, "必填, 不能为空") for k in _REQUIRED if not f.get(k)]
    errors += [
        FieldError(k, f"长度 {len(f[k])} 超过上限 {n}")
        for k, n in _MAX_LEN.items()
        if len(f.get(k) or "") > n
    ]
    if f["CF_XDR_LB"] == "法人及非法人组织" and not f.get("CF_FRDB"):
        errors.append(FieldError("CF_FRDB", "法人及非法人组织须填写法定代表人"))
    if f["CF_XDR_LB"] == "自然人" and not (f.get("CF_XDR_ZJLX") and f.get("CF_XDR_ZJHM")):
        errors.append(FieldError("CF_XDR_ZJHM", "自然人须填写证件类型和证件号码"))
    if r.decided_on > today:
        errors.append(
            FieldError("CF_JDRQ", f"处罚决定日期 {r.decided_on} 晚于今天, 双公示平台不接受未来日期")
        )
    if "罚款" in f["CF_CFLB"].split(";") and not f.get("CF_NR_FK"):
        errors.append(FieldError("CF_NR_FK", "处罚类别含罚款, 罚款金额应大于0"))
    for k in ("CF_CFJGDM", "CF_SJLYDM"):
        if f.get(k) and (problem := uscc_problem(f[k])):
            errors.append(FieldError(k, f"统一社会信用代码 {f[k]} {problem} (请检查部门映射表或配置)"))
    if errors:
        raise RecordInvalid(r.id, errors)
