"""Serve a simulator's ASGI app with uvicorn on loopback, in a background thread or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without TCP_NODELAY every keep-alive call on a pre-bound socket waits ~40 ms (Nagle + delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start(app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 = any free port) in a daemon thread; returns once it accepts.

    ``options`` go to ``uvicorn.Config`` over the defaults (the console passes its own)."""
    sock = _bind(host, port)
    settings: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "timeout_keep_alive": 30,
        **options,
    }
    config = uvicorn.Config(app, **settings)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("simulator did not start")
        time.sleep(0.01)
    return RunningServer(f"http://{host}:{sock.getsockname()[1]}", server, thread)


@contextmanager
def serving(app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> Iterator[RunningServer]:
    running = start(app, host, port, **options)
    try:
        yield running
    finally:
        running.stop()


def serve_forever(app: Any, host: str, port: int) -> None:
    """Foreground serving for ``python -m simulators serve``."""
    sock = _bind(host, port)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
