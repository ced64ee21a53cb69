"""Alert delivery on its own thread: a bounded queue, each channel retried (tenacity), failures logged.

``submit`` never blocks: when the queue is full the message is dropped and logged, so a dead mail
server cannot hold up a sync run.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Sequence

import structlog
from tenacity import retry, stop_after_attempt, wait_exponential

from sync.alerts.channels import DeliveryError, Message, channel_name, send
from sync.config import Channel

log = structlog.get_logger("zhifa.alerts")
QUEUE_SIZE = 200


class Dispatcher:
    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        attempts: int = 4,
        wait_s: float = 2.0,
        maxsize: int = QUEUE_SIZE,
    ) -> None:
        self.channels = list(channels)
        self._queue: queue.Queue[Message | None] = queue.Queue(maxsize=maxsize)
        self._send = retry(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=wait_s, max=60 * wait_s),
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "alert_retry",
                attempt=rs.attempt_number,
                error=str(rs.outcome.exception() if rs.outcome else ""),
            ),
        )(send)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
            self._thread.start()

    def submit(self, msg: Message) -> bool:
        """Queue ``msg`` for every channel; False (and logged) when the queue is full."""
        if not self.channels:
            return True
        self.start()
        try:
            self._queue.put_nowait(msg)
        except queue.Full:
            log.error("alert_dropped", key=msg.key, reason="queue_full")
            return False
        return True

    def flush(self) -> None:
        """Wait until everything queued so far was sent or given up (tests, shutdown)."""
        if self._thread is not None:
            self._queue.join()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while True:
            msg = self._queue.get()
            try:
                if msg is None:
                    return
                for i, channel in enumerate(self.channels):
                    self._deliver(channel, channel_name(channel, i), msg)
            finally:
                self._queue.task_done()

    def _deliver(self, channel: Channel, name: str, msg: Message) -> None:
        try:
            self._send(channel, msg)
        except (DeliveryError, ValueError) as exc:
            log.error("alert_failed", channel=name, key=msg.key, error=str(exc))
        except Exception:  # never let one channel's bug stop the thread
            log.exception("alert_failed", channel=name, key=msg.key)
        else:
            log.info("alert_sent", channel=name, key=msg.key)
