"""Alembic migrations: up, down and up again on SQLite and PostgreSQL; models match them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from casip.platform.db import Database, alembic_config, current_revision, upgrade
from casip.platform.models import Base


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_downgrade_upgrade_and_models_match(backend, tmp_path, database_url_factory):
    with database_url_factory(backend, tmp_path) as url:
        db = Database(url)
        try:
            upgrade(db.engine)
            head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
            assert current_revision(db.engine) == head
            with db.engine.connect() as conn:  # the models and the migrations agree
                diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == []
            with db.engine.begin() as conn:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "base")
            assert current_revision(db.engine) is None
            assert "designs" not in sa.inspect(db.engine).get_table_names()
            upgrade(db.engine)
            assert current_revision(db.engine) == head
        finally:
            db.dispose()
