"""Monitoring: the task life cycle (done, missed, cancelled, never revived by a sync), each worklist's rule
on data built for it with its edges, and the calendar's month view."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from b12desk.data.models import (
    Administration,
    AuditEvent,
    PlanPhase,
    ScheduledEvent,
    SymptomScore,
    TreatmentPlan,
)
from b12desk.domain.enums import (
    AdministrationOutcome,
    EventKind,
    EventStatus,
    LabContext,
    Route,
    Sex,
)
from b12desk.services import monitoring, patients, plans
from b12desk.services.common import Actor, PermissionDenied, ValidationFailed
from b12desk.services.monitoring import DayStatus, Worklist
from tests.conftest import Staffing
from tests.services.dose_world import CLOCK, LONDON, TODAY, World, _patient, _verified_plan

POTASSIUM = "Potassium 24-48 hours after the first dose (a sample before the first dose does not count)"
BASELINE_HB = "Baseline full blood count: haemoglobin"
NEURO_REVIEW = "Neurological review: still improving? (none: end alternate-day doses)"


def give(
    w: World, plan_id: int, day: date, *, outcome: AdministrationOutcome = AdministrationOutcome.GIVEN
) -> None:
    """A dose on a clinic day at 11:00 (rows written straight in: these tests are about what follows)."""
    plan = w.session.get(TreatmentPlan, plan_id)
    assert plan is not None
    w.session.add(
        Administration(
            patient_id=plan.patient_id,
            plan_id=plan_id,
            given_at=datetime(day.year, day.month, day.day, 11, 0, tzinfo=LONDON),
            dose_mcg=Decimal(1000),
            volume_ml=Decimal(1),
            route=Route.IM,
            outcome=outcome,
            given_by_id=w.staff.nurse.id,
        )
    )
    w.session.flush()
    plans.sync_events(w.session, plan, today=TODAY)


def new_plan(w: World, *, code: str = "uk_hoc_no_neuro", start: date, mrn: str = "P2", **patient: Any) -> int:
    pid = _patient(w.session, w.staff.nurse, mrn=mrn, **patient)
    return _verified_plan(w.session, w.staff, w.templates, pid, code=code, start=start).id


def events(session: Session, plan_id: int, label: str) -> list[ScheduledEvent]:
    return list(
        session.scalars(
            select(ScheduledEvent)
            .where(ScheduledEvent.plan_id == plan_id, ScheduledEvent.label == label)
            .order_by(ScheduledEvent.id)
        )
    )


def task(session: Session, plan_id: int, label: str) -> ScheduledEvent:
    found = events(session, plan_id, label)
    assert len(found) == 1, found
    return found[0]


def listed(session: Session, actor: Actor, name: Worklist, today: date) -> set[int]:
    return {item.plan_id for item in monitoring.worklist(session, actor, name, today=today)}


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def hb(w: World, patient_id: int, taken: date, value: str, context: LabContext = LabContext.FOLLOW_UP) -> int:
    return patients.add_lab_result(
        w.session,
        w.staff.nurse,
        patient_id,
        test_code="hb",
        context=context,
        taken_on=taken,
        value_text=value,
        unit="g/L",
        clock=CLOCK,
    ).id


# --- a sync never revives a closed task ------------------------------------------------------------------


def test_a_missed_or_done_task_stays_closed_when_a_sync_moves_its_date(world: World) -> None:
    """The first dose given two weeks late moves the induction's tasks (they count from the first dose):
    before the fix the missed potassium check and the done baseline came back as due on their new dates."""
    s, start = world.session, TODAY - timedelta(days=14)
    plan_id = new_plan(world, start=start)
    potassium = task(s, plan_id, POTASSIUM)
    assert potassium.due_on == start + timedelta(days=1)
    monitoring.miss_task(s, world.staff.nurse, potassium.id, reason="Did not attend", clock=CLOCK)
    baseline = task(s, plan_id, BASELINE_HB)
    result = hb(world, world_patient(s, plan_id), start, "98", LabContext.BASELINE)
    monitoring.complete_task(s, world.staff.nurse, baseline.id, lab_result_id=result, clock=CLOCK)

    give(world, plan_id, TODAY)  # the first dose, today: the induction's tasks now count from today

    assert [(e.status, e.due_on) for e in events(s, plan_id, POTASSIUM)] == [
        (EventStatus.MISSED, potassium.due_on)
    ]
    assert [e.status for e in events(s, plan_id, BASELINE_HB)] == [EventStatus.DONE]
    # A task still due moves with the dose it counts from.
    retics = task(s, plan_id, "Reticulocyte response at 7-10 days")
    assert (retics.status, retics.due_on) == (EventStatus.DUE, TODAY + timedelta(days=7))


def world_patient(session: Session, plan_id: int) -> int:
    plan = session.get(TreatmentPlan, plan_id)
    assert plan is not None
    return plan.patient_id


# --- the life cycle --------------------------------------------------------------------------------------


def test_completing_a_lab_task_links_its_result_and_audits(world: World) -> None:
    s = world.session
    baseline = task(s, world.plan_id, BASELINE_HB)
    result = hb(world, world.patient_id, TODAY, "101", LabContext.BASELINE)
    before = audit_count(s)
    row = monitoring.complete_task(s, world.staff.nurse, baseline.id, lab_result_id=result, clock=CLOCK)
    assert (row.status, row.lab_result_id, row.closed_by_id) == (
        EventStatus.DONE,
        result,
        world.staff.nurse.id,
    )
    assert row.closed_at is not None
    assert audit_count(s) == before + 1
    last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (last.action, last.entity, last.entity_id) == (
        "complete_task",
        "scheduled_event",
        str(baseline.id),
    )
    entries = monitoring.day_entries(s, world.staff.nurse, TODAY, today=TODAY)
    linked = [e for e in entries if e.event_id == baseline.id]
    assert linked and linked[0].lab_result_id == result and linked[0].status == DayStatus.DONE


def test_a_review_is_completed_with_a_note(world: World) -> None:
    s, start = world.session, TODAY - timedelta(days=100)
    plan_id = new_plan(world, start=start)
    review = task(s, plan_id, "Symptom review at 3 months")
    row = monitoring.complete_task(
        s, world.staff.nurse, review.id, note="  Tired less; continue. ", clock=CLOCK
    )
    assert (row.status, row.close_note) == (EventStatus.DONE, "Tired less; continue.")


def _refused(session: Session, call: Any, field: str) -> None:
    """The call is refused on `field`, and nothing was written: no audit row, the task still due."""
    before = audit_count(session)
    with pytest.raises(ValidationFailed) as refused:
        call()
    assert field in refused.value.errors, refused.value.errors
    assert audit_count(session) == before


@pytest.mark.parametrize(
    "change, field",
    [
        ("none", ""),
        ("other_patient", "lab_result"),
        ("other_test", "lab_result"),
        ("too_early", "lab_result"),
        ("no_result", "lab_result"),
    ],
)
def test_a_lab_task_is_done_only_with_its_own_result(world: World, change: str, field: str) -> None:
    """One fact changed from a valid completion is refused, and writes nothing."""
    s = world.session
    potassium = task(s, world.plan_id, POTASSIUM)  # due tomorrow (the first dose is today)
    patient = world.patient_id
    if change == "other_patient":
        patient = _patient(s, world.staff.nurse, mrn="P9")
    code, taken = "potassium", potassium.window_start
    if change == "other_test":
        code = "folate"
    if change == "too_early":
        taken = potassium.window_start - timedelta(days=1)  # before the first dose: does not count
    units = {"potassium": "mmol/L", "folate": "nmol/L"}
    result = None
    if change != "no_result":
        result = patients.add_lab_result(
            s,
            world.staff.nurse,
            patient,
            test_code=code,
            context=LabContext.FOLLOW_UP,
            taken_on=min(taken, TODAY),
            value_text="4.1",
            unit=units[code],
            clock=CLOCK,
        ).id
    if change == "none":
        # Valid once its window opens (tomorrow): a result taken on the due day.
        later = CLOCK.frozen()
        patients_result = patients.add_lab_result(
            s,
            world.staff.nurse,
            patient,
            test_code="potassium",
            context=LabContext.FOLLOW_UP,
            taken_on=TODAY,
            value_text="4.1",
            unit="mmol/L",
            clock=later,
        ).id
        s.execute(
            ScheduledEvent.__table__.update()  # type: ignore[attr-defined]
            .where(ScheduledEvent.id == potassium.id)
            .values(window_start=TODAY, due_on=TODAY)
        )
        s.expire_all()
        row = monitoring.complete_task(
            s, world.staff.nurse, potassium.id, lab_result_id=patients_result, clock=CLOCK
        )
        assert row.status == EventStatus.DONE
        return
    _refused(
        s,
        lambda: monitoring.complete_task(
            s, world.staff.nurse, potassium.id, lab_result_id=result, clock=CLOCK
        ),
        field,
    )
    s.expire_all()
    assert s.get(ScheduledEvent, potassium.id).status == EventStatus.DUE  # type: ignore[union-attr]


def test_refusals_write_nothing(world: World) -> None:
    s = world.session
    review = task(s, new_plan(world, start=TODAY - timedelta(days=100)), "Symptom review at 3 months")
    _refused(
        s, lambda: monitoring.complete_task(s, world.staff.nurse, review.id, note=" ", clock=CLOCK), "note"
    )
    _refused(
        s, lambda: monitoring.miss_task(s, world.staff.nurse, review.id, reason="", clock=CLOCK), "reason"
    )
    dose = s.scalars(
        select(ScheduledEvent).where(
            ScheduledEvent.plan_id == world.plan_id, ScheduledEvent.kind == EventKind.DOSE
        )
    ).first()
    assert dose is not None
    _refused(
        s, lambda: monitoring.miss_task(s, world.staff.nurse, dose.id, reason="DNA", clock=CLOCK), "task"
    )
    future = task(s, world.plan_id, "Full blood count at 8 weeks: haemoglobin")
    _refused(
        s, lambda: monitoring.miss_task(s, world.staff.nurse, future.id, reason="DNA", clock=CLOCK), "status"
    )
    monitoring.miss_task(s, world.staff.nurse, review.id, reason="Did not attend", clock=CLOCK)
    _refused(
        s, lambda: monitoring.complete_task(s, world.staff.nurse, review.id, note="ok", clock=CLOCK), "status"
    )
    before = audit_count(s)
    with pytest.raises(PermissionDenied):
        monitoring.miss_task(s, world.staff.manager, future.id, reason="DNA", clock=CLOCK)
    assert audit_count(s) == before


def test_a_stopped_plan_cancels_its_due_tasks_and_leaves_every_worklist(world: World) -> None:
    s = world.session
    plan_id = new_plan(world, start=TODAY - timedelta(days=100))
    review = task(s, plan_id, "Symptom review at 3 months")
    assert plan_id in listed(s, world.staff.nurse, Worklist.TASKS, TODAY)
    plans.stop_plan(s, world.staff.pharmacist, plan_id, completed=False, reason="Moved away", clock=CLOCK)
    s.expire_all()
    assert s.get(ScheduledEvent, review.id).status == EventStatus.CANCELLED  # type: ignore[union-attr]
    for name in Worklist:
        assert plan_id not in listed(s, world.staff.nurse, name, TODAY), name


# --- each worklist's rule --------------------------------------------------------------------------------


def test_a_dose_on_the_last_day_of_its_window_is_due_not_overdue(world: World) -> None:
    s = world.session
    dose = s.scalars(
        select(ScheduledEvent)
        .where(ScheduledEvent.plan_id == world.plan_id, ScheduledEvent.kind == EventKind.DOSE)
        .order_by(ScheduledEvent.due_on)
    ).first()
    assert dose is not None and dose.window_end > dose.due_on
    last_day = dose.window_end
    assert world.plan_id in listed(s, world.staff.nurse, Worklist.TODAY, last_day)
    assert world.plan_id not in listed(s, world.staff.nurse, Worklist.OVERDUE, last_day)
    day_after = last_day + timedelta(days=1)
    assert world.plan_id in listed(s, world.staff.nurse, Worklist.OVERDUE, day_after)
    assert world.plan_id not in {
        i.plan_id
        for i in monitoring.worklist(s, world.staff.nurse, Worklist.TODAY, today=day_after)
        if i.kind == EventKind.DOSE
    }


def test_an_archived_patient_is_on_no_worklist(world: World) -> None:
    s = world.session
    day_after = TODAY + timedelta(days=5)
    assert world.plan_id in listed(s, world.staff.nurse, Worklist.OVERDUE, day_after)
    patients.set_archived(s, world.staff.manager, world.patient_id, archived=True, reason="Moved away")
    for name in Worklist:
        assert world.plan_id not in listed(s, world.staff.nurse, name, day_after), name
    assert monitoring.day_entries(s, world.staff.nurse, TODAY, today=TODAY) == []


def test_lapsed_after_more_than_one_and_a_half_maintenance_intervals(world: World) -> None:
    s = world.session
    start = date(2026, 5, 4)  # a Monday; every 90 days, so lapsed after 135 days without a dose
    plan_id = new_plan(world, code="uk_hoc_prophylaxis", start=start)
    give(world, plan_id, start)
    assert plan_id not in listed(s, world.staff.nurse, Worklist.LAPSED, start + timedelta(days=135))
    rows = monitoring.worklist(s, world.staff.nurse, Worklist.LAPSED, today=start + timedelta(days=136))
    assert [r.plan_id for r in rows] == [plan_id]
    assert rows[0].since == start and "136 days ago" in rows[0].detail
    # A dose since, and it is not lapsed.
    give(world, plan_id, start + timedelta(days=100))
    assert plan_id not in listed(s, world.staff.nurse, Worklist.LAPSED, start + timedelta(days=136))


def test_a_maintenance_plan_never_dosed_lapses_from_its_start(world: World) -> None:
    s = world.session
    start = date(2026, 5, 4)
    plan_id = new_plan(world, code="uk_hoc_prophylaxis", start=start)
    assert plan_id not in listed(s, world.staff.nurse, Worklist.LAPSED, start + timedelta(days=135))
    assert plan_id in listed(s, world.staff.nurse, Worklist.LAPSED, start + timedelta(days=136))
    plans.stop_plan(s, world.staff.pharmacist, plan_id, completed=False, reason="Moved to oral", clock=CLOCK)
    assert plan_id not in listed(s, world.staff.nurse, Worklist.LAPSED, start + timedelta(days=136))


def test_an_induction_in_progress_is_not_lapsed(world: World) -> None:
    s = world.session
    start = date(2026, 5, 4)
    plan_id = new_plan(world, start=start)
    give(world, plan_id, start)
    assert plan_id not in listed(s, world.staff.nurse, Worklist.LAPSED, TODAY)
    assert plan_id in listed(s, world.staff.nurse, Worklist.OVERDUE, TODAY)


def test_an_induction_with_every_dose_given_is_ready_until_a_review_ends_it(world: World) -> None:
    s = world.session
    start = date(2026, 11, 2)  # Monday: three times a week, Mon-Wed-Fri
    plan_id = new_plan(world, start=start)
    days = [start + timedelta(days=n) for n in (0, 2, 4, 7, 9, 11)]
    for day in days[:5]:
        give(world, plan_id, day)
    assert plan_id not in listed(s, world.staff.nurse, Worklist.READY_FOR_MAINTENANCE, TODAY)
    give(world, plan_id, days[5])
    rows = monitoring.worklist(s, world.staff.nurse, Worklist.READY_FOR_MAINTENANCE, today=TODAY)
    assert [r.plan_id for r in rows] == [plan_id]
    assert rows[0].since == days[5] and "maintenance phase every 90 days" in rows[0].detail
    plans.end_phase(s, world.staff.pharmacist, plan_id, on=TODAY, reason="Responded", clock=CLOCK)
    assert plan_id not in listed(s, world.staff.nurse, Worklist.READY_FOR_MAINTENANCE, TODAY)


def test_an_open_ended_phase_waits_for_its_review(world: World) -> None:
    s = world.session
    start = date(2026, 10, 5)  # a Monday
    plan_id = new_plan(world, code="uk_hoc_neuro", start=start)
    give(world, plan_id, start)
    first, second = events(s, plan_id, NEURO_REVIEW)[:2]  # every 21 days while the phase lasts
    assert plan_id not in listed(
        s, world.staff.nurse, Worklist.AWAITING_REVIEW, first.due_on - timedelta(days=1)
    )
    assert plan_id in listed(s, world.staff.nurse, Worklist.AWAITING_REVIEW, first.due_on)
    monitoring.complete_task(s, world.staff.nurse, first.id, note="Still improving: continue", clock=CLOCK)
    assert plan_id not in listed(s, world.staff.nurse, Worklist.AWAITING_REVIEW, first.due_on)
    assert plan_id in listed(s, world.staff.nurse, Worklist.AWAITING_REVIEW, second.due_on)
    plans.end_phase(
        s, world.staff.pharmacist, plan_id, on=TODAY, reason="No further improvement", clock=CLOCK
    )
    assert plan_id not in listed(s, world.staff.nurse, Worklist.AWAITING_REVIEW, TODAY)


def test_an_open_ended_phase_with_no_review_left_is_listed_after_the_repeat_days(world: World) -> None:
    """A template without a repeating review: after the last review, listed again once repeat_days pass."""
    s = world.session
    start = date(2026, 10, 5)
    plan_id = new_plan(world, code="uk_hoc_neuro", start=start)
    give(world, plan_id, start)
    first = events(s, plan_id, NEURO_REVIEW)[0]
    monitoring.complete_task(s, world.staff.nurse, first.id, note="Still improving: continue", clock=CLOCK)
    s.execute(
        ScheduledEvent.__table__.update()  # type: ignore[attr-defined]
        .where(
            ScheduledEvent.plan_id == plan_id,
            ScheduledEvent.kind == EventKind.REVIEW,
            ScheduledEvent.status == EventStatus.DUE,
        )
        .values(status=EventStatus.CANCELLED)
    )
    repeat = monitoring.monitoring_rules().review_repeat_days
    assert plan_id not in listed(
        s, world.staff.nurse, Worklist.AWAITING_REVIEW, first.due_on + timedelta(days=repeat)
    )
    assert plan_id in listed(
        s, world.staff.nurse, Worklist.AWAITING_REVIEW, first.due_on + timedelta(days=repeat + 1)
    )


@pytest.mark.parametrize(
    "later_day, later_value, sex, expected",
    [
        (56, "100", Sex.FEMALE, True),  # risen 5 g/L by 8 weeks, still anaemic
        (55, "100", Sex.FEMALE, False),  # not yet 8 weeks
        (56, "105", Sex.FEMALE, False),  # risen 10 g/L: the least rise expected
        (56, "121", Sex.FEMALE, False),  # normal now (above 120 for a woman)
        (56, "121", Sex.MALE, True),  # still below 130 for a man, risen 6
    ],
)
def test_haemoglobin_not_rising_by_eight_weeks(
    world: World, later_day: int, later_value: str, sex: Sex, expected: bool
) -> None:
    s = world.session
    start = date(2026, 9, 1)
    plan_id = new_plan(world, start=start, sex=sex)
    pid = world_patient(s, plan_id)
    hb(world, pid, start, "95" if later_value != "121" else "115", LabContext.BASELINE)
    hb(world, pid, start + timedelta(days=later_day), later_value)
    rows = monitoring.worklist(s, world.staff.nurse, Worklist.NOT_RESPONDING, today=TODAY)
    assert (plan_id in {r.plan_id for r in rows}) is expected
    if expected:
        detail = next(r.detail for r in rows if r.plan_id == plan_id)
        assert "Reassess" in detail and "adherence" in detail and "more often" in detail


@pytest.mark.parametrize("late_total, expected", [(6, True), (7, True), (5, False)])
def test_symptoms_no_better_at_the_review(world: World, late_total: int, expected: bool) -> None:
    s = world.session
    start = date(2026, 8, 3)
    plan_id = new_plan(world, start=start)
    pid = world_patient(s, plan_id)

    def score(day: date, fatigue: int, tingling: int, balance: int = 0) -> None:
        s.add(
            SymptomScore(
                patient_id=pid,
                scored_at=datetime(day.year, day.month, day.day, 11, tzinfo=LONDON),
                fatigue=fatigue,
                tingling=tingling,
                balance=balance,
                recorded_by_id=world.staff.nurse.id,
            )
        )

    score(start, 3, 3)
    score(start + timedelta(days=40), 2, 2)
    score(start + timedelta(days=95), 3, min(late_total - 3, 3), max(late_total - 6, 0))
    s.flush()
    assert (plan_id in listed(s, world.staff.nurse, Worklist.NOT_RESPONDING, TODAY)) is expected


def test_tasks_due_lists_lab_and_review_tasks_overdue_first(world: World) -> None:
    s = world.session
    plan_id = new_plan(world, start=TODAY - timedelta(days=100))
    rows = monitoring.worklist(s, world.staff.nurse, Worklist.TASKS, today=TODAY)
    mine = [r for r in rows if r.plan_id == plan_id]
    assert mine and all(r.kind in (EventKind.LAB, EventKind.REVIEW) for r in mine)
    assert all(r.due_on is not None and r.due_on <= TODAY for r in mine)
    flags = [r.overdue(TODAY) for r in rows]
    assert flags == sorted(flags, reverse=True)


# --- the month view --------------------------------------------------------------------------------------


def test_month_counts_by_day_kind_and_status(world: World, staff: Staffing) -> None:
    s = world.session
    start = TODAY - timedelta(days=14)
    plan_id = new_plan(world, start=start)
    potassium = task(s, plan_id, POTASSIUM)
    monitoring.miss_task(s, world.staff.nurse, potassium.id, reason="Did not attend", clock=CLOCK)
    give(world, plan_id, TODAY - timedelta(days=1))
    give(world, plan_id, TODAY - timedelta(days=3), outcome=AdministrationOutcome.REFUSED)
    counts = {
        (c.day, c.kind, c.status): c.count
        for c in monitoring.month_counts(s, world.staff.nurse, start, TODAY + timedelta(days=30), today=TODAY)
    }
    assert counts[(potassium.due_on, EventKind.LAB, DayStatus.MISSED)] == 1
    assert counts[(TODAY - timedelta(days=1), EventKind.DOSE, DayStatus.DONE)] == 1
    assert counts[(TODAY - timedelta(days=3), EventKind.DOSE, DayStatus.MISSED)] == 1
    # The world's own plan starts today: its first dose and baseline labs are due today.
    assert counts[(TODAY, EventKind.DOSE, DayStatus.DUE)] >= 1
    assert counts[(TODAY, EventKind.LAB, DayStatus.DUE)] >= 1
    due = sum(n for (day, kind, status), n in counts.items() if status == DayStatus.DUE and day < TODAY)
    assert due == 0  # before today an event still due is overdue or in its window
    with pytest.raises(ValidationFailed):
        monitoring.month_counts(s, world.staff.nurse, TODAY, TODAY - timedelta(days=1), today=TODAY)


def test_a_dose_is_counted_on_its_clinic_day_across_a_clock_change(world: World) -> None:
    """00:30 on 26 October 2026 in London is 00:30 GMT; 00:30 on 24 October is 23:30 UTC the day before."""
    s = world.session
    plan_id = new_plan(world, start=date(2026, 10, 1))
    plan = s.get(TreatmentPlan, plan_id)
    assert plan is not None
    for day in (date(2026, 10, 24), date(2026, 10, 26)):
        s.add(
            Administration(
                patient_id=plan.patient_id,
                plan_id=plan_id,
                given_at=datetime(day.year, day.month, day.day, 0, 30, tzinfo=LONDON),
                dose_mcg=Decimal(1000),
                volume_ml=Decimal(1),
                route=Route.IM,
                outcome=AdministrationOutcome.GIVEN,
                given_by_id=world.staff.nurse.id,
            )
        )
    s.flush()
    counts = {
        (c.day, c.kind, c.status): c.count
        for c in monitoring.month_counts(
            s, world.staff.nurse, date(2026, 10, 1), date(2026, 10, 31), today=TODAY
        )
    }
    done = {
        day: n
        for (day, kind, status), n in counts.items()
        if kind == EventKind.DOSE and status == DayStatus.DONE
    }
    assert done == {date(2026, 10, 24): 1, date(2026, 10, 26): 1}
    assert s.scalar(select(func.count()).select_from(PlanPhase).where(PlanPhase.plan_id == plan_id)) == 2
