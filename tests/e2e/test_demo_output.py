"""Issue 18.10: ``make demo``'s output when stdout is not a terminal — the summary only, the JSON log
lines (push processes' included) in the state folder's log file, each run under its heading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.pasted import REPO, clean_env


def test_demo_piped_keeps_logs_out_of_the_summary(tmp_path: Path) -> None:
    state = tmp_path / "demo-state"
    # 2>&1 into a pipe, as `make demo | tee out.txt` or a CI log would capture it
    done = subprocess.run(
        [sys.executable, "-m", "zhifa_sync.demo", "--inspections", "260", "--state-dir", str(state)],
        cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-3000:]
    assert not [line for line in out.splitlines() if line.lstrip().startswith("{")], out
    assert "== 第一次运行" in out and "== 第二次运行" in out
    assert out.index("== 第一次运行") < out.index("== 第二次运行") < out.index("== zhifa-sync status ==")
    logged = (state / "zhifa-sync.log").read_text(encoding="utf-8").splitlines()
    events = {json.loads(line)["event"] for line in logged}
    assert "run_finished" in events
    assert str(state / "zhifa-sync.log") in out
