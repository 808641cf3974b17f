"""Grab the main screens at a small laptop's 1024 x 700, on the demo clinic, to PNG files in this folder.

The same demo database `b12desk --demo` opens (two years of a synthetic clinic, the demo accounts); a
pharmacist writes a draft plan for a patient with an allergy, so that the plan editor shows the patient's
flags and the queue shows why its author cannot verify it.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_front_desk_screenshots.py
"""

from __future__ import annotations

from dataclasses import replace

from _shots import prepare, save, settle

WORK = prepare("b12desk-front-desk-shots-")

from PySide6.QtWidgets import QApplication  # noqa: E402

from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.services import auth, clinic, demo_data, patients, plans  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.main_window import MainWindow  # noqa: E402
from b12desk.ui.plans import PlanEditorDialog  # noqa: E402
from b12desk.ui.roster import STATUS_DUE  # noqa: E402
from b12desk.ui.verification import VerificationQueueDialog  # noqa: E402

ops.WAIT_FOR_RESULTS = True

SCREEN = (1024, 700)
DIALOG = (SCREEN[0] - 24, SCREEN[1] - 48)  # what a laptop's screen leaves below its title and task bars


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    db = open_database(f"sqlite:///{WORK / 'demo.sqlite3'}")
    migrate.upgrade(db, backup_dir=None)
    demo_data.generate(db, patients=120, years=2, seed=12, create_demo_users=True)

    with db.sessions.begin() as s:
        pharmacist = auth.authenticate(s, username="pharmacist", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)
        # A patient not on a plan yet, with a penicillin allergy and a cobalt allergy recorded.
        row = next(r for r in patients.roster(s, pharmacist) if not r.regimen and not r.archived)
        detail = patients.get_patient(s, pharmacist, row.id)
        patients.update_patient(
            s,
            pharmacist,
            row.id,
            replace(detail.data, allergies="Penicillin (rash)", flag_cobalt_allergy=True),
            expected_version=detail.version_id,
            clock=clock,
        )
        template = next(t for t in plans.list_templates(s, pharmacist) if t.code == "uk_hoc_neuro")
        draft = plans.create_plan(
            s,
            pharmacist,
            row.id,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=template.definition.phases[0].dose_mcg,
                route=template.definition.route,
                start_date=clock.today(),
                prescriber="Dr A. Shah",
                indication="Pernicious anaemia with paraesthesia",
            ),
            clock=clock,
        )

    ctx = AppContext(db=db, actor=pharmacist, demo=True, bus=DataBus(), clock=clock)
    window = MainWindow(ctx)
    window.resize(*SCREEN)
    window.load()
    window.show()
    settle()
    save(window, "small_roster")
    window.roster.status_filter.setCurrentIndex(window.roster.status_filter.findData(STATUS_DUE))
    save(window, "small_roster_due")
    window.tabs.setCurrentWidget(window.inventory)
    save(window, "small_inventory")

    editor = PlanEditorDialog(ctx, row.id, parent=window)
    editor.resize(*DIALOG)
    editor.show()
    save(editor, "small_plan_editor")
    editor.reject()

    queue = VerificationQueueDialog(ctx, parent=window)
    queue.resize(*DIALOG)
    queue.show()
    settle()
    queue.select_plan(draft.id)  # the pharmacist's own draft: Verify is off, and the reason beside it
    save(queue, "small_verification_queue")
    queue.reject()

    window.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
