"""tests attached to designs

Revision ID: 0007
Revises: 0006

A new table ``design_tests``: a hub test (``test_datasets``) attached to the design it
measures, with who attached it, when, and an optional note (e.g. which cell or C-rate). One row
per design and test (unique); deleting the design or the test deletes the row (``ON DELETE
CASCADE``). Nothing existing is changed, so the upgrade is instant and needs no backfill.

Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "design_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("design_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("attached_by_id", sa.Integer(), nullable=True),
        sa.Column("attached_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["design_id"],
            ["designs.id"],
            name=op.f("fk_design_tests_design_id_designs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["test_datasets.id"],
            name=op.f("fk_design_tests_test_id_test_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["attached_by_id"],
            ["users.id"],
            name=op.f("fk_design_tests_attached_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_design_tests")),
        sa.UniqueConstraint("design_id", "test_id", name="uq_design_tests_design_id_test_id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("design_tests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_design_tests_design_id"), ["design_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_design_tests_test_id"), ["test_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("design_tests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_design_tests_test_id"))
        batch_op.drop_index(batch_op.f("ix_design_tests_design_id"))
    op.drop_table("design_tests")
