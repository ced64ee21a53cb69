"""信用信息共享平台 (credit-information platform, 双公示): the target of penalty decisions (flows 2, 5) and
the source of credit events (flow 4). It publishes no code catalogue.

- ``client.py``: HMAC signing with single-use nonces, the wire-code table;
- ``target.py``: batches of I/U/D with adoption of hand-typed decisions; ``fields.py``: the ``CF_*``
  format (万元, 处罚内容, checks); ``publicity.py``: 公示期; ``export.py``: the .xlsx upload template;
- ``events.py``: the events feed across expiring cursors;
- ``config.py``: its configuration; ``codes.py``: its code lists.
"""

from __future__ import annotations

import httpx

from connectors.contract.clock import aware_now
from connectors.contract.config import Secrets
from connectors.contract.errors import FatalConnectorError
from connectors.contract.roles import Roles, SystemType
from connectors.contract.validators import uscc_problem
from connectors.credit.client import CreditClient
from connectors.credit.codes import MAPPING_RULES
from connectors.credit.config import CreditConfig
from connectors.credit.events import EVENTS_PATH, ISO_FORMAT, CreditEventsSource
from connectors.credit.target import CreditTarget


def build(
    name: str, cfg: CreditConfig, secrets: Secrets, *, transport: httpx.BaseTransport | None = None
) -> Roles:
    if cfg.data_source_uscc and (problem := uscc_problem(cfg.data_source_uscc)):
        raise FatalConnectorError(f"{name}: data_source_uscc {cfg.data_source_uscc} {problem}", system=name)
    client = CreditClient(name, cfg, secrets.get(name, "app_secret"), transport)

    def ping() -> str:
        client.request("GET", EVENTS_PATH, params={"since": aware_now().strftime(ISO_FORMAT), "limit": 1})
        return "签名校验通过"

    target = CreditTarget(client, cfg)
    return Roles(
        name,
        source_role=CreditEventsSource(client),
        target_roles={"penalty": target},
        reader_roles={"penalty": target},
        pinger=ping,
        closer=client.close,
        health_of=client.health,
    )


SYSTEM = SystemType("credit", "信用信息共享平台 (双公示)", "双公示平台", CreditConfig, build, MAPPING_RULES)

__all__ = ["SYSTEM", "CreditClient", "CreditConfig", "build"]
