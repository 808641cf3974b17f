"""What a nurse, a pharmacist and a manager meet on their first day: who is due, searching by the start of
names, signing out, forms that ask before losing what was typed, messages that say what is true, and the
main screens at a small laptop's 1024 x 700."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from b12desk.clock import fixed_clock
from b12desk.data.db import Database
from b12desk.data.migrate import UpgradeResult
from b12desk.data.reference import shipped_regimen_templates
from b12desk.services import demo_data, inventory, plans
from b12desk.services.reference import seed_formulary_entries
from b12desk.services.startup import OpenedDatabase
from b12desk.ui import settings
from b12desk.ui.app import Desktop
from b12desk.ui.inventory import ProductsModel
from b12desk.ui.main_window import MainWindow
from b12desk.ui.patient_dialog import PatientDialog
from b12desk.ui.plans import PlanEditorDialog
from b12desk.ui.roster import (
    COL_NEXT_DUE,
    COL_REGIMEN,
    COL_STATUS,
    COLUMNS,
    STATUS_DUE,
    RosterTab,
    short_regimen,
)
from b12desk.ui.verification import VerificationQueueDialog
from tests.clinic_time import clinic_now, clinic_today
from tests.conftest import PASSWORD, Staffing
from tests.ui.conftest import AddPatient, MakeContext

TODAY = clinic_today()
NOW = clinic_now()
SCREENS = Path(os.environ.get("B12DESK_TEST_SCREENS", Path(__file__).resolve().parents[2] / "test-output"))


def plan_from(db: Database, staff: Staffing, patient_id: int, start_days_ago: int) -> int:
    """A verified plan (three doses a week at first) whose first dose fell due `start_days_ago` days ago."""
    clock = fixed_clock(NOW - timedelta(days=max(start_days_ago, 0)))
    with db.sessions.begin() as s:
        plans.ensure_shipped_templates(s)
        template = next(t for t in plans.list_templates(s, staff.admin) if t.code == "uk_hoc_no_neuro")
        plan = plans.create_plan(
            s,
            staff.pharmacist,
            patient_id,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=Decimal(1000),
                route=template.definition.route,
                start_date=TODAY - timedelta(days=start_days_ago),
                prescriber="Dr Shah",
            ),
            clock=clock,
        )
        plans.verify_plan(
            s, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id, clock=clock
        )
        return plan.id


def roster_tab(qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget) -> RosterTab:
    tab = RosterTab(make_ctx(staff.nurse), parent=host)
    host.resize(1200, 600)
    tab.resize(1200, 600)
    host.show()
    tab.reload()
    return tab


def next_due_cells(tab: RosterTab) -> dict[str, str]:
    m = tab.model
    return {m.roster_row(r).mrn: m.data(m.index(r, COL_NEXT_DUE)) for r in range(m.rowCount())}


def test_due_today_and_overdue_are_marked_with_a_word_filtered_and_counted(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, db: Database, add_patient: AddPatient
) -> None:
    plan_from(db, staff, add_patient("LATE1", "Adams", "Ruth"), start_days_ago=10)  # window long passed
    plan_from(db, staff, add_patient("TODAY1", "Baker", "Sam"), start_days_ago=0)
    # (A plan starting on a day the clinic is closed is due on its next open day: "today" is asserted
    # only when today is one.)
    plan_from(db, staff, add_patient("SOON1", "Clark", "Ivy"), start_days_ago=-5)  # starts in 5 days
    add_patient("NONE1", "Dunn", "Joe")  # no plan
    tab = roster_tab(qtbot, make_ctx, staff, host)
    counts: list[str] = []
    tab.due_counts_changed.connect(counts.append)
    tab.reload()
    cells = next_due_cells(tab)
    m = tab.model
    due = {m.roster_row(r).mrn: m.roster_row(r).next_due for r in range(m.rowCount())}
    late_due, soon_due = due["LATE1"], due["SOON1"]
    assert late_due is not None and soon_due is not None and late_due < TODAY < soon_due
    assert cells["LATE1"] == f"{late_due.isoformat()} · overdue"
    assert cells["SOON1"] == soon_due.isoformat()  # not due yet: the date alone
    assert cells["NONE1"] == ""
    late = next(r for r in range(m.rowCount()) if m.roster_row(r).mrn == "LATE1")
    soon = next(r for r in range(m.rowCount()) if m.roster_row(r).mrn == "SOON1")
    assert m.data(m.index(late, COL_NEXT_DUE), Qt.ItemDataRole.FontRole).bold()
    assert m.data(m.index(late, COL_NEXT_DUE), Qt.ItemDataRole.ForegroundRole) is not None
    assert m.data(m.index(soon, COL_NEXT_DUE), Qt.ItemDataRole.ForegroundRole) is None
    # Selected, the colour gives way to the selection's, and the word stays.
    tab.table.selectRow(late)
    assert "overdue" in m.data(m.index(late, COL_NEXT_DUE))

    today_due = due["TODAY1"] == TODAY
    if today_due:
        assert cells["TODAY1"] == f"{TODAY.isoformat()} · today"
    tab.status_filter.setCurrentIndex(tab.status_filter.findData(STATUS_DUE))
    shown = {m.roster_row(r).mrn for r in range(m.rowCount())}
    assert shown == ({"LATE1", "TODAY1"} if today_due else {"LATE1"})
    assert counts[-1] == f"Due: {int(today_due)} · overdue: 1"


def test_the_due_count_reaches_the_main_windows_status_line(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient
) -> None:
    plan_from(db, staff, add_patient("LATE1", "Adams", "Ruth"), start_days_ago=10)
    window = MainWindow(make_ctx(staff.nurse))
    qtbot.addWidget(window)
    window.load()
    assert window.due_label.text() == "Due: 0 · overdue: 1"


def test_each_search_word_must_start_a_name_word_or_the_mrn(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, add_patient: AddPatient
) -> None:
    add_patient("H1", "Adams", "Anabel")
    add_patient("H2", "Adams", "Rukhsana")
    add_patient("H3", "O'Brien-Smith", "Ana")
    tab = roster_tab(qtbot, make_ctx, staff, host)

    def found(text: str) -> set[str]:
        tab.search.setText(text)
        tab.apply_search()
        m = tab.model
        return {m.roster_row(r).mrn for r in range(m.rowCount())}

    assert found("adams ana") == {"H1"}  # not Rukhsana: "ana" is inside her name, not its start
    assert found("ana") == {"H1", "H3"}
    assert found("smith") == {"H3"} and found("obrien") == {"H3"} and found("o'brien") == {"H3"}
    assert found("h2") == {"H2"} and found("2") == set()  # an MRN from its start too


def test_a_long_regimen_name_is_shortened_in_its_column_and_whole_in_the_tooltip() -> None:
    assert (
        short_regimen("Hydroxocobalamin 1 mg, no neurological involvement (BNF)") == "Hydroxo 1 mg, no neuro"
    )
    long = "Cyanocobalamin 1,000 mcg after bariatric surgery: treatment, then monthly (ASMBS)"
    assert short_regimen(long) == "Cyano 1,000 mcg post-bariatric"
    custom = "Cyanocobalamin 1,000 mcg weekly for a clinic's own protocol (local)"
    assert short_regimen(custom) == "Cyano 1,000 mcg weekly for a…"  # cut at a word's end
    # Every shipped regimen has a whole short name of its own, and the column is wide enough for it.
    shipped = [short_regimen(str(t["name"])) for t in shipped_regimen_templates()]
    assert len(set(shipped)) == len(shipped)
    assert not any(s.endswith("…") for s in shipped), shipped
    column = COLUMNS[COL_REGIMEN]
    assert max(len(s) for s in shipped) <= len(column.sample)


def test_sign_out_closes_everything_and_the_next_person_signs_in(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    opened = OpenedDatabase(db=db, demo=False, upgrade=UpgradeResult(None, "head", None))
    desktop = Desktop(opened, app)
    ctx = make_ctx(staff.nurse)
    window = desktop.start(ctx.actor, ctx.clock)
    qtbot.addWidget(window)
    window.roster.table.selectRow(0)
    window.roster.edit_selected()  # a patient's record open, over the roster, with a change not saved
    record = next(w for w in app.topLevelWidgets() if isinstance(w, PatientDialog) and w.isVisible())
    qtbot.keyClicks(record.given_name, " Ada")
    box = window.sign_out()
    assert box is not None and box.isVisible() and "Not saved yet: Edit patient" in box.text()
    qtbot.mouseClick(_button(box, "Keep working"), Qt.MouseButton.LeftButton)
    assert window.isVisible() and record.isVisible() and desktop.login is None
    box = window.sign_out()
    assert box is not None
    qtbot.mouseClick(_button(box, "Discard and sign out"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: desktop.login is not None and desktop.login.isVisible())
    login = desktop.login
    assert login is not None
    assert not window.isVisible()
    shown = [w for w in app.topLevelWidgets() if w.isVisible()]
    assert shown == [login]  # nothing of the nurse's session is left on screen
    assert login.username.text() == "" and login.password.text() == ""

    qtbot.keyClicks(login.username, "pharmacist")
    qtbot.keyClicks(login.password, PASSWORD)
    qtbot.mouseClick(login.sign_in_button, Qt.MouseButton.LeftButton)
    assert desktop.window is not None and desktop.window is not window
    qtbot.addWidget(desktop.window)
    assert desktop.window.user_label.text() == "Signed in: Pharmacist — Pharmacist"


def test_switch_user_is_there_for_a_shared_workstation(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing
) -> None:
    window = MainWindow(make_ctx(staff.nurse))
    qtbot.addWidget(window)
    window.show()
    signed_out: list[bool] = []
    window.signed_out.connect(lambda: signed_out.append(True))
    window.switch_user_action.trigger()
    assert signed_out == [True] and not window.isVisible()


def _button(box: QMessageBox, text: str) -> QPushButton:
    found = next(b for b in box.buttons() if b.text() == text)
    assert isinstance(found, QPushButton)
    return found


def test_esc_on_a_changed_form_asks_before_discarding(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    untouched = PatientDialog(make_ctx(staff.nurse), parent=host)
    untouched.show()
    qtbot.keyClick(untouched, Qt.Key.Key_Escape)
    assert not untouched.isVisible()  # nothing typed: nothing to ask about

    dialog = PatientDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    qtbot.keyClicks(dialog.family_name, "Okafor")
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible()
    box = dialog.discard_prompt
    assert box is not None and box.isVisible() and box.windowTitle() == "Discard changes?"
    qtbot.mouseClick(_button(box, "Keep editing"), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.family_name.text() == "Okafor"
    dialog.reject()
    box = dialog.discard_prompt
    assert box is not None and box.isVisible()
    qtbot.mouseClick(_button(box, "Discard changes"), Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_a_fields_error_goes_as_soon_as_it_is_filled_in(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    dialog = PatientDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    qtbot.keyClicks(dialog.mrn, "H77")
    qtbot.keyClicks(dialog.family_name, "Okafor")
    dialog.save()
    assert "given name" in dialog.errors.message("given_name").lower()
    qtbot.keyClicks(dialog.given_name, "Grace")
    assert dialog.errors.message("given_name") == ""  # gone before the next save
    assert dialog.errors.message("date_of_birth") != ""  # the others stay until theirs are filled


def test_the_main_window_saves_its_size_when_it_changes_not_only_on_quit(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing
) -> None:
    window = MainWindow(make_ctx(staff.nurse))
    qtbot.addWidget(window)
    window.show()
    window.resize(760, 520)
    qtbot.waitUntil(lambda: not settings.get(settings.MAIN_WINDOW_GEOMETRY).isEmpty(), timeout=3000)
    again = MainWindow(make_ctx(staff.nurse))  # as after a crash: the first window was never closed
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (760, 520)


def test_a_database_holding_demo_data_is_marked_demo_even_outside_demo_mode(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database
) -> None:
    plain = MainWindow(make_ctx(staff.nurse))
    qtbot.addWidget(plain)
    plain.load()
    assert plain.demo_label is None and not plain.windowTitle().endswith("DEMO")
    with db.sessions.begin() as s:  # as `b12desk demo-data` marks what it wrote
        from b12desk.data.audit import append_event

        append_event(s, staff_id=None, action="demo_data", entity="database", entity_id="demo", new={})
    window = MainWindow(make_ctx(staff.nurse))
    qtbot.addWidget(window)
    window.load()
    assert window.demo_label is not None and window.windowTitle().endswith("— DEMO")
    assert demo_data is not None  # the generator is what writes that event (tests/services/test_demo_data.py)


@pytest.mark.parametrize(("width", "height"), [(1024, 700), (1600, 1000)])
def test_the_main_screens_fit_a_small_laptop_and_are_grabbed_for_review(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    db: Database,
    add_patient: AddPatient,
    width: int,
    height: int,
) -> None:
    """At 1024 x 700 the roster's priority columns (up to Next due and Status) show without scrolling and
    the signed-in name is whole; the screens are saved to test-output/ to be looked at."""
    plan_from(db, staff, add_patient("LATE1", "Worthington-Smythe", "Elizabeth"), start_days_ago=10)
    h2 = add_patient("H2", "Okafor", "Grace", flag_cobalt_allergy=True, allergies="Penicillin (rash)")
    with db.sessions.begin() as s:  # a draft waiting in the queue
        template = next(t for t in plans.list_templates(s, staff.admin) if t.code == "uk_hoc_neuro")
        plans.create_plan(
            s,
            staff.pharmacist2,
            h2,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=Decimal(1000),
                route=template.definition.route,
                start_date=TODAY,
                prescriber="Dr Shah",
            ),
        )
    with db.sessions.begin() as s:
        inventory.seed_formulary(s, staff.pharmacist, seed_formulary_entries())
    window = MainWindow(make_ctx(staff.pharmacist))
    qtbot.addWidget(window)
    window.resize(width, height)
    window.show()
    window.load()
    qtbot.waitUntil(lambda: window.roster.model.rowCount() == 2)
    QApplication.processEvents()
    table = window.roster.table
    for column in (COL_NEXT_DUE, COL_STATUS):
        right = table.columnViewportPosition(column) + table.columnWidth(column)
        assert right <= table.viewport().width(), (column, right, table.viewport().width())
    assert window.user_label.width() >= window.user_label.sizeHint().width()
    out = SCREENS / f"{width}x{height}"
    out.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out / "roster.png"))
    window.tabs.setCurrentWidget(window.inventory)
    QApplication.processEvents()
    window.grab().save(str(out / "inventory.png"))
    # Every product's label is whole: it fits its two lines in the label column.
    products = window.inventory.products_table
    label_width = products.columnWidth(ProductsModel.COL_LABEL) - 8
    lines = products.verticalHeader().defaultSectionSize() - 8
    metrics = products.fontMetrics()
    for row in range(window.inventory.products.rowCount()):
        label = window.inventory.products.row(row).label
        box = metrics.boundingRect(0, 0, label_width, 10_000, int(Qt.TextFlag.TextWordWrap), label)
        assert box.height() <= lines, (label, box.height(), lines)

    # The plan editor and the verification queue, as big as such a screen leaves room for.
    room = (width - 24, height - 48)
    patient_id = window.roster.model.roster_row(0).id
    editor = PlanEditorDialog(window.ctx, patient_id, parent=window)
    editor.resize(min(1220, room[0]), min(760, room[1]))
    editor.show()
    QApplication.processEvents()
    editor.grab().save(str(out / "plan_editor.png"))
    editor.reject()
    queue = VerificationQueueDialog(window.ctx, parent=window)
    queue.resize(min(1240, room[0]), min(760, room[1]))
    queue.show()
    QApplication.processEvents()
    queue.grab().save(str(out / "verification_queue.png"))
    queue.reject()
