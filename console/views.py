"""The console's pages (GET): overview, failures, one failure, run history, audit, unmapped codes."""

from __future__ import annotations

import contextlib
import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from console import queries
from console.auth import page
from console.present import (
    ERROR_KIND_LABELS,
    STATE_LABELS,
    SYSTEM_TYPE_LABELS,
    bar_chart,
    masked_row,
    pretty,
)
from console.web import ConsoleState, error_page, query_url, render, safe_next, state
from sync.advice import advice
from sync.failure_detail import bad_fields, was_sent
from sync.health import health_row
from sync.health import load as load_health
from sync.lag import pipeline_lag

DELIVERED_STATES = ("delivered", "sent", "withdrawn")


def system_label(st: ConsoleState, name: str | None) -> str:
    """What the system is, in Chinese, with its config name when that differs from its type."""
    if not name:
        return ""
    kind = st.settings.systems[name].type if st.settings and name in st.settings.systems else name
    label = SYSTEM_TYPE_LABELS.get(kind)
    if label is None:
        return name
    return label if kind == name else f"{label} ({name})"


MAX_PAGE = 100_000  # 5 million rows at 50 a page; a larger number overflowed PostgreSQL's OFFSET (a 500)


def _int(value: str | None, default: int, low: int = 1, high: int = MAX_PAGE) -> int:
    """A page number from the query string; a clear 400 when it is out of range."""
    try:
        number = max(low, int((value or str(default))[:20]))
    except ValueError:
        return default
    if number > high:
        raise HTTPException(400, f"页码超出范围: 应为 {low} 到 {high} 之间的整数。")
    return number


def _pager(
    request: Request, page_no: int, total: int | None, size: int, has_more: bool = False
) -> dict[str, Any]:
    """Page links that keep the other query parameters."""
    params = dict(request.query_params)
    pages = max(1, math.ceil(total / size)) if total is not None else None

    def url(n: int) -> str:
        return query_url(request.url.path, {**params, "page": n if n > 1 else None})

    last = pages if pages is not None else page_no + (1 if has_more else 0)
    return {
        "page": page_no,
        "pages": pages,
        "total": total,
        "prev": url(page_no - 1) if page_no > 1 else None,
        "next": url(page_no + 1) if page_no < last else None,
        "first": url(1) if page_no > 1 else None,
        "last": url(pages) if pages and page_no < pages else None,
    }


def _status(st: ConsoleState) -> tuple[dict[str, Any], str | None]:
    if st.status is None:
        return {}, None
    try:
        return st.status() or {}, None
    except Exception as exc:  # the overview still shows what the ledger knows
        return {}, f"无法获取服务运行状态: {exc}"


def _schedule_text(st: ConsoleState, name: str) -> str:
    if not st.settings:
        return ""
    try:
        sched = st.settings.pipeline(name).schedule
    except KeyError:
        return ""
    return f"每 {sched.interval_minutes:g} 分钟" if sched.interval_minutes else f"cron {sched.cron}"


def _pipelines(
    st: ConsoleState, status: dict[str, Any], counts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if status.get("pipelines"):
        rows = [dict(p) for p in status["pipelines"]]
    elif st.settings:
        rows = [
            {
                "name": p.name,
                "enabled": p.enabled,
                "source": p.source,
                "targets": list(p.targets),
                "kind": p.kind,
            }
            for p in st.settings.pipelines
        ]
    else:  # no configuration at hand: the pipelines the ledger has seen
        names = {r["pipeline"] for r in st.ledger.recent_runs(limit=500)} | {c["pipeline"] for c in counts}
        rows = [{"name": n} for n in sorted(names)]
    open_by: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for c in counts:
        open_by[c["pipeline"]][c["state"]] += c["n"]
    controls = st.ledger.controls([p["name"] for p in rows])
    for p in rows:
        p["control"] = controls[p["name"]]  # paused: read from the ledger, whichever instance paused it
        runs = st.ledger.recent_runs(p["name"], limit=1)
        p["last_run"] = runs[0] if runs else None
        p["failures"] = open_by[p["name"]]
        p["schedule"] = p.get("schedule") or _schedule_text(st, p["name"])
        p["lag"] = pipeline_lag(st.ledger, p["name"])
        p["targets_label"] = "、".join(system_label(st, t) for t in p.get("targets") or [])
    return rows


def _systems(st: ConsoleState, status: dict[str, Any], counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if status.get("systems"):
        rows = [masked_row(dict(s)) for s in status["systems"]]
    elif st.settings:  # a console in its own process: what the daemon last saved in the ledger
        rows = [
            masked_row({"type": s.type, **health_row(load_health(st.ledger, n))})
            for n, s in st.settings.systems.items()
        ]
    else:
        rows = [{"name": n, "health": "unknown"} for n in sorted({c["target"] for c in counts})]
    open_by: Counter[str] = Counter()
    for c in counts:
        open_by[c["target"]] += c["n"]
    delivered: Counter[str] = Counter()
    for d in st.ledger.delivery_counts():
        if d["state"] in DELIVERED_STATES:
            delivered[d["target"]] += d["n"]
    for s in rows:
        s["label"] = SYSTEM_TYPE_LABELS.get(s.get("type") or s["name"], "")
        s["open_failures"] = open_by[s["name"]]
        s["delivered"] = delivered[s["name"]]
    return rows


@page
def overview(request: Request) -> Response:
    st = state(request)
    status, status_error = _status(st)
    counts = st.ledger.failure_counts()
    by_state: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for c in counts:
        by_state[c["state"]] += c["n"]
        by_kind[c["error_kind"]] += c["n"]
    chart = bar_chart([(ERROR_KIND_LABELS.get(k, k), n) for k, n in by_kind.most_common()])
    unmapped, _ = queries.unmapped_keys(st.ledger)
    return render(
        request,
        "overview.html",
        {
            "pipelines": _pipelines(st, status, counts),
            "systems": _systems(st, status, counts),
            "deadlines": status.get("deadlines"),
            "mappings": status.get("mappings"),
            "status_error": status_error,
            "by_state": by_state,
            "unresolved": sum(by_state.values()),
            "chart": chart,
            "unmapped_count": len(unmapped),
            "sys_label": lambda name: system_label(st, name),
        },
    )


def _day(value: str | None, errors: list[str], label: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d")
    except ValueError:
        errors.append(f"{label}格式应为 年-月-日 (如 2026-03-01), 已忽略")
        return None


@page
def failure_list(request: Request) -> Response:
    st = state(request)
    q = request.query_params
    filters = {
        k: (q.get(k) or "").strip()
        for k in ("pipeline", "target", "error_kind", "state", "since", "until", "q")
    }
    if "state" not in q:
        filters["state"] = "unresolved"  # what an operator has left to do
    errors: list[str] = []
    since = _day(filters["since"], errors, "开始日期")
    until = _day(filters["until"], errors, "结束日期")
    page_no = _int(q.get("page"), 1)
    groups, total = st.ledger.query_failure_groups(
        state=None if filters["state"] == "all" else filters["state"] or None,
        pipeline=filters["pipeline"] or None,
        target=filters["target"] or None,
        error_kind=filters["error_kind"] or None,
        search=filters["q"] or None,
        since=since,
        until=until + timedelta(days=1, seconds=-1) if until else None,
        limit=st.page_size,
        offset=(page_no - 1) * st.page_size,
    )
    facets = st.ledger.failure_facets()
    if st.settings:
        facets["pipeline"] = sorted(set(facets["pipeline"]) | {p.name for p in st.settings.pipelines})
        facets["target"] = sorted(set(facets["target"]) | set(st.settings.systems))
    facets["error_kind"] = sorted(
        set(facets["error_kind"]) | set(ERROR_KIND_LABELS), key=list(ERROR_KIND_LABELS).index
    )
    retry_count = 0
    if filters["error_kind"]:
        retry_count = len(
            st.ledger.failure_ids(
                error_kind=filters["error_kind"],
                pipeline=filters["pipeline"] or None,
                target=filters["target"] or None,
            )
        )
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        request,
        "failures.html",
        {
            "groups": [[masked_row(r) for r in g] for g in groups],
            "filters": filters,
            "errors": errors,
            "facets": facets,
            "pager": _pager(request, page_no, total, st.page_size),
            "retry_count": retry_count,
            "here": here,
            "states": [("unresolved", "未解决 (全部)"), *STATE_LABELS.items(), ("all", "全部")],
            "sys_label": lambda name: system_label(st, name),
        },
    )


@page
def failure_detail(request: Request) -> Response:
    st = state(request)
    failure_id = request.path_params["failure_id"]
    failure = st.ledger.get_failure(failure_id)
    if failure is None:
        return error_page(request, 404, "未找到", f"没有编号为 {failure_id} 的同步失败记录。")
    attempts = None
    if st.settings:
        with contextlib.suppress(KeyError):
            attempts = st.settings.pipeline(failure["pipeline"]).auto_retry_attempts
    history, _ = st.ledger.audit_page(limit=100, offset=0, failure_id=failure_id)
    target_label = system_label(st, failure["target"])
    return render(
        request,
        "failure.html",
        {
            "f": masked_row({k: v for k, v in failure.items() if k not in ("attempt_log", "record")}),
            # before the fix a validation failure kept the source record as its "payload"
            "record": pretty(failure["record"] or (None if was_sent(failure) else failure["payload"])),
            "payload": pretty(failure["payload"]) if was_sent(failure) else "",
            "bad_fields": bad_fields(failure),
            "response": pretty(failure["response"]),
            "attempt_log": [masked_row(a) for a in reversed(failure["attempt_log"])],
            "history": [masked_row(h) for h in history],
            # one bad record fails once per target: the others, to act on them all at once
            "siblings": [masked_row(s) for s in st.ledger.record_failures(failure_id)],
            "advice": advice(failure, target_label=target_label, auto_retry_attempts=attempts),
            "target_label": target_label,
            "source_label": system_label(st, failure["system"]),
            "back": safe_next(request.query_params.get("back"), "/failures"),
        },
    )


@page
def run_history(request: Request) -> Response:
    st = state(request)
    pipeline = (request.query_params.get("pipeline") or "").strip()
    page_no = _int(request.query_params.get("page"), 1)
    rows = st.ledger.recent_runs(
        pipeline or None, limit=st.page_size + 1, offset=(page_no - 1) * st.page_size
    )
    has_more = len(rows) > st.page_size
    rows = rows[: st.page_size]
    for r in rows:
        r["duration_s"] = (r["finished_at"] - r["started_at"]).total_seconds() if r["finished_at"] else None
    names = sorted({p.name for p in st.settings.pipelines}) if st.settings else []
    if not names:
        names = sorted({r["pipeline"] for r in st.ledger.recent_runs(limit=500)})
    configured = st.settings is not None and any(p.name == pipeline for p in st.settings.pipelines)
    return render(
        request,
        "runs.html",
        {
            "control": st.ledger.control(pipeline) if configured else None,
            "rows": [masked_row(r) for r in rows],
            "pipeline": pipeline,
            "pipelines": names,
            "pager": _pager(request, page_no, None, st.page_size, has_more),
        },
    )


@page
def audit(request: Request) -> Response:
    st = state(request)
    page_no = _int(request.query_params.get("page"), 1)
    failures_only = request.query_params.get("only") == "failures"
    rows, total = st.ledger.audit_page(
        limit=st.page_size, offset=(page_no - 1) * st.page_size, failures_only=failures_only
    )
    return render(
        request,
        "audit.html",
        {
            "rows": [masked_row(r) for r in rows],
            "failures_only": failures_only,
            "pager": _pager(request, page_no, total, st.page_size),
        },
    )


@page
def unmapped(request: Request) -> Response:
    st = state(request)
    groups, unreadable = queries.unmapped_keys(st.ledger)
    by_table: dict[str, list[queries.UnmappedKey]] = defaultdict(list)
    for g in groups:
        by_table[g.table].append(g)
    return render(
        request,
        "unmapped.html",
        {
            "by_table": sorted(by_table.items()),
            "total_keys": len(groups),
            "total_failures": sum(g.count for g in groups),
            "unreadable": unreadable,
            "sys_label": lambda name: system_label(st, name),
        },
    )
