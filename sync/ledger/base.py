"""What every part of the ledger holds: the engine, and the time it writes with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine


def now() -> datetime:
    """The time the ledger writes (the server's local time, to the second)."""
    return datetime.now().replace(microsecond=0)


class Part:
    """A group of the ledger's reads and writes; ``sync.ledger.Ledger`` is all of them over one engine."""

    engine: Engine
    instance: str  # host:random, names this process in runs and mapping switches
