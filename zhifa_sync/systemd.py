"""systemd's readiness and watchdog protocol (``sd_notify``), in a few lines of stdlib.

Under ``Type=notify`` systemd hands the service a datagram socket in ``$NOTIFY_SOCKET`` (a path, or an
abstract-namespace name written with a leading ``@``) and reads newline-separated ``KEY=value``
assignments from it: ``READY=1`` once the service is up, ``WATCHDOG=1`` at least every
``$WATCHDOG_USEC`` microseconds (else systemd kills and restarts it), ``STOPPING=1``, ``STATUS=…``.
Outside systemd the variable is unset and every call is a no-op.

Why not a library: ``python-systemd`` (``systemd.daemon.notify``) builds against the libsystemd
headers, which a bureau server's offline wheel install does not have; ``sdnotify`` has been
unmaintained since 2017 and does not handle abstract sockets. The protocol is one ``sendto``.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger("zhifa.systemd")


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    if addr.startswith("@"):  # abstract namespace: a leading NUL byte instead of the '@'
        return "\0" + addr[1:]
    if addr.startswith("/"):
        return addr
    return None  # vsock:… (VMs) is not something a bureau server uses


def notify(*assignments: str) -> bool:
    """Send ``READY=1`` / ``WATCHDOG=1`` / ``STATUS=…`` to systemd; False when not under systemd or the send fails."""
    addr = _address()
    if addr is None or not assignments:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall("\n".join(assignments).encode())
    except OSError as exc:  # never let the service die because systemd went away
        log.warning("sd_notify_failed", error=str(exc))
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WatchdogSec``), or None when no watchdog is set for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or _address() is None:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None  # the watchdog is meant for another process (e.g. our parent)
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None
