"""Grab the Administration tab and the give-dose screen to PNG files in this folder, from a demo clinic.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_administration_screenshots.py
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from _shots import prepare, save, settle

WORK = prepare("b12desk-admin-shots-")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from b12desk.clock import fixed_clock  # noqa: E402
from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.domain.enums import Cause, Container, InjectionSite  # noqa: E402
from b12desk.domain.patients import PatientInput  # noqa: E402
from b12desk.services import administrations as adm  # noqa: E402
from b12desk.services import auth, clinic, demo_data, patients, plans  # noqa: E402
from b12desk.services import inventory as inv  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.give_dose import GiveDoseDialog  # noqa: E402
from b12desk.ui.history_import_dialog import HistoryImportDialog  # noqa: E402
from b12desk.ui.main_window import MainWindow  # noqa: E402

ops.WAIT_FOR_RESULTS = True
GTIN = "05000456012348"


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    db = open_database(f"sqlite:///{WORK / 'demo.sqlite3'}")
    migrate.upgrade(db, backup_dir=None)
    demo_data.generate(db, patients=60, years=2, seed=1, create_demo_users=True)
    with db.sessions.begin() as s:
        nurse = auth.authenticate(s, username="nurse", password=DEMO_PASSWORD)
        pharmacist = auth.authenticate(s, username="pharmacist", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)
        due = adm.due_list(s, nurse)
        # The first patient due who has had doses before (their recent sites show on the body map).
        target = next(d for d in due if adm.patient_administrations(s, nurse, d.patient_id))
        plan = plans.get_plan(s, nurse, target.plan_id)
        # A pack of the plan's product with a barcode, and a lot of it that has expired since delivery.
        product = inv.create_product(
            s,
            pharmacist,
            inv.ProductInput(
                formulation=plan.formulation,
                manufacturer="Advanz",
                brand="Scanned pack",
                strength_mcg_per_ml=Decimal(plan.strength_mcg_per_ml),
                container=Container.AMPOULE,
                volume_ml=Decimal(1),
                gtin=GTIN,
                preservatives=frozenset(),
            ),
        )
        expiry = clock.today() - timedelta(days=12)
        inv.receive_stock(
            s,
            nurse,
            product_id=product.id,
            lot_number="EXP0925",
            expiry=expiry,
            quantity=4,
            clock=fixed_clock(clock.now() - timedelta(days=200), clock.zone),
        )
        # A record corrected and one entered in error, for the log's struck-through rows.
        history = adm.patient_administrations(s, nurse, target.patient_id)
        given = [a for a in history if a.outcome.value == "given" and not a.external]
        if len(given) >= 2:
            adm.amend_administration(
                s,
                nurse,
                given[0].id,
                reason="site written on the wrong side",
                site=InjectionSite.VENTROGLUTEAL_LEFT
                if given[0].site != InjectionSite.VENTROGLUTEAL_LEFT
                else InjectionSite.VENTROGLUTEAL_RIGHT,
            )
            adm.mark_entered_in_error(
                s, nurse, given[1].id, reason="recorded against the wrong patient", password=DEMO_PASSWORD
            )
    ctx = AppContext(db=db, actor=nurse, demo=True, bus=DataBus(), clock=clock)
    window = MainWindow(ctx)
    window.resize(1360, 820)
    window.load()
    window.show()
    window.tabs.setCurrentWidget(window.administration_tab)
    settle()
    tab = window.administration
    tab.due_table.selectRow(0)
    save(window, "administration_tab")

    # The patient's history, with sites, a correction and a record entered in error.
    tab.clear_filters()
    tab.patient.setText(target.mrn)
    tab.apply_filter()
    settle()
    first = next((i for i in range(tab.log.rowCount()) if tab.log.row(i).status.value != "current"), 0)
    tab.log_table.selectRow(first)
    save(window, "administration_log")
    tab.clear_filters()

    # The give-dose screen: clean.
    dialog = GiveDoseDialog(ctx, target.patient_id, parent=window)
    dialog.resize(1180, 900)
    dialog.show()
    settle()
    dialog.identity.setChecked(True)
    assert dialog.context is not None
    suggested = next(
        (i for i in range(dialog.stock_choice.count()) if "Suggested" in dialog.stock_choice.itemText(i)), 0
    )
    dialog.stock_choice.setCurrentIndex(suggested)
    advice = dialog.context.sites
    chosen = advice.suggested or InjectionSite.VENTROGLUTEAL_LEFT
    QTest.mouseClick(dialog.body_map, Qt.MouseButton.LeftButton, pos=dialog.body_map.center(chosen).toPoint())
    for code, score in (("fatigue", 1), ("tingling", 1), ("balance", 0), ("memory_mood", 0), ("appetite", 0)):
        combo = dialog.symptoms[code]
        combo.setCurrentIndex(combo.findData(score))
    dialog.run_check()
    save(dialog, "give_dose_clean")
    save(dialog.site_box, "body_map")

    # A warning: the same site as last time, acknowledged with a reason and the nurse's password.
    if advice.recent:
        last = advice.recent[0][1]
        QTest.mouseClick(
            dialog.body_map, Qt.MouseButton.LeftButton, pos=dialog.body_map.center(last).toPoint()
        )
        dialog.run_check()
        settle()
        dialog.findings.acknowledge("same_site_as_last", "other sites bruised; patient prefers this side")
        QTest.keyClicks(dialog.findings.password, DEMO_PASSWORD)
        settle()
        save(dialog, "give_dose_warning")

    # A hard stop: the expired lot scanned.
    QTest.keyClicks(dialog.scan, f"01{GTIN}17{expiry:%y%m%d}10EXP0925")
    QTest.keyClick(dialog.scan, Qt.Key.Key_Return)
    settle()
    dialog.run_check()
    save(dialog, "give_dose_hard_stop")
    dialog.reject()

    # The history import, bad lines named: a patient new to the clinic, whose plan continues treatment
    # begun at a surgery.
    with db.sessions.begin() as s:
        manager = auth.authenticate(s, username="manager", password=DEMO_PASSWORD)
        admin = auth.authenticate(s, username="admin", password=DEMO_PASSWORD)
        newcomer = patients.create_patient(
            s,
            nurse,
            PatientInput("H204311", "Adeyemi", "Kemi", date(1958, 3, 14), cause=Cause.PERNICIOUS_ANAEMIA),
        )
        template = next(t for t in plans.list_templates(s, pharmacist) if t.code == "uk_hoc_no_neuro")
        draft = plans.create_plan(
            s,
            pharmacist,
            newcomer.id,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=Decimal(1000),
                route=template.definition.route,
                start_date=clock.today(),
                prescriber="Dr Shah",
                continues_elsewhere=True,
            ),
        )
        plans.verify_plan(s, admin, draft.id, password=DEMO_PASSWORD, expected_version=draft.version_id)
    sample = WORK / "dose-history.csv"
    sample.write_text(
        "mrn,given_at,dose,route,site,outcome,note\n"
        "H204311,2026-06-01,1000 mcg,im,left deltoid,given,Riverside surgery\n"
        "H204311,2026-06-03,1000 mg,im,right deltoid,given,Riverside surgery\n"
        "H204311,2026-06-05,1 mg,im,left deltoid,given,Riverside surgery\n"
        "H204312,2026-06-05,1000,im,,given,\n"
        "H204311,08/06/2026,1000,im,,given,\n"
        "H204311,2026-06-10,,,right deltoid,refused,\n",
        encoding="utf-8",
    )
    importer = HistoryImportDialog(
        AppContext(db=db, actor=manager, demo=True, bus=DataBus(), clock=clock), parent=window
    )
    importer.show()
    importer.check_file(sample)
    save(importer, "history_import")
    importer.reject()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
