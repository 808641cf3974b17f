"""`b12desk export`: a workbook written for a manager, and plain messages for everything that can go wrong."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from b12desk.cli_export import KINDS, main
from b12desk.data.db import open_database
from b12desk.data.models import AuditEvent
from b12desk.services.reports import ReportKind
from tests.clinic_time import clinic_today
from tests.conftest import PASSWORD, Staffing

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def db_url(fresh_db: tuple[object, Staffing], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("B12DESK_PASSWORD", PASSWORD)
    return f"sqlite:///{tmp_path / 'b12desk.sqlite3'}"


def test_the_kinds_named_are_the_reports() -> None:
    assert list(KINDS) == [k.value for k in ReportKind]


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_is_written_and_audited(kind: str, db_url: str, tmp_path: Path, capsys: Capture) -> None:
    out = tmp_path / f"{kind}.xlsx"
    today = clinic_today()
    args = ["export", kind, "--from", str(today - timedelta(days=7)), "--to", str(today), "-o", str(out)]
    assert main([*args, "--db", db_url, "--user", "manager"]) == 0
    said = capsys.readouterr()
    assert said.out.startswith("Wrote ") and str(out) in said.out and said.err == ""
    wb = load_workbook(out)
    assert wb.sheetnames[0] == "Parameters"
    params = {r[0]: r[1] for r in wb["Parameters"].iter_rows(min_row=2, values_only=True)}
    assert params["Exported by"] == "Manager (manager, manager)"
    db = open_database(db_url)
    try:
        with db.readers() as s:
            event = s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
        assert (event.entity, event.entity_id) == ("report", kind)
    finally:
        db.dispose()


def test_default_period_is_the_last_30_days(db_url: str, tmp_path: Path, capsys: Capture) -> None:
    out = tmp_path / "a.xlsx"
    assert main(["export", "administrations", "-o", str(out), "--db", db_url, "--user", "admin"]) == 0
    today = clinic_today()
    assert f"from {today - timedelta(days=29)} to {today}: 0 rows" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["export", "sales", "-o", "{tmp}/x.xlsx"], 2, "'sales' is not a report; use one of administrations"),
        (["export", "usage", "--from", "2026-13-01", "-o", "{tmp}/x.xlsx"], 2, "--from: 2026-13-01 is not"),
        (["export", "usage", "--to", "yesterday", "-o", "{tmp}/x.xlsx"], 2, "--to: 'yesterday' is not"),
        (
            ["export", "usage", "--from", "2026-03-02", "--to", "2026-03-01", "-o", "{tmp}/x.xlsx"],
            1,
            "swap the dates",
        ),
        (["export", "usage", "-o", "{tmp}/x.csv"], 2, "ending in .xlsx"),
        (["export", "usage", "-o", "{tmp}/missing/x.xlsx"], 1, "the folder"),
    ],
)
def test_mistakes_are_said_plainly_and_nothing_is_written(
    args: list[str], code: int, message: str, db_url: str, tmp_path: Path, capsys: Capture
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main([*argv, "--db", db_url, "--user", "manager"]) == code
    err = capsys.readouterr().err
    assert err.startswith("b12desk: ") and message in err and "Traceback" not in err
    assert not [p for p in tmp_path.rglob("*") if ".xlsx" in p.name or p.suffix == ".csv"]


def test_a_nurse_is_refused(db_url: str, tmp_path: Path, capsys: Capture) -> None:
    out = tmp_path / "x.xlsx"
    assert main(["export", "due", "-o", str(out), "--db", db_url, "--user", "nurse"]) == 1
    assert "A nurse may not export reports" in capsys.readouterr().err
    assert not out.exists()


def test_sign_in_is_needed(db_url: str, tmp_path: Path, capsys: Capture) -> None:
    assert main(["export", "due", "-o", str(tmp_path / "x.xlsx"), "--db", db_url]) == 1
    assert "sign in with --user" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, which nobody may write")
def test_an_unwritable_folder_is_refused_without_traceback(db_url: str) -> None:
    command = [sys.executable, "-m", "b12desk.cli_export", "export", "inventory", "-o", "/proc/x.xlsx"]
    result = subprocess.run(
        [*command, "--db", db_url, "--user", "manager"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("b12desk: Cannot write /proc/x.xlsx: ")
    assert "Traceback" not in result.stderr
