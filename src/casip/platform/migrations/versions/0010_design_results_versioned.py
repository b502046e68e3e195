"""design results record their engine version and price set; cell cost column

Revision ID: 0010
Revises: 0009

Four new nullable columns on ``designs``: ``engine_version`` and ``price_set`` (what the stored
results were computed with: :data:`casip.design.ENGINE_VERSION` and the price set of the
costs), ``cell_cost_usd_kWh`` (materials + scrap + manufacturing, :func:`casip.cost.cell_cost`)
and ``stale_reason`` (why a row could not be recomputed). Existing rows get NULL versions:
they were computed before versioning, so they are stale, and the next start (or ``casip
platform recompute``) recomputes them from their stored documents. The summary covering index
is rebuilt with the new columns appended (the benchmark filters on the version columns).

Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SUMMARY = [
    "owner_org_id",
    "id",
    "visibility",
    "benchmark_opt_in",
    "reference_id",
    "specific_energy_Wh_kg",
    "energy_density_Wh_L",
    "cost_usd_kWh",
    "capacity_Ah",
    "kind",
    "created_at",
    "updated_at",
    "created_by_id",
    "version",
    "name",
]
_NEW = ["cell_cost_usd_kWh", "engine_version", "price_set"]


def upgrade() -> None:
    with op.batch_alter_table("designs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cell_cost_usd_kWh", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("engine_version", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("price_set", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("stale_reason", sa.Text(), nullable=True))
        batch_op.drop_index("ix_designs_summary")
        batch_op.create_index("ix_designs_summary", _SUMMARY + _NEW, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("designs", schema=None) as batch_op:
        batch_op.drop_index("ix_designs_summary")
        batch_op.create_index("ix_designs_summary", _SUMMARY, unique=False)
        batch_op.drop_column("stale_reason")
        batch_op.drop_column("price_set")
        batch_op.drop_column("engine_version")
        batch_op.drop_column("cell_cost_usd_kWh")
