"""``zhifa-sync export sgs``: the 双公示 penalty template as an .xlsx file, for the manual upload.

The fallback when the credit platform's API is out of reach: an operator uploads the file on the
platform's web page; when the API works again the daemon finds those decisions as ``DUPLICATE`` and
links them instead of publishing them twice.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.contract.errors import MappingMissing, RecordInvalid
from connectors.contract.records import Penalty
from connectors.contract.roles import Context
from connectors.contract.states import DeliveryState
from connectors.credit.export import write_template

if TYPE_CHECKING:
    from zhifa_sync.app import App


def _credit_flows(app: App, target: str | None) -> list[tuple[str, str]]:
    """(source system, credit target) of every penalty pipeline that feeds a credit target."""
    flows = {
        (p.source, t)
        for p in app.settings.pipelines
        if p.kind == "penalty"
        for t in p.targets
        if app.settings.systems[t].type == "credit" and (target is None or t == target)
    }
    if not flows:
        raise ValueError("配置中没有发往双公示平台 (type: credit) 的处罚管道")
    return sorted(flows)


def export_sgs(
    app: App,
    path: Path | str,
    *,
    ids: Iterable[str] | None = None,
    pending: bool = True,
    target: str | None = None,
) -> tuple[int, list[str]]:
    """Write the template for the decisions not yet on the platform (or those in ``ids``).

    Returns (rows written, problems: records left out and why). Rows are in the platform's column order
    with its exact headers; dates and amounts are text cells (the platform counts the digits as written).
    **ID numbers are not masked in this file**: the platform needs the full 身份证号 of a natural person.
    Treat the file as personal data — hand it only to whoever uploads it, and delete it afterwards.
    """
    wanted = set(ids) if ids is not None else None
    maps = app.mappings.current()
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    for system, target_name in _credit_flows(app, target):
        credit = app.system(target_name).target("penalty")
        source = app.system(system).source()
        ctx = Context(maps, functools.partial(app.ledger.target_id, system))
        done = app.ledger.deliveries_to(
            system, "penalty", target_name, (DeliveryState.DELIVERED, DeliveryState.WITHDRAWN)
        )
        stored = [(r.source_id, r.body) for r in app.ledger.stored_records(system, "penalty")]
        for source_id, body in sorted(stored):
            if wanted is not None and source_id not in wanted:
                continue
            if wanted is None and pending and source_id in done:
                continue  # already accepted or linked on the platform
            try:
                record = source.parse("penalty", json.loads(body))
            except (RecordInvalid, ValueError) as exc:
                problems.append(f"{source_id}: {exc}")
                continue
            if not isinstance(record, Penalty) or record.withdrawn or not record.syncable:
                continue  # a revoked decision is withdrawn, not uploaded
            if wanted is None and not credit.wants(record):
                continue
            try:
                rows.append(credit.translate(record, ctx))
            except (MappingMissing, RecordInvalid) as exc:
                problems.append(f"{source_id}: {exc}")
        if wanted is not None:
            problems += [f"{i}: 账本中没有该处罚记录" for i in sorted(wanted - {s for s, _ in stored})]
    write_template(Path(path), rows)
    return len(rows), problems
