"""A run's heartbeat: bumped per page read and per push finished, read by the service's watchdog.

A peer that drips its answer (or never answers) keeps a run alive with no progress; the service
abandons a run whose heartbeat is older than ``stuck_after_s`` so the next scheduled run can start
(``zhifa_sync.service``). An abandoned run commits nothing more: the page it had in hand is read again
by the next run, and the write-ahead push intents (``sync.ledger.pages``) make that safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sync.outcomes import RunCounts


@dataclass(slots=True, eq=False)
class Progress:
    """When a run last moved (monotonic seconds), its own stop event, and whether it was abandoned."""

    clock: Callable[[], float] = time.monotonic
    stop: threading.Event = field(default_factory=threading.Event)
    last: float = field(init=False)
    started: float = field(init=False)
    abandoned: bool = False
    # the run's row and counts so far (set by the pipeline once the run has started): what the service
    # closes the run with when it gives it up
    run_id: str | None = None
    counts: RunCounts | None = None

    def __post_init__(self) -> None:
        self.last = self.started = self.clock()

    def beat(self) -> None:
        """Something moved: a page was read or a push finished."""
        self.last = self.clock()

    def moved_since(self, at: float) -> bool:
        """The run has moved (a beat, not just its start) after monotonic time ``at``."""
        return self.last > max(at, self.started)

    def idle_s(self) -> float:
        """Seconds since the run last moved."""
        return self.clock() - self.last

    def abandon(self) -> None:
        """Give the run up: it stops at its next step and commits nothing more."""
        self.abandoned = True
        self.stop.set()
