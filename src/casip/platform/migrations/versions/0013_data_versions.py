"""data versions: one counter per data topic, bumped with every write of the topic

Revision ID: 0013
Revises: 0012

Several server processes share one database; each keeps caches (authentication, the
dashboard, the benchmark) keyed by the topic's version (casip.platform.data_version). Every
committed ORM write to a topic's tables also runs ``UPDATE data_versions SET version =
version + 1`` for that topic in the same transaction, so in-place updates (a revoked token,
a changed role, an unshared design) are seen by every process, not only inserts and deletes.

Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TOPICS = ("items", "auth")


def upgrade() -> None:
    table = op.create_table(
        "data_versions",
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("topic", name=op.f("pk_data_versions")),
    )
    op.bulk_insert(table, [{"topic": t, "version": 0} for t in TOPICS])


def downgrade() -> None:
    op.drop_table("data_versions")
