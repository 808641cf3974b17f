"""A patient import of several batches is whole or absent, and its audit events chain like single ones."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from b12desk.data.audit import verify_chain
from b12desk.data.models import AuditEvent, Patient
from b12desk.domain.patients import PatientInput
from b12desk.services import imports, patients
from b12desk.services.common import ValidationFailed
from tests.conftest import Staffing

ROWS = 2 * patients.BULK_BATCH + 500  # three batches, the last one short


def letters(n: int) -> str:
    """A name for row n (names may not hold digits): 0 -> Aaaa, 1 -> Aaab, ..."""
    out = ""
    for _ in range(4):
        n, k = divmod(n, 26)
        out = chr(ord("a") + k) + out
    return out.capitalize()


def write_csv(path: Path, count: int, *, prefix: str = "BULK") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["mrn", "family_name", "given_name", "date_of_birth", "cause"])
        for n in range(count):
            mrn = f"{prefix}{n:06d}"
            writer.writerow(
                [mrn, "Family" + letters(n).lower(), letters(n), "1960-01-31", "pernicious_anaemia"]
            )
    return path


def counts(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Patient)) or 0,
        session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


def test_an_import_of_several_batches_writes_every_patient_and_a_valid_chain(
    session: Session, staff: Staffing, tmp_path: Path
) -> None:
    before_patients, before_events = counts(session)
    seen: list[int] = []
    report = imports.import_patients(
        session,
        staff.admin,
        write_csv(tmp_path / "many.csv", ROWS),
        dry_run=False,
        progress=lambda done, total, text: seen.append(done),
    )
    assert report.imported == ROWS and report.ok
    assert counts(session) == (before_patients + ROWS, before_events + ROWS + 1)  # one each, one for the file
    assert [n for n in seen if n] == [2000, 4000, ROWS]  # progress after each batch
    row = session.scalars(select(Patient).where(Patient.mrn == "BULK004321")).one()
    assert (row.family_name, row.given_name, str(row.date_of_birth)) == (
        "Family" + letters(4321).lower(),
        letters(4321),
        "1960-01-31",
    )
    assert verify_chain(session).ok


def test_cancelling_after_two_batches_leaves_nothing(
    session: Session, staff: Staffing, tmp_path: Path
) -> None:
    before = counts(session)

    class Cancelled(Exception):
        pass

    def progress(done: int, total: int, text: str) -> None:
        if done >= 2 * patients.BULK_BATCH:
            raise Cancelled

    with pytest.raises(Cancelled), session.begin_nested():
        imports.import_patients(
            session, staff.admin, write_csv(tmp_path / "c.csv", ROWS), dry_run=False, progress=progress
        )
    assert counts(session) == before


def test_a_clash_in_the_last_batch_removes_the_batches_before_it(session: Session, staff: Staffing) -> None:
    """As when another workstation saves one of the file's MRNs between validation and writing."""
    before = counts(session)
    rows = [
        PatientInput(mrn=f"RACE{n:06d}", family_name="Reid", given_name="Ann", date_of_birth=date(1950, 1, 1))
        for n in range(ROWS)
    ]
    rows[-1] = rows[0]  # the same MRN again, in the third batch: the database refuses it
    with pytest.raises(ValidationFailed) as refused, session.begin_nested():
        patients.create_patients(session, staff.admin, rows)
    assert "nothing was imported" in refused.value.errors["mrn"]
    assert counts(session) == before
    assert session.scalar(select(func.count()).where(Patient.mrn.like("RACE%"))) == 0


def test_an_mrn_saved_between_the_check_and_the_write_refuses_the_whole_import(
    session: Session, staff: Staffing, tmp_path: Path
) -> None:
    """The file is checked in a reader's transaction, written in a writer's: the write checks again."""
    checked = imports.validate_file(session, staff.admin, write_csv(tmp_path / "r.csv", 50, prefix="LATE"))
    assert checked.rows_read == 50 and not checked.problems
    patients.create_patient(
        session,
        staff.nurse,
        PatientInput(mrn="LATE000049", family_name="Reid", given_name="Ann", date_of_birth=date(1950, 1, 1)),
    )
    before = counts(session)
    with pytest.raises(ValidationFailed) as refused, session.begin_nested():
        imports.write_validated(session, staff.admin, checked)
    assert "LATE000049" in refused.value.errors["import"] and "nothing was imported" in str(refused.value)
    assert counts(session) == before
