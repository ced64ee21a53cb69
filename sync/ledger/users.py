"""Console accounts as the ledger keeps them: name, role, argon2 hash (never the password), disabled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from sync.ledger.base import Part, now
from sync.ledger.schema import users


class UsersPart(Part):
    """Rows of the ``users`` table; hashing and the rules for names and passwords are the console's."""

    def insert_user(self, username: str, password_hash: str, role: str) -> int | None:
        """The new account's id, or None when the name is taken."""
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
