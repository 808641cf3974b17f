"""File > Export workbook…: one of the Excel reports for a period, written on the database worker with a
progress bar and Cancel, the app usable meanwhile; the export is recorded in the audit trail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.permissions import Permission, role_can
from b12desk.exports.workbooks import ExportResult, export_workbook
from b12desk.services import reports
from b12desk.services.common import Actor
from b12desk.services.reports import AS_OF_KINDS, REPORT_TITLES, ReportKind, ReportParameters
from b12desk.ui.context import AppContext
from b12desk.ui.ops import OpFailure, Progress, run_op, run_op_with_progress
from b12desk.ui.widgets import ErrorLabel, FieldErrors, MessageLabel, parse_iso_date

DEFAULT_DAYS = 30


class ExportDialog(QDialog):
    exported = Signal(object)  # ExportResult

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Export workbook")
        today = ctx.clock.today()
        self.kind = QComboBox()
        for kind, title in REPORT_TITLES.items():
            self.kind.addItem(title, kind.value)
        self.start = QLineEdit((today - timedelta(days=DEFAULT_DAYS - 1)).isoformat())
        self.end = QLineEdit(today.isoformat())
        for edit in (self.start, self.end):
            edit.setPlaceholderText("YYYY-MM-DD")
            edit.setMaximumWidth(140)
        self.path = QLineEdit(str(Path.home() / f"b12desk-administrations-{today.isoformat()}.xlsx"))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.choose_file)
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        self.errors = FieldErrors()
        self.summary = MessageLabel()
        form = QFormLayout()

        def row(label: str, widget: QWidget, field: str, extra: QWidget | None = None) -> None:
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            line = QHBoxLayout()
            short = widget.maximumWidth() < 1000  # a date keeps to the left, at its own width
            line.addWidget(widget, 0 if short else 1)
            if extra is not None:
                line.addWidget(extra)
            if short:
                line.addStretch(1)
            column.addLayout(line)
            error = ErrorLabel()
            column.addWidget(error)
            form.addRow(label, box)
            self.errors.add(field, widget, error)

        row("Report", self.kind, "kind")
        row("From", self.start, "start")
        row("To", self.end, "end")
        row("File", self.path, "path", browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        buttons.accepted.connect(self.export)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)
        self._parameters = ReportParameters(today, today)
        if not role_can(ctx.actor.role, Permission.EXPORT_REPORTS):
            self.export_button.setEnabled(False)
            self.summary.show_text(
                f"A {ctx.actor.role.value} may not export reports: a clinic manager or an administrator can."
            )
        self.kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self._kind_changed()

    def current_kind(self) -> ReportKind:
        return ReportKind(self.kind.currentData())

    def _kind_changed(self) -> None:
        kind = self.current_kind()
        as_of = kind in AS_OF_KINDS
        self.start.setEnabled(not as_of)
        self.note.setText(
            "As of the 'To' day."
            if as_of
            else "Every day from 'From' to 'To', both included, in clinic days."
        )
        path = Path(self.path.text())
        if path.name.startswith("b12desk-"):  # a name this dialog suggested: follow the report
            self.path.setText(str(path.with_name(f"b12desk-{kind.value}-{self.end.text().strip()}.xlsx")))

    def choose_file(self) -> None:
        name, _filter = QFileDialog.getSaveFileName(
            self, "Export to", self.path.text(), "Excel workbook (*.xlsx)"
        )
        if name:
            self.path.setText(name if name.lower().endswith(".xlsx") else name + ".xlsx")

    def export(self) -> None:
        problems: dict[str, str] = {}
        kind = self.current_kind()
        try:
            end = parse_iso_date(self.end.text()) or self.ctx.clock.today()
        except ValueError as exc:
            problems["end"], end = str(exc), self.ctx.clock.today()
        try:
            start = parse_iso_date(self.start.text()) or end
        except ValueError as exc:
            problems["start"], start = str(exc), end
        if kind in AS_OF_KINDS:
            start = end
        path = Path(self.path.text().strip()).expanduser()
        if not path.name or path.suffix.lower() != ".xlsx":
            problems["path"] = "Give a file name ending .xlsx (an Excel workbook)."
        if problems:
            self.errors.show(problems)
            self.summary.show_text("Nothing was exported.")
            return
        parameters = ReportParameters(start, end)
        self._parameters = parameters

        def write(session: Session, actor: Actor, progress: Progress) -> ExportResult:
            params = parameters.validated()

            def step(done: int, total: int | None) -> bool:
                progress.report(done, total, f"{done:,} rows written")
                return True  # Cancel stops at the next report: the writer then leaves no file behind

            return export_workbook(kind, session, actor, params, path, progress=step, audit=False)

        run_op_with_progress(self, self.ctx, write, self._written, self._refused, label="Exporting…")

    def _written(self, result: ExportResult) -> None:
        kind, parameters = result.kind, self._parameters

        def record(session: Session, actor: Actor) -> None:  # a short write of its own, after the read
            reports.record_export(
                session, actor, kind, parameters, rows=result.rows, file_name=result.path.name
            )

        run_op(self, self.ctx, record, lambda _none: self._done(result), self._refused, write=True)

    def _done(self, result: ExportResult) -> None:
        self.exported.emit(result)
        self.summary.show_text("")
        self.accept()

    def _refused(self, failure: OpFailure) -> None:
        fields = dict(failure.fields)
        unclaimed = self.errors.show(fields) if fields else {}
        if not fields:
            self.errors.clear()
            unclaimed = {"": failure.message}
        self.summary.show_text("\n".join(["Nothing was exported.", *unclaimed.values()]))
