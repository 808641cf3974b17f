"""Render every label kind on its layouts to PDF, then to PNG files in this folder with pdftoppm: syringe
labels on an A4 sheet of 21 begun at position 4 (one with a very long name, shrunk to fit), an opened-vial
roll label, a patient dose card, lot labels with their GS1 DataMatrix on a US Letter sheet of 30, and
shelf labels with a GS1-128 barcode. The clinic clock is fixed at Tuesday 1 December 2026, 10:00 London.

Run from the repository root (needs pdftoppm, from poppler-utils):
    .venv/bin/python docs/screenshots/make_label_screenshots.py
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from _shots import OUT, prepare

WORK = prepare("b12desk-label-shots-")

from b12desk.clock import fixed_clock  # noqa: E402 - after the environment is set
from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.domain.enums import Cause, Container, Formulation, InjectionSite, Role, Sex  # noqa: E402
from b12desk.domain.gs1 import gtin_check_digit  # noqa: E402
from b12desk.domain.patients import PatientInput  # noqa: E402
from b12desk.exports.labels import LAYOUTS, write_labels  # noqa: E402
from b12desk.services import administrations as adm  # noqa: E402
from b12desk.services import auth, clinic, patients, plans  # noqa: E402
from b12desk.services import inventory as inv  # noqa: E402
from b12desk.services import label_data as ld  # noqa: E402
from b12desk.services.label_data import Label  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD  # noqa: E402

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON)  # a Tuesday
CLOCK = fixed_clock(NOW, LONDON)
PEOPLE = (
    ("H2041", "Okafor", "Grace", date(1958, 3, 14), Sex.FEMALE, Cause.PERNICIOUS_ANAEMIA),
    (
        "H2042",
        "Fitzgerald-Montgomery",
        "Alexandra Josephine",
        date(1949, 11, 2),
        Sex.FEMALE,
        Cause.GASTRECTOMY,
    ),
    ("H2043", "Ng", "Li", date(1971, 6, 30), Sex.MALE, Cause.POST_BARIATRIC),
)
SITES = (InjectionSite.VENTROGLUTEAL_LEFT, InjectionSite.DELTOID_RIGHT, InjectionSite.VASTUS_LATERALIS_LEFT)


def gtin(body: str) -> str:
    return body + str(gtin_check_digit(body))


def build(db_url: str) -> dict[str, list[Label]]:
    """A small clinic written through the services; the labels of each kind, gathered as printed."""
    db = open_database(db_url)
    migrate.upgrade(db, backup_dir=None)
    with db.sessions.begin() as s:

        def user(name: str, full: str, role: Role) -> auth.Actor:
            return auth.create_demo_user(s, username=name, full_name=full, role=role, password=DEMO_PASSWORD)

        admin = user("admin", "Adam Admin", Role.ADMIN)
        nurse = user("nurse", "Nora Nurse", Role.NURSE)
        pharmacist = user("pharmacist", "Pat Pharmacist", Role.PHARMACIST)
        checker = user("pharmacist2", "Priya Pharmacist", Role.PHARMACIST)
        clinic.set_time_zone(s, admin, "Europe/London")
        clinic.set_clinic_contact(s, admin, name="Riverside B12 Clinic", phone="020 7946 0000")
        plans.ensure_shipped_templates(s)
        template = next(t for t in plans.list_templates(s, admin) if t.code == "uk_hoc_no_neuro")
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
                gtin=gtin("0501234500012"),
                storage_note="Store below 25 °C; protect from light.",
            ),
        ).id
        vial_product = inv.create_product(
            s,
            pharmacist,
            inv.ProductInput(
                formulation=Formulation.CYANOCOBALAMIN,
                manufacturer="American Regent",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.MULTI_DOSE_VIAL,
                volume_ml=Decimal(30),
                gtin=gtin("0030517003125"),
                beyond_use_days=28,
                storage_note="Store at 20-25 °C; protect from light.",
            ),
        ).id
        ampoule_lot = inv.receive_stock(
            s,
            nurse,
            product_id=ampoule,
            lot_number="H24K07",
            expiry=date(2027, 6, 30),
            quantity=20,
            clock=CLOCK,
        ).id
        vial_lot = inv.receive_stock(
            s,
            nurse,
            product_id=vial_product,
            lot_number="A31X9",
            expiry=date(2027, 3, 31),
            quantity=5,
            clock=CLOCK,
        ).id
        vial = inv.open_vial(s, nurse, lot_id=vial_lot, clock=fixed_clock(NOW - timedelta(hours=1), LONDON))
        dose_ids, patient_ids = [], []
        for (mrn, family, given, born, sex, cause), site in zip(PEOPLE, SITES, strict=True):
            pid = patients.create_patient(
                s, nurse, PatientInput(mrn, family, given, born, sex=sex, cause=cause), clock=CLOCK
            ).id
            patient_ids.append(pid)
            plan = plans.create_plan(
                s,
                pharmacist,
                pid,
                plans.PlanInput(
                    template_id=template.id,
                    formulation=template.formulation,
                    dose_mcg=template.definition.phases[0].dose_mcg,
                    route=template.definition.route,
                    start_date=NOW.date(),
                    prescriber="Dr Shah",
                ),
                clock=CLOCK,
            )
            plans.verify_plan(
                s, checker, plan.id, password=DEMO_PASSWORD, expected_version=plan.version_id, clock=CLOCK
            )
            request = adm.DoseRequest(
                patient_id=pid,
                plan_id=plan.id,
                dose_mcg=Decimal(1000),
                site=site,
                product_id=ampoule,
                lot_id=ampoule_lot,
                given_at=NOW,
            )
            dose_ids.append(adm.record_dose(s, nurse, request, clock=CLOCK).id)
        syringes: list[Label] = [ld.syringe_label(s, nurse, i, clock=CLOCK) for i in dose_ids]
        return {
            "syringe": syringes * 2,
            "vial": [ld.vial_label(s, nurse, vial.id, clock=CLOCK)],
            "card": [ld.dose_card(s, nurse, patient_ids[0], clock=CLOCK)],
            "lot": [ld.lot_label(s, nurse, ampoule_lot), ld.lot_label(s, nurse, vial_lot)] * 3,
            "shelf": [ld.shelf_label(s, nurse, ampoule), ld.shelf_label(s, nurse, vial_product)],
        }


# (PNG name, kind, layout, start position)
SHOTS = (
    ("labels_syringe_a4", "syringe", "a4-21", 4),
    ("labels_syringe_letter", "syringe", "letter-30", 1),
    ("labels_syringe_roll", "syringe", "roll-57x32", 1),
    ("labels_vial_roll", "vial", "roll-57x32", 1),
    ("labels_vial_a4", "vial", "a4-21", 1),
    ("labels_dose_card", "card", "roll-57x32", 1),
    ("labels_dose_card_a4", "card", "a4-21", 1),
    ("labels_dose_card_letter", "card", "letter-30", 1),
    ("labels_lot_letter", "lot", "letter-30", 1),
    ("labels_lot_a4", "lot", "a4-21", 1),
    ("labels_lot_roll", "lot", "roll-57x32", 1),
    ("labels_shelf_a4", "shelf", "a4-21", 1),
)


def main() -> int:
    labels = build(f"sqlite:///{WORK / 'labels.sqlite3'}")
    for name, kind, layout_name, start in SHOTS:
        layout = LAYOUTS[layout_name]
        pdf = WORK / f"{name}.pdf"
        write_labels(pdf, labels[kind], layout, start=start, outlines=True)
        # Sheets: the top rows at 150 dpi, where the labels are; a roll label: the whole page, larger.
        crop: list[str] = []
        if layout.per_page > 1:
            height = (layout.top + 3 * (layout.label_height + layout.gap_y)) / 72 * 150  # three rows
            crop = [
                "-x",
                "0",
                "-y",
                "0",
                "-W",
                str(round(layout.page_width / 72 * 150)),
                "-H",
                str(round(height)),
            ]
        resolution = "150" if layout.per_page > 1 else "300"
        target = OUT / name
        subprocess.run(
            ["pdftoppm", "-r", resolution, "-png", "-singlefile", *crop, str(pdf), str(target)], check=True
        )
        print(f"wrote {Path(str(target) + '.png').relative_to(Path.cwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
