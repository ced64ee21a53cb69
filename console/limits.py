"""Login limits: wrong passwords counted per (name, address), per address, per name and in total, and the
number of password checks running at once.

Why each one (issue 15 item 3):

- The counts are **reserved before** the password is hashed (``reserve``) and settled after
  (``settle``): 40 parallel wrong passwords cannot all pass a check that would only count them after
  the ~100 ms hash. An attempt in flight counts as a failure until it is settled.
- The lock of a name is per **(name, address)**: a stranger who guesses wrong five times locks their
  own address out, not the real user at another address. The per-name limit (across addresses) is
  much higher, so only a spread guessing campaign reaches it, and for one window at most.
- Per **address**, so one address cannot try a thousand names; a **global** limit, so a botnet
  cannot guess without bound either.
- Counts are sliding windows kept in memory, bounded in size: past ``max_keys`` the aged entries
  go, then the oldest ones.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from connectors.contract.states import LoginLimit, label

Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Limit:
    scope: LoginLimit
    max_failures: int
    window_s: float = 300


DEFAULT_LIMITS = (
    Limit(LoginLimit.USER_ADDRESS, 5),
    Limit(LoginLimit.ADDRESS, 20),
    Limit(LoginLimit.USER, 50),
    Limit(LoginLimit.GLOBAL, 300),
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login that may check its password; ``settle`` it with the result."""

    keys: tuple[Key, ...]
    user_address: Key


@dataclass(frozen=True, slots=True)
class Refusal:
    """A login refused before its password is looked at."""

    scope: LoginLimit
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        minutes = (self.retry_after + 59) // 60
        when = "请稍后再试" if self.scope is LoginLimit.BUSY else f"请 {minutes} 分钟后再试"
        return f"登录尝试过多, {label(LoginLimit, self.scope)}已暂停, {when}。"


def _key(scope: LoginLimit, username: str, address: str) -> Key:
    parts = {
        LoginLimit.USER_ADDRESS: (username, address),
        LoginLimit.ADDRESS: (address,),
        LoginLimit.USER: (username,),
        LoginLimit.GLOBAL: (),
    }
    return (scope.value, *parts[scope])


class LoginLimiter:
    """The wrong-password limits of one console (thread-safe)."""

    def __init__(
        self,
        clock: Callable[[], float],
        limits: tuple[Limit, ...] = DEFAULT_LIMITS,
        max_keys: int = 10_000,
    ) -> None:
        self.clock = clock
        self.limits = limits
        self.max_keys = max_keys
        self._failures: dict[Key, deque[float]] = {}
        self._pending: dict[Key, int] = {}
        self._lock = threading.Lock()

    def _recent(self, key: Key, window_s: float) -> deque[float]:
        horizon = self.clock() - window_s
        times = self._failures.get(key, deque())
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def _refusal(self, limit: Limit, key: Key) -> Refusal | None:
        times = self._recent(key, limit.window_s)
        if len(times) + self._pending.get(key, 0) < limit.max_failures:
            return None
        if len(times) < limit.max_failures:  # full with attempts still being checked
            return Refusal(limit.scope, 1)
        until = times[-limit.max_failures] + limit.window_s
        return Refusal(limit.scope, max(1, int(until - self.clock()) + 1))

    def reserve(self, username: str, address: str) -> Attempt | Refusal:
        """Count this attempt as a failure in advance, or refuse it when any limit is full."""
        keys = tuple(_key(limit.scope, username, address) for limit in self.limits)
        with self._lock:
            for limit, key in zip(self.limits, keys, strict=True):
                refusal = self._refusal(limit, key)
                if refusal is not None:
                    return refusal
            for key in keys:
                self._pending[key] = self._pending.get(key, 0) + 1
            return Attempt(keys, _key(LoginLimit.USER_ADDRESS, username, address))

    def settle(self, attempt: Attempt, ok: bool) -> LoginLimit | None:
        """Record the result; the limit this failure has just filled, if any (for the audit log)."""
        filled = None
        with self._lock:
            now = self.clock()
            for limit, key in zip(self.limits, attempt.keys, strict=True):
                left = self._pending.get(key, 0) - 1
                if left > 0:
                    self._pending[key] = left
                else:
                    self._pending.pop(key, None)
                if ok:
                    continue
                times = self._recent(key, limit.window_s)
                times.append(now)
                self._failures[key] = times
                if filled is None and len(times) == limit.max_failures:
                    filled = limit.scope
            if ok:
                self._failures.pop(attempt.user_address, None)
            self._bound()
        return filled

    def _bound(self) -> None:
        if len(self._failures) <= self.max_keys:
            return
        window = max(limit.window_s for limit in self.limits)
        for key in list(self._failures):
            self._recent(key, window)
        excess = len(self._failures) - self.max_keys
        # Oldest first (dicts keep insertion order); the global count is never dropped.
        for key in [k for k in self._failures if k[0] != LoginLimit.GLOBAL][: max(0, excess)]:
            del self._failures[key]

    def size(self) -> int:
        with self._lock:
            return len(self._failures) + len(self._pending)


class LoginGate:
    """At most ``running`` password checks at once and ``waiting`` more queued; others are refused at once.

    argon2 takes ~64 MiB and ~0.1 s of a core per check: unbounded, 64 parallel logins took the daemon
    to 2.5 GB and ``/healthz`` to 2.6 s (issue 15 item 3). The checks run on their own two worker
    threads, not the shared pool the pages and ``/healthz`` use, and the queue waits without a thread.
    """

    def __init__(self, running: int = 2, waiting: int = 8) -> None:
        self.running = running
        self.waiting = waiting
        self.in_flight = 0  # touched on the event loop only
        self._threads: anyio.CapacityLimiter | None = None

    def enter(self) -> bool:
        if self.in_flight >= self.running + self.waiting:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def threads(self) -> anyio.CapacityLimiter:
        if self._threads is None:  # made on the event loop that serves the console
            self._threads = anyio.CapacityLimiter(self.running)
        return self._threads
