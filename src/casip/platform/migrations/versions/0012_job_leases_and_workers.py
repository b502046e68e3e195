"""jobs are claimed by worker processes under a lease; workers report a heartbeat

Revision ID: 0012
Revises: 0011

``jobs`` gains ``attempts`` (how many times a worker claimed the job; every write of an
attempt is fenced by it), ``lease_until`` (the claim expires then unless renewed by the
worker's supervisor) and ``worker_id`` (who holds it). Jobs left ``running`` by a server of an
earlier version have no lease and are claimed again by the first worker (their attempt counts).
The new ``workers`` table holds one row per worker process and its heartbeat (health).

Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("worker_id", sa.String(length=100), nullable=True))
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=100), primary_key=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("workers")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("worker_id")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("attempts")
