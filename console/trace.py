"""记录追踪 (``/trace?q=``): where a record went, found by 文号, 信用代码, source id or target id."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from connectors.contract.states import Action, DeliveryState, Kind, labels
from console.auth import page
from console.web import render, state
from sync.ledger.trace import RecordRef, RecordTrace


@page
def trace_page(request: Request) -> Response:
    st = state(request)
    q = (request.query_params.get("q") or "").strip()
    ref = _ref(request)
    traces: list[RecordTrace] = []
    if ref is not None:
        found = st.ledger.trace(ref)
        traces = [found] if found is not None else []
    elif q:
        refs = st.ledger.find_records(q)
        traces = [t for r in refs[:10] if (t := st.ledger.trace(r)) is not None]
    return render(
        request,
        "trace.html",
        {
            "q": q,
            "traces": traces,
            "searched": bool(q or ref),
            "ACTION_LABELS": labels(Action),
            "DELIVERY_LABELS": labels(DeliveryState),
            "KIND_LABELS": labels(Kind),
        },
    )


def _ref(request: Request) -> RecordRef | None:
    """A record named exactly (system, kind, id), as the links from failures and twins do."""
    p = request.query_params
    if p.get("system") and p.get("kind") and p.get("id"):
        return RecordRef(p["system"], p["kind"], p["id"])
    return None
