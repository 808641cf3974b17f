"""The plan screens at the front desk: a patient's flags and allergies in every header, the preview's
span said exactly, and Verify off for the plan's own author."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from html import unescape

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.domain.enums import Route
from b12desk.services import administrations, plans
from b12desk.ui.plans import PatientPlansDialog, PlanEditorDialog
from b12desk.ui.style import ERROR_RED
from b12desk.ui.verification import VerificationQueueDialog
from tests.clinic_time import clinic_today
from tests.conftest import Staffing
from tests.ui.conftest import AddPatient, MakeContext

FLAGGED = {"flag_lebers_disease": True, "flag_cobalt_allergy": True, "allergies": "Penicillin (rash)"}
RECORDED = "⚠ Recorded: cobalt allergy (counsel), Leber's disease, allergies: Penicillin (rash)"


@pytest.fixture
def templates(db: Database, staff: Staffing) -> dict[str, plans.TemplateRow]:
    with db.sessions.begin() as s:
        plans.ensure_shipped_templates(s)
        return {t.code: t for t in plans.list_templates(s, staff.admin)}


def _draft(db: Database, staff: Staffing, pid: int, t: plans.TemplateRow) -> plans.PlanRow:
    with db.sessions.begin() as s:
        return plans.create_plan(
            s,
            staff.pharmacist,
            pid,
            plans.PlanInput(t.id, t.formulation, Decimal(1000), Route.IM, clinic_today(), "Dr A. Shah"),
        )


def _red_and_bold(html: str) -> bool:
    at = html.index("⚠ Recorded:")
    before = html[max(0, at - 120) : at].replace(" ", "")
    return f"color:{ERROR_RED}" in before and ("<b>" in before or "font-weight:700" in before)


def test_flags_and_allergies_head_the_editor_the_plans_and_the_queue_in_the_give_dose_words(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: dict[str, plans.TemplateRow],
) -> None:
    pid = add_patient("H7", "Okafor", "Grace", **FLAGGED)
    _draft(db, staff, pid, templates["uk_hoc_lebers"])
    with db.sessions() as s:  # the give-dose screen's own words for the same patient
        dose_words = administrations.dose_context(s, staff.nurse, pid).patient.flags
    assert dose_words and all(word in RECORDED for word in dose_words)

    editor = PlanEditorDialog(make_ctx(staff.pharmacist), pid, parent=host)
    editor.show()
    assert RECORDED in unescape(editor.header.text()) and _red_and_bold(editor.header.text())

    dialog = PatientPlansDialog(make_ctx(staff.pharmacist2), pid, parent=host)
    dialog.show()
    assert RECORDED in unescape(dialog.header.text()) and _red_and_bold(dialog.header.text())

    queue = VerificationQueueDialog(make_ctx(staff.pharmacist2), parent=host)
    queue.show()
    assert RECORDED in queue.details.toPlainText()
    assert _red_and_bold(queue.details.toHtml())
    m = queue.model
    assert m.data(m.index(0, 0)) == "⚠ Okafor, Grace (H7)"
    brush = m.data(m.index(0, 0), Qt.ItemDataRole.ForegroundRole)
    assert isinstance(brush, QBrush) and brush.color().name() == ERROR_RED
    for widget, name in ((editor, "editor"), (dialog, "plans"), (queue, "queue")):
        widget.grab().save(f"/tmp/b_{name}.png")


def test_a_patient_with_nothing_recorded_has_no_warning(
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: dict[str, plans.TemplateRow],
) -> None:
    pid = add_patient("H8", "Reid", "Ann", allergies="None known")
    _draft(db, staff, pid, templates["uk_hoc_no_neuro"])
    dialog = PatientPlansDialog(make_ctx(staff.pharmacist2), pid, parent=host)
    dialog.show()
    assert "Recorded" not in dialog.header.text()
    queue = VerificationQueueDialog(make_ctx(staff.pharmacist2), parent=host)
    queue.show()
    assert "Recorded" not in queue.details.toPlainText() and queue.model.data(queue.model.index(0, 0)) == (
        "Reid, Ann (H8)"
    )


def test_the_editors_preview_lists_exactly_the_12_months_it_names(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: dict[str, plans.TemplateRow],
) -> None:
    pid = add_patient("H9", "Reid", "Ann")
    editor = PlanEditorDialog(make_ctx(staff.pharmacist), pid, parent=host)
    editor.show()
    assert editor.template.currentData() == templates["uk_hoc_no_neuro"].id
    start = date(2026, 1, 5)
    editor.start_date.clear()
    qtbot.keyClicks(editor.start_date, start.isoformat())
    end = start + timedelta(days=365)
    assert editor.preview_summary.text().startswith(f"First 12 months, {start} to {end}: ")
    dates = [e.due for e in editor.preview_model.records()]
    assert dates and max(dates) <= end  # maintenance's first yearly review (April 2027) is not in them
    labels = [e.what for e in editor.preview_model.records()]
    assert "Symptom review at 3 months" in labels and not any(w.startswith("Yearly") for w in labels)
    editor.grab().save("/tmp/b_editor_preview.png")


def test_the_plans_dialogs_schedule_runs_to_the_date_it_names(
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: dict[str, plans.TemplateRow],
) -> None:
    pid = add_patient("H10", "Reid", "Ann")
    _draft(db, staff, pid, templates["uk_hoc_no_neuro"])
    dialog = PatientPlansDialog(make_ctx(staff.pharmacist2), pid, parent=host)
    dialog.show()
    end = clinic_today() + timedelta(days=365)
    assert f"Next 12 months, to {end}" in dialog.schedule_note.text()
    dates = [e.due for e in dialog.schedule_model.records()]
    assert dates and max(dates) <= end
