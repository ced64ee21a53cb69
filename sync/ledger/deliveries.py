"""What the ledger knows of records on targets, and the stored source records: the reads a page makes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from connectors.contract.roles import Prior, StoredRecord
from connectors.contract.states import DeliveryState
from sync.ledger.base import Part
from sync.ledger.schema import deliveries, failures, push_intents, records
from sync.ledger.upsert import chunks


@dataclass(frozen=True, slots=True)
class SeenVersion:
    updated_at: datetime | None
    record_hash: str


class DeliveriesPart(Part):
    """Deliveries, links and stored records."""

    def deliveries_for(
        self, system: str, kind: str, source_ids: Iterable[str]
    ) -> dict[tuple[str, str], Prior]:
        """Known deliveries of these records, keyed by (source_id, target)."""
        ids = list(source_ids)
        out: dict[tuple[str, str], Prior] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(ids):
                rows = conn.execute(
                    select(
                        deliveries.c.source_id,
                        deliveries.c.target,
                        deliveries.c.target_id,
                        deliveries.c.payload_hash,
                        deliveries.c.state,
                        deliveries.c.linked,
                        deliveries.c.target_version,
                    ).where(
                        deliveries.c.system == system,
                        deliveries.c.kind == kind,
                        deliveries.c.source_id.in_(chunk),
                    )
                )
                for r in rows:
                    out[(r.source_id, r.target)] = Prior(
                        r.target_id, DeliveryState(r.state), r.linked, r.target_version, r.payload_hash
                    )
        return out

    def find_by_natural_key(self, system: str, kind: str, key: str) -> list[StoredRecord]:
        """The records seen from ``system`` with this natural key."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(records.c.source_id, records.c.body)
                .where(
                    records.c.system == system,
                    records.c.kind == kind,
                    records.c.natural_key == key[:200],
                )
                .order_by(records.c.source_id)
            )
            return [StoredRecord(r.source_id, r.body) for r in rows]

    def attempted(self, system: str, kind: str, source_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(source_id, target) pairs an earlier push may have reached without our hearing back: a
        transient failure (timeout, dropped connection) was logged for them, or a push was started and
        its page never recorded (a crash, a lost page transaction)."""
        out: set[tuple[str, str]] = set()
        with self.engine.connect() as conn:
            for chunk in chunks(source_ids):
                rows = conn.execute(
                    select(push_intents.c.source_id, push_intents.c.target).where(
                        push_intents.c.system == system,
                        push_intents.c.kind == kind,
                        push_intents.c.source_id.in_(chunk),
                    )
                )
                out.update((r.source_id, r.target) for r in rows)
                rows = conn.execute(
                    select(failures.c.source_id, failures.c.target).where(
                        failures.c.system == system,
                        failures.c.kind == kind,
                        failures.c.error_kind == "transient",
                        failures.c.source_id.in_(chunk),
                    )
                )
                out.update((r.source_id, r.target) for r in rows)
        return out

    def target_id(self, system: str, kind: str, source_id: str, target: str) -> str | None:
        with self.engine.connect() as conn:
            result: str | None = conn.scalar(
                select(deliveries.c.target_id).where(
                    deliveries.c.system == system,
                    deliveries.c.kind == kind,
                    deliveries.c.source_id == source_id,
                    deliveries.c.target == target,
                )
            )
            return result

    def deliveries_to(
        self, system: str, kind: str, target: str, states: Sequence[str]
    ) -> dict[str, datetime | None]:
        """The records of ``kind`` from ``system`` that ``target`` holds in one of ``states``, with when
        they first reached it (the one query for "which decisions are published where")."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    deliveries.c.source_id, deliveries.c.first_delivered_at, deliveries.c.delivered_at
                ).where(
                    deliveries.c.system == system,
                    deliveries.c.kind == kind,
                    deliveries.c.target == target,
                    deliveries.c.state.in_(tuple(states)),
                )
            )
            return {r.source_id: r.first_delivered_at or r.delivered_at for r in rows}

    def stored_records(
        self, system: str, kind: str, *, statuses: Sequence[str] | None = None
    ) -> Iterator[StoredRecord]:
        """Every record kept from ``system`` of ``kind`` (its raw body as the source sent it), by id;
        only those in ``statuses`` when given."""
        cond = [records.c.system == system, records.c.kind == kind]
        if statuses is not None:
            cond.append(records.c.status.in_(tuple(statuses)))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(records.c.source_id, records.c.body).where(*cond).order_by(records.c.source_id)
            )
            for r in rows:
                yield StoredRecord(r.source_id, r.body)

    def first_seen(self, system: str, kind: str) -> dict[str, datetime]:
        """When the ledger first read each record of ``kind`` from ``system`` (naive Beijing time), by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(records.c.source_id, records.c.first_seen).where(
                    records.c.system == system, records.c.kind == kind
                )
            )
            return {r.source_id: r.first_seen for r in rows}

    def parked_records(self) -> set[tuple[str, str, str]]:
        """(system, kind, source id) of every record parked for a mapping."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(failures.c.system, failures.c.kind, failures.c.source_id).where(
                    failures.c.state == "parked"
                )
            )
            return {(r.system, r.kind, r.source_id) for r in rows}

    def seen_versions(self, system: str, kind: str, source_ids: Sequence[str]) -> dict[str, SeenVersion]:
        """The version of each record last read (its source ``updated_at`` and content hash), by id."""
        out: dict[str, SeenVersion] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(source_ids):
                rows = conn.execute(
                    select(records.c.source_id, records.c.source_updated_at, records.c.record_hash).where(
                        records.c.system == system,
                        records.c.kind == kind,
                        records.c.source_id.in_(chunk),
                    )
                )
                out.update({r.source_id: SeenVersion(r.source_updated_at, r.record_hash) for r in rows})
        return out

    def load_records(self, system: str, kind: str, source_ids: Sequence[str]) -> dict[str, str]:
        """The stored source records (raw JSON as the source sent it), by id."""
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(source_ids):
                rows = conn.execute(
                    select(records.c.source_id, records.c.body).where(
                        records.c.system == system,
                        records.c.kind == kind,
                        records.c.source_id.in_(chunk),
                    )
                )
                out.update({r.source_id: r.body for r in rows})
        return out

    def delivery_counts(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    deliveries.c.kind, deliveries.c.target, deliveries.c.state, func.count().label("n")
                ).group_by(deliveries.c.kind, deliveries.c.target, deliveries.c.state)
            )
            return [dict(r._mapping) for r in rows]

    def iter_deliveries(self, target: str, kind: str) -> Iterator[tuple[str, str | None, str]]:
        with self.engine.connect() as conn:
            for r in conn.execute(
                select(deliveries.c.source_id, deliveries.c.target_id, deliveries.c.state).where(
                    deliveries.c.target == target, deliveries.c.kind == kind
                )
            ):
                yield r.source_id, r.target_id, r.state

    def awaiting_feedback(self, target: str, before: datetime) -> list[dict[str, Any]]:
        """Deliveries to ``target`` still 'sent' (awaiting feedback) and last written before ``before``,
        oldest first."""
        query = (
            select(
                deliveries.c.system,
                deliveries.c.kind,
                deliveries.c.source_id,
                deliveries.c.target_id,
                deliveries.c.target_version,
                deliveries.c.last_action,
                deliveries.c.updated_at,
            )
            .where(
                deliveries.c.target == target, deliveries.c.state == "sent", deliveries.c.updated_at < before
            )
            .order_by(deliveries.c.updated_at, deliveries.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
