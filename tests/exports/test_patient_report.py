"""The patient's treatment record as a PDF: what it shows (patient, verification and its meaning, every
dose's site, lot and nurse, corrections with their reason, labs, page N of M), that its length grows in
proportion to the record, the audit event of the export, and that a refusal writes nothing. The PDFs are
read with poppler's pdftotext and pdfinfo."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from b12desk.data.models import AuditEvent
from b12desk.domain.enums import InjectionSite, LabContext, RecordStatus, Role
from b12desk.exports.patient_report import write_patient_record
from b12desk.exports.xlsx import ExportFailed
from b12desk.services import administrations as adm
from b12desk.services import patients
from b12desk.services.common import Actor, NotFound, PermissionDenied
from b12desk.services.patient_record import PatientRecord, RecordDose, patient_record
from tests.conftest import PASSWORD, Staffing
from tests.services.dose_world import CLOCK, NOW, World, at, make_world


def pdf_text(path: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(
        ["pdftotext", "-layout", *pages, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_pages(path: Path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line for line in out.splitlines() if line.startswith("Pages:")).split()[1])


@pytest.fixture
def world(session: Session, staff: Staffing) -> World:
    """The dose world with three doses: one kept, one corrected (wrong site), one entered in error; and
    haemoglobin and serum B12 results, one of them entered in error."""
    w = make_world(session, staff)
    s, nurse = w.session, staff.nurse
    first = adm.record_dose(s, nurse, w.request(), clock=CLOCK)
    adm.amend_administration(
        s,
        nurse,
        first.id,
        reason="Site recorded on the wrong side <left/right>",
        site=InjectionSite.VENTROGLUTEAL_RIGHT,
        clock=at(NOW + timedelta(minutes=20)),
    )
    later = NOW + timedelta(days=2)
    second = adm.record_dose(
        s, nurse, w.request(given_at=later, site=InjectionSite.DELTOID_LEFT), clock=at(later)
    )
    adm.mark_entered_in_error(
        s, nurse, second.id, reason="Recorded for the wrong patient", password=PASSWORD, clock=at(later)
    )
    third_at = NOW + timedelta(days=4)
    adm.record_dose(
        s,
        nurse,
        w.vial_request(given_at=third_at, site=InjectionSite.VASTUS_LATERALIS_LEFT),
        clock=at(third_at),
    )
    for code, context, day, value, unit in (
        ("hb", LabContext.BASELINE, date(2026, 11, 20), "98", "g/L"),
        ("serum_b12", LabContext.BASELINE, date(2026, 11, 20), "110", "ng/L"),
        ("hb", LabContext.FOLLOW_UP, date(2026, 12, 4), "112", "g/L"),
    ):
        patients.add_lab_result(
            s,
            nurse,
            w.patient_id,
            test_code=code,
            context=context,
            taken_on=day,
            value_text=value,
            unit=unit,
            clock=at(third_at),
        )
    wrong = patients.add_lab_result(
        s,
        nurse,
        w.patient_id,
        test_code="hb",
        context=LabContext.FOLLOW_UP,
        taken_on=date(2026, 12, 4),
        value_text="21",
        unit="g/L",
        clock=at(third_at),
    )
    patients.mark_lab_entered_in_error(s, nurse, wrong.id, reason="Typed 21 for 121")
    return w


def record_of(w: World) -> PatientRecord:
    return patient_record(w.session, w.staff.nurse, w.patient_id, clock=at(NOW + timedelta(days=5)))


def test_the_record_shows_patient_plan_doses_corrections_and_labs(world: World, tmp_path: Path) -> None:
    record = record_of(world)
    assert [d.status for d in record.doses] == [
        RecordStatus.AMENDED,
        RecordStatus.CURRENT,
        RecordStatus.ENTERED_IN_ERROR,
        RecordStatus.CURRENT,
    ]
    out = tmp_path / "record.pdf"
    pages = write_patient_record(out, record, signer="Nora Nurse")
    assert pages == pdf_pages(out)
    text = pdf_text(out)
    flat = " ".join(text.split())
    assert "REID, Ann" in text and "MRN P1" in text and "DOB 5 May 1950" in text
    assert "Pernicious anaemia" in text
    plan = record.plans[0]
    assert plan.verified_by == "Pharmacist2" and plan.verification_meaning
    assert "Pharmacist2" in text and " ".join(plan.verification_meaning.split()) in flat
    for site in ("left ventrogluteal", "right ventrogluteal", "left deltoid", "left vastus lateralis"):
        assert site in text
    assert "Cobalin-H" in text and "Actavis" in text
    for lot in ("H1", "A1"):
        assert f" {lot} " in text
    assert "1,000 mcg (1 mL)" in text and "Nurse" in text
    assert "Site recorded on the wrong side <left/right>" in flat  # escaped in, read back as typed
    assert "Corrected by Nurse" in flat and "Entered in error by Nurse" in flat
    assert "Recorded for the wrong patient" in flat
    assert "Haemoglobin" in text and "Serum B12" in text and "Typed 21 for 121" in flat
    assert f"Page 1 of {pages}" in pdf_text(out, 1)
    assert f"Page {pages} of {pages}" in pdf_text(out, pages)
    assert "Printed 6 Dec 2026 10:00" in text
    assert "Reviewed by" in text and "Nora Nurse" in text and "Date and time" in text and "Meaning" in text


def test_the_export_is_audited_in_the_callers_transaction(world: World) -> None:
    record_of(world)
    event = world.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export", AuditEvent.entity == "patient")
    ).one()
    assert event.entity_id == str(world.patient_id) and event.staff_id == world.staff.nurse.id


def test_a_refused_or_unknown_patient_writes_no_file(world: World, tmp_path: Path) -> None:
    gone = Actor(id=987654, username="gone", full_name="Gone", role=Role.NURSE)
    out = tmp_path / "record.pdf"
    with pytest.raises(PermissionDenied):
        write_patient_record(out, patient_record(world.session, gone, world.patient_id))
    with pytest.raises(NotFound):
        write_patient_record(out, patient_record(world.session, world.staff.nurse, 424242))
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_target_is_said_plainly_and_leaves_nothing(world: World, tmp_path: Path) -> None:
    record = record_of(world)
    with pytest.raises(ExportFailed, match="does not exist"):
        write_patient_record(tmp_path / "missing" / "r.pdf", record)
    with pytest.raises(ExportFailed, match="is a folder"):
        write_patient_record(tmp_path, record)
    assert list(tmp_path.iterdir()) == []


def many_doses(record: PatientRecord, n: int) -> tuple[RecordDose, ...]:
    """n dose records made from the first, a week apart, every tenth one corrected: cheap, no database."""
    base = record.doses[1]
    return tuple(
        replace(
            base,
            id=10_000 + i,
            given_at=base.given_at + timedelta(days=7 * i),
            lot=f"L{i:05d}",
            status=RecordStatus.AMENDED if i % 10 == 0 else RecordStatus.CURRENT,
            reason="Wrong site" if i % 10 == 0 else "",
            corrected_by="Nurse" if i % 10 == 0 else "",
            dose_mcg=Decimal(1000),
        )
        for i in range(n)
    )


def test_a_long_record_grows_in_proportion(world: World) -> None:
    record = record_of(world)

    def pages(n: int) -> int:
        return write_patient_record(io.BytesIO(), replace(record, doses=many_doses(record, n)))

    base, short, long = pages(0), pages(200), pages(2000)
    per_short = (short - base) / 200
    per_long = (long - base) / 2000
    assert long > 40
    assert abs(per_long - per_short) / per_short < 0.1, (base, short, long)


def test_text_is_escaped_not_read_as_markup(world: World, tmp_path: Path) -> None:
    record = record_of(world)
    patient = replace(record.patient, allergies="Penicillin & <b>latex</b>", name="O'NEIL & SONS, <Ann>")
    out = tmp_path / "r.pdf"
    write_patient_record(out, replace(record, patient=patient))
    flat = " ".join(pdf_text(out).split())
    assert "Allergies: Penicillin & <b>latex</b>" in flat and "O'NEIL & SONS, <Ann>" in flat
