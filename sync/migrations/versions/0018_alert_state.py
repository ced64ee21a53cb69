"""alert_state: what each alert last told the operators (open, told, when), for dedup and recovery

Revision ID: 0018
Revises: 0009
Create Date: 2026-12-07 11:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("mark", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_alert_state"),
    )


def downgrade() -> None:
    op.drop_table("alert_state")
