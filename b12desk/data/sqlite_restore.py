"""Put a SQLite backup back in place of the database: the backup checked first, the swap done by SQLite."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from b12desk.data import migrate
from b12desk.data.private_files import private_sqlite, private_umask


class RestoreRefused(RuntimeError):
    """The file cannot be restored; the message says why. Nothing was written."""


@dataclass(frozen=True, slots=True)
class RestoreCandidate:
    path: Path
    revision: str
    patients: int
    taken: str  # when the file was last written, in the computer's time: for the confirmation only


def _read_only_uri(path: Path) -> str:
    """A read-only address that leaves no -wal or -shm file beside a backup; a backup that still has
    its -wal file beside it is read with it."""
    immutable = "" if path.with_name(path.name + "-wal").exists() else "&immutable=1"
    return f"file:{quote(str(path.absolute()))}?mode=ro{immutable}"


def inspect_backup(path: Path) -> RestoreCandidate:
    """Check that `path` is a sound b12desk SQLite database this version can open, and describe it."""
    if not path.exists():
        raise RestoreRefused(f"{path} does not exist.")
    if not path.is_file():
        raise RestoreRefused(f"{path} is not a file: name a backup file (b12desk-...-manual.sqlite3).")
    if not migrate.sqlite_header_ok(path):
        raise RestoreRefused(f"{path} is not a SQLite database.")
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise RestoreRefused(f"{path} cannot be opened: {exc}.") from None
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()
        if not check or check[0] != "ok":
            raise RestoreRefused(
                f"{path} is damaged (SQLite's integrity check: {check[0] if check else 'no answer'}); "
                "choose another backup."
            )
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is None:
            raise RestoreRefused(
                f"{path} is a SQLite database but not a b12desk one (it has no schema revision)."
            )
        revision = str(row[0])
        migrate.check_revision_known(revision)
        patients = int(conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise RestoreRefused(f"{path} cannot be read as a b12desk database: {exc}.") from None
    finally:
        conn.close()
    taken = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    return RestoreCandidate(path=path, revision=revision, patients=patients, taken=taken)


def count_patients(database: Path) -> int | None:
    """How many patients the live database holds, when it can be read (for the confirmation)."""
    if not database.is_file() or not migrate.sqlite_header_ok(database):
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(database.absolute()))}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return int(conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def keep_damaged_copy(database: Path, backup_dir: Path) -> Path:
    """A byte copy of a database SQLite cannot back up (damaged, or not a database at all), so that what
    a restore replaces is never lost."""
    stamp = datetime.fromtimestamp(database.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
    target = backup_dir / f"{database.stem}-{stamp}-before-restore-damaged.sqlite3"
    with private_umask():
        backup_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal"):
            source = database.with_name(database.name + suffix)
            if source.exists():
                shutil.copyfile(source, target.with_name(target.name + suffix))
    return target


def restore_into(backup: Path, database: Path) -> None:
    """Write `backup` over `database` in one transaction through SQLite's backup API: SQLite handles the
    live file's WAL and its locks, and a failure part-way leaves the database as it was. A database file
    SQLite cannot open at all (it is damaged) is replaced by a checked copy renamed over it."""
    source = sqlite3.connect(_read_only_uri(backup), uri=True)
    try:
        if database.exists() and database.stat().st_size and not migrate.sqlite_header_ok(database):
            _replace_file(source, database)
            return
        try:
            _copy_into(source, database)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and _transient(exc):
                raise
            _replace_file(source, database)  # the old file is beyond SQLite: put a new one in its place
    finally:
        source.close()
    private_sqlite(database)


def _transient(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text or "disk is full" in text or "readonly" in text


def _copy_into(source: sqlite3.Connection, database: Path) -> None:
    with private_umask():
        target = sqlite3.connect(database, isolation_level=None)
    try:
        target.execute("PRAGMA busy_timeout=15000")
        source.backup(target)
        # SQLite keeps the live database in WAL mode, whatever journal mode the backup was in.
        result = target.execute("PRAGMA quick_check").fetchone()
        if not result or result[0] != "ok":
            raise sqlite3.DatabaseError(f"the restored database fails its check: {result}")
    finally:
        target.close()


def _replace_file(source: sqlite3.Connection, database: Path) -> None:
    partial = database.with_name(f".{database.name}.{os.getpid()}.restoring")
    try:
        with private_umask():
            target = sqlite3.connect(partial)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL").fetchone()
        finally:
            target.close()
        fd = os.open(partial, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # The old file's -wal and -shm belong to it alone: left beside the new file, SQLite would apply
        # the old journal to it.
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                database.with_name(database.name + suffix).unlink()
        os.replace(partial, database)
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                partial.with_name(partial.name + suffix).unlink()
