"""The Administration tab: who is due a dose today, giving one, and the log of every dose with its site.

The log is paged and filtered in the database (services.administrations.administration_log, keyset
pages of LOG_PAGE rows, newest first): the table asks for the next page as it is scrolled, so a clinic
with a million doses never has them all in memory. Every read and write runs on the database worker.
A record is never deleted: one marked entered in error, or replaced by a correction, stays in the log,
struck through, with its reason.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import (
    OUTCOME_LABELS,
    REACTION_LABELS,
    SITE_LABELS,
    AdministrationOutcome,
    InjectionSite,
    Reaction,
    RecordStatus,
)
from b12desk.domain.units import format_mcg, format_ml
from b12desk.services import administrations as adm
from b12desk.services import inventory, label_data
from b12desk.services.common import Actor
from b12desk.ui.context import DOSES, PATIENTS, PLANS, STOCK, AppContext
from b12desk.ui.ops import OpFailure, run_op, show_failure
from b12desk.ui.style import ERROR_RED
from b12desk.ui.table_model import Column, RowsModel
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    ReasonDialog,
    parse_iso_date,
    setup_record_table,
    text_width,
)

_ModelIndex = QModelIndex | QPersistentModelIndex
STRUCK_GREY = QColor("#7a7a7a")
OVERDUE_RED = QColor(ERROR_RED)
FILTER_PAUSE_MS = 250  # typing in a filter waits this long before the log is read again
TIME_FORMAT = "%Y-%m-%d %H:%M"


# --- the due list --------------------------------------------------------------------------------------


class DueModel(RowsModel[adm.DueRow]):
    def __init__(self, today: date, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.today = today
        self.columns = (
            Column("Due", lambda r: self._due_text(r)),
            Column("MRN", lambda r: r.mrn),
            Column("Patient", lambda r: f"{r.family_name.upper()}, {r.given_name}"),
            Column("Born", lambda r: r.date_of_birth.isoformat()),
            Column("Dose", lambda r: r.label),
        )

    def _due_text(self, r: adm.DueRow) -> str:
        if r.overdue(self.today):
            return f"overdue since {r.window_end.isoformat()}"
        return "today" if r.due_on == self.today else f"since {r.due_on.isoformat()}"

    def foreground(self, row: adm.DueRow, column: int) -> QColor | None:
        return OVERDUE_RED if column == 0 and row.overdue(self.today) else None

    def row_id(self, row: adm.DueRow) -> int | None:
        return row.patient_id


# --- the log -------------------------------------------------------------------------------------------


def outcome_text(r: adm.LogRow) -> str:
    if r.outcome == AdministrationOutcome.GIVEN:
        if r.self_administered:
            return "Given at home by the patient"
        if r.external:
            return "Given elsewhere"
    return OUTCOME_LABELS[r.outcome]


def status_text(r: adm.LogRow) -> str:
    if r.status == RecordStatus.ENTERED_IN_ERROR:
        return f"Entered in error: {r.correction_reason}"
    if r.status == RecordStatus.AMENDED:
        return f"Corrected (replaced by a later record): {r.correction_reason}"
    if r.amends_id is not None:
        return f"Correction of record {r.amends_id}: {r.correction_reason}"
    return ""


LOG_COLUMNS: tuple[tuple[str, str], ...] = (  # (title, the text its width is made for)
    ("Given (clinic time)", "2026-12-01 10:30"),
    ("MRN", "DEMO0000000"),
    ("Patient", "WORTHINGTON, Elizabeth"),
    ("Dose", "1,000 mcg"),
    ("Volume", "0.25 mL"),
    ("Route", "Route"),
    ("Site", "right vastus lateralis"),
    ("Outcome", "Given elsewhere"),
    ("Reaction", "Allergic"),
    ("Lot", "AB1234567"),
    ("Recorded by", "Nora Nurse (demo)"),
    ("Note or correction", "Entered in error: wrong patient"),
)


class LogModel(QAbstractTableModel):
    """The log's rows as read so far; the view asks for the next page (fetchMore) as it scrolls."""

    page_loaded = Signal()  # a page arrived (the first page after a new filter, or the next)
    failed = Signal(object)  # OpFailure

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._rows: list[adm.LogRow] = []
        self._filter = adm.LogFilter()
        self._more = False
        self._loading = False
        self._generation = 0  # answers to an older filter are dropped
        self._struck = QFont()
        self._struck.setStrikeOut(True)

    # --- reading ---

    def set_filter(self, log_filter: adm.LogFilter) -> None:
        """Read the first page for this filter; what is shown stays until it arrives."""
        self._filter = log_filter
        self._generation += 1
        self._loading = True
        self._read(None, self._generation, replace=True)

    def reload(self) -> None:
        self.set_filter(self._filter)

    @property
    def log_filter(self) -> adm.LogFilter:
        return self._filter

    def _read(self, after: tuple[datetime, int] | None, generation: int, *, replace: bool) -> None:
        log_filter, clock = self._filter, self.ctx.clock

        def read(session: Session, actor: Actor) -> list[adm.LogRow]:
            return adm.administration_log(session, actor, log_filter, after=after, clock=clock)

        def done(page: list[adm.LogRow]) -> None:
            if generation != self._generation:
                return
            self._loading = False
            self._more = len(page) == adm.LOG_PAGE
            if replace:
                self.beginResetModel()
                self._rows = list(page)
                self.endResetModel()
            elif page:
                first = len(self._rows)
                self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
                self._rows.extend(page)
                self.endInsertRows()
            self.page_loaded.emit()

        def refused(failure: OpFailure) -> None:
            if generation == self._generation:
                self._loading = False
                self.failed.emit(failure)

        run_op(None, self.ctx, read, done, refused, quiet=True)

    def canFetchMore(self, parent: _ModelIndex = QModelIndex()) -> bool:  # noqa: B008 - Qt's signature
        return not parent.isValid() and self._more and not self._loading

    def fetchMore(self, parent: _ModelIndex = QModelIndex()) -> None:  # noqa: B008 - Qt's signature
        if not self.canFetchMore(parent) or not self._rows:
            return
        self._loading = True
        self._read(self._rows[-1].key, self._generation, replace=False)

    def has_more(self) -> bool:
        return self._more

    def is_loading(self) -> bool:
        return self._loading

    # --- rows ---

    def row(self, i: int) -> adm.LogRow:
        return self._rows[i]

    def rows(self) -> list[adm.LogRow]:
        return list(self._rows)

    def find(self, administration_id: int) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.id == administration_id), None)

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(LOG_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return LOG_COLUMNS[section][0]
        return None

    def flags(self, index: _ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def text(self, r: adm.LogRow, column: int) -> str:
        if column == 0:
            return self.ctx.clock.local(r.given_at).strftime(TIME_FORMAT)
        if column == 1:
            return r.mrn
        if column == 2:
            return r.patient_name
        if column == 3:
            return format_mcg(r.dose_mcg)
        if column == 4:
            return format_ml(r.volume_ml) if r.volume_ml else ""
        if column == 5:
            return r.route.value.upper().replace("_", " ")
        if column == 6:
            return SITE_LABELS[r.site] if r.site is not None else ""
        if column == 7:
            return outcome_text(r)
        if column == 8:
            return "" if r.reaction == Reaction.NONE else REACTION_LABELS[r.reaction]
        if column == 9:
            return r.lot_number
        if column == 10:
            return r.nurse
        return status_text(r) or r.note

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(r, column)
        if role == Qt.ItemDataRole.ToolTipRole:  # the cell in full (narrow columns cut it), and why
            parts = [self.text(r, column), status_text(r), r.note and f"Note: {r.note}"]
            return "\n".join(dict.fromkeys(p for p in parts if p)) or None
        if role == Qt.ItemDataRole.FontRole and r.status != RecordStatus.CURRENT:
            return self._struck
        if role == Qt.ItemDataRole.ForegroundRole:
            if r.status != RecordStatus.CURRENT:
                return STRUCK_GREY
            if column == 8 and r.reaction == Reaction.ALLERGIC:
                return OVERDUE_RED
        if role == Qt.ItemDataRole.AccessibleDescriptionRole and r.status != RecordStatus.CURRENT:
            return status_text(r)
        return None


# --- the tab -------------------------------------------------------------------------------------------


class AdministrationTab(QWidget):
    """Due today, give a dose, and the log with its filters and corrections."""

    log_shown = Signal()  # the log's first page for the current filter is on screen (benchmark timing)
    due_shown = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._loaded_once = False
        self._stale = False  # data changed while the tab was hidden: read again when shown

        # --- due today ---
        self.due = DueModel(ctx.clock.today(), self)
        self.due_table = QTableView()
        self.due_table.setModel(self.due)
        setup_record_table(self.due_table)
        self.due_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for i, sample in enumerate(
            ("overdue since 2026-12-01", "DEMO0000000", "WORTHINGTON, Elizabeth", "1950-01-01")
        ):
            self.due_table.setColumnWidth(i, text_width(self.due_table, sample))
        self.due_title = QLabel("<b>Due today</b>")
        self.give_button = QPushButton("Give dose…")
        self.give_button.setToolTip("Give the selected patient their dose (or double-click the row).")
        self.give_mrn_button = QPushButton("Give dose by MRN…")
        self.give_mrn_button.setToolTip("Scan the patient's wristband or type their MRN.")
        self.supply_button = QPushButton("Supply vials home…")
        self.supply_button.setToolTip("Sealed containers for a patient trained to self-inject.")
        due_buttons = QHBoxLayout()
        due_buttons.addWidget(self.give_button)
        due_buttons.addWidget(self.give_mrn_button)
        due_buttons.addStretch(1)
        due_buttons.addWidget(self.supply_button)
        due_box = QWidget()
        due_layout = QVBoxLayout(due_box)
        due_layout.setContentsMargins(0, 0, 0, 0)
        due_layout.addWidget(self.due_title)
        due_layout.addWidget(self.due_table, 1)
        due_layout.addLayout(due_buttons)

        # --- the log's filters ---
        self.date_from = QLineEdit()
        self.date_to = QLineEdit()
        for edit in (self.date_from, self.date_to):
            edit.setPlaceholderText("YYYY-MM-DD")
            edit.setMaximumWidth(text_width(edit, "2026-12-01__"))
            edit.setClearButtonEnabled(True)
        self.nurse = QComboBox()
        self.nurse.addItem("Anyone", None)
        self.patient = QLineEdit()
        self.patient.setPlaceholderText("MRN or name")
        self.patient.setClearButtonEnabled(True)
        self.product = QComboBox()
        self.product.addItem("Any product", None)
        self.product.setMaximumWidth(260)
        self.lot = QLineEdit()
        self.lot.setPlaceholderText("lot number")
        self.lot.setMaximumWidth(text_width(self.lot, "AB12345678__"))
        self.lot.setClearButtonEnabled(True)
        self.outcome = QComboBox()
        self.outcome.addItem("Any outcome", None)
        for outcome, label in OUTCOME_LABELS.items():
            self.outcome.addItem(label, outcome)
        self.clear_button = QPushButton("Clear filters")
        self.filter_error = ErrorLabel()
        filters = QGridLayout()
        filters.setHorizontalSpacing(6)
        pairs: list[tuple[str, QWidget]] = [
            ("From", self.date_from),
            ("to", self.date_to),
            ("Patient", self.patient),
            ("Recorded by", self.nurse),
            ("Product", self.product),
            ("Lot", self.lot),
            ("Outcome", self.outcome),
        ]
        # Two rows, so the tab fits a small laptop screen; combos shrink to eight characters if need be.
        for n, (text, widget) in enumerate(pairs):
            caption = QLabel(text)
            caption.setBuddy(widget)
            row, column = divmod(n, 4)
            filters.addWidget(caption, row, 2 * column)
            filters.addWidget(widget, row, 2 * column + 1)
        for combo in (self.nurse, self.product, self.outcome):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        filters.setColumnStretch(5, 2)
        filters.setColumnStretch(7, 1)
        filters.addWidget(self.clear_button, 1, 7)
        filters.addWidget(self.filter_error, 2, 0, 1, 8)

        # --- the log ---
        self.log = LogModel(ctx, self)
        self.log_table = QTableView()
        self.log_table.setModel(self.log)
        setup_record_table(self.log_table)
        self.log_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.log_table.setWordWrap(False)
        self.log_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        for i, (_title, sample) in enumerate(LOG_COLUMNS):
            self.log_table.setColumnWidth(i, text_width(self.log_table, sample))
        self.log_title = QLabel("<b>Dose log</b>")
        self.count_label = QLabel()
        self.count_label.setObjectName("muted")
        self.history_button = QPushButton("This patient's history")
        self.history_button.setToolTip("Show only the selected patient's doses, with their sites.")
        self.correct_button = QPushButton("Correct…")
        self.correct_button.setToolTip("Correct the site, time or note; the original stays readable.")
        self.label_button = QPushButton("Syringe label…")
        self.label_button.setToolTip("Print the selected dose's syringe label.")
        self.error_button = QPushButton("Mark entered in error…")
        self.error_button.setToolTip("A record that should never have been made: it stays, struck through.")
        log_head = QHBoxLayout()
        log_head.addWidget(self.log_title)
        log_head.addWidget(self.count_label)
        log_head.addStretch(1)
        log_buttons = QHBoxLayout()
        log_buttons.addWidget(self.history_button)
        log_buttons.addWidget(self.label_button)
        log_buttons.addStretch(1)
        log_buttons.addWidget(self.correct_button)
        log_buttons.addWidget(self.error_button)
        log_box = QWidget()
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.addLayout(log_head)
        log_layout.addLayout(filters)
        log_layout.addWidget(self.log_table, 1)
        log_layout.addLayout(log_buttons)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(due_box)
        self.splitter.addWidget(log_box)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)

        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_PAUSE_MS)
        self._filter_timer.timeout.connect(self.apply_filter)
        for edit in (self.date_from, self.date_to, self.patient, self.lot):
            edit.textChanged.connect(lambda _t: self._filter_timer.start())
            edit.returnPressed.connect(self.apply_filter)
        for combo in (self.nurse, self.product, self.outcome):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.clear_button.clicked.connect(self.clear_filters)
        self.give_button.clicked.connect(self.give_selected)
        self.give_mrn_button.clicked.connect(lambda: self.open_give_dose(None))
        self.supply_button.clicked.connect(self.supply_home)
        self.due_table.doubleClicked.connect(lambda _i: self.give_selected())
        self.history_button.clicked.connect(self.show_patient_history)
        self.correct_button.clicked.connect(self.correct_selected)
        self.error_button.clicked.connect(self.mark_selected_in_error)
        self.label_button.clicked.connect(lambda: self.print_syringe_label())
        self.due_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.log_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.log.page_loaded.connect(self._log_loaded)
        self.log.failed.connect(lambda failure: show_failure(self, failure, "Dose log"))
        self.log.modelReset.connect(self._update_buttons)
        ctx.bus.changed.connect(self._data_changed)
        self._update_buttons()

    # --- loading ---------------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._loaded_once:
            self._loaded_once = True
            self.load()
        elif self._stale:
            self.refresh()

    def load(self) -> None:
        """The choices of the filters, the due list and the log's first page (each on the worker)."""
        self.count_label.setText("Loading…")
        self.reload_due()
        self.log.set_filter(self.current_filter() or adm.LogFilter())
        self.load_choices()

    def load_choices(self) -> None:
        """Who may appear as having recorded a dose, and the products, for the filters."""

        def read(session: Session, actor: Actor) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
            return adm.log_staff(session, actor), adm.log_products(session, actor)

        run_op(self, self.ctx, read, self._choices_loaded, quiet=True, title="Administration")

    def _choices_loaded(self, result: tuple[list[tuple[int, str]], list[tuple[int, str]]]) -> None:
        staff, products = result
        for combo, items in ((self.nurse, staff), (self.product, products)):
            keep = combo.currentData()
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for item_id, text in items:
                combo.addItem(text, item_id)
            combo.setCurrentIndex(max(0, combo.findData(keep)))
            combo.blockSignals(False)

    def refresh(self) -> None:
        self._stale = False
        self.reload_due()
        self.log.reload()

    def reload_due(self) -> None:
        today = self.ctx.clock.today()

        def read(session: Session, actor: Actor) -> list[adm.DueRow]:
            return adm.due_list(session, actor, today=today)

        run_op(
            self,
            self.ctx,
            read,
            lambda rows: self._due_loaded(rows, today),
            quiet=True,
            title="Administration",
        )

    def _due_loaded(self, rows: list[adm.DueRow], today: date) -> None:
        keep = self.selected_due()
        self.due.today = today
        self.due.set_rows(rows)
        if keep is not None:
            i = self.due.find(lambda r: r.patient_id == keep.patient_id)
            if i is not None:
                self.due_table.selectRow(i)
        overdue = sum(1 for r in rows if r.overdue(today))
        self.due_title.setText(
            f"<b>Due today</b> &nbsp; {len(rows)} patient(s)"
            + (f", <span style='color:{ERROR_RED}'>{overdue} overdue</span>" if overdue else "")
        )
        self._update_buttons()
        self.due_shown.emit()

    def _data_changed(self, what: str) -> None:
        if what in (DOSES, PLANS, PATIENTS) and self._loaded_once:
            if self.isVisible():
                self.refresh()
            else:
                self._stale = True
        if what == STOCK and self._loaded_once:
            self.load_choices()  # a product added or renamed

    # --- filters ---------------------------------------------------------------------------------------

    def current_filter(self) -> adm.LogFilter | None:
        """The filter the bar says; None (and a message under it) while a date cannot be read."""
        try:
            given_from = parse_iso_date(self.date_from.text())
            given_to = parse_iso_date(self.date_to.text())
        except ValueError as exc:
            self.filter_error.set_error(str(exc))
            return None
        if given_from and given_to and given_from > given_to:
            self.filter_error.set_error("The 'from' date is after the 'to' date.")
            return None
        self.filter_error.set_error("")
        outcome = self.outcome.currentData()
        return adm.LogFilter(
            given_from=given_from,
            given_to=given_to,
            nurse_id=self.nurse.currentData(),
            patient=self.patient.text().strip(),
            product_id=self.product.currentData(),
            lot_number=self.lot.text().strip(),
            outcome=AdministrationOutcome(outcome) if outcome is not None else None,
        )

    def apply_filter(self) -> None:
        self._filter_timer.stop()
        log_filter = self.current_filter()
        if log_filter is None or not self._loaded_once:
            return
        self.count_label.setText("Reading…")
        self.log.set_filter(log_filter)

    def clear_filters(self) -> None:
        for edit in (self.date_from, self.date_to, self.patient, self.lot):
            edit.blockSignals(True)
            edit.clear()
            edit.blockSignals(False)
        for combo in (self.nurse, self.product, self.outcome):
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        self.apply_filter()

    def _log_loaded(self) -> None:
        shown = self.log.rowCount()
        more = " (scroll for more)" if self.log.has_more() else ""
        self.count_label.setText(
            f"{shown:,} record(s) shown{more}" if shown else "No records match the filters."
        )
        self._update_buttons()
        self.log_shown.emit()

    # --- selection -------------------------------------------------------------------------------------

    def selected_due(self) -> adm.DueRow | None:
        return self.due.selected(self.due_table)

    def selected_log(self) -> adm.LogRow | None:
        rows = self.log_table.selectionModel().selectedRows()
        return self.log.row(rows[0].row()) if rows else None

    def select_log_row(self, administration_id: int) -> bool:
        i = self.log.find(administration_id)
        if i is None:
            return False
        self.log_table.selectRow(i)
        return True

    def _update_buttons(self) -> None:
        self.give_button.setEnabled(self.selected_due() is not None)
        row = self.selected_log()
        current = row is not None and row.status == RecordStatus.CURRENT
        self.correct_button.setEnabled(current)
        self.error_button.setEnabled(current)
        self.history_button.setEnabled(row is not None)
        self.label_button.setEnabled(
            current and row is not None and row.outcome == AdministrationOutcome.GIVEN and not row.external
        )

    # --- actions ---------------------------------------------------------------------------------------

    def give_selected(self) -> None:
        due = self.selected_due()
        if due is not None:
            self.open_give_dose(due.patient_id)

    def open_give_dose(self, patient_id: int | None) -> QDialog:
        from b12desk.ui.give_dose import GiveDoseDialog  # loaded when first used

        dialog = GiveDoseDialog(self.ctx, patient_id, parent=self)
        dialog.saved.connect(self._dose_saved)
        dialog.open()
        return dialog

    def _dose_saved(self, administration_id: int) -> None:
        window = self.window()
        bar = getattr(window, "statusBar", None)
        if callable(bar):
            bar().showMessage(f"Dose record {administration_id} saved.", 8000)
        self.offer_syringe_label(administration_id)

    def offer_syringe_label(self, administration_id: int) -> None:
        """After a dose given, its syringe label, one click from printing; nothing for a dose not given."""

        def read(session: Session, actor: Actor) -> object:
            return label_data.syringe_label(session, actor, administration_id)

        def offer(_label: object) -> None:
            self.print_syringe_label(administration_id)

        run_op(
            self,
            self.ctx,
            read,
            offer,
            lambda _failure: None,  # refused, held, oral: there is no syringe to label
            quiet=True,
        )

    def print_syringe_label(self, administration_id: int | None = None) -> QDialog | None:
        from b12desk.ui.printing import LabelPrintDialog

        if administration_id is None:
            row = self.selected_log()
            administration_id = row.id if row is not None else None
        if administration_id is None:
            return None
        dialog = LabelPrintDialog(self.ctx, "syringe", [administration_id], parent=self)
        dialog.open()
        return dialog

    def show_patient_history(self) -> None:
        """The selected patient's doses alone, newest first, with their sites."""
        row = self.selected_log()
        if row is None:
            return
        mrn = row.mrn
        self.clear_filters()
        self.patient.setText(mrn)
        self.apply_filter()

    def mark_selected_in_error(self) -> ReasonDialog | None:
        row = self.selected_log()
        if row is None or row.status != RecordStatus.CURRENT:
            return None
        when = self.ctx.clock.local(row.given_at).strftime(TIME_FORMAT)

        def submit(session: Session, actor: Actor, reason: str, password: str) -> object:
            return adm.mark_entered_in_error(session, actor, row.id, reason=reason, password=password)

        dialog = ReasonDialog(
            self,
            self.ctx,
            title="Mark entered in error",
            prompt=f"Mark the record of {format_mcg(row.dose_mcg)} for {row.patient_name} ({row.mrn}) on "
            f"{when} as entered in error? It stays in the log, struck through, with your reason; what it "
            "drew goes back to stock when that can still be used, and the schedule is worked out again.",
            action_text="Mark entered in error",
            submit=submit,
            changes=(DOSES, STOCK, PLANS),
            placeholder="why the record is wrong, e.g. recorded for the wrong patient",
            ask_password=True,
        )
        dialog.open()
        return dialog

    def correct_selected(self) -> CorrectDoseDialog | None:
        row = self.selected_log()
        if row is None or row.status != RecordStatus.CURRENT:
            return None
        dialog = CorrectDoseDialog(self.ctx, row, parent=self)
        dialog.open()
        return dialog

    def supply_home(self) -> SupplyHomeDialog:
        due, row = self.selected_due(), self.selected_log()
        mrn = due.mrn if due is not None else (row.mrn if row is not None else "")
        dialog = SupplyHomeDialog(self.ctx, mrn, parent=self)
        dialog.open()
        return dialog


# --- correcting a record -------------------------------------------------------------------------------


class CorrectDoseDialog(DiscardGuard, QDialog):
    """The site, time or note of a dose record, corrected with a reason: the original stays, marked."""

    def __init__(self, ctx: AppContext, row: adm.LogRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.record = row
        self.setWindowTitle("Correct a dose record")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.errors = FieldErrors()
        intro = QLabel(
            f"{escape(row.patient_name)} ({escape(row.mrn)}), {format_mcg(row.dose_mcg)}, "
            f"{escape(outcome_text(row)).lower()}. The record as it is stays in the log, struck through, "
            "and the corrected one replaces it."
        )
        intro.setWordWrap(True)
        self.site = QComboBox()
        self.site.addItem("not recorded", None)
        for site, label in SITE_LABELS.items():
            self.site.addItem(label.capitalize(), site)
        self.site.setCurrentIndex(max(0, self.site.findData(row.site)))
        self.given_at = QLineEdit(ctx.clock.local(row.given_at).strftime(TIME_FORMAT))
        self.given_at.setPlaceholderText("YYYY-MM-DD HH:MM")
        self.note = QLineEdit(row.note)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why, e.g. site written on the wrong side")
        form = QFormLayout()
        for name, text, widget in (
            ("site", "Site", self.site),
            ("given_at", "Time given", self.given_at),
            ("note", "Note", self.note),
            ("reason", "Reason for the correction", self.reason),
        ):
            self.errors.add_row(form, name, text, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton("Save correction", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

    def save(self) -> None:
        self.errors.clear()
        try:
            moment = datetime.strptime(self.given_at.text().strip(), TIME_FORMAT)
        except ValueError:
            self.errors.show({"given_at": "Write the time as YYYY-MM-DD HH:MM, e.g. 2026-12-01 10:30."})
            return
        given_at = moment.replace(tzinfo=self.ctx.clock.zone)
        row = self.record
        site = self.site.currentData()
        site = InjectionSite(site) if site is not None else None
        new_time = None if given_at == row.given_at else given_at
        note, reason = self.note.text(), self.reason.text()

        def write(session: Session, actor: Actor) -> adm.AdministrationRow:
            return adm.amend_administration(
                session, actor, row.id, reason=reason, site=site, given_at=new_time, note=note
            )

        run_op(
            self, self.ctx, write, lambda _r: self.accept(), self._refused, write=True, changes=[DOSES, PLANS]
        )

    def _refused(self, failure: OpFailure) -> None:
        self.errors.show_failure(self, failure)


# --- vials supplied home -------------------------------------------------------------------------------


class SupplyHomeDialog(DiscardGuard, QDialog):
    """Sealed containers a patient trained to self-inject takes home: a stock movement naming them."""

    def __init__(self, ctx: AppContext, mrn: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Supply vials home")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.context: adm.DoseContext | None = None
        self.errors = FieldErrors()
        self.mrn = QLineEdit(mrn)
        self.mrn.setPlaceholderText("scan the wristband or type the MRN, then Enter")
        self.patient_label = QLabel("Choose the patient.")
        self.patient_label.setWordWrap(True)
        self.lot = QComboBox()
        self.lot.setPlaceholderText("choose the sealed stock")
        self.quantity = QSpinBox()
        self.quantity.setRange(1, 100)
        self.note = QLineEdit()
        self.note.setPlaceholderText("e.g. three months' supply")
        form = QFormLayout()
        for name, text, widget in (
            ("mrn", "MRN", self.mrn),
            ("patient", "", self.patient_label),
            ("lot", "Stock", self.lot),
            ("quantity", "Containers", self.quantity),
            ("note", "Note", self.note),
        ):
            self.errors.add_row(form, name, text, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton("Record supply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setEnabled(False)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)
        self.mrn.returnPressed.connect(self.find_patient)
        self.lot.currentIndexChanged.connect(lambda _i: self._update())
        if mrn:
            QTimer.singleShot(0, self.find_patient)

    def find_patient(self) -> None:
        text, clock = self.mrn.text(), self.ctx.clock

        def read(session: Session, actor: Actor) -> adm.DoseContext:
            return adm.dose_context(
                session, actor, adm.find_patient_for_dose(session, actor, text), clock=clock
            )

        run_op(self, self.ctx, read, self._found, self._refused, quiet=True)

    def _found(self, context: adm.DoseContext) -> None:
        self.errors.clear()
        self.context = context
        p = context.patient
        trained_on = p.self_injection_trained_on
        trained = (
            f"trained to self-inject on {trained_on.isoformat()} by {escape(p.self_injection_trainer)}"
            if trained_on
            else f"<span style='color:{ERROR_RED}'>not recorded as trained to self-inject</span>"
        )
        self.patient_label.setText(
            f"<b>{escape(p.family_name.upper())}, {escape(p.given_name)}</b>, born "
            f"{p.date_of_birth.isoformat()}: {trained}"
        )
        self.lot.clear()
        for option in context.stock:
            if option.vial_id is None and option.sealed > 0:
                self.lot.addItem(option.describe(self.ctx.clock), option.lot_id)
        self.lot.setCurrentIndex(0 if self.lot.count() else -1)  # the stock to use first
        if not self.lot.count():
            self.errors.show({"lot": "No sealed stock of the plan's formulation and strength to supply."})
        self.mark_clean()
        self._update()

    def _update(self) -> None:
        self.save_button.setEnabled(self.context is not None and self.lot.currentData() is not None)

    def save(self) -> None:
        if self.context is None or self.lot.currentData() is None:
            return
        patient_id, lot_id = self.context.patient.id, int(self.lot.currentData())
        quantity, note = self.quantity.value(), self.note.text()

        def write(session: Session, actor: Actor) -> inventory.LotRow:
            return inventory.supply_home(
                session, actor, patient_id=patient_id, lot_id=lot_id, quantity=quantity, note=note
            )

        run_op(self, self.ctx, write, lambda _r: self.accept(), self._refused, write=True, changes=[STOCK])

    def _refused(self, failure: OpFailure) -> None:
        self.errors.show_failure(self, failure, unclaimed_field="mrn")
