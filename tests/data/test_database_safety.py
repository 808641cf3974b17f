"""The database file is never lost or half-written: a schema from a newer version is refused untouched,
backups are complete or absent, a restore is checked and reversible, a failed migration changes nothing,
one process writes a SQLite file at a time, and an SQLite with the WAL-reset bug is warned about."""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError

import b12desk
from b12desk import cli
from b12desk.data import db as db_module
from b12desk.data import migrate, sqlite_lock
from b12desk.data.db import Database, open_database, read_only_message, wal_reset_bug_affects
from b12desk.domain.patients import PatientInput
from b12desk.services import patients
from b12desk.services.startup import (
    DatabaseFromTheFuture,
    DatabaseUnavailable,
    backup_dir,
    open_app_database,
)
from tests.conftest import (
    PASSWORD,
    Staffing,
    _seed_staff,
    create_pg_database,
    drop_pg_database,
)

Capture = pytest.CaptureFixture[str]


def _newest_known() -> str:
    return migrate.known_revisions()[1]


def _future_message(revision: str) -> str:
    return (
        f"This database was written by a newer b12desk (schema revision {revision}); this is b12desk "
        f"{b12desk.__version__}, which knows revisions up to {_newest_known()}. Install that version or "
        "newer to open it."
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _add_patient(db: Database, staff: Staffing, mrn: str) -> None:
    with db.sessions.begin() as s:
        patients.create_patient(
            s,
            staff.nurse,
            PatientInput(mrn=mrn, family_name="Reid", given_name="Ann", date_of_birth=date(1950, 5, 5)),
        )


def _mrns(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT mrn FROM patients")}
    finally:
        conn.close()


@pytest.fixture
def committed(fresh_db: tuple[Database, Staffing], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """This test's own SQLite file with staff, every connection of the fixture closed: its path and URL."""
    db, _ = fresh_db
    db.dispose()
    path = Path(str(db.engine.url.database))
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    monkeypatch.setenv("B12DESK_NEW_PASSWORD", PASSWORD)
    return path, f"sqlite:///{path}"


def _settle(path: Path) -> None:
    """Fold the -wal into the file, so that its bytes say everything the database holds."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# --- 1. a schema from a newer b12desk ----------------------------------------------------------------


def test_a_database_from_a_newer_version_is_refused_on_every_path_untouched(
    committed: tuple[Path, str], capsys: Capture
) -> None:
    path, url = committed
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '0099'")
    conn.commit()
    conn.close()
    _settle(path)
    before = _digest(path)
    expected = _future_message("0099")
    for argv in (
        ["db", "upgrade"],
        ["patient", "list", "--user", "admin"],
        ["user", "add", "nora", "--role", "nurse", "--user", "admin"],
        ["db", "status"],
    ):
        assert cli.main([*argv, "--db", url]) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, argv
    assert cli.main(["--db", url]) == 1  # the desktop app (offscreen here: the message goes to stderr)
    assert expected in capsys.readouterr().err
    with pytest.raises(DatabaseFromTheFuture, match="schema revision 0099"):
        open_app_database(url)
    assert _files(backup_dir()) == []  # no backup taken
    _settle(path)
    assert _digest(path) == before  # nothing written


def test_the_future_message_follows_the_newest_script(
    committed: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    """The newest known revision is read from the scripts, not written into the message: an older
    b12desk (one that knows only 0001 and 0002) says so of today's database."""
    _, url = committed
    today = _newest_known()
    monkeypatch.setattr(migrate, "known_revisions", lambda: ({"0001", "0002"}, "0002"))
    monkeypatch.setattr(migrate, "SCHEMA_HEAD", "0002")
    assert cli.main(["db", "upgrade", "--db", url]) == 2
    err = capsys.readouterr().err
    assert f"(schema revision {today}); this is b12desk" in err and "knows revisions up to 0002." in err


def _newest_db_revision(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        value = str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar())
    engine.dispose()
    return value


# --- 2. backups: complete or absent ------------------------------------------------------------------


def test_a_backup_is_checked_renamed_into_place_and_private(
    committed: tuple[Path, str], tmp_path: Path
) -> None:
    _, url = committed
    folder = tmp_path / "copies"
    assert cli.main(["db", "backup", "--db", url, "--to", str(folder)]) == 0
    (copy,) = _files(folder)
    assert copy.name.endswith("-manual.sqlite3") and not copy.name.startswith(".")
    assert os.name != "posix" or (copy.stat().st_mode & 0o777) == 0o600
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
    conn.close()


def test_backing_up_a_file_that_is_not_sqlite_says_so_and_leaves_nothing(
    tmp_path: Path, capsys: Capture
) -> None:
    junk = tmp_path / "notes.sqlite3"
    junk.write_text("shopping list: milk, eggs\n" * 100)
    folder = tmp_path / "copies"
    assert cli.main(["db", "backup", "--db", f"sqlite:///{junk}", "--to", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"{junk} is not a SQLite database" in err and "Traceback" not in err
    assert _files(folder) == []


def test_a_damaged_database_is_not_backed_up_as_if_sound(tmp_path: Path) -> None:
    """A file that starts as SQLite but is broken inside: SQLite's own error, then nothing on disk."""
    broken = tmp_path / "broken.sqlite3"
    conn = sqlite3.connect(broken)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(b"x" * 500,)] * 200)
    conn.commit()
    conn.close()
    data = bytearray(broken.read_bytes())
    data[4096 + 10 : 4096 + 400] = b"\xff" * 390  # the table's pages are garbage now
    broken.write_bytes(bytes(data))
    folder = tmp_path / "copies"
    with pytest.raises(migrate.BackupFailed, match=r"No backup was written|not a SQLite database"):
        migrate.backup_sqlite(broken, folder, "manual")
    assert _files(folder) == []


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs POSIX file-size limits")
def test_a_file_size_limit_is_said_and_leaves_no_partial_backup(
    committed: tuple[Path, str], tmp_path: Path
) -> None:
    """The operating system really refuses the write part-way: the process may write no file beyond
    100 kB (RLIMIT_FSIZE, ulimit -f), as a nearly full disk would stop it."""
    path, url = committed
    assert path.stat().st_size > 150_000
    folder = tmp_path / "copies"
    folder.mkdir()

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a short write, as on a full disk, not a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_001, 100_001))

    done = subprocess.run(
        [sys.executable, "-m", "b12desk", "db", "backup", "--db", url, "--to", str(folder)],
        capture_output=True,
        text=True,
        preexec_fn=small_disk,  # sets a limit and a signal only
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "This process may not write files larger than 100,001 bytes" in done.stderr
    assert "Traceback" not in done.stderr
    assert _files(folder) == []  # neither the temporary copy nor a final one


def test_a_full_disk_reported_by_sqlite_leaves_nothing(
    committed: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same at SQLite's boundary: part of the pages written, then SQLITE_FULL."""
    path, _ = committed
    folder = tmp_path / "copies"

    def copy_then_fill(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
        source.backup(target, pages=3)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(migrate, "_copy_pages", copy_then_fill)
    with pytest.raises(migrate.BackupFailed, match=f"The disk holding {folder} is full"):
        migrate.backup_sqlite(path, folder, "manual")
    assert _files(folder) == []


# --- 3. db restore -----------------------------------------------------------------------------------


def test_restore_round_trip_keeps_what_it_replaced(
    committed: tuple[Path, str], tmp_path: Path, sqlite_template: tuple[Path, Staffing], capsys: Capture
) -> None:
    path, url = committed
    staff = sqlite_template[1]
    db = open_database(url)
    _add_patient(db, staff, "BEFORE1")
    assert cli.main(["db", "backup", "--db", url, "--to", str(tmp_path / "copies")]) == 0
    (backup,) = _files(tmp_path / "copies")
    _add_patient(db, staff, "AFTER1")  # written after the backup; this process keeps the database open
    assert cli.main(["db", "check", "--db", url]) == 0  # the longer chain becomes the recorded head
    with db.readers() as s:
        events_before = s.execute(text("SELECT count(*) FROM audit_events")).scalar()
    capsys.readouterr()
    assert cli.main(["db", "restore", str(backup), "--db", url, "--yes"]) == 0
    out = capsys.readouterr().out
    (kept,) = _files(backup_dir())
    assert kept.name.endswith("-before-restore.sqlite3")
    assert f"backed up first: {kept}" in out and "Restored" in out
    assert _mrns(path) == {"BEFORE1"}  # the later patient is gone...
    assert _mrns(kept) == {"BEFORE1", "AFTER1"}  # ...and kept in the copy taken first
    with db.readers() as s:  # a connection opened before the restore sees the restored data
        assert set(s.execute(text("SELECT mrn FROM patients")).scalars()) == {"BEFORE1"}
        # The rollback of the audit trail is itself in the trail, with the length of the one replaced.
        restore = s.execute(
            text("SELECT old_values, new_values FROM audit_events WHERE action = 'restore'")
        ).one()
    db.dispose()
    assert f'"events":{events_before}' in restore[0] and str(kept) in restore[1]
    assert cli.main(["db", "check", "--db", url]) == 0  # a restore is not a shortened chain


def test_restore_asks_and_without_yes_writes_nothing(
    committed: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    path, url = committed
    assert cli.main(["db", "backup", "--db", url, "--to", str(tmp_path / "copies")]) == 0
    (backup,) = _files(tmp_path / "copies")
    _settle(path)
    before = _digest(path)
    capsys.readouterr()
    # No terminal and no --yes: refused.
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert cli.main(["db", "restore", str(backup), "--db", url]) == 1
    assert "Nothing was restored: confirm with --yes" in capsys.readouterr().err
    # A terminal, and an answer other than yes.
    asked: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return "no"

    monkeypatch.setattr("builtins.input", answer)
    assert cli.main(["db", "restore", str(backup), "--db", url]) == 1
    assert asked and asked[0].startswith(f"Replace {path}") and "with " + str(backup) in asked[0]
    assert "(0 patients, taken " in asked[0] and asked[0].endswith("? Type yes: ")
    assert "Nothing was restored." in capsys.readouterr().out
    _settle(path)
    assert _digest(path) == before and _files(backup_dir()) == []


@pytest.mark.parametrize("kind", ["text", "future", "directory", "missing", "not-b12desk"])
def test_restore_refuses_a_file_it_cannot_use_and_writes_nothing(
    kind: str, committed: tuple[Path, str], tmp_path: Path, capsys: Capture
) -> None:
    path, url = committed
    candidate = tmp_path / "candidate.sqlite3"
    expected = {
        "text": "is not a SQLite database",
        "future": _future_message("0099"),
        "directory": "is not a file",
        "missing": "does not exist",
        "not-b12desk": "not a b12desk one",
    }[kind]
    if kind == "text":
        candidate.write_text("not a database at all\n" * 50)
    elif kind == "future":
        shutil.copy(path, candidate)
        conn = sqlite3.connect(candidate)
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
        conn.commit()
        conn.close()
    elif kind == "directory":
        candidate.mkdir()
    elif kind == "not-b12desk":
        conn = sqlite3.connect(candidate)
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.commit()
        conn.close()
    _settle(path)
    before = _digest(path)
    assert cli.main(["db", "restore", str(candidate), "--db", url, "--yes"]) in (1, 2)
    err = capsys.readouterr().err
    assert expected in err and "Nothing was restored" in err and "Traceback" not in err
    _settle(path)
    assert _digest(path) == before and _files(backup_dir()) == []


def test_restore_replaces_a_database_that_is_beyond_repair_and_keeps_its_bytes(
    committed: tuple[Path, str], tmp_path: Path, capsys: Capture
) -> None:
    """The case a restore is for: the database file is garbage. SQLite cannot back it up, so its bytes
    are copied aside before a checked copy of the backup is renamed over it."""
    path, url = committed
    assert cli.main(["db", "backup", "--db", url, "--to", str(tmp_path / "copies")]) == 0
    (backup,) = _files(tmp_path / "copies")
    garbage = b"\x00overwritten by a disk fault\x00" * 300
    path.write_bytes(garbage)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    capsys.readouterr()
    assert cli.main(["db", "restore", str(backup), "--db", url, "--yes"]) == 0
    out = capsys.readouterr().out
    (kept,) = _files(backup_dir())
    assert kept.name.endswith("-before-restore-damaged.sqlite3") and kept.read_bytes() == garbage
    assert "cannot be backed up" in out and str(kept) in out
    assert _mrns(path) == set() and cli.main(["db", "check", "--db", url]) == 0
    assert not list(path.parent.glob(f".{path.name}.*"))  # no temporary file left beside it


def test_restore_of_an_older_backup_upgrades_it(
    committed: tuple[Path, str], tmp_path: Path, capsys: Capture
) -> None:
    path, url = committed
    older = tmp_path / "older.sqlite3"
    shutil.copy(path, older)
    previous = _previous_revision()
    copy = open_database(f"sqlite:///{older}")
    migrate.migrate_to(copy, previous, downgrade=True)
    copy.dispose()
    assert cli.main(["db", "restore", str(older), "--db", url, "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"revision {previous}" in out and f"Then migrated from {previous} to {_newest_known()}." in out
    assert _newest_db_revision(url) == _newest_known()


def _previous_revision() -> str:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", migrate.migrations_location())
    head = ScriptDirectory.from_config(cfg).get_revision(_newest_known())
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


def test_restore_refuses_postgresql_with_the_right_tool(tmp_path: Path, capsys: Capture) -> None:
    backup = tmp_path / "x.sqlite3"
    sqlite3.connect(backup).close()
    url = "postgresql+psycopg://clinic@127.0.0.1:1/b12desk"
    assert cli.main(["db", "restore", str(backup), "--db", url, "--yes"]) == 1
    assert "pg_restore" in capsys.readouterr().err


# --- 4. a migration that fails leaves the database as it was ------------------------------------------


def _broken_migrations(tmp_path: Path, down_revision: str) -> Path:
    """A copy of the shipped scripts with one more revision that changes the schema, then fails."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrate.migrations_location(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "0099_broken.py").write_text(
        textwrap.dedent(
            f'''
            """A migration that fails half-way."""

            import sqlalchemy as sa
            from alembic import op

            revision = "0099"
            down_revision = "{down_revision}"
            branch_labels = None
            depends_on = None


            def upgrade() -> None:
                op.add_column("staff", sa.Column("shoe_size", sa.Integer(), nullable=True))
                op.execute("UPDATE staff SET full_name = 'overwritten'")
                op.create_table("scratch", sa.Column("id", sa.Integer(), primary_key=True))
                raise RuntimeError("the shoe sizes could not be measured")


            def downgrade() -> None:
                pass
            '''
        )
    )
    return copy


def _snapshot(url: str) -> tuple[object, ...]:
    engine = create_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            schema: object = conn.execute(
                text("SELECT type, name, sql FROM sqlite_master ORDER BY name")
            ).all()
        else:
            schema = conn.execute(
                text(
                    "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
                )
            ).all()
        tables = sorted(inspect(conn).get_table_names())
        rows = {
            t: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{t}"')).all()), key=repr) for t in tables
        }
    engine.dispose()
    return schema, rows


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def filled_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
        server = None
    else:
        server = request.getfixturevalue("pg_server_url")
        url = create_pg_database(server)
    db = open_database(url)
    migrate.upgrade(db, backup_dir=None)
    _seed_staff(db)
    db.dispose()
    yield url
    if server is not None:
        drop_pg_database(server, url)


def test_a_failing_migration_changes_nothing_and_says_so(
    filled_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    head = _newest_known()
    before = _snapshot(filled_url)
    assert before[1]["alembic_version"] == [(head,)]  # type: ignore[index]
    scripts = _broken_migrations(tmp_path, head)
    monkeypatch.setattr(migrate, "migrations_location", lambda: str(scripts))
    monkeypatch.setattr(migrate, "SCHEMA_HEAD", "0099")
    assert cli.main(["db", "upgrade", "--db", filled_url]) == 1
    err = capsys.readouterr().err
    assert f"Migrating the database from revision {head} to 0099 failed" in err
    assert "the shoe sizes could not be measured" in err
    assert f"Nothing was changed: the database is still at revision {head}" in err
    assert "Traceback" not in err
    assert _snapshot(filled_url) == before  # schema, revision and every row as they were


# --- 5. one writing process per SQLite file -----------------------------------------------------------


def test_one_process_opening_a_file_twice_shares_its_lock(committed: tuple[Path, str]) -> None:
    path, url = committed
    first = open_app_database(url)
    second = open_app_database(url)
    try:
        assert first.read_only_reason is None and second.read_only_reason is None
        lock = sqlite_lock.lock_path(path)
        assert os.name != "posix" or (lock.stat().st_mode & 0o777) == 0o600
        assert lock.read_text().splitlines()[0] == str(os.getpid())
        first.db.dispose()
        assert sqlite_lock.holds(path)  # the second still has it
    finally:
        first.db.dispose()
        second.db.dispose()
    assert not sqlite_lock.holds(path)
    lease = sqlite_lock.acquire(path)  # free again
    assert isinstance(lease, sqlite_lock.WriterLease)
    lease.release()


HOLDER = """
import sys, time
from b12desk.services.startup import open_app_database
opened = open_app_database(sys.argv[1])
print("READY", opened.read_only_reason, flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(committed: tuple[Path, str]) -> Iterator[subprocess.Popen[str]]:
    """A second b12desk process that has opened the database (the desktop app, as far as the file knows)."""
    _, url = committed
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "READY None", (line, process.stderr.read() if process.stderr else "")
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _b12desk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b12desk", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_second_process_reads_only_and_the_lock_dies_with_the_first(
    committed: tuple[Path, str], holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    path, url = committed
    said = f"Another b12desk (process {holder.pid}, started at "
    read_only = (
        "is writing to this database; this one opens it read-only: nothing can be saved until that one "
        "closes."
    )

    listing = _b12desk("user", "list", "--db", url, "--user", "admin")
    assert listing.returncode == 0 and "nurse" in listing.stdout
    assert said in listing.stderr and read_only in listing.stderr

    _settle(path)
    before = _digest(path)
    adding = _b12desk("user", "add", "nora", "--role", "nurse", "--db", url, "--user", "admin")
    assert adding.returncode == 1, adding.stderr
    assert said in adding.stderr and read_only in adding.stderr and "Traceback" not in adding.stderr
    backing_up = _b12desk("db", "backup", "--db", url, "--to", str(tmp_path / "copies"))
    assert backing_up.returncode == 0  # a backup only reads: allowed beside the writer
    (copy,) = _files(tmp_path / "copies")
    restoring = _b12desk("db", "restore", str(copy), "--db", url, "--yes")
    assert (
        restoring.returncode == 1 and said in restoring.stderr and "Nothing was restored" in restoring.stderr
    )
    _settle(path)
    assert _digest(path) == before

    holder.send_signal(signal.SIGKILL)  # no clean-up at all: the kernel drops the lock
    holder.wait()
    deadline = time.monotonic() + 10
    while True:
        adding = _b12desk("user", "add", "nora", "--role", "nurse", "--db", url, "--user", "admin")
        if adding.returncode == 0 or time.monotonic() > deadline:
            break
    assert adding.returncode == 0, adding.stderr
    assert "read-only" not in adding.stderr


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_in_a_read_only_process_a_write_is_refused_in_words(
    committed: tuple[Path, str], holder: subprocess.Popen[str], sqlite_template: tuple[Path, Staffing]
) -> None:
    _, url = committed
    opened = open_app_database(url)
    try:
        assert opened.read_only_reason is not None and str(holder.pid) in opened.read_only_reason
        assert opened.db.read_only
        with pytest.raises(OperationalError) as refused:
            _add_patient(opened.db, sqlite_template[1], "NOPE1")
        assert read_only_message(refused.value) == opened.read_only_reason
        with opened.db.readers() as s:  # reading works
            assert s.execute(text("SELECT COUNT(*) FROM staff")).scalar() == 5
    finally:
        opened.db.dispose()


LOCK_ONLY = """
import sys, time
from pathlib import Path
from b12desk.data import sqlite_lock
lease = sqlite_lock.acquire(Path(sys.argv[1]))
print("LOCKED" if isinstance(lease, sqlite_lock.WriterLease) else "NOT LOCKED", flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_reader_never_upgrades_a_database_another_process_holds(committed: tuple[Path, str]) -> None:
    path, url = committed
    older = open_database(url)
    migrate.migrate_to(older, _previous_revision(), downgrade=True)
    older.dispose()
    _settle(path)
    before = _digest(path)
    process = subprocess.Popen(
        [sys.executable, "-c", LOCK_ONLY, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "LOCKED"
        with pytest.raises(DatabaseUnavailable) as refused:
            open_app_database(url)
        message = str(refused.value)
        assert f"Another b12desk (process {process.pid}, started at " in message
        assert f"must first upgrade the database from revision {_previous_revision()}" in message
        assert "close the other one, then start this one again" in message
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert _files(backup_dir()) == []
    _settle(path)
    assert _digest(path) == before


# --- 6. the SQLite WAL-reset bug ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ((3, 6, 23), False),
        ((3, 7, 0), True),
        ((3, 40, 1), True),
        ((3, 44, 5), True),
        ((3, 44, 6), False),
        ((3, 44, 7), True),
        ((3, 45, 0), True),
        ((3, 50, 6), True),
        ((3, 50, 7), False),
        ((3, 50, 8), False),
        ((3, 51, 0), False),
        ((3, 51, 2), False),
        ((3, 51, 3), False),
        ((3, 52, 0), False),
        ((4, 0, 0), False),
    ],
)
def test_which_sqlite_versions_have_the_wal_reset_bug(version: tuple[int, int, int], affected: bool) -> None:
    assert wal_reset_bug_affects(version) is affected


def _write_from(db: Database, conn_count: int) -> None:
    held = [db.engine.connect() for _ in range(conn_count)]  # held open: each is its own connection
    try:
        for conn in held:
            with conn.begin():
                conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
                conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        for conn in held:
            conn.close()


@pytest.fixture
def wal_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    monkeypatch.setattr(db_module, "_wal_warned", False)
    caplog.set_level(logging.WARNING, logger="b12desk.data.db")
    return caplog


def test_an_affected_sqlite_is_warned_about_once_when_a_second_connection_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wal_log: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 40, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.40.1")
    db = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    _write_from(db, 1)
    _write_from(db, 1)  # the same pooled connection again: one writer still
    assert wal_log.records == []
    _write_from(db, 3)
    other = open_database(f"sqlite:///{tmp_path / 'w2.sqlite3'}")
    _write_from(other, 2)
    messages = [r.getMessage() for r in wal_log.records]
    assert len(messages) == 1  # once per process
    assert "SQLite 3.40.1" in messages[0] and "corrupt" in messages[0]
    assert "3.51.3" in messages[0] and "one writing b12desk" in messages[0]
    db.dispose()
    other.dispose()


def test_a_fixed_sqlite_is_not_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wal_log: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 51, 3))
    db = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    _write_from(db, 3)
    db.dispose()
    assert wal_log.records == []
