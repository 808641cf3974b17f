"""Create or migrate a database to the current schema, taking a verified backup of SQLite files first."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from b12desk.clock import system_clock
from b12desk.data.db import Database, sqlite_path
from b12desk.data.private_files import private_dir, private_umask

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration's revision. Knowing it lets start-up skip importing Alembic (~0.25 s) when the
# database is already current; tests/data/test_migrations.py fails if it drifts from the scripts.
SCHEMA_HEAD = "0006"


class BackupFailed(RuntimeError):
    """The backup could not be written or failed its check; no file of it is left behind. `damaged`: the
    source itself is the problem (not a database, or one that fails its check), not where it goes."""

    def __init__(self, message: str, *, damaged: bool = False) -> None:
        super().__init__(message)
        self.damaged = damaged


class SchemaTooNew(RuntimeError):
    """The database holds a schema revision this b12desk does not have: a newer version wrote it."""

    def __init__(self, revision: str, known_head: str) -> None:
        from b12desk import __version__

        self.revision = revision
        super().__init__(
            f"This database was written by a newer b12desk (schema revision {revision}); this is b12desk "
            f"{__version__}, which knows revisions up to {known_head}. Install that version or newer to "
            "open it."
        )


class UpgradeRefused(RuntimeError):
    """The schema needs upgrading but this process may not write (another one holds the database)."""

    def __init__(self, from_revision: str | None, to_revision: str) -> None:
        self.from_revision = from_revision
        self.to_revision = to_revision
        super().__init__(f"the database needs upgrading from {from_revision or 'empty'} to {to_revision}")


def migrations_location() -> str:
    """Where the migration scripts are (a function so that a test can point at a copy)."""
    return str(resources.files("b12desk.data") / "migrations")


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", migrations_location())
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def head_revision(db: Database) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    assert head is not None
    return head


def known_revisions() -> tuple[set[str], str]:
    """Every revision this b12desk has a script for, and the newest of them."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", migrations_location())
    scripts = ScriptDirectory.from_config(cfg)
    head = scripts.get_current_head()
    assert head is not None
    return {script.revision for script in scripts.walk_revisions()}, head


def check_revision_known(stored: str | None) -> None:
    """SchemaTooNew when `stored` is a revision this b12desk has no script for: a newer one wrote it."""
    if stored is None or stored == SCHEMA_HEAD:
        return
    known, head = known_revisions()
    if stored not in known:
        raise SchemaTooNew(stored, head)


def check_not_from_the_future(db: Database) -> str | None:
    """The stored revision; SchemaTooNew (before anything is backed up or written) when it is unknown."""
    stored = _stored_revision(db)
    check_revision_known(stored)
    return stored


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


def sqlite_header_ok(path: Path) -> bool:
    """Whether the file starts as every SQLite 3 database does (an empty file is a new database)."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head == b"SQLite format 3\x00"


def _disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    code = getattr(error, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(error).lower()


def _space_problem(folder: Path, needed: int) -> str | None:
    """Why a copy of `needed` bytes cannot fit: SQLite reports a refused write as a plain I/O error, so
    the disk's free space and this process's file-size limit (ulimit -f) are asked directly."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < needed:
        return f"The disk holding {folder} is full: free space or choose another folder with --to."
    try:
        import resource
    except ImportError:  # Windows
        return None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and limit < needed:
        return (
            f"This process may not write files larger than {limit:,} bytes (its file-size limit, ulimit -f) "
            f"and the backup needs {needed:,}: raise the limit, then try again."
        )
    return None


def _remove_partial(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _database_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _fsync(path: Path, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if directory else os.O_RDWR
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # Windows cannot open a folder to sync it; its rename is durable by itself
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_pages(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    source.backup(target)


def backup_sqlite(source: Path, backup_dir: Path, label: str) -> Path:
    """Copy with SQLite's online backup API (safe while the app holds the file) and check the copy.

    The copy is written under a temporary name in the same folder, checked, synced to the disk and only
    then renamed: a backup file under its final name is always complete, and a failure (a full disk, a
    file that is not a database) leaves nothing behind and raises BackupFailed saying what went wrong.
    """
    if not source.is_file():
        raise BackupFailed(f"{source} does not exist or is not a file: there is no database to back up.")
    if source.stat().st_size and not sqlite_header_ok(source):
        raise BackupFailed(f"{source} is not a SQLite database.", damaged=True)
    try:
        private_dir(backup_dir)
    except OSError as exc:
        raise BackupFailed(
            f"Cannot use the folder {backup_dir} for backups: {exc.strerror or exc}."
        ) from None
    stamp = system_clock().now().strftime("%Y%m%d-%H%M%S")
    target = backup_dir / f"{source.stem}-{stamp}-{label}.sqlite3"
    partial = backup_dir / f".{target.name}.{os.getpid()}.partial"
    try:
        _write_checked_copy(source, partial)
        os.replace(partial, target)
        _fsync(backup_dir, directory=True)
    except (sqlite3.Error, OSError) as exc:
        _remove_partial(partial)
        if _disk_full(exc):
            raise BackupFailed(
                f"The disk holding {backup_dir} is full: free space or choose another folder with --to. "
                "No backup was written."
            ) from None
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
            raise BackupFailed(f"{source} is not a SQLite database.", damaged=True) from None
        space = _space_problem(backup_dir, _database_size(source))
        if space:
            raise BackupFailed(f"{space} No backup was written.") from None
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BackupFailed(
            f"Could not back up {source} to {backup_dir}: {detail}. No backup was written.",
            damaged=type(exc) is sqlite3.DatabaseError,  # malformed, as opposed to an I/O problem
        ) from None
    except BackupFailed:
        _remove_partial(partial)
        raise
    return target


def _write_checked_copy(source: Path, partial: Path) -> None:
    src = sqlite3.connect(source)
    try:
        with private_umask():  # a copy of every patient: the owner's only, from its first byte
            dst = sqlite3.connect(partial)
            try:
                dst.execute("PRAGMA user_version").fetchone()  # the file exists from here, created 0600
                _copy_pages(src, dst)
                # The copy keeps the source's WAL mode; a backup is one self-contained file instead.
                dst.execute("PRAGMA journal_mode=DELETE").fetchone()
                result = dst.execute("PRAGMA integrity_check").fetchone()
            finally:
                dst.close()
    finally:
        src.close()
    if not result or result[0] != "ok":
        raise BackupFailed(
            f"The copy of {source} failed its integrity check ({result[0] if result else 'no answer'}): the "
            "database itself may be damaged; run b12desk db check. No backup was written.",
            damaged=True,
        )
    _fsync(partial)


def upgrade(db: Database, *, backup_dir: Path | None, may_write: bool = True) -> UpgradeResult:
    """Bring the schema to head; an existing SQLite database is backed up (and the copy checked) first.

    A revision this b12desk does not know raises SchemaTooNew before anything is copied or written;
    with `may_write` False, a database that needs upgrading raises UpgradeRefused instead.
    """
    quick = check_not_from_the_future(db)
    if quick == SCHEMA_HEAD:
        return UpgradeResult(quick, SCHEMA_HEAD, None)

    before = current_revision(db)
    head = head_revision(db)
    backup = None
    if before == head:
        return UpgradeResult(before, head, None)
    if not may_write:
        raise UpgradeRefused(before, head)
    path = sqlite_path(db.url)
    if before is not None and path is not None and path.exists() and backup_dir is not None:
        backup = backup_sqlite(path, backup_dir, f"before-{head}")
    migrate_to(db, head)
    return UpgradeResult(before, head, backup)


class MigrationFailed(RuntimeError):
    """A migration failed and was rolled back: the database is as it was before."""


def migrate_to(db: Database, revision: str, *, downgrade: bool = False) -> None:
    """Run the migrations to `revision` in one transaction: all of them, or (on any error) none.

    On SQLite, batch mode rebuilds a table by copying it and dropping the old one, which foreign keys
    would refuse while other rows refer to it. They are switched off for the migration (SQLite allows
    that only outside a transaction), every reference is checked before the commit, and they are
    switched on again: a migration that broke a reference is rolled back.
    """
    from alembic import command

    run = command.downgrade if downgrade else command.upgrade
    before = _stored_revision(db)
    try:
        _run_in_one_transaction(db, run, revision)
    except MigrationFailed:
        raise
    except Exception as exc:
        # Any error from a migration script (SQL or Python) rolled the whole transaction back.
        detail = getattr(exc, "orig", None) or exc
        raise MigrationFailed(
            f"Migrating the database from revision {before or 'empty'} to {revision} failed "
            f"({type(detail).__name__}: {detail}). Nothing was changed: the database is still at revision "
            f"{before or 'empty'}. Report this error; the database can be used with the version of b12desk "
            "that opened it before."
        ) from exc


def _run_in_one_transaction(db: Database, run: Any, revision: str) -> None:
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
