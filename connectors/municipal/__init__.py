"""市应急管理执法系统 (municipal enforcement system): the target of district inspections and penalties
(flows 1, 2, 5) and the source of records typed in at the city (flow 3).

- ``client.py``: MD5 signing, the envelope, the wire-code table, region listing;
- ``target.py``: save/link/void/revoke with hand-typed twins; ``source.py``: city records out (flow 3);
  ``catalogue.py``: the city's dictionaries against the mapping tables;
- ``config.py``: its configuration; ``codes.py``: its code lists.
"""

from __future__ import annotations

import httpx

from connectors.contract.config import Secrets
from connectors.contract.roles import Roles, SystemType
from connectors.municipal.catalogue import MunicipalCatalogue
from connectors.municipal.client import MunicipalClient
from connectors.municipal.codes import MAPPING_RULES
from connectors.municipal.config import MunicipalConfig
from connectors.municipal.source import MunicipalSource
from connectors.municipal.target import MunicipalTarget


def build(
    name: str, cfg: MunicipalConfig, secrets: Secrets, *, transport: httpx.BaseTransport | None = None
) -> Roles:
    client = MunicipalClient(name, cfg, secrets.get(name, "app_secret"), transport)
    target = MunicipalTarget(
        client, cfg.concurrency, push_process=cfg.push_process, pace_per_s=cfg.rate_limit_per_s
    )
    catalogue = MunicipalCatalogue(client)

    def ping() -> str:
        return f"签名校验通过, 执法机构字典 {len(client.dictionary('zfjg'))} 项"

    source = MunicipalSource(client)
    return Roles(
        name,
        source_role=source,
        lister_role=source,
        target_roles={"inspection": target, "penalty": target},
        reader_roles={"inspection": target, "penalty": target},
        catalogue_role=catalogue,
        pinger=ping,
        closer=client.close,
        health_of=client.health,
    )


SYSTEM = SystemType("municipal", "市应急管理执法系统", "市系统", MunicipalConfig, build, MAPPING_RULES)

__all__ = ["SYSTEM", "MunicipalClient", "MunicipalConfig", "build"]
