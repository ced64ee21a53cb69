"""What a failure's page says beyond its row: whether something was sent, and for a bad record which
fields broke which rule (console failure page and ``zhifa-sync failures show`` both read this)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from connectors.contract.states import Stage, field_label
from connectors.contract.validators import mask_text

# Only a push (and the target's later verdict on it) sends anything: before that the payload column
# holds at most what the record would have become (or, for rows logged before, the source record).
SENT_STAGES = frozenset({Stage.PUSH, Stage.FEEDBACK})
_INVALID_MARK = "数据不合规: "


@dataclass(frozen=True, slots=True)
class BadField:
    field: str  # the path in the record, e.g. party.id_no
    label: str  # in Chinese
    value: str  # as the record has it, masked ("" when absent)
    rule: str  # what is wrong, in Chinese


def was_sent(failure: dict[str, Any]) -> bool:
    """Whether the payload kept with ``failure`` was sent to the target."""
    return bool(failure.get("payload")) and failure.get("stage") in SENT_STAGES


def bad_fields(failure: dict[str, Any]) -> list[BadField]:
    """The fields a ``RecordInvalid`` message names (``field: rule; field: rule``), with the record's values."""
    message = failure.get("message") or ""
    if _INVALID_MARK not in message:
        return []
    record = _record(failure)
    out = []
    for part in message.split(_INVALID_MARK, 1)[1].split("; "):
        field, sep, rule = part.partition(": ")
        if not sep:
            continue
        inner, sep, rest = rule.partition(": ")  # a check on a whole object names the field inside it
        if sep and inner.startswith(field + "."):
            field, rule = inner, rest
        out.append(BadField(field, field_label(field), _value(record, field), rule.strip()))
    return out


def _record(failure: dict[str, Any]) -> Any:
    for text in (failure.get("record"), failure.get("payload")):
        if text:
            try:
                return json.loads(text)
            except ValueError:
                continue
    return None


def _value(record: Any, path: str) -> str:
    """The value at ``path`` (``party.id_no``, ``officers.0``) of the record, masked; '' when absent."""
    node = record
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return ""
    if node is None:
        return ""
    text = node if isinstance(node, str) else json.dumps(node, ensure_ascii=False, default=str)
    return mask_text(text)[:200]
