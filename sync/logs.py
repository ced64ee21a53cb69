"""structlog, configured once: readable console output on a TTY, JSON lines otherwise (journald).

Log lines go to **stderr**, on purpose: stdout carries what a command prints for its reader (the tables
of ``sync --once``, the report of ``check``), so ``zhifa-sync check > report.txt`` stays clean. Under
systemd both streams go to the journal (``journalctl -u zhifa-sync -o cat`` shows the JSON lines).

Every event passes through ``mask_personal_data``, so an unmasked 身份证号 cannot reach a log line
whichever module logged it; secrets are never passed to a logger in the first place.

Every line is whole: the daemon and its push process (``sync.push_process``) share one stderr, so each
line — from structlog or from a library's ``logging`` — goes out in a single ``os.write`` of at most
``PIPE_BUF`` bytes (atomic on a pipe, and on a file the two processes share), under one lock per
process. A JSON event longer than that has its longest values shortened (``"truncated": true``) rather
than being split. (It used to be written in pieces, and about 0.2 % of the lines of a faulted run
with a push process were two objects run together.)
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
from typing import Any, TextIO

import structlog

from connectors.contract.validators import mask_text


def mask_personal_data(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = mask_text(value)
        elif isinstance(value, list | tuple | dict):
            event[key] = mask_text(str(value))
    return event


LINE_MAX = select.PIPE_BUF  # bytes, newline included: the most one write() delivers whole to a pipe
_TRUNCATED = "…(已截断)"
_write_lock = threading.Lock()  # structlog's loggers and the logging handler: one line at a time


def write_line(line: str, stream: TextIO | None = None) -> None:
    """Write ``line`` and its newline to ``stream`` (stderr) in one system call where it has a file
    descriptor; a stream without one (a test's capture) gets a plain write."""
    stream = stream if stream is not None else sys.stderr
    data = (line.rstrip("\n") + "\n").encode("utf-8", "backslashreplace")
    with _write_lock:
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            stream.write(data.decode("utf-8"))
            stream.flush()
            return
        stream.flush()  # what was printed to it before goes first
        view = memoryview(data)
        while view:  # one call unless the line is longer than PIPE_BUF (a console line)
            view = view[os.write(fd, view) :]


class LineLogger:
    """structlog's output: each rendered event as one whole line on stderr (looked up at every use)."""

    def msg(self, message: str) -> None:
        write_line(message)

    log = debug = info = warn = warning = error = err = critical = exception = fatal = failure = msg


class LineHandler(logging.Handler):
    """The ``logging`` side (uvicorn, apscheduler, alembic): the same whole lines, the same lock."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            write_line(self.format(record))
        except Exception:
            self.handleError(record)


class CappedJSON:
    """``JSONRenderer`` whose lines fit in ``LINE_MAX`` bytes: the longest values are cut until it fits."""

    def __init__(self) -> None:
        self._render = structlog.processors.JSONRenderer(ensure_ascii=False)

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> str:
        line = str(self._render(logger, name, event))
        while len(line.encode("utf-8", "backslashreplace")) >= LINE_MAX:
            texts = {k: v if isinstance(v, str) else str(v) for k, v in event.items()}
            key = max(texts, key=lambda k: len(texts[k]))
            value = texts[key]
            if len(value) <= 2 * len(_TRUNCATED):  # nothing long is left (very many short fields)
                event = {k: event[k] for k in ("timestamp", "level", "event") if k in event}
                event["truncated"] = True
                return str(self._render(logger, name, event))
            keep = len(value) // 4  # its head and its tail (a traceback's last lines say the most)
            event = {**event, key: value[:keep] + _TRUNCATED + value[-keep:], "truncated": True}
            line = str(self._render(logger, name, event))
        return line


# How the process was configured: a push process (sync.push_process) logs the same way.
current: tuple[str, int] = ("auto", logging.INFO)


def configure(fmt: str = "auto", level: int = logging.INFO) -> None:
    global current
    current = (fmt, level)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
        # Tracebacks become text before masking, on a terminal too: a traceback can quote a 身份证号.
        structlog.processors.format_exc_info,
        mask_personal_data,
    ]
    renderer: Any = CappedJSON() if use_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # sys.stderr is looked up at every line: tests and daemons may swap it after configuration.
        logger_factory=lambda *_: LineLogger(),
        cache_logger_on_first_use=False,
    )
    # Libraries' own logging (uvicorn, starlette, apscheduler, alembic) at warning level, rendered and masked
    # the same way, so that journald receives one format only. uvicorn is started with ``log_config=None``
    # (``console.peers.SERVER_OPTIONS``) so its loggers have no handler of their own and come here.
    handler = LineHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *processors],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "starlette"):
        library = logging.getLogger(name)
        library.handlers[:] = []  # a handler uvicorn set up earlier in this process would print plain text
        library.propagate = True
