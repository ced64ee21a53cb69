"""What operators do to failures (POST): retry one, retry all of one error kind, resolve, reopen; retry or
resolve a record's failures on every target at once.

The ledger writes an audit row (who, when, which failure, the note) for every failure it changes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from console.auth import action
from console.present import ERROR_KIND_LABELS
from console.web import flash, query_url, redirect, safe_next, state

NOTE_MAX = 500


def _detail(request: Request) -> str:
    back = str(request.state.form.get("back") or "")
    return query_url(f"/failures/{request.path_params['failure_id']}", {"back": safe_next(back, "") or None})


def _note(request: Request) -> str:
    return " ".join(str(request.state.form.get("note") or "").split())[:NOTE_MAX]


def _run_now(request: Request, failure_ids: list[int]) -> bool:
    """Ask the service to run the retries now; False when there is no service to ask."""
    console = state(request)
    if console.retry_now is None or not failure_ids:
        return False
    pipelines = sorted({f["pipeline"] for i in failure_ids[:1000] if (f := console.ledger.get_failure(i))})
    console.retry_now(pipelines)
    return True


@action()
def retry(request: Request) -> Response:
    failure_id = request.path_params["failure_id"]
    done = state(request).ledger.mark_retry([failure_id], request.state.user.username)
    if done and _run_now(request, [failure_id]):
        flash(request, "已开始重试: 结果见下方状态 (重试成功后自动标记为已解决)。")
    elif done:
        flash(request, "已加入重试队列: 该管道下次运行时会从保存的来源记录重新处理。")
    else:
        flash(request, "该失败当前状态不能重试 (只有待处理、待映射的失败可以重试)。", "warn")
    return redirect(_detail(request))


@action()
def resolve(request: Request) -> Response:
    note = _note(request)
    if not note:
        flash(request, "请填写处理说明 (例如: 已在市系统手工补录)。", "error")
        return redirect(_detail(request))
    done = state(request).ledger.resolve(
        [request.path_params["failure_id"]], request.state.user.username, note
    )
    flash(request, "已标记为已解决。" if done else "该失败已是已解决状态。", "ok" if done else "warn")
    return redirect(_detail(request))


@action()
def reopen(request: Request) -> Response:
    note = _note(request) or None
    done = state(request).ledger.reopen(
        [request.path_params["failure_id"]], request.state.user.username, note
    )
    flash(request, "已重新打开。" if done else "只有已解决的失败可以重新打开。", "ok" if done else "warn")
    return redirect(_detail(request))


def _record_ids(request: Request, states: tuple[str, ...]) -> list[int]:
    """The failures, on every target, of the record this failure is about, in ``states``."""
    group = state(request).ledger.record_failures(request.path_params["failure_id"])
    return [f["id"] for f in group if f["state"] in states]


@action()
def retry_record(request: Request) -> Response:
    """Retry the record for every target it failed for (each failure keeps its own detail and audit)."""
    ids = _record_ids(request, ("open", "parked"))
    note = f"按记录重试: 全部 {len(ids)} 个目标" if ids else None
    done = state(request).ledger.mark_retry(ids, request.state.user.username, note)
    if done:
        _run_now(request, ids)
        flash(request, f"已将该记录在 {done} 个目标系统的失败加入重试。")
    else:
        flash(request, "该记录没有可以重试的失败 (只有待处理、待映射的失败可以重试)。", "warn")
    return redirect(_detail(request))


@action()
def resolve_record(request: Request) -> Response:
    """Resolve the record's failures on every target with one note (audited once per failure)."""
    note = _note(request)
    if not note:
        flash(request, "请填写处理说明 (例如: 已在区平台作废该记录)。", "error")
        return redirect(_detail(request))
    ids = _record_ids(request, ("open", "parked", "retry"))
    done = state(request).ledger.resolve(ids, request.state.user.username, note) if ids else 0
    flash(
        request,
        f"已将该记录在 {done} 个目标系统的失败标记为已解决。" if done else "该记录的失败都已解决。",
        "ok" if done else "warn",
    )
    return redirect(_detail(request))


@action()
def retry_kind(request: Request) -> Response:
    """Retry every open or parked failure of one error kind (within the pipeline/target filter shown)."""
    form = request.state.form
    kind = str(form.get("error_kind") or "")
    back = safe_next(str(form.get("back") or ""), "/failures")
    if kind not in ERROR_KIND_LABELS:
        flash(request, "请先选择错误类型。", "error")
        return redirect(back)
    ledger = state(request).ledger
    ids = ledger.failure_ids(
        error_kind=kind,
        pipeline=str(form.get("pipeline") or "") or None,
        target=str(form.get("target") or "") or None,
    )
    # In chunks: a kind can hold tens of thousands of failures, more than one IN (...) may bind.
    done = sum(
        ledger.mark_retry(ids[i : i + 500], request.state.user.username) for i in range(0, len(ids), 500)
    )
    _run_now(request, ids)
    flash(request, f"已将 {done} 条「{ERROR_KIND_LABELS[kind]}」失败加入重试队列。")
    return redirect(back)
