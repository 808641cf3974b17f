"""Monitoring: the life cycle of lab and review tasks, the clinic's worklists and the calendar's month view.

API (each takes the session and the acting staff member; reads need READ_PATIENTS, closing a task
RECORD_LABS; `clock`/`today` default to the clinic's clock):

- ``complete_task(session, actor, event_id, *, lab_result_id=None, note="", clock=None) -> TaskRow``
  a laboratory task is done with the result that answers it (recorded first: patients.add_lab_result),
  a review with a note of what it found.
- ``miss_task(session, actor, event_id, *, reason, clock=None) -> TaskRow``: not done, and why.
- ``worklist(session, actor, name, *, today=None) -> list[WorkItem]``: one of ``Worklist``.
- ``month_counts(session, actor, start, end, *, today=None) -> list[DayCount]``: per day, kind, status.
- ``day_entries(session, actor, day, *, today=None) -> list[DayEntry]``: what one day of the calendar holds.
- ``get_task(session, actor, event_id) -> TaskRow``.
- ``monitoring_rules() -> MonitoringRules``: the thresholds, read from resources/monitoring.json.
- ``worklist_statement(name, today, clock)`` and ``month_statement(start, end, today, clock)``: the one
  statement each runs (benchmarks/calendar.py times them beside hand-written SQL).

The life cycle: a task is DUE until a person closes it, DONE (with its result or note) or MISSED (with a
reason), or a sync CANCELS it (its plan stopped, its phase ended). Closed tasks are final: a sync of the
plan's events never makes them due again, even when the task's date moves (services.plans._reconcile).
Doses are not tasks: a dose is closed by recording it (services.administrations).

Worklists (archived patients never appear; only verified or active plans):
- TODAY: the next dose of each plan (administrations.due_doses, the due list's one notion of due) and the
  lab and review tasks whose window holds today.
- OVERDUE: those next doses past the end of their window (a dose due on its window's last day is not).
- TASKS: lab and review tasks due on or before today, overdue ones first.
- LAPSED: in a maintenance phase with no dose for more than interval_factor (1.5) times the phase's
  interval (since the plan's start when none was ever given): the relapse risk.
- READY_FOR_MAINTENANCE: a counted induction phase whose doses are all given, which no review has ended.
- AWAITING_REVIEW: an open-ended induction phase (until no further improvement) whose review is due, or
  which has had no review for repeat_days.
- NOT_RESPONDING: haemoglobin still below normal and risen less than hb_min_rise by 8 weeks, or symptom
  scores no better at 3 months than when treatment began: reassess (the rule's action text), never simply
  give doses more often.
Every worklist and the month view is one statement over the scheduled events and administrations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import cache
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from b12desk.clock import Clock
from b12desk.data.audit import append_event
from b12desk.data.models import (
    Administration,
    LabResult,
    Patient,
    PlanPhase,
    ScheduledEvent,
    SymptomScore,
    TreatmentPlan,
)
from b12desk.data.reference import lab_tests, read_resource_json
from b12desk.data.types import UTCDateTime
from b12desk.domain.enums import (
    AdministrationOutcome,
    EventKind,
    EventStatus,
    LabContext,
    PhaseKind,
    RecordStatus,
    Route,
    Sex,
)
from b12desk.domain.permissions import Permission
from b12desk.services import administrations, clinic, plans
from b12desk.services.common import Actor, Conflict, NotFound, ValidationFailed, require

TASK_KINDS = (EventKind.LAB, EventKind.REVIEW)
_KINDS: dict[str, EventKind] = {k.value: k for k in EventKind}
SYMPTOM_COLUMNS = ("fatigue", "tingling", "balance", "memory_mood", "appetite")


# --- the rules, from resources/monitoring.json --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonitoringRules:
    lapse_factor: Fraction  # 3/2: lapsed after more than 1.5 maintenance intervals without a dose
    baseline_days_before_due: int
    review_repeat_days: int
    hb_test_code: str
    hb_after_days: int
    hb_min_rise: Decimal  # g/L, the canonical unit of haemoglobin
    hb_normal_low: dict[Sex, Decimal]
    symptoms_after_days: int
    reassess_action: str


@cache
def monitoring_rules() -> MonitoringRules:
    data: dict[str, Any] = read_resource_json("monitoring.json")
    lapse, results = data["lapsed_maintenance"], data["task_results"]
    review, nr = data["open_ended_review"], data["not_responding"]
    return MonitoringRules(
        lapse_factor=Fraction(str(lapse["interval_factor"])).limit_denominator(1000),
        baseline_days_before_due=int(results["baseline_days_before_due"]),
        review_repeat_days=int(review["repeat_days"]),
        hb_test_code=str(nr["hb_test_code"]),
        hb_after_days=int(nr["hb_after_days"]),
        hb_min_rise=Decimal(str(nr["hb_min_rise_g_per_l"])),
        hb_normal_low={Sex(k): Decimal(str(v)) for k, v in nr["hb_normal_low_g_per_l"].items()},
        symptoms_after_days=int(nr["symptoms_after_days"]),
        reassess_action=str(nr["action"]),
    )


# --- day arithmetic the two engines write differently --------------------------------------------------


class _PlusDays(FunctionElement[date]):
    """A date expression plus a whole number of days (either may be a column)."""

    type = Date()
    name = "plus_days"
    inherit_cache = True


class _MinusDaysAt(FunctionElement[datetime]):
    """A UTC instant (a bound datetime) less a whole, positive number of days (an integer expression)."""

    type = DateTime()
    name = "minus_days_at"
    inherit_cache = True


class _DayAtOffset(FunctionElement[date]):
    """The calendar day of a stored UTC instant shifted by a fixed number of minutes (a clinic's offset)."""

    type = Date()
    name = "day_at_offset"
    inherit_cache = True


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(_PlusDays, "sqlite")
def _plus_days_sqlite(element: _PlusDays, compiler: SQLCompiler, **kw: Any) -> str:
    day, days = _args(element, compiler, **kw)
    return f"date({day}, ({days}) || ' days')"


@compiles(_PlusDays, "postgresql")
def _plus_days_pg(element: _PlusDays, compiler: SQLCompiler, **kw: Any) -> str:
    day, days = _args(element, compiler, **kw)
    return f"(CAST({day} AS DATE) + CAST({days} AS INTEGER))"


@compiles(_MinusDaysAt, "sqlite")
def _minus_days_sqlite(element: _MinusDaysAt, compiler: SQLCompiler, **kw: Any) -> str:
    # datetime() writes 'YYYY-MM-DD HH:MM:SS'; stored instants carry microseconds after it, so a string
    # comparison orders them as instants (the same instant stored is not "before" it).
    moment, days = _args(element, compiler, **kw)
    return f"datetime({moment}, '-' || ({days}) || ' days')"


@compiles(_MinusDaysAt, "postgresql")
def _minus_days_pg(element: _MinusDaysAt, compiler: SQLCompiler, **kw: Any) -> str:
    moment, days = _args(element, compiler, **kw)
    return f"(CAST({moment} AS TIMESTAMP) - make_interval(days => CAST({days} AS INTEGER)))"


@compiles(_DayAtOffset, "sqlite")
def _day_at_offset_sqlite(element: _DayAtOffset, compiler: SQLCompiler, **kw: Any) -> str:
    moment, minutes = _args(element, compiler, **kw)
    return f"date({moment}, ({minutes}) || ' minutes')"


@compiles(_DayAtOffset, "postgresql")
def _day_at_offset_pg(element: _DayAtOffset, compiler: SQLCompiler, **kw: Any) -> str:
    moment, minutes = _args(element, compiler, **kw)
    return f"CAST({moment} + make_interval(mins => CAST({minutes} AS INTEGER)) AS DATE)"


def _clinic_day(moment: Any, clock: Clock, start: datetime, end: datetime) -> Any:
    """The clinic's calendar day of a UTC instant column, exact for instants in [start, end): the clinic's
    offset from UTC is fixed between its clock changes, so one CASE arm per stretch between them."""

    def offset_at(instant: datetime) -> timedelta:
        return clock.local(instant).utcoffset() or timedelta(0)

    def day_at(offset: timedelta) -> Any:
        return _DayAtOffset(moment, literal(int(offset.total_seconds() // 60)))

    arms: list[tuple[Any, Any]] = []
    cursor, offset = start, offset_at(start)
    while cursor < end:
        nxt = min(cursor + timedelta(hours=1), end)
        if offset_at(nxt) != offset:
            low, high = cursor, nxt  # the change is in (low, high]: find its minute
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if offset_at(mid) == offset else (low, mid)
            arms.append((moment < high, day_at(offset)))
            offset = offset_at(high)
        cursor = nxt
    arms.append((moment < end, day_at(offset)))
    if len(arms) == 1:
        return arms[0][1]
    return case(*arms[:-1], else_=arms[-1][1])


# --- the task life cycle -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskRow:
    id: int
    patient_id: int
    plan_id: int
    kind: EventKind
    label: str
    lab_test_code: str | None
    due_on: date
    window_end: date
    status: EventStatus
    closed_at: datetime | None
    closed_by_id: int | None
    close_note: str
    lab_result_id: int | None


def _task_row(e: ScheduledEvent) -> TaskRow:
    return TaskRow(
        e.id,
        e.patient_id,
        e.plan_id,
        e.kind,
        e.label,
        e.lab_test_code,
        e.due_on,
        e.window_end,
        e.status,
        e.closed_at,
        e.closed_by_id,
        e.close_note,
        e.lab_result_id,
    )


def get_task(session: Session, actor: Actor, event_id: int) -> TaskRow:
    require(session, actor, Permission.READ_PATIENTS)
    return _task_row(_event(session, event_id))


def _event(session: Session, event_id: int) -> ScheduledEvent:
    event = session.get(ScheduledEvent, event_id)
    if event is None:
        raise NotFound(f"No scheduled task with id {event_id}.")
    return event


_STATUS_WORDS = {
    EventStatus.DONE: "already done",
    EventStatus.MISSED: "already marked missed",
    EventStatus.CANCELLED: "cancelled (its plan or phase ended)",
}


def _closable(event: ScheduledEvent) -> dict[str, str]:
    if event.kind == EventKind.DOSE:
        return {"task": "A dose is closed by recording it (given, refused or held), not as a task."}
    if event.status != EventStatus.DUE:
        return {"status": f"This task is {_STATUS_WORDS[event.status]}: it cannot be closed again."}
    return {}


def _close(
    session: Session,
    actor: Actor,
    event: ScheduledEvent,
    *,
    status: EventStatus,
    note: str,
    lab_result_id: int | None,
    clock: Clock,
) -> TaskRow:
    # Conditional on the task still being due: two people closing it at once, one wins, one is told.
    done = session.execute(
        update(ScheduledEvent)
        .where(ScheduledEvent.id == event.id, ScheduledEvent.status == EventStatus.DUE)
        .values(
            status=status,
            closed_at=clock.utcnow(),
            closed_by_id=actor.id,
            close_note=note,
            lab_result_id=lab_result_id,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 1) != 1:
        raise Conflict("Someone else closed this task a moment ago: reload to see what they recorded.")
    session.expire(event)
    new: dict[str, Any] = {"status": status.value, "note": note}
    if lab_result_id is not None:
        new["lab_result_id"] = lab_result_id
    append_event(
        session,
        staff_id=actor.id,
        action="complete_task" if status == EventStatus.DONE else "miss_task",
        entity="scheduled_event",
        entity_id=event.id,
        old={"status": EventStatus.DUE.value},
        new=new,
        reason=note,
    )
    return _task_row(event)


def complete_task(
    session: Session,
    actor: Actor,
    event_id: int,
    *,
    lab_result_id: int | None = None,
    note: str = "",
    clock: Clock | None = None,
) -> TaskRow:
    """Mark a lab task done with the result that answers it, or a review done with what it found."""
    require(session, actor, Permission.RECORD_LABS)
    clock = (clock or clinic.clinic_clock(session)).frozen()
    event = _event(session, event_id)
    note = note.strip()
    errors = _closable(event)
    if not errors and event.kind == EventKind.LAB:
        errors = _result_problems(session, event, lab_result_id)
    elif not errors:
        if lab_result_id is not None:
            errors["lab_result"] = (
                "A review is completed with a note of what it found, not a laboratory result."
            )
        if not note:
            errors["note"] = "Record what the review found (e.g. symptoms better, continue the plan)."
    if errors:
        raise ValidationFailed(errors)
    return _close(
        session, actor, event, status=EventStatus.DONE, note=note, lab_result_id=lab_result_id, clock=clock
    )


def _result_problems(session: Session, event: ScheduledEvent, lab_result_id: int | None) -> dict[str, str]:
    tests = lab_tests()
    code = event.lab_test_code or ""
    wanted = tests[code].name if code in tests else code
    if lab_result_id is None:
        return {"lab_result": f"Link the {wanted} result that completes this task (record the result first)."}
    result = session.get(LabResult, lab_result_id)
    if result is None:
        return {"lab_result": f"No laboratory result with id {lab_result_id}."}
    if result.patient_id != event.patient_id:
        return {"lab_result": "That result belongs to another patient."}
    if result.status != RecordStatus.CURRENT:
        return {"lab_result": "That result was corrected or entered in error: link the current one."}
    if result.test_code != code:
        got = tests[result.test_code].name if result.test_code in tests else result.test_code
        return {"lab_result": f"This task asks for {wanted}, not {got}."}
    earliest = event.window_start
    if result.context == LabContext.BASELINE:
        earliest -= timedelta(days=monitoring_rules().baseline_days_before_due)
    if result.taken_on < earliest:
        return {
            "lab_result": (
                f"That sample was taken on {result.taken_on.isoformat()}, before this task's window opens "
                f"({earliest.isoformat()}): it does not answer it."
            )
        }
    return {}


def miss_task(
    session: Session, actor: Actor, event_id: int, *, reason: str, clock: Clock | None = None
) -> TaskRow:
    """Mark a task that fell due as not done, with the reason (e.g. the patient did not attend)."""
    require(session, actor, Permission.RECORD_LABS)
    clock = (clock or clinic.clinic_clock(session)).frozen()
    event = _event(session, event_id)
    reason = reason.strip()
    errors = _closable(event)
    if not errors and event.due_on > clock.today():
        errors["status"] = (
            f"This task falls due on {event.due_on.isoformat()}: it can be marked missed once it is due."
        )
    if not reason:
        errors["reason"] = "Record why the task was missed (e.g. the patient did not attend)."
    if errors:
        raise ValidationFailed(errors)
    return _close(
        session, actor, event, status=EventStatus.MISSED, note=reason, lab_result_id=None, clock=clock
    )


# --- worklists -----------------------------------------------------------------------------------------


class Worklist(StrEnum):
    TODAY = "today"
    OVERDUE = "overdue"
    TASKS = "tasks"
    LAPSED = "lapsed"
    READY_FOR_MAINTENANCE = "ready_for_maintenance"
    AWAITING_REVIEW = "awaiting_review"
    NOT_RESPONDING = "not_responding"


WORKLIST_TITLES: dict[Worklist, str] = {
    Worklist.TODAY: "Due today",
    Worklist.OVERDUE: "Doses overdue (past their window)",
    Worklist.TASKS: "Monitoring tasks due",
    Worklist.LAPSED: "Lapsed maintenance (relapse risk)",
    Worklist.READY_FOR_MAINTENANCE: "Induction complete: ready for the next phase",
    Worklist.AWAITING_REVIEW: "Open-ended phases waiting for a review",
    Worklist.NOT_RESPONDING: "Not responding as expected: reassess",
}


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One row of a worklist: who, which plan, what, and why it is listed, in plain words."""

    worklist: Worklist
    patient_id: int
    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date
    plan_id: int
    event_id: int | None  # the dose or task the row is about, where there is one
    kind: EventKind | None
    label: str
    due_on: date | None
    window_end: date | None
    since: date | None  # lapsed: the last dose; ready: the last dose; not responding: the result's date
    detail: str

    def overdue(self, today: date) -> bool:
        return self.window_end is not None and today > self.window_end


def _live_patient(stmt: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    return stmt.where(TreatmentPlan.status.in_(plans.LIVE), Patient.archived.is_(False))


_PATIENT_COLUMNS = (Patient.id, Patient.mrn, Patient.family_name, Patient.given_name, Patient.date_of_birth)


def _tasks_select(today: date) -> Select[*tuple[Any, ...]]:
    return _live_patient(
        select(
            ScheduledEvent.id,
            *_PATIENT_COLUMNS,
            ScheduledEvent.plan_id,
            ScheduledEvent.label,
            ScheduledEvent.due_on,
            ScheduledEvent.window_end,
            ScheduledEvent.kind,
        )
        .join(Patient, Patient.id == ScheduledEvent.patient_id)
        .join(TreatmentPlan, TreatmentPlan.id == ScheduledEvent.plan_id)
        .where(
            ScheduledEvent.status == EventStatus.DUE,
            ScheduledEvent.kind.in_(TASK_KINDS),
            ScheduledEvent.due_on <= today,
        )
    )


def _last_dose(patient: Any) -> Any:
    """The patient's latest dose given (any plan, at the clinic, elsewhere or at home), as a scalar."""
    return (
        select(Administration.given_at)
        .where(
            Administration.patient_id == patient,
            Administration.outcome == AdministrationOutcome.GIVEN,
            Administration.status == RecordStatus.CURRENT,
        )
        .order_by(Administration.given_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def worklist_statement(name: Worklist, today: date, clock: Clock) -> Select[*tuple[Any, ...]]:
    """The one statement a worklist runs (the benchmark times it beside hand-written SQL)."""
    rules = monitoring_rules()
    if name == Worklist.TODAY:
        doses = (
            administrations.due_doses(today)
            .where(ScheduledEvent.window_end >= today)
            .add_columns(ScheduledEvent.kind)
            .order_by(None)
        )
        tasks = _tasks_select(today).where(ScheduledEvent.window_end >= today)
        return select(union_all(doses, tasks).subquery())
    if name == Worklist.OVERDUE:
        return administrations.due_doses(today).where(ScheduledEvent.window_end < today)
    if name == Worklist.TASKS:
        return _tasks_select(today).order_by(
            ScheduledEvent.due_on, Patient.family_name, Patient.given_name, ScheduledEvent.id
        )
    if name == Worklist.LAPSED:
        # floor(interval x factor) days, in integers both engines divide alike (x 3 / 2 for 1.5)
        lapse_days = (PlanPhase.interval_days * rules.lapse_factor.numerator) / rules.lapse_factor.denominator
        last = _last_dose(Patient.id)
        cutoff = _MinusDaysAt(literal(clock.start_of_day(today), type_=UTCDateTime()), lapse_days)
        return (
            administrations.due_doses(today)
            .join(PlanPhase, PlanPhase.id == ScheduledEvent.phase_id)
            .add_columns(PlanPhase.interval_days, last, TreatmentPlan.start_date)
            .where(
                PlanPhase.kind == PhaseKind.MAINTENANCE,
                PlanPhase.interval_days.is_not(None),
                TreatmentPlan.route != Route.ORAL,
                or_(
                    last < cutoff,
                    and_(
                        last.is_(None),
                        TreatmentPlan.start_date < _PlusDays(literal(today, Date), -lapse_days),
                    ),
                ),
            )
        )
    if name == Worklist.READY_FOR_MAINTENANCE:
        return _ready_statement()
    if name == Worklist.AWAITING_REVIEW:
        repeat_before = today - timedelta(days=rules.review_repeat_days)
        return _awaiting_statement().params(today=today, repeat_before=repeat_before)
    return _not_responding_statement(rules)


def _phase_plan_select(*columns: Any) -> Select[*tuple[Any, ...]]:
    return _live_patient(
        select(*_PATIENT_COLUMNS, TreatmentPlan.id.label("plan_id"), *columns)
        .select_from(PlanPhase)
        .join(TreatmentPlan, TreatmentPlan.id == PlanPhase.plan_id)
        .join(Patient, Patient.id == TreatmentPlan.patient_id)
    )


def _due_dose_in(phase_id: Any) -> Any:
    return exists().where(
        ScheduledEvent.phase_id == phase_id,
        ScheduledEvent.status == EventStatus.DUE,
        ScheduledEvent.kind == EventKind.DOSE,
    )


@cache  # the same every time: built once (building it costs about a third of running it)
def _ready_statement() -> Select[*tuple[Any, ...]]:
    nxt = aliased(PlanPhase)
    earlier = aliased(PlanPhase)
    plan_waits = ~exists().where(
        ScheduledEvent.plan_id == TreatmentPlan.id,
        ScheduledEvent.status == EventStatus.DUE,
        ScheduledEvent.kind == EventKind.DOSE,
    )
    last_given = (
        select(func.max(Administration.given_at))
        .where(
            Administration.plan_id == TreatmentPlan.id,
            Administration.outcome == AdministrationOutcome.GIVEN,
            Administration.status == RecordStatus.CURRENT,
        )
        .scalar_subquery()
    )
    return (
        _phase_plan_select(
            PlanPhase.seq, PlanPhase.dose_count, nxt.kind, nxt.interval_days, plan_waits, last_given
        )
        .join(nxt, and_(nxt.plan_id == PlanPhase.plan_id, nxt.seq == PlanPhase.seq + 1))
        .where(
            PlanPhase.kind == PhaseKind.INDUCTION,
            PlanPhase.dose_count.is_not(None),
            PlanPhase.ended_on.is_(None),
            ~exists().where(
                earlier.plan_id == PlanPhase.plan_id, earlier.seq < PlanPhase.seq, earlier.ended_on.is_(None)
            ),
            ~_due_dose_in(PlanPhase.id),
            last_given.is_not(None),
        )
        .order_by(Patient.family_name, Patient.given_name, TreatmentPlan.id)
    )


@cache  # built once, with the day as parameters
def _awaiting_statement() -> Select[*tuple[Any, ...]]:
    today, repeat_before = bindparam("today", type_=Date()), bindparam("repeat_before", type_=Date())
    later = aliased(PlanPhase)
    review_due = (
        select(func.min(ScheduledEvent.due_on))
        .where(
            ScheduledEvent.phase_id == PlanPhase.id,
            ScheduledEvent.status == EventStatus.DUE,
            ScheduledEvent.kind == EventKind.REVIEW,
        )
        .scalar_subquery()
    )
    last_review = (
        select(func.max(ScheduledEvent.due_on))
        .where(
            ScheduledEvent.phase_id == PlanPhase.id,
            ScheduledEvent.status.in_((EventStatus.DONE, EventStatus.MISSED)),
            ScheduledEvent.kind == EventKind.REVIEW,
        )
        .scalar_subquery()
    )
    inner = (
        _phase_plan_select(PlanPhase.seq, review_due.label("review_due"), last_review.label("last_review"))
        .where(
            PlanPhase.kind == PhaseKind.INDUCTION,
            PlanPhase.dose_count.is_(None),
            PlanPhase.ended_on.is_(None),
            exists().where(later.plan_id == PlanPhase.plan_id, later.seq > PlanPhase.seq),
            _due_dose_in(PlanPhase.id),
        )
        .subquery()
    )
    return (
        select(inner)
        .where(
            or_(
                inner.c.review_due <= today,
                and_(
                    inner.c.review_due.is_(None),
                    or_(inner.c.last_review.is_(None), inner.c.last_review < repeat_before),
                ),
            )
        )
        .order_by(inner.c.family_name, inner.c.given_name, inner.c.plan_id)
    )


def _not_responding_statement(rules: MonitoringRules) -> Select[*tuple[Any, ...]]:
    def hb(*conditions: Any) -> Any:
        """The latest haemoglobin result that meets the conditions."""
        return (
            select(LabResult.value_canonical)
            .where(
                LabResult.patient_id == Patient.id,
                LabResult.test_code == rules.hb_test_code,
                LabResult.status == RecordStatus.CURRENT,
                LabResult.value_canonical.is_not(None),
                *conditions,
            )
            .order_by(LabResult.taken_on.desc(), LabResult.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    eight_weeks = _PlusDays(TreatmentPlan.start_date, literal(rules.hb_after_days))
    late_on = (
        select(LabResult.taken_on)
        .where(
            LabResult.patient_id == Patient.id,
            LabResult.test_code == rules.hb_test_code,
            LabResult.status == RecordStatus.CURRENT,
            LabResult.value_canonical.is_not(None),
            LabResult.taken_on >= eight_weeks,
        )
        .order_by(LabResult.taken_on.desc(), LabResult.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    total = sum(
        (func.coalesce(getattr(SymptomScore, c), 0) for c in SYMPTOM_COLUMNS[1:]),
        func.coalesce(getattr(SymptomScore, SYMPTOM_COLUMNS[0]), 0),
    )

    def symptoms(after: Any, *, latest: bool) -> Any:
        order = SymptomScore.scored_at.desc() if latest else SymptomScore.scored_at
        return (
            select(total)
            .where(SymptomScore.patient_id == Patient.id, SymptomScore.scored_at >= after)
            .order_by(order, SymptomScore.id.desc() if latest else SymptomScore.id)
            .limit(1)
            .scalar_subquery()
        )

    normal_low = case(
        *((Patient.sex == sex, literal(value)) for sex, value in rules.hb_normal_low.items()),
        else_=literal(min(rules.hb_normal_low.values())),
    )
    inner = (
        _live_patient(
            select(
                *_PATIENT_COLUMNS,
                TreatmentPlan.id.label("plan_id"),
                hb(LabResult.taken_on <= TreatmentPlan.start_date).label("hb_before"),
                hb(LabResult.taken_on >= eight_weeks).label("hb_after"),
                late_on.label("hb_after_on"),
                normal_low.label("hb_normal_low"),
                symptoms(TreatmentPlan.start_date, latest=False).label("symptoms_first"),
                symptoms(
                    _PlusDays(TreatmentPlan.start_date, literal(rules.symptoms_after_days)), latest=True
                ).label("symptoms_late"),
            )
            .select_from(TreatmentPlan)
            .join(Patient, Patient.id == TreatmentPlan.patient_id)
            .where(
                # The candidates first, one index seek each: a late haemoglobin below normal, or a symptom
                # score at the review. Materialized, each of the columns above is then worked out once per
                # candidate (inlined, SQLite worked each out at every mention in the rule below: 4x slower).
                or_(
                    hb(LabResult.taken_on >= eight_weeks) < normal_low,
                    exists().where(
                        SymptomScore.patient_id == Patient.id,
                        SymptomScore.scored_at
                        >= _PlusDays(TreatmentPlan.start_date, literal(rules.symptoms_after_days)),
                    ),
                )
            )
        )
        .cte("not_responding_candidates")
        .prefix_with("MATERIALIZED")
    )
    c = inner.c
    return (
        select(inner)
        .where(
            or_(
                and_(
                    c.hb_after < c.hb_normal_low,
                    c.hb_before.is_not(None),
                    c.hb_after - c.hb_before < rules.hb_min_rise,
                ),
                and_(c.symptoms_first > 0, c.symptoms_late >= c.symptoms_first),
            )
        )
        .order_by(c.family_name, c.given_name, c.plan_id)
    )


def worklist(session: Session, actor: Actor, name: Worklist, *, today: date | None = None) -> list[WorkItem]:
    """The rows of one worklist on `today` (the clinic's day): one statement, rows in plain words."""
    require(session, actor, Permission.READ_PATIENTS)
    # The clinic's clock is read (a query) only where instants become clinic days: the lapsed list's
    # statement, and the rows of the ready list; the others need only `today`.
    read_clock = today is None or name == Worklist.LAPSED
    clock = clinic.clinic_clock(session) if read_clock else _UTC_CLOCK
    today = today or clock.today()
    rows = session.execute(worklist_statement(name, today, clock)).all()
    if rows and not read_clock and name == Worklist.READY_FOR_MAINTENANCE:
        clock = clinic.clinic_clock(session)
    return _ROW_MAKERS[name](rows, today, clock)


_UTC_CLOCK = Clock(UTC)  # for statements that need no clinic day


def _event_items(
    name: Worklist,
    rows: Sequence[Any],
    today: date,
    kind: EventKind | None = EventKind.DOSE,
    *,
    say_closed: bool = False,
) -> list[WorkItem]:
    """Rows of the event lists (DueRow's columns, then the event's kind where it varies)."""
    kinds = _KINDS
    out = []
    for r in rows:
        event_kind = kinds[r[10]] if len(r) > 10 else kind
        window_end = r[9]
        detail = f"window closed {window_end.isoformat()}" if say_closed and today > window_end else ""
        out.append(
            WorkItem(
                name,
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[0],
                event_kind,
                r[7],
                r[8],
                window_end,
                None,
                detail,
            )
        )
    return out


def _today_items(rows: Sequence[Any], today: date, clock: Clock) -> list[WorkItem]:
    items = _event_items(Worklist.TODAY, rows, today)
    order = {EventKind.DOSE: 0, EventKind.LAB: 1, EventKind.REVIEW: 2}
    items.sort(
        key=lambda i: (i.due_on or today, order[i.kind or EventKind.DOSE], i.family_name, i.given_name)
    )
    return items


def _overdue_items(rows: Sequence[Any], today: date, clock: Clock) -> list[WorkItem]:
    return _event_items(Worklist.OVERDUE, rows, today, say_closed=True)


def _task_items(rows: Sequence[Any], today: date, clock: Clock) -> list[WorkItem]:
    items = _event_items(Worklist.TASKS, rows, today, kind=None, say_closed=True)
    items.sort(key=lambda i: (not i.overdue(today), i.due_on or today))  # stable: then as the query ordered
    return items


def _lapsed_items(rows: Sequence[Any], today: date, clock: Clock) -> list[WorkItem]:
    out = []
    for r in rows:
        interval, last, start = r[10], r[11], r[12]
        since = clock.day_of(last) if last is not None else None
        gap = (today - (since or start)).days
        words = (
            f"last dose {since.isoformat()}"
            if since
            else f"no dose since the plan began on {start.isoformat()}"
        )
        detail = f"{words}, {gap} days ago; maintenance every {interval} days: book a dose and ask why"
        out.append(
            WorkItem(
                Worklist.LAPSED,
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[0],
                EventKind.DOSE,
                r[7],
                r[8],
                r[9],
                since,
                detail,
            )
        )
    out.sort(key=lambda i: (i.since or date.min, i.family_name, i.given_name))
    return out


def _ready_items(rows: Sequence[Any], today: date, clock: Clock) -> list[WorkItem]:
    out = []
    for pid, mrn, family, given, born, plan_id, seq, count, next_kind, next_interval, waits, last in rows:
        since = clock.day_of(last) if last is not None else None
        nxt = PhaseKind(next_kind).value
        every = f" every {next_interval} days" if next_interval else ""
        detail = f"phase {seq}: all {count} doses given; the {nxt} phase{every} " + (
            "waits for the response review: record it (End phase)"
            if waits
            else "is scheduled: confirm the response (End phase)"
        )
        out.append(
            WorkItem(
                Worklist.READY_FOR_MAINTENANCE,
                pid,
                mrn,
                family,
                given,
                born,
                plan_id,
                None,
                None,
                f"Induction complete ({count} doses)",
                None,
                None,
                since,
                detail,
            )
        )
    return out


def _awaiting_items(rows: Sequence[Any], today: date, clock: Clock) -> list[WorkItem]:
    out = []
    for pid, mrn, family, given, born, plan_id, seq, review_due, last_review in rows:
        if review_due is not None:
            detail = f"review due {review_due.isoformat()}: still improving? If not, end the phase"
        elif last_review is not None:
            detail = f"last review {last_review.isoformat()}: review again (still improving?)"
        else:
            detail = "no review scheduled: still improving? If not, end the phase"
        out.append(
            WorkItem(
                Worklist.AWAITING_REVIEW,
                pid,
                mrn,
                family,
                given,
                born,
                plan_id,
                None,
                EventKind.REVIEW,
                f"Open-ended phase {seq}",
                review_due,
                None,
                last_review,
                detail,
            )
        )
    return out


def _not_responding_items(rows: Sequence[Any], today: date, clock: Clock) -> list[WorkItem]:
    rules = monitoring_rules()
    out = []
    for r in rows:
        pid, mrn, family, given, born, plan_id, before, after, after_on, low, sym_first, sym_late = r
        reasons = []
        if after is not None and before is not None and after < low and after - before < rules.hb_min_rise:
            reasons.append(
                f"haemoglobin {_num(after)} g/L on {after_on.isoformat()} against {_num(before)} g/L before "
                f"treatment (below {_num(low)}, risen less than {_num(rules.hb_min_rise)})"
            )
        if sym_first is not None and sym_late is not None and sym_first > 0 and sym_late >= sym_first:
            reasons.append(f"symptom score {sym_late} at review against {sym_first} at the start")
        detail = "; ".join(reasons) + ". " + rules.reassess_action
        out.append(
            WorkItem(
                Worklist.NOT_RESPONDING,
                pid,
                mrn,
                family,
                given,
                born,
                plan_id,
                None,
                None,
                "Not responding as expected",
                None,
                None,
                after_on,
                detail,
            )
        )
    return out


def _num(value: Any) -> str:
    return format(Decimal(value).normalize(), "f")


_ROW_MAKERS: dict[Worklist, Callable[[Sequence[Any], date, Clock], list[WorkItem]]] = {
    Worklist.TODAY: _today_items,
    Worklist.OVERDUE: _overdue_items,
    Worklist.TASKS: _task_items,
    Worklist.LAPSED: _lapsed_items,
    Worklist.READY_FOR_MAINTENANCE: _ready_items,
    Worklist.AWAITING_REVIEW: _awaiting_items,
    Worklist.NOT_RESPONDING: _not_responding_items,
}


# --- the month view ------------------------------------------------------------------------------------


class DayStatus(StrEnum):
    DUE = "due"
    DONE = "done"
    OVERDUE = "overdue"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    kind: EventKind
    status: DayStatus
    count: int


_NOT_GIVEN = (AdministrationOutcome.REFUSED, AdministrationOutcome.HELD, AdministrationOutcome.NOT_GIVEN)


def _calendar_parts(
    start: date, end: date, today: date, clock: Clock
) -> tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    """What a span of the calendar holds, as (day, kind, status, event id or None, administration id or
    None) rows: the lab and review tasks and the doses still due from the scheduled events (a task by the
    day it is due); the doses given or not given from the administrations (by the clinic day they were
    recorded for). A dose's done event is not counted again: its administration stands for it."""
    shown = case(
        (
            and_(ScheduledEvent.status == EventStatus.DUE, ScheduledEvent.window_end < today),
            DayStatus.OVERDUE.value,
        ),
        else_=type_coerce(ScheduledEvent.status, String),
    )
    events = (
        select(
            ScheduledEvent.due_on.label("day"),
            type_coerce(ScheduledEvent.kind, String).label("kind"),
            shown.label("status"),
        )
        .join(Patient, Patient.id == ScheduledEvent.patient_id)
        .where(
            ScheduledEvent.due_on >= start,
            ScheduledEvent.due_on <= end,
            Patient.archived.is_(False),
            or_(
                ScheduledEvent.status.in_((EventStatus.DUE, EventStatus.MISSED)),
                and_(ScheduledEvent.status == EventStatus.DONE, ScheduledEvent.kind != EventKind.DOSE),
            ),
        )
    )
    first, after = clock.start_of_day(start), clock.start_of_day(end + timedelta(days=1))
    given_day = _clinic_day(Administration.given_at, clock, first, after)
    doses = (
        select(
            given_day.label("day"),
            literal(EventKind.DOSE.value, String).label("kind"),
            case(
                (Administration.outcome == AdministrationOutcome.GIVEN, DayStatus.DONE.value),
                else_=DayStatus.MISSED.value,
            ).label("status"),
        )
        .join(Patient, Patient.id == Administration.patient_id)
        .where(
            Administration.given_at >= first,
            Administration.given_at < after,
            Administration.status == RecordStatus.CURRENT,
            Patient.archived.is_(False),
        )
    )
    return events, doses


def month_statement(start: date, end: date, today: date, clock: Clock) -> Select[*tuple[Any, ...]]:
    events, doses = _calendar_parts(start, end, today, clock)
    both = union_all(events, doses).subquery()
    return (
        select(type_coerce(both.c.day, String), both.c.kind, both.c.status, func.count())
        .group_by(both.c.day, both.c.kind, both.c.status)
        .order_by(both.c.day, both.c.kind, both.c.status)
    )


def month_counts(
    session: Session, actor: Actor, start: date, end: date, *, today: date | None = None
) -> list[DayCount]:
    """Per day from `start` to `end` (inclusive), per kind (dose, lab, review) and status (due, done,
    overdue, missed), how many: one statement. Cancelled events are not counted."""
    require(session, actor, Permission.READ_PATIENTS)
    if end < start:
        raise ValidationFailed({"end": "The last day comes before the first."})
    clock = clinic.clinic_clock(session)
    today = today or clock.today()
    return [
        DayCount(
            day if isinstance(day, date) else date.fromisoformat(str(day)[:10]),
            EventKind(kind),
            DayStatus(status),
            n,
        )
        for day, kind, status, n in session.execute(month_statement(start, end, today, clock))
    ]


@dataclass(frozen=True, slots=True)
class DayEntry:
    """One thing on a day of the calendar: a task or due dose (event_id), or a dose recorded
    (administration_id)."""

    day: date
    kind: EventKind
    status: DayStatus
    patient_id: int
    mrn: str
    family_name: str
    given_name: str
    label: str
    event_id: int | None
    administration_id: int | None
    close_note: str
    lab_result_id: int | None


def day_entries(session: Session, actor: Actor, day: date, *, today: date | None = None) -> list[DayEntry]:
    """Everything one calendar day holds, by patient: one statement."""
    require(session, actor, Permission.READ_PATIENTS)
    clock = clinic.clinic_clock(session)
    today = today or clock.today()
    shown = case(
        (
            and_(ScheduledEvent.status == EventStatus.DUE, ScheduledEvent.window_end < today),
            DayStatus.OVERDUE.value,
        ),
        else_=type_coerce(ScheduledEvent.status, String),
    )
    events = (
        select(
            type_coerce(ScheduledEvent.kind, String).label("kind"),
            shown.label("status"),
            Patient.id.label("patient_id"),
            Patient.mrn,
            Patient.family_name,
            Patient.given_name,
            ScheduledEvent.label.label("label"),
            ScheduledEvent.id.label("event_id"),
            literal(None, Integer).label("administration_id"),
            ScheduledEvent.close_note.label("close_note"),
            ScheduledEvent.lab_result_id.label("lab_result_id"),
        )
        .join(Patient, Patient.id == ScheduledEvent.patient_id)
        .where(
            ScheduledEvent.due_on == day,
            Patient.archived.is_(False),
            or_(
                ScheduledEvent.status.in_((EventStatus.DUE, EventStatus.MISSED)),
                and_(ScheduledEvent.status == EventStatus.DONE, ScheduledEvent.kind != EventKind.DOSE),
            ),
        )
    )
    doses = (
        select(
            literal(EventKind.DOSE.value, String).label("kind"),
            case(
                (Administration.outcome == AdministrationOutcome.GIVEN, DayStatus.DONE.value),
                else_=DayStatus.MISSED.value,
            ).label("status"),
            Patient.id,
            Patient.mrn,
            Patient.family_name,
            Patient.given_name,
            type_coerce(Administration.outcome, String),
            literal(None, Integer),
            Administration.id,
            Administration.note,
            literal(None, Integer),
        )
        .join(Patient, Patient.id == Administration.patient_id)
        .where(
            Administration.given_at >= clock.start_of_day(day),
            Administration.given_at < clock.start_of_day(day + timedelta(days=1)),
            Administration.status == RecordStatus.CURRENT,
            Patient.archived.is_(False),
        )
    )
    both = union_all(events, doses).subquery()
    out = []
    for kind, status, pid, mrn, family, given, label, event_id, adm_id, note, result_id in session.execute(
        select(both).order_by(both.c.family_name, both.c.given_name, both.c.kind, both.c.label)
    ):
        if adm_id is not None:
            label = (
                "Dose given"
                if status == DayStatus.DONE.value
                else f"Dose not given ({label.replace('_', ' ')})"
            )
        out.append(
            DayEntry(
                day,
                EventKind(kind),
                DayStatus(status),
                pid,
                mrn,
                family,
                given,
                label,
                event_id,
                adm_id,
                note or "",
                result_id,
            )
        )
    return out
