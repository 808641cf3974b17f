"""Grab the treatment-plan screens to PNG files in this folder, from a small clinic built in a temp database.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_plan_screenshots.py
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from _shots import prepare, save

WORK = prepare("b12desk-plan-shots-")

from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from b12desk.clock import fixed_clock, system_clock  # noqa: E402
from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import Database, open_database  # noqa: E402
from b12desk.domain.enums import Cause, Container, Formulation, InjectionSite, Presentation, Role, Route  # noqa: E402
from b12desk.domain.patients import PatientInput  # noqa: E402
from b12desk.services import administrations, auth, clinic, patients, plans  # noqa: E402
from b12desk.services import inventory as inv  # noqa: E402
from b12desk.services.common import Actor  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.clinic_settings import ClinicSettingsDialog  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.plans import PatientPlansDialog, PlanEditorDialog  # noqa: E402
from b12desk.ui.templates import TemplatesDialog  # noqa: E402
from b12desk.ui.verification import VerificationQueueDialog  # noqa: E402

# Every database call of the GUI runs on the database worker; make each one return with its result on the
# screen (as the UI tests do), so that a dialog is filled in before it is grabbed or typed into.
ops.WAIT_FOR_RESULTS = True

PASSWORD = "screenshot password"


def next_monday(today: date) -> date:
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7)


def build() -> tuple[Database, dict[str, Actor], dict[str, int]]:
    db = open_database(f"sqlite:///{WORK / 'plans.sqlite3'}")
    migrate.upgrade(db, backup_dir=None)
    today = system_clock().today()
    with db.sessions.begin() as s:
        admin = auth.create_first_admin(s, username="admin", full_name="Ada Admin", password=PASSWORD)
        staff = {"admin": admin}
        for username, name, role in (
            ("nurse", "Nora Nurse", Role.NURSE),
            ("pharmacist", "Priya Patel", Role.PHARMACIST),
            ("pharmacist2", "Tom Okoro", Role.PHARMACIST),
        ):
            staff[username] = auth.create_user(
                s, admin, username=username, full_name=name, role=role, password=PASSWORD
            )
        plans.ensure_shipped_templates(s)
        templates = {t.code: t for t in plans.list_templates(s, admin)}
        product = inv.create_product(
            s,
            staff["pharmacist"],
            inv.ProductInput(
                formulation=Formulation.HYDROXOCOBALAMIN,
                manufacturer="Advanz",
                brand="Cobalin-H",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.AMPOULE,
                volume_ml=Decimal(1),
            ),
        )
        lot = inv.receive_stock(
            s,
            staff["nurse"],
            product_id=product.id,
            lot_number="H2291",
            expiry=today + timedelta(300),
            quantity=20,
        )

        def patient(mrn: str, family: str, given: str, **extra: object) -> int:
            values: dict[str, object] = {
                "mrn": mrn,
                "family_name": family,
                "given_name": given,
                "date_of_birth": date(1954, 3, 14),
                "cause": Cause.PERNICIOUS_ANAEMIA,
            }
            values.update(extra)
            return patients.create_patient(s, staff["nurse"], PatientInput(**values)).id  # type: ignore[arg-type]

        ids = {
            "okafor": patient("H1001", "Okafor", "Grace"),
            "nguyen": patient(
                "H1002",
                "Nguyen",
                "Lan",
                cause=Cause.GASTRECTOMY,
                presentation=Presentation.ANAEMIA,
                date_of_birth=date(1961, 8, 2),
            ),
            "patel": patient(
                "H1007",
                "Patel",
                "Ravi",
                cause=Cause.MEDICATION_METFORMIN,
                presentation=Presentation.DEFICIENCY,
                date_of_birth=date(1957, 5, 9),
            ),
            "reid": patient("H1003", "Reid", "Ann", date_of_birth=date(1948, 11, 30)),
            "byrne": patient("H1004", "Byrne", "Sean", flag_b12_hypersensitivity=True),
            "adeyemi": patient("H1005", "Adeyemi", "Tola", date_of_birth=date(1971, 2, 3)),
            "walsh": patient("H1006", "Walsh", "Maeve", date_of_birth=date(1958, 7, 21)),
        }

        def plan_input(
            code: str, start: date, prescriber: str, indication: str, **extra: object
        ) -> plans.PlanInput:
            t = templates[code]
            return plans.PlanInput(
                template_id=t.id,
                formulation=t.formulation,
                dose_mcg=Decimal(1000),
                route=Route.IM,
                start_date=start,
                prescriber=prescriber,
                indication=indication,
                **extra,  # type: ignore[arg-type]
            )

        # Okafor: a first draft on the prophylaxis template, stopped; then the right plan, verified three
        # weeks ago, four induction doses given and the fifth overdue, and an edit verified again.
        start = today - timedelta(days=21)
        first = plans.create_plan(
            s,
            staff["pharmacist"],
            ids["okafor"],
            plan_input("uk_hoc_prophylaxis", start, "Dr A. Shah", "Low B12"),
        )
        plans.stop_plan(
            s,
            staff["pharmacist"],
            first.id,
            completed=False,
            reason="Wrong template: pernicious anaemia confirmed",
        )
        p = plans.create_plan(
            s,
            staff["pharmacist"],
            ids["okafor"],
            plan_input("uk_hoc_no_neuro", start, "Dr A. Shah", "Pernicious anaemia, Hb 92 g/L"),
        )
        p = plans.verify_plan(s, staff["pharmacist2"], p.id, password=PASSWORD, expected_version=p.version_id)
        for k in range(4):
            given = datetime.combine(start + timedelta(days=2 * k + (k > 2)), time(10), UTC)
            administrations.record_dose(
                s,
                staff["nurse"],
                administrations.DoseRequest(
                    patient_id=ids["okafor"],
                    plan_id=p.id,
                    given_at=given,
                    dose_mcg=Decimal(1000),
                    site=InjectionSite.DELTOID_LEFT if k % 2 else InjectionSite.DELTOID_RIGHT,
                    product_id=product.id,
                    lot_id=lot.id,
                ),
                clock=fixed_clock(given + timedelta(minutes=5)),  # recorded as it was given
            )
        p = plans.get_plan(s, staff["pharmacist2"], p.id)  # recording doses made it active
        p = plans.update_plan(
            s,
            staff["pharmacist2"],
            p.id,
            plan_input(
                "uk_hoc_no_neuro", start, "Dr A. Shah", "Pernicious anaemia, Hb 92 g/L, IF antibody +"
            ),
            expected_version=p.version_id,
            reason="Intrinsic factor antibody result added",
        )
        plans.verify_plan(s, staff["pharmacist"], p.id, password=PASSWORD, expected_version=p.version_id)
        # Nguyen: a first-time draft.
        plans.create_plan(
            s,
            staff["pharmacist"],
            ids["nguyen"],
            plan_input("uk_hoc_no_neuro", next_monday(today), "Dr B. Evans", "Total gastrectomy 2019"),
        )
        # Reid: verified, then the prescriber changed: back in the queue with the change shown.
        r = plans.create_plan(
            s,
            staff["pharmacist2"],
            ids["reid"],
            plan_input("uk_hoc_no_neuro", next_monday(today), "Dr A", "Pernicious anaemia"),
        )
        r = plans.verify_plan(s, staff["pharmacist"], r.id, password=PASSWORD, expected_version=r.version_id)
        plans.update_plan(
            s,
            staff["pharmacist2"],
            r.id,
            plan_input("uk_hoc_no_neuro", next_monday(today), "Dr B", "Pernicious anaemia"),
            expected_version=r.version_id,
            reason="care moved to Dr B's list",
        )
        # Adeyemi: a plan that continues treatment begun at another clinic.
        a = plans.create_plan(
            s,
            staff["pharmacist"],
            ids["adeyemi"],
            plan_input(
                "uk_hoc_no_neuro", today, "Dr A. Shah", "Pernicious anaemia", continues_elsewhere=True
            ),
        )
        plans.verify_plan(s, staff["pharmacist2"], a.id, password=PASSWORD, expected_version=a.version_id)
        # Walsh: verified, then Leber's disease recorded on the roster: back in the queue with the reason.
        w = plans.create_plan(
            s,
            staff["pharmacist"],
            ids["walsh"],
            plan_input("uk_hoc_no_neuro", next_monday(today), "Dr A. Shah", "Pernicious anaemia"),
        )
        plans.verify_plan(s, staff["pharmacist2"], w.id, password=PASSWORD, expected_version=w.version_id)
        detail = patients.get_patient(s, staff["nurse"], ids["walsh"])
        patients.update_patient(
            s,
            staff["nurse"],
            ids["walsh"],
            replace(detail.data, flag_lebers_disease=True),
            expected_version=detail.version_id,
            reason="Ophthalmology letter: Leber's hereditary optic neuropathy",
        )
    return db, staff, ids


def main() -> int:
    app = QApplication(["b12desk"])
    style.apply(app)
    db, staff, ids = build()
    bus = DataBus()

    with db.sessions() as s:
        clock = clinic.clinic_clock(s)

    def ctx(who: str) -> AppContext:
        return AppContext(db=db, actor=staff[who], demo=False, bus=bus, clock=clock)

    host = QWidget()
    host.resize(1300, 850)

    editor = PlanEditorDialog(ctx("pharmacist"), ids["nguyen"], parent=host)
    editor.start_date.setText(next_monday(system_clock().today()).isoformat())
    editor.prescriber.setText("Dr B. Evans")
    editor.indication.setText("Total gastrectomy 2019, Hb 101 g/L")
    editor.show()
    save(editor, "plan_editor")
    editor.dose.setText("1")
    editor.save()
    save(editor, "plan_editor_error")
    editor.close()

    oral = PlanEditorDialog(ctx("pharmacist"), ids["patel"], parent=host)
    oral.start_date.setText(next_monday(system_clock().today()).isoformat())
    oral.prescriber.setText("Dr B. Evans")
    oral.indication.setText("Metformin 10 years; B12 150 ng/L; Hb normal; no neuropathy")
    oral.supplied_as.setText("Cyanocobalamin 1,000 mcg tablets, one a day, 28")
    oral.show()
    save(oral, "plan_editor_oral")
    oral.close()

    override = PlanEditorDialog(ctx("pharmacist"), ids["byrne"], parent=host)
    override.prescriber.setText("Dr A. Shah")
    override.show()
    override.save()
    save(override, "plan_editor_override")
    override.close()

    queue = VerificationQueueDialog(ctx("pharmacist"), parent=host)
    queue.show()
    save(queue, "verification_queue")
    reid = next(
        queue.model.row(i).plan
        for i in range(queue.model.rowCount())
        if queue.model.row(i).plan.patient_mrn == "H1003"
    )
    queue.select_plan(reid.id)
    save(queue, "verification_queue_changed")
    walsh = next(
        queue.model.row(i).plan
        for i in range(queue.model.rowCount())
        if queue.model.row(i).plan.patient_mrn == "H1006"
    )
    queue.select_plan(walsh.id)
    save(queue, "verification_queue_flag")
    queue.close()

    plans_dialog = PatientPlansDialog(ctx("pharmacist"), ids["okafor"], parent=host)
    plans_dialog.show()
    save(plans_dialog, "patient_plans")
    plans_dialog.pages.setCurrentIndex(1)
    save(plans_dialog, "patient_plans_history")
    plans_dialog.close()

    nurse_plans = PatientPlansDialog(ctx("nurse"), ids["adeyemi"], parent=host)
    nurse_plans.show()
    elsewhere = nurse_plans.doses_elsewhere()
    assert elsewhere is not None
    first = system_clock().today() - timedelta(days=14)
    for day in (first, first + timedelta(days=2), first + timedelta(days=3)):
        elsewhere.date.setText(day.isoformat())
        elsewhere.add_date()
    elsewhere.note.setText("Cobalin-H at St Mary's")
    elsewhere.date.setText((system_clock().today() + timedelta(days=2)).isoformat())
    elsewhere.add_date()  # a future date: refused beside the field
    save(elsewhere, "doses_given_elsewhere")
    elsewhere.date.clear()
    elsewhere.save()  # two doses a day apart: a warning to acknowledge
    elsewhere.findings.acknowledge("interval_too_short", "the other clinic's record shows both dates")
    save(elsewhere, "doses_given_elsewhere_warning")
    elsewhere.close()
    nurse_plans.close()

    settings = ClinicSettingsDialog(ctx("pharmacist"), parent=host)
    settings.show()
    save(settings, "clinic_settings")
    settings.tabs.setCurrentIndex(1)
    save(settings, "clinic_settings_lab")
    settings.close()

    templates = TemplatesDialog(ctx("pharmacist"), parent=host)
    templates.show()
    templates.select_code("uk_hoc_no_neuro")
    save(templates, "templates")
    templates.pages.setCurrentIndex(1)
    save(templates, "templates_preview")
    templates.pages.setCurrentIndex(2)
    save(templates, "templates_json")
    templates.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
