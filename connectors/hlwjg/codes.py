"""The 互联网+监管 code lists (docs/interfaces/hlwjg.md), the formats of its codes, and how the mapping tables' ``hlwjg_*``
columns and the 检查实施清单 table are checked offline."""

from __future__ import annotations

import re

from connectors.contract.checks import MappingRules, enumeration, pattern, rule
from connectors.contract.codes import PENALTY_TYPES
from connectors.contract.mapping import CheckReport, Mappings

CHECK_TYPE = {"1": "双随机抽查", "2": "重点检查", "3": "专项检查", "4": "投诉举报核查", "9": "其他"}
CHECK_RESULT = {"1": "未发现问题", "2": "发现问题责令改正", "3": "发现问题予以处罚", "4": "其他"}
PUNISH_TYPE = dict(PENALTY_TYPES)  # 行政处罚行为 PUNISH_TYPE: the same codes and names as the district's
CP_NA = {"01": "法人及非法人组织", "02": "自然人", "03": "个体工商户"}
CE_TYPE = {
    "111": "居民身份证",
    "414": "护照",
    "516": "港澳居民来往内地通行证",
    "511": "台湾居民来往大陆通行证",
}
ITEM_CODE = re.compile(r"^\d{14}$")  # 监管事项目录编码
CD_SOURCE = re.compile(r"^\d{6}[A-Za-z0-9]{1,14}$")  # region code + department code
PLATFORM = "互联网+监管"
H = "hlwjg"


def icode_problem(icode: str, agency: str) -> str | None:
    """What is wrong with a 检查实施清单编码 for ``agency``: its first 18 characters are the agency's USCC,
    the 19th is 1–5, at most 32 in all (docs/interfaces/hlwjg.md). Said for a person reading the mapping table."""
    if len(icode) > 32:
        return "超过 32 位"
    if not icode.startswith(agency):
        return f"的前 18 位应为本行实施机构的统一社会信用代码 {agency}"
    if len(icode) < 19 or icode[18] not in "12345":
        return f"的第 19 位应为 1–5 (实际 {icode[18:19] or '缺少'})"
    return None


def cross_checks(maps: Mappings, report: CheckReport) -> None:
    """Rows that refer to other tables: 检查实施清单 vs items and departments, CD_SOURCE vs region."""
    for at in maps.rows("departments"):
        source, region = at.values.get("hlwjg_cd_source", ""), at.values.get("region_code", "")
        if source and region and CD_SOURCE.match(source) and not source.startswith(region):
            report.error(
                at, "hlwjg_cd_source", f"CD_SOURCE {source} 应以本部门行政区划代码 {region} 开头: 请核对"
            )
    agencies = {at.values.get("agency_uscc", "") for at in maps.rows("departments")}
    items = maps.tables.get("items")
    for at in maps.rows("hlwjg_check_implement"):
        (item_code, agency), icode = at.key, at.values.get("check_icode", "")
        if icode and (problem := icode_problem(icode, agency)):
            report.error(at, "check_icode", f"检查实施清单编码 {icode} {problem}: 请核对")
        item = items.rows.get((item_code,)) if items else None
        if item is None:
            report.error(
                at,
                "district_item_code",
                f"事项 {item_code} 不在 {maps.file_of('items')} 中: 请先在事项表中添加该事项",
            )
        elif item.values.get("kind") != "inspection":
            report.error(
                at, "district_item_code", f"事项 {item_code} 不是检查事项: 检查实施清单只用于检查事项"
            )
        if agencies and agency not in agencies:
            report.warn(
                at,
                "agency_uscc",
                f"{agency} 不是任何部门 ({maps.file_of('departments')} 的 agency_uscc) 的统一社会信用代码:"
                " 该行不会被用到, 请核对",
            )


MAPPING_RULES = MappingRules(
    {
        "items": {"hlwjg_item_code": rule("监管事项目录编码", pattern(ITEM_CODE, "14 位数字"), H)},
        "departments": {
            "hlwjg_cd_source": rule(
                "前置库 CD_SOURCE", pattern(CD_SOURCE, "6 位行政区划代码加 1–14 位字母或数字"), H
            )
        },
        "inspection_types": {
            "hlwjg_code": rule("互联网+监管检查类别 CHECK_TYPE", enumeration(CHECK_TYPE, PLATFORM), H)
        },
        "inspection_results": {
            "hlwjg_code": rule("互联网+监管检查结果 CHECK_RESULT", enumeration(CHECK_RESULT, PLATFORM), H)
        },
        "penalty_types": {
            "hlwjg_code": rule("互联网+监管处罚类型 PUNISH_TYPE", enumeration(PUNISH_TYPE, PLATFORM), H)
        },
        "party_types": {"hlwjg_code": rule("互联网+监管行政相对人性质", enumeration(CP_NA, PLATFORM), H)},
        "id_types": {"hlwjg_code": rule("互联网+监管证件类型", enumeration(CE_TYPE, PLATFORM), H)},
        "hlwjg_check_implement": {"check_icode": rule("检查实施清单编码", None, H)},
    },
    cross=cross_checks,
)
