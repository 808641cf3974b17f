"""Patient services on SQLite and PostgreSQL: validation, permission, archive, history, labs."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from b12desk.data.models import AuditEvent, Patient
from b12desk.domain.enums import Cause, LabContext, RecordStatus
from b12desk.domain.patients import PatientInput
from b12desk.services import patients
from b12desk.services.common import Conflict, PermissionDenied, ValidationFailed
from tests.clinic_time import clinic_today
from tests.conftest import Staffing


def make_input(**overrides: object) -> PatientInput:
    values: dict[str, object] = {
        "mrn": "MRN100",
        "family_name": "Okafor",
        "given_name": "Grace",
        "date_of_birth": date(1961, 4, 9),
        "cause": Cause.PERNICIOUS_ANAEMIA,
    }
    values.update(overrides)
    return PatientInput(**values)  # type: ignore[arg-type]


def test_create_patient_is_audited_in_the_same_transaction(session: Session, staff: Staffing) -> None:
    created = patients.create_patient(session, staff.nurse, make_input(mrn=" mrn100 "))
    assert created.data.mrn == "MRN100"
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.entity == "patient", AuditEvent.entity_id == str(created.id))
    ).one()
    assert event.staff_id == staff.nurse.id
    assert event.action == "create"
    assert json.loads(event.new_values)["family_name"] == "Okafor"


def test_duplicate_mrn_is_refused_with_a_message(session: Session, staff: Staffing) -> None:
    patients.create_patient(session, staff.nurse, make_input())
    with pytest.raises(ValidationFailed) as err:
        patients.create_patient(session, staff.nurse, make_input(given_name="Other"))
    assert "already used" in err.value.errors["mrn"]


def test_future_birth_date_is_refused(session: Session, staff: Staffing) -> None:
    with pytest.raises(ValidationFailed) as err:
        patients.create_patient(
            session, staff.nurse, make_input(date_of_birth=clinic_today() + timedelta(days=1))
        )
    assert "in the future" in err.value.errors["date_of_birth"]


def test_nurse_may_not_archive(session: Session, staff: Staffing) -> None:
    p = patients.create_patient(session, staff.nurse, make_input())
    with pytest.raises(PermissionDenied):
        patients.set_archived(session, staff.nurse, p.id, archived=True, reason="moved away")
    assert session.get(Patient, p.id).archived is False  # type: ignore[union-attr]


def test_archive_needs_a_reason_and_keeps_the_record(session: Session, staff: Staffing) -> None:
    p = patients.create_patient(session, staff.nurse, make_input())
    with pytest.raises(ValidationFailed):
        patients.set_archived(session, staff.manager, p.id, archived=True, reason=" ")
    patients.set_archived(session, staff.manager, p.id, archived=True, reason="moved away")
    row = next(r for r in patients.roster(session, staff.nurse) if r.id == p.id)
    assert row.archived is True
    history = patients.patient_history(session, staff.nurse, p.id)
    assert [h.action for h in history] == ["archive", "create"]
    assert history[0].reason == "moved away"


def test_edit_records_old_and_new_values(session: Session, staff: Staffing) -> None:
    p = patients.create_patient(session, staff.nurse, make_input())
    patients.update_patient(
        session, staff.pharmacist, p.id, make_input(given_name="Gracie"), expected_version=p.version_id
    )
    latest = patients.patient_history(session, staff.nurse, p.id)[0]
    assert latest.action == "update"
    assert latest.changes == {"given_name": ("Grace", "Gracie")}


def test_stale_edit_is_refused(session: Session, staff: Staffing) -> None:
    p = patients.create_patient(session, staff.nurse, make_input())
    patients.update_patient(
        session, staff.nurse, p.id, make_input(notes="first"), expected_version=p.version_id
    )
    with pytest.raises(Conflict):
        patients.update_patient(
            session, staff.nurse, p.id, make_input(notes="second"), expected_version=p.version_id
        )


def test_b12_in_pg_per_ml_is_converted_to_pmol_per_l(session: Session, staff: Staffing) -> None:
    p = patients.create_patient(session, staff.nurse, make_input())
    lab = patients.add_lab_result(
        session,
        staff.nurse,
        p.id,
        test_code="serum_b12",
        context=LabContext.BASELINE,
        taken_on=date(2026, 1, 5),
        value_text="200",
        unit="pg/mL",
    )
    assert lab.value_canonical == Decimal("147.6")
    assert lab.canonical_unit == "pmol/L"


def test_lab_in_wrong_unit_range_is_refused(session: Session, staff: Staffing) -> None:
    p = patients.create_patient(session, staff.nurse, make_input())
    with pytest.raises(ValidationFailed) as err:
        patients.add_lab_result(
            session,
            staff.nurse,
            p.id,
            test_code="hb",
            context=LabContext.BASELINE,
            taken_on=date(2026, 1, 5),
            value_text="1300",
            unit="g/L",
        )
    assert "check the value and the unit" in err.value.errors["value"]


def test_wrong_lab_is_marked_not_deleted(session: Session, staff: Staffing) -> None:
    p = patients.create_patient(session, staff.nurse, make_input())
    lab = patients.add_lab_result(
        session,
        staff.nurse,
        p.id,
        test_code="potassium",
        context=LabContext.FOLLOW_UP,
        taken_on=date(2026, 1, 5),
        value_text="4.1",
        unit="mmol/L",
    )
    patients.mark_lab_entered_in_error(session, staff.nurse, lab.id, reason="wrong patient")
    rows = patients.list_labs(session, staff.nurse, p.id)
    assert [r.status for r in rows] == [RecordStatus.ENTERED_IN_ERROR]


def test_results_are_banded_by_the_clinics_own_laboratory_once_entered(
    session: Session, staff: Staffing
) -> None:
    from b12desk.services import clinic

    pid = patients.create_patient(session, staff.nurse, make_input()).id
    lab = patients.add_lab_result(
        session,
        staff.nurse,
        pid,
        test_code="serum_b12",
        context=LabContext.BASELINE,
        taken_on=date(2026, 1, 5),
        value_text="190",
        unit="ng/L",
    )
    assert lab.band == "indeterminate" and "second-line test" in lab.band_advice  # NG239: 180 to 350

    local = clinic.shipped_lab_bands_raw() | {"laboratory": "City Hospital biochemistry"}
    local["tests"] = dict(local["tests"]) | {
        "serum_b12": {
            "unit": "ng/L",
            "deficient_below": 200,
            "indeterminate_below": 300,
            "advice": "Ask for MMA.",
        }
    }
    with pytest.raises(PermissionDenied):
        clinic.set_lab_bands(session, staff.nurse, local, reason="local ranges")
    with pytest.raises(ValidationFailed) as refused:
        clinic.set_lab_bands(session, staff.pharmacist, local, reason=" ")
    assert "reason" in refused.value.errors
    clinic.set_lab_bands(session, staff.pharmacist, local, reason="City Hospital's own ranges")
    (row,) = patients.list_labs(session, staff.nurse, pid)
    assert (row.band, row.band_advice) == ("deficient", "")
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.entity == "clinic_setting").order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and event.reason == "City Hospital's own ranges"
    assert json.loads(event.new_values)["value"]["laboratory"] == "City Hospital biochemistry"


def test_self_injection_training_needs_its_date_and_trainer(session: Session, staff: Staffing) -> None:
    today = clinic_today()
    with pytest.raises(ValidationFailed) as no_trainer:
        patients.create_patient(session, staff.nurse, make_input(self_injection_trained_on=today))
    assert "Name who trained" in no_trainer.value.errors["self_injection_trainer"]
    with pytest.raises(ValidationFailed) as no_date:
        patients.create_patient(session, staff.nurse, make_input(self_injection_trainer="Nurse A"))
    assert "date the patient was trained" in no_date.value.errors["self_injection_trained_on"]
    with pytest.raises(ValidationFailed) as future:
        patients.create_patient(
            session,
            staff.nurse,
            make_input(self_injection_trained_on=today + timedelta(days=1), self_injection_trainer="Nurse A"),
        )
    assert "in the future" in future.value.errors["self_injection_trained_on"]
    saved = patients.create_patient(
        session, staff.nurse, make_input(self_injection_trained_on=today, self_injection_trainer="Nurse A")
    )
    assert (saved.data.self_injection_trained_on, saved.data.self_injection_trainer) == (today, "Nurse A")
