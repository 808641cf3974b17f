"""The data folder, the databases with their -wal and -shm files, the backups and settings.ini are the
owner's alone (0700 folders, 0600 files) whatever the umask, and files an older version left readable by
everyone are tightened at start-up; a password typed into --db is warned about."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from b12desk import cli
from b12desk.data.db import data_dir
from b12desk.data.migrate import backup_sqlite
from b12desk.services import auth
from b12desk.services.startup import backup_dir, open_app_database

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """As most desktops run: new files 0644, new folders 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_database_its_wal_and_shm_and_backups_are_the_owners_only(open_umask: None) -> None:
    opened = open_app_database(None)
    try:
        with opened.db.sessions.begin() as s:  # a write: the -wal and -shm files exist from here
            auth.create_first_admin(s, username="admin", full_name="Ada Admin", password="correct horse 1")
        folder = data_dir()
        database = folder / "b12desk.sqlite3"
        assert mode(folder) == 0o700
        for name in ("b12desk.sqlite3", "b12desk.sqlite3-wal", "b12desk.sqlite3-shm"):
            assert (folder / name).exists(), name
            assert mode(folder / name) == 0o600, name
        copy = backup_sqlite(database, backup_dir(), "manual")
        assert mode(backup_dir()) == 0o700 and mode(copy) == 0o600
    finally:
        opened.db.dispose()


def test_files_an_older_version_left_readable_are_tightened_at_start_up(open_umask: None) -> None:
    opened = open_app_database(None)
    opened.db.dispose()
    folder = data_dir()
    database = folder / "b12desk.sqlite3"
    (folder / "backups").mkdir(exist_ok=True)
    old_backup = folder / "backups" / "b12desk-20250101-000000-manual.sqlite3"
    shutil.copy(database, old_backup)
    settings_file = folder / "settings.ini"
    settings_file.write_text("[General]\n")
    someone_elses = folder / "notes.txt"  # not b12desk's: left as it is
    someone_elses.write_text("shopping list")
    for path, loose in (
        (folder, 0o755),
        (folder / "backups", 0o755),
        (database, 0o644),
        (old_backup, 0o644),
        (settings_file, 0o644),
        (someone_elses, 0o644),
    ):
        path.chmod(loose)

    opened = open_app_database(None)
    opened.db.dispose()
    assert mode(folder) == 0o700 and mode(folder / "backups") == 0o700
    assert mode(database) == mode(old_backup) == mode(settings_file) == 0o600
    assert mode(someone_elses) == 0o644


def test_the_settings_file_is_written_the_owners_only(open_umask: None) -> None:
    from PySide6.QtCore import QByteArray

    from b12desk.ui import settings

    settings.put(settings.MAIN_WINDOW_GEOMETRY, QByteArray(b"geometry"))
    assert mode(data_dir() / "settings.ini") == 0o600


def test_a_password_in_db_is_warned_about_and_the_address_without_one_is_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.password_in_url_warning("postgresql://b12desk@db.clinic/b12desk") == ""
    assert cli.password_in_url_warning("sqlite:////tmp/x.sqlite3") == ""
    assert cli.password_in_url_warning(None) == ""
    code = cli.main(["--db", "postgresql://nurse:s3cret@127.0.0.1:1/b12desk", "db", "status"])
    err = capsys.readouterr().err
    assert code != 0  # nothing listens there; the warning comes first all the same
    assert "warning: the password in --db can be read by every user" in err
    assert "B12DESK_DATABASE_URL" in err and "~/.pgpass" in err
    assert "s3cret" not in err  # and the password itself is never printed
