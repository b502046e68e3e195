"""differentially private releases and privacy budget

Revision ID: 0004
Revises: 0003

The table of the scheduled differentially private benchmark releases, which is also their
privacy-loss ledger (models.PrivacyRelease).
Create Date: 2026-12-06 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kpi", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("budget_period", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_releases")),
        sa.UniqueConstraint("kpi", "slot", name="uq_privacy_releases_kpi_slot"),
        sa.UniqueConstraint("budget_period", "seq", name="uq_privacy_releases_period_seq"),
    )
    with op.batch_alter_table("privacy_releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_releases_kpi"), ["kpi"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_releases_kpi"))
    op.drop_table("privacy_releases")
