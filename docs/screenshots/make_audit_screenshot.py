"""Grab the audit trail viewer (Tools > Audit trail…) to audit_viewer.png in this folder, at 1024 x 700, from
a demo clinic on which the staff have since worked through the services: records edited with a reason,
a patient archived, a lab result and a dose corrected, settings changed, a report exported.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_audit_screenshot.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import timedelta

from _shots import prepare, save

WORK = prepare("b12desk-audit-shots-")

from PySide6.QtWidgets import QApplication  # noqa: E402

from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.domain.enums import InjectionSite, LabContext  # noqa: E402
from b12desk.services import administrations as adm  # noqa: E402
from b12desk.services import auth, clinic, demo_data, patients, reports  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.audit_viewer import AuditViewerDialog  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402

ops.WAIT_FOR_RESULTS = True


def work_on(db_url: str) -> None:
    """A morning's audited work on top of the demo clinic, by several people."""
    db = open_database(db_url)
    migrate.upgrade(db, backup_dir=None)
    demo_data.generate(db, patients=60, years=2, seed=1, create_demo_users=True)
    with db.sessions.begin() as s:

        def sign_in(name: str) -> auth.Actor:
            return auth.authenticate(s, username=name, password=DEMO_PASSWORD)

        nurse, pharmacist, manager = sign_in("nurse"), sign_in("pharmacist"), sign_in("manager")
        admin = sign_in("admin")
        roster = patients.roster(s, manager)
        first, second, third = roster[3], roster[7], roster[11]

        detail = patients.get_patient(s, nurse, first.id)
        patients.update_patient(
            s,
            nurse,
            first.id,
            replace(detail.data, phone="07700 900123", allergies="Elastoplast (blisters)"),
            expected_version=detail.version_id,
            reason="New mobile number and an allergy the patient mentioned today",
        )
        lab = patients.add_lab_result(
            s,
            nurse,
            first.id,
            test_code="serum_b12",
            context=LabContext.FOLLOW_UP,
            taken_on=clinic.clinic_clock(s).today() - timedelta(days=3),
            value_text="412",
            unit="ng/L",
        )
        patients.mark_lab_entered_in_error(s, nurse, lab.id, reason="Result belonged to another patient")
        doses = [
            a
            for a in adm.patient_administrations(s, nurse, second.id)
            if a.outcome.value == "given" and not a.external
        ]
        if len(doses) >= 2:
            adm.amend_administration(
                s,
                nurse,
                doses[0].id,
                reason="Site written on the wrong side",
                site=InjectionSite.DELTOID_LEFT
                if doses[0].site != InjectionSite.DELTOID_LEFT
                else InjectionSite.DELTOID_RIGHT,
            )
            adm.mark_entered_in_error(
                s, nurse, doses[1].id, reason="Recorded against the wrong patient", password=DEMO_PASSWORD
            )
        clinic.set_clinic_contact(s, admin, name="Riverside B12 Clinic", phone="020 7946 0000")
        detail = patients.get_patient(s, pharmacist, third.id)
        patients.update_patient(
            s,
            pharmacist,
            third.id,
            replace(detail.data, notes="Prefers afternoon appointments"),
            expected_version=detail.version_id,
        )
        patients.set_archived(s, manager, roster[15].id, archived=True, reason="Moved out of the area")
        today = clinic.clinic_clock(s).today()
        reports.record_export(
            s,
            manager,
            reports.ReportKind.ADMINISTRATIONS,
            reports.ReportParameters(today - timedelta(days=29), today),
            rows=1843,
            file_name=f"b12desk-administrations-{today.isoformat()}.xlsx",
        )
        # The edit the screenshot opens on: a manager updates contact details, with a reason.
        detail = patients.get_patient(s, manager, first.id)
        patients.update_patient(
            s,
            manager,
            first.id,
            replace(
                detail.data,
                phone="020 7946 0312",
                email="new.address@example.org",
                address="Flat 2, 14 Mill Lane, Riverside RV1 4AB",
            ),
            expected_version=detail.version_id,
            reason="Moved house: details from the GP's letter of 28 November",
        )
    db.dispose()


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    url = f"sqlite:///{WORK / 'demo.sqlite3'}"
    work_on(url)
    db = open_database(url)
    with db.sessions.begin() as s:
        manager = auth.authenticate(s, username="manager", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)
    ctx = AppContext(db=db, actor=manager, demo=True, bus=DataBus(), clock=clock)
    dialog = AuditViewerDialog(ctx)
    dialog.resize(1024, 700)
    dialog.show()
    save(dialog, "audit_viewer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
