"""What every part of the ledger holds: the engine, and the time it writes with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from connectors.contract.clock import beijing_now


def now() -> datetime:
    """The time the ledger writes: naive Beijing time to the second, whatever the server's zone
    (``connectors.contract.clock``; ``clock.aware`` makes a value read back aware)."""
    return beijing_now()


class Part:
    """A group of the ledger's reads and writes; ``sync.ledger.Ledger`` is all of them over one engine."""

    engine: Engine
    instance: str  # host:random, names this process in runs and mapping switches
