"""The external systems zhifa-sync knows, by the ``type`` their configuration gives: an explicit table,
so a newcomer finds every system in one place and an unknown type is a clear error naming the known ones."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from connectors import credit, district, hlwjg, municipal
from connectors.contract.config import Secrets
from connectors.contract.roles import System, SystemType
from connectors.credit.config import CreditConfig
from connectors.district.config import DistrictConfig
from connectors.hlwjg.config import HlwjgConfig
from connectors.municipal.config import MunicipalConfig

TYPES: dict[str, SystemType] = {
    t.type: t for t in (district.SYSTEM, municipal.SYSTEM, credit.SYSTEM, hlwjg.SYSTEM)
}

# A system's configuration, validated as the model its ``type`` names.
SystemConfig = Annotated[
    DistrictConfig | MunicipalConfig | CreditConfig | HlwjgConfig,
    Field(discriminator="type"),
]


def system_type(name: str) -> SystemType:
    try:
        return TYPES[name]
    except KeyError:
        raise ValueError(f"未知的系统类型 {name!r}; 已知: {', '.join(sorted(TYPES))}") from None


def create(name: str, cfg: Any, secrets: Secrets, **hooks: Any) -> System:
    """Build system ``name`` from its configuration (``hooks``: a test's transport, engine or clock)."""
    built: System = system_type(cfg.type).build(name, cfg, secrets, **hooks)
    return built


def label(type_name: str) -> str:
    """What a system type is called, in Chinese (the type itself when unknown)."""
    t = TYPES.get(type_name)
    return t.label if t else type_name


__all__ = [
    "TYPES",
    "CreditConfig",
    "DistrictConfig",
    "HlwjgConfig",
    "MunicipalConfig",
    "SystemConfig",
    "create",
]
