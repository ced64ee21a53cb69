"""A hostile peer: an HTTP proxy in front of any simulator that answers badly on purpose.

``Hostile(upstream)`` listens on 127.0.0.1 (its own thread and event loop) and forwards every request
to ``upstream``; ``set(path_prefix, Mode.X)`` makes the answers for paths under that prefix go wrong,
switchable at run time (``clear()`` puts everything back):

- ``DRIP``: a valid status line at once, then the rest (headers and body) one byte per ``drip_s``;
- ``STALL``: read the request, never answer (the connection stays open);
- ``TRUNCATE``: the upstream answer with its full ``Content-Length``, cut off half-way;
- ``INFLATE``: a 200 JSON answer of ``inflate_bytes`` bytes (a huge, valid-looking body);
- ``GARBLE``: a 200 answer that is not JSON; ``WRONG_SHAPE``: JSON of the wrong shape.

``calls[prefix]`` counts the requests each prefix received (to bound calls to a dead peer).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import httpx


class Mode(StrEnum):
    PASS = "pass"
    DRIP = "drip"
    STALL = "stall"
    TRUNCATE = "truncate"
    INFLATE = "inflate"
    GARBLE = "garble"
    WRONG_SHAPE = "wrong_shape"


class Hostile:
    def __init__(self, upstream: str, *, drip_s: float = 1.0, inflate_bytes: int = 64 * 1024 * 1024) -> None:
        self.upstream = upstream.rstrip("/")
        self.drip_s = drip_s
        self.inflate_bytes = inflate_bytes
        self.modes: dict[str, Mode] = {}
        self.calls: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._serve, name="hostile", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        assert self._server is not None
        self.port: int = self._server.sockets[0].getsockname()[1]
        self.url: str = f"http://127.0.0.1:{self.port}"

    # -- control -------------------------------------------------------------------------------
    def set(self, prefix: str, mode: Mode) -> None:
        self.modes[prefix] = mode

    def clear(self) -> None:
        self.modes.clear()

    def mode_for(self, path: str) -> tuple[str, Mode]:
        best = max((p for p in self.modes if path.startswith(p)), key=len, default="")
        return best, self.modes.get(best, Mode.PASS)

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- serving -------------------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._client = httpx.AsyncClient(timeout=30)
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
            body = await reader.readexactly(length) if length else b""
            prefix, mode = self.mode_for(target.split("?", 1)[0])
            self.calls[prefix] += 1
            await self._answer(writer, mode, method, target, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        mode: Mode,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        if mode is Mode.STALL:
            await asyncio.sleep(3600)
            return
        if mode is Mode.INFLATE:
            await self._inflate(writer)
            return
        if mode in (Mode.GARBLE, Mode.WRONG_SHAPE):
            text = b"<html><body>502 Bad Gateway \xff\xfe" if mode is Mode.GARBLE else b'[1, "two", null]'
            writer.write(_head(200, len(text)) + text)
            await writer.drain()
            return
        skip = {"host", "content-length", "connection", "accept-encoding"}
        up = await self._client.request(
            method,
            self.upstream + target,
            headers={k: v for k, v in headers.items() if k.lower() not in skip},
            content=body,
        )
        raw = _head(up.status_code, len(up.content), up.headers.get("content-type", "")) + up.content
        if mode is Mode.TRUNCATE:
            writer.write(raw[: len(raw) - len(up.content) // 2 - 1])
            await writer.drain()
            return
        if mode is Mode.DRIP:
            status_end = raw.index(b"\r\n") + 2
            writer.write(raw[:status_end])
            for i in range(status_end, len(raw)):
                await writer.drain()
                await asyncio.sleep(self.drip_s)
                writer.write(raw[i : i + 1])
        else:
            writer.write(raw)
        await writer.drain()

    async def _inflate(self, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, self.inflate_bytes))
        chunk = b'{"pad": "' + b"x" * (64 * 1024 - 10)
        sent = 0
        while sent < self.inflate_bytes:
            part = chunk[: self.inflate_bytes - sent]
            writer.write(part)
            sent += len(part)
            await writer.drain()


def _head(status: int, length: int, content_type: str = "application/json") -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


@contextmanager
def hostile(
    upstream: str, *, drip_s: float = 1.0, inflate_bytes: int = 64 * 1024 * 1024
) -> Iterator[Hostile]:
    proxy = Hostile(upstream, drip_s=drip_s, inflate_bytes=inflate_bytes)
    try:
        yield proxy
    finally:
        proxy.close()
