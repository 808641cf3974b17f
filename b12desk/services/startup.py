"""Opening a database for the app or the command line: migrate (after a backup) and, in demo mode, seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from b12desk.data import migrate, sqlite_lock
from b12desk.data.audit import check_signing_key
from b12desk.data.audit_key import AuditKeyError
from b12desk.data.db import (
    BUSY_MESSAGE,
    Database,
    UnsupportedDatabase,
    check_url,
    data_dir,
    is_busy,
    network_filesystem,
    open_database,
    resolve_url,
    sqlite_path,
)
from b12desk.data.private_files import private_sqlite, tighten_data_folder
from b12desk.domain.enums import Role
from b12desk.services import auth
from b12desk.services.common import ServiceError

DEMO_PASSWORD = "demo"
DEMO_USERS: tuple[tuple[str, str, Role], ...] = (
    ("nurse", "Nora Nurse (demo)", Role.NURSE),
    ("pharmacist", "Phil Pharmacist (demo)", Role.PHARMACIST),
    # A plan's author may not verify it: a second pharmacist lets a plan written in the demo be verified.
    ("pharmacist2", "Petra Pharmacist (demo)", Role.PHARMACIST),
    ("manager", "Mona Manager (demo)", Role.MANAGER),
    ("admin", "Adam Admin (demo)", Role.ADMIN),
)
DEMO_PATIENTS = 400


class DatabaseUnavailable(ServiceError):
    pass


class DatabaseFromTheFuture(DatabaseUnavailable):
    """A newer b12desk wrote the database; nothing was copied or written. The command line exits 2."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class OpenedDatabase:
    db: Database
    demo: bool
    upgrade: migrate.UpgradeResult
    # Set when another b12desk process is writing to the same SQLite file: this one may only read.
    read_only_reason: str | None = None


def backup_dir() -> Path:
    return data_dir() / "backups"


def open_app_database(url: str | None, *, demo: bool = False, seed_demo: bool = True) -> OpenedDatabase:
    """Resolve the URL, migrate to the current schema, and in demo mode make sure demo data exists."""
    resolved = resolve_url(url, demo=demo)
    try:
        check_url(resolved)
    except UnsupportedDatabase as exc:
        raise DatabaseUnavailable(str(exc)) from None
    path = sqlite_path(resolved)
    if path is not None:
        share = network_filesystem(path.parent if not path.exists() else path)
        if share:
            raise DatabaseUnavailable(
                f"The SQLite database {path} is on a network share ({share}). SQLite cannot lock files "
                "reliably there and the database could be corrupted. Keep it on this computer's disk, or "
                "use a PostgreSQL server when several workstations share data."
            )
        private_sqlite(path)  # left readable by others by an older version: the owner's only now
    tighten_data_folder(data_dir())  # its databases, backups and settings, as older versions left them
    db, read_only_reason = _open_as_writer_or_reader(resolved, path)
    try:
        result = _upgrade(db, read_only_reason)
        key_problem = _audit_key_problem(db)
        read_only_reason = read_only_reason or key_problem
        if not db.read_only and key_problem is None and _templates_outdated(db):
            from b12desk.services.plans import ensure_shipped_templates

            with db.sessions.begin() as session:
                ensure_shipped_templates(session)  # new or corrected shipped ones; edited ones keep theirs
    except OperationalError as exc:
        db.dispose()
        if is_busy(exc):
            raise DatabaseUnavailable(BUSY_MESSAGE) from None
        raise DatabaseUnavailable(
            f"Cannot open the database {db.describe()}: {exc.orig}. Check the address, that the server is "
            "running, and the user name and password."
        ) from None
    if demo and seed_demo and not db.read_only and key_problem is None:  # the process writing seeds it
        ensure_demo_content(db)
    return OpenedDatabase(db=db, demo=demo, upgrade=result, read_only_reason=read_only_reason)


def _audit_key_problem(db: Database) -> str | None:
    """A signed chain this computer cannot continue (its key file missing or another): said now, not at
    the first save. The database still opens, for reading: every save appends to the audit trail and is
    refused, whole, with the same sentence, so nothing is lost and nothing is written unsigned."""
    try:
        with db.readers() as session:
            check_signing_key(session)
    except AuditKeyError as exc:
        return f"{exc} Until then it opens for reading only: nothing can be saved."
    return None


def _open_as_writer_or_reader(url: str, path: Path | None) -> tuple[Database, str | None]:
    """A SQLite file is written by one b12desk process at a time: this one takes the writer's lock, or,
    when another process holds it, opens the file read-only and says which process that is."""
    if path is None:
        return open_database(url), None
    try:
        lease = sqlite_lock.acquire(path)
    except OSError as exc:
        raise DatabaseUnavailable(
            f"Cannot open the database {path}: its lock file {sqlite_lock.lock_path(path)} cannot be "
            f"created ({exc.strerror or exc}). Check that this user may write to {path.parent}."
        ) from None
    if isinstance(lease, sqlite_lock.Holder):
        reason = sqlite_lock.read_only_sentence(lease)
        sqlite_lock.note_read_only(path, reason)
        return open_database(url, read_only=True), reason
    try:
        db = open_database(url)
    except BaseException:
        lease.release()
        raise
    db.on_dispose.append(lease.release)
    return db, None


def _upgrade(db: Database, read_only_reason: str | None) -> migrate.UpgradeResult:
    """migrate.upgrade, its refusals said for the person at the screen; the database is left unchanged."""
    try:
        return migrate.upgrade(db, backup_dir=backup_dir(), may_write=read_only_reason is None)
    except migrate.SchemaTooNew as exc:
        db.dispose()
        raise DatabaseFromTheFuture(str(exc)) from None
    except migrate.UpgradeRefused as exc:
        db.dispose()
        raise DatabaseUnavailable(
            f"{read_only_reason} This b12desk must first upgrade the database from revision "
            f"{exc.from_revision or 'empty'} to {exc.to_revision}, which it cannot do read-only: close the "
            "other one, then start this one again."
        ) from None
    except migrate.BackupFailed as exc:
        db.dispose()
        raise DatabaseUnavailable(
            f"The database needs upgrading, and the backup taken first failed, so nothing was changed: {exc}"
        ) from None
    except migrate.MigrationFailed as exc:
        db.dispose()
        raise DatabaseUnavailable(str(exc)) from None


def _templates_outdated(db: Database) -> bool:
    """Whether a shipped template is not stored yet, or was corrected since and the clinic's newest
    version is still the shipped one: one read, so a normal start needs no write and does not load the
    template code at all."""
    from b12desk.data.audit import canonical_json
    from b12desk.data.reference import shipped_regimen_templates

    with db.readers() as session:
        newest: dict[str, tuple[str, bool]] = {}
        for code, definition, edited in session.execute(
            text(
                "SELECT code, definition, created_by_id IS NOT NULL FROM regimen_templates "
                "ORDER BY code, version"
            )
        ):
            newest[code] = (definition, bool(edited))
    for raw in shipped_regimen_templates():
        stored = newest.get(str(raw.get("code", "")))
        if stored is None or (not stored[1] and stored[0] != canonical_json(raw)):
            return True
    return False


def ensure_demo_content(db: Database, *, patients: int = DEMO_PATIENTS, seed: int = 12) -> None:
    """A demo database gets its demo users (two pharmacists, so that one verifies what the other writes) and a
    small synthetic clinic the first time it opens."""
    from b12desk.services import demo_data  # only demo mode pays for the generator

    with db.sessions.begin() as session:
        if auth.staff_count(session) > 0:
            return
    demo_data.generate(db, patients=patients, years=2, seed=seed, create_demo_users=True)


def ensure_demo_users(db: Database) -> None:
    """Demo mode only: the demo users on a demo database that has no staff yet (`demo-data --demo`)."""
    with db.sessions.begin() as session:
        if auth.staff_count(session) > 0:
            return
        for username, full_name, role in DEMO_USERS:
            auth.create_demo_user(
                session, username=username, full_name=full_name, role=role, password=DEMO_PASSWORD
            )
