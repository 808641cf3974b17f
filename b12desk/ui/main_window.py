"""The main window: roster, inventory, administration and the tab still to come, menus, and who is
signed in to which database."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QMoveEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
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
from b12desk.services import clinic
from b12desk.services.patients import RosterRow
from b12desk.ui import settings
from b12desk.ui.context import AppContext
from b12desk.ui.inventory import InventoryTab
from b12desk.ui.login import ROLE_LABELS
from b12desk.ui.ops import run_op
from b12desk.ui.roster import RosterTab
from b12desk.ui.widgets import DiscardGuard, ElidedLabel, confirm, show_message

if TYPE_CHECKING:
    from b12desk.exports.workbooks import ExportResult
    from b12desk.ui.administration import AdministrationTab
    from b12desk.ui.calendar import CalendarTab

GEOMETRY_SAVE_AFTER_MS = 500


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


def _calendar_tab(ctx: AppContext) -> QWidget:
    from b12desk.ui.calendar import CalendarTab  # loaded when the tab is first opened

    return CalendarTab(ctx)


def _administration_tab(ctx: AppContext) -> QWidget:
    from b12desk.ui.administration import AdministrationTab  # loaded when the tab is first opened

    return AdministrationTab(ctx)


class MainWindow(QMainWindow):
    signed_out = Signal()  # File > Sign out or Switch user: the window has saved its state and closes

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
        self.calendar_tab = LazyTab(lambda: _calendar_tab(ctx))
        self.tabs.addTab(self.calendar_tab, "Calendar")
        self.setCentralWidget(self.tabs)

        self._build_menus()
        self._build_status_bar()
        geometry = settings.get(settings.MAIN_WINDOW_GEOMETRY)
        if geometry.isEmpty() or not self.restoreGeometry(geometry):
            self.resize(1200, 700)
        # The size and place are saved as they change (half a second after the last move), not only on a
        # clean quit: a crash or a power cut keeps them too.
        self._geometry_timer = QTimer(self)
        self._geometry_timer.setSingleShot(True)
        self._geometry_timer.setInterval(GEOMETRY_SAVE_AFTER_MS)
        self._geometry_timer.timeout.connect(self.save_geometry)

    @property
    def calendar(self) -> CalendarTab:
        """The Calendar tab's contents (built now, if the tab has not been opened yet)."""
        return cast("CalendarTab", self.calendar_tab.content())

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
        self.lock_action = QAction("&Lock screen", self)
        self.lock_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lock_action.setStatusTip("Hide patient records until your password is entered")
        self.lock_action.setEnabled(False)  # until the desktop gives the window its lock (ui.idle_lock)
        self.sign_out_action = QAction("Sign &out", self)
        self.sign_out_action.setStatusTip("Close everything and return to the sign-in window")
        self.sign_out_action.triggered.connect(self.sign_out)
        self.switch_user_action = QAction("S&witch user…", self)
        self.switch_user_action.setStatusTip("Sign out, then sign in as someone else at this workstation")
        self.switch_user_action.triggered.connect(self.sign_out)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.import_history_action = QAction("Import &dose history (CSV or Excel)…", self)
        self.import_history_action.setStatusTip("Doses given before the clinic used b12desk")
        self.import_history_action.triggered.connect(self.open_history_import)
        file_menu.addAction(self.import_action)
        file_menu.addAction(self.template_action)
        file_menu.addAction(self.import_history_action)
        self.export_action = QAction("&Export workbook (Excel)…", self)
        self.export_action.setStatusTip(
            "Administrations, due lists, inventory, wastage, usage, nurse activity"
        )
        self.export_action.triggered.connect(self.open_export)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.lock_action)
        file_menu.addAction(self.sign_out_action)
        file_menu.addAction(self.switch_user_action)
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
        from b12desk.ui.audit_viewer import audit_trail_action  # greyed, with the reason, without READ_AUDIT

        self.audit_action = audit_trail_action(self, self.ctx)
        tools_menu.addAction(self.audit_action)
        from b12desk.ui.users_dialog import change_password_action, users_action

        self.users_action = users_action(self, self.ctx)  # greyed, with the reason, for all but admins
        tools_menu.addAction(self.users_action)
        self.change_password_action = change_password_action(self, self.ctx)
        file_menu.insertAction(self.lock_action, self.change_password_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About b12desk", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    def _build_status_bar(self) -> None:
        actor = self.ctx.actor
        bar = self.statusBar()
        role = ROLE_LABELS.get(actor.role.value, actor.role.value)
        self.user_label = QLabel(f"Signed in: {actor.full_name} — {role}")
        self.user_label.setMinimumWidth(self.user_label.sizeHint().width())  # never cut: who is signed in
        self.db_label = ElidedLabel(f"Database: {self.ctx.describe_db()}")  # cut first, full in its tooltip
        self.db_label.setObjectName("muted")
        bar.addWidget(self.user_label)
        bar.addWidget(self.db_label, 1)
        self.due_label = QLabel()  # the roster's "due today / overdue" count
        self.roster.due_counts_changed.connect(self.due_label.setText)
        bar.addPermanentWidget(self.due_label)
        self.stock_label = QLabel()  # the inventory's alert summary, kept current on "stock" changes
        self.inventory.alerts_changed.connect(self.stock_label.setText)
        bar.addPermanentWidget(self.stock_label)
        self.demo_label: QLabel | None = None
        if self.ctx.demo:
            self.show_demo_badge(True)

    def show_demo_badge(self, holds_demo_data: bool) -> None:
        """Marked DEMO when opened in demo mode, or when the database holds demo data at all (a database
        filled by `b12desk demo-data` looks real otherwise, and its demo accounts work)."""
        if not holds_demo_data or self.demo_label is not None:
            return
        self.demo_label = QLabel("DEMO – synthetic data")
        self.demo_label.setObjectName("demoBadge")
        self.statusBar().addPermanentWidget(self.demo_label)
        if not self.windowTitle().endswith("— DEMO"):
            self.setWindowTitle(f"{self.windowTitle()} — DEMO")

    def load(self, roster: Future[list[RosterRow]] | None = None) -> None:
        """Fill the tabs in from the database; `roster`, the roster already being read (ui.preload)."""
        if roster is None:
            self.roster.reload()
        else:
            self.roster.show_preloaded(roster)
        self.inventory.reload()
        if self.demo_label is None:
            run_op(
                self, self.ctx, lambda s, _actor: clinic.holds_demo_data(s), self.show_demo_badge, quiet=True
            )

    def open_import(self) -> None:
        from b12desk.ui.import_dialog import ImportDialog  # loaded when first used

        ImportDialog(self.ctx, parent=self).open()

    def open_export(self) -> QDialog:
        from b12desk.ui.export_dialog import ExportDialog  # loaded when first used

        dialog = ExportDialog(self.ctx, parent=self)
        dialog.exported.connect(self._exported)
        dialog.open()
        return dialog

    def _exported(self, result: ExportResult) -> None:
        self.statusBar().showMessage(f"Exported {result.rows:,} rows to {result.path}.", 10000)

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

    def save_geometry(self) -> None:
        self._geometry_timer.stop()
        settings.put(settings.MAIN_WINDOW_GEOMETRY, self.saveGeometry())

    def moveEvent(self, event: QMoveEvent) -> None:
        super().moveEvent(event)
        if self.isVisible():
            self._geometry_timer.start()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.isVisible():
            self._geometry_timer.start()

    def sign_out(self) -> QMessageBox | None:
        """Close this window and everything it owns; the application shows the sign-in window. A form
        with unsaved changes is named first, and nothing happens unless the person confirms."""
        unsaved = [
            w.windowTitle()
            for w in QApplication.topLevelWidgets()
            if isinstance(w, DiscardGuard) and w.isVisible() and w.has_changes() and self._owns(w)
        ]
        if unsaved:
            return confirm(
                self,
                "Sign out?",
                f"Not saved yet: {', '.join(unsaved)}. Sign out and discard it?",
                "Discard and sign out",
                self._sign_out_now,
                no_text="Keep working",
            )
        self._sign_out_now()
        return None

    def _owns(self, widget: QWidget) -> bool:
        """A dialog opened from this window (its parent chain leads here)."""
        parent = widget.parentWidget()
        while parent is not None:
            if parent is self:
                return True
            parent = parent.parentWidget()
        return False

    def _sign_out_now(self) -> None:
        self.signed_out.emit()
        if self.isVisible():  # nobody took over (a window on its own): close anyway
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        self.roster.save_state()
        super().closeEvent(event)
