"""对账 page: the last reconciliation of each pipeline — its figures per target and kind, and its findings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from connectors.contract.states import Finding, labels
from console.auth import page
from console.present import masked_row
from console.views import system_label
from console.web import render, state

FINDINGS_SHOWN = 500  # per pipeline; the CLI and the ledger have them all


@page
def reconcile_page(request: Request) -> Response:
    st = state(request)
    runs = st.ledger.last_reconciles()
    for run in runs:
        findings = run["findings"]
        targets = sorted({f["target"] for f in findings})
        if st.settings is not None and run["pipeline"] in {p.name for p in st.settings.pipelines}:
            targets = list(st.settings.pipeline(run["pipeline"]).targets)
        run["table"] = [
            {
                "target": system_label(st, t),
                "counts": {
                    k.value: sum(1 for f in findings if f["target"] == t and f["finding"] == k)
                    for k in Finding
                },
            }
            for t in targets
        ]
        source = _source_of(st, run["pipeline"])
        run["shown"] = [_finding(st, f, source) for f in findings[:FINDINGS_SHOWN]]
        run["more"] = max(0, len(findings) - FINDINGS_SHOWN)
    return render(request, "reconcile.html", {"runs": runs, "finding_labels": labels(Finding)})


def _source_of(st: Any, pipeline: str) -> tuple[str, str] | None:
    """(source system, kind) of a configured pipeline: what a finding's record id is an id of."""
    if st.settings is None or pipeline not in {p.name for p in st.settings.pipelines}:
        return None
    cfg = st.settings.pipeline(pipeline)
    return cfg.source, cfg.kind


def _finding(st: Any, row: dict[str, Any], source: tuple[str, str] | None) -> dict[str, Any]:
    shown = masked_row(row)
    shown["target_label"] = system_label(st, row["target"])
    shown["trace"] = (
        "/trace?" + urlencode({"system": source[0], "kind": source[1], "id": row["source_id"]})
        if source is not None
        else None
    )
    return shown
