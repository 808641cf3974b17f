"""Files that hold patients and password hashes are the signed-in user's alone: folders 0700, files 0600.

New files are created under a 0077 umask; files left by older versions (0644 in 0755 folders) are
tightened at start-up. On Windows the folder's own ACL applies and these are no-ops.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")
_POSIX = os.name == "posix"


def _chmod(path: Path, mode: int) -> None:
    if not _POSIX:
        return
    with contextlib.suppress(FileNotFoundError, PermissionError):  # not ours to change: leave it
        if stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)


def private_dir(path: Path) -> Path:
    """Create the folder (and its parents) if need be, and make it readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> None:
    _chmod(path, PRIVATE_FILE)


def private_sqlite(path: Path) -> None:
    """A SQLite database and its -wal, -shm and -journal files (SQLite gives those the database's mode)."""
    for suffix in SQLITE_COMPANIONS:
        private_file(path.with_name(path.name + suffix))


def tighten_data_folder(folder: Path) -> None:
    """Start-up fix-up for what an older version left readable by others, and only what b12desk writes
    there (the folder may be one a person chose): the folder, its SQLite databases and their companions,
    settings.ini, and backups/ with the copies in it."""
    if not folder.is_dir():
        return
    _chmod(folder, PRIVATE_DIR)
    for entry in folder.iterdir():
        ours = entry.name == "settings.ini" or any(
            entry.name.endswith(".sqlite3" + suffix) for suffix in SQLITE_COMPANIONS
        )
        if ours and entry.is_file() and not entry.is_symlink():
            private_file(entry)
    backups = folder / "backups"
    if backups.is_dir() and not backups.is_symlink():
        _chmod(backups, PRIVATE_DIR)
        for entry in backups.glob("*.sqlite3"):
            if entry.is_file() and not entry.is_symlink():
                private_file(entry)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created inside are the owner's only (the umask is per process: keep it short)."""
    if not _POSIX:
        yield
        return
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)
