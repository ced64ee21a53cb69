"""What a contender costs: wall time, CPU and resident memory of processes, read from /proc as they run.

The daemon pushes big pages from a push process of its own (sync/push_process.py): its figures are
those of the process tree, daemon and push process together.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from simulators.harness import zhifa


@dataclass(frozen=True, slots=True)
class DaemonRun:
    """One ``zhifa-sync sync --once``: wall seconds, peak RSS and the RSS samples (kB) of its tree."""

    secs: float
    peak_kb: int
    samples: list[int]


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the daemon and its push process)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return out


def status_kb(pid: int, field: str) -> int:
    """A kB figure of /proc/<pid>/status (``VmRSS``, ``VmHWM``); 0 if the process or the line is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_watch(pid: int, samples: list[int], stop: threading.Event) -> None:
    """RSS of the daemon and its push process together, every 0.2 s."""
    while not stop.is_set():
        if not Path(f"/proc/{pid}").exists():
            return
        rss = sum(status_kb(p, "VmRSS") for p in _tree(pid))
        if rss:  # 0: exiting (a zombie's status has no VmRSS)
            samples.append(rss)
        stop.wait(0.2)


def run_daemon(config: Path, pipeline: str) -> DaemonRun:
    """One ``zhifa-sync sync --once`` process, its push process included, measured while it runs."""
    started = time.monotonic()
    proc = zhifa(config, "sync", "--once", pipeline)
    samples: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=rss_watch, args=(proc.pid, samples, stop), daemon=True)
    watcher.start()
    peak = 0
    while proc.poll() is None:
        peak = max(peak, status_kb(proc.pid, "VmHWM"))
        time.sleep(0.1)
    stop.set()
    elapsed = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"zhifa-sync exited {proc.returncode}")
    return DaemonRun(elapsed, max([peak, *samples]), samples)


def rusage_s(children: bool) -> float:
    """CPU seconds (user + system) of this process, or of its reaped children."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
