"""The labs dialog: add results through the service, inline refusals, entered-in-error kept and struck."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.domain.enums import RecordStatus
from b12desk.services import patients
from b12desk.ui.labs_dialog import LAB_STATUS_ROLE, LabsDialog
from b12desk.ui.widgets import ReasonDialog
from tests.clinic_time import clinic_today
from tests.conftest import Staffing
from tests.ui.conftest import AddPatient, MakeContext


@pytest.fixture
def open_labs(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> Callable[[int], LabsDialog]:
    def open_for(pid: int) -> LabsDialog:
        with db.sessions.begin() as s:
            row = next(r for r in patients.roster(s, staff.nurse) if r.id == pid)
        dialog = LabsDialog(make_ctx(staff.nurse), row, parent=host)
        dialog.show()
        return dialog

    return open_for


OpenLabs = Callable[[int], LabsDialog]


def _choose(combo: QComboBox, data: object) -> None:
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


def _cells(dialog: LabsDialog, row: int) -> list[str]:
    m = dialog.model
    return [m.data(m.index(row, c)) for c in range(m.columnCount())]


def test_add_a_result_with_unit_conversion(
    qtbot: QtBot, db: Database, staff: Staffing, add_patient: AddPatient, open_labs: OpenLabs
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_labs(pid)
    assert dialog.model.rowCount() == 0 and dialog.empty_label.isVisible()
    _choose(dialog.test, "serum_b12")
    _choose(dialog.unit, "pg/mL")
    dialog.taken_on.setText("2026-01-05")
    qtbot.keyClicks(dialog.value, "180")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.model.rowCount() == 1
    assert _cells(dialog, 0) == [
        "Serum B12",
        "Baseline",
        "2026-01-05",
        "180 pg/mL",
        "132.84 pmol/L",
        "Indeterminate",  # NICE NG239: 180 to 350 ng/L (= pg/mL)
        "Current",
        "nurse",
    ]
    assert dialog.advice.isVisible() and "second-line test" in dialog.advice.text()
    assert dialog.value.text() == ""  # ready for the next result
    with db.sessions.begin() as s:
        assert len(patients.list_labs(s, staff.nurse, pid)) == 1


def test_qualitative_test_uses_a_choice(
    qtbot: QtBot, db: Database, staff: Staffing, add_patient: AddPatient, open_labs: OpenLabs
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_labs(pid)
    _choose(dialog.test, "if_antibodies")
    assert dialog.value_stack.currentWidget() is dialog.choice
    assert not dialog.unit.isVisible()
    _choose(dialog.choice, "positive")
    _choose(dialog.context, "follow_up")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    cells = _cells(dialog, 0)
    assert cells[:2] == ["Intrinsic factor antibodies", "Follow-up"]
    assert cells[3:5] == ["positive", ""]


def test_wrong_value_and_future_date_are_shown_beside_their_fields(
    qtbot: QtBot, db: Database, staff: Staffing, add_patient: AddPatient, open_labs: OpenLabs
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_labs(pid)
    _choose(dialog.test, "hb")
    _choose(dialog.unit, "g/L")
    qtbot.keyClicks(dialog.value, "abc")
    dialog.taken_on.setText((clinic_today() + timedelta(days=2)).isoformat())
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.errors.message("value") == "Haemoglobin: 'abc' is not a number."
    assert "is in the future" in dialog.errors.message("taken_on")
    assert dialog.value.property("invalid") is True
    assert dialog.model.rowCount() == 0
    dialog.taken_on.setText("5/1/2026")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert "'5/1/2026' is not a date" in dialog.errors.message("taken_on")


def test_mark_entered_in_error_keeps_the_row_struck_through(
    qtbot: QtBot, add_patient: AddPatient, open_labs: OpenLabs, qtmodeltester: ModelTester
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_labs(pid)
    _choose(dialog.unit, "pmol/L")
    qtbot.keyClicks(dialog.value, "250")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert not dialog.mark_button.isEnabled()
    dialog.table.selectRow(0)
    assert dialog.mark_button.isEnabled()
    qtbot.mouseClick(dialog.mark_button, Qt.MouseButton.LeftButton)
    reason = dialog.findChild(ReasonDialog)
    assert reason is not None
    qtbot.keyClicks(reason.reason, "wrong patient")
    qtbot.mouseClick(reason.ok_button, Qt.MouseButton.LeftButton)
    m = dialog.model
    assert m.rowCount() == 1
    assert _cells(dialog, 0)[5:7] == ["", "Entered in error"]  # no band for a result not to be used
    assert m.data(m.index(0, 0), LAB_STATUS_ROLE) == RecordStatus.ENTERED_IN_ERROR
    assert m.data(m.index(0, 0), Qt.ItemDataRole.FontRole).strikeOut()
    qtmodeltester.check(m)


def test_a_serum_b12_needs_its_unit_chosen_and_is_shown_converted_with_its_ng239_band(
    qtbot: QtBot, db: Database, staff: Staffing, add_patient: AddPatient, open_labs: OpenLabs
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_labs(pid)
    _choose(dialog.test, "serum_b12")
    assert dialog.unit.currentIndex() == -1  # no unit until one is chosen from the report
    assert [dialog.unit.itemText(i) for i in range(dialog.unit.count())] == ["ng/L", "pg/mL", "pmol/L"]
    qtbot.keyClicks(dialog.value, "150")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert "choose the unit the laboratory reported" in dialog.errors.message("unit")
    assert "ng/L, pg/mL or pmol/L" in dialog.errors.message("unit")
    assert dialog.model.rowCount() == 0
    with db.sessions.begin() as s:
        assert patients.list_labs(s, staff.nurse, pid) == []

    _choose(dialog.unit, "ng/L")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert _cells(dialog, 0)[3:6] == ["150 ng/L", "110.7 pmol/L", "Deficient"]
    m = dialog.model
    assert m.data(m.index(0, 5), Qt.ItemDataRole.ForegroundRole).color().name() == "#b3261e"
    assert not dialog.advice.isVisible()  # deficient needs no second-line test
    with db.sessions.begin() as s:
        (stored,) = patients.list_labs(s, staff.nurse, pid)
    assert (stored.unit, stored.value_canonical, stored.canonical_unit) == (
        "ng/L",
        Decimal("110.7"),
        "pmol/L",
    )
