"""A circuit breaker per system: stop calling a system that keeps failing, try it again after a while.

Closed: calls go through; ``failures`` transient failures in a row (each a logical call, its retries
included) open it. Open: every call fails at once with ``CircuitOpen`` (a transient error: the record
stays pending and a later run retries it) until ``cool_down_s`` has passed. Half-open: one caller is
let through as a probe, the others still fail fast; its success closes the breaker, its failure opens
it for another cool-down. The state shows in the system's ``Health`` (``circuit_open``), hence in
``/healthz``, ``status`` and the metrics. As in resilience4j and Polly, a refusal of one request (the
system answered) counts as a success: only "could not get an answer" trips it.
"""

from __future__ import annotations

import threading
import time
from enum import StrEnum

from connectors.contract.config import CircuitConfig
from connectors.contract.errors import RetriableError
from connectors.contract.health import Health

NOT_CALLED = "circuit_open"  # the error code of a call the breaker held back


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(RetriableError):
    """A call not made: the system's breaker is open (it failed too often in a row)."""


class Breaker:
    def __init__(self, system: str, cfg: CircuitConfig, health: Health) -> None:
        self.system = system
        self.cfg = cfg
        self._health = health
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._in_a_row = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> CircuitState:
        return self._state

    def admit(self) -> None:
        """Let a call through, or raise ``CircuitOpen``."""
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return
            left = self._opened_at + self.cfg.cool_down_s - time.monotonic()
            if left <= 0 and not self._probing:
                self._state, self._probing = CircuitState.HALF_OPEN, True
                return  # this caller is the probe
            wait = max(left, 1.0)
        raise CircuitOpen(
            f"{self.system} 已熔断: 连续 {self.cfg.failures} 次调用失败, 暂停调用 (约 {wait:.0f} 秒后试探),"
            " 记录留待后续运行重试",
            system=self.system,
            code=NOT_CALLED,
            retry_after=wait,
        )

    def succeeded(self) -> None:
        with self._lock:
            self._in_a_row, self._probing = 0, False
            self._state = CircuitState.CLOSED
            self._health.circuit_open = False

    def failed(self) -> None:
        with self._lock:
            self._in_a_row += 1
            if self._state is CircuitState.HALF_OPEN or self._in_a_row >= self.cfg.failures:
                self._state, self._probing = CircuitState.OPEN, False
                self._opened_at = time.monotonic()
                self._health.circuit_open = True
