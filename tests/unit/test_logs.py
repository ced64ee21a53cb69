"""Log lines are whole: one write per line, never longer than PIPE_BUF (sync/logs.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sync import logs


def test_a_long_event_is_shortened_to_one_pipe_buf_line_keeping_head_and_tail() -> None:
    """A 20 kB traceback and a long message fit in one line under PIPE_BUF, marked truncated."""
    event = {
        "event": "push_crashed",
        "level": "error",
        "exception": "头" + "x" * 20_000 + "尾",
        "m": "信" * 3000,
    }
    line = logs.CappedJSON()(None, "error", dict(event))
    assert len(line.encode()) < logs.LINE_MAX
    parsed = json.loads(line)
    assert parsed["truncated"] is True and parsed["event"] == "push_crashed"
    assert parsed["exception"].startswith("头") and parsed["exception"].endswith("尾")
    assert "…(已截断)" in parsed["exception"]


def test_a_short_event_is_left_as_it_is() -> None:
    line = logs.CappedJSON()(None, "info", {"event": "run_finished", "pulled": 3})
    assert json.loads(line) == {"event": "run_finished", "pulled": 3}


def test_write_line_is_one_write_to_the_descriptor(tmp_path: Path) -> None:
    """Each line reaches the file whole, with its newline, through the stream's descriptor."""
    path = tmp_path / "err.log"
    with path.open("a", encoding="utf-8") as stream:
        stream.write("before ")  # buffered text printed earlier goes out first
        logs.write_line('{"event": "a"}', stream)
        logs.write_line('{"event": "b"}\n', stream)
        os.fsync(stream.fileno())
    assert path.read_text(encoding="utf-8") == 'before {"event": "a"}\n{"event": "b"}\n'
