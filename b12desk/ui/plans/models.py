"""The plan screens' table models: schedules, plans, history; and the table layouts they use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QAbstractTableModel, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QSplitter,
    QTableView,
    QWidget,
)

from b12desk.domain.enums import EventKind, PhaseKind, PlanStatus
from b12desk.domain.schedule import DoseStatus, Schedule
from b12desk.domain.units import (
    format_dose,
)
from b12desk.services.plans import PlanRow
from b12desk.ui.plans.common import (
    ACTION_LABELS,
    DUE_AMBER,
    DUE_DATE_ROLE,
    KIND_LABELS,
    OVERDUE_RED,
    SCHEDULE_STATUS_LABELS,
    SHORT_STATUS,
    STATUS_ROLE,
    WEEKDAYS,
    history_changes_text,
    route_text,
    verified_text,
)
from b12desk.ui.table_model import (
    TOP_LEFT,
    Column,
    RowsModel,
    bold_font,
)
from b12desk.ui.widgets import (
    format_date,
    format_local_time,
    setup_record_table,
    text_width,
)

# --- table models --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One line of a schedule: a dose or a monitoring task."""

    due: date
    kind: EventKind
    phase: str
    what: str
    status: DoseStatus | None  # None in a preview, where nothing is due yet


def schedule_entries(
    schedule: Schedule,
    *,
    strength: Decimal | None,
    phases: Sequence[tuple[PhaseKind, int | None]],
    today: date | None,
    until: date | None = None,
) -> list[ScheduleEntry]:
    """The doses still to give and the tasks still open (all of them in a preview, when today is None),
    up to `until` when given: a schedule names a task's first date however far off it is, and a table
    labelled "next 12 months" lists exactly those.

    A task's done-or-not lives with the lab results, not in the schedule, so tasks whose window has
    passed are left out rather than shown as overdue.
    """
    entries: list[ScheduleEntry] = []
    for dose in schedule.doses:
        if today is not None and dose.given_on is not None:
            continue
        if until is not None and dose.due > until:
            continue
        count = phases[dose.phase_index][1] if dose.phase_index < len(phases) else None
        phase = f"{dose.phase_kind.value.capitalize()} {dose.number}" + (f" of {count}" if count else "")
        status = dose.status if today is not None else None
        entries.append(
            ScheduleEntry(dose.due, EventKind.DOSE, phase, format_dose(dose.dose_mcg, strength), status)
        )
    for task in schedule.tasks:
        if until is not None and task.due > until:
            continue
        task_status: DoseStatus | None = None
        if today is not None:
            if task.window_end < today:
                continue
            task_status = DoseStatus.DUE if task.due <= today else DoseStatus.PLANNED
        if task.phase_index is None:
            phase = "Baseline"
        elif task.phase_index < len(phases):
            phase = phases[task.phase_index][0].value.capitalize()
        else:
            phase = ""
        entries.append(ScheduleEntry(task.due, task.kind, phase, task.label, task_status))
    entries.sort(key=lambda e: (e.due, e.kind != EventKind.DOSE, e.what))
    return entries


def _schedule_colour(e: ScheduleEntry) -> QColor | None:
    if e.status == DoseStatus.OVERDUE:
        return OVERDUE_RED
    return DUE_AMBER if e.status == DoseStatus.DUE else None


class ScheduleModel(RowsModel[ScheduleEntry]):
    """Doses and monitoring tasks by date; overdue doses in red, doses due today in amber."""

    columns = (
        Column[ScheduleEntry]("Date", lambda e: format_date(e.due)),
        Column[ScheduleEntry]("Day", lambda e: WEEKDAYS[e.due.weekday()]),
        Column[ScheduleEntry]("Kind", lambda e: KIND_LABELS.get(e.kind, e.kind.value)),
        Column[ScheduleEntry]("Phase", lambda e: e.phase),
        Column[ScheduleEntry]("What", lambda e: e.what),
        Column[ScheduleEntry](
            "Status", lambda e: SCHEDULE_STATUS_LABELS[e.status] if e.status is not None else "Planned"
        ),
    )
    COL_DATE, COL_DAY, COL_KIND, COL_PHASE, COL_WHAT, COL_STATUS = range(6)
    text_tooltips = True

    def records(self) -> list[ScheduleEntry]:
        return self.rows()

    def foreground(self, row: ScheduleEntry, column: int) -> QColor | None:
        return _schedule_colour(row)

    def font(self, row: ScheduleEntry, column: int) -> QFont | None:
        return bold_font() if _schedule_colour(row) is not None else None

    def extra(self, row: ScheduleEntry, column: int, role: int) -> Any:
        if role == DUE_DATE_ROLE:
            return row.due
        if role == STATUS_ROLE:
            return row.status
        return None

    def dose_dates(self) -> list[date]:
        return [e.due for e in self._rows if e.kind == EventKind.DOSE]


class PlansModel(RowsModel[PlanRow]):
    columns = (
        Column[PlanRow]("Status", lambda p: SHORT_STATUS.get(p.status, p.status.value)),
        Column[PlanRow]("Template", lambda p: f"{p.template_name} (v{p.template_version})"),
        Column[PlanRow]("Dose", lambda p: p.dose_text),
        Column[PlanRow]("Route", lambda p: route_text(p.route)),
        Column[PlanRow]("Start", lambda p: format_date(p.start_date)),
        Column[PlanRow]("Prescriber", lambda p: p.prescriber),
        Column[PlanRow]("Verified by, at (meaning)", verified_text),
    )
    text_tooltips = True

    def foreground(self, row: PlanRow, column: int) -> QColor | None:
        if column == 0 and row.status == PlanStatus.DRAFT:
            return DUE_AMBER
        if row.status in (PlanStatus.COMPLETED, PlanStatus.STOPPED):
            return QColor("#7a7a7a")
        return None

    def row_id(self, row: PlanRow) -> int:
        return row.id

    def row_of(self, plan_id: int) -> int | None:
        return self.find(lambda p: p.id == plan_id)


@dataclass(frozen=True, slots=True)
class HistoryLine:
    when: str
    who: str
    action: str
    changes: str
    reason: str


class PlanHistoryModel(RowsModel[HistoryLine]):
    columns = (
        Column[HistoryLine]("When", lambda h: h.when, TOP_LEFT),
        Column[HistoryLine]("Who", lambda h: h.who, TOP_LEFT),
        Column[HistoryLine]("Action", lambda h: h.action, TOP_LEFT),
        Column[HistoryLine]("Changes (field: old -> new)", lambda h: h.changes, TOP_LEFT),
        Column[HistoryLine]("Reason", lambda h: h.reason, TOP_LEFT),
    )
    text_tooltips = True


def make_table(model: QAbstractTableModel, samples: Sequence[str] = ()) -> QTableView:
    """A read-only, single-selection table whose first columns are as wide as their sample texts."""
    table = QTableView()
    table.setModel(model)
    setup_record_table(table)
    table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    for column, sample in enumerate(samples):
        table.setColumnWidth(column, text_width(table, sample))
    return table


def schedule_table(model: ScheduleModel, *, with_status: bool = True) -> QTableView:
    table = make_table(
        model,
        ("2026-00-00", "Wed", "Lab test", "Induction 10 of 10", "Full blood count at 8 weeks: haemoglobin  "),
    )
    table.setColumnHidden(ScheduleModel.COL_STATUS, not with_status)
    return table


def select_or_first(table: QTableView, row: int | None) -> None:
    """Select the row, or the first one when it is gone; nothing in an empty table."""
    if row is None and table.model().rowCount():
        row = 0
    if row is not None:
        table.selectRow(row)


def list_over_details(table: QWidget, details: QWidget, sizes: tuple[int, int]) -> QSplitter:
    """The list on top keeps its height; the selected row's details below take what the window gains."""
    split = QSplitter(Qt.Orientation.Vertical)
    split.addWidget(table)
    split.addWidget(details)
    split.setStretchFactor(0, 0)
    split.setStretchFactor(1, 1)
    split.setSizes(list(sizes))
    return split


def history_lines(
    rows: Sequence[tuple[Any, str, str, str, str]], template_names: Mapping[int, str]
) -> list[HistoryLine]:
    return [
        HistoryLine(
            format_local_time(when),
            who,
            ACTION_LABELS.get(action, action.replace("_", " ")),
            history_changes_text(action, changes, template_names),
            reason,
        )
        for when, who, action, changes, reason in rows
    ]
