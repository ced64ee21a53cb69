"""How a system has been answering lately, from the calls made to it: what the console's 目标系统 panel,
``status``, ``/healthz`` and alerts show, and where a circuit breaker keeps its state.

Every logical call (retries included) reports once: ``answered`` when the system answered as its
interface says (a refusal of one record is still an answer), ``failed`` when it could not be reached or
answered garbage after every retry, ``refused`` when it refused our credentials.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum


class HealthState(StrEnum):
    UNKNOWN = "unknown"  # not called since the process started
    UP = "up"
    DEGRADED = "degraded"  # some recent calls failed
    DOWN = "down"  # the last calls all failed
    REFUSED = "refused"  # the system refuses our credentials
    CIRCUIT_OPEN = "circuit_open"  # calls are held back for a while after failing in a row


HEALTH_LABELS = {
    HealthState.UNKNOWN: "未知",
    HealthState.UP: "正常",
    HealthState.DEGRADED: "不稳定",
    HealthState.DOWN: "不可用",
    HealthState.REFUSED: "拒绝认证",
    HealthState.CIRCUIT_OPEN: "已熔断",
}


@dataclass(frozen=True, slots=True)
class HealthReport:
    state: HealthState
    calls: int  # in the window
    failures: int  # in the window
    last_success_at: float | None  # Unix time
    last_error_at: float | None
    last_error: str | None

    @property
    def label(self) -> str:
        return HEALTH_LABELS[self.state]


class Health:
    """The outcomes of a system's last ``window`` calls, shared by every thread that calls it."""

    DOWN_AFTER = 3  # failures in a row that make a system "down"

    def __init__(self, window: int = 50) -> None:
        self._recent: deque[bool] = deque(maxlen=window)
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._refused = False
        self._last_ok: float | None = None
        self._last_error_at: float | None = None
        self._last_error: str | None = None
        self.circuit_open = False  # set by a circuit breaker, when there is one

    def answered(self) -> None:
        with self._lock:
            self._recent.append(True)
            self._in_a_row = 0
            self._refused = False
            self._last_ok = time.time()

    def failed(self, error: str) -> None:
        with self._lock:
            self._recent.append(False)
            self._in_a_row += 1
            self._last_error_at, self._last_error = time.time(), error[:300]

    def refused(self, error: str) -> None:
        with self._lock:
            self._refused = True
            self._last_error_at, self._last_error = time.time(), error[:300]

    @property
    def failures_in_a_row(self) -> int:
        return self._in_a_row

    def report(self) -> HealthReport:
        with self._lock:
            failures = sum(1 for ok in self._recent if not ok)
            if self.circuit_open:
                state = HealthState.CIRCUIT_OPEN
            elif self._refused:
                state = HealthState.REFUSED
            elif not self._recent:
                state = HealthState.UNKNOWN
            elif self._in_a_row >= self.DOWN_AFTER:
                state = HealthState.DOWN
            elif failures:
                state = HealthState.DEGRADED
            else:
                state = HealthState.UP
            return HealthReport(
                state, len(self._recent), failures, self._last_ok, self._last_error_at, self._last_error
            )
