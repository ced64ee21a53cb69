"""Console accounts: argon2 password hashes in the ``users`` table, and the ``zhifa-sync users`` command.

``zhifa-sync users ...`` calls ``main(ledger, argv)`` with the ledger and the arguments after
``users``, e.g. ``["add", "zhangsan", "--role", "operator", "--password-stdin"]``; with ``ledger=None``
the arguments must name the database (``--db URL``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from connectors.contract.states import AuditAction
from console.passwords import password_problem
from sync.ledger import Ledger
from sync.ledger.users import LastActiveAdmin

ROLES = ("viewer", "operator", "admin")
ROLE_LABELS = {"viewer": "只读", "operator": "操作员", "admin": "管理员"}
CLI_ACTOR = "zhifa-sync users"  # the audit's actor for changes made with the command

_hasher = PasswordHasher()
# Checked against when the user does not exist, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("zhifa-sync-dummy-password")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    disabled: bool = False
    session: int = 0  # the session version: a cookie of an older one is dead

    def can(self, role: str) -> bool:
        """Whether this user's role is at least ``role`` (viewer < operator < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


class UserError(ValueError):
    """A user command that cannot be done (bad role, short password, duplicate name)."""


def fold(username: str) -> str:
    """User names are kept and looked up in lower case: ``ADMIN`` and ``admin`` are one account."""
    return username.strip().lower()


def _check(username: str, password: str | None, role: str | None) -> None:
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise UserError("用户名应为1–64个字符, 不含空格")
    if role is not None and role not in ROLES:
        raise UserError(f"角色应为 {' / '.join(ROLES)} 之一, 实际为 {role!r}")
    problem = None if password is None else password_problem(password, username)
    if problem:
        raise UserError(problem)


def add_user(
    ledger: Ledger, username: str, password: str, role: str = "viewer", *, actor: str = CLI_ACTOR
) -> User:
    """Create an account (audited as done by ``actor``); raises ``UserError`` when the name is taken or
    the input is bad."""
    username = fold(username)
    _check(username, password, role)
    detail = f"{username} (角色: {ROLE_LABELS[role]})"
    user_id = ledger.insert_user(username, _hasher.hash(password), role, actor=actor, detail=detail)
    if user_id is None:
        raise UserError(f"用户 {username} 已存在")
    return User(user_id, username, role)


def _user(row: dict[str, Any]) -> User:
    return User(
        row["id"], row["username"], row["role"], bool(row["disabled"]), int(row.get("session_version") or 0)
    )


def get_user(ledger: Ledger, username: str) -> User | None:
    row = ledger.user_row(fold(username))
    return None if row is None else _user(row)


def verify(ledger: Ledger, username: str, password: str) -> User | None:
    """The user when the password is right and the account enabled, else None."""
    row = ledger.user_row(fold(username))
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row["disabled"]:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):  # parameters were raised since it was hashed
        ledger.update_user(row["username"], password_hash=_hasher.hash(password))
    return _user(row)


def list_users(ledger: Ledger) -> list[User]:
    return [_user(r) for r in ledger.user_rows()]


LAST_ADMIN = (
    "{name} 是最后一个启用的管理员: 不能停用或降级, 否则没有人能管理账号。请先让另一个账号成为管理员。"
)


@dataclass(frozen=True, slots=True)
class Change:
    """Who changes an account, and whether the change may leave no enabled administrator."""

    actor: str = CLI_ACTOR
    keep_an_admin: bool = False  # the console's rule; the command line is the way back in


def _update(
    ledger: Ledger,
    username: str,
    values: dict[str, object],
    action: AuditAction,
    detail: str,
    change: Change,
    end: bool = False,
) -> None:
    name = fold(username)
    try:
        found = ledger.change_user(
            name,
            values,
            actor=change.actor,
            action=action,
            detail=f"{name}{detail}",
            end_sessions=end,
            keep_an_admin=change.keep_an_admin,
        )
    except LastActiveAdmin:
        raise UserError(LAST_ADMIN.format(name=name)) from None
    if not found:
        raise UserError(f"用户 {username} 不存在")


def end_sessions(ledger: Ledger, username: str) -> None:
    """End every console session of ``username`` at once (its cookies stop working)."""
    ledger.end_user_sessions(fold(username))


def set_password(ledger: Ledger, username: str, password: str, change: Change = Change()) -> None:
    """A new password; every session of that user ends (a cookie captured before is worthless)."""
    _check(fold(username), password, None)
    values: dict[str, object] = {"password_hash": _hasher.hash(password)}
    _update(ledger, username, values, AuditAction.USER_PASSWORD, "", change, end=True)


def set_role(ledger: Ledger, username: str, role: str, change: Change = Change()) -> None:
    _check(fold(username), None, role)
    _update(ledger, username, {"role": role}, AuditAction.USER_ROLE, f" → {ROLE_LABELS[role]}", change)


def set_disabled(ledger: Ledger, username: str, disabled: bool, change: Change = Change()) -> None:
    """Disable (every session ends at once) or enable an account."""
    action = AuditAction.USER_DISABLE if disabled else AuditAction.USER_ENABLE
    _update(ledger, username, {"disabled": disabled}, action, "", change, end=True)


NO_TERMINAL = (
    "没有终端, 无法输入密码: 请用 --password-stdin (从标准输入读一行, 如 "
    "printf '%s\\n' \"$PW\" | zhifa-sync users add NAME --password-stdin) 或 --password-file 文件"
)


def _read_password(args: argparse.Namespace, stdin: TextIO, prompt: Callable[[str], str] | None) -> str:
    """From ``--password-file``, one line of stdin (``--password-stdin``) or typed twice at a terminal."""
    if args.password_file:
        try:
            lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"无法读取密码文件 {args.password_file}: {exc.strerror}") from None
        return lines[0] if lines else ""
    if args.password_stdin:
        line = stdin.readline()
        if not line:
            raise UserError("标准输入中没有密码 (--password-stdin 读取一行)")
        return line.rstrip("\r\n")
    if prompt is None:
        if not stdin.isatty():
            raise UserError(NO_TERMINAL)
        prompt = getpass.getpass
    try:
        first = prompt("密码: ")
        again = prompt("再次输入密码: ")
    except EOFError:
        raise UserError(NO_TERMINAL) from None
    if again != first:
        raise UserError("两次输入的密码不一致")
    return first


def _password_options(parser: argparse.ArgumentParser) -> None:
    """Where the password comes from (never the command line); without either, typed at a terminal."""
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码 (一行)")
    how.add_argument("--password-file", metavar="文件", help="从文件读取密码 (第一行)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhifa-sync users", description="管理运维控制台账号")
    parser.add_argument("--db", help="账本数据库 URL (未由调用方给出时必填)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="新建账号")
    add.add_argument("username")
    add.add_argument(
        "--role", choices=ROLES, default="viewer", help="viewer 只读 / operator 操作员 / admin 管理员"
    )
    _password_options(add)
    passwd = sub.add_parser("passwd", help="重设密码")
    passwd.add_argument("username")
    _password_options(passwd)
    role = sub.add_parser("role", help="修改角色")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    for name, text in (("disable", "停用账号"), ("enable", "启用账号")):
        sub.add_parser(name, help=text).add_argument("username")
    sub.add_parser("list", help="列出账号: 用户名、角色、是否停用")
    return parser


def main(
    ledger: Ledger | None,
    argv: Sequence[str],
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    prompt: Callable[[str], str] | None = None,
) -> int:
    """``zhifa-sync users add|passwd|role|disable|enable|list``; returns the exit code.

    ``stdin``/``stdout``/``prompt`` are for tests (without ``prompt``, a password is typed at the
    terminal, and without a terminal the command fails with a hint); the password is never taken from
    the command line."""
    args = _parser().parse_args(list(argv))
    out = stdout or sys.stdout
    stdin = stdin or sys.stdin
    if ledger is None:
        if not args.db:
            print("错误: 需要 --db 指定账本数据库", file=sys.stderr)
            return 2
        ledger = Ledger.connect(args.db)
    try:
        if args.command == "add":
            user = add_user(ledger, args.username, _read_password(args, stdin, prompt), args.role)
            print(f"已创建用户 {user.username} (角色: {ROLE_LABELS[user.role]})", file=out)
        elif args.command == "passwd":
            set_password(ledger, args.username, _read_password(args, stdin, prompt))
            print(f"已重设用户 {args.username} 的密码", file=out)
        elif args.command == "role":
            set_role(ledger, args.username, args.role)
            print(f"用户 {args.username} 的角色已改为 {ROLE_LABELS[args.role]}", file=out)
        elif args.command in ("disable", "enable"):
            set_disabled(ledger, args.username, args.command == "disable")
            print(f"用户 {args.username} 已{'停用' if args.command == 'disable' else '启用'}", file=out)
        else:
            for u in list_users(ledger):
                state = " (已停用)" if u.disabled else ""
                print(f"{u.username}\t{u.role} {ROLE_LABELS[u.role]}{state}", file=out)
    except UserError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 1
    return 0
