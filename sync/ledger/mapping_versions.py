"""Mapping tables applied from the console: every version with who and when, and what it replaced."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from connectors.contract.states import AuditAction
from sync.ledger.base import Part, now
from sync.ledger.schema import audit_log, mapping_versions


@dataclass(frozen=True, slots=True)
class MappingVersion:
    id: int
    table: str
    filename: str
    sha: str
    applied_by: str
    applied_at: datetime
    changes: int
    rollback_of: int | None
    replaced_name: str | None
    replaced_content: bytes | None
    content: bytes


class MappingVersionsPart(Part):
    def add_mapping_version(
        self,
        table: str,
        filename: str,
        content: bytes,
        actor: str,
        *,
        replaced: tuple[str, bytes] | None,
        changes: int,
        rollback_of: int | None = None,
    ) -> int:
        """Keep an applied file (and the one it replaces), audited in the same transaction."""
        sha = hashlib.sha256(content).hexdigest()[:16]
        action = AuditAction.MAPPINGS_ROLLBACK if rollback_of else AuditAction.MAPPINGS_UPLOAD
        detail = f"{filename} ({sha}), {changes} 行变化" + (
            f", 恢复版本 #{rollback_of} 之前的文件" if rollback_of else ""
        )
        with self.engine.begin() as conn:
            version_id = conn.execute(
                mapping_versions.insert().values(
                    table_name=table,
                    filename=filename,
                    content=content,
                    sha=sha,
                    replaced_name=replaced[0] if replaced else None,
                    replaced_content=replaced[1] if replaced else None,
                    changes=changes,
                    rollback_of=rollback_of,
                    applied_by=actor,
                    applied_at=now(),
                )
            ).inserted_primary_key
            conn.execute(audit_log.insert().values(at=now(), actor=actor, action=action.value, detail=detail))
        assert version_id is not None
        return int(version_id[0])

    def mapping_version(self, version_id: int) -> MappingVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(mapping_versions).where(mapping_versions.c.id == version_id)).first()
        return _version(row._mapping) if row else None

    def mapping_versions(self, limit: int = 50) -> list[MappingVersion]:
        """Applied versions, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(mapping_versions).order_by(mapping_versions.c.id.desc()).limit(limit)
            ).all()
        return [_version(r._mapping) for r in rows]


def _version(m: object) -> MappingVersion:
    d = dict(m)  # type: ignore[call-overload]
    return MappingVersion(
        id=d["id"],
        table=d["table_name"],
        filename=d["filename"],
        sha=d["sha"],
        applied_by=d["applied_by"],
        applied_at=d["applied_at"],
        changes=d["changes"],
        rollback_of=d["rollback_of"],
        replaced_name=d["replaced_name"],
        replaced_content=d["replaced_content"],
        content=d["content"],
    )
