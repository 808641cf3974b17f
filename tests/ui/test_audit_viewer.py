"""Tools > Audit trail…: filters by user, patient, record and day; pages as it scrolls, newest first; the
selected event's fields before and after; Export to Excel on the worker, audited; a nurse is kept out by
the menu and by the service."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from b12desk.data.db import Database
from b12desk.data.models import AuditEvent
from b12desk.services import patients
from b12desk.ui import audit_viewer
from b12desk.ui.audit_viewer import AuditViewerDialog
from b12desk.ui.main_window import MainWindow
from tests.conftest import Staffing
from tests.ui.conftest import AddPatient, MakeContext

FORMULA = "=cmd|' /C calc'!A0"


def _events(db: Database) -> int:
    with db.sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _edit(db: Database, staff: Staffing, patient_id: int, *, reason: str, **changes: object) -> None:
    """A manager edits a patient's record through the service, as at another workstation."""
    with db.sessions.begin() as s:
        detail = patients.get_patient(s, staff.manager, patient_id)
        patients.update_patient(
            s,
            staff.manager,
            patient_id,
            replace(detail.data, **changes),  # type: ignore[arg-type]
            expected_version=detail.version_id,
            reason=reason,
        )


def _dialog(qtbot: QtBot, make_ctx: MakeContext, who: object, host: QWidget) -> AuditViewerDialog:
    dialog = AuditViewerDialog(make_ctx(who), parent=host)  # type: ignore[arg-type]
    dialog.show()
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    return dialog


def _ids(dialog: AuditViewerDialog) -> list[int]:
    return [dialog.model.row(i).id for i in range(dialog.model.rowCount())]


def test_a_manager_opens_it_from_the_tools_menu_and_filters_by_user(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, add_patient: AddPatient
) -> None:
    grace = add_patient("H1", "Okafor", "Grace")
    _edit(db, staff, grace, reason="Married name", family_name="Mensah")
    window = MainWindow(make_ctx(staff.manager))
    qtbot.addWidget(window)
    assert window.audit_action.isEnabled()
    window.audit_action.trigger()
    dialog = window.findChild(AuditViewerDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    with db.sessions() as s:
        every = s.scalars(select(AuditEvent.id).order_by(AuditEvent.id.desc())).all()
        managers = s.scalars(
            select(AuditEvent.id)
            .where(AuditEvent.staff_id == staff.manager.id)
            .order_by(AuditEvent.id.desc())
        ).all()
    assert _ids(dialog) == every  # newest first, everything while there is no filter
    dialog.user.setCurrentIndex(dialog.user.findData(staff.manager.id))
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    assert _ids(dialog) == managers and len(managers) == 1
    assert dialog.model.row(0).action == "update" and "1 event" in dialog.status.text()
    dialog.reject()


def test_the_selected_events_fields_are_shown_before_and_after(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, add_patient: AddPatient, host: QWidget
) -> None:
    grace = add_patient("H1", "Okafor", "Grace")
    _edit(db, staff, grace, reason="Married name", family_name="Mensah", allergies="Latex")
    dialog = _dialog(qtbot, make_ctx, staff.manager, host)
    assert dialog.table.selectionModel().currentIndex().row() == 0  # the newest is selected at once
    changes = dialog.changes
    rows = [[changes.data(changes.index(r, c)) for c in range(3)] for r in range(changes.rowCount())]
    assert rows == [["allergies", "", "Latex"], ["family_name", "Okafor", "Mensah"]]
    assert [changes.headerData(c, Qt.Orientation.Horizontal) for c in range(3)] == [
        "Field",
        "Before",
        "After",
    ]
    assert "Married name" in dialog.change_title.text() and "Manager (manager)" in dialog.change_title.text()
    dialog.table.selectRow(1)  # the patient's creation: nothing before, each field after
    created = {
        changes.data(changes.index(r, 0)): changes.data(changes.index(r, 2))
        for r in range(changes.rowCount())
    }
    assert created["family_name"] == "Okafor" and changes.data(changes.index(0, 1)) == ""


def test_the_patient_the_record_and_the_days_narrow_the_list(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, add_patient: AddPatient, host: QWidget
) -> None:
    grace = add_patient("H1", "Okafor", "Grace")
    ben = add_patient("H2", "Adams", "Ben")
    _edit(db, staff, ben, reason="Phone added", phone="020 7946 0000")
    dialog = _dialog(qtbot, make_ctx, staff.manager, host)
    dialog.patient_search.setText("okafor")
    dialog.find_patient()
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    assert dialog.patient.currentData() == grace
    assert [(r.entity, r.entity_id, r.action) for r in dialog.model.rows()] == [
        ("patient", str(grace), "create")
    ]

    dialog.patient_search.setText("nobody-like-this")
    dialog.find_patient()
    assert "No patient's MRN or name" in dialog.errors.message("patient")

    dialog.clear_filters()
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    dialog.kind.setCurrentIndex(dialog.kind.findData("patient"))
    dialog.record_id.setText(str(ben))
    dialog.apply_filters()
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    assert [r.action for r in dialog.model.rows()] == ["update", "create"]

    today = make_ctx(staff.manager).clock.today()
    dialog.since.setText(today.isoformat())
    dialog.until.setText(today.isoformat())
    dialog.apply_filters()
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    assert [r.action for r in dialog.model.rows()] == ["update", "create"]
    dialog.since.setText((today.replace(year=today.year + 1)).isoformat())
    dialog.until.setText("")
    dialog.apply_filters()
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    assert dialog.model.rowCount() == 0 and "No events match" in dialog.status.text()


def test_bad_filters_are_said_beside_their_fields_and_nothing_is_read(
    qtbot: QtBot, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = _dialog(qtbot, make_ctx, staff.manager, host)
    shown = _ids(dialog)
    dialog.since.setText("2026-02-30")
    dialog.apply_filters()
    assert "February 2026 has 28 days" in dialog.errors.message("since")
    dialog.since.setText("2026-12-02")
    dialog.until.setText("2026-12-01")
    dialog.apply_filters()
    assert "swap them" in dialog.errors.message("until")
    dialog.until.clear()
    dialog.record_id.setText("12")
    dialog.apply_filters()
    assert "kind of record" in dialog.errors.message("entity")
    assert _ids(dialog) == shown and not dialog.model.is_loading()


def test_the_list_pages_as_it_scrolls_newest_first(
    qtbot: QtBot,
    staff: Staffing,
    make_ctx: MakeContext,
    add_patient: AddPatient,
    host: QWidget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_viewer, "PAGE", 4)
    for k in range(9):
        add_patient(f"PG{k}", "Page", "Ann" + "e" * k)
    dialog = _dialog(qtbot, make_ctx, staff.manager, host)
    model = dialog.model
    assert model.rowCount() == 4 and model.canFetchMore() and "scroll down" in dialog.status.text()
    while model.canFetchMore():
        model.fetchMore()
        qtbot.waitUntil(lambda: not model.is_loading())
    ids = _ids(dialog)
    assert len(ids) >= 9 + 5 and ids == sorted(set(ids), reverse=True)  # no gaps, no repeats
    assert "newest first" in dialog.status.text()


def test_the_models_pass_qts_checks(
    qtbot: QtBot,
    staff: Staffing,
    make_ctx: MakeContext,
    add_patient: AddPatient,
    host: QWidget,
    qtmodeltester: ModelTester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_viewer, "PAGE", 3)
    for k in range(4):
        add_patient(f"QT{k}", "Tester", "Ann" + "e" * k)
    dialog = _dialog(qtbot, make_ctx, staff.manager, host)
    qtmodeltester.check(dialog.model, force_py=True)
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    assert dialog.model.rowCount() >= 3
    qtmodeltester.check(dialog.changes, force_py=True)


def test_export_writes_the_filtered_events_with_formula_like_text_kept_as_text_and_is_audited(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    make_ctx: MakeContext,
    add_patient: AddPatient,
    host: QWidget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grace = add_patient("H1", "Okafor", "Grace")
    add_patient("H2", "Adams", "Ben")
    _edit(db, staff, grace, reason=FORMULA, notes="+44 20 7946 0000")
    dialog = _dialog(qtbot, make_ctx, staff.manager, host)
    dialog.kind.setCurrentIndex(dialog.kind.findData("patient"))
    dialog.record_id.setText(str(grace))
    dialog.apply_filters()
    qtbot.waitUntil(lambda: not dialog.model.is_loading())
    shown = _ids(dialog)
    before = _events(db)
    target = tmp_path / "trail"  # the dialog adds .xlsx
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Excel workbook (*.xlsx)")
    )
    exported: list[object] = []
    dialog.exported.connect(exported.append)
    dialog.export_button.click()
    assert len(exported) == 1
    path = tmp_path / "trail.xlsx"
    wb = load_workbook(path)
    events = list(wb["Events"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in events] == shown == [shown[0], shown[1]]
    reason = next(c for c in wb["Events"]["H"] if c.value == FORMULA)
    assert reason.data_type == "s"
    notes = next(c for c in wb["Changes"]["I"] if c.value == "+44 20 7946 0000")
    assert notes.data_type == "s"
    assert _events(db) == before + 1
    with db.sessions() as s:
        note = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (note.action, note.entity, note.staff_id) == ("export", "audit", staff.manager.id)
    assert '"events":2' in note.new_values and "trail.xlsx" in note.new_values
    assert "Exported 2 events" in dialog.status.text()


def test_a_pharmacist_reads_the_trail_but_may_not_export_it(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget, tmp_path: Path
) -> None:
    dialog = _dialog(qtbot, make_ctx, staff.pharmacist, host)
    assert dialog.model.rowCount() > 0 and dialog.user.isEnabled()
    assert not dialog.export_button.isEnabled() and "export reports" in dialog.export_button.toolTip()
    before = _events(db)
    out = tmp_path / "out"
    out.mkdir()
    dialog.export_to(out / "p.xlsx")  # were the button reached some other way: the service says no
    assert "may not export reports" in dialog.message.text()
    assert list(out.iterdir()) == [] and _events(db) == before


def test_a_nurse_cannot_open_it_and_the_service_refuses_her(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    window = MainWindow(make_ctx(staff.nurse))
    qtbot.addWidget(window)
    assert not window.audit_action.isEnabled()
    assert "managers, pharmacists and administrators" in window.audit_action.statusTip()
    before = _events(db)
    dialog = _dialog(qtbot, make_ctx, staff.nurse, host)  # opened some other way
    assert dialog.model.rowCount() == 0
    assert "nurse may not read audit" in dialog.message.text()
    assert not dialog.user.isEnabled() and not dialog.export_button.isEnabled()
    assert dialog.user.count() == 1  # not even the staff list was read
    assert _events(db) == before
