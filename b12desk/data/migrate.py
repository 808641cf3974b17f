"""Create or migrate a database to the current schema, taking a verified backup of SQLite files first."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from b12desk.clock import system_clock
from b12desk.data.db import Database, sqlite_path
from b12desk.data.private_files import private_dir, private_umask

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration's revision. Knowing it lets start-up skip importing Alembic (~0.25 s) when the
# database is already current; tests/data/test_migrations.py fails if it drifts from the scripts.
SCHEMA_HEAD = "0005"


class BackupFailed(RuntimeError):
    pass


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("b12desk.data") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def head_revision(db: Database) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
    return rev


def _stored_revision(db: Database) -> str | None:
    """The revision recorded in the database, read with plain SQL; None when there is none yet."""
    try:
        with db.engine.connect() as conn:
            rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            conn.rollback()
    except DBAPIError:
        return None  # no alembic_version table: an empty database
    return str(rev) if rev is not None else None


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    from_revision: str | None
    to_revision: str
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.from_revision != self.to_revision


def backup_sqlite(source: Path, backup_dir: Path, label: str) -> Path:
    """Copy with SQLite's online backup API (safe while the app holds the file) and check the copy."""
    private_dir(backup_dir)
    stamp = system_clock().now().strftime("%Y%m%d-%H%M%S")
    target = backup_dir / f"{source.stem}-{stamp}-{label}.sqlite3"
    src = sqlite3.connect(source)
    with private_umask():  # a copy of every patient: the owner's only, from its first byte
        dst = sqlite3.connect(target)
        dst.execute("PRAGMA user_version").fetchone()  # the file exists from here, created 0600
    try:
        src.backup(dst)
        result = dst.execute("PRAGMA integrity_check").fetchone()
    finally:
        dst.close()
        src.close()
    if not result or result[0] != "ok":
        raise BackupFailed(f"the backup {target} failed its integrity check: {result}")
    return target


def upgrade(db: Database, *, backup_dir: Path | None) -> UpgradeResult:
    """Bring the schema to head; an existing SQLite database is backed up (and the copy checked) first."""
    quick = _stored_revision(db)
    if quick == SCHEMA_HEAD:
        return UpgradeResult(quick, SCHEMA_HEAD, None)

    before = current_revision(db)
    head = head_revision(db)
    backup = None
    if before == head:
        return UpgradeResult(before, head, None)
    path = sqlite_path(db.url)
    if before is not None and path is not None and path.exists() and backup_dir is not None:
        backup = backup_sqlite(path, backup_dir, f"before-{head}")
    migrate_to(db, "head")
    return UpgradeResult(before, head, backup)


class MigrationFailed(RuntimeError):
    pass


def migrate_to(db: Database, revision: str, *, downgrade: bool = False) -> None:
    """Run the migrations to `revision` in one transaction: all of them, or (on any error) none.

    On SQLite, batch mode rebuilds a table by copying it and dropping the old one, which foreign keys
    would refuse while other rows refer to it. They are switched off for the migration (SQLite allows
    that only outside a transaction), every reference is checked before the commit, and they are
    switched on again: a migration that broke a reference is rolled back.
    """
    from alembic import command

    run = command.downgrade if downgrade else command.upgrade
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection if db.is_sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # before SQLAlchemy begins the transaction
        try:
            with conn.begin():
                cfg = alembic_config(db)
                cfg.attributes["connection"] = conn
                run(cfg, revision)
                if raw is not None:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationFailed(
                            f"the migration would leave {len(broken)} broken reference(s), first in "
                            f"{broken[0][0]}; nothing was changed"
                        )
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
