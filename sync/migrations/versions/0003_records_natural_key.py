"""records.natural_key: find a record's twin in another system by its natural key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("natural_key", sa.String(length=200), nullable=True))
    op.create_index("ix_records_natural_key", "records", ["system", "kind", "natural_key"])


def downgrade() -> None:
    op.drop_index("ix_records_natural_key", table_name="records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("natural_key")
