"""Issue 18.9: `python -m simulators serve` prints every credential and the configuration a trial of
`zhifa-sync run` needs; pasting what it prints is enough for `zhifa-sync check` to pass."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from simulators.harness import terminate
from tests.support.pasted import REPO, clean_env


def test_serve_prints_what_a_trial_needs(tmp_path: Path) -> None:
    config = tmp_path / "zhifa-sync.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "serve", "--inspections", "20", "--hlwjg-url",
         f"sqlite:///{tmp_path / 'qzk.db'}", "--collector-interval", "0.5", "--write-config", str(config),
         *(f"--{n}-port=0" for n in ("district", "municipal", "credit", "hlwjg"))],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=clean_env(),
    )  # fmt: skip
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while not lines or not lines[-1].startswith("# written:"):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        out = "".join(lines)
        for credential in ("sync-secret", "municipal-secret", "credit-secret", "QJJR-BH", "SGS-BH", "qzk.db"):
            assert credential in out, out
        exports = dict(re.findall(r"(?m)^export (\w+)=(\S+)$", out))
        assert set(exports) == {
            "ZS_DISTRICT_PASSWORD",
            "ZS_MUNICIPAL_SECRET",
            "ZS_CREDIT_SECRET",
            "ZS_HLWJG_URL",
        }
        assert "systems:" in out and "pipelines:" in out
        done = subprocess.run(
            [str(REPO / ".venv" / "bin" / "zhifa-sync"), "-c", str(config), "check"],
            cwd=tmp_path, env=clean_env(**exports), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "全部通过" in done.stdout, done.stdout
    finally:
        terminate(proc)  # type: ignore[arg-type]
