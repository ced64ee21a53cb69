"""structlog, configured once: readable console output on a TTY, JSON lines otherwise (journald).

Log lines go to **stderr**, on purpose: stdout carries what a command prints for its reader (the tables
of ``sync --once``, the report of ``check``), so ``zhifa-sync check > report.txt`` stays clean. Under
systemd both streams go to the journal (``journalctl -u zhifa-sync -o cat`` shows the JSON lines).

Every event passes through ``mask_personal_data``, so an unmasked 身份证号 cannot reach a log line
whichever module logged it; secrets are never passed to a logger in the first place.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from connectors.contract.validators import mask_text


def mask_personal_data(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = mask_text(value)
        elif isinstance(value, list | tuple | dict):
            event[key] = mask_text(str(value))
    return event


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
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Look sys.stderr up at every use: tests and daemons may swap it after configuration.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries' own logging (uvicorn, starlette, apscheduler, alembic) at warning level, rendered and masked
    # the same way, so that journald receives one format only. uvicorn is started with ``log_config=None``
    # (``console.peers.SERVER_OPTIONS``) so its loggers have no handler of their own and come here.
    handler = logging.StreamHandler(sys.stderr)
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
