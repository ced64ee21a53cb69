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

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from connectors.contract.errors import MappingMissing, RecordInvalid
from connectors.contract.records import Penalty, parse_record
from connectors.contract.roles import Context
from connectors.credit.connector import XLSX_COLUMNS
from sync.db import deliveries, records

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
        connector = app.connector(target_name)
        ctx = Context(maps, functools.partial(app.ledger.target_id, system))
        with app.ledger.engine.connect() as conn:
            done = set(
                conn.scalars(
                    select(deliveries.c.source_id).where(
                        deliveries.c.system == system,
                        deliveries.c.kind == "penalty",
                        deliveries.c.target == target_name,
                        deliveries.c.state.in_(("delivered", "withdrawn")),
                    )
                )
            )
            stored = conn.execute(
                select(records.c.source_id, records.c.body).where(
                    records.c.system == system, records.c.kind == "penalty"
                )
            ).all()
        for source_id, body in sorted(stored):
            if wanted is not None and source_id not in wanted:
                continue
            if wanted is None and pending and source_id in done:
                continue  # already accepted or linked on the platform
            try:
                record = parse_record("penalty", json.loads(body))
            except (RecordInvalid, ValueError) as exc:
                problems.append(f"{source_id}: {exc}")
                continue
            if not isinstance(record, Penalty) or record.withdrawn or not record.syncable:
                continue  # a revoked decision is withdrawn, not uploaded
            if wanted is None and not connector.wants(record):
                continue
            try:
                rows.append(connector.translate(record, ctx))
            except (MappingMissing, RecordInvalid) as exc:
                problems.append(f"{source_id}: {exc}")
        if wanted is not None:
            problems += [f"{i}: 账本中没有该处罚记录" for i in sorted(wanted - {s for s, _ in stored})]
    _write(Path(path), rows)
    return len(rows), problems


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.title = "行政处罚"
    sheet.append([header for header, _ in XLSX_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([str(row.get(field) or "") for _, field in XLSX_COLUMNS])
    for column in sheet.iter_cols(min_row=2):
        for cell in column:
            cell.number_format = "@"  # text: Excel must not turn 2025-06-20 into a date or 0.12 into 0.12000
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
