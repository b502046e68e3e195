"""data versions for designs, privacy releases and jobs

Revision ID: 0014
Revises: 0013

Three more topics in ``data_versions`` (casip.platform.data_version): ``designs`` moves with
writes to designs and organisations only (a finished simulation no longer invalidates the
dashboard's scatter and the design comparison), ``releases`` with every scheduled privacy
release and ``jobs`` with every write to a job (claims, progress, leases, results), so that
those answers can be kept per process between such writes instead of being read again.

Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TOPICS = ("designs", "releases", "jobs")


def upgrade() -> None:
    table = sa.table("data_versions", sa.column("topic", sa.String), sa.column("version"))
    op.bulk_insert(table, [{"topic": t, "version": 0} for t in TOPICS])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM data_versions WHERE topic IN ('designs', 'releases', 'jobs')"))
