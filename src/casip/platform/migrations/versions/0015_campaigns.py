"""closed-loop campaigns: campaigns, planned tests, observations

Revision ID: 0015
Revises: 0014

Three new tables (issue 18, :mod:`casip.platform.campaigns`): ``campaigns`` (an
organisation's ``casip.campaign/1`` document, status and seed), ``campaign_planned_tests``
(``PT-<id>``: a proposed point, its status, the test dataset that answers it, the early
prediction and the measured life) and ``campaign_observations`` (simulation, early and
measured evidence with its noise). Nothing existing is changed: the upgrade is instant and
needs no backfill.

Create Date: 2026-12-10 12:00:00
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
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("propose_job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org_id"], ["organisations.id"],
            name=op.f("fk_campaigns_owner_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_campaigns_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["propose_job_id"], ["jobs.id"], name=op.f("fk_campaigns_propose_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaigns_owner_org_id"), ["owner_org_id"], unique=False
        )
    op.create_table(
        "campaign_planned_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("point", sa.JSON(), nullable=False),
        sa.Column("predicted", sa.JSON(), nullable=False),
        sa.Column("acquisition", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("test_id", sa.Integer(), nullable=True),
        sa.Column("early", sa.JSON(), nullable=True),
        sa.Column("measured_life", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"],
            name=op.f("fk_campaign_planned_tests_campaign_id_campaigns"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"], ["organisations.id"],
            name=op.f("fk_campaign_planned_tests_owner_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["test_id"], ["test_datasets.id"],
            name=op.f("fk_campaign_planned_tests_test_id_test_datasets"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_planned_tests")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("campaign_planned_tests", schema=None) as batch_op:
        for col in ("campaign_id", "owner_org_id", "test_id"):
            batch_op.create_index(
                batch_op.f(f"ix_campaign_planned_tests_{col}"), [col], unique=False
            )
    op.create_table(
        "campaign_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("planned_test_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("sigma", sa.JSON(), nullable=False),
        sa.Column("cycles", sa.Integer(), nullable=True),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"],
            name=op.f("fk_campaign_observations_campaign_id_campaigns"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["planned_test_id"], ["campaign_planned_tests.id"],
            name=op.f("fk_campaign_observations_planned_test_id_campaign_planned_tests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"],
            name=op.f("fk_campaign_observations_created_by_id_users"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_observations")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("campaign_observations", schema=None) as batch_op:
        for col in ("campaign_id", "planned_test_id"):
            batch_op.create_index(
                batch_op.f(f"ix_campaign_observations_{col}"), [col], unique=False
            )


def downgrade() -> None:
    op.drop_table("campaign_observations")
    op.drop_table("campaign_planned_tests")
    op.drop_table("campaigns")
