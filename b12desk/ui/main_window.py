"""The main window: roster, inventory, administration and the tab still to come, menus, and who is
signed in to which database."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from b12desk import __version__
from b12desk.services.patients import RosterRow
from b12desk.ui import settings
from b12desk.ui.context import AppContext
from b12desk.ui.inventory import InventoryTab
from b12desk.ui.login import ROLE_LABELS
from b12desk.ui.roster import RosterTab
from b12desk.ui.widgets import show_message

if TYPE_CHECKING:
    from b12desk.ui.administration import AdministrationTab

PLACEHOLDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Calendar": (
        "What is due, for whom, and when.",
        (
            "Induction and maintenance doses from each patient's regimen",
            "Laboratory re-checks",
            "Clinical reviews",
        ),
    ),
}


class PlaceholderTab(QWidget):
    """An honest panel for a tab not built yet: what it will hold, and that it is not here now."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        purpose, items = PLACEHOLDERS[name]
        title = QLabel(f"{name} is not available in this version")
        title.setObjectName("placeholderTitle")
        body = QLabel(
            f"<p>{purpose} This tab will hold:</p><ul>"
            + "".join(f"<li>{item}</li>" for item in items)
            + "</ul><p>Until then, keep these records the way the clinic keeps them today.</p>"
        )
        body.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 28, 32, 28)
        layout.addWidget(title)
        layout.addSpacing(8)
        layout.addWidget(body)
        layout.addStretch(1)


class LazyTab(QWidget):
    """A tab whose contents are built when first shown (or first asked for), so that start-up neither
    imports nor builds what the roster does not need."""

    def __init__(self, build: Callable[[], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build = build
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._content: QWidget | None = None

    def content(self) -> QWidget:
        if self._content is None:
            self._content = self._build()
            self._layout.addWidget(self._content)
        return self._content

    def showEvent(self, event: QShowEvent) -> None:
        self.content()
        super().showEvent(event)


def _administration_tab(ctx: AppContext) -> QWidget:
    from b12desk.ui.administration import AdministrationTab  # loaded when the tab is first opened

    return AdministrationTab(ctx)


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        title = f"b12desk — {ctx.describe_db()}"
        self.setWindowTitle(f"{title} — DEMO" if ctx.demo else title)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.roster = RosterTab(ctx)
        self.tabs.addTab(self.roster, "Roster")
        self.inventory = InventoryTab(ctx)
        self.tabs.addTab(self.inventory, "Inventory")
        self.administration_tab = LazyTab(lambda: _administration_tab(ctx))
        self.tabs.addTab(self.administration_tab, "Administration")
        self.placeholders = {name: PlaceholderTab(name) for name in PLACEHOLDERS}
        for name, tab in self.placeholders.items():
            self.tabs.addTab(tab, name)
        self.setCentralWidget(self.tabs)

        self._build_menus()
        self._build_status_bar()
        geometry = settings.get(settings.MAIN_WINDOW_GEOMETRY)
        if geometry.isEmpty() or not self.restoreGeometry(geometry):
            self.resize(1200, 700)

    @property
    def administration(self) -> AdministrationTab:
        """The Administration tab's contents (built now, if the tab has not been opened yet)."""
        return cast("AdministrationTab", self.administration_tab.content())

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.import_action = QAction("&Import patients from CSV…", self)
        self.import_action.triggered.connect(self.open_import)
        self.template_action = QAction("&Write CSV template…", self)
        self.template_action.triggered.connect(self.write_template)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.import_history_action = QAction("Import &dose history (CSV or Excel)…", self)
        self.import_history_action.setStatusTip("Doses given before the clinic used b12desk")
        self.import_history_action.triggered.connect(self.open_history_import)
        file_menu.addAction(self.import_action)
        file_menu.addAction(self.template_action)
        file_menu.addAction(self.import_history_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        treatment_menu = self.menuBar().addMenu("&Treatment")
        self.verification_action = QAction("&Verification queue…", self)
        self.verification_action.triggered.connect(self.open_verification_queue)
        self.regimen_templates_action = QAction("&Regimen templates…", self)
        self.regimen_templates_action.triggered.connect(self.open_regimen_templates)
        self.clinic_settings_action = QAction("&Clinic settings…", self)
        self.clinic_settings_action.setStatusTip("Time zone, injection sites and dose-safety limits")
        self.clinic_settings_action.triggered.connect(self.open_clinic_settings)
        treatment_menu.addAction(self.verification_action)
        treatment_menu.addAction(self.regimen_templates_action)
        treatment_menu.addAction(self.clinic_settings_action)
        tools_menu = self.menuBar().addMenu("T&ools")
        self.scanner_test_action = QAction("&Scanner set-up test…", self)
        self.scanner_test_action.triggered.connect(self.open_scanner_test)
        tools_menu.addAction(self.scanner_test_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About b12desk", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def _build_status_bar(self) -> None:
        actor = self.ctx.actor
        bar = self.statusBar()
        role = ROLE_LABELS.get(actor.role.value, actor.role.value)
        self.user_label = QLabel(f"Signed in: {actor.full_name} — {role}")
        self.db_label = QLabel(f"Database: {self.ctx.describe_db()}")
        self.db_label.setObjectName("muted")
        bar.addWidget(self.user_label)
        bar.addWidget(self.db_label, 1)
        self.stock_label = QLabel()  # the inventory's alert summary, kept current on "stock" changes
        self.inventory.alerts_changed.connect(self.stock_label.setText)
        bar.addPermanentWidget(self.stock_label)
        self.demo_label: QLabel | None = None
        if self.ctx.demo:
            self.demo_label = QLabel("DEMO – synthetic data")
            self.demo_label.setObjectName("demoBadge")
            bar.addPermanentWidget(self.demo_label)

    def load(self, roster: Future[list[RosterRow]] | None = None) -> None:
        """Fill the tabs in from the database; `roster`, the roster already being read (ui.preload)."""
        if roster is None:
            self.roster.reload()
        else:
            self.roster.show_preloaded(roster)
        self.inventory.reload()

    def open_import(self) -> None:
        from b12desk.ui.import_dialog import ImportDialog  # loaded when first used

        ImportDialog(self.ctx, parent=self).open()

    def open_history_import(self) -> QDialog:
        from b12desk.ui.history_import_dialog import HistoryImportDialog  # loaded when first used

        dialog = HistoryImportDialog(self.ctx, parent=self)
        dialog.open()
        return dialog

    def write_template(self) -> None:
        from b12desk.services import imports

        name, _ = QFileDialog.getSaveFileName(
            self, "Write CSV template", "patients-template.csv", "CSV files (*.csv)"
        )
        if not name:
            return
        try:
            imports.write_template(Path(name))
        except OSError as exc:
            show_message(self, "Write CSV template", f"Cannot write {name}: {exc.strerror or exc}.")
            return
        self.statusBar().showMessage(f"Template written to {name}", 8000)

    def open_verification_queue(self) -> None:
        from b12desk.ui.verification import VerificationQueueDialog  # loaded when first used

        VerificationQueueDialog(self.ctx, parent=self).open()

    def open_regimen_templates(self) -> None:
        from b12desk.ui.templates import TemplatesDialog  # loaded when first used

        TemplatesDialog(self.ctx, parent=self).open()

    def open_clinic_settings(self) -> QDialog:
        from b12desk.ui.clinic_settings import ClinicSettingsDialog  # loaded when first used

        dialog = ClinicSettingsDialog(self.ctx, parent=self)
        dialog.open()
        return dialog

    def open_scanner_test(self) -> None:
        from b12desk.ui.scanner_test import ScannerTestDialog  # loaded when first used

        ScannerTestDialog(self.ctx, parent=self).open()

    def show_about(self) -> QMessageBox:
        return show_message(
            self,
            "About b12desk",
            f"b12desk {__version__}\n\nVitamin B12 injection treatment desk for clinic pharmacy and "
            f"nursing staff.\n\nDatabase: {self.ctx.describe_db()}",
            QMessageBox.Icon.Information,
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        settings.put(settings.MAIN_WINDOW_GEOMETRY, self.saveGeometry())
        self.roster.save_state()
        super().closeEvent(event)
