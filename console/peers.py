"""Who is on the other end of a request: the TCP peer, or the client a trusted reverse proxy names.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are anyone's to write, so they are read only when the peer
is one of ``console.trusted_proxies`` (none by default). uvicorn's own proxy-header handling is
switched off (``SERVER_OPTIONS``): by default it trusts them from 127.0.0.1, which let a local
client pick its address and slip past the login limits (issue 15 item 3).

The chain is read from the right: the first address that is not a trusted proxy is the client, as
nginx's ``real_ip_recursive`` and Werkzeug's ``ProxyFix`` do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What the console's uvicorn server must be given wherever it is started (service, ``console`` command,
# tests): no proxy headers of its own, no logging config of its own (its loggers go through ours).
SERVER_OPTIONS: dict[str, Any] = {
    "proxy_headers": False,
    "server_header": False,
    "log_config": None,
    "access_log": False,
    "log_level": "warning",
}


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in net for net in proxies)


def forwarded_client(peer: str, header: str, proxies: tuple[Network, ...]) -> str:
    """The client a chain of trusted proxies reports for ``peer`` (``peer`` itself when not trusted)."""
    if not header or not trusted(peer, proxies):
        return peer
    client = peer
    for hop in reversed(header.split(",")):
        ip = _ip(hop)
        if ip is None:
            break  # garbage in the chain: stop at the last address a trusted proxy vouched for
        client = str(ip)
        if not any(ip in net for net in proxies):
            break
    return client


def _header(scope: Scope, name: bytes) -> str:
    """Every value of header ``name``, joined as one comma list (a client may send it twice)."""
    return ",".join(v.decode("latin-1") for k, v in scope["headers"] if k.lower() == name)


class PeerAddress:
    """Puts the real client into ``scope["client"]`` (and ``https`` into ``scope["scheme"]``) for requests
    that came through a trusted proxy; keeps the TCP peer in ``scope["state"]["peer"]``."""

    def __init__(self, app: ASGIApp, proxies: tuple[Network, ...]) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client") or ("unknown", 0)
            peer = str(client[0])
            scope.setdefault("state", {})["peer"] = peer
            if self.proxies and trusted(peer, self.proxies):
                chain = _header(scope, b"x-forwarded-for")
                scope["client"] = (forwarded_client(peer, chain, self.proxies), 0)
                proto = _header(scope, b"x-forwarded-proto").split(",")[-1].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto
        await self.app(scope, receive, send)
