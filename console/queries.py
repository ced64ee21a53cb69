"""What the console makes of the ledger's rows beyond showing them: the unmapped codes operators wait on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sync.advice import parse_mapping_message
from sync.ledger import Ledger


@dataclass
class UnmappedKey:
    """One code missing from one mapping table, and the unresolved failures waiting for it."""

    table: str
    what: str
    key: str
    column: str
    count: int = 0
    pipelines: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample_id: int | None = None


def unmapped_keys(ledger: Ledger) -> tuple[list[UnmappedKey], int]:
    """Missing mapping keys from unresolved ``mapping`` failures, grouped by table and key (most
    failures first), and how many such failures say neither (rows of an old release whose message
    could not be read either)."""
    groups: dict[tuple[str, str, str], UnmappedKey] = {}
    unreadable = 0
    for r in ledger.mapping_failure_groups():
        if r["map_table"]:
            table, key, column = r["map_table"], r["map_key"] or "", r["map_column"] or ""
            parsed = parse_mapping_message(r["message"])
            what = parsed[1] if parsed else ""
        elif (parsed := parse_mapping_message(r["message"])) is not None:
            table, what, key, column = parsed
        else:
            unreadable += r["n"]
            continue
        g = groups.setdefault((table, key, column), UnmappedKey(table, what, key, column))
        g.count += r["n"]
        g.pipelines.add(r["pipeline"])
        g.targets.add(r["target"])
        g.first_seen = min(filter(None, (g.first_seen, r["first_seen"])), default=None)
        g.last_seen = max(filter(None, (g.last_seen, r["last_seen"])), default=None)
        g.sample_id = r["sample_id"] if g.sample_id is None else min(g.sample_id, r["sample_id"])
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.table, g.key))
    return ordered, unreadable
