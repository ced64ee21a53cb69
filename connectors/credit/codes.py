"""The credit platform's code lists (docs/interfaces/credit.md: 处罚类别, 行政相对人类别, 证件类型), and how the mapping
tables' ``credit_name`` columns are checked against them."""

from __future__ import annotations

from connectors.contract.checks import MappingRules, enumeration, rule

CFLB = tuple(
    [
        "警告",
        "通报批评",
        "罚款",
        "没收违法所得",
        "没收非法财物",
        "暂扣许可证件",
        "降低资质等级",
        "吊销许可证件",
        "限制开展生产经营活动",
        "责令停产停业",
        "责令关闭",
        "限制从业",
        "行政拘留",
        "其他",
    ]
)
XDR_LB = ("法人及非法人组织", "自然人", "个体工商户")
ZJLX = ("身份证", "护照号", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "外国人永久居留身份证")
C = "credit"


def _names(values: tuple[str, ...]) -> dict[str, str]:
    return {v: v for v in values}


MAPPING_RULES = MappingRules(
    {
        "penalty_types": {
            "credit_name": rule("双公示处罚类别 CF_CFLB", enumeration(_names(CFLB), "双公示平台"), C)
        },
        "party_types": {
            "credit_name": rule(
                "双公示行政相对人类别 CF_XDR_LB", enumeration(_names(XDR_LB), "双公示平台"), C
            )
        },
        "id_types": {
            "credit_name": rule("双公示证件类型 CF_XDR_ZJLX", enumeration(_names(ZJLX), "双公示平台"), C)
        },
    }
)
