"""Deciding what to send: each alert once when its condition opens, "已恢复" when it clears.

Per key: a minimum interval between two openings told (a flapping circuit is told once an hour, not
every minute), and quiet hours that hold the non-urgent ones (failure digests, due soon) until they
end. What was told is kept in the ledger (``alert_state``), so a restart does not tell it again; while
the ledger is down the alerter carries on from what it holds in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import structlog

from connectors.contract.clock import BEIJING, aware_now
from connectors.contract.states import Alert
from sync.alerts import conditions
from sync.alerts.channels import Message
from sync.alerts.conditions import URGENT, Condition, Inputs
from sync.alerts.delivery import Dispatcher
from sync.config import Settings, quiet_window
from sync.lease import LeaseProblem
from sync.ledger import AlertState, Ledger

log = structlog.get_logger("zhifa.alerts")


def in_quiet_hours(window: str | None, at: datetime) -> bool:
    """``at`` (in the configured zone) falls in ``"22:00-07:00"``; a window may span midnight."""
    if not window:
        return False
    start, end = quiet_window(window)
    t = at.time().replace(tzinfo=None)
    return start <= t < end if start <= end else (t >= start or t < end)


def _kind(key: str) -> Alert:
    return Alert(key.split(":", 1)[0])


class Alerter:
    def __init__(
        self,
        ledger: Ledger,
        settings: Settings,
        dispatcher: Dispatcher,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.ledger = ledger
        self.settings = settings
        self.cfg = settings.alerts
        self.dispatcher = dispatcher
        self.clock = clock or (lambda: aware_now(settings.zone))
        self.states: dict[str, AlertState] = {}
        self._loaded = False
        self._dirty: dict[str, AlertState] = {}

    def evaluate(
        self,
        circuits: Callable[[], Mapping[str, bool]] = dict,
        mapping_problems: Callable[[], list[str]] = list,
        *,
        stuck: Callable[[], Mapping[str, float]] = dict,
        leases: Callable[[], Mapping[str, LeaseProblem]] = dict,
    ) -> list[Message]:
        """Read the conditions, decide, queue what is to be sent; returns the messages queued."""
        now = self.clock()
        self._load()
        mark = self._failures_mark()
        reading = conditions.read(
            Inputs(
                self.ledger, self.settings, now.date(), mark or 0, circuits, mapping_problems, stuck, leases
            )
        )
        unknown = set(reading.unknown) | ({Alert.FAILURES} if mark is None else set())
        out = [m for c in reading.open if c.kind not in unknown and (m := self._opened(c, now))]
        seen = {c.key for c in reading.open}
        gone = [
            st
            for key, st in self.states.items()
            if st.is_open and key not in seen and _kind(key) not in unknown
        ]
        out += [m for st in gone if (m := self._cleared(st, now)) is not None]
        self._save()
        for m in out:
            self.dispatcher.submit(m)
        return out

    def _load(self) -> None:
        if self._loaded:
            return
        try:
            stored = self.ledger.alert_states()
        except Exception:
            log.warning("alert_state_unreadable")
            return
        self.states = {**stored, **self.states}
        self._loaded = True

    def _failures_mark(self) -> int | None:
        """The highest failure id digested; on the very first start, the newest one (history is not news)."""
        st = self.states.get(Alert.FAILURES)
        if st is not None and st.mark is not None:
            return int(st.mark)
        try:
            mark = self.ledger.last_failure_id()
        except Exception:
            return None
        self._put(AlertState(Alert.FAILURES, mark=str(mark)))
        return mark

    def _put(self, st: AlertState) -> None:
        self.states[st.key] = st
        self._dirty[st.key] = st

    def _save(self) -> None:
        if not self._dirty:
            return
        try:
            self.ledger.save_alert_states(list(self._dirty.values()))
        except Exception:  # kept in memory, written when the ledger is back
            log.warning("alert_state_unsaved", keys=sorted(self._dirty))
            return
        self._dirty.clear()

    def _held(self, urgent: bool, last_sent: datetime | None, now: datetime) -> bool:
        if not urgent and in_quiet_hours(self.cfg.quiet_hours, now):
            return True
        interval = timedelta(minutes=self.cfg.min_interval_minutes)
        return last_sent is not None and _naive(now) - last_sent < interval

    def _opened(self, c: Condition, now: datetime) -> Message | None:
        before = self.states.get(c.key)
        st = before or AlertState(c.key)
        if not st.is_open:
            st = st.but(is_open=True, notified=False, opened_at=_naive(now), title=c.title)
        if st.notified or self._held(c.urgent, st.last_sent_at, now):
            if st != before:
                self._put(st)
            return None
        sent = st.but(last_sent_at=_naive(now), title=c.title)
        if c.event:  # a digest is told and done: the next one starts after what it named
            self._put(sent.but(is_open=False, mark=c.mark))
        else:
            self._put(sent.but(notified=True))
        return Message.of(c.key, ("【紧急】" if c.urgent else "") + c.title, c.text, c.urgent)

    def _cleared(self, st: AlertState, now: datetime) -> Message | None:
        urgent = _kind(st.key) in URGENT
        if st.notified and not urgent and in_quiet_hours(self.cfg.quiet_hours, now):
            return None  # told at once when the quiet hours end, if still cleared
        self._put(st.but(is_open=False, notified=False))
        if not st.notified or _kind(st.key) is Alert.FAILURES:
            return None
        since = f"{st.opened_at:%m-%d %H:%M}" if st.opened_at else "?"
        text = f"{st.title or st.key} 已恢复 (自 {since} 起, 恢复于 {_naive(now):%m-%d %H:%M})。"
        return Message.of(st.key, f"已恢复: {st.title or st.key}", text, urgent)


def _naive(at: datetime) -> datetime:
    """As the ledger stores times: naive Beijing time to the second."""
    return at.astimezone(BEIJING).replace(tzinfo=None, microsecond=0)
