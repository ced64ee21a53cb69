"""Issue 18.10: ``make demo``'s output when stdout is not a terminal — the summary only, the JSON log
lines (push processes' included) in the state folder's log file, each run under its heading."""

from __future__ import annotations

import json
import re
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


def test_demo_counts_add_up_for_every_target(tmp_path: Path) -> None:
    """Each pipeline says how many of the records read go somewhere, and each target's row accounts
    for exactly those (one outcome per record and target): nothing counted twice, nothing unexplained."""
    state = tmp_path / "demo-state"
    done = subprocess.run(
        [sys.executable, "-m", "zhifa_sync.demo", "--inspections", "260", "--state-dir", str(state)],
        cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    first_run = done.stdout.split("== 第二次运行")[0]
    checked = 0
    for block in first_run.split("\n管道 ")[1:]:
        head = re.search(r"读取 (\d+) 条, 其中 (\d+) 条不需同步.*余 (\d+) 条", block)
        assert head, block
        pulled, skipped, rest = map(int, head.groups())
        assert pulled - skipped == rest
        rows = [line.split() for line in block.splitlines()[3:] if re.match(r"^[a-z]+\s+\d", line)]
        assert rows, block
        for name, *cells in rows:
            *columns, total = map(int, cells)
            assert sum(columns) == total == rest, (name, block)
            checked += 1
    assert checked >= 8, first_run  # every target of the five pipelines
