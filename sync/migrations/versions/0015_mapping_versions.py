"""mapping_versions: mapping tables applied from the console, and the files they replaced

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mapping_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha", sa.String(length=16), nullable=False),
        sa.Column("replaced_name", sa.String(length=100), nullable=True),
        sa.Column("replaced_content", sa.LargeBinary(), nullable=True),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.Column("applied_by", sa.String(length=64), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mapping_versions"),
    )


def downgrade() -> None:
    op.drop_table("mapping_versions")
