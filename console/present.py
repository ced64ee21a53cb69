"""How ledger rows are shown: Chinese labels, masking, formatting, inline SVG (the advice per error kind
is ``sync.advice``, shared with the CLI).

Every string a template prints passes through ``mask_text`` (the Jinja ``finalize`` hook), so a
身份证号 in a message, payload or record field never reaches the page even where a view forgets it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from connectors import systems
from connectors.contract import clock
from connectors.contract.clock import BEIJING
from connectors.contract.health import HEALTH_LABELS
from connectors.contract.states import AuditAction, ErrorKind, FailureState, Kind, RunStatus, Stage, labels
from connectors.contract.validators import mask_text
from console.users import ROLE_LABELS
from sync.lag import duration_text

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

STATE_LABELS = labels(FailureState)
ERROR_KIND_LABELS = labels(ErrorKind)
STAGE_LABELS = labels(Stage)
KIND_LABELS = labels(Kind)
RUN_STATUS_LABELS = labels(RunStatus)
AUDIT_ACTION_LABELS = labels(AuditAction)
SYSTEM_TYPE_LABELS = {name: t.label for name, t in systems.TYPES.items()}
RESOLVE_NOTES = (
    "已在市系统手工补录",
    "已在区平台更正",
    "重复记录, 无需同步",
    "目标系统已有该记录, 已人工核对",
)


def mask(value: Any) -> Any:
    """``mask_text`` for strings, anything else unchanged."""
    return mask_text(value) if isinstance(value, str) else value


def masked_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: mask(v) for k, v in row.items()}


def pretty(text: str | None) -> str:
    """JSON shown indented with Chinese as is; anything else as it came; masked either way."""
    if not text:
        return ""
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    return mask_text(text)


def fmt_dt(value: Any, zone: ZoneInfo = BEIJING) -> str:
    """A time in the console's zone (naive ones are the ledger's Beijing time); the page's heading
    names the zone (``zone_note``); anything else as it is."""
    if isinstance(value, datetime):
        return clock.plain(value, zone)
    return "" if value is None else str(value)


fmt_duration = duration_text  # one wording of a duration (sync.lag), for lags and run times


def shorten(text: str | None, limit: int = 80) -> str:
    # Masked before cutting: a 身份证号 cut in half would no longer be recognised by the final mask.
    text = " ".join(mask_text(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(items: Sequence[tuple[str, int]], *, width: int = 460, bar_height: int = 22) -> Markup:
    """A horizontal bar chart as inline SVG (no script, no external file); labels are escaped."""
    if not items:
        return Markup("")
    label_w, value_w = 110, 60
    top = max(n for _, n in items) or 1
    height = len(items) * (bar_height + 6) + 4
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    span = width - label_w - value_w
    for i, (label, n) in enumerate(items):
        y = 2 + i * (bar_height + 6)
        w = max(2, round(span * n / top)) if n else 0
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_height - 6}" text-anchor="end" font-size="13" fill="#333">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_height}" fill="#3b6ea5"></rect>'
            f'<text x="{label_w + w + 6}" y="{y + bar_height - 6}" font-size="13" fill="#333">{n}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _finalize(value: Any) -> Any:
    # Runs on every {{ expression }} before autoescaping: mask personal data, print None as blank.
    if value is None:
        return ""
    if isinstance(value, Markup):
        return Markup(mask_text(str(value)))
    if isinstance(value, str):
        return mask_text(value)
    return value


def make_env(zone: ZoneInfo = BEIJING) -> jinja2.Environment:
    """The template environment: autoescape on for everything, masking finalize, our filters; times
    are shown in ``zone`` (the YAML's ``timezone``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dt=lambda value: fmt_dt(value, zone), duration=fmt_duration, shorten=shorten, pretty=pretty
    )
    env.globals.update(
        STATE_LABELS=STATE_LABELS,
        ERROR_KIND_LABELS=ERROR_KIND_LABELS,
        STAGE_LABELS=STAGE_LABELS,
        KIND_LABELS=KIND_LABELS,
        RUN_STATUS_LABELS=RUN_STATUS_LABELS,
        AUDIT_ACTION_LABELS=AUDIT_ACTION_LABELS,
        RESOLVE_NOTES=RESOLVE_NOTES,
        ROLE_LABELS=ROLE_LABELS,
        HEALTH_LABELS=HEALTH_LABELS,
        ZONE_NOTE=clock.zone_note(zone),
    )
    return env
