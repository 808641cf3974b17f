"""Import patients from CSV: check every row first, then import all, or only the good rows if asked."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.services import imports
from b12desk.services.common import Actor
from b12desk.services.imports import ImportReport, RowProblem, UnreadableFile
from b12desk.ui.context import PATIENTS, AppContext
from b12desk.ui.ops import OpFailure, Progress, run_op_with_progress
from b12desk.ui.table_model import RIGHT, Column, RowsModel
from b12desk.ui.widgets import confirm, setup_record_table, text_width

WRAP_ROWS_UP_TO = 2000


def _rows(count: int, noun: str) -> str:
    """'1 good row', '2 good rows', '1,000 rows'."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class ProblemsModel(RowsModel[RowProblem]):
    columns = (
        Column[RowProblem]("Line", lambda p: str(p.line) if p.line else "", RIGHT),
        Column[RowProblem]("MRN", lambda p: p.mrn),
        Column[RowProblem]("Problem", lambda p: p.message),
    )
    text_tooltips = True

    def problem(self, row: int) -> RowProblem:
        return self.row(row)


class FileImportDialog(QDialog):
    """What the import dialogs share: an explanation, the file and its template, a summary, an error,
    the problems by line, and the action buttons; closing waits while an import is in flight."""

    def __init__(self, ctx: AppContext, title: str, intro_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(title)
        self.path: Path | None = None
        self.busy = False
        intro = QLabel(intro_text)
        intro.setWordWrap(True)
        self.file_label = QLabel("No file chosen.")
        self.file_label.setObjectName("muted")
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QPushButton("Choose file…")
        self.template_button = QPushButton("Write template…")
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_label, 1)
        file_row.addWidget(self.choose_button)
        file_row.addWidget(self.template_button)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.error = QLabel()
        self.error.setObjectName("inlineError")
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # it may quote the file's own text
        self.error.hide()
        self.problems = ProblemsModel(self)
        self.table = QTableView()
        self.table.setModel(self.problems)
        setup_record_table(self.table)
        self.table.setColumnWidth(0, text_width(self.table, "Line 00000"))
        self.table.setColumnWidth(1, text_width(self.table, "DEMO0000000"))
        self.table.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.buttons = QHBoxLayout()  # the subclass's actions, then Cancel on the right
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(file_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.error)
        layout.addWidget(self.table, 1)
        layout.addStretch(0)  # takes the room while the table is hidden, keeping the messages together
        layout.addLayout(self.buttons)
        self.cancel_button.clicked.connect(self.reject)

    def add_actions(self, *buttons: QPushButton) -> None:
        for button in buttons:
            self.buttons.addWidget(button)
        self.buttons.addStretch(1)
        self.buttons.addWidget(self.cancel_button)

    def show_problems(self, problems: list[RowProblem]) -> None:
        self.problems.set_rows(problems)
        if self.problems.rowCount() <= WRAP_ROWS_UP_TO:
            self.table.resizeRowsToContents()  # long messages wrap; past this, the tooltip has them
        self.table.setVisible(bool(problems))

    def action_buttons(self) -> list[QPushButton]:
        return []

    def show_unreadable_file(self, failure: OpFailure) -> bool:
        """When the file as a whole cannot be imported, say so of the file (no line, no MRN) and offer
        nothing to import; False for any other failure."""
        if not isinstance(failure.error, UnreadableFile):
            return False
        self.show_problems([])
        self.summary.setText(f"{self.path.name if self.path else 'The file'} cannot be imported:")
        self._error("\n".join(failure.error.messages))
        for button in self.action_buttons():
            button.setEnabled(False)
        return True

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        for b in (self.choose_button, self.template_button, self.cancel_button):
            b.setEnabled(not busy)
        if busy:
            for b in self.action_buttons():
                b.setEnabled(False)

    def _error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def reject(self) -> None:
        if not self.busy:  # an import in flight finishes and reports before the dialog may close
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.busy:
            event.ignore()
        else:
            super().closeEvent(event)


class ImportDialog(FileImportDialog):
    """Nothing is written by choosing a file: the check is a dry run; importing is a separate click."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            ctx,
            "Import patients from CSV",
            "Every row is checked before anything is written. While any row has a problem, nothing is "
            "imported unless you choose to import only the good rows.",
            parent,
        )
        self.report: ImportReport | None = None
        self.template_button.setText("Write CSV template…")
        self.import_all_button = QPushButton("Import all")
        self.import_good_button = QPushButton("Import only the good rows…")
        self.add_actions(self.import_all_button, self.import_good_button)
        self.resize(820, 480)

        self.choose_button.clicked.connect(self.choose_file)
        self.template_button.clicked.connect(self.write_template)
        self.import_all_button.clicked.connect(self.import_all)
        self.import_good_button.clicked.connect(self.ask_import_good_rows)
        self._show_report(None)

    def action_buttons(self) -> list[QPushButton]:
        return [self.import_all_button, self.import_good_button]

    # --- choosing and checking -------------------------------------------------------------------------

    def choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Choose a CSV file of patients", "", "CSV files (*.csv *.txt);;All files (*)"
        )
        if name:
            self.check_file(Path(name))

    def write_template(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Write CSV template", "patients-template.csv", "CSV files (*.csv)"
        )
        if not name:
            return
        try:
            imports.write_template(Path(name))
        except OSError as exc:
            self._error(f"Cannot write {name}: {exc.strerror or exc}.")
            return
        self.summary.setText(f"Template written to {name}: fill it in, then choose it here.")

    def check_file(self, path: Path) -> None:
        """Dry run: validate every row and write nothing."""
        self.path = path
        self.report = None  # the last file's report offers nothing for this one
        self.file_label.setText(str(path))
        self._start(f"Checking {path.name}…", dry_run=True, only_good_rows=False)

    def import_all(self) -> None:
        if self.report is not None and self.report.ok:
            self._start("Importing…", dry_run=False, only_good_rows=False)

    def ask_import_good_rows(self) -> QMessageBox | None:
        report = self.report
        if report is None or report.good_rows == 0:
            return None
        bad = report.rows_read - report.good_rows
        return confirm(
            self,
            "Import only the good rows",
            f"Import the {_rows(report.good_rows, 'good row')} and leave out the "
            f"{_rows(bad, 'row')} with problems?\n\n"
            "The rows left out are not imported; correct them in the file and import them later.",
            f"Import {_rows(report.good_rows, 'row')}",
            lambda: self._start("Importing the good rows…", dry_run=False, only_good_rows=True),
        )

    # --- running the service off the GUI thread --------------------------------------------------------

    def _start(self, message: str, *, dry_run: bool, only_good_rows: bool) -> None:
        path = self.path
        if path is None or self.busy:
            return
        self._set_busy(True)
        self._error("")
        self.summary.setText(message)

        def check(session: Session, actor: Actor, progress: Progress) -> imports.ValidatedFile:
            return imports.validate_file(session, actor, path, progress=progress.report)

        def write(
            session: Session, actor: Actor, progress: Progress, checked: imports.ValidatedFile
        ) -> ImportReport:
            return imports.write_validated(
                session, actor, checked, only_good_rows=only_good_rows, progress=progress.report
            )

        def checked(result: imports.ValidatedFile) -> None:
            """Checked in a reader's transaction; the writer's lock is taken for the writing alone."""
            if dry_run or (result.problems and not only_good_rows):
                self._finished(result.report(imported=0, dry_run=dry_run))
                return
            run_op_with_progress(
                self,
                self.ctx,
                lambda session, actor, progress: write(session, actor, progress, result),
                self._finished,
                self._failed,
                label=message,
                write=True,
                changes=(PATIENTS,),
            )

        run_op_with_progress(self, self.ctx, check, checked, self._failed, label=message)

    def _finished(self, report: ImportReport) -> None:
        self._set_busy(False)
        if report.dry_run:
            self._show_report(report)
            return
        if report.imported:
            left_out = report.rows_read - report.imported
            text = (
                f"Imported {report.imported:,} patients from {self.path.name if self.path else 'the file'}."
            )
            if left_out:
                text += f" {left_out:,} rows with problems were left out."
            self.report = None
            self.summary.setText(text)
            self.import_all_button.setEnabled(False)
            self.import_good_button.setEnabled(False)
            self.cancel_button.setText("Close")
        else:
            # The file changed between the check and the import and now has problems.
            self._show_report(report)
            self._error("Nothing was imported: the file has problems now. Check it again.")

    def _failed(self, failure: OpFailure) -> None:
        self._set_busy(False)
        if self.report is None:
            self._show_report(None)  # no file checked: nothing, and no good row, to offer
        if not self.show_unreadable_file(failure):
            self._error(failure.message)
            self.summary.setText("Nothing was imported.")

    def _show_report(self, report: ImportReport | None) -> None:
        self.report = report
        self.show_problems(report.problems if report else [])
        if report is None:
            self.summary.setText("Choose a CSV file. Write the template to see the columns expected.")
            self.import_all_button.setText("Import all")
            self.import_good_button.setText("Import only the good rows…")
            self.import_all_button.setEnabled(False)
            self.import_good_button.setEnabled(False)
            self.import_good_button.hide()
            return
        bad = report.rows_read - report.good_rows
        if report.rows_read == 0:
            self.summary.setText("The file has a header but no patient rows.")
        else:
            self.summary.setText(
                f"{report.rows_read:,} rows read, {report.good_rows:,} good, {bad:,} with problems."
                + ("" if report.problems else " Nothing has been written yet.")
            )
        self.import_all_button.setText(f"Import all {report.rows_read:,}")
        self.import_all_button.setEnabled(report.ok and report.rows_read > 0)
        self.import_good_button.setText(f"Import only the {_rows(report.good_rows, 'good row')}…")
        some_good = bool(report.problems) and report.good_rows > 0  # never an offer of "the 0 good rows"
        self.import_good_button.setEnabled(some_good)
        self.import_good_button.setVisible(some_good)
