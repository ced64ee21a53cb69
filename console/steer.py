"""What operators ask of a pipeline from the console (POST): pause, resume, run now, re-read from a date.

Written to the ledger (``sync.ledger.controls``) with an audit entry, so every instance sharing the
ledger obeys it and it survives restarts; the running service starts an asked-for run within seconds.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from console.auth import action
from console.web import flash, query_url, redirect, state
from sync.steering import check_reread, parse_day_or_time

REASON_MAX = 200


def _back(name: str) -> Response:
    return redirect(query_url("/runs", {"pipeline": name}))


def _pipeline(request: Request) -> str | None:
    """The configured pipeline the path names, or None (flashed)."""
    name = str(request.path_params["name"])
    settings = state(request).settings
    if settings is None or not any(p.name == name for p in settings.pipelines):
        flash(request, f"未知的管道: {name}", "error")
        return None
    return name


@action()
def pause(request: Request) -> Response:
    name = _pipeline(request)
    if name is None:
        return redirect("/")
    reason = " ".join(str(request.state.form.get("reason") or "").split())[:REASON_MAX] or None
    state(request).ledger.set_paused(name, True, request.state.user.username, reason)
    flash(request, f"管道 {name} 已暂停: 所有实例都不再运行它, 直到恢复 (重启后仍暂停)。")
    return _back(name)


@action()
def resume(request: Request) -> Response:
    name = _pipeline(request)
    if name is None:
        return redirect("/")
    state(request).ledger.set_paused(name, False, request.state.user.username)
    flash(request, f"管道 {name} 已恢复, 按计划运行。")
    return _back(name)


@action()
def run_now(request: Request) -> Response:
    name = _pipeline(request)
    if name is None:
        return redirect("/")
    ledger = state(request).ledger
    if ledger.control(name).paused:
        flash(request, f"管道 {name} 已暂停: 请先恢复。", "warn")
        return _back(name)
    ledger.request_run(name, request.state.user.username)
    flash(request, "已请求立即运行: 运行中的服务将在几秒内开始, 结果见下方运行记录。")
    return _back(name)


@action()
def reread(request: Request) -> Response:
    name = _pipeline(request)
    if name is None:
        return redirect("/")
    st = state(request)
    assert st.settings is not None  # _pipeline found it there
    try:
        since = parse_day_or_time(str(request.state.form.get("since") or ""))
    except ValueError:
        flash(request, "日期格式应为 年-月-日 (如 2026-03-01)", "error")
        return _back(name)
    try:
        check_reread(st.settings.pipeline(name), since)
    except ValueError as exc:
        flash(request, str(exc), "error")
        return _back(name)
    st.ledger.request_reread(name, since, request.state.user.username)
    flash(request, f"下次运行时将自 {since:%Y-%m-%d} 起重新读取 (未变化的记录不会重复发送)。")
    return _back(name)
