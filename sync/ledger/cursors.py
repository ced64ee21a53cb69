"""Cursors (where each pipeline has read up to) and ``meta``, small facts every process shares."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from connectors.contract.roles import Cursor
from sync.ledger.base import Part, now
from sync.ledger.schema import cursors, meta
from sync.ledger.upsert import upsert


class CursorsPart(Part):
    """Cursors and meta."""

    def get_cursor(self, pipeline: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            value = conn.scalar(select(cursors.c.position).where(cursors.c.pipeline == pipeline))
        return json.loads(value) if value else None

    def get_watermark(self, pipeline: str) -> datetime | None:
        """The source time ``pipeline`` has read up to (None before its first page)."""
        with self.engine.connect() as conn:
            value: datetime | None = conn.scalar(
                select(cursors.c.watermark).where(cursors.c.pipeline == pipeline)
            )
        return value

    def _save_cursor(self, conn: Connection, pipeline: str, cursor: Cursor) -> None:
        row = {
            "pipeline": pipeline,
            "position": json.dumps(cursor.to_json()),
            "updated_at": now(),
            "watermark": cursor.watermark,
        }
        upsert(conn, cursors, [row], ["pipeline"], ["position", "updated_at", "watermark"])

    def set_cursor(self, pipeline: str, cursor: Cursor) -> None:
        with self.engine.begin() as conn:
            self._save_cursor(conn, pipeline, cursor)

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            result: str | None = conn.scalar(select(meta.c.value).where(meta.c.key == key))
            return result

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            upsert(
                conn,
                meta,
                [{"key": key, "value": value, "updated_at": now()}],
                ["key"],
                ["value", "updated_at"],
            )
