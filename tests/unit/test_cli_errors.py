"""The command line's one-line errors (zhifa_sync/cli_errors.py)."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError, ProgrammingError

from zhifa_sync.cli_errors import explain


def test_each_kind_of_error_has_its_line_and_exit_code() -> None:
    """Unreachable ledger, a database error, a bug: one Chinese line each, exit 1, through mask_text."""
    down = explain(OperationalError("SELECT 1", {}, Exception("connection refused\nDETAIL: more")))
    assert (down.exit_code, down.message.split(":")[0]) == (1, "无法连接账本数据库")
    assert "DETAIL" not in down.message
    broken = explain(ProgrammingError("SELECT x", {}, Exception('relation "runs" does not exist')))
    assert broken.message.startswith("账本数据库出错 (Exception): relation")
    bug = explain(ValueError("bad 120116199206059513"))
    assert bug.message.startswith("内部错误 (ValueError): bad 1201") and "ZHIFA_DEBUG" in bug.message
    assert "\n" not in down.message + broken.message + bug.message
