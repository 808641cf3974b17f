"""File > Export workbook…: a manager writes a workbook chosen by kind and period, on the worker, and the
export is audited; a bad date or file name is said beside its field; a nurse is told who may export."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from b12desk.data.db import Database
from b12desk.data.models import AuditEvent
from b12desk.ui.export_dialog import ExportDialog
from b12desk.ui.main_window import MainWindow
from tests.conftest import Staffing
from tests.ui.conftest import AddPatient, MakeContext


def test_a_manager_exports_the_due_lists_and_the_export_is_audited(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    make_ctx: MakeContext,
    add_patient: AddPatient,
    tmp_path: Path,
) -> None:
    add_patient("H1", "Okafor", "Grace")
    window = MainWindow(make_ctx(staff.manager))
    qtbot.addWidget(window)
    dialog = window.open_export()
    assert isinstance(dialog, ExportDialog) and dialog.export_button.isEnabled()
    dialog.kind.setCurrentIndex(dialog.kind.findData("due"))
    assert not dialog.start.isEnabled()  # the due lists are of a day, not a period
    target = tmp_path / "due.xlsx"
    dialog.path.setText(str(target))
    exported: list[object] = []
    dialog.exported.connect(exported.append)  # the dialog closes (and goes) once it has exported
    dialog.export()
    assert len(exported) == 1
    workbook = load_workbook(target, read_only=True)
    assert workbook.sheetnames[0] == "Parameters" and "Overdue" in workbook.sheetnames
    with db.sessions() as s:
        audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
        assert len(audited) == 1 and audited[0].staff_id == staff.manager.id


def test_bad_dates_and_names_are_said_beside_their_fields_and_nothing_is_written(
    qtbot: QtBot, staff: Staffing, make_ctx: MakeContext, host: QWidget, tmp_path: Path
) -> None:
    dialog = ExportDialog(make_ctx(staff.manager), parent=host)
    dialog.show()
    dialog.start.setText("2026-02-30")
    out = tmp_path / "out"
    out.mkdir()
    dialog.path.setText(str(out / "report.csv"))
    dialog.export()
    assert "February 2026 has 28 days" in dialog.errors.message("start")
    assert ".xlsx" in dialog.errors.message("path")
    assert dialog.isVisible() and not list(out.iterdir())


def test_a_nurse_is_told_who_may_export(
    qtbot: QtBot, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = ExportDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    assert not dialog.export_button.isEnabled()
    assert "clinic manager" in dialog.summary.text()
