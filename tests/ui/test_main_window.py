"""The main window: tabs, who is signed in to which database, menus."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.ui.context import AppContext
from b12desk.ui.import_dialog import ImportDialog
from b12desk.ui.main_window import MainWindow
from tests.conftest import Staffing
from tests.ui.conftest import AddPatient, MakeContext


def _window(qtbot: QtBot, ctx: AppContext) -> MainWindow:
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.load()
    window.show()
    return window


def test_tabs_status_bar_and_title(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    window = _window(qtbot, make_ctx(staff.pharmacist))
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == ["Roster", "Inventory", "Administration", "Calendar"]
    assert window.roster.model.total_count() == 1
    assert window.windowTitle() == f"b12desk — {db.describe()}"
    assert window.user_label.text() == "Signed in: Pharmacist — Pharmacist"
    assert db.describe() in window.db_label.text()
    assert window.demo_label is None


def test_demo_mode_is_marked(qtbot: QtBot, make_ctx: MakeContext, staff: Staffing) -> None:
    window = _window(qtbot, replace(make_ctx(staff.admin), demo=True))
    assert window.windowTitle().endswith("— DEMO")
    assert window.demo_label is not None and "DEMO" in window.demo_label.text()


def test_every_tab_is_built_none_is_a_placeholder(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing
) -> None:
    window = _window(qtbot, make_ctx(staff.nurse))
    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert names == ["Roster", "Inventory", "Administration", "Calendar"]
    window.tabs.setCurrentWidget(window.calendar_tab)
    assert type(window.calendar).__name__ == "CalendarTab"


def test_file_menu_opens_the_import_dialog_and_help_shows_about(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing
) -> None:
    window = _window(qtbot, make_ctx(staff.manager))
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    assert set(menus) == {"File", "Treatment", "Tools", "Help"}
    file_items = [a.text().replace("&", "") for a in menus["File"].actions() if not a.isSeparator()]
    assert file_items == [
        "Import patients from CSV…",
        "Write CSV template…",
        "Import dose history (CSV or Excel)…",
        "Export workbook (Excel)…",
        "Change my password…",
        "Lock screen",
        "Sign out",
        "Switch user…",
        "Quit",
    ]
    window.import_action.trigger()
    dialog = window.findChild(ImportDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.reject()
    history = window.open_history_import()
    assert history.isVisible() and history.windowTitle() == "Import dose history"
    history.reject()
    treatment = [a.text().replace("&", "") for a in menus["Treatment"].actions()]
    assert "Clinic settings…" in treatment
    settings_dialog = window.open_clinic_settings()
    assert settings_dialog.isVisible() and settings_dialog.windowTitle() == "Clinic settings"
    settings_dialog.reject()
    box = window.show_about()
    assert isinstance(box, QMessageBox) and "b12desk" in box.text()
    box.accept()


def test_geometry_is_remembered(qtbot: QtBot, make_ctx: MakeContext, staff: Staffing) -> None:
    window = _window(qtbot, make_ctx(staff.nurse))
    window.resize(760, 500)  # within the offscreen screen (800 x 600)
    window.close()
    again = _window(qtbot, make_ctx(staff.nurse))
    assert (again.width(), again.height()) == (760, 500)


def test_the_administration_tab_is_built_when_first_opened(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing
) -> None:
    """Start-up builds the roster; the Administration tab's screens (and their imports) wait until used."""
    from b12desk.ui.administration import AdministrationTab

    window = _window(qtbot, make_ctx(staff.nurse))
    assert window.administration_tab.findChild(AdministrationTab) is None
    window.tabs.setCurrentWidget(window.administration_tab)
    tab = window.administration_tab.findChild(AdministrationTab)
    assert tab is not None and tab is window.administration
