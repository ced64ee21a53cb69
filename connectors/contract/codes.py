"""The canonical code lists: the district platform's own (docs/interfaces/district.md), which the canonical records keep and
the mapping tables translate from. Their names are what reports and pages show."""

from __future__ import annotations

INSPECTION_TYPES = {"01": "日常检查", "02": "双随机抽查", "03": "专项检查", "04": "举报核查", "05": "复查"}
RESULTS = {"1": "未发现问题", "2": "发现问题责令整改", "3": "发现问题立案查处"}
PENALTY_TYPES = {
    "01": "警告", "02": "通报批评", "03": "罚款", "04": "没收违法所得", "05": "没收非法财物", "06": "暂扣许可证件",
    "07": "降低资质等级", "08": "吊销许可证件", "09": "限制开展生产经营活动", "10": "责令停产停业", "11": "责令关闭",
    "12": "限制从业", "13": "行政拘留", "99": "其他",
}  # fmt: skip
PARTY_TYPES = {"1": "法人及非法人组织", "2": "自然人", "3": "个体工商户"}
ID_TYPES = {
    "SFZ": "居民身份证",
    "HZ": "护照",
    "GAT": "港澳居民来往内地通行证",
    "TW": "台湾居民来往大陆通行证",
}
