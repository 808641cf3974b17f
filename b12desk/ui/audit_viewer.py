"""Tools > Audit trail…: every audited event of the clinic for those who review it (managers, pharmacists,
administrators), filtered by user, patient, record and clinic days, newest first; the selected event's
fields before and after, side by side; the filtered events exported to Excel (itself audited).

The list pages from the database (services.audit_log.search_audit, keyset pages of PAGE events): the table
asks for the next page as it is scrolled, so a trail of millions of events is never all in memory. Every
read and write runs on the database worker (ui.ops).
"""

from __future__ import annotations

from datetime import date
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.permissions import Permission, role_can
from b12desk.services import audit_log
from b12desk.services.audit_log import AuditFilter, AuditRow, FieldChange, PatientChoice, StaffChoice
from b12desk.services.common import Actor, ValidationFailed
from b12desk.ui.context import AppContext
from b12desk.ui.ops import OpFailure, Progress, run_op, run_op_with_progress
from b12desk.ui.table_model import Column, RowsModel
from b12desk.ui.widgets import (
    ErrorLabel,
    FieldErrors,
    MessageLabel,
    parse_iso_date,
    resize_within_screen,
    setup_record_table,
    text_width,
)

_ModelIndex = QModelIndex | QPersistentModelIndex
FILTER_PAUSE_MS = 300  # typing a record id or a day waits this long before the trail is read again
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PAGE = audit_log.PAGE  # events per page of the list
NO_ACCESS = "Only clinic managers, pharmacists and administrators may read the audit trail."


def action_words(action: str) -> str:
    return action.replace("_", " ")


# --- the models ----------------------------------------------------------------------------------------


class AuditModel(RowsModel[AuditRow]):
    """The events read so far for the current filter, newest first; the view asks for more (fetchMore)."""

    page_loaded = Signal()  # a page arrived (the first for a new filter, or the next)
    failed = Signal(object)  # OpFailure

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        zone = ctx.clock.zone
        self.columns = (
            Column[AuditRow]("When", lambda r: r.at.astimezone(zone).strftime(TIME_FORMAT)),
            Column[AuditRow]("User", lambda r: r.who),
            Column[AuditRow]("Action", lambda r: action_words(r.action)),
            Column[AuditRow]("Record", lambda r: audit_log.kind_label(r.entity)),
            Column[AuditRow]("Record id", lambda r: r.entity_id),
            Column[AuditRow]("Reason", lambda r: r.reason),  # last: it takes the room that is left
        )
        self.text_tooltips = True  # narrow columns cut the text; the tooltip has it whole
        self._filter = AuditFilter()
        self._more = False
        self._loading = False
        self._generation = 0  # answers to an older filter are dropped

    @property
    def audit_filter(self) -> AuditFilter:
        return self._filter

    def set_filter(self, audit_filter: AuditFilter) -> None:
        """Read the first page for this filter; what is shown stays until it arrives."""
        self._filter = audit_filter
        self._generation += 1
        self._loading = True
        self._read(None, self._generation, replace=True)

    def reload(self) -> None:
        self.set_filter(self._filter)

    def _read(self, after: int | None, generation: int, *, replace: bool) -> None:
        f, clock, size = self._filter, self.ctx.clock, PAGE

        def read(session: Session, actor: Actor) -> list[AuditRow]:
            return audit_log.search_audit(
                session,
                actor,
                staff_id=f.staff_id,
                patient_id=f.patient_id,
                entity=f.entity,
                entity_id=f.entity_id,
                since=f.since,
                until=f.until,
                limit=size,
                after=after,
                clock=clock,
            )

        def done(page: list[AuditRow]) -> None:
            if generation != self._generation:
                return
            self._loading = False
            self._more = len(page) == size
            if replace:
                self.set_rows(page)
            elif page:
                first = len(self._rows)
                self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
                self._rows.extend(page)
                self.endInsertRows()
            self.page_loaded.emit()

        def refused(failure: OpFailure) -> None:
            if generation == self._generation:
                self._loading = False
                self._more = False
                if replace:
                    self.set_rows([])
                self.failed.emit(failure)

        # The dialog as the op's parent: an answer arriving after it closed is dropped, not delivered to a
        # deleted model.
        owner = self.parent()
        run_op(owner if isinstance(owner, QWidget) else None, self.ctx, read, done, refused, quiet=True)

    def canFetchMore(self, parent: _ModelIndex = QModelIndex()) -> bool:  # noqa: B008 - Qt's signature
        return not parent.isValid() and self._more and not self._loading

    def fetchMore(self, parent: _ModelIndex = QModelIndex()) -> None:  # noqa: B008 - Qt's signature
        if not self.canFetchMore(parent) or not self._rows:
            return
        self._loading = True
        self._read(self._rows[-1].id, self._generation, replace=False)

    def has_more(self) -> bool:
        return self._more

    def is_loading(self) -> bool:
        return self._loading

    def row_id(self, row: AuditRow) -> int | None:
        return row.id


class ChangesModel(RowsModel[FieldChange]):
    """The selected event's fields: before and after, side by side."""

    columns = (
        Column[FieldChange]("Field", lambda c: c.field),
        Column[FieldChange]("Before", lambda c: audit_log.value_text(c.old)),
        Column[FieldChange]("After", lambda c: audit_log.value_text(c.new)),
    )
    text_tooltips = True


# --- the dialog ----------------------------------------------------------------------------------------


class AuditViewerDialog(QDialog):
    """Filters on top, the events in the middle, the selected event's changes below, Export at the foot."""

    exported = Signal(object)  # AuditExportResult

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Audit trail")
        self._can_export = role_can(ctx.actor.role, Permission.READ_AUDIT) and role_can(
            ctx.actor.role, Permission.EXPORT_REPORTS
        )

        # --- filters ---
        self.user = QComboBox()
        self.user.addItem("Anyone", None)
        self.user.setMinimumContentsLength(22)
        self.patient_search = QLineEdit()
        self.patient_search.setPlaceholderText("MRN or name, then Enter")
        self.patient_search.setClearButtonEnabled(True)
        self.find_button = QPushButton("Find")
        self.find_button.setToolTip("Find the patients whose MRN or name starts with what is typed.")
        self.patient = QComboBox()
        self.patient.addItem("Any patient", None)
        self.patient.setMinimumContentsLength(26)
        self.patient.setToolTip(
            "A patient's events: their record, plans, doses, laboratory results and supplies home."
        )
        self.kind = QComboBox()
        self.kind.addItem("Any record", None)
        for entity, kind_text in audit_log.RECORD_KINDS.items():
            self.kind.addItem(kind_text, entity)
        self.record_id = QLineEdit()
        self.record_id.setPlaceholderText("id")
        self.record_id.setMaximumWidth(90)
        self.record_id.setToolTip("The record's number, as the Record id column shows it.")
        self.since = QLineEdit()
        self.until = QLineEdit()
        for edit, tip in ((self.since, "From this clinic day"), (self.until, "To this clinic day, included")):
            edit.setPlaceholderText("YYYY-MM-DD")
            edit.setToolTip(f"{tip}; blank: no limit.")
            edit.setMaximumWidth(110)
        self.clear_button = QPushButton("Clear filters")

        self.errors = FieldErrors()
        error_box = QVBoxLayout()
        error_box.setContentsMargins(0, 0, 0, 0)
        for name, widget in (
            ("staff", self.user),
            ("patient", self.patient_search),
            ("entity", self.kind),
            ("entity_id", self.record_id),
            ("since", self.since),
            ("until", self.until),
        ):
            error = ErrorLabel()
            error_box.addWidget(error)
            self.errors.add(name, widget, error)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("User"), 0, 0)
        grid.addWidget(self.user, 0, 1)
        grid.addWidget(QLabel("Patient"), 0, 2)
        patient_line = QHBoxLayout()
        patient_line.addWidget(self.patient_search, 2)
        patient_line.addWidget(self.find_button)
        patient_line.addWidget(self.patient, 3)
        grid.addLayout(patient_line, 0, 3)
        grid.addWidget(QLabel("Record"), 1, 0)
        record_line = QHBoxLayout()
        record_line.addWidget(self.kind, 1)
        record_line.addWidget(self.record_id)
        grid.addLayout(record_line, 1, 1)
        grid.addWidget(QLabel("From"), 1, 2)
        days_line = QHBoxLayout()
        days_line.addWidget(self.since)
        days_line.addWidget(QLabel("to"))
        days_line.addWidget(self.until)
        days_line.addStretch(1)
        days_line.addWidget(self.clear_button)
        grid.addLayout(days_line, 1, 3)
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(3, 3)

        # --- events and changes ---
        self.model = AuditModel(ctx, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_record_table(self.table)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        for column, sample in enumerate(
            (
                "2026-12-01 10:30:00",
                "Phil Pharmacist (demo) (pharmacist)",
                "return for review",
                "Regimen template",
                "administrations",
            )
        ):
            self.table.setColumnWidth(column, text_width(self.table, sample))
        self.changes = ChangesModel(self)
        self.change_table = QTableView()
        self.change_table.setModel(self.changes)
        setup_record_table(self.change_table)
        self.change_table.setWordWrap(False)
        self.change_table.setColumnWidth(0, text_width(self.change_table, "self_injection_trained_on"))
        self.change_table.setColumnWidth(1, 330)
        self.change_title = QLabel("Select an event to see its fields before and after.")
        self.change_title.setObjectName("muted")
        self.change_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 4, 0, 0)
        lower_layout.addWidget(self.change_title)
        lower_layout.addWidget(self.change_table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setChildrenCollapsible(False)
        # Most events change a few fields: the list gets two thirds of the height, now and on resizing.
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([400, 200])

        # --- foot ---
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.message = MessageLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self._close_button = buttons.button(QDialogButtonBox.StandardButton.Close)
        self.export_button = buttons.addButton("Export to Excel…", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(lambda: self.choose_export_file())
        if self._can_export:
            self.export_button.setToolTip("Every event that matches the filters, not only those shown.")
        else:
            self.export_button.setEnabled(False)
            self.export_button.setToolTip(
                "Exporting the audit trail needs the right to export reports: a clinic manager or an "
                "administrator can."
            )

        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(error_box)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)
        foot = QHBoxLayout()
        foot.addWidget(self.status, 1)
        foot.addWidget(buttons)
        layout.addLayout(foot)
        resize_within_screen(self, 1100, 720)

        # --- behaviour ---
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(FILTER_PAUSE_MS)
        self._pause.timeout.connect(self.apply_filters)
        self.user.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.patient.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.kind.currentIndexChanged.connect(lambda _i: self.apply_filters())
        for edit in (self.record_id, self.since, self.until):
            edit.textEdited.connect(lambda _t: self._pause.start())
            edit.returnPressed.connect(self.apply_filters)
        self.patient_search.returnPressed.connect(self.find_patient)
        self.find_button.clicked.connect(lambda: self.find_patient())
        self.clear_button.clicked.connect(lambda: self.clear_filters())
        self.model.page_loaded.connect(self._page_loaded)
        self.model.failed.connect(self._refused)
        self.model.modelReset.connect(self._show_changes)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._show_changes())

        self._filters_enabled(False)
        self.status.setText("Reading the audit trail…")
        run_op(self, ctx, audit_log.staff_choices, self._staff_loaded, self._refused, quiet=True)

    # --- filters ---

    def _filters_enabled(self, enabled: bool) -> None:
        for widget in (
            self.user,
            self.patient_search,
            self.find_button,
            self.patient,
            self.kind,
            self.record_id,
            self.since,
            self.until,
            self.clear_button,
        ):
            widget.setEnabled(enabled)

    def _staff_loaded(self, staff: list[StaffChoice]) -> None:
        self.user.blockSignals(True)
        for person in staff:
            self.user.addItem(person.label, person.id)
        self.user.blockSignals(False)
        self._filters_enabled(True)
        self.model.set_filter(AuditFilter())

    def current_filter(self) -> AuditFilter | None:
        """The filter as typed, or None after putting each problem beside its field."""
        problems: dict[str, str] = {}
        days: dict[str, date | None] = {}
        for name, edit in (("since", self.since), ("until", self.until)):
            try:
                days[name] = parse_iso_date(edit.text())
            except ValueError as exc:
                problems[name], days[name] = str(exc), None
        if problems:
            self.errors.show(problems)
            return None
        return AuditFilter(
            staff_id=self.user.currentData(),
            patient_id=self.patient.currentData(),
            entity=self.kind.currentData(),
            entity_id=self.record_id.text().strip() or None,
            since=days["since"],
            until=days["until"],
        )

    def apply_filters(self) -> None:
        self._pause.stop()
        audit_filter = self.current_filter()
        if audit_filter is None:
            self.status.setText("Fix the filter marked in red.")
            return
        try:
            audit_filter = audit_filter.validated()  # a plain check of the fields, no database
        except ValidationFailed as exc:
            self.errors.show(exc.errors)
            self.status.setText("Fix the filter marked in red.")
            return
        self.errors.clear()
        self.message.show_text("")
        self.status.setText("Reading the audit trail…")
        self.model.set_filter(audit_filter)

    def clear_filters(self) -> None:
        for combo in (self.user, self.patient, self.kind):
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        for edit in (self.record_id, self.since, self.until, self.patient_search):
            edit.clear()
        self._set_patients([])
        self.apply_filters()

    def find_patient(self) -> None:
        text = self.patient_search.text()

        def found(matches: list[PatientChoice]) -> None:
            if not matches:
                self.errors.show({"patient": f"No patient's MRN or name starts with '{text.strip()}'."})
                return
            self.errors.clear_field("patient")
            self._set_patients(matches)
            self.patient.setCurrentIndex(1)  # the best match: an exact MRN, else the first by name
            if len(matches) > 1:
                self.patient.showPopup()

        def refused(failure: OpFailure) -> None:
            if failure.fields:
                self.errors.show(failure.fields)
            else:
                self.message.show_text(failure.message)

        run_op(self, self.ctx, lambda s, actor: audit_log.find_patients(s, actor, text), found, refused)

    def _set_patients(self, matches: list[PatientChoice]) -> None:
        self.patient.blockSignals(True)
        self.patient.clear()
        self.patient.addItem("Any patient", None)
        for match in matches:
            self.patient.addItem(match.label, match.id)
        self.patient.blockSignals(False)

    # --- the list ---

    def _page_loaded(self) -> None:
        shown = self.model.rowCount()
        if shown == 0:
            self.status.setText("No events match these filters.")
        elif self.model.has_more():
            self.status.setText(f"The newest {shown:,} events; scroll down for older ones.")
        else:
            self.status.setText(f"{shown:,} event{'s' if shown != 1 else ''}, newest first.")
        if shown and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)

    def _refused(self, failure: OpFailure) -> None:
        if failure.fields:
            self.errors.show(failure.fields)
            self.status.setText("Fix the filter marked in red.")
            return
        if failure.kind == "denied":
            self._filters_enabled(False)
            self.export_button.setEnabled(False)
            self.status.setText(NO_ACCESS)
        self.message.show_text(failure.message)

    def selected_event(self) -> AuditRow | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid() or index.row() >= self.model.rowCount():
            return None
        return self.model.row(index.row())

    def _show_changes(self) -> None:
        event = self.selected_event()
        if event is None:
            self.changes.set_rows([])
            self.change_title.setText("Select an event to see its fields before and after.")
            return
        self.changes.set_rows(list(event.changes))
        when = event.at.astimezone(self.ctx.clock.zone).strftime(TIME_FORMAT)
        what = f"{audit_log.kind_label(event.entity)} {event.entity_id}"
        reason = f" — reason: {escape(event.reason)}" if event.reason else ""
        self.change_title.setText(
            f"<b>Event {event.id}</b>: {escape(action_words(event.action))} {escape(what)} by "
            f"{escape(event.who)} at {when}{reason}" + ("" if event.changes else " (no fields recorded)")
        )

    # --- export ---

    def choose_export_file(self) -> None:
        if self._pause.isActive():  # a filter still being typed: export what it will show
            self.apply_filters()
        suggested = Path.home() / f"b12desk-audit-{self.ctx.clock.today().isoformat()}.xlsx"
        name, _filter = QFileDialog.getSaveFileName(
            self, "Export the audit trail to", str(suggested), "Excel workbook (*.xlsx)"
        )
        if name:
            self.export_to(Path(name if name.lower().endswith(".xlsx") else name + ".xlsx"))

    def export_to(self, path: Path) -> None:
        """Write every event that matches the filters shown, then note the export in the trail."""
        audit_filter = self.model.audit_filter
        clock = self.ctx.clock

        def write(session: Session, actor: Actor, progress: Progress) -> Any:
            from b12desk.exports.audit_workbook import audit_workbook  # openpyxl loads when first used

            def step(done: int, total: int | None) -> bool:
                progress.report(done, total, f"{done:,} events written")
                return True  # Cancel stops at the next report: the writer then leaves no file behind

            return audit_workbook(session, actor, audit_filter, path, progress=step, clock=clock, audit=False)

        def written(result: Any) -> None:
            def record(session: Session, actor: Actor) -> None:  # a short write of its own, after the read
                audit_log.record_export(
                    session, actor, audit_filter, events=result.events, file_name=result.path.name
                )

            def unrecorded(failure: OpFailure) -> None:
                # An export the trail does not know of must not stay behind.
                path.unlink(missing_ok=True)
                self.message.show_text(f"Nothing was exported: {failure.message}")

            def done(_none: None) -> None:
                self.message.show_text("")
                self.status.setText(f"Exported {result.events:,} events to {result.path}.")
                self.exported.emit(result)

            run_op(self, self.ctx, record, done, unrecorded, write=True)

        def refused(failure: OpFailure) -> None:
            if failure.kind == "cancelled":
                self.message.show_text("Export cancelled: no file was written.")
            else:
                self.message.show_text(f"Nothing was exported: {failure.message}")

        run_op_with_progress(self, self.ctx, write, written, refused, label="Exporting the audit trail…")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._close_button.setFocus()  # rather than outlining the first cell of the table


def audit_trail_action(window: QWidget, ctx: AppContext) -> QAction:
    """The menu action: enabled for those who may read the trail, greyed with the reason for others."""
    action = QAction("&Audit trail…", window)
    if role_can(ctx.actor.role, Permission.READ_AUDIT):
        action.setStatusTip("Who changed what and when: filter, compare before and after, export")
    else:
        action.setEnabled(False)
        action.setStatusTip(NO_ACCESS)
        action.setToolTip(NO_ACCESS)

    def open_viewer() -> None:
        AuditViewerDialog(ctx, parent=window).open()

    action.triggered.connect(open_viewer)
    return action
