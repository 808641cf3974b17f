"""The patient's History dialog: their plans and doses beside their record, in plain words."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from PySide6.QtWidgets import QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import update

from b12desk.data.db import Database
from b12desk.data.models import Patient
from b12desk.domain.enums import Container, Formulation, InjectionSite, Route
from b12desk.services import administrations, patients, plans
from b12desk.services import inventory as inv
from b12desk.services.patients import HistoryEntry
from b12desk.ui.history_dialog import HistoryDialog, action_text, changes_text
from tests.clinic_time import clinic_today
from tests.conftest import PASSWORD, Staffing
from tests.ui.conftest import AddPatient, MakeContext


def _verified_plan_with_two_doses(db: Database, staff: Staffing, patient_id: int) -> None:
    start = clinic_today() - timedelta(days=7)
    with db.sessions.begin() as s:
        plans.ensure_shipped_templates(s)
        t = next(t for t in plans.list_templates(s, staff.admin) if t.code == "uk_hoc_no_neuro")
        plan = plans.create_plan(
            s,
            staff.pharmacist,
            patient_id,
            plans.PlanInput(t.id, t.formulation, Decimal(1000), Route.IM, start, "Dr A. Shah"),
        )
        plan = plans.verify_plan(
            s, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id
        )
        product = inv.create_product(
            s,
            staff.pharmacist,
            inv.ProductInput(
                formulation=Formulation.HYDROXOCOBALAMIN,
                manufacturer="Advanz",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.AMPOULE,
                volume_ml=Decimal(1),
            ),
        )
        lot = inv.receive_stock(
            s,
            staff.nurse,
            product_id=product.id,
            lot_number="H1234",
            expiry=clinic_today() + timedelta(days=300),
            quantity=10,
        )
        for day, site in ((0, InjectionSite.DELTOID_LEFT), (2, InjectionSite.DELTOID_RIGHT)):
            administrations.record_dose(
                s,
                staff.nurse,
                administrations.DoseRequest(
                    patient_id=patient_id,
                    plan_id=plan.id,
                    given_at=datetime.combine(start + timedelta(days=day), time(10), UTC),
                    dose_mcg=Decimal(1000),
                    site=site,
                    product_id=product.id,
                    lot_id=lot.id,
                ),
                acknowledged={"backdated": "entered from the paper record"},
                password=PASSWORD,
            )
        s.execute(
            update(Patient)
            .where(Patient.id == patient_id)
            .values(self_injection_trained_on=start, self_injection_trainer="Nurse A")
        )
        inv.supply_home(s, staff.nurse, patient_id=patient_id, lot_id=lot.id, quantity=2)


def test_history_shows_the_plan_written_verified_and_the_doses_given_in_plain_words(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    qtmodeltester: ModelTester,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    _verified_plan_with_two_doses(db, staff, pid)
    with db.sessions() as s:
        row = next(r for r in patients.roster(s, staff.nurse) if r.id == pid)
    dialog = HistoryDialog(make_ctx(staff.nurse), row, parent=host)
    dialog.show()
    m = dialog.model
    rows = [[m.data(m.index(r, c)) for c in range(m.columnCount())] for r in range(m.rowCount())]
    assert [(r[1], r[2]) for r in rows] == [
        ("nurse", "Supplied to take home"),
        ("nurse", "Dose given"),
        ("nurse", "Dose given"),
        ("pharmacist2", "Plan verified"),
        ("pharmacist", "Plan written (draft)"),
        ("nurse", "Created"),
    ]
    assert all(r[0] for r in rows)  # when
    assert rows[0][3] == "Containers: 2\nLot: H1234" and rows[0][4].startswith("Supplied to H1")
    rows = rows[1:]
    last_dose = rows[0][3]
    assert last_dose.splitlines()[:4] == ["Outcome: Given", "Dose: 1,000 mcg", "Volume: 1 mL", "Route: IM"]
    assert "Site: right deltoid" in last_dose and "Lot: H1234" in last_dose
    assert "Warnings accepted: backdated (entered from the paper record)" in last_dose
    assert "Patient" not in last_dose and "Product" not in last_dose and "_" not in last_dose
    written = rows[3][3]
    assert "Template: Hydroxocobalamin 1 mg, no neurological involvement (BNF) (v1)" in written
    assert "Dose: 1,000 mcg" in written and "Prescriber: Dr A. Shah" in written
    assert "Route: IM" in written and "_" not in written
    assert "Status: Draft – not verified → Verified" in rows[2][3]
    qtmodeltester.check(m)
    dialog.resize(1100, 640)
    dialog.grab().save("/tmp/b_history.png")


def _entry(action: str, reason: str = "", **changes: tuple[object, object]) -> HistoryEntry:
    return HistoryEntry(datetime(2026, 12, 1, 10, tzinfo=UTC), "nurse", action, dict(changes), reason)


def test_corrections_supplies_and_plan_ends_read_in_plain_words() -> None:
    amend = _entry(
        "dose amend",
        "other arm",
        site=("deltoid_left", "deltoid_right"),
        note=("", "arm was bruised"),
        replaced_by=(None, 7),
    )
    assert action_text(amend) == "Dose corrected"
    assert changes_text(amend) == "Site: left deltoid → right deltoid\nNote: (empty) → arm was bruised"
    error = _entry(
        "dose entered_in_error",
        status=("current", "entered_in_error"),
        stock=(None, "1 ampoule returned to lot H1"),
    )
    assert action_text(error) == "Dose marked entered in error"
    assert changes_text(error) == "Status: Current → Entered in error\nStock: 1 ampoule returned to lot H1"
    supply = _entry(
        "supply supplied_home",
        containers=(None, -2),
        lot=(None, "H1"),
        movement=(None, 12),
        patient=(None, 3),
        vial=(None, None),
    )
    assert action_text(supply) == "Supplied to take home"
    assert changes_text(supply) == "Containers: 2\nLot: H1"
    stop = _entry("plan stop", "moved away", status=("active", "stopped"))
    assert (action_text(stop), changes_text(stop)) == ("Plan stopped", "Status: Active → Stopped")
    refused = _entry(
        "dose create", outcome=(None, "refused"), dose_mcg=(None, "1000"), external=(None, False)
    )
    assert action_text(refused) == "Dose refused"
    assert changes_text(refused) == "Outcome: Refused by the patient\nDose: 1,000 mcg"
    elsewhere = _entry("dose create", outcome=(None, "given"), external=(None, True))
    assert action_text(elsewhere) == "Dose given elsewhere (entered here)"
