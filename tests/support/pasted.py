"""Commands as a user pastes them from the README, the operations guide or ``make demo``'s output.

``paste`` runs one in a shell from the checkout's folder with none of the secrets' environment
variables set (a fresh terminal after the demo), so a command that needed a system's secret fails."""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECRET_PREFIXES = ("ZS_", "ZHIFA_")
_ANNOTATION = re.compile(r"\s{2,}(#.*|\(.*\))$")  # "cmd   # comment" or "cmd   (http://…)"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any ZS_*/ZHIFA_* variable (the simulators' secrets among them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def strip_annotation(command: str) -> str:
    """The command without the trailing comment or explanation it is printed with."""
    return _ANNOTATION.sub("", command.strip()).strip()


def fill(command: str, values: dict[str, str]) -> str:
    """Placeholders (``<编号>``, ``ID``, ``NAME``, ``a|b|c``) replaced as a user would."""
    for placeholder, value in values.items():
        command = command.replace(placeholder, value)
    return command


def paste(
    command: str, *, stdin: str = "", cwd: Path = REPO, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``sh`` as pasted; output captured as text."""
    return subprocess.run(
        ["sh", "-c", command],
        cwd=cwd,
        env=env or clean_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,  # no controlling terminal: getpass reads the piped stdin
    )


def start(command: str, *, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A long-running pasted command (``console``, ``run``), in its own process group."""
    return subprocess.Popen(
        shlex.split(command),
        cwd=cwd,
        env=env or clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def paste_at_terminal(
    command: str, *, answers: list[str], prompt: str, cwd: Path = REPO, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``sh`` on a terminal (a pseudo-terminal for stdin and stderr, as when an
    administrator pastes it into a shell), typing each of ``answers`` once ``prompt`` shows (a
    password prompt flushes what was typed before it, as a real terminal does)."""
    master, slave = os.openpty()
    seen = b""
    try:
        proc = subprocess.Popen(
            ["sh", "-c", command],
            cwd=cwd,
            env=clean_env(),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=slave,
            start_new_session=True,  # no controlling terminal: getpass uses the terminal on stdin
        )
        deadline = time.monotonic() + timeout
        pending = list(answers)
        while proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                seen += os.read(master, 4096)
                if pending and seen.decode(errors="replace").count(prompt) > len(answers) - len(pending):
                    os.write(master, (pending.pop(0) + "\n").encode())
        out = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    finally:
        os.close(slave)
        os.close(master)
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, out.decode(), seen.decode(errors="replace")
    )
