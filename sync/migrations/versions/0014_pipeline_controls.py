"""pipeline_controls: pause/resume, run now and re-read from a date, asked for by operators

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-07 10:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_controls",
        sa.Column("pipeline", sa.String(length=100), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=True),
        sa.Column("run_requested_at", sa.DateTime(), nullable=True),
        sa.Column("reread_from", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pipeline", name="pk_pipeline_controls"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_controls")
