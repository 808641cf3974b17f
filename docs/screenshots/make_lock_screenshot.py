"""Grab the idle lock screen at a small laptop's 1024 x 700, on the demo clinic, to idle_lock.png here.

A nurse has a patient's record open with an edit not yet saved when the workstation's idle time (the
default 5 minutes) runs out; the script then checks that no name on the roster is anywhere on the
locked screen, and that the form is back, unsaved edit and all, after the password.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_lock_screenshot.py
"""

from __future__ import annotations

from _shots import prepare, save, settle

WORK = prepare("b12desk-lock-shots-")

from PySide6.QtWidgets import QAbstractItemView, QApplication, QLabel, QLineEdit, QPushButton  # noqa: E402

from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.services import auth, clinic, demo_data  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD, OpenedDatabase  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.app import Desktop  # noqa: E402
from b12desk.ui.patient_dialog import PatientDialog  # noqa: E402

ops.WAIT_FOR_RESULTS = True

SCREEN = (1024, 700)


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    db = open_database(f"sqlite:///{WORK / 'demo.sqlite3'}")
    upgrade = migrate.upgrade(db, backup_dir=None)
    demo_data.generate(db, patients=120, years=2, seed=12, create_demo_users=True)
    with db.sessions.begin() as s:
        nurse = auth.authenticate(s, username="nurse", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)

    desktop = Desktop(OpenedDatabase(db=db, demo=True, upgrade=upgrade), app)  # the 5-minute default
    window = desktop.start(nurse, clock)
    lock = desktop.lock
    assert lock is not None
    window.resize(*SCREEN)
    settle()
    cells = [
        str(window.roster.model.index(row, column).data())
        for row in range(window.roster.model.rowCount())
        for column in range(2)  # MRN and name
    ]
    names = {part.strip() for cell in cells for part in [cell, *cell.split(",")] if len(part.strip()) > 2}
    assert names, "the roster should list the demo patients"
    window.roster.table.selectRow(0)
    window.roster.edit_selected()
    record = next(w for w in app.topLevelWidgets() if isinstance(w, PatientDialog) and w.isVisible())
    record.phone.setText("07700 900123")  # typed, not saved
    settle()

    lock.lock()
    settle()
    shown = [w for w in app.topLevelWidgets() if w.isVisible()]
    assert shown == [window], shown
    seen = [window.windowTitle()]
    for widget in (
        window.findChildren(QLabel) + window.findChildren(QLineEdit) + window.findChildren(QPushButton)
    ):
        if widget.isVisible():
            seen.append(widget.text())
    assert not [w for w in window.findChildren(QAbstractItemView) if w.isVisible()]
    leaked = sorted(name for name in names if name and any(name in text for text in seen))
    assert not leaked, f"patient data on the lock screen: {leaked}"
    save(window, "idle_lock")

    lock.try_unlock(DEMO_PASSWORD)
    assert not lock.locked and record.isVisible() and record.phone.text() == "07700 900123"
    record.hide()
    window.hide()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
