"""Import dose history (CSV or .xlsx): a check that writes nothing, then the import, all or nothing.

The check is a preview; the import checks every row again in the writing transaction, against the
records as they are then, and writes nothing while any row is bad.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QFileDialog,
    QPushButton,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.services import history_import
from b12desk.services.common import Actor
from b12desk.services.history_import import HistoryReport
from b12desk.services.imports import RowProblem
from b12desk.ui.context import DOSES, PLANS, AppContext
from b12desk.ui.import_dialog import FileImportDialog
from b12desk.ui.ops import OpFailure, Progress, run_op_with_progress

FILE_TYPES = (
    "Spreadsheets (*.csv *.xlsx *.txt);;CSV files (*.csv *.txt);;Excel workbooks (*.xlsx);;All files (*)"
)


class HistoryImportDialog(FileImportDialog):
    """Choose a file: it is checked, nothing written. Import: checked again and written whole."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            ctx,
            "Import dose history",
            "Doses given before the clinic used b12desk, one row each, recorded as given elsewhere: no "
            "stock is drawn, and each patient's schedule carries on from them. Each patient needs a "
            "verified plan; a plan that starts after the history must be marked as continuing treatment "
            "begun elsewhere. Every row is checked; while any row has a problem nothing is imported.",
            parent,
        )
        self.report: HistoryReport | None = None
        self.summary.setText(
            "Choose a CSV file or an Excel workbook (.xlsx). The template shows the columns."
        )
        self.table.hide()
        self.import_button = QPushButton("Import")
        self.import_button.setEnabled(False)
        self.add_actions(self.import_button)
        self.resize(860, 500)
        self.choose_button.clicked.connect(self.choose_file)
        self.template_button.clicked.connect(self.write_template)
        self.import_button.clicked.connect(self.import_file)

    def action_buttons(self) -> list[QPushButton]:
        return [self.import_button]

    def choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Choose a file of dose history", "", FILE_TYPES)
        if name:
            self.check_file(Path(name))

    def write_template(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self,
            "Write the dose-history template",
            "dose-history-template.xlsx",
            "Excel workbook (*.xlsx);;CSV file (*.csv)",
        )
        if not name:
            return
        try:
            history_import.write_template(Path(name))
        except OSError as exc:
            self._error(f"Cannot write {name}: {exc.strerror or exc}.")
            return
        self.summary.setText(f"Template written to {name}: fill it in, then choose it here.")

    def check_file(self, path: Path) -> None:
        """A dry run: every row checked, nothing written."""
        self.path = path
        self.report = None  # the last file's report offers nothing for this one
        self.file_label.setText(str(path))
        self._run(f"Checking {path.name}…", dry_run=True)

    def import_file(self) -> None:
        if self.report is not None and self.report.ok and self.report.good_rows:
            self._run("Importing…", dry_run=False)

    def _run(self, message: str, *, dry_run: bool) -> None:
        path = self.path
        if path is None or self.busy:
            return
        self._set_busy(True)
        self._error("")
        self.summary.setText(message)

        def work(session: Session, actor: Actor, progress: Progress) -> HistoryReport:
            return history_import.import_history(
                session, actor, path, dry_run=dry_run, progress=progress.report
            )

        run_op_with_progress(
            self,
            self.ctx,
            work,
            self._finished,
            self._failed,
            label=message,
            write=not dry_run,
            changes=() if dry_run else (DOSES, PLANS),
        )

    def _finished(self, report: HistoryReport) -> None:
        self._set_busy(False)
        self._show(report)
        if report.dry_run or report.problems:
            if not report.dry_run:
                self._error("Nothing was imported: the records changed since the check. The lines are below.")
            return
        name = self.path.name if self.path else "the file"
        self.summary.setText(
            f"Imported {report.imported:,} dose records from {name}, as given elsewhere (no stock drawn); "
            f"{report.plans_updated:,} schedules brought up to date."
        )
        self.import_button.setEnabled(False)
        self.cancel_button.setText("Close")

    def _failed(self, failure: OpFailure) -> None:
        self._set_busy(False)
        if not self.show_unreadable_file(failure):
            self._error(failure.message)
            self.summary.setText("Nothing was imported.")
            return
        self.report = None
        self.import_button.setText("Import")

    def _show(self, report: HistoryReport) -> None:
        self.report = report
        warnings = [
            RowProblem(w.line, w.mrn, f"Warning, recorded with the dose: {w.message}")
            for w in report.warnings
        ]
        shown = sorted([*report.problems, *warnings], key=lambda p: p.line)
        self.show_problems(shown)
        bad = len({p.line for p in report.problems})
        if report.rows_read == 0:
            self.summary.setText("The file has a header but no rows.")
        else:
            self.summary.setText(
                f"{report.rows_read:,} rows read, {report.good_rows:,} good, {bad:,} with problems"
                + (
                    f", {len(report.warnings):,} warning(s) to record with their doses"
                    if report.warnings
                    else ""
                )
                + (". Nothing has been written yet." if report.dry_run else ".")
            )
        self.import_button.setText(f"Import {report.good_rows:,} doses")
        self.import_button.setEnabled(report.dry_run and report.ok and report.good_rows > 0)
