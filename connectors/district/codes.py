"""The district platform's code lists (docs/interfaces/district.md), and how the mapping tables' key columns — which hold
district codes — are checked against them."""

from __future__ import annotations

from connectors.contract.checks import MappingRules, enumeration, rule
from connectors.contract.codes import ID_TYPES, INSPECTION_TYPES, PARTY_TYPES, PENALTY_TYPES, RESULTS

# Credit-event kinds as the district's /api/v1/credit-events takes them, by the credit platform's type.
EVENT_KINDS = {
    "REPAIRED": "repaired",
    "WITHDRAWN": "withdrawn",
    "EXPIRED": "expired",
    "BLACKLIST_ADD": "blacklist_add",
    "BLACKLIST_REMOVE": "blacklist_remove",
}

# The key columns hold district codes: needed whatever else is configured (no system listed).
MAPPING_RULES = MappingRules(
    {
        "inspection_types": {
            "district_code": rule("区平台检查类型", enumeration(INSPECTION_TYPES, "区平台"))
        },
        "inspection_results": {"district_code": rule("区平台检查结果", enumeration(RESULTS, "区平台"))},
        "penalty_types": {"district_code": rule("区平台处罚类别", enumeration(PENALTY_TYPES, "区平台"))},
        "party_types": {"district_code": rule("区平台当事人类型", enumeration(PARTY_TYPES, "区平台"))},
        "id_types": {"district_code": rule("区平台证件类型", enumeration(ID_TYPES, "区平台"))},
    }
)
