"""cursors.watermark: the source time a pipeline has read up to, kept beside the connector's own cursor;
failures.map_table/map_key/map_column: what a parked record waits for

The engine, status and the console read it instead of opening a connector's cursor JSON. Existing rows
get it from the cursor's ``ts`` (district/municipal keyset positions) where there is one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cursors") as batch:
        batch.add_column(sa.Column("watermark", sa.DateTime(), nullable=True))
    with op.batch_alter_table("failures") as batch:
        batch.add_column(sa.Column("map_table", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("map_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("map_column", sa.String(length=100), nullable=True))
    conn = op.get_bind()
    cursors = sa.table("cursors", sa.column("pipeline"), sa.column("position"), sa.column("watermark", sa.DateTime))
    for pipeline, position in conn.execute(sa.select(cursors.c.pipeline, cursors.c.position)).all():
        try:
            mark = datetime.strptime(str(json.loads(position)["ts"]), "%Y-%m-%d %H:%M:%S")
        except (ValueError, KeyError, TypeError):
            continue
        conn.execute(sa.update(cursors).where(cursors.c.pipeline == pipeline).values(watermark=mark))


def downgrade() -> None:
    with op.batch_alter_table("failures") as batch:
        for column in ("map_column", "map_key", "map_table"):
            batch.drop_column(column)
    with op.batch_alter_table("cursors") as batch:
        batch.drop_column("watermark")
