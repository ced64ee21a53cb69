"""The client-side pace: any one-second window a platform counts in holds at most its limit of calls,
even when each call's arrival jitters by a few tens of milliseconds."""

from __future__ import annotations

import itertools
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
        limiter.sent(limiter.acquire())
        starts.append(clock.now)
    # call k and call k + limit must be more than a second apart, with room for 15 ms of jitter after
    # the request is written (the send itself no longer counts against it: slots count from then);
    # otherwise the platform sees limit + 1 calls in one of its seconds and refuses one
    closest = min(starts[k + limit] - starts[k] for k in range(len(starts) - limit))
    assert closest >= 1.015, f"{limit + 1} calls within {closest:.3f} s"
    # and it still uses the limit: at least 95 % of it over the run
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved >= 0.95 * limit


@pytest.mark.parametrize("limit", [5, 10, 20])
def test_calls_are_spread_over_the_second_not_sent_in_a_burst(
    monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """A platform that serves one request at a time counts a burst in an order of its own: the call
    it served last is counted late, and the call ``limit`` after it, arriving at an idle server, falls
    into the same second. So no two calls start together, even the first ones after a quiet spell."""
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    limiter = RateLimiter(limit)
    starts = []
    for _ in range(2 * limit):
        limiter.sent(limiter.acquire())
        starts.append(clock.now)
    closest = min(b - a for a, b in itertools.pairwise(starts))
    assert closest >= 1 / limit, f"two calls {closest:.3f} s apart at {limit}/s"


def test_threads_waking_late_do_not_bunch_the_calls_after_them() -> None:
    """On the real clock, with threads: each call starts a full gap after the one before it really
    went ahead, however late a thread woke."""
    limiter = RateLimiter(50)
    starts: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(10):
            ticket = limiter.acquire()
            with lock:  # before ``sent``: the next call cannot start before this time plus a gap
                starts.append(time.monotonic())
            limiter.sent(ticket)
            time.sleep(0.005)  # the call itself

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.018, f"calls {min(gaps) * 1000:.1f} ms apart at 50/s (gap 20.6 ms)"


def test_a_rate_of_zero_does_not_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    limiter = RateLimiter(0)
    for _ in range(100):
        limiter.sent(limiter.acquire())
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
        limiter.sent(limiter.acquire())
        assert clock.now - start >= 2.0, rate


def test_the_next_call_counts_from_when_the_previous_one_reached_the_wire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pause between a call's slot and its bytes going out (the garbage collector, a long C call
    holding the GIL) must not send it together with the next one: the platform would count both in
    the second after the pause."""
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    limiter = RateLimiter(10)
    first = limiter.acquire()
    clock.sleep(0.5)  # the process stood still before the request was written
    on_wire = clock.now
    limiter.sent(first)
    limiter.sent(limiter.acquire())
    assert clock.now - on_wire >= 0.1, f"next call {clock.now - on_wire:.3f} s after the previous went out"


def test_a_call_that_never_reports_sent_holds_the_next_only_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    limiter = RateLimiter(10)
    start = clock.now
    limiter.acquire()  # its body is stuck: the platform is not reading
    limiter.acquire()
    assert clock.now - start <= RateLimiter.UNSENT_WAIT_S + 0.01


def test_over_real_http_the_slot_counts_from_the_request_written_not_the_answer() -> None:
    """The real transport tells the limiter when the request is out: a call whose answer takes a
    second does not hold the next call for that second."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from connectors.contract.config import RetryConfig
    from connectors.rest import RestClient

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/slow":
                time.sleep(1.0)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = RestClient(
        "sim",
        f"http://127.0.0.1:{server.server_address[1]}",
        timeout_s=5,
        concurrency=2,
        rate_limit_per_s=5,
        retry=RetryConfig(attempts=1),
    )
    try:
        slow = threading.Thread(target=client.send, args=("POST", "/slow"), kwargs={"json": {"n": 1}})
        began = time.monotonic()
        slow.start()
        time.sleep(0.05)
        client.send("POST", "/fast", json={"n": 2})
        took = time.monotonic() - began
        slow.join()
    finally:
        client.close()
        server.shutdown()
    assert took < 0.7, f"the second call waited {took:.2f} s for the first one's answer"
