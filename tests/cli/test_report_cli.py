"""`b12desk report patient MRN -o FILE.pdf` on a real SQLite file: the record written and audited, and
clear one-line messages (never a traceback, never a file) for an unknown MRN, no sign-in, an unwritable
path."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from b12desk.cli_report import add_report_parser, cmd_report
from b12desk.data.db import Database, open_database
from b12desk.data.models import AuditEvent
from b12desk.services import administrations as adm
from tests.conftest import PASSWORD, Staffing
from tests.services.dose_world import CLOCK, World, make_world

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def clinic_db(
    fresh_db: tuple[Database, Staffing], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, World]:
    db, staff = fresh_db
    with db.sessions.begin() as s:
        world = make_world(s, staff)
        adm.record_dose(s, staff.nurse, world.request(), clock=CLOCK)
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    return f"sqlite:///{tmp_path / 'b12desk.sqlite3'}", world


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="b12desk")
    add_report_parser(parser.add_subparsers(dest="command"))
    return cmd_report(parser.parse_args(argv))


def text_of(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def exports(url: str) -> int:
    db = open_database(url)
    with db.sessions.begin() as s:
        return len(s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all())


def test_the_record_is_written_and_audited(
    clinic_db: tuple[str, World], tmp_path: Path, capsys: Capture
) -> None:
    url, _ = clinic_db
    out = tmp_path / "record.pdf"
    assert run(["report", "patient", "p1", "-o", str(out), "--db", url, "--user", "nurse"]) == 0
    said = capsys.readouterr().out
    assert "Wrote the treatment record of REID, Ann (P1) on 2 page(s)" in said and str(out) in said
    text = text_of(out)
    assert "REID, Ann" in text and "left ventrogluteal" in text and "Page 1 of 2" in text
    assert "Nurse" in text  # the signer: the signed-in user's full name
    assert exports(url) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE"], "No patient with MRN NOPE."),
        (["p1", "--user", ""], "sign in with --user"),
    ],
)
def test_clear_messages_never_a_traceback(
    clinic_db: tuple[str, World], tmp_path: Path, capsys: Capture, args: list[str], message: str
) -> None:
    url, _ = clinic_db
    out = tmp_path / "x.pdf"
    argv = ["report", "patient", *args[:1], "-o", str(out), "--db", url, "--user", "nurse", *args[1:]]
    assert run(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not out.exists()
    assert exports(url) == 0


def test_an_unwritable_path_is_said_plainly(
    clinic_db: tuple[str, World], tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = clinic_db
    base = ["report", "patient", "P1", "--db", url, "--user", "nurse"]
    assert run([*base, "-o", str(tmp_path / "missing" / "x.pdf")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert run([*base, "-o", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)  # root may write anywhere here: stand in for a share
    assert run([*base, "-o", str(tmp_path / "x.pdf")]) == 1
    err = capsys.readouterr().err
    assert f"Cannot write {tmp_path / 'x.pdf'}: Permission denied." in err and "Traceback" not in err
    assert not (tmp_path / "x.pdf").exists()
    assert exports(url) == 0  # the audit event went with the failed transaction


def test_runs_as_a_module(clinic_db: tuple[str, World], tmp_path: Path) -> None:
    url, _ = clinic_db
    out = tmp_path / "m.pdf"
    argv = ["report", "patient", "P1", "-o", str(out), "--db", url, "--user", "nurse"]
    done = subprocess.run(
        [sys.executable, "-m", "b12desk.cli_report", *argv],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.exists()
