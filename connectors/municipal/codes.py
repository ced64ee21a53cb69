"""The municipal system's code lists (docs/interfaces/municipal.md), and how the mapping tables' municipal columns are
checked against them. Flow 3 maps the city's codes back to the district's, so a value in those columns
must name one row only (``reverse``)."""

from __future__ import annotations

import re

from connectors.contract.checks import MappingRules, enumeration, pattern, rule

JCLX = {"RCJC": "日常检查", "SSJ": "双随机抽查", "ZXJC": "专项检查", "JBHC": "举报核查", "FC": "复查"}
JCJG = {"0": "未发现问题", "1": "发现问题"}
SFLA = {"Y": "立案", "N": "不立案"}
CFLB = {
    "JG": "警告", "TBPP": "通报批评", "FK": "罚款", "MSWFSD": "没收违法所得", "MSFFCW": "没收非法财物",
    "ZKXKZ": "暂扣许可证件", "JDZZ": "降低资质等级", "DXXKZ": "吊销许可证件", "XZSC": "限制开展生产经营活动",
    "TCTY": "责令停产停业", "ZLGB": "责令关闭", "XZCY": "限制从业", "XZJL": "行政拘留", "QT": "其他",
}  # fmt: skip
DSRLX = {"DW": "单位", "GR": "个人", "GTH": "个体工商户"}
ZJLX = {"01": "身份证", "02": "护照", "03": "港澳通行证", "04": "台胞证"}
# What the canonical model checks itself, from the city's lists to the district's codes (flow 3).
JLZT_STATUS = {"ZC": "submitted", "ZF": "void"}
AJZT_STATUS = {"YJD": "decided", "YCX": "revoked", "YJA": "closed"}
DSRLX_PARTY = {"DW": "1", "GR": "2", "GTH": "3"}
ZJLX_ID = {"01": "SFZ", "02": "HZ", "03": "GAT", "04": "TW"}
CXLX_PROCEDURE = {"YB": "general", "JY": "summary"}

ITEM_CODE = re.compile(r"^\d{6}-[A-Z]{2,8}-\d{4}$")
M = "municipal"

MAPPING_RULES = MappingRules(
    {
        "items": {
            "municipal_item_code": rule(
                "市系统事项编码", pattern(ITEM_CODE, "区划代码-字母-4位序号, 如 120000-AQJC-0012"), M
            )
        },
        "departments": {"municipal_org_code": rule("市系统执法机构代码", None, M)},
        "inspection_types": {"municipal_code": rule("市系统检查类型 jclx", enumeration(JCLX, "市系统"), M)},
        "inspection_results": {
            "municipal_jcjg": rule("市系统检查结果 jcjg", enumeration(JCJG, "市系统"), M),
            "municipal_sfla": rule("市系统是否立案 sfla", enumeration(SFLA, "市系统"), M),
        },
        "penalty_types": {"municipal_code": rule("市系统处罚类别 cflb", enumeration(CFLB, "市系统"), M)},
        "party_types": {"municipal_code": rule("市系统当事人类型 dsrlx", enumeration(DSRLX, "市系统"), M)},
        "id_types": {"municipal_code": rule("市系统证件类型 zjlx", enumeration(ZJLX, "市系统"), M)},
    },
    reverse={
        "items": ("municipal_item_code",),
        "departments": ("municipal_org_code",),
        "officers": ("cert_no",),
        "inspection_types": ("municipal_code",),
        "inspection_results": ("municipal_jcjg", "municipal_sfla"),
        "penalty_types": ("municipal_code",),
        "party_types": ("municipal_code",),
        "id_types": ("municipal_code",),
    },
)
