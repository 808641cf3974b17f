"""The Calendar tab: the month and week of due doses, lab checks and reviews by status, a day's list, the
worklists, and completing a task (a lab result entered from it, a review's findings, a task missed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from b12desk.data.db import Database
from b12desk.data.models import AuditEvent, LabResult, ScheduledEvent
from b12desk.domain.enums import EventKind, EventStatus, PlanStatus
from b12desk.services import monitoring, plans
from b12desk.services.monitoring import DayStatus, Worklist
from b12desk.ui.calendar import (
    COUNTS_ROLE,
    CalendarTab,
    Target,
    TaskResultDialog,
    counts_text,
    month_grid,
)
from b12desk.ui.main_window import MainWindow
from b12desk.ui.widgets import ReasonDialog
from tests.conftest import PASSWORD, Staffing
from tests.ui.conftest import AddPatient, MakeContext
from tests.ui.test_front_desk import TODAY, plan_from


def _events(db: Database, patient_id: int, kind: EventKind) -> list[ScheduledEvent]:
    with db.sessions() as s:
        rows = s.scalars(
            select(ScheduledEvent)
            .where(ScheduledEvent.patient_id == patient_id, ScheduledEvent.kind == kind)
            .order_by(ScheduledEvent.due_on, ScheduledEvent.id)
        ).all()
        s.expunge_all()
        return list(rows)


def _counts(tab: CalendarTab, day: date) -> dict[EventKind, dict[DayStatus, int]]:
    index = tab.month.index_of(day)
    assert index.isValid(), day
    counts: dict[EventKind, dict[DayStatus, int]] = tab.month.data(index, COUNTS_ROLE)
    return counts


def _calendar(qtbot: QtBot, make_ctx: MakeContext, staff: Staffing) -> tuple[MainWindow, CalendarTab]:
    window = MainWindow(make_ctx(staff.nurse))
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    window.load()
    window.tabs.setCurrentWidget(window.calendar_tab)
    tab = window.calendar
    assert isinstance(tab, CalendarTab)
    qtbot.waitUntil(lambda: len(tab.worklists) == len(Worklist))  # shown, and everything read once
    return window, tab


def test_month_grid_starts_on_a_monday_and_holds_whole_weeks() -> None:
    start, weeks = month_grid(2026, 12)
    assert start == date(2026, 11, 30) and start.weekday() == 0 and weeks == 5
    start, weeks = month_grid(2026, 3)  # 1 March 2026 is a Sunday: six weeks
    assert start == date(2026, 2, 23) and weeks == 6
    assert counts_text({}) == "nothing scheduled"
    assert (
        counts_text(
            {EventKind.DOSE: {DayStatus.DUE: 2, DayStatus.OVERDUE: 1}, EventKind.LAB: {DayStatus.DONE: 1}}
        )
        == "3 doses: 1 overdue, 2 due; 1 lab check: 1 done"
    )


def test_the_month_counts_each_days_doses_and_tasks_by_status_and_a_day_lists_them(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient
) -> None:
    late = add_patient("LATE1", "Worthington", "Elizabeth")
    plan_from(db, staff, late, start_days_ago=20)  # doses from 20 days ago: the first ones overdue
    fresh = add_patient("NEW1", "Adams", "Ana")
    plan_from(db, staff, fresh, start_days_ago=0)
    _window, tab = _calendar(qtbot, make_ctx, staff)
    assert tab.title.text() == TODAY.strftime("%B %Y")

    next_dose = _events(db, fresh, EventKind.DOSE)[0]
    tab.select_day(next_dose.due_on)
    counts = _counts(tab, next_dose.due_on)
    assert counts[EventKind.DOSE][DayStatus.DUE] >= 1
    baseline = [e for e in _events(db, fresh, EventKind.LAB) if e.due_on == next_dose.due_on]
    assert counts[EventKind.LAB][DayStatus.DUE] == len(baseline) > 0
    names = {(r.family_name, r.kind) for r in tab.day_entries.rows()}
    assert ("Adams", EventKind.DOSE) in names and ("Adams", EventKind.LAB) in names

    # The late patient's first dose is past its window: overdue on its day, in red words.
    overdue = _events(db, late, EventKind.DOSE)[0]
    assert overdue.window_end < TODAY
    tab.select_day(overdue.due_on)
    assert _counts(tab, overdue.due_on)[EventKind.DOSE].get(DayStatus.OVERDUE, 0) >= 1
    row = tab.day_entries.find(lambda r: r.family_name == "Worthington" and r.kind == EventKind.DOSE)
    assert row is not None and tab.day_entries.row(row).status == DayStatus.OVERDUE
    assert tab.month.data(tab.month.index_of(overdue.due_on)).startswith(overdue.due_on.isoformat())

    # Week view: one row of seven days, the same counts.
    tab.set_week_view(True)
    assert tab.month.rowCount() == 1 and tab.month.columnCount() == 7
    assert tab.title.text().startswith("Week of")
    assert _counts(tab, overdue.due_on)[EventKind.DOSE].get(DayStatus.OVERDUE, 0) >= 1
    tab.step(1)
    assert not tab.month.index_of(overdue.due_on).isValid()
    tab.go_today()
    assert tab.month.index_of(TODAY).isValid()


def test_the_worklists_name_the_overdue_patient_and_open_the_give_dose_screen(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient
) -> None:
    late = add_patient("LATE1", "Worthington", "Elizabeth")
    plan_from(db, staff, late, start_days_ago=20)
    window, tab = _calendar(qtbot, make_ctx, staff)
    overdue = tab.worklists[Worklist.OVERDUE]
    assert [i.mrn for i in overdue] == ["LATE1"]
    tab.pages.setCurrentIndex(1)
    row = list(Worklist).index(Worklist.OVERDUE)
    tab.lists.setCurrentRow(row)
    assert tab.lists.item(row).text().endswith("(1)")
    tab.work_table.selectRow(0)
    assert "WORTHINGTON, Elizabeth" in tab.work_detail.text()
    assert tab.work_actions.give_button.isEnabled()
    assert not tab.work_actions.complete_button.isEnabled()  # a dose is closed by giving it
    dialog = tab.give_dose(tab.work_target())
    assert dialog is not None and dialog.isVisible()
    dialog.reject()
    assert tab.show_in_roster(tab.work_target())
    assert window.tabs.currentWidget() is window.roster and window.roster.selected_patient_id() == late


def _lab_task_today(db: Database, patient_id: int, code: str) -> ScheduledEvent:
    return next(e for e in _events(db, patient_id, EventKind.LAB) if e.lab_test_code == code)


def test_a_lab_result_entered_from_its_task_is_stored_linked_and_the_task_is_done(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient
) -> None:
    patient = add_patient("NEW1", "Adams", "Ana")
    plan_from(db, staff, patient, start_days_ago=0)
    event = _lab_task_today(db, patient, "serum_b12")
    _window, tab = _calendar(qtbot, make_ctx, staff)
    tab.select_day(event.due_on)
    i = tab.day_entries.find(lambda r: r.event_id == event.id)
    assert i is not None
    tab.day_table.selectRow(i)
    assert (
        tab.day_actions.complete_button.isEnabled()
        and tab.day_actions.complete_button.text() == "Record result…"
    )
    tab.complete_task(tab.day_target())
    dialog = next(w for w in tab.findChildren(TaskResultDialog) if w.isVisible())
    assert dialog.unit.currentIndex() == -1  # B12 has three units: none is chosen for the nurse

    # Saved without a unit: refused beside the field, nothing written.
    with db.sessions() as s:
        before = (
            s.scalar(select(func.count()).select_from(LabResult)),
            s.scalar(select(func.count()).select_from(AuditEvent)),
        )
    dialog.value.setText("180")
    dialog.save()
    assert dialog.isVisible() and dialog.errors.message("unit")
    with db.sessions() as s:
        after = (
            s.scalar(select(func.count()).select_from(LabResult)),
            s.scalar(select(func.count()).select_from(AuditEvent)),
        )
        assert after == before
        assert s.get(ScheduledEvent, event.id).status == EventStatus.DUE  # type: ignore[union-attr]

    dialog.unit.setCurrentIndex(dialog.unit.findData("ng/L"))
    dialog.save()
    assert not dialog.isVisible()
    with db.sessions() as s:
        task = s.get(ScheduledEvent, event.id)
        assert task is not None and task.status == EventStatus.DONE and task.lab_result_id is not None
        result = s.get(LabResult, task.lab_result_id)
        assert result is not None and result.patient_id == patient and result.value_text == "180"
        assert result.unit == "ng/L"
    entry = tab.day_entries.row(tab.day_entries.find(lambda r: r.event_id == event.id))  # type: ignore[arg-type]
    assert entry.status == DayStatus.DONE  # the day's list read again
    assert tab.day_target() is not None and tab.day_target().event_id == event.id  # still selected
    assert not tab.day_actions.complete_button.isEnabled()  # a done task is not completed twice


def test_a_task_marked_missed_needs_a_reason_and_a_review_is_completed_with_its_findings(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient
) -> None:
    patient = add_patient("NEW1", "Adams", "Ana")
    plan_from(db, staff, patient, start_days_ago=0)
    event = _lab_task_today(db, patient, "folate")
    _window, tab = _calendar(qtbot, make_ctx, staff)
    name = "ADAMS, Ana (NEW1)"
    target = Target(patient, name, EventKind.LAB, event.id, DayStatus.DUE)
    dialog = tab.mark_missed(target)
    assert isinstance(dialog, ReasonDialog)
    dialog.ok_button.click()  # no reason: refused, nothing written
    with db.sessions() as s:
        assert s.get(ScheduledEvent, event.id).status == EventStatus.DUE  # type: ignore[union-attr]
    assert dialog.isVisible() and "why the task was missed" in dialog.error.text()
    dialog.reason.setText("Patient did not attend")
    dialog.ok_button.click()
    with db.sessions() as s:
        task = s.get(ScheduledEvent, event.id)
        assert (
            task is not None
            and task.status == EventStatus.MISSED
            and task.close_note == "Patient did not attend"
        )
    tab.select_day(event.due_on)
    entry = tab.day_entries.row(tab.day_entries.find(lambda r: r.event_id == event.id))  # type: ignore[arg-type]
    assert entry.status == DayStatus.MISSED and entry.close_note == "Patient did not attend"


@pytest.mark.parametrize("findings", ["", "Tingling better; Hb 131 g/L: continue"])
def test_a_review_is_done_only_with_what_it_found(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient, findings: str
) -> None:
    patient = add_patient("NEW1", "Adams", "Ana")
    plan_from(db, staff, patient, start_days_ago=0)
    review = _events(db, patient, EventKind.REVIEW)[0]
    _window, tab = _calendar(qtbot, make_ctx, staff)
    with db.sessions() as s:
        task = monitoring.get_task(s, staff.nurse, review.id)
    dialog = tab.open_task_form(task, "ADAMS, Ana (NEW1)")
    assert dialog.windowTitle().startswith("Review")
    dialog.note.setPlainText(findings)
    dialog.save()
    with db.sessions() as s:
        stored = s.get(ScheduledEvent, review.id)
        assert stored is not None
        if findings:
            assert stored.status == EventStatus.DONE and stored.close_note == findings
            assert not dialog.isVisible()
        else:
            assert stored.status == EventStatus.DUE
            assert dialog.isVisible() and "Record what the review found" in dialog.errors.message("note")


def test_esc_on_a_half_filled_result_asks_before_discarding(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient, host: QWidget
) -> None:
    patient = add_patient("NEW1", "Adams", "Ana")
    plan_from(db, staff, patient, start_days_ago=0)
    event = _lab_task_today(db, patient, "hb")
    with db.sessions() as s:
        task = monitoring.get_task(s, staff.nurse, event.id)
    dialog = TaskResultDialog(make_ctx(staff.nurse), task, "ADAMS, Ana (NEW1)", parent=host)
    dialog.show()
    qtbot.keyClicks(dialog.value, "101")
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible()
    assert isinstance(dialog.discard_prompt, QMessageBox) and dialog.discard_prompt.isVisible()
    dialog.discard_prompt.reject()


def _neuro_plan(db: Database, staff: Staffing, patient_id: int) -> int:
    """A verified plan whose induction is open-ended (alternate days until no further improvement)."""
    with db.sessions.begin() as s:
        plans.ensure_shipped_templates(s)
        template = next(t for t in plans.list_templates(s, staff.admin) if t.code == "uk_hoc_neuro")
        plan = plans.create_plan(
            s,
            staff.pharmacist,
            patient_id,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=Decimal(1000),
                route=template.definition.route,
                start_date=TODAY,
                prescriber="Dr Shah",
            ),
        )
        plans.verify_plan(s, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id)
        return plan.id


def test_a_pharmacists_review_can_end_the_phase_and_the_plan_goes_back_for_verification(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, db: Database, add_patient: AddPatient, host: QWidget
) -> None:
    patient = add_patient("N1", "Okafor", "Grace", neuro_involvement=True, neuro_symptoms="numb feet")
    plan_id = _neuro_plan(db, staff, patient)
    review = _events(db, patient, EventKind.REVIEW)[0]
    with db.sessions() as s:
        task = monitoring.get_task(s, staff.nurse, review.id)
        plan = plans.get_plan(s, staff.nurse, plan_id)

    # A nurse records what the review found; ending a phase is a prescriber's act, not offered to her.
    nurse_form = TaskResultDialog(make_ctx(staff.nurse), task, "OKAFOR, Grace (N1)", plan, parent=host)
    assert nurse_form.end_phase.isHidden()
    nurse_form.reject()

    form = TaskResultDialog(make_ctx(staff.pharmacist2), task, "OKAFOR, Grace (N1)", plan, parent=host)
    form.show()
    assert form.end_phase.isVisible() and "phase 2 (maintenance)" in form.end_phase.text()
    form.note.setPlainText("No further improvement in the feet: start maintenance")
    form.end_phase.setChecked(True)
    form.save()
    assert not form.isVisible()
    with db.sessions() as s:
        stored = s.get(ScheduledEvent, review.id)
        assert stored is not None and stored.status == EventStatus.DONE
        after = plans.get_plan(s, staff.nurse, plan_id)
        assert after.status == PlanStatus.DRAFT and after.phases[0].ended_on == TODAY
        assert "No further improvement" in after.review_reason
        assert plans.verify_refusal(staff.pharmacist2, after)  # who ended it does not verify it
        assert not plans.verify_refusal(staff.pharmacist, after)
