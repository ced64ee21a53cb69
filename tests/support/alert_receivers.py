"""Local receivers for alert tests: a webhook server (http.server) and an SMTP server (aiosmtpd), each
on a free port of 127.0.0.1, keeping what arrives."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hit:
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class WebhookReceiver:
    url: str
    hits: list[Hit] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered first, in order; then 200

    def wait(self, n: int, timeout: float = 5.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while len(self.hits) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.hits


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    rx = WebhookReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            status = rx.statuses.pop(0) if rx.statuses else 200
            if status == 200:
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                rx.hits.append(Hit(parts.path, query, json.loads(self.rfile.read(length))))
            body = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rx.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rx
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    port: int
    user: str
    password: str
    mails: list[EmailMessage] = field(default_factory=list)

    def wait(self, n: int, timeout: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.mails) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.mails


@contextmanager
def smtp_receiver(user: str = "alerts", password: str = "s3cret") -> Iterator[SmtpReceiver]:
    rx = SmtpReceiver(free_port(), user, password)

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Envelope) -> str:
            raw = envelope.original_content or b""
            rx.mails.append(message_from_bytes(raw, policy=policy.default))
            return "250 OK"

    def authenticator(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        return AuthResult(success=ok)

    controller = Controller(
        Handler(), hostname="127.0.0.1", port=rx.port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        yield rx
    finally:
        controller.stop()
