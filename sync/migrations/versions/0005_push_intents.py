"""push_intents: pushes started and not yet recorded, so a redone page knows a target may hold a record

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_intents",
        sa.Column("system", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("system", "kind", "source_id", "target", name="pk_push_intents"),
    )


def downgrade() -> None:
    op.drop_table("push_intents")
