"""The client-side pace: any one-second window a platform counts in holds at most its limit of calls,
even when each call's arrival jitters by a few tens of milliseconds."""

from __future__ import annotations

import threading
import time  # connectors.rest reads the clock as time.monotonic / time.sleep: patched there

import pytest

from connectors.rest import RateLimiter


class FakeClock:
    """``time.monotonic`` and ``time.sleep`` of connectors.rest on a clock that sleeping advances."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)


@pytest.mark.parametrize("limit", [5, 10, 20])
def test_calls_leave_room_for_jitter_in_every_counted_second(
    monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    limiter = RateLimiter(limit)
    starts = []
    for _ in range(3 * limit + 1):
        limiter.acquire()
        starts.append(clock.now)
    # call k and call k + limit must be more than a second apart, with room for 25 ms of jitter;
    # otherwise the platform sees limit + 1 calls in one of its seconds and refuses one
    closest = min(starts[k + limit] - starts[k] for k in range(len(starts) - limit))
    assert closest >= 1.025, f"{limit + 1} calls within {closest:.3f} s"
    # and it still uses the limit: at least 95 % of it over the run
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved >= 0.95 * limit


def test_a_rate_of_zero_does_not_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    limiter = RateLimiter(0)
    for _ in range(100):
        limiter.acquire()
    assert clock.now == 1000.0


def test_a_cool_down_holds_callers_also_when_unpaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform said "too many calls": every caller waits it out, paced or not (an unpaced client
    that ignored it hammered the limit and failed records after their retries)."""
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    for rate in (0, 10):
        limiter = RateLimiter(rate)
        start = clock.now
        limiter.cool_down(2.0)
        limiter.acquire()
        assert clock.now - start >= 2.0, rate
