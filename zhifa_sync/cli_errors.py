"""What the command line says, in one line, when a command fails on something other than its own
checks: the ledger database cannot be reached, it answers with an error, or a bug. No traceback (126
lines of SQLAlchemy for a database that is down); ``ZHIFA_DEBUG=1`` shows it.

Exit codes: 2 for a configuration the command cannot use (``ConfigError``, handled before this), 1 for
everything here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exc as db

from connectors.contract.validators import mask_text


@dataclass(frozen=True, slots=True)
class CliFailure:
    message: str
    exit_code: int = 1


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc  # the driver's words, without SQL and parameters
    lines = str(orig).strip().splitlines()
    return mask_text(lines[0] if lines else type(orig).__name__)[:300]


def _unreachable(exc: BaseException) -> str:
    return (
        f"无法连接账本数据库: {_first_line(exc)}。"
        "请检查配置文件中的 database.url、数据库服务是否在运行, 以及本机能否访问它 (zhifa-sync check 可逐项检查)"
    )


def _database(exc: BaseException) -> str:
    return f"账本数据库出错 ({type(getattr(exc, 'orig', None) or exc).__name__}): {_first_line(exc)}"


def _internal(exc: BaseException) -> str:
    return f"内部错误 ({type(exc).__name__}): {_first_line(exc)}。设置环境变量 ZHIFA_DEBUG=1 后重试可显示详细信息"


# Most specific first: the first row whose type matches says what happened.
_RULES: tuple[tuple[type[BaseException], Callable[[BaseException], str]], ...] = (
    (db.OperationalError, _unreachable),  # refused, timed out, unknown host, wrong password, no file
    (db.InterfaceError, _unreachable),
    (db.SQLAlchemyError, _database),
    (Exception, _internal),
)


def explain(exc: BaseException) -> CliFailure:
    """The one line (and exit code) for an error no command handled."""
    for kind, message in _RULES:
        if isinstance(exc, kind):
            return CliFailure(message(exc))
    return CliFailure(_internal(exc))
