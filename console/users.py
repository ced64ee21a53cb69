"""Console accounts: argon2 password hashes in the ``users`` table, and the ``zhifa-sync users`` command.

``zhifa-sync users ...`` calls ``main(engine, argv)`` with the ledger's engine and the arguments after
``users``, e.g. ``["add", "zhangsan", "--role", "operator", "--password-stdin"]``; with ``engine=None``
the arguments must name the database (``--db URL``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from sync.db import users
from sync.ledger import Ledger, now

ROLES = ("viewer", "operator", "admin")
ROLE_LABELS = {"viewer": "只读", "operator": "操作员", "admin": "管理员"}
MIN_PASSWORD = 8

_hasher = PasswordHasher()
# Checked against when the user does not exist, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("zhifa-sync-dummy-password")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    disabled: bool = False

    def can(self, role: str) -> bool:
        """Whether this user's role is at least ``role`` (viewer < operator < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


class UserError(ValueError):
    """A user command that cannot be done (bad role, short password, duplicate name)."""


def _check(username: str, password: str | None, role: str | None) -> None:
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise UserError("用户名应为1–64个字符, 不含空格")
    if role is not None and role not in ROLES:
        raise UserError(f"角色应为 {' / '.join(ROLES)} 之一, 实际为 {role!r}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 个字符")


def add_user(engine: Engine, username: str, password: str, role: str = "viewer") -> User:
    """Create an account; raises ``UserError`` when the name is taken or the input is bad."""
    username = username.strip()
    _check(username, password, role)
    try:
        with engine.begin() as conn:
            result = conn.execute(
                users.insert().values(
                    username=username,
                    password_hash=_hasher.hash(password),
                    role=role,
                    created_at=now(),
                    disabled=False,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            user_id = int(key[0])
    except IntegrityError:
        raise UserError(f"用户 {username} 已存在") from None
    return User(user_id, username, role)


def get_user(engine: Engine, username: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    return None if row is None else User(row.id, row.username, row.role, bool(row.disabled))


def verify(engine: Engine, username: str, password: str) -> User | None:
    """The user when the password is right and the account enabled, else None."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username.strip())).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    if _hasher.check_needs_rehash(row.password_hash):  # parameters were raised since it was hashed
        with engine.begin() as conn:
            conn.execute(
                update(users).where(users.c.id == row.id).values(password_hash=_hasher.hash(password))
            )
    return User(row.id, row.username, row.role, False)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.username))
        return [User(r.id, r.username, r.role, bool(r.disabled)) for r in rows]


def _update(engine: Engine, username: str, **values: object) -> None:
    with engine.begin() as conn:
        if conn.execute(update(users).where(users.c.username == username).values(**values)).rowcount == 0:
            raise UserError(f"用户 {username} 不存在")


def set_password(engine: Engine, username: str, password: str) -> None:
    _check(username, password, None)
    _update(engine, username, password_hash=_hasher.hash(password))


def set_role(engine: Engine, username: str, role: str) -> None:
    _check(username, None, role)
    _update(engine, username, role=role)


def set_disabled(engine: Engine, username: str, disabled: bool) -> None:
    _update(engine, username, disabled=disabled)


def _read_password(args: argparse.Namespace, stdin: TextIO, prompt: Callable[[str], str]) -> str:
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    first = prompt("密码: ")
    if prompt("再次输入密码: ") != first:
        raise UserError("两次输入的密码不一致")
    return first


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhifa-sync users", description="管理运维控制台账号")
    parser.add_argument("--db", help="账本数据库 URL (未由调用方给出时必填)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="新建账号")
    add.add_argument("username")
    add.add_argument(
        "--role", choices=ROLES, default="viewer", help="viewer 只读 / operator 操作员 / admin 管理员"
    )
    add.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码 (一行)")
    passwd = sub.add_parser("passwd", help="重设密码")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码 (一行)")
    role = sub.add_parser("role", help="修改角色")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    for name, text in (("disable", "停用账号"), ("enable", "启用账号")):
        sub.add_parser(name, help=text).add_argument("username")
    sub.add_parser("list", help="列出账号")
    return parser


def main(
    engine: Engine | None,
    argv: Sequence[str],
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> int:
    """``zhifa-sync users add|passwd|role|disable|enable|list``; returns the exit code.

    ``stdin``/``stdout``/``prompt`` are for tests; the password is never taken from the command line."""
    args = _parser().parse_args(list(argv))
    out = stdout or sys.stdout
    stdin = stdin or sys.stdin
    if engine is None:
        if not args.db:
            print("错误: 需要 --db 指定账本数据库", file=sys.stderr)
            return 2
        engine = Ledger.connect(args.db).engine
    try:
        if args.command == "add":
            user = add_user(engine, args.username, _read_password(args, stdin, prompt), args.role)
            print(f"已创建用户 {user.username} (角色: {ROLE_LABELS[user.role]})", file=out)
        elif args.command == "passwd":
            set_password(engine, args.username, _read_password(args, stdin, prompt))
            print(f"已重设用户 {args.username} 的密码", file=out)
        elif args.command == "role":
            set_role(engine, args.username, args.role)
            print(f"用户 {args.username} 的角色已改为 {ROLE_LABELS[args.role]}", file=out)
        elif args.command in ("disable", "enable"):
            set_disabled(engine, args.username, args.command == "disable")
            print(f"用户 {args.username} 已{'停用' if args.command == 'disable' else '启用'}", file=out)
        else:
            for u in list_users(engine):
                state = " (已停用)" if u.disabled else ""
                print(f"{u.username}\t{u.role}{state}", file=out)
    except UserError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 1
    return 0
