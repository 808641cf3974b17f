"""Grab the label print preview (a syringe label on an A4 sheet started part way, and a dose card on a roll)
and the Export workbook dialog, on the demo clinic, to PNG files in this folder.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_printing_screenshots.py
"""

from __future__ import annotations

from _shots import prepare, save

WORK = prepare("b12desk-printing-shots-")

from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402
from sqlalchemy import select  # noqa: E402

from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.data.models import Administration, TreatmentPlan  # noqa: E402
from b12desk.domain.enums import AdministrationOutcome, PlanStatus, RecordStatus  # noqa: E402
from b12desk.services import auth, clinic, demo_data  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.printing import LabelPrintDialog  # noqa: E402

ops.WAIT_FOR_RESULTS = True


def rendered(ms: int = 800) -> None:
    """QPdfView draws its pages on a thread of its own: give it a moment before the grab."""
    from PySide6.QtCore import QDeadlineTimer, QEventLoop

    deadline = QDeadlineTimer(ms)
    while not deadline.hasExpired():
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    db = open_database(f"sqlite:///{WORK / 'demo.sqlite3'}")
    migrate.upgrade(db, backup_dir=None)
    demo_data.generate(db, patients=60, years=1, seed=12, create_demo_users=True)
    with db.sessions.begin() as s:
        nurse = auth.authenticate(s, username="nurse", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)
        clinic.set_clinic_contact(
            s,
            auth.authenticate(s, username="admin", password=DEMO_PASSWORD),
            name="Riverside B12 Clinic",
            phone="020 7946 0000",
        )
        dose = s.scalar(
            select(Administration.id)
            .where(
                Administration.outcome == AdministrationOutcome.GIVEN,
                Administration.status == RecordStatus.CURRENT,
                Administration.lot_id.is_not(None),
            )
            .order_by(Administration.given_at.desc())
            .limit(1)
        )
        patient = s.scalar(
            select(TreatmentPlan.patient_id).where(TreatmentPlan.status == PlanStatus.ACTIVE).limit(1)
        )
    assert dose is not None and patient is not None
    ctx = AppContext(db=db, actor=nurse, demo=True, bus=DataBus(), clock=clock)
    host = QWidget()
    syringe = LabelPrintDialog(ctx, "syringe", [dose], parent=host)
    syringe.layout_choice.setCurrentIndex(syringe.layout_choice.findData("a4-21"))
    syringe.start.setValue(4)
    syringe.resize(760, 700)
    syringe.show()
    rendered()
    save(syringe, "print_syringe_label")
    syringe.close()
    card = LabelPrintDialog(ctx, "card", [patient], parent=host)
    card.layout_choice.setCurrentIndex(card.layout_choice.findData("roll-57x32"))
    card.resize(760, 560)
    card.show()
    rendered()
    save(card, "print_dose_card")
    card.close()

    from b12desk.ui.export_dialog import ExportDialog

    with db.sessions.begin() as s:
        manager = auth.authenticate(s, username="manager", password=DEMO_PASSWORD)
    export = ExportDialog(
        AppContext(db=db, actor=manager, demo=True, bus=DataBus(), clock=clock), parent=host
    )
    export.kind.setCurrentIndex(export.kind.findData("administrations"))
    export.show()
    save(export, "export_workbook")
    export.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
