"""Engine and session set-up: where the database lives, and how each engine is tuned for the clinic."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from b12desk.data import sqlite_lock
from b12desk.data.private_files import private_dir, private_sqlite

log = logging.getLogger(__name__)

APP_NAME = "b12desk"
DATABASE_URL_ENV = "B12DESK_DATABASE_URL"
DATA_DIR_ENV = "B12DESK_DATA_DIR"
SQLITE_BUSY_TIMEOUT_MS = 15_000
READ_ONLY_OPTION = "b12desk_read_only"  # execution option of the readers' sessions (deferred BEGIN)
BUSY_MESSAGE = (
    "The database is busy: another workstation or an import is writing to it. Nothing was saved; try "
    "again in a moment."
)
READ_ONLY_MESSAGE = (
    "This database is open read-only (another b12desk is writing to it, or this user may not write the "
    "file): nothing was saved."
)


def data_dir() -> Path:
    """The per-user data folder; B12DESK_DATA_DIR overrides it (tests, portable installs)."""
    override = os.environ.get(DATA_DIR_ENV)
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return private_dir(path)  # patients and password hashes: the owner's only


def default_url(*, demo: bool = False) -> str:
    name = "demo.sqlite3" if demo else "b12desk.sqlite3"
    return f"sqlite:///{data_dir() / name}"


def resolve_url(explicit: str | None, *, demo: bool = False) -> str:
    """--db wins, then B12DESK_DATABASE_URL, then the embedded SQLite file (the demo one apart)."""
    if explicit:
        return explicit
    if demo:
        return default_url(demo=True)
    return os.environ.get(DATABASE_URL_ENV) or default_url()


def display_url(url: str | URL) -> str:
    """The URL with any password hidden, for the status bar and logs."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smbfs", "smb3", "9p", "afs", "fuse.sshfs", "davfs"})


def network_filesystem(path: Path, mounts_text: str | None = None) -> str | None:
    """The network filesystem type holding path, or None. SQLite's locking is unreliable there, so a
    database on a share can be corrupted when two workstations write (use PostgreSQL instead)."""
    text = str(path)
    if text.startswith(("\\\\", "//")):  # a Windows UNC path
        return "smb"
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/mounts").read_text(encoding="utf-8")
        except OSError:
            return None
    resolved = str(path.resolve())
    best, best_type = "", None
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point, fs_type = parts[1].replace("\\040", " "), parts[2]
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, best_type = mount_point, fs_type
    return best_type if best_type in NETWORK_FILESYSTEMS else None


def wal_reset_bug_affects(version: tuple[int, int, int]) -> bool:
    """Whether this SQLite library has the WAL-reset bug: from 3.7.0, a database in WAL mode can be
    corrupted when two connections write and checkpoint at the same moment. Fixed in 3.51.3 and in the
    3.50.7 and 3.44.6 patch releases."""
    if version < (3, 7, 0) or version >= (3, 51, 3):
        return False
    return not (version == (3, 44, 6) or version >= (3, 50, 7))


WAL_RESET_WARNING = (
    "SQLite %s, the library this Python uses, has a bug that can corrupt a database in WAL mode when "
    "two connections write and checkpoint at the same moment (fixed in SQLite 3.51.3, 3.50.7 and "
    "3.44.6), and this b12desk is now writing to %s from more than one connection. Upgrade the SQLite "
    "library (a Python build that bundles SQLite 3.51.3 or newer), and until then keep to one writing "
    "b12desk per database and take backups (b12desk db backup)."
)
_wal_warning = threading.Lock()
_wal_warned = False


def _note_writer(writers: set[int], connection_id: int, where: str) -> None:
    """Warn, once per process, when a second connection of one engine writes on an affected SQLite."""
    global _wal_warned
    if _wal_warned or connection_id in writers:
        return
    with _wal_warning:
        if _wal_warned:
            return
        writers.add(connection_id)
        if len(writers) < 2:
            return
        _wal_warned = True
    log.warning(WAL_RESET_WARNING, sqlite3.sqlite_version, where)


def _tune_sqlite(engine: Engine, *, read_only: bool = False) -> None:
    wal_bug = wal_reset_bug_affects(sqlite3.sqlite_version_info)
    writers: set[int] = set()  # the DBAPI connections that have begun a write, while fewer than two
    where = display_url(engine.url)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE below is what actually runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            # Another process holds the writer's lock: any write fails ("attempt to write a readonly
            # database"), which read_only_message() turns into the reason.
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        if read_only or conn.get_execution_options().get(READ_ONLY_OPTION):
            # A reader never takes the write lock, so it never waits behind an import or a dose.
            conn.exec_driver_sql("BEGIN")
            return
        # A writer takes the write lock at BEGIN: a deferred transaction that reads the audit chain and
        # then writes could fail with SQLITE_BUSY_SNAPSHOT, which the busy timeout cannot wait out.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        if wal_bug and not _wal_warned:
            _note_writer(writers, id(conn.connection.dbapi_connection), where)


class UnsupportedDatabase(ValueError):
    """The address names no database b12desk can use; the message shows the accepted forms."""


SUPPORTED_FORMS = "sqlite:///path/to/file.sqlite3 or postgresql+psycopg://user:password@host/database"


def check_url(url: str) -> URL:
    """The parsed address, or UnsupportedDatabase saying which forms are accepted."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabase(f"'{url}' is not a database address; use {SUPPORTED_FORMS}.") from None
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise UnsupportedDatabase(
            f"b12desk works with SQLite or PostgreSQL, not {u.get_backend_name()}; use {SUPPORTED_FORMS}."
        )
    return u


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    u = check_url(url)
    if u.get_backend_name() == "sqlite":
        path = sqlite_path(u)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, **kwargs)
        _tune_sqlite(engine, read_only=read_only)
        if path is not None:
            _private_sqlite_file(engine, path)
        return engine
    if u.get_backend_name() == "postgresql" and u.get_driver_name() in ("", "psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True, **kwargs)


def _private_sqlite_file(engine: Engine, path: Path) -> None:
    """The database file, created empty by the first connection, is made 0600 at once; SQLite gives the
    -wal and -shm files it creates later the database's own mode."""

    @event.listens_for(engine, "connect")
    def _connected(*_args: Any) -> None:
        private_sqlite(path)


def is_busy(error: BaseException) -> bool:
    """SQLite's "database is locked" (the busy timeout ran out) or PostgreSQL's lock timeout."""
    text = str(getattr(error, "orig", error)).lower()
    return isinstance(error, OperationalError) and (
        "database is locked" in text or "database is busy" in text or "lock timeout" in text
    )


def read_only_message(error: BaseException) -> str | None:
    """For a write refused because the database is open read-only, or because this computer cannot sign
    the audit trail (its key file missing or another): why, in words; None otherwise."""
    from b12desk.data.audit_key import AuditKeyError

    if isinstance(error, AuditKeyError):
        return error.refused_save
    text = str(getattr(error, "orig", error)).lower()
    if not isinstance(error, OperationalError | sqlite3.OperationalError) or "readonly database" not in text:
        return None
    return sqlite_lock.read_only_reason() or READ_ONLY_MESSAGE


@dataclass(frozen=True)
class Database:
    """The one engine of a running process, with two sessionmakers: `sessions` for actions that write
    (on SQLite, BEGIN IMMEDIATE) and `readers` for those that only read (a deferred BEGIN)."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    # Run once by dispose(): the release of this process's writer's lock on a SQLite file.
    on_dispose: list[Callable[[], None]] = field(default_factory=list, compare=False, repr=False)
    read_only: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def describe(self) -> str:
        return display_url(self.url)

    def dispose(self) -> None:
        self.engine.dispose()
        while self.on_dispose:
            self.on_dispose.pop()()

    def read_connection(self) -> Connection:
        """A Core connection whose transactions only read: a deferred BEGIN on SQLite, so several run
        side by side (BEGIN IMMEDIATE would queue each behind the one before)."""
        return self.engine.execution_options(**{READ_ONLY_OPTION: True}).connect()


def open_database(url: str, *, read_only: bool = False) -> Database:
    """`read_only` (SQLite): every connection refuses writes, and no transaction takes the write lock."""
    engine = make_engine(url, read_only=read_only)
    reading = engine.execution_options(**{READ_ONLY_OPTION: True})
    return Database(
        url=url,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        readers=sessionmaker(reading, expire_on_commit=False),
        read_only=read_only and engine.dialect.name == "sqlite",
    )
