"""design rows carry the design's pack KPIs in the benchmark's cell-to-pack template

Revision ID: 0011
Revises: 0010

Three new nullable columns on ``designs``: ``pack_specific_energy_Wh_kg``,
``pack_energy_density_Wh_L`` and ``pack_cost_usd_kWh``, the figures of the design built into
the benchmark's cell-to-pack template (:mod:`casip.pack.templates`). The design engine's
version moves with them (``2026.12-pack``), so existing rows are not current until the next
start (or ``casip platform recompute``) recomputes them from their stored documents, and they
are out of the benchmark meanwhile. The summary covering index is rebuilt with the new columns
appended (the benchmark reads them from it).

Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
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
    "cell_cost_usd_kWh",
    "engine_version",
    "price_set",
]
_NEW = ["pack_specific_energy_Wh_kg", "pack_energy_density_Wh_L", "pack_cost_usd_kWh"]


def upgrade() -> None:
    with op.batch_alter_table("designs", schema=None) as batch_op:
        for name in _NEW:
            batch_op.add_column(sa.Column(name, sa.Double(), nullable=True))
        batch_op.drop_index("ix_designs_summary")
        batch_op.create_index("ix_designs_summary", _SUMMARY + _NEW, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("designs", schema=None) as batch_op:
        batch_op.drop_index("ix_designs_summary")
        batch_op.create_index("ix_designs_summary", _SUMMARY, unique=False)
        for name in reversed(_NEW):
            batch_op.drop_column(name)
