"""The schema is owned by Alembic: the head constant matches the scripts and a fresh upgrade has no drift."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from b12desk.data import migrate
from b12desk.data.db import open_database
from b12desk.data.models import Base


def test_schema_head_constant_matches_the_migration_scripts(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert migrate.head_revision(db) == migrate.SCHEMA_HEAD


def test_upgrade_from_empty_matches_the_models(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    result = migrate.upgrade(db, backup_dir=tmp_path / "backups")
    assert (result.from_revision, result.to_revision) == (None, migrate.SCHEMA_HEAD)
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    again = migrate.upgrade(db, backup_dir=tmp_path / "backups")
    assert not again.changed and again.backup is None
    db.dispose()
