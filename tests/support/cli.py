"""``zhifa-sync`` as a user runs it: a real process, with the server's time zone chosen by the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from simulators.daemon_config import secrets_env

REPO = Path(__file__).resolve().parents[2]


def run_cli(
    config: Path | None, *args: str, tz: str | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m zhifa_sync [-c config] args...`` to the end; ``tz`` sets the process's ``TZ``
    (``UTC``, ``Asia/Shanghai``); ``stdin`` is what is typed in (None: no terminal, /dev/null)."""
    env = {**os.environ, **secrets_env(), "ZHIFA_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    if tz is not None:
        env["TZ"] = tz
    head = ["-c", str(config)] if config is not None else []
    return subprocess.run(
        [sys.executable, "-m", "zhifa_sync", *head, *args],
        cwd=REPO,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
