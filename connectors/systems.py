"""The external systems zhifa-sync knows, by the ``type`` their configuration gives: an explicit table,
so a newcomer finds every system in one place and an unknown type is a clear error naming the known ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.contract.config import Secrets, SystemConfig


def _district(name: str, cfg: SystemConfig, secrets: Secrets) -> Any:
    from connectors.district.connector import DistrictConnector

    return DistrictConnector(name, cfg, secrets)


def _municipal(name: str, cfg: SystemConfig, secrets: Secrets) -> Any:
    from connectors.municipal.source import MunicipalSourceConnector

    return MunicipalSourceConnector(name, cfg, secrets)


def _credit(name: str, cfg: SystemConfig, secrets: Secrets) -> Any:
    from connectors.credit.connector import CreditConnector

    return CreditConnector(name, cfg, secrets)


def _hlwjg(name: str, cfg: SystemConfig, secrets: Secrets) -> Any:
    from connectors.hlwjg.connector import HlwjgConnector

    return HlwjgConnector(name, cfg, secrets)


FACTORIES: dict[str, Callable[[str, SystemConfig, Secrets], Any]] = {
    "district": _district,
    "municipal": _municipal,
    "credit": _credit,
    "hlwjg": _hlwjg,
}


def create(name: str, cfg: SystemConfig, secrets: Secrets) -> Any:
    """Build the connector for system ``name``; an unknown type names the known ones."""
    try:
        factory = FACTORIES[cfg.type]
    except KeyError:
        raise ValueError(f"未知的系统类型 {cfg.type!r}; 已知: {', '.join(sorted(FACTORIES))}") from None
    return factory(name, cfg, secrets)
