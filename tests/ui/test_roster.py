"""The roster tab: search as you type, filters, sorting, archive through the service, model checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.domain.enums import Cause, Sex
from b12desk.services import patients
from b12desk.services.common import Actor
from b12desk.services.patients import RosterRow
from b12desk.ui.context import PATIENTS
from b12desk.ui.roster import (
    ARCHIVED_ROLE,
    COL_CAUSE,
    COL_DOB,
    COL_FAMILY,
    COL_MRN,
    COL_NEURO,
    COL_STATUS,
    PATIENT_ID_ROLE,
    STATUS_ALL,
    STATUS_ARCHIVED,
    RosterModel,
    RosterTab,
)
from b12desk.ui.widgets import ReasonDialog
from tests.clinic_time import clinic_today
from tests.conftest import Staffing
from tests.ui.conftest import AddPatient, MakeContext

OpenTab = Callable[[Actor], RosterTab]


@pytest.fixture
def open_tab(make_ctx: MakeContext, host: QWidget) -> Callable[[Actor], RosterTab]:
    def open_as(actor: Actor) -> RosterTab:
        tab = RosterTab(make_ctx(actor), parent=host)
        host.resize(1200, 600)
        tab.resize(1200, 600)
        host.show()
        tab.reload()
        return tab

    return open_as


def _names(tab: RosterTab) -> list[str]:
    m = tab.model
    return [m.data(m.index(r, COL_FAMILY)) for r in range(m.rowCount())]


def _three(add_patient: AddPatient) -> dict[str, int]:
    return {
        "smith": add_patient("H1001", "Smith", "John"),
        "smithers": add_patient("H1002", "Smithers", "Anna", date_of_birth=date(1950, 1, 2)),
        "jones": add_patient("X2003", "Jones", "Mary", date_of_birth=date(1990, 7, 8)),
    }


def test_roster_lists_patients_with_labelled_columns(
    qtbot: QtBot, open_tab: OpenTab, staff: Staffing, add_patient: AddPatient
) -> None:
    ids = _three(add_patient)
    tab = open_tab(staff.nurse)
    m = tab.model
    assert _names(tab) == ["Jones", "Smith", "Smithers"]
    headers = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    assert headers == [  # what a clinic needs first comes first: at 1024 px it shows without scrolling
        "MRN",
        "Family name",
        "Given name",
        "Date of birth",
        "Age",
        "Next due",
        "Status",
        "Phase",
        "Regimen",
        "Neuro",
        "Cause",
    ]
    row = [m.data(m.index(1, c)) for c in range(m.columnCount())]
    assert row[:4] == ["H1001", "Smith", "John", "1960-05-17"]
    assert row[COL_CAUSE] == "Pernicious anaemia"
    assert row[COL_NEURO] == "No" and row[COL_STATUS] == "Active"
    assert m.data(m.index(1, 0), PATIENT_ID_ROLE) == ids["smith"]
    assert m.data(m.index(1, 0), ARCHIVED_ROLE) is False
    assert tab.count_label.text() == "3 of 3 patients"


def test_search_filters_as_you_type(
    qtbot: QtBot, open_tab: OpenTab, staff: Staffing, add_patient: AddPatient
) -> None:
    _three(add_patient)
    tab = open_tab(staff.nurse)

    def typed(text: str) -> None:
        qtbot.keyClicks(tab.search, text)
        assert tab._search_timer.isActive()  # keys typed together are filtered once...
        qtbot.waitUntil(lambda: not tab._search_timer.isActive(), timeout=1000)  # ...when the loop is free

    typed("smi")
    assert _names(tab) == ["Smith", "Smithers"]
    assert tab.count_label.text() == "2 of 3 patients"
    typed(" ANN")  # every word must match, in any field, any case
    assert _names(tab) == ["Smithers"]
    tab.search.clear()
    typed("x20")  # MRN
    assert _names(tab) == ["Jones"]
    tab.search.clear()
    typed("nobody")
    assert _names(tab) == []
    assert tab.count_label.text() == "0 of 3 patients"
    tab.search.clear()
    tab.apply_search()
    assert len(_names(tab)) == 3


def test_search_ignores_accents(
    qtbot: QtBot, open_tab: OpenTab, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H5", "Pérez", "José")
    tab = open_tab(staff.nurse)
    qtbot.keyClicks(tab.search, "perez jose")
    tab.apply_search()
    assert _names(tab) == ["Pérez"]


def test_cause_filter(qtbot: QtBot, open_tab: OpenTab, staff: Staffing, add_patient: AddPatient) -> None:
    _three(add_patient)
    add_patient("H9", "Dietz", "Otto", cause=Cause.DIETARY)
    tab = open_tab(staff.nurse)
    tab.cause_filter.setCurrentIndex(tab.cause_filter.findData(Cause.DIETARY))
    assert _names(tab) == ["Dietz"]
    tab.cause_filter.setCurrentIndex(0)
    assert len(_names(tab)) == 4


def test_clicking_headers_sorts(
    qtbot: QtBot, open_tab: OpenTab, staff: Staffing, add_patient: AddPatient
) -> None:
    _three(add_patient)
    tab = open_tab(staff.nurse)
    header = tab.table.horizontalHeader()

    def click(column: int) -> None:
        x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))

    click(COL_DOB)
    assert _names(tab) == ["Smithers", "Smith", "Jones"]  # oldest first
    click(COL_DOB)
    assert _names(tab) == ["Jones", "Smith", "Smithers"]
    click(COL_MRN)
    assert [tab.model.data(tab.model.index(r, COL_MRN)) for r in range(3)] == ["H1001", "H1002", "X2003"]
    # Sorting keeps the selected patient selected.
    assert tab.select_patient(tab.model.data(tab.model.index(2, 0), PATIENT_ID_ROLE))
    selected = tab.selected_patient_id()
    tab.table.sortByColumn(COL_FAMILY, Qt.SortOrder.DescendingOrder)
    assert _names(tab) == ["Smithers", "Smith", "Jones"]
    assert tab.selected_patient_id() == selected


def test_archive_as_manager_hides_the_patient_from_the_active_list(
    qtbot: QtBot, db: Database, open_tab: OpenTab, staff: Staffing, add_patient: AddPatient
) -> None:
    ids = _three(add_patient)
    tab = open_tab(staff.manager)
    assert tab.select_patient(ids["jones"])
    assert tab.archive_button.text() == "Archive…"
    qtbot.mouseClick(tab.archive_button, Qt.MouseButton.LeftButton)
    dialog = tab.findChild(ReasonDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)  # no reason yet: refused inline
    assert dialog.isVisible()
    assert "Give a reason" in dialog.error.text()
    qtbot.keyClicks(dialog.reason, "moved away")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    with db.sessions.begin() as s:
        assert patients.get_patient(s, staff.manager, ids["jones"]).archived
    assert _names(tab) == ["Smith", "Smithers"]  # Active is the default filter
    tab.status_filter.setCurrentIndex(tab.status_filter.findData(STATUS_ARCHIVED))
    assert _names(tab) == ["Jones"]
    assert tab.model.data(tab.model.index(0, COL_STATUS)) == "Archived"
    tab.status_filter.setCurrentIndex(tab.status_filter.findData(STATUS_ALL))
    assert len(_names(tab)) == 3


def test_a_nurse_trying_to_archive_sees_the_services_refusal(
    qtbot: QtBot, db: Database, open_tab: OpenTab, staff: Staffing, add_patient: AddPatient
) -> None:
    ids = _three(add_patient)
    tab = open_tab(staff.nurse)
    assert tab.select_patient(ids["smith"])
    assert tab.archive_button.isEnabled()  # the service decides, not the button
    qtbot.mouseClick(tab.archive_button, Qt.MouseButton.LeftButton)
    dialog = tab.findChild(ReasonDialog)
    assert dialog is not None
    qtbot.keyClicks(dialog.reason, "moved away")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    box = tab.findChild(QMessageBox)
    assert box is not None and box.isVisible()
    assert "A nurse may not archive patients" in box.text()
    with db.sessions.begin() as s:
        assert not patients.get_patient(s, staff.nurse, ids["smith"]).archived
    assert len(_names(tab)) == 3


def test_data_changed_signal_reloads_the_roster(
    qtbot: QtBot, open_tab: OpenTab, staff: Staffing, add_patient: AddPatient
) -> None:
    tab = open_tab(staff.nurse)
    assert _names(tab) == []
    add_patient("H7", "Later", "Lou")
    tab.ctx.bus.notify("labs")  # not about patients: no reload
    assert _names(tab) == []
    tab.ctx.bus.notify(PATIENTS)
    assert _names(tab) == ["Later"]


def _synthetic_rows(n: int) -> list[RosterRow]:
    families = ["Smith", "Jones", "Okafor", "Nguyen", "García", "Schmidt", "Kowalski", "Brown"]
    givens = ["Ann", "Ben", "Chidi", "Dora", "Émile", "Farah", "Gus", "Hana"]
    causes = list(Cause)
    return [
        RosterRow(
            id=i,
            mrn=f"H{i:07d}",
            family_name=f"{families[i % 8]}{i % 97}",
            given_name=givens[(i // 8) % 8],
            date_of_birth=date(1930, 1, 1) + timedelta(days=(i * 37) % 30000),
            sex=Sex.FEMALE,
            cause=causes[i % len(causes)],
            neuro_involvement=i % 5 == 0,
            archived=i % 10 == 0,
            regimen="" if i % 3 else "Pernicious anaemia, no neuro",
            phase="" if i % 3 else "maintenance",
            next_due=None if i % 4 == 0 else date(2026, 1, 1) + timedelta(days=i % 90),
        )
        for i in range(1, n + 1)
    ]


def test_model_passes_qt_model_checks_through_filter_and_sort_changes(
    qtmodeltester: ModelTester,
) -> None:
    model = RosterModel(clinic_today())
    model.set_rows(_synthetic_rows(300))
    qtmodeltester.check(model, force_py=False)
    model.set_search("smith")
    model.sort(COL_DOB, Qt.SortOrder.DescendingOrder)
    model.set_status_filter(STATUS_ALL)
    model.set_cause_filter(Cause.DIETARY)
    model.sort(9, Qt.SortOrder.AscendingOrder)
    model.set_search("")
    model.set_rows(_synthetic_rows(50))
    qtmodeltester.check(model, force_py=True)  # pytest-qt's Python checks as well
    assert not model.index(0, 0).parent().isValid()
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.data(QModelIndex()) is None


def test_sort_orders_every_column_both_ways() -> None:
    model = RosterModel(clinic_today())
    model.set_status_filter(STATUS_ALL)
    model.set_rows(_synthetic_rows(500))
    for column in range(model.columnCount()):
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            model.sort(column, order)
            rows = [model.roster_row(r) for r in range(model.rowCount())]
            assert len(rows) == 500
            keys = [model._keys_for(column)[r.id - 1] for r in rows]
            assert keys == sorted(keys, reverse=order == Qt.SortOrder.DescendingOrder), column


def test_typing_on_narrows_to_the_same_rows_as_a_fresh_search() -> None:
    """Typing on searches only the rows already shown (its speed: benchmarks/startup.py); deleting
    back, or typing something new, searches them all again. Either way the same rows as from scratch."""
    rows = _synthetic_rows(20_000)
    typed = RosterModel(clinic_today())
    typed.set_rows(rows)
    for text in ("s", "sm", "smi", "smith", "smith a", "smith", "jo", "", "h0001", "h00012", "x", "mith"):
        typed.set_search(text)
        fresh = RosterModel(clinic_today())
        fresh.set_rows(rows)
        fresh.set_search(text)
        shown = [typed.roster_row(r).id for r in range(typed.rowCount())]
        assert shown == [fresh.roster_row(r).id for r in range(fresh.rowCount())], text
        assert bool(shown) == (text not in ("x", "mith")), text  # "mith" starts no name
    typed.set_search("")
    assert typed.visible_count() == 18_000  # archived ones hidden
