"""Console hardening: per-user session version, user names folded to lower case, no signing key in meta

- ``users.session_version``: bumped at logout, password change and disabling; a session cookie carries
  it, so all of a user's sessions end at once.
- User names are folded to lower case. Where two accounts differ only by case (``ADMIN`` and
  ``admin``), the lower-case one (or else the oldest) keeps the name; the others keep theirs but are
  disabled, and the migration says so on stderr: they can no longer be logged into.
- ``meta.console_secret`` is deleted: whoever could read the ledger could forge any cookie with it.
  The key now lives in a 0600 file or the configuration's secret reference; existing sessions end once.

Revision ID: 0007
Revises: 0015
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sys
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0015"
branch_labels = None
depends_on = None

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("disabled", sa.Boolean),
)
meta = sa.table("meta", sa.column("key", sa.String))


def _fold_names(conn: sa.Connection) -> None:
    groups: defaultdict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in conn.execute(sa.select(users.c.id, users.c.username).order_by(users.c.id)):
        groups[row.username.lower()].append((row.id, row.username))
    for folded, accounts in groups.items():
        keeper = next((a for a in accounts if a[1] == folded), accounts[0])
        if keeper[1] != folded:
            conn.execute(sa.update(users).where(users.c.id == keeper[0]).values(username=folded))
        others = [a for a in accounts if a != keeper]
        for user_id, _name in others:
            conn.execute(sa.update(users).where(users.c.id == user_id).values(disabled=True))
        if others:
            names = "、".join(name for _id, name in others)
            print(
                f"控制台账号 {names} 与 {folded} 仅大小写不同: 用户名现不区分大小写, 已停用 {names}"
                f" (保留 {folded})",
                file=sys.stderr,
            )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    conn = op.get_bind()
    _fold_names(conn)
    conn.execute(sa.delete(meta).where(meta.c.key == "console_secret"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
