"""Local receivers for alert tests: a webhook server (http.server) and an SMTP server (aiosmtpd), each
on a free port of 127.0.0.1, keeping what arrives."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import trustme
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


@dataclass(frozen=True, slots=True)
class Tls:
    """A server certificate for 127.0.0.1 issued by a CA made for the test, and that CA's PEM file."""

    context: ssl.SSLContext
    ca_file: Path


def self_signed_tls(folder: Path) -> Tls:
    """A fresh CA (written to ``folder/ca.pem``) and a server context whose certificate it signed."""
    ca = trustme.CA(organization_name="区应急管理局 测试 CA")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(context, ca_file)


@contextmanager
def smtp_receiver(
    user: str = "alerts",
    password: str = "s3cret",
    *,
    security: Literal["none", "starttls", "ssl"] = "none",
    tls: Tls | None = None,
    offer_auth: bool = True,
    refuse_rcpt: str | None = None,
) -> Iterator[SmtpReceiver]:
    """An aiosmtpd server with AUTH; with ``tls``, STARTTLS required before AUTH, or SSL from the start.
    ``offer_auth=False``: a plain server that offers no AUTH; ``refuse_rcpt``: the reply to every recipient."""
    rx = SmtpReceiver(free_port(), user, password)

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Envelope) -> str:
            raw = envelope.original_content or b""
            rx.mails.append(message_from_bytes(raw, policy=policy.default))
            return "250 OK"

        async def handle_RCPT(
            self, _server: Any, _session: Any, envelope: Envelope, address: str, _options: Any
        ) -> str:
            if refuse_rcpt:
                return refuse_rcpt
            envelope.rcpt_tos.append(address)
            return "250 OK"

    def authenticator(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        # handled=False: aiosmtpd answers 535 itself (the default, handled=True, leaves the client
        # waiting for an answer that never comes)
        return AuthResult(success=ok, handled=False)

    options: dict[str, Any] = {}
    if security == "starttls" and tls is not None:
        options = {"tls_context": tls.context, "require_starttls": True, "auth_require_tls": True}
    elif security == "ssl" and tls is not None:
        # TLS from the first byte; aiosmtpd's auth_require_tls looks only at STARTTLS, so it is off here
        options = {"ssl_context": tls.context, "auth_require_tls": False}
    else:  # AUTH only after TLS, and no TLS: AUTH is not offered
        options = {"auth_require_tls": not offer_auth}
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=rx.port, authenticator=authenticator, **options
    )
    controller.start()
    try:
        yield rx
    finally:
        controller.stop()
