"""The schedule engine: from a plan's phases and the doses given so far, the doses and tasks still due.

Rules (clinical-facts 1 and 2):
- Doses given so far fill the phases in order; a phase with an end date (a review ended it, or it was
  completed elsewhere) takes only the doses given on or before that date.
- A late or missed induction dose moves the rest of the phase, not the past: the first outstanding dose
  keeps its due date (and shows as overdue); the doses after it count from today at the earliest.
- The next phase counts from the last dose of the one before (maintenance from the last induction dose).
- Doses fall on the clinic's open days: a due date on a closed day moves to the next open day.
- A phase that ends with a review (the FDA label's reticulocyte response) holds the next phase back
  once its doses are given, until a review ends it: the schedule says it is waiting.
- An oral phase is taken at home: it schedules its monitoring tasks from its first day, and no dose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from b12desk.domain.enums import EventKind, PhaseKind
from b12desk.domain.regimens import PhaseDef, TaskDef

ALL_DAYS = frozenset(range(7))
MAX_DOSES = 2000  # a guard against a runaway horizon; 2000 daily doses is over five years


class DoseStatus(StrEnum):
    GIVEN = "given"
    OVERDUE = "overdue"
    DUE = "due"  # today is inside its window
    PLANNED = "planned"


@dataclass(frozen=True, slots=True)
class PlannedDose:
    phase_index: int
    phase_kind: PhaseKind
    number: int  # 1-based within the phase
    due: date
    window_end: date
    dose_mcg: Decimal
    given_on: date | None
    status: DoseStatus


@dataclass(frozen=True, slots=True)
class PlannedTask:
    phase_index: int | None  # None for baseline tasks
    kind: EventKind
    label: str
    lab_test_code: str | None
    due: date
    window_end: date


@dataclass(frozen=True, slots=True)
class Schedule:
    doses: tuple[PlannedDose, ...]
    tasks: tuple[PlannedTask, ...]
    current_phase: int | None  # index of the phase the next outstanding dose belongs to
    waiting_for_review: int | None = None  # a phase whose doses are done, waiting for its review

    def next_dose(self) -> PlannedDose | None:
        return next((d for d in self.doses if d.given_on is None), None)

    def outstanding(self) -> list[PlannedDose]:
        return [d for d in self.doses if d.given_on is None]


def next_open_day(d: date, open_days: frozenset[int]) -> date:
    days = open_days or ALL_DAYS
    for _ in range(7):
        if d.weekday() in days:
            return d
        d += timedelta(days=1)
    return d


def _status(due: date, window_end: date, today: date) -> DoseStatus:
    if today > window_end:
        return DoseStatus.OVERDUE
    if today >= due:
        return DoseStatus.DUE
    return DoseStatus.PLANNED


def build_schedule(
    phases: Sequence[PhaseDef],
    *,
    start: date,
    given: Iterable[date],
    today: date,
    until: date,
    open_days: frozenset[int] = ALL_DAYS,
    phase_ended_on: Mapping[int, date] | None = None,
    conditions: frozenset[str] = frozenset(),
    baseline_tasks: Sequence[TaskDef] = (),
) -> Schedule:
    """Deterministic: the same inputs always give the same schedule."""
    given_dates = sorted(given)
    ended = dict(phase_ended_on or {})
    doses: list[PlannedDose] = []
    tasks: list[PlannedTask] = []
    g = 0
    prev: date | None = None  # date of the previous dose, given or projected
    current_phase: int | None = None
    first_of_phase: dict[int, date] = {}
    outstanding = 0
    waiting: int | None = None
    for index, phase in enumerate(phases):
        end = ended.get(index)
        if phase.taken_at_home:  # oral: no dose is scheduled or recorded, the tasks run from its first day
            first_of_phase[index] = start if prev is None else prev
            if current_phase is None and end is None:
                current_phase = index
            break
        number = 0
        while len(doses) < MAX_DOSES:
            if phase.dose_count is not None and number >= phase.dose_count:
                break
            raw_due = start if prev is None else prev + timedelta(days=phase.min_gap_days)
            due = next_open_day(raw_due, open_days)
            window_end = due + timedelta(days=phase.window_days)
            if g < len(given_dates) and (end is None or given_dates[g] <= end):
                actual = given_dates[g]
                g += 1
                number += 1
                doses.append(
                    PlannedDose(
                        index, phase.kind, number, due, window_end, phase.dose_mcg, actual, DoseStatus.GIVEN
                    )
                )
                first_of_phase.setdefault(index, actual)
                prev = actual
                continue
            if end is not None or due > until:
                break
            number += 1
            outstanding += 1
            if current_phase is None:
                current_phase = index
            doses.append(
                PlannedDose(
                    index,
                    phase.kind,
                    number,
                    due,
                    window_end,
                    phase.dose_mcg,
                    None,
                    _status(due, window_end, today),
                )
            )
            first_of_phase.setdefault(index, due)
            # The doses after an overdue one count from when it can still be given: today at the earliest.
            prev = max(due, today) if outstanding == 1 else due
        counted_out = phase.dose_count is not None and number >= phase.dose_count
        if counted_out and end is None and phase.ends_with_review and index + 1 < len(phases):
            waiting = index  # every dose given or planned: the next phase waits for the review
            break
        finished = end is not None or counted_out
        if not finished:
            break  # the next phase cannot start before this one is done (or a review ends it)
    for index, phase in enumerate(phases):
        if index not in first_of_phase:
            continue
        phase_end = ended.get(index, until)
        for task in phase.tasks:
            tasks.extend(
                _task_dates(task, index, first_of_phase[index], min(phase_end, until), conditions, open_days)
            )
    for task in baseline_tasks:
        tasks.extend(_task_dates(task, None, start, until, conditions, open_days))
    tasks.sort(key=lambda t: (t.due, t.kind.value, t.label))
    if waiting is not None and any(d.phase_index == waiting and d.given_on is None for d in doses):
        waiting = None  # doses of the phase still to give: it is not waiting yet
    return Schedule(tuple(doses), tuple(tasks), current_phase, waiting)


def _task_dates(
    task: TaskDef,
    phase_index: int | None,
    anchor: date,
    until: date,
    conditions: frozenset[str],
    open_days: frozenset[int],
) -> list[PlannedTask]:
    if task.condition is not None and task.condition not in conditions:
        return []
    out: list[PlannedTask] = []
    nominal = anchor + timedelta(days=task.offset_days)
    while nominal <= until or not out:
        due = next_open_day(nominal, open_days)  # reviews and blood tests happen when the clinic is open
        window_end = max(due, nominal + timedelta(days=task.window_days))
        out.append(PlannedTask(phase_index, task.kind, task.label, task.lab_test_code, due, window_end))
        if task.repeat_every_days is None:
            break
        nominal += timedelta(days=task.repeat_every_days)
        if nominal > until:
            break
    return out
