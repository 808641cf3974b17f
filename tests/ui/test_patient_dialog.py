"""Adding and editing patients through the dialog: saved through the service, refusals shown by field."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.domain.enums import Cause, PlanStatus, Presentation, Route
from b12desk.services import patients, plans
from b12desk.ui.history_dialog import HistoryDialog
from b12desk.ui.patient_dialog import PatientDialog
from b12desk.ui.roster import COL_FAMILY, RosterTab
from tests.clinic_time import clinic_today
from tests.conftest import PASSWORD, Staffing
from tests.ui.conftest import AddPatient, MakeContext


@pytest.fixture
def tab(make_ctx: MakeContext, staff: Staffing, host: QWidget) -> RosterTab:
    """The roster as a nurse sees it, from which the patient dialog is opened."""
    roster = RosterTab(make_ctx(staff.nurse), parent=host)
    host.resize(1100, 600)
    roster.resize(1100, 600)
    host.show()
    roster.reload()
    return roster


def _open_new(qtbot: QtBot, tab: RosterTab) -> PatientDialog:
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    dialog = tab.findChild(PatientDialog)
    assert dialog is not None and dialog.isVisible()
    return dialog


def _tick(qtbot: QtBot, box: QCheckBox) -> None:
    """Click the box itself: the widget is wider than its indicator and text."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def _choose(combo: QComboBox, data: object) -> None:
    combo.setCurrentIndex(combo.findData(data))


def _fill(qtbot: QtBot, d: PatientDialog, *, mrn: str, born: str) -> None:
    qtbot.keyClicks(d.mrn, mrn)
    qtbot.keyClicks(d.family_name, "Okafor")
    qtbot.keyClicks(d.given_name, "Grace")
    qtbot.keyClicks(d.date_of_birth, born)
    _choose(d.cause, Cause.PERNICIOUS_ANAEMIA)
    qtbot.keyClicks(d.phone, "0161 496 0000")


def _find(db: Database, staff: Staffing, mrn: str) -> patients.PatientDetail | None:
    with db.sessions.begin() as s:
        return patients.find_patient_by_mrn(s, staff.nurse, mrn)


def test_add_a_patient_through_the_dialog(
    qtbot: QtBot, db: Database, tab: RosterTab, staff: Staffing
) -> None:
    dialog = _open_new(qtbot, tab)
    _fill(qtbot, dialog, mrn="h42", born="1961-04-09")
    _tick(qtbot, dialog.flags["flag_lebers_disease"])
    qtbot.keyClicks(dialog.allergies, "penicillin")
    with qtbot.waitSignal(tab.ctx.bus.changed) as changed:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert changed.args == ["patients"]
    assert not dialog.isVisible()
    saved = _find(db, staff, "H42")
    assert saved is not None
    assert saved.data.date_of_birth == date(1961, 4, 9)
    assert saved.data.cause == Cause.PERNICIOUS_ANAEMIA
    assert saved.data.flag_lebers_disease and saved.data.allergies == "penicillin"
    assert tab.model.data(tab.model.index(0, COL_FAMILY)) == "Okafor"
    assert tab.selected_patient_id() == saved.id  # the new patient is selected


def test_future_birth_date_is_shown_beside_the_field_and_nothing_is_saved(
    qtbot: QtBot, db: Database, tab: RosterTab, staff: Staffing
) -> None:
    dialog = _open_new(qtbot, tab)
    future = (clinic_today() + timedelta(days=3)).isoformat()
    _fill(qtbot, dialog, mrn="H43", born=future)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.field_error("date_of_birth") == f"Date of birth {future} is in the future."
    assert dialog.field_invalid("date_of_birth")
    assert dialog.errors.label("date_of_birth").isVisible()
    assert not dialog.field_invalid("mrn") and dialog.field_error("mrn") == ""
    assert dialog.summary.isVisible() and "Date of birth" in dialog.summary.text()
    assert dialog.date_of_birth.text() == future and dialog.family_name.text() == "Okafor"  # kept
    assert _find(db, staff, "H43") is None
    assert tab.model.total_count() == 0
    # Correcting the date and saving again works from the same dialog.
    dialog.date_of_birth.setText("1961-04-09")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert _find(db, staff, "H43") is not None


def test_duplicate_mrn_and_several_errors_at_once(
    qtbot: QtBot, db: Database, tab: RosterTab, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H44", "Existing", "Eve")
    tab.reload()
    dialog = _open_new(qtbot, tab)
    qtbot.keyClicks(dialog.mrn, "h44")
    qtbot.keyClicks(dialog.family_name, "Okafor")
    qtbot.keyClicks(dialog.date_of_birth, "1961-02-30")  # not a date
    _tick(qtbot, dialog.neuro_involvement)  # ticked, no symptoms
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert "already used by another patient" in dialog.field_error("mrn")
    assert dialog.field_error("given_name") == "Enter the given name."
    # A date of the right shape that the calendar lacks is told so, not told to use the shape it uses.
    assert dialog.field_error("date_of_birth") == (
        "1961-02-30 is not a date in the calendar (February 1961 has 28 days)."
    )
    assert "Describe the neurologic symptoms" in dialog.field_error("neuro_symptoms")
    assert all(dialog.field_invalid(f) for f in ("mrn", "given_name", "date_of_birth", "neuro_symptoms"))
    assert "Correct the highlighted fields: MRN, Given name" in dialog.summary.text()
    with db.sessions.begin() as s:
        assert len(patients.roster(s, staff.nurse)) == 1


def test_empty_birth_date_asks_for_it(qtbot: QtBot, tab: RosterTab, staff: Staffing) -> None:
    dialog = _open_new(qtbot, tab)
    _fill(qtbot, dialog, mrn="H45", born="")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.field_error("date_of_birth") == "Enter the date of birth (YYYY-MM-DD)."


def test_a_birth_date_in_another_shape_is_shown_the_shape(qtbot: QtBot, tab: RosterTab) -> None:
    dialog = _open_new(qtbot, tab)
    _fill(qtbot, dialog, mrn="H46", born="14/03/1958")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.field_error("date_of_birth") == (
        "'14/03/1958' is not a date; write it as YYYY-MM-DD (e.g. 1958-03-14)."
    )


def test_edit_by_double_click_then_history_shows_the_change(
    qtbot: QtBot, db: Database, tab: RosterTab, staff: Staffing, add_patient: AddPatient
) -> None:
    pid = add_patient("H46", "Okafor", "Grace")
    tab.reload()
    index = tab.model.index(0, COL_FAMILY)
    rect = tab.table.visualRect(index)
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = tab.findChild(PatientDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.mrn.text() == "H46" and dialog.date_of_birth.text() == "1960-05-17"
    dialog.family_name.clear()
    qtbot.keyClicks(dialog.family_name, "Okafor-Bello")
    qtbot.keyClicks(dialog.change_reason, "married name")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert tab.model.data(tab.model.index(0, COL_FAMILY)) == "Okafor-Bello"
    history = HistoryDialog(tab.ctx, tab.selected_row(), parent=tab)  # type: ignore[arg-type]
    m = history.model
    assert m.rowCount() == 2
    first = [m.data(m.index(0, c)) for c in range(m.columnCount())]
    assert first[1:] == ["nurse", "Edited", "Family name: Okafor → Okafor-Bello", "married name"]
    created = m.data(m.index(1, 3))
    assert "Cause of deficiency: Pernicious anaemia" in created and "Phone" not in created
    with db.sessions.begin() as s:
        assert patients.get_patient(s, staff.nurse, pid).data.family_name == "Okafor-Bello"


def test_someone_elses_save_in_between_asks_to_reopen(
    qtbot: QtBot, db: Database, tab: RosterTab, staff: Staffing, add_patient: AddPatient
) -> None:
    pid = add_patient("H47", "Okafor", "Grace")
    tab.reload()
    assert tab.select_patient(pid)
    qtbot.mouseClick(tab.edit_button, Qt.MouseButton.LeftButton)
    dialog = tab.findChild(PatientDialog)
    assert dialog is not None
    with db.sessions.begin() as s:  # another workstation
        detail = patients.get_patient(s, staff.pharmacist, pid)
        changed = replace(detail.data, phone="0700 900 123")
        patients.update_patient(s, staff.pharmacist, pid, changed, expected_version=detail.version_id)
    qtbot.keyClicks(dialog.notes, "seen today")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert "reopen the patient" in dialog.summary.text()
    with db.sessions.begin() as s:
        assert patients.get_patient(s, staff.nurse, pid).data.notes == ""


def test_a_new_contraindication_sends_the_verified_plan_back_and_says_so(
    qtbot: QtBot, db: Database, tab: RosterTab, staff: Staffing, add_patient: AddPatient
) -> None:
    pid = add_patient("H48", "Okafor", "Grace")
    with db.sessions.begin() as s:
        plans.ensure_shipped_templates(s)
        t = next(x for x in plans.list_templates(s, staff.admin) if x.code == "uk_hoc_no_neuro")
        draft = plans.create_plan(
            s,
            staff.pharmacist,
            pid,
            plans.PlanInput(t.id, t.formulation, Decimal(1000), Route.IM, clinic_today(), "Dr Shah"),
        )
        plans.verify_plan(
            s, staff.pharmacist2, draft.id, password=PASSWORD, expected_version=draft.version_id
        )
    tab.reload()
    assert tab.select_patient(pid)
    qtbot.mouseClick(tab.edit_button, Qt.MouseButton.LeftButton)
    dialog = tab.findChild(PatientDialog)
    assert dialog is not None
    _tick(qtbot, dialog.flags["flag_b12_hypersensitivity"])
    with qtbot.waitSignals([tab.ctx.bus.changed, tab.ctx.bus.changed]):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    notice = next(box for box in tab.findChildren(QMessageBox) if box.isVisible())
    assert "goes back to a pharmacist" in notice.text()
    notice.accept()
    with db.sessions.begin() as s:
        plan = plans.get_plan(s, staff.nurse, draft.id)
    assert plan.status == PlanStatus.DRAFT and "hypersensitivity recorded" in plan.review_reason


def test_what_is_treated_and_a_cobalt_allergy_are_recorded_beside_the_cause_and_the_flags(
    qtbot: QtBot, db: Database, tab: RosterTab, staff: Staffing
) -> None:
    dialog = _open_new(qtbot, tab)
    assert dialog.presentation.currentData() == Presentation.NOT_RECORDED
    _fill(qtbot, dialog, mrn="H50", born="1980-02-02")
    _choose(dialog.cause, Cause.DIETARY)
    _choose(dialog.presentation, Presentation.ANAEMIA)
    cobalt = dialog.flags["flag_cobalt_allergy"]
    boxes = list(dialog.flags)
    assert boxes.index("flag_cobalt_allergy") == boxes.index("flag_b12_hypersensitivity") + 1  # beside it
    assert "Counsel" in cobalt.toolTip()
    _tick(qtbot, cobalt)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    saved = _find(db, staff, "H50")
    assert saved is not None
    assert (saved.data.presentation, saved.data.flag_cobalt_allergy) == (Presentation.ANAEMIA, True)
    assert not saved.data.flag_b12_hypersensitivity
