"""`b12desk labels KIND ... -o FILE.pdf` on a real SQLite file: each kind, the layout and start position,
and clear messages (not tracebacks) for an unknown id, a start beyond the sheet, an unwritable path."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from b12desk.cli_labels import add_labels_parser, cmd_labels
from b12desk.data.db import Database
from b12desk.services import administrations as adm
from tests.conftest import PASSWORD, Staffing
from tests.services.dose_world import CLOCK, World, make_world

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def clinic_db(
    fresh_db: tuple[Database, Staffing], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, World, int]:
    """The dose world committed to a file: its URL, the world's ids and one recorded dose's id."""
    db, staff = fresh_db
    with db.sessions.begin() as s:
        world = make_world(s, staff)
        dose = adm.record_dose(s, staff.nurse, world.request(), clock=CLOCK).id
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    return f"sqlite:///{tmp_path / 'b12desk.sqlite3'}", world, dose


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="b12desk")
    add_labels_parser(parser.add_subparsers(dest="command"))
    return cmd_labels(parser.parse_args(argv))


def text_of(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_each_kind_writes_its_pdf(clinic_db: tuple[str, World, int], tmp_path: Path, capsys: Capture) -> None:
    url, w, dose = clinic_db
    base = ["--db", url, "--user", "nurse"]
    cases = [
        (["syringe", "--administration", str(dose)], "1,000 mcg in 1 mL"),
        (["vial", "--vial", str(w.vial_id)], "DISCARD BY"),
        (["card", "--patient", "p1"], "Clinic phone not set"),
        (["lot", "--lot", str(w.ampoule_lot_id)], "LOT H1"),
        (["lot", "--product", str(w.ampoule_id)], "1 mL ampoule, Cobalin-H"),
    ]
    for n, (args, expected) in enumerate(cases):
        out = tmp_path / f"{n}.pdf"
        assert run(["labels", *args, "-o", str(out), *base]) == 0, capsys.readouterr().err
        assert expected in text_of(out)
        assert f"to {out}" in capsys.readouterr().out


def test_layout_start_and_copies(clinic_db: tuple[str, World, int], tmp_path: Path, capsys: Capture) -> None:
    url, _, dose = clinic_db
    out = tmp_path / "s.pdf"
    args = ["labels", "syringe", "--administration", str(dose), "--layout", "letter-30", "--start", "29"]
    assert run([*args, "--copies", "3", "-o", str(out), "--db", url, "--user", "nurse"]) == 0
    assert "Wrote 3 label(s) on 2 page(s)" in capsys.readouterr().out
    assert "612 x 792" in subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["syringe", "--administration", "424242"], "No dose record with id 424242."),
        (["vial", "--vial", "424242"], "No opened vial with id 424242."),
        (["card", "--patient", "NOPE"], "No patient with MRN NOPE."),
        (["lot", "--lot", "424242"], "No lot with id 424242."),
        (["lot", "--product", "424242"], "No product with id 424242."),
        (
            ["syringe", "--administration", "1", "--start", "22"],
            "Start position 22 is beyond the A4 sheet of 21",
        ),
        (["syringe", "--administration", "1", "--layout", "roll-57x32", "--start", "2"], "one label a page"),
    ],
)
def test_clear_messages_never_a_traceback(
    clinic_db: tuple[str, World, int], tmp_path: Path, capsys: Capture, args: list[str], message: str
) -> None:
    url = clinic_db[0]
    out = tmp_path / "x.pdf"
    assert run(["labels", *args, "-o", str(out), "--db", url, "--user", "nurse"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_an_unwritable_path_is_said_plainly(
    clinic_db: tuple[str, World, int], tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, dose = clinic_db
    base = ["labels", "syringe", "--administration", str(dose), "--db", url, "--user", "nurse"]
    assert run([*base, "-o", str(tmp_path / "missing" / "x.pdf")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert run([*base, "-o", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err

    def refuse(self: Path, data: bytes) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", refuse)  # root may write anywhere here: stand in for a share
    assert run([*base, "-o", str(tmp_path / "x.pdf")]) == 1
    err = capsys.readouterr().err
    assert f"Cannot write {tmp_path / 'x.pdf'}: Permission denied." in err and "Traceback" not in err


def test_sign_in_and_permission_are_required(
    clinic_db: tuple[str, World, int], tmp_path: Path, capsys: Capture
) -> None:
    url, w, _ = clinic_db
    out = tmp_path / "v.pdf"
    assert run(["labels", "vial", "--vial", str(w.vial_id), "-o", str(out), "--db", url]) == 1
    assert "sign in with --user" in capsys.readouterr().err
    assert (
        run(["labels", "vial", "--vial", str(w.vial_id), "-o", str(out), "--db", url, "--user", "manager"])
        == 1
    )
    assert "may not manage stock" in capsys.readouterr().err
    assert not out.exists()
