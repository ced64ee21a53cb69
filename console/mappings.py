"""Mapping tables from the console: upload a corrected table, see its check and what changes, apply
it only when clean, and return to the version before with one click (administrators only).

An upload is checked and kept server-side for a quarter of an hour under a random token; "apply"
checks it again against the set as it is then (another upload may have landed meanwhile) and writes
it through ``sync.mapping.upload``, which keeps every applied version in the ledger.
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from connectors.contract.mapping import TABLES
from console.auth import action, csrf_ok, page, session_user
from console.web import error_page, flash, redirect, render, state
from sync.mapping import files as mapping_files
from sync.mapping import upload
from sync.mapping.check import LiveCheck, systems_in_use

log = structlog.get_logger("console.mappings")

STAGED_TTL_S = 15 * 60
STAGED_MAX = 20  # uploads waiting for "apply", across all administrators


class _Staging:
    """Checked uploads waiting for "apply": token → (who, when, staged), oldest dropped first."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[str, float, upload.Staged]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, user: str, staged: upload.Staged) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._items[token] = (user, time.monotonic(), staged)
            while len(self._items) > STAGED_MAX:
                self._items.popitem(last=False)
        return token

    def take(self, user: str, token: str) -> upload.Staged | None:
        with self._lock:
            item = self._items.get(token)
            if item is None or item[0] != user:  # another user's token leaves it to its owner
                return None
            del self._items[token]
        return item[2] if time.monotonic() - item[1] <= STAGED_TTL_S else None


STAGING = _Staging()


def _directory(request: Request) -> Path | None:
    settings = state(request).settings
    return settings.mappings_dir if settings else None


def _systems(request: Request) -> frozenset[str]:
    settings = state(request).settings
    return systems_in_use(settings) if settings else frozenset()


@page
def mappings_page(request: Request) -> Response:
    directory = _directory(request)
    if directory is None:
        return error_page(request, 404, "没有配置", "控制台未加载配置文件, 不知道映射表在哪里。")
    maps, problems = mapping_files.load_with_problems(directory)
    tables = [
        {
            "name": name,
            "label": spec.label,
            "file": maps.tables[name].file if name in maps.tables else None,
            "rows": len(maps.tables[name].rows) if name in maps.tables else 0,
        }
        for name, spec in TABLES.items()
    ]
    return render(
        request,
        "mappings.html",
        {
            "tables": tables,
            "problems": [str(p) for p in problems],
            "versions": state(request).ledger.mapping_versions(limit=30),
            "version": maps.version,
        },
    )


def upload_action(fn: Callable[[Request, FormData], Response]) -> Callable[[Request], Awaitable[Response]]:
    """A multipart POST of one file by an administrator, with the session's CSRF token; 403 otherwise."""

    def guarded(request: Request, form: FormData) -> Response:
        user = session_user(request)
        if user is None:
            return error_page(request, 403, "未登录", "未登录或会话已过期, 请重新登录后再操作。")
        request.state.user = user
        if not csrf_ok(request, form):
            return error_page(
                request, 403, "请求无效", "表单校验失败 (缺少或错误的安全令牌)。请返回上一页刷新后重试。"
            )
        if not user.can("admin"):
            return error_page(request, 403, "权限不足", "只有管理员可以上传映射表。")
        return fn(request, form)

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=10, max_part_size=upload.MAX_UPLOAD_BYTES + 1)
        try:
            file = form.get("file")
            content = await file.read(upload.MAX_UPLOAD_BYTES + 1) if isinstance(file, UploadFile) else b""
            request.state.upload = (file.filename or "" if isinstance(file, UploadFile) else "", content)
            return await run_in_threadpool(guarded, request, form)
        finally:
            await form.close()

    return endpoint


@upload_action
def check_upload(request: Request, form: FormData) -> Response:
    directory = _directory(request)
    if directory is None:
        return redirect("/mappings")
    filename, content = request.state.upload
    table = str(form.get("table") or "")
    try:
        staged = upload.stage(directory, table, filename or f"{table}.csv", content, _systems(request))
    except upload.UploadRefused as exc:
        flash(request, str(exc), "error")
        return redirect("/mappings")
    live = _live(request, staged)
    clean = staged.ok and (live is None or live.report.ok)
    token = STAGING.put(request.state.user.username, staged) if clean else None
    return render(
        request,
        "mapping_check.html",
        {
            "staged": staged,
            "live": live,
            "uploaded": filename,
            "token": token,
            "label": TABLES[staged.table].label,
        },
    )


def _live(request: Request, staged: upload.Staged) -> LiveCheck | None:
    """The set with the upload checked against the live catalogues, or None when the console cannot
    (run alone, without the service) or the set did not load."""
    check = state(request).check_live
    if check is None or staged.maps is None:
        return None
    try:
        return check(staged.maps)
    except Exception as exc:  # a broken connection must not break the page: the offline check stands
        log.warning("mapping_live_check_failed", error=type(exc).__name__)
        return None


@action(role="admin")
def apply_upload(request: Request) -> Response:
    directory = _directory(request)
    staged = STAGING.take(request.state.user.username, str(request.state.form.get("token") or ""))
    if directory is None or staged is None:
        flash(request, "上传的文件已过期或已应用: 请重新上传。", "warn")
        return redirect("/mappings")
    again = upload.stage(directory, staged.table, staged.filename, staged.content, _systems(request))
    if not again.ok:  # the set changed since the check, and this upload no longer fits it
        flash(request, "映射表在检查之后已有变化, 此文件与现在的映射表不再一致: 请重新上传检查。", "error")
        return redirect("/mappings")
    version = upload.apply(directory, again, state(request).ledger, request.state.user.username)
    flash(
        request,
        f"已应用 {again.filename} (版本 #{version}, {len(again.changes)} 行变化)。"
        "服务将在下次查看映射表时切换 (最长约半分钟), 等待映射的记录随后自动重试。",
    )
    return redirect("/mappings")


@action(role="admin")
def rollback_version(request: Request) -> Response:
    directory = _directory(request)
    if directory is None:
        return redirect("/mappings")
    version_id = int(request.path_params["version_id"])
    try:
        staged = upload.rollback(directory, version_id, state(request).ledger, request.state.user.username)
    except upload.UploadRefused as exc:
        flash(request, str(exc), "error")
        return redirect("/mappings")
    if staged.ok:
        flash(request, f"已恢复版本 #{version_id} 之前的 {staged.filename} ({len(staged.changes)} 行变化)。")
    else:
        first = "; ".join(str(p) for p in staged.report.errors[:3])
        flash(request, f"不能恢复: 之前的文件与现在的映射表不一致 ({first})", "error")
    return redirect("/mappings")
