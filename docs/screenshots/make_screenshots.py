"""Grab the screens of the desktop app to PNG files in this folder, from a fresh synthetic demo clinic.

Run from the repository root:  QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_screenshots.py
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

from _shots import prepare, save, settle

WORK = prepare("b12desk-shots-")

from PySide6.QtCore import QEventLoop  # noqa: E402 - after the environment is set
from PySide6.QtWidgets import QApplication  # noqa: E402

from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.domain.enums import Cause, LabContext, Role  # noqa: E402
from b12desk.domain.patients import PatientInput  # noqa: E402
from b12desk.services import auth, clinic, patients  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD, OpenedDatabase  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.history_dialog import HistoryDialog  # noqa: E402
from b12desk.ui.import_dialog import ImportDialog  # noqa: E402
from b12desk.ui.labs_dialog import LabsDialog  # noqa: E402
from b12desk.ui.login import LoginDialog  # noqa: E402
from b12desk.ui.main_window import MainWindow  # noqa: E402
from b12desk.ui.patient_dialog import PatientDialog  # noqa: E402

# Every database call of the GUI runs on the database worker; make each one return with its result on the
# screen (as the UI tests do), so that a screen is filled in before it is grabbed.
ops.WAIT_FOR_RESULTS = True


def build_database() -> OpenedDatabase:
    # Migrate only: the generator wants an empty database, before anything else is stored in it.
    db = open_database(f"sqlite:///{WORK / 'demo.sqlite3'}")
    opened = OpenedDatabase(db=db, demo=True, upgrade=migrate.upgrade(db, backup_dir=None))
    try:
        from b12desk.services import demo_data
    except ImportError:
        demo_data = None  # type: ignore[assignment]
    if demo_data is not None:
        demo_data.generate(opened.db, patients=60, years=2, seed=1, create_demo_users=True)
        return opened
    with opened.db.sessions.begin() as s:  # a handful of patients through the services
        admin = auth.create_demo_user(
            s, username="admin", full_name="Adam Admin (demo)", role=Role.ADMIN, password=DEMO_PASSWORD
        )
        for username, name, role in (("nurse", "Nora Nurse (demo)", Role.NURSE),):
            auth.create_demo_user(s, username=username, full_name=name, role=role, password=DEMO_PASSWORD)
        for i, (family, given, cause) in enumerate(
            [("Okafor", "Grace", Cause.PERNICIOUS_ANAEMIA), ("Nguyen", "Lan", Cause.DIETARY)]
        ):
            patients.create_patient(
                s,
                admin,
                PatientInput(f"H{1000 + i}", family, given, date(1950 + 7 * i, 3, 14), cause=cause),
            )
    return opened


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    opened = build_database()
    db = opened.db

    login = LoginDialog(db, demo=True)
    login.show()
    save(login, "login-demo")
    login.close()

    with db.sessions.begin() as session:  # a writer's transaction, as the sign-in dialog's
        actor = auth.authenticate(session, username="admin", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(session)
    ctx = AppContext(db=db, actor=actor, demo=True, bus=DataBus(), clock=clock)
    window = MainWindow(ctx)
    window.resize(1200, 700)
    window.load()
    window.show()
    settle()  # the roster's rows
    window.roster.table.selectRow(2)
    save(window, "roster")

    roster = window.roster
    model = roster.model
    # A patient with a regimen and some history, for the edit, labs and history screens.
    with_plan = next(
        (model.roster_row(r) for r in range(model.rowCount()) if model.roster_row(r).regimen),
        model.roster_row(0),
    )
    with db.sessions.begin() as s:
        detail = patients.get_patient(s, actor, with_plan.id)
        patients.add_lab_result(
            s,
            actor,
            with_plan.id,
            test_code="serum_b12",
            context=LabContext.FOLLOW_UP,
            taken_on=clock.today() - timedelta(days=3),
            value_text="240",
            unit="ng/L",  # as UK laboratories report it: NICE NG239's indeterminate band
            clock=clock,
        )
        wrong = patients.add_lab_result(
            s,
            actor,
            with_plan.id,
            test_code="hb",
            context=LabContext.FOLLOW_UP,
            taken_on=clock.today() - timedelta(days=3),
            value_text="12.1",
            unit="g/dL",
            clock=clock,
        )
        patients.mark_lab_entered_in_error(s, actor, wrong.id, reason="wrong patient")

    edit = PatientDialog(ctx, detail=detail, parent=window)
    edit.show()
    save(edit, "patient-edit")
    edit.close()

    new = PatientDialog(ctx, parent=window)
    new.mrn.setText(detail.data.mrn)  # already taken
    new.family_name.setText("Okafor")
    new.date_of_birth.setText((clock.today() + timedelta(days=30)).isoformat())
    new.neuro_involvement.setChecked(True)
    new.flags["flag_b12_hypersensitivity"].setChecked(True)
    new.show()
    new.save()
    save(new, "patient-validation-errors")
    new.close()

    labs = LabsDialog(ctx, with_plan, parent=window)
    labs.show()
    labs.value.setText("abc")
    labs.add_result()
    save(labs, "labs")
    labs.close()

    history = HistoryDialog(ctx, with_plan, parent=window)
    history.show()
    save(history, "history")
    history.close()

    csv = WORK / "clinic-export.csv"
    csv.write_text(
        "mrn,family_name,given_name,date_of_birth,sex,cause\n"
        "Q100,Adeyemi,Tunde,1957-09-30,male,pernicious_anaemia\n"
        "Q101,Brennan,,1962-04-11,female,dietary\n"
        "Q102,Castillo,Marta,1971-02-30,female,post_bariatric\n"
        "Q103,Dubois,Claire,1980-06-02,female,metformin\n"
        "Q104,Evans,Rhys,1949-12-24,male,gastrectomy\n"
        f"{detail.data.mrn},Farouk,Amina,1990-01-15,female,dietary\n",
        encoding="utf-8",
    )
    importer = ImportDialog(ctx, parent=window)
    importer.show()
    importer.check_file(csv)
    while importer.busy:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    save(importer, "import-problems")
    importer.close()

    window.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
