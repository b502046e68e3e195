"""replays of attached tests against designs

Revision ID: 0008
Revises: 0007

A new table ``replays``: the simulated curve and error metrics of a measured test replayed
against a design (:mod:`casip.platform.replays`), owned by the organisation that ran the job,
private by default. Deleting the design or the test deletes its replays (``ON DELETE
CASCADE``). Nothing existing is changed, so the upgrade is instant and needs no backfill.

Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("design_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("benchmark_opt_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_replays_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["design_id"],
            ["designs.id"],
            name=op.f("fk_replays_design_id_designs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["test_datasets.id"],
            name=op.f("fk_replays_test_id_test_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_replays_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_replays_owner_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replays")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_replays_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_replays_design_id"), ["design_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_replays_test_id"), ["test_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_replays_owner_org_id"), ["owner_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_replays_visibility"), ["visibility"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("replays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replays_visibility"))
        batch_op.drop_index(batch_op.f("ix_replays_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_replays_test_id"))
        batch_op.drop_index(batch_op.f("ix_replays_design_id"))
        batch_op.drop_index(batch_op.f("ix_replays_created_at"))
    op.drop_table("replays")
