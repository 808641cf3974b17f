"""The CSV import dialog: a dry run reports bad lines and writes nothing; good rows only on request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.services import imports, patients
from b12desk.services.common import Actor
from b12desk.ui.context import PATIENTS
from b12desk.ui.history_import_dialog import HistoryImportDialog
from b12desk.ui.import_dialog import ImportDialog
from tests.conftest import Staffing
from tests.ui.conftest import MakeContext

OpenImport = Callable[[Actor], ImportDialog]

HEADER = "mrn,family_name,given_name,date_of_birth,sex,cause\n"


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "patients.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


@pytest.fixture
def open_import(make_ctx: MakeContext, host: QWidget) -> Callable[[Actor], ImportDialog]:
    def open_as(actor: Actor) -> ImportDialog:
        dialog = ImportDialog(make_ctx(actor), parent=host)
        dialog.show()
        return dialog

    return open_as


def _check(qtbot: QtBot, dialog: ImportDialog, path: Path) -> None:
    dialog.check_file(path)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)


def _count(db: Database, staff: Staffing) -> int:
    with db.sessions.begin() as s:
        return len(patients.roster(s, staff.admin))


def test_bad_lines_are_reported_and_nothing_imported_until_good_rows_are_asked_for(
    qtbot: QtBot, db: Database, open_import: OpenImport, staff: Staffing, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "H1,Okafor,Grace,1961-04-09,female,pernicious_anaemia\n"
        "H2,Brown,,1970-01-01,male,dietary\n"
        "H3,Nguyen,Lan,1975-13-01,female,dietary\n"
        "H4,Smith,Ann,1980-02-02,female,\n",
    )
    dialog = open_import(staff.manager)
    _check(qtbot, dialog, path)
    assert dialog.summary.text() == "4 rows read, 2 good, 2 with problems."
    problems = [dialog.problems.problem(r) for r in range(dialog.problems.rowCount())]
    assert [(p.line, p.mrn) for p in problems] == [(3, "H2"), (4, "H3")]
    assert dialog.problems.data(dialog.problems.index(0, 2)) == "Enter the given name."
    assert dialog.table.isVisible()
    assert not dialog.import_all_button.isEnabled()
    assert dialog.import_good_button.isEnabled()
    assert dialog.import_good_button.text() == "Import only the 2 good rows…"
    assert _count(db, staff) == 0  # the check wrote nothing

    qtbot.mouseClick(dialog.import_good_button, Qt.MouseButton.LeftButton)
    box = dialog.findChild(QMessageBox)
    assert box is not None and "leave out the 2 rows with problems" in box.text()
    yes = next(b for b in box.findChildren(QPushButton) if b.text() == "Import 2 rows")
    with qtbot.waitSignal(dialog.ctx.bus.changed, timeout=10_000) as changed:
        qtbot.mouseClick(yes, Qt.MouseButton.LeftButton)
    assert changed.args == [PATIENTS]
    assert not dialog.busy
    assert (
        dialog.summary.text() == "Imported 2 patients from patients.csv. 2 rows with problems were left out."
    )
    assert dialog.cancel_button.text() == "Close"
    assert _count(db, staff) == 2


def test_cancelling_the_confirmation_imports_nothing(
    qtbot: QtBot, db: Database, open_import: OpenImport, staff: Staffing, tmp_path: Path
) -> None:
    path = _csv(tmp_path, "H1,Okafor,Grace,1961-04-09,female,\nH2,Brown,,1970-01-01,male,\n")
    dialog = open_import(staff.manager)
    _check(qtbot, dialog, path)
    qtbot.mouseClick(dialog.import_good_button, Qt.MouseButton.LeftButton)
    box = dialog.findChild(QMessageBox)
    assert box is not None
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert not dialog.busy
    assert _count(db, staff) == 0


def test_a_clean_file_imports_all(
    qtbot: QtBot, db: Database, open_import: OpenImport, staff: Staffing, tmp_path: Path
) -> None:
    path = tmp_path / "template.csv"
    imports.write_template(path)  # header and one example row
    dialog = open_import(staff.manager)
    _check(qtbot, dialog, path)
    assert dialog.summary.text().startswith("1 rows read, 1 good, 0 with problems.")
    assert not dialog.table.isVisible()
    assert dialog.import_all_button.text() == "Import all 1" and dialog.import_all_button.isEnabled()
    assert not dialog.import_good_button.isVisible()
    qtbot.mouseClick(dialog.import_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy and dialog.cancel_button.text() == "Close", timeout=10_000)
    assert _count(db, staff) == 1


def test_a_role_that_may_not_import_sees_why(
    qtbot: QtBot, db: Database, open_import: OpenImport, staff: Staffing, tmp_path: Path
) -> None:
    path = _csv(tmp_path, "H1,Okafor,Grace,1961-04-09,female,\n")
    dialog = open_import(staff.nurse)
    _check(qtbot, dialog, path)
    assert dialog.error.isVisible()
    assert "A nurse may not import patients" in dialog.error.text()
    assert not dialog.import_all_button.isEnabled()
    assert _count(db, staff) == 0


def test_a_file_with_wrong_columns(
    qtbot: QtBot, open_import: OpenImport, staff: Staffing, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("name,born\nGrace,1961\n", encoding="utf-8")
    dialog = open_import(staff.manager)
    _check(qtbot, dialog, path)
    assert dialog.summary.text() == "wrong.csv cannot be imported:"
    assert dialog.error.text().startswith("Missing column(s): mrn, family_name, given_name, date_of_birth.")
    assert "Unknown column(s): name, born" in dialog.error.text()
    assert not dialog.table.isVisible()
    assert not dialog.import_all_button.isEnabled()
    assert not dialog.import_good_button.isVisible()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "There is no file {path}: check the file's name and folder."),
        (b"mrn,family_name\nK1,M\xfcller\n", "patients.csv is not UTF-8 text: save it from the spreadsheet"),
        (b"", "patients.csv is empty: its first line must be the header row naming the columns"),
    ],
)
def test_a_file_that_cannot_be_read_is_said_of_the_file_and_offers_nothing(
    qtbot: QtBot,
    open_import: OpenImport,
    staff: Staffing,
    tmp_path: Path,
    content: bytes | None,
    message: str,
) -> None:
    good = _csv(tmp_path, "H1,Okafor,Grace,1961-04-09,female,\nH2,Brown,,1970-01-01,male,\n")
    dialog = open_import(staff.manager)
    _check(qtbot, dialog, good)  # a file with a good row checked first: none of it may linger
    assert dialog.import_good_button.isVisible()
    assert dialog.import_good_button.text() == "Import only the 1 good row…"
    path = tmp_path / "patients.csv"
    path.unlink()
    if content is not None:
        path.write_bytes(content)
    _check(qtbot, dialog, path)
    assert dialog.summary.text() == "patients.csv cannot be imported:"
    assert dialog.error.isVisible() and dialog.error.text().startswith(message.format(path=path))
    assert not dialog.table.isVisible() and dialog.problems.rowCount() == 0  # no line, no MRN
    assert dialog.report is None
    assert not dialog.import_all_button.isEnabled() and dialog.import_all_button.text() == "Import all"
    assert not dialog.import_good_button.isVisible() and not dialog.import_good_button.isEnabled()
    dialog.ask_import_good_rows()
    assert dialog.findChild(QMessageBox) is None


def test_with_no_good_row_the_good_rows_are_not_offered(
    qtbot: QtBot, open_import: OpenImport, staff: Staffing, tmp_path: Path
) -> None:
    path = _csv(tmp_path, "H1,Okafor,Grace,1961-02-29,female,\nH2,Brown\n")
    dialog = open_import(staff.manager)
    assert not dialog.import_good_button.isVisible()  # nothing checked yet
    _check(qtbot, dialog, path)
    assert dialog.summary.text() == "2 rows read, 0 good, 2 with problems."
    problems = [dialog.problems.problem(r) for r in range(dialog.problems.rowCount())]
    assert [(p.line, p.mrn, p.message[:60]) for p in problems] == [
        (2, "H1", "Date of birth: 1961-02-29 is not a date in the calendar (Feb"),
        (3, "H2", "The row has 2 columns; the header has 6: the row stops after"),
    ]
    assert not dialog.import_all_button.isEnabled()
    assert not dialog.import_good_button.isVisible() and not dialog.import_good_button.isEnabled()


def test_the_history_import_says_an_unreadable_file_of_the_file(
    qtbot: QtBot, make_ctx: MakeContext, host: QWidget, staff: Staffing, tmp_path: Path
) -> None:
    dialog = HistoryImportDialog(make_ctx(staff.pharmacist), parent=host)
    dialog.show()
    path = tmp_path / "history.xlsx"
    path.write_text("mrn,given_at\n", encoding="utf-8")
    dialog.check_file(path)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    assert dialog.summary.text() == "history.xlsx cannot be imported:"
    assert dialog.error.text().startswith("history.xlsx is not an Excel workbook (.xlsx)")
    assert not dialog.table.isVisible() and not dialog.import_button.isEnabled()
    short = tmp_path / "history.csv"
    short.write_text("mrn,given_at,dose\nH4,2026-08-03\n", encoding="utf-8")
    dialog.check_file(short)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    assert not dialog.error.isVisible()
    assert [(p.line, p.message[:40]) for p in dialog.problems.rows()] == [
        (2, "The row has 2 columns; the header has 3:")
    ]
    assert dialog.summary.text().startswith("1 rows read, 0 good, 1 with problems")
