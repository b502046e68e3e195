"""calibrations of designs to their attached tests

Revision ID: 0009
Revises: 0008

Two new tables: ``calibrations`` (a calibration job of a design to its attached tests: the fit
and held-back cases, parameters, options, progress, the result record and error tables, the BPX
document or why there is none, the error of a failed fit; see
:mod:`casip.platform.calibrations`) and ``calibration_tests`` (the tests each calibration uses,
so that it is readable only while all of them are). Deleting the design deletes its
calibrations; deleting a test deletes its links (the calibration is then readable by no one).
Nothing existing is changed, so the upgrade is instant and needs no backfill.

Create Date: 2026-12-10 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("design_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fit_cases", sa.JSON(), nullable=False),
        sa.Column("held_back_cases", sa.JSON(), nullable=False),
        sa.Column("fit_parameters", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("test_count", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("evaluations", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("bpx", sa.JSON(), nullable=True),
        sa.Column("bpx_reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_field", sa.String(length=100), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("benchmark_opt_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_calibrations_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["design_id"],
            ["designs.id"],
            name=op.f("fk_calibrations_design_id_designs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_calibrations_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_calibrations_owner_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibrations")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("calibrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calibrations_created_at"), ["created_at"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_calibrations_design_id"), ["design_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_calibrations_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_calibrations_owner_org_id"), ["owner_org_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_calibrations_visibility"), ["visibility"],
                              unique=False)
    op.create_table(
        "calibration_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calibration_id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["calibration_id"],
            ["calibrations.id"],
            name=op.f("fk_calibration_tests_calibration_id_calibrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["test_datasets.id"],
            name=op.f("fk_calibration_tests_test_id_test_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibration_tests")),
        sa.UniqueConstraint("calibration_id", "test_id",
                            name="uq_calibration_tests_calibration_id_test_id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("calibration_tests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calibration_tests_calibration_id"),
                              ["calibration_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calibration_tests_test_id"), ["test_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calibration_tests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calibration_tests_test_id"))
        batch_op.drop_index(batch_op.f("ix_calibration_tests_calibration_id"))
    op.drop_table("calibration_tests")
    with op.batch_alter_table("calibrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calibrations_visibility"))
        batch_op.drop_index(batch_op.f("ix_calibrations_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_calibrations_status"))
        batch_op.drop_index(batch_op.f("ix_calibrations_design_id"))
        batch_op.drop_index(batch_op.f("ix_calibrations_created_at"))
    op.drop_table("calibrations")
