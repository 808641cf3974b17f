"""Grab the labs dialog's Trend and Symptoms tabs to PNG files in this folder: a woman with pernicious
anaemia whose haemoglobin rises from 92 to 135 g/L over 8 weeks of hydroxocobalamin, three times a week for
two weeks and then every 90 days, with serum B12 reported in three units and symptoms scored at each dose.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_trend_screenshots.py
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from decimal import Decimal

from _shots import prepare, save

WORK = prepare("b12desk-trend-shots-")

from PySide6.QtWidgets import QApplication  # noqa: E402 - after the environment is set

from b12desk.clock import fixed_clock  # noqa: E402
from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.domain.enums import Cause, Container, InjectionSite, LabContext, Role, Sex  # noqa: E402
from b12desk.domain.patients import PatientInput  # noqa: E402
from b12desk.services import administrations as adm  # noqa: E402
from b12desk.services import auth, clinic, patients, plans  # noqa: E402
from b12desk.services import inventory as inv  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.labs_dialog import LabsDialog  # noqa: E402

ops.WAIT_FOR_RESULTS = True

# Days after the first dose: the six induction doses (Monday, Wednesday, Friday), then 90 days on.
DOSE_DAYS = (0, 2, 4, 7, 9, 11, 101)
SITES = (InjectionSite.VENTROGLUTEAL_LEFT, InjectionSite.VENTROGLUTEAL_RIGHT)
# fatigue, tingling, balance, memory or mood, appetite at each dose (0 none to 3 severe).
SYMPTOMS = (
    (3, 2, 1, 2, 2),
    (3, 2, 1, 2, 1),
    (2, 2, 1, 1, 1),
    (2, 1, 1, 1, 0),
    (1, 1, 0, 1, 0),
    (1, 1, 0, 0, 0),
    (0, 0, 0, 0, 0),
)
SYMPTOM_CODES = ("fatigue", "tingling", "balance", "memory_mood", "appetite")
# (days after the first dose, test, value as reported, unit)
RESULTS = (
    (-30, "serum_b12", "95", "pmol/L"),  # the GP's screening test
    (-3, "serum_b12", "98", "ng/L"),  # baseline, as a UK laboratory reports it
    (-3, "hb", "9.2", "g/dL"),
    (7, "hb", "98", "g/L"),
    (14, "hb", "106", "g/L"),
    (28, "hb", "118", "g/L"),
    (42, "hb", "127", "g/L"),
    (56, "hb", "135", "g/L"),
    (56, "serum_b12", "820", "pg/mL"),  # a US-style report
    (101, "hb", "138", "g/L"),
)


def build(db_url: str) -> int:
    """The patient's record, written through the services at the times things happened; her id."""
    db = open_database(db_url)
    migrate.upgrade(db, backup_dir=None)
    with db.sessions.begin() as s:
        admin = auth.create_demo_user(
            s, username="admin", full_name="Adam Admin (demo)", role=Role.ADMIN, password=DEMO_PASSWORD
        )
        nurse = auth.create_demo_user(
            s, username="nurse", full_name="Nora Nurse (demo)", role=Role.NURSE, password=DEMO_PASSWORD
        )
        pharmacist = auth.create_demo_user(
            s,
            username="pharmacist",
            full_name="Pat Pharmacist (demo)",
            role=Role.PHARMACIST,
            password=DEMO_PASSWORD,
        )
        checker = auth.create_demo_user(
            s,
            username="pharmacist2",
            full_name="Priya Pharmacist (demo)",
            role=Role.PHARMACIST,
            password=DEMO_PASSWORD,
        )
        clinic.set_time_zone(s, admin, "Europe/London")
        now = clinic.clinic_clock(s).now()
        # The first dose on a Monday about four months ago, so the 90-day maintenance dose has been given.
        first = now.date() - timedelta(days=125)
        first -= timedelta(days=first.weekday())
        zone = now.tzinfo
        assert zone is not None

        def at(offset: int, hour: int = 10) -> datetime:
            return datetime.combine(first + timedelta(days=offset), datetime.min.time(), zone).replace(
                hour=hour
            )

        start_clock = fixed_clock(at(-31), zone)
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
            ),
            clock=start_clock,
        ).id
        plans.ensure_shipped_templates(s)
        template = next(t for t in plans.list_templates(s, admin) if t.code == "uk_hoc_no_neuro")
        plan = plans.create_plan(
            s,
            pharmacist,
            pid,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=template.definition.phases[0].dose_mcg,
                route=template.definition.route,
                start_date=first,
                prescriber="Dr Shah",
            ),
            clock=fixed_clock(at(-2), zone),
        )
        plans.verify_plan(
            s,
            checker,
            plan.id,
            password=DEMO_PASSWORD,
            expected_version=plan.version_id,
            clock=fixed_clock(at(-1), zone),
        )
        product = inv.create_product(
            s,
            pharmacist,
            inv.ProductInput(
                formulation=template.formulation,
                manufacturer="Advanz",
                brand="Cobalin-H",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.AMPOULE,
                volume_ml=Decimal(1),
                preservatives=frozenset(),
            ),
        ).id
        lot = inv.receive_stock(
            s,
            nurse,
            product_id=product,
            lot_number="HC2291",
            expiry=now.date() + timedelta(days=400),
            quantity=20,
            clock=fixed_clock(at(-5), zone),
        ).id
        for n, (day, scores) in enumerate(zip(DOSE_DAYS, SYMPTOMS, strict=True)):
            moment = at(day)
            request = adm.DoseRequest(
                patient_id=pid,
                plan_id=plan.id,
                dose_mcg=Decimal(1000),
                site=SITES[n % 2],
                product_id=product,
                lot_id=lot,
                given_at=moment,
                symptoms=dict(zip(SYMPTOM_CODES, scores, strict=True)),
            )
            adm.record_dose(s, nurse, request, clock=fixed_clock(moment + timedelta(minutes=5), zone))
        for day, test, value, unit in RESULTS:
            patients.add_lab_result(
                s,
                nurse,
                pid,
                test_code=test,
                context=LabContext.BASELINE if day < 0 else LabContext.FOLLOW_UP,
                taken_on=first + timedelta(days=day),
                value_text=value,
                unit=unit,
                clock=fixed_clock(at(max(day, 0), 16), zone),
            )
        # A result typed against the wrong patient, marked entered-in-error: kept, never charted.
        wrong = patients.add_lab_result(
            s,
            nurse,
            pid,
            test_code="hb",
            context=LabContext.FOLLOW_UP,
            taken_on=first + timedelta(days=21),
            value_text="151",
            unit="g/L",
            clock=fixed_clock(at(21, 16), zone),
        )
        patients.mark_lab_entered_in_error(s, nurse, wrong.id, reason="another patient's result")
    db.dispose()
    return pid


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    url = f"sqlite:///{WORK / 'trend.sqlite3'}"
    pid = build(url)
    db = open_database(url)
    with db.sessions.begin() as s:
        nurse = auth.authenticate(s, username="nurse", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)
        row = next(r for r in patients.roster(s, nurse) if r.id == pid)
    ctx = AppContext(db=db, actor=nurse, demo=True, bus=DataBus(), clock=clock)
    dialog = LabsDialog(ctx, row)
    dialog.resize(1000, 760)
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.trend_page)
    save(dialog, "lab_trend")
    dialog.trend_test.setCurrentIndex(dialog.trend_test.findData("serum_b12"))
    dialog.trend_test.activated.emit(dialog.trend_test.currentIndex())
    save(dialog, "lab_trend_b12")
    dialog.tabs.setCurrentWidget(dialog.symptoms_page)
    save(dialog, "symptom_trend")
    dialog.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
