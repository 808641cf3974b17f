"""Grab the Calendar tab (month, week, a day's list, the worklists) and the form that completes a lab task,
on the demo clinic, to PNG files in this folder.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_calendar_screenshots.py
"""

from __future__ import annotations

from _shots import prepare, save, settle

WORK = prepare("b12desk-calendar-shots-")

from PySide6.QtWidgets import QApplication  # noqa: E402

from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import open_database  # noqa: E402
from b12desk.domain.enums import EventKind  # noqa: E402
from b12desk.services import auth, clinic, demo_data, monitoring  # noqa: E402
from b12desk.services.monitoring import Worklist  # noqa: E402
from b12desk.services.startup import DEMO_PASSWORD  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.main_window import MainWindow  # noqa: E402

ops.WAIT_FOR_RESULTS = True


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    db = open_database(f"sqlite:///{WORK / 'demo.sqlite3'}")
    migrate.upgrade(db, backup_dir=None)
    demo_data.generate(db, patients=400, years=2, seed=12, create_demo_users=True)
    with db.sessions.begin() as s:
        nurse = auth.authenticate(s, username="nurse", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)

    ctx = AppContext(db=db, actor=nurse, demo=True, bus=DataBus(), clock=clock)
    window = MainWindow(ctx)
    window.resize(1280, 800)
    window.load()
    window.show()
    settle()
    window.tabs.setCurrentWidget(window.calendar_tab)
    calendar = window.calendar
    settle()
    calendar.day_table.selectRow(0)
    save(window, "calendar_month")

    calendar.set_week_view(True)
    settle()
    save(window, "calendar_week")
    calendar.set_week_view(False)

    calendar.pages.setCurrentIndex(1)
    for name in (Worklist.LAPSED, Worklist.TODAY):
        row = list(Worklist).index(name)
        calendar.lists.setCurrentRow(row)
        settle()
        if calendar.work_items.rowCount():
            calendar.work_table.selectRow(0)
        save(window, f"worklist_{name.value}")

    # A lab task due: the form that records its result and completes it.
    with db.sessions.begin() as s:
        tasks = monitoring.worklist(s, nurse, Worklist.TASKS, today=clock.today())
        lab = next((t for t in tasks if t.kind == EventKind.LAB and t.event_id is not None), None)
        task = monitoring.get_task(s, nurse, lab.event_id) if lab and lab.event_id else None
    if task is not None and lab is not None:
        form = calendar.open_task_form(task, f"{lab.family_name.upper()}, {lab.given_name} ({lab.mrn})")
        form.value.setText("96")
        settle()
        save(form, "task_result")
        form.mark_clean()
        form.reject()
    window.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
