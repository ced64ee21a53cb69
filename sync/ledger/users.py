"""Console accounts as the ledger keeps them: name, role, argon2 hash (never the password), disabled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from connectors.contract.states import AuditAction
from sync.ledger.base import Part, now
from sync.ledger.schema import audit_log, users

ADMIN = "admin"


class LastActiveAdmin(Exception):
    """The change would leave the console without an enabled administrator."""


def _active_admins(conn: Connection) -> int:
    """How many enabled administrators there are (as this transaction sees it)."""
    return (
        conn.scalar(
            select(func.count()).select_from(users).where(users.c.role == ADMIN, users.c.disabled.is_(False))
        )
        or 0
    )


def _lock_admins(conn: Connection) -> None:
    """Lock the enabled administrators' rows till the end of the transaction, so that two changes
    to them are made one after the other (PostgreSQL: two admins demoting each other at once would
    each still see the other one). SQLite needs none: its write lock, taken by the UPDATE that comes
    first, already makes writers wait for each other."""
    if conn.dialect.name != "sqlite":
        conn.execute(
            select(users.c.id).where(users.c.role == ADMIN, users.c.disabled.is_(False)).with_for_update()
        )


class UsersPart(Part):
    """Rows of the ``users`` table; hashing and the rules for names and passwords are the console's."""

    def insert_user(
        self, username: str, password_hash: str, role: str, *, actor: str | None = None, detail: str = ""
    ) -> int | None:
        """The new account's id, or None when the name is taken; audited in the same transaction when
        ``actor`` is given."""
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    users.insert().values(
                        username=username,
                        password_hash=password_hash,
                        role=role,
                        created_at=now(),
                        disabled=False,
                        session_version=0,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                if actor is not None:
                    conn.execute(
                        audit_log.insert().values(
                            at=now(), actor=actor, action=AuditAction.USER_CREATE.value, detail=detail
                        )
                    )
                return int(key[0])
        except IntegrityError:
            return None

    def user_row(self, username: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        return None if row is None else dict(row._mapping)

    def user_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(users).order_by(users.c.username))]

    def end_user_sessions(self, username: str) -> bool:
        """Bump the user's session version: every session cookie made before is refused from now on."""
        with self.engine.begin() as conn:
            stmt = (
                update(users)
                .where(users.c.username == username)
                .values(session_version=users.c.session_version + 1)
            )
            return conn.execute(stmt).rowcount > 0

    def update_user(self, username: str, **values: Any) -> bool:
        """Change an account; False when there is none by that name."""
        with self.engine.begin() as conn:
            return (
                conn.execute(update(users).where(users.c.username == username).values(**values)).rowcount > 0
            )

    def change_user(
        self,
        username: str,
        values: dict[str, Any],
        *,
        actor: str,
        action: AuditAction,
        detail: str,
        end_sessions: bool = False,
        keep_an_admin: bool = False,
    ) -> bool:
        """Change an account and write its audit entry in one transaction; False when there is none.

        ``end_sessions`` bumps the session version (every cookie of that user dies); with
        ``keep_an_admin`` a change that would leave no enabled administrator is rolled back and raises
        ``LastActiveAdmin``."""
        with self.engine.begin() as conn:
            if keep_an_admin:
                _lock_admins(conn)
            stmt = update(users).where(users.c.username == username).values(**values)
            if end_sessions:
                stmt = stmt.values(session_version=users.c.session_version + 1)
            if conn.execute(stmt).rowcount == 0:
                return False
            if keep_an_admin and _active_admins(conn) == 0:
                raise LastActiveAdmin(username)  # leaving the block rolls the change back
            conn.execute(audit_log.insert().values(at=now(), actor=actor, action=action.value, detail=detail))
        return True

    def last_logins(self) -> dict[str, datetime]:
        """Each user's last console login, from the audit log (accounts that never logged in are absent)."""
        query = (
            select(audit_log.c.actor, func.max(audit_log.c.at))
            .where(audit_log.c.action == AuditAction.LOGIN.value)
            .group_by(audit_log.c.actor)
        )
        with self.engine.connect() as conn:
            return {actor: at for actor, at in conn.execute(query)}
