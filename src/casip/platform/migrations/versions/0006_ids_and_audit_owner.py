"""ids never reused and audit item owner

Revision ID: 0006
Revises: 0005

AUTOINCREMENT ids on SQLite and the owner organisation recorded with each audit event.

* SQLite: every table with a surrogate id is rebuilt with ``AUTOINCREMENT`` (Alembic batch
  mode, ``recreate="always"``; indexes and foreign keys are carried over), so an id is never
  handed out twice, even after the row holding the largest id is deleted. Each table's counter
  (``sqlite_sequence``) also starts above every id the audit log mentions for it, so ids freed
  before this migration are not reused either. The rebuild needs foreign keys off
  (``casip.platform.db.upgrade`` does that; dropping the old table would otherwise run its
  ``ON DELETE`` actions). PostgreSQL's ``SERIAL`` sequences never hand a value out twice
  already.
* ``audit_events`` gains ``item_owner_org_id`` (indexed), ``journal_source``/``journal_seq``
  (unique together) and ``hash_version`` (1 for the existing entries). The owner is backfilled
  from what was recorded when each event happened: a read's or export's ``detail`` names the
  owner, a visibility change is made by the owner's organisation; other item events take the
  item's current owner if it still exists; events about users, tokens and organisations take
  the user's, token holder's or the organisation's own. The append-only triggers are dropped
  for the backfill and created again.

Create Date: 2026-12-06 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: tables whose ids are surrogate keys (audit_events is rebuilt separately)
TABLES = (
    "organisations",
    "users",
    "api_tokens",
    "web_sessions",
    "designs",
    "jobs",
    "simulations",
    "lifetime_results",
    "test_datasets",
)
#: audit item kind -> table (for the backfill and the id counters)
ITEM_TABLES = {
    "design": "designs",
    "simulation": "simulations",
    "lifetime": "lifetime_results",
    "test": "test_datasets",
}
OTHER_KINDS = {"user": "users", "token": "api_tokens", "organisation": "organisations"}

# The audit log is append-only (as in 0001): the database refuses to change or remove an entry.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
]
_PG_TRIGGERS = [
    """CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
       FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
]


def _drop_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def _create_triggers(dialect: str) -> None:
    for statement in _PG_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def _check_foreign_keys_off() -> None:
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "migration 0006 rebuilds SQLite tables and needs PRAGMA foreign_keys=OFF (dropping "
            "the old tables would otherwise run their ON DELETE actions): run it through "
            "'casip platform upgrade' (casip.platform.db.upgrade), which turns them off"
        )


def _backfill_owners(dialect: str) -> None:
    detail_owner = (
        "CAST(detail::json ->> 'owner_org_id' AS INTEGER)"
        if dialect == "postgresql"
        else "CAST(json_extract(detail, '$.owner_org_id') AS INTEGER)"
    )
    kinds = ", ".join(f"'{k}'" for k in ITEM_TABLES)
    # recorded at the time: a read or export names the owner; only the owner shares
    op.execute(
        f"UPDATE audit_events SET item_owner_org_id = {detail_owner} "
        f"WHERE action IN ('read', 'export') AND item_kind IN ({kinds})"
    )
    op.execute(
        "UPDATE audit_events SET item_owner_org_id = actor_org_id "
        f"WHERE action = 'visibility' AND item_kind IN ({kinds})"
    )
    for kind, table in ITEM_TABLES.items():  # anything else: the current owner, if any
        op.execute(
            f"UPDATE audit_events SET item_owner_org_id = (SELECT t.owner_org_id FROM {table} t "
            f"WHERE t.id = audit_events.item_id) "
            f"WHERE item_kind = '{kind}' AND item_owner_org_id IS NULL"
        )
    op.execute(
        "UPDATE audit_events SET item_owner_org_id = (SELECT u.org_id FROM users u "
        "WHERE u.id = audit_events.item_id) WHERE item_kind = 'user'"
    )
    op.execute(
        "UPDATE audit_events SET item_owner_org_id = (SELECT u.org_id FROM api_tokens t "
        "JOIN users u ON u.id = t.user_id WHERE t.id = audit_events.item_id) "
        "WHERE item_kind = 'token'"
    )
    op.execute(
        "UPDATE audit_events SET item_owner_org_id = item_id WHERE item_kind = 'organisation'"
    )


def _raise_sqlite_counters() -> None:
    """Start each AUTOINCREMENT counter above the largest id the table or the audit log has
    seen, so ids freed before this migration are not handed out again."""
    bind = op.get_bind()
    for kind, table in {**ITEM_TABLES, **OTHER_KINDS}.items():
        high = bind.execute(
            sa.text(
                f"SELECT max(m) FROM (SELECT max(id) AS m FROM {table} UNION ALL "
                "SELECT max(item_id) FROM audit_events WHERE item_kind = :k) AS x"
            ),
            {"k": kind},
        ).scalar()
        if not high:
            continue
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :s)"),
            {"t": table, "s": int(high)},
        )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    _drop_triggers(dialect)
    if sqlite:
        _check_foreign_keys_off()
        for table in TABLES:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass
    with op.batch_alter_table(
        "audit_events",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True} if sqlite else {},
    ) as batch_op:
        batch_op.add_column(sa.Column("item_owner_org_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("journal_source", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("journal_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("hash_version", sa.SmallInteger(), server_default="1", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_audit_events_item_owner_org_id"), ["item_owner_org_id"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_journal", ["journal_source", "journal_seq"], unique=True
        )
    _backfill_owners(dialect)
    if sqlite:
        _raise_sqlite_counters()
    _create_triggers(dialect)


def downgrade() -> None:
    """Drop the audit columns (entries written since 0006 then no longer verify: their hash
    covers them). The SQLite tables keep AUTOINCREMENT (harmless to revision 0005)."""
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_journal")
        batch_op.drop_index(batch_op.f("ix_audit_events_item_owner_org_id"))
        batch_op.drop_column("hash_version")
        batch_op.drop_column("journal_seq")
        batch_op.drop_column("journal_source")
        batch_op.drop_column("item_owner_org_id")
    _create_triggers(dialect)
