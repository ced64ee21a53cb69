"""Connectors pointed at mocked HTTP (respx) base URLs, and the district API's answer envelope."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from connectors import district as district_system
from connectors import municipal as municipal_system
from connectors.contract.config import RetryConfig, SecretRef, Secrets
from connectors.contract.records import RecordKind
from connectors.contract.roles import Roles, Source, Target
from connectors.district.config import DistrictConfig
from connectors.municipal.config import MunicipalConfig

FAST = RetryConfig(attempts=3, initial_wait_s=0.001, max_wait_s=0.01)
D = "http://district.test"
M = "http://municipal.test"


def district_roles() -> Roles:
    cfg = DistrictConfig(type="district", base_url=D, username="u", password=SecretRef(env="X"), retry=FAST)
    return district_system.build("district", cfg, Secrets({"district.password": SecretStr("pw")}))


def district() -> Source:
    return district_roles().source()


def district_target(kind: RecordKind) -> Target:
    return district_roles().target(kind)


def municipal() -> Target:
    cfg = MunicipalConfig(
        type="municipal",
        base_url=M,
        app_key="AK",
        app_secret=SecretRef(env="X"),
        region_code="120116",
        retry=FAST,
    )
    system = municipal_system.build("municipal", cfg, Secrets({"municipal.app_secret": SecretStr("SECRET")}))
    return system.target("penalty")


def ok(data: object) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "msg": "ok", "data": data})


def page(items: list[dict[str, object]]) -> httpx.Response:
    return ok({"total": len(items), "page": 1, "page_size": 200, "items": items})
