"""The Alembic migrations build exactly the schema of the models, with the SQLite pragmas on."""

from __future__ import annotations

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from app import create_app
from billing.models import db


@pytest.fixture
def migrated_app(tmp_path):
    """A fresh SQLite file brought up to date by `flask db upgrade`, not by create_all()."""
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "BILLING_WORKER": False})
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_migrations_create_the_schema_of_the_models(migrated_app):
    with migrated_app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        differences = compare_metadata(context, db.metadata)
        revision = context.get_current_revision()
    assert differences == []
    assert revision is not None


def test_every_connection_has_wal_foreign_keys_and_a_busy_timeout(migrated_app):
    with migrated_app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() > 0
