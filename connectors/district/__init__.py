"""区执法监督平台 (district enforcement supervision platform): the source of inspections and penalties,
and the target of city records (flow 3) and credit events (flow 4).

- ``client.py``: token login, the envelope, the wire-code table;
- ``source.py``: pulls (flows 1, 2, 5); ``inbound.py``: city records in (flow 3); ``events.py``: credit
  events in (flow 4); ``catalogue.py``: users, items, departments against the mapping tables;
- ``config.py``: its configuration; ``codes.py``: its code lists.
"""

from __future__ import annotations

import httpx

from connectors.contract.config import Secrets
from connectors.contract.roles import Roles, SystemType
from connectors.district.catalogue import DistrictCatalogue
from connectors.district.client import DistrictClient
from connectors.district.codes import MAPPING_RULES
from connectors.district.config import DistrictConfig
from connectors.district.events import CreditEventsTarget
from connectors.district.inbound import InboundTarget
from connectors.district.source import DistrictSource


def build(
    name: str, cfg: DistrictConfig, secrets: Secrets, *, transport: httpx.BaseTransport | None = None
) -> Roles:
    client = DistrictClient(name, cfg, secrets.get(name, "password"), transport)
    inbound = InboundTarget(client, cfg.concurrency)

    def ping() -> str:
        client.call(client.login, None, True)  # a fresh login, counted in the system's health
        return "登录成功"

    source = DistrictSource(client)
    return Roles(
        name,
        source_role=source,
        lister_role=source,
        target_roles={
            "inspection": inbound,
            "penalty": inbound,
            "credit_event": CreditEventsTarget(client, cfg.concurrency),
        },
        catalogue_role=DistrictCatalogue(client),
        pinger=ping,
        closer=client.close,
        health_of=client.health,
    )


SYSTEM = SystemType("district", "区执法监督平台", "区平台", DistrictConfig, build, MAPPING_RULES)

__all__ = ["SYSTEM", "DistrictClient", "DistrictConfig", "build"]
