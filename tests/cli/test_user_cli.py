"""`b12desk user …`, `b12desk passwd` and the guarded `b12desk demo-data`, run as a clinic would."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from b12desk.cli import main
from b12desk.data.db import Database, open_database
from b12desk.data.models import AuditEvent, Patient, Staff
from tests.conftest import PASSWORD, Staffing

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def url(fresh_db: tuple[Database, Staffing], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    return f"sqlite:///{fresh_db[0].engine.url.database}"


def _run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _counts(url: str) -> tuple[int, int, int]:
    db = open_database(url)
    try:
        with db.sessions() as s:
            return (
                s.scalar(select(func.count()).select_from(Staff)) or 0,
                s.scalar(select(func.count()).select_from(Patient)) or 0,
                s.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            )
    finally:
        db.dispose()


def test_accounts_from_the_command_line(url: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = ("--db", url, "--user", "admin")
    code, out, _ = _run(capsys, "user", "list", *admin)
    assert code == 0 and "nurse" in out and "active" in out

    monkeypatch.setenv("B12DESK_PASSWORD", "wrong password here")
    for _ in range(5):
        code, _, err = _run(capsys, "patient", "list", "--db", url, "--user", "nurse")
        assert code == 1
    assert "locked for 5 minutes" in err
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    code, _, err = _run(capsys, "patient", "list", "--db", url, "--user", "nurse")
    assert code == 1 and "is locked for another" in err
    code, out, _ = _run(capsys, "user", "list", *admin)
    assert "locked until" in out
    assert _run(capsys, "user", "unlock", "nurse", *admin)[0] == 0
    assert _run(capsys, "patient", "list", "--db", url, "--user", "nurse")[0] == 0

    code, out, _ = _run(capsys, "user", "set-role", "manager", "pharmacist", "--reason", "cover", *admin)
    assert code == 0 and "is now a pharmacist" in out
    code, _, err = _run(capsys, "user", "disable", "admin", *admin)
    assert code == 1 and "only active administrator" in err
    code, _, err = _run(capsys, "user", "set-role", "nurse", "admin", "--db", url, "--user", "nurse")
    assert code == 1 and "may not manage staff" in err
    assert _run(capsys, "user", "disable", "nurse", "--reason", "left", *admin)[0] == 0
    code, _, err = _run(capsys, "patient", "list", "--db", url, "--user", "nurse")
    assert code == 1 and "disabled" in err
    assert _run(capsys, "user", "enable", "nurse", *admin)[0] == 0

    monkeypatch.setenv("B12DESK_NEW_PASSWORD", "tab\x07bell\x1bescape")
    code, _, err = _run(capsys, "user", "reset-password", "nurse", *admin)
    assert code == 1 and "control character" in err
    monkeypatch.setenv("B12DESK_NEW_PASSWORD", "orchard lantern brass")
    assert _run(capsys, "user", "reset-password", "nurse", *admin)[0] == 0
    monkeypatch.setenv("B12DESK_PASSWORD", "orchard lantern brass")
    monkeypatch.setenv("B12DESK_NEW_PASSWORD", "meadow copper violin")
    code, out, _ = _run(capsys, "passwd", "--db", url, "--user", "nurse")
    assert code == 0 and "changed" in out
    monkeypatch.setenv("B12DESK_PASSWORD", "meadow copper violin")
    assert _run(capsys, "patient", "list", "--db", url, "--user", "nurse")[0] == 0


def test_demo_data_needs_an_administrator_and_the_demo_database(
    url: str, capsys: Capture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hole: demo-data ran without signing in, into a real database, and made an admin/demo account."""
    small = ("--patients", "5", "--years", "1")
    code, _, err = _run(capsys, "demo-data", "--db", url, *small)
    assert code == 1 and "sign in with --user" in err
    before = _counts(url)  # after the first opening, which stores the shipped regimen templates
    code, _, err = _run(capsys, "demo-data", "--db", url, "--user", "manager", *small)
    assert code == 1 and "may not generate demo data" in err
    code, _, err = _run(capsys, "demo-data", "--db", url, "--user", "admin", *small)
    assert code == 1 and "is not the demo database" in err and "--i-know-this-is-not-the-demo" in err
    assert _counts(url) == before
    code, _, _ = _run(
        capsys, "demo-data", "--db", url, "--user", "admin", "--i-know-this-is-not-the-demo", *small
    )
    assert code == 0
    staff, patients, _ = _counts(url)
    assert staff == before[0] and patients == 5  # no account was made

    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert _run(capsys, "db", "upgrade", "--db", empty)[0] == 0
    code, _, err = _run(
        capsys, "demo-data", "--db", empty, "--user", "admin", "--i-know-this-is-not-the-demo", *small
    )
    assert code == 1 and "Unknown user name or wrong password" in err
    assert _counts(empty)[0] == 0  # still no accounts: none made outside demo mode

    monkeypatch.setenv("B12DESK_PASSWORD", "demo")
    demo = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    code, _, _ = _run(capsys, "--demo", "demo-data", "--db", demo, "--user", "admin", *small)
    assert code == 0
    staff, patients, _ = _counts(demo)
    assert staff == 5 and patients == 5  # demo mode: the demo accounts the sign-in window offers
