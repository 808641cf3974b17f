"""Render a patient's treatment record to PDF, then its first two pages to PNG files in this folder with
pdftoppm: patient_record_p1.png (patient, flags, plan and verification, the dose table with a corrected
and an entered-in-error record struck through) and patient_record_p2.png (laboratory results, the trend
charts, signature lines). A small clinic written through the services, the clinic clock fixed at Tuesday
1 December 2026, 10:00 London.

Run from the repository root (needs pdftoppm, from poppler-utils):
    .venv/bin/python docs/screenshots/make_report_screenshots.py
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from _shots import OUT, prepare

WORK = prepare("b12desk-report-shots-")

from b12desk.clock import Clock, fixed_clock  # noqa: E402 - after the environment is set
from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.domain.enums import (  # noqa: E402
    Cause,
    Container,
    Formulation,
    InjectionSite,
    LabContext,
    Preservative,
    Role,
    Sex,
)
from b12desk.domain.patients import PatientInput  # noqa: E402
from b12desk.exports.patient_report import write_patient_record  # noqa: E402
from b12desk.services import administrations as adm  # noqa: E402
from b12desk.services import auth, clinic, patients, plans  # noqa: E402
from b12desk.services import inventory as inv  # noqa: E402
from b12desk.services.patient_record import PatientRecord, patient_record  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD  # noqa: E402

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON)  # a Tuesday
START = date(2026, 9, 28)  # a Monday: induction Mon, Wed, Fri for two weeks
SITES = (
    InjectionSite.VENTROGLUTEAL_LEFT,
    InjectionSite.VENTROGLUTEAL_RIGHT,
    InjectionSite.DELTOID_LEFT,
    InjectionSite.DELTOID_RIGHT,
    InjectionSite.VASTUS_LATERALIS_LEFT,
    InjectionSite.VASTUS_LATERALIS_RIGHT,
)


def at(moment: datetime) -> Clock:
    return fixed_clock(moment, LONDON)


def build(db_url: str) -> PatientRecord:
    db = open_database(db_url)
    migrate.upgrade(db, backup_dir=None)
    with db.sessions.begin() as s:

        def user(name: str, full: str, role: Role) -> auth.Actor:
            return auth.create_demo_user(s, username=name, full_name=full, role=role, password=DEMO_PASSWORD)

        admin = user("admin", "Adam Admin", Role.ADMIN)
        nurse = user("nurse", "Nora Nurse", Role.NURSE)
        nurse2 = user("nurse2", "Kwame Mensah", Role.NURSE)
        pharmacist = user("pharmacist", "Pat Pharmacist", Role.PHARMACIST)
        checker = user("pharmacist2", "Priya Pharmacist", Role.PHARMACIST)
        clinic.set_time_zone(s, admin, "Europe/London")
        clinic.set_clinic_contact(s, admin, name="Riverside B12 Clinic", phone="020 7946 0000")
        plans.ensure_shipped_templates(s)
        template = next(t for t in plans.list_templates(s, admin) if t.code == "uk_hoc_no_neuro")
        early = at(datetime(2026, 9, 20, 9, 0, tzinfo=LONDON))
        ampoule = inv.create_product(
            s,
            pharmacist,
            inv.ProductInput(
                formulation=Formulation.HYDROXOCOBALAMIN,
                manufacturer="Advanz",
                brand="Cobalin-H",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.AMPOULE,
                volume_ml=Decimal(1),
                preservatives=frozenset(),
            ),
        ).id
        vial_product = inv.create_product(
            s,
            pharmacist,
            inv.ProductInput(
                formulation=Formulation.HYDROXOCOBALAMIN,
                manufacturer="Actavis",
                brand="",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.MULTI_DOSE_VIAL,
                volume_ml=Decimal(30),
                preservatives=frozenset({Preservative.METHYLPARABEN, Preservative.PROPYLPARABEN}),
            ),
        ).id
        lot = inv.receive_stock(
            s,
            nurse,
            product_id=ampoule,
            lot_number="H24K07",
            expiry=date(2027, 6, 30),
            quantity=20,
            clock=early,
        ).id
        vial_lot = inv.receive_stock(
            s,
            nurse,
            product_id=vial_product,
            lot_number="A31X9",
            expiry=date(2027, 3, 31),
            quantity=5,
            clock=early,
        ).id
        pid = patients.create_patient(
            s,
            nurse,
            PatientInput(
                "H2041",
                "Okafor",
                "Grace",
                date(1958, 3, 14),
                sex=Sex.FEMALE,
                cause=Cause.PERNICIOUS_ANAEMIA,
                neuro_involvement=False,
                allergies="Penicillin (rash); elastoplast & latex",
            ),
            clock=early,
        ).id
        plan = plans.create_plan(
            s,
            pharmacist,
            pid,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=template.definition.phases[0].dose_mcg,
                route=template.definition.route,
                start_date=START,
                prescriber="Dr Shah",
                indication="Pernicious anaemia, anti-IF positive",
            ),
            clock=early,
        )
        plans.verify_plan(
            s,
            checker,
            plan.id,
            password=DEMO_PASSWORD,
            expected_version=plan.version_id,
            clock=at(datetime(2026, 9, 21, 14, 32, tzinfo=LONDON)),
        )
        for day, value, unit, code in (
            (date(2026, 9, 18), "96", "g/L", "hb"),
            (date(2026, 9, 18), "118", "ng/L", "serum_b12"),
            (date(2026, 10, 23), "109", "g/L", "hb"),
            (date(2026, 11, 20), "124", "g/L", "hb"),
        ):
            patients.add_lab_result(
                s,
                nurse,
                pid,
                test_code=code,
                context=LabContext.BASELINE if day.month == 9 else LabContext.FOLLOW_UP,
                taken_on=day,
                value_text=value,
                unit=unit,
                clock=at(datetime.combine(day, datetime.min.time(), LONDON) + timedelta(hours=15)),
            )
        wrong = patients.add_lab_result(
            s,
            nurse,
            pid,
            test_code="hb",
            context=LabContext.FOLLOW_UP,
            taken_on=date(2026, 11, 20),
            value_text="214",
            unit="g/L",
            clock=at(datetime(2026, 11, 20, 15, 5, tzinfo=LONDON)),
        )
        patients.mark_lab_entered_in_error(s, nurse, wrong.id, reason="Typing error: 214 typed for 124")
        vial = inv.open_vial(s, nurse2, lot_id=vial_lot, clock=early)
        doses = []
        for n in range(6):
            day = START + timedelta(days=(0, 2, 4, 7, 9, 11)[n])
            moment = datetime.combine(day, datetime.min.time(), LONDON) + timedelta(
                hours=9, minutes=15 + 7 * n
            )
            giver = nurse if n % 3 else nurse2
            if n == 3:  # first recorded against this patient by mistake, then marked in error
                mistaken = adm.record_dose(
                    s,
                    nurse2,
                    adm.DoseRequest(
                        patient_id=pid,
                        plan_id=plan.id,
                        dose_mcg=Decimal(1000),
                        site=InjectionSite.VENTROGLUTEAL_LEFT,
                        product_id=vial_product,
                        vial_id=vial.id,
                        given_at=moment - timedelta(minutes=50),
                    ),
                    clock=at(moment - timedelta(minutes=50)),
                )
                adm.mark_entered_in_error(
                    s,
                    nurse2,
                    mistaken.id,
                    reason="Recorded against the wrong patient (same surname, other MRN)",
                    password=DEMO_PASSWORD,
                    clock=at(moment - timedelta(minutes=40)),
                )
            request = adm.DoseRequest(
                patient_id=pid,
                plan_id=plan.id,
                dose_mcg=Decimal(1000),
                site=SITES[n],
                product_id=ampoule,
                lot_id=lot,
                given_at=moment,
            )
            doses.append(adm.record_dose(s, giver, request, clock=at(moment)))
        adm.amend_administration(
            s,
            nurse,
            doses[2].id,
            reason="Recorded as left deltoid; given in the right deltoid",
            site=InjectionSite.DELTOID_RIGHT,
            clock=at(doses[2].given_at + timedelta(minutes=40)),
        )
        return patient_record(s, nurse, pid, clock=at(NOW))


def main() -> int:
    record = build(f"sqlite:///{WORK / 'report.sqlite3'}")
    pdf = WORK / "patient_record.pdf"
    pages = write_patient_record(pdf, record, signer="Nora Nurse")
    for page in (1, 2):
        target = OUT / f"patient_record_p{page}"
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "110",
                "-png",
                "-singlefile",
                "-f",
                str(page),
                "-l",
                str(page),
                str(pdf),
                str(target),
            ],
            check=True,
        )
        print(f"wrote {Path(str(target) + '.png').relative_to(Path.cwd())} (page {page} of {pages})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
