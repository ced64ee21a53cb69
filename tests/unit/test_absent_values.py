"""A field its source left empty is sent empty (null, or left out where the target allows it):
the project never invents a value (``"无"``, ``0``, ``"-"``) a person did not write."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.contract.records import Inspection
from connectors.contract.roles import Context
from connectors.district import inbound
from connectors.municipal.source import MunicipalSource
from simulators import datagen
from sync.mapping import files as mapping_files

MAPPINGS = mapping_files.load(Path(__file__).resolve().parents[2] / "mappings")
CTX = Context(MAPPINGS, lambda kind, sid, target: None)


def city_inspection(**change: Any) -> dict[str, Any]:
    """One inspection typed in at the city (the simulator's generator), with ``change`` applied."""
    data = datagen.generate(seed=5, inspections=40, penalties=2, city_only_share=0.2)
    raw = {**data.city_inspections[0], "jcjlbh": "JC-CITY-1", "gxsj": "2025-06-01 10:00:00", **change}
    return {k: v for k, v in raw.items() if v is not ...}


@pytest.mark.parametrize("absent", [None, ...], ids=["null", "missing"])
def test_hazard_counts_the_city_left_empty_reach_the_district_as_null(absent: Any) -> None:
    """yhsl/zdyhsl are optional at the city: an empty count stays empty on the district, not 0."""
    source = MunicipalSource(SimpleNamespace(system="municipal"))  # type: ignore[arg-type]  # parse needs no client
    record = source.parse("inspection", city_inspection(yhsl=absent, zdyhsl=absent))
    assert isinstance(record, Inspection)
    assert (record.hazard_count, record.major_hazard_count) == (None, None)
    body = inbound.translate("district", record, CTX)["body"]
    assert body["hazard_count"] is None and body["major_hazard_count"] is None


def test_hazard_counts_the_city_wrote_are_kept_including_zero() -> None:
    source = MunicipalSource(SimpleNamespace(system="municipal"))  # type: ignore[arg-type]  # parse needs no client
    record = source.parse("inspection", city_inspection(yhsl=0, zdyhsl=2))
    assert isinstance(record, Inspection) and (record.hazard_count, record.major_hazard_count) == (0, 2)
