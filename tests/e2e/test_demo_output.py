"""Issue 18.10: ``make demo``'s output when stdout is not a terminal — the summary only, the JSON log
lines (push processes' included) in the state folder's log file, each run under its heading."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.contract.clock import beijing_now
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


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One demo run, its output captured apart from its error stream, for the tests that read it."""
    state = tmp_path_factory.mktemp("demo") / "demo-state"
    done = subprocess.run(
        [sys.executable, "-m", "zhifa_sync.demo", "--inspections", "260", "--state-dir", str(state)],
        cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done


def test_demo_counts_add_up_for_every_target(demo: subprocess.CompletedProcess[str]) -> None:
    """Each pipeline says how many of the records read go somewhere, and each target's row accounts
    for exactly those (one outcome per record and target): nothing counted twice, nothing unexplained."""
    first_run = demo.stdout.split("== 第二次运行")[0]
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


def test_demo_month_ends_today_and_blames_no_backfill_on_the_daemon(
    demo: subprocess.CompletedProcess[str],
) -> None:
    """The demo serves the month up to now: the recent decisions are published on time by the first
    run, the older ones were already overdue when first read and are counted as history, and nothing is
    "published late" by the daemon; every published decision is one of the three."""
    status = demo.stdout.split("== zhifa-sync status ==")[1]
    line = re.search(
        r"已逾期 (\d+)[^,]*, 即将到期 \d+, 未到期 \d+, 已公示 (\d+) \(按期公示 (\d+), 逾期后公示 (\d+),"
        r" 首次读到时已逾期 (\d+) \(安装前的历史数据\)\)",
        status,
    )
    assert line, status
    _, published, on_time, late, history = map(int, line.groups())
    assert on_time >= 1 and late == 0, line.group(0)
    assert on_time + late + history == published
    read_up_to = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", status)
    assert read_up_to and max(read_up_to) <= beijing_now().isoformat(sep=" ")  # nothing from the future
