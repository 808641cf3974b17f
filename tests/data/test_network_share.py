"""SQLite on a network share is refused before anything is opened: its locking is unreliable there."""

from __future__ import annotations

from pathlib import Path

import pytest

from b12desk.data.db import network_filesystem
from b12desk.services.startup import DatabaseUnavailable, open_app_database

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
server:/export /mnt/clinic nfs4 rw,relatime 0 0
//nas/share /mnt/nas\\040drive cifs rw 0 0
tmpfs /mnt/clinic/local tmpfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/home/nurse/.local/share/b12desk/b12desk.sqlite3", None),
        ("/mnt/clinic/b12desk.sqlite3", "nfs4"),
        ("/mnt/nas drive/b12desk.sqlite3", "cifs"),
        ("/mnt/clinic/local/b12desk.sqlite3", None),  # the innermost mount decides
        ("/mnt/clinical/b12desk.sqlite3", None),  # a prefix of a mount point is not inside it
        ("//server/share/b12desk.sqlite3", "smb"),
    ],
)
def test_network_filesystem(path: str, expected: str | None) -> None:
    assert network_filesystem(Path(path), MOUNTS) == expected


def test_start_up_refuses_sqlite_on_a_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("b12desk.services.startup.network_filesystem", lambda _path: "cifs")
    with pytest.raises(DatabaseUnavailable, match=r"network share \(cifs\).*PostgreSQL"):
        open_app_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert not (tmp_path / "x.sqlite3").exists()  # nothing was created
