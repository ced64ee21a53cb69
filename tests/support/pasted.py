"""Commands as a user pastes them from the README, the operations guide or ``make demo``'s output.

``paste`` runs one in a shell from the checkout's folder with none of the secrets' environment
variables set (a fresh terminal after the demo), so a command that needed a system's secret fails."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
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
