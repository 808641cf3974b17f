"""A password is never written down: after a user is created with a distinctive password, signs in,
fails to sign in (also with the password typed into the user-name field), is locked out and unlocked,
changes the password, uses the desktop app and takes a backup, no file in the data folder (database,
-wal, backups, settings.ini, anything else there) nor the audit key holds either password, as raw bytes,
in any letter case, and no terminal output shows one.

To cover a new way of signing in or of handling passwords, add a Step to STEPS (a command run as a user
would), or a call to `sign_in_by_service`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from b12desk.data.db import data_dir, default_url, open_database
from b12desk.services import auth

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SECRET = "Zq7-unique-pass-2026"
NEW_SECRET = "Xv9-another-pass-2027"  # what SECRET is changed to
ADMIN_PASSWORD = "Admin-pass-for-tests-91"
FULL_NAME = "Zoe Marker-Fullname"  # stored on purpose: shows the search reads what the database holds
WRONG = "not-her-password-77"


@dataclass(frozen=True)
class Step:
    """One command as a user runs it: the password (B12DESK_PASSWORD), a new one, the exit code."""

    argv: tuple[str, ...]
    password: str | None = None
    new_password: str | None = None
    code: int = 0
    desktop: bool = False  # the desktop app: it shows its main window, then quits


def admin(*argv: str, new_password: str | None = None) -> Step:
    return Step((*argv, "--user", "chief"), password=ADMIN_PASSWORD, new_password=new_password)


def zoe_lists_patients(password: str, code: int = 0, user: str = "zoe") -> Step:
    return Step(("patient", "list", "--user", user), password=password, code=code)


STEPS: tuple[Step, ...] = (
    Step(("db", "upgrade")),
    Step(("user", "add", "chief", "--role", "admin"), new_password=ADMIN_PASSWORD),
    admin("user", "add", "zoe", "--role", "nurse", "--full-name", FULL_NAME, new_password=SECRET),
    zoe_lists_patients(SECRET),
    zoe_lists_patients(WRONG, code=1),
    zoe_lists_patients(SECRET + "x", code=1),  # one key too many: nearly the password
    # The password typed into the user-name field, and then into both.
    zoe_lists_patients("", code=1, user=SECRET),
    zoe_lists_patients(SECRET, code=1, user=SECRET),
    zoe_lists_patients(WRONG, code=1, user=f" {SECRET.upper()} "),
    Step(("--user", SECRET), password=SECRET, code=1, desktop=True),
    Step(("passwd", "--user", "zoe"), password=SECRET, new_password=NEW_SECRET),
    zoe_lists_patients(SECRET, code=1),  # the old one no longer works
    zoe_lists_patients(NEW_SECRET),
    # Wrong passwords until the account locks, then an administrator unlocks it.
    *(zoe_lists_patients(SECRET, code=1) for _ in range(auth.MAX_FAILED_SIGN_INS)),
    zoe_lists_patients(NEW_SECRET, code=1),  # locked, even with the right password
    admin("user", "unlock", "zoe"),
    zoe_lists_patients(NEW_SECRET),
    Step(("--user", "zoe"), password=NEW_SECRET, desktop=True),
    Step(("db", "backup")),
    Step(("db", "check")),
)


def run(step: Step) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("B12DESK_PASSWORD", "B12DESK_NEW_PASSWORD")}
    if step.password is not None:
        env["B12DESK_PASSWORD"] = step.password
    if step.new_password is not None:
        env["B12DESK_NEW_PASSWORD"] = step.new_password
    if step.desktop:
        env |= {"B12DESK_EXIT_AFTER_SHOWN": "1", "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-m", "b12desk", *step.argv],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    said = done.stdout + done.stderr
    assert done.returncode == step.code, f"{' '.join(step.argv)}: exit {done.returncode}\n{said}"
    assert "Traceback" not in said, said
    return said


def sign_in_by_service() -> None:
    """The desktop app's sign-in, through the service it calls: the same mistakes."""
    db = open_database(default_url())
    try:
        for username, password in (
            (SECRET, SECRET),
            (NEW_SECRET, ""),
            (f"\t{NEW_SECRET}\n", WRONG),
            ("zoe", NEW_SECRET + " "),
        ):
            with pytest.raises(auth.AuthenticationFailed) as failed:
                auth.sign_in(db, username=username, password=password)
            assert SECRET.lower() not in str(failed.value).lower()
            assert NEW_SECRET.lower() not in str(failed.value).lower()
        assert auth.sign_in(db, username="zoe", password=NEW_SECRET).username == "zoe"
    finally:
        db.dispose()


def files_kept() -> Iterator[Path]:
    """Every file b12desk keeps: the whole data folder, and the audit key wherever it is."""
    yield from (p for p in sorted(data_dir().rglob("*")) if p.is_file())
    key = os.environ.get("B12DESK_AUDIT_KEY_FILE")
    if key and Path(key).is_file():
        yield Path(key)


def found_in(data: bytes, text: str) -> int:
    """Where `text` is in `data`, in any letter case (user names are lower-cased), or -1."""
    return data.lower().find(text.lower().encode("utf-8"))


def test_no_password_is_written_to_any_file_or_shown(tmp_path: Path) -> None:
    output = [run(step) for step in STEPS]
    sign_in_by_service()
    output.append(run(Step(("db", "backup"))))  # a backup of the database as the service left it too

    for secret in (SECRET, NEW_SECRET):
        shown = [text for text in output if found_in(text.encode(), secret) >= 0]
        assert not shown, f"a password was shown on the terminal: {shown}"

    kept = list(files_kept())
    names = {p.name for p in kept}
    assert "b12desk.sqlite3" in names and "settings.ini" in names, names
    assert any(p.parent.name == "backups" for p in kept), names
    leaks = []
    for path in kept:
        data = path.read_bytes()
        for secret in (SECRET, NEW_SECRET):
            at = found_in(data, secret)
            if at >= 0:
                leaks.append(f"{path} holds a password at byte {at}: {data[max(0, at - 40) : at + 40]!r}")
    assert not leaks, "\n".join(leaks)
    # The search reads what is stored: the account's full name is in the database and its backups.
    holding = [p.name for p in kept if found_in(p.read_bytes(), FULL_NAME) >= 0]
    assert "b12desk.sqlite3" in holding and any(n.endswith("-manual.sqlite3") for n in holding), holding
