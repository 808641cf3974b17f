"""Treatment plans: the editor with a live schedule preview; a patient's plans, schedule and history."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from PySide6.QtCore import QAbstractTableModel, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from b12desk.domain.enums import CAUSE_LABELS, EventKind, Formulation, PhaseKind, PlanStatus, Route
from b12desk.domain.patients import PATIENT_FIELD_LABELS
from b12desk.domain.permissions import Permission, role_can
from b12desk.domain.regimens import PhaseDef
from b12desk.domain.schedule import DoseStatus, Schedule
from b12desk.domain.units import (
    QuantityError,
    dose_volume_ml,
    format_dose,
    format_mcg,
    format_ml,
    format_strength,
    parse_dose_mcg,
)
from b12desk.services import administrations, auth, clinic, patients
from b12desk.services import plans as plan_service
from b12desk.services.common import ServiceError, ValidationFailed
from b12desk.services.patients import PatientDetail
from b12desk.services.plans import PlanInput, PlanRow, TemplateRow
from b12desk.ui.context import PLANS, TEMPLATES, AppContext
from b12desk.ui.findings import FindingsPanel
from b12desk.ui.style import ERROR_RED, WARNING_AMBER
from b12desk.ui.table_model import (
    FIRST_FREE_ROLE,
    ROW_ID_ROLE,
    TOP_LEFT,
    Column,
    RowsModel,
    bold_font,
)
from b12desk.ui.widgets import (
    ErrorLabel,
    FieldErrors,
    MessageLabel,
    format_date,
    format_local_time,
    parse_iso_date,
    setup_record_table,
    text_width,
)

# Named roles of the plan screens' tables, besides table_model.ROW_ROLE (the row's dataclass).
RECORD_ID_ROLE = ROW_ID_ROLE  # its database id, where it has one
DUE_DATE_ROLE = FIRST_FREE_ROLE  # schedule rows: the date as a date
STATUS_ROLE = FIRST_FREE_ROLE + 1  # schedule rows: DoseStatus (None in a preview)

PREVIEW_DAYS = 365
DATE_PLACEHOLDER = "YYYY-MM-DD"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ROUTE_SHORT = {Route.IM: "IM", Route.DEEP_SC: "Deep SC", Route.SC: "SC", Route.IV: "IV", Route.ORAL: "Oral"}
ROUTE_LABELS = {
    Route.IM: "IM – intramuscular",
    Route.DEEP_SC: "Deep SC – deep subcutaneous",
    Route.SC: "SC – subcutaneous",
    Route.IV: "IV – intravenous",
    Route.ORAL: "Oral",
}
SHORT_STATUS = {
    PlanStatus.DRAFT: "Draft – not verified",
    PlanStatus.VERIFIED: "Verified",
    PlanStatus.ACTIVE: "Active",
    PlanStatus.COMPLETED: "Completed",
    PlanStatus.STOPPED: "Stopped",
}
STATUS_LABELS = {
    PlanStatus.DRAFT: "Draft – awaiting verification",
    PlanStatus.VERIFIED: "Verified",
    PlanStatus.ACTIVE: "Active",
    PlanStatus.COMPLETED: "Completed",
    PlanStatus.STOPPED: "Stopped",
}
CONDITION_LABELS = {
    "severe_anaemia": "severe anaemia",
    "pregnant_or_breastfeeding": "pregnant or breastfeeding",
}
SCHEDULE_STATUS_LABELS = {
    DoseStatus.OVERDUE: "Overdue",
    DoseStatus.DUE: "Due",
    DoseStatus.PLANNED: "Planned",
    DoseStatus.GIVEN: "Given",
}
KIND_LABELS = {EventKind.DOSE: "Dose", EventKind.LAB: "Lab test", EventKind.REVIEW: "Review"}
ACTION_LABELS = {
    "create": "Created (draft)",
    "update": "Edited – back to draft",
    "verify": "Verified",
    "end_phase": "Phase ended at review",
    "complete": "Completed",
    "stop": "Stopped",
    "return_for_review": "Back to the pharmacist – patient changed",
}
FIELD_LABELS = {
    "template": "Template",
    "formulation": "Formulation",
    "strength_mcg_per_ml": "Strength",
    "dose_mcg": "Dose",
    "route": "Route",
    "start_date": "Start date",
    "prescriber": "Prescriber",
    "indication": "Indication",
    "hypersensitivity": "Override reason",
    "password": "Password",
    "reason": "Reason for change",
}
OVERDUE_RED = QColor(ERROR_RED)
DUE_AMBER = QColor(WARNING_AMBER)


def route_text(route: Route) -> str:
    return ROUTE_SHORT.get(route, route.value)


def conditions_text(conditions: frozenset[str] | set[str]) -> str:
    return ", ".join(CONDITION_LABELS.get(c, c.replace("_", " ")) for c in sorted(conditions)) or "none"


def phase_description(phase: plan_service.PhaseRow) -> str:
    """A plan's phase in the words the template viewer uses, with how a review ended it."""
    text = PhaseDef(
        kind=phase.kind,
        dose_mcg=phase.dose_mcg,
        interval_days=phase.interval_days,
        times_per_week=phase.times_per_week,
        dose_count=phase.dose_count,
    ).describe()
    if phase.ended_on is not None:
        text += f" — ended {format_date(phase.ended_on)}: {phase.end_reason}"
    return text


def verified_text(plan: PlanRow) -> str:
    if plan.verified_by is None:
        return "not verified"
    return f"{plan.verified_by}, {format_local_time(plan.verified_at)} ({plan.verification_meaning})"


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
) -> list[ScheduleEntry]:
    """The doses still to give and the tasks still open (all of them in a preview, when today is None).

    A task's done-or-not lives with the lab results, not in the schedule, so tasks whose window has
    passed are left out rather than shown as overdue.
    """
    entries: list[ScheduleEntry] = []
    for dose in schedule.doses:
        if today is not None and dose.given_on is not None:
            continue
        count = phases[dose.phase_index][1] if dose.phase_index < len(phases) else None
        phase = f"{dose.phase_kind.value.capitalize()} {dose.number}" + (f" of {count}" if count else "")
        status = dose.status if today is not None else None
        entries.append(
            ScheduleEntry(dose.due, EventKind.DOSE, phase, format_dose(dose.dose_mcg, strength), status)
        )
    for task in schedule.tasks:
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


CHANGE_LABELS = {
    "template_id": "template",
    "formulation": "formulation",
    "dose_mcg": "dose",
    "strength_mcg_per_ml": "strength",
    "route": "route",
    "start_date": "start date",
    "continues_elsewhere": "continues treatment begun elsewhere",
    "review_reason": "why it came back",
    "prescriber": "prescriber",
    "indication": "indication",
    "conditions": "conditions",
    "override_reason": "override reason",
    "status": "status",
    "meaning": "meaning",
    "phase": "phase",
    "ended_on": "ended on",
    "patient_id": "patient",
}
_CHANGE_PART = re.compile(r"^([a-z_]+): (.*)$", re.DOTALL)


def change_value_text(field: str, value: Any, template_names: Mapping[int, str]) -> str:
    """A stored value as people read it: '1000' -> '1,000 mcg', 'im' -> 'IM', a template id -> its name."""
    if value is None or value == "":
        return "(none)"
    text = str(value)
    if field == "template_id" and text.isdigit():
        return template_names.get(int(text), f"template {text}")
    if field in ("dose_mcg", "strength_mcg_per_ml"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        return format_mcg(number) if field == "dose_mcg" else format_strength(number)
    if field == "continues_elsewhere":
        return "yes" if text.lower() in ("true", "1", "yes") else "no"
    if field == "route" and text in Route._value2member_map_:
        return route_text(Route(text))
    if field == "conditions":
        return ", ".join(CONDITION_LABELS.get(c, c) for c in sorted(text.split(",")) if c) or "(none)"
    return text


def split_changes(changes: str) -> list[tuple[str, list[str]]]:
    """The audit's "field: old -> new; field: value" text as (field, [old, new] or [value]).

    A piece that does not start with a known field belongs to the value before it (a '; ' typed
    inside an indication, say).
    """
    parts: list[list[str]] = []
    for piece in changes.split("; ") if changes else []:
        match = _CHANGE_PART.match(piece)
        if match and match.group(1) in CHANGE_LABELS:
            parts.append([match.group(1), match.group(2)])
        elif parts:
            parts[-1][1] += "; " + piece
        else:
            parts.append(["", piece])
    out = []
    for field, text in parts:
        old, arrow, new = text.partition(" -> ")
        out.append((field, [old, new] if arrow else [text]))
    return out


def history_template_ids(rows: Sequence[tuple[Any, str, str, str, str]]) -> set[int]:
    return {
        int(v)
        for *_, changes, _reason in rows
        for field, values in split_changes(changes)
        if field == "template_id"
        for v in values
        if v.strip().isdigit()
    }


def history_changes_text(action: str, changes: str, template_names: Mapping[int, str]) -> str:
    lines = []
    for field, values in split_changes(changes):
        if field == "patient_id":
            continue
        if action == "create" and len(values) == 1 and not values[0].strip():
            continue  # a new plan's empty fields say nothing
        shown = " -> ".join(change_value_text(field, v.strip(), template_names) for v in values)
        label = CHANGE_LABELS.get(field, field)
        lines.append(f"{label}: {shown}" if label else shown)
    return "\n".join(lines)


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


# --- signatures and plan actions -----------------------------------------------------------------------


def plan_summary_line(plan: PlanRow) -> str:
    return (
        f"{plan.patient_name} ({plan.patient_mrn}): {plan.template_name} (v{plan.template_version}), "
        f"{plan.dose_text} {route_text(plan.route)} from {format_date(plan.start_date)}"
    )


class VerifyDialog(QDialog):
    """The pharmacist's electronic signature: the meaning in words, then their password again.

    A wrong password is said beside the field and the dialog stays open; any other refusal (the
    author verifying their own version, a role that may not verify, a plan changed meanwhile) closes it
    and is handed to `on_refused`, because typing again would not help.
    """

    MEANING = "I verify the formulation, strength and schedule of this plan."

    def __init__(
        self,
        ctx: AppContext,
        plan: PlanRow,
        *,
        on_verified: Callable[[PlanRow], None],
        on_refused: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.plan = ctx, plan
        self._on_verified, self._on_refused = on_verified, on_refused
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Verify treatment plan")
        self.setMinimumWidth(520)
        what = QLabel(escape(plan_summary_line(plan)))
        what.setWordWrap(True)
        meaning = QLabel(f"<b>{escape(self.MEANING)}</b>")
        meaning.setWordWrap(True)
        who = QLabel(f"Signing as {escape(ctx.actor.full_name)}: enter your password.")
        who.setObjectName("muted")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("your password")
        self.error = ErrorLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.verify_button = buttons.addButton("Verify and sign", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(what)
        layout.addSpacing(6)
        layout.addWidget(meaning)
        layout.addWidget(who)
        layout.addWidget(self.password)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def submit(self) -> None:
        try:
            with self.ctx.db.sessions.begin() as s:
                row = plan_service.verify_plan(
                    s,
                    self.ctx.actor,
                    self.plan.id,
                    password=self.password.text(),
                    expected_version=self.plan.version_id,
                )
        except auth.AuthenticationFailed as exc:
            self.error.set_error(str(exc))
            self.password.clear()
            self.password.setFocus()
            return
        except ServiceError as exc:
            self.reject()
            self._on_refused(str(exc))
            return
        self.accept()
        self.ctx.bus.notify(PLANS)
        self._on_verified(row)


class PlanActionDialog(QDialog):
    """End a phase at a review, or stop or complete a plan: a reason, and for a review its date.

    The service's field messages show inline (e.g. stopping maintenance while the cause persists needs a
    reason); any other refusal closes the dialog and goes to `on_refused`.
    """

    def __init__(
        self,
        ctx: AppContext,
        plan: PlanRow,
        *,
        end_phase: bool,
        on_done: Callable[[PlanRow], None],
        on_refused: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.plan, self.end_phase = ctx, plan, end_phase
        self._on_done, self._on_refused = on_done, on_refused
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setMinimumWidth(560)
        self.errors = FieldErrors()
        layout = QVBoxLayout(self)
        what = QLabel(escape(plan_summary_line(plan)))
        what.setWordWrap(True)
        layout.addWidget(what)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        row = 0
        self.on_date = QLineEdit(ctx.clock.today().isoformat())
        self.on_date.setPlaceholderText(DATE_PLACEHOLDER)
        self.completed = QRadioButton("Completed – the course is finished")
        self.stopped = QRadioButton("Stopped – treatment ends early")
        self.reason = QLineEdit()
        if end_phase:
            self.setWindowTitle("End phase at review")
            current = next((p for p in plan.phases if p.ended_on is None), None)
            prompt = QLabel(
                "A clinical review ends the current phase; the next phase counts from its last dose."
                + (f"<br>Current phase: <b>{escape(phase_description(current))}</b>" if current else "")
            )
            prompt.setWordWrap(True)
            layout.addWidget(prompt)
            self._add(grid, row, "on", "Review date", self.on_date)
            row += 2
            self.reason.setPlaceholderText("the review's finding, e.g. no further improvement")
            self.ok_text = "End phase"
        else:
            self.setWindowTitle("Stop or complete plan")
            group = QButtonGroup(self)
            group.addButton(self.completed)
            group.addButton(self.stopped)
            self.stopped.setChecked(True)
            grid.addWidget(self.completed, row, 0, 1, 2)
            grid.addWidget(self.stopped, row + 1, 0, 1, 2)
            row += 2
            self.reason.setPlaceholderText("e.g. cause resolved, moved to oral, patient's informed choice")
            self.ok_text = "End plan"
        self._add(grid, row, "reason", "Reason", self.reason)
        layout.addLayout(grid)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.addButton(self.ok_text, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _add(self, grid: QGridLayout, row: int, name: str, text: str, widget: QWidget) -> None:
        label = QLabel(text)
        label.setBuddy(widget)
        error = ErrorLabel()
        grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(widget, row, 1)
        grid.addWidget(error, row + 1, 1)
        self.errors.add(name, widget, error)

    def submit(self) -> None:
        try:
            with self.ctx.db.sessions.begin() as s:
                if self.end_phase:
                    try:
                        on = parse_iso_date(self.on_date.text())
                    except ValueError:
                        on = None
                    if on is None:
                        raise ValidationFailed({"on": f"Write the review date as {DATE_PLACEHOLDER}."})
                    row = plan_service.end_phase(
                        s, self.ctx.actor, self.plan.id, on=on, reason=self.reason.text()
                    )
                else:
                    row = plan_service.stop_plan(
                        s,
                        self.ctx.actor,
                        self.plan.id,
                        completed=self.completed.isChecked(),
                        reason=self.reason.text(),
                    )
        except ValidationFailed as exc:
            unclaimed = self.errors.show(exc.errors)
            if unclaimed:
                self.reject()
                self._on_refused("\n".join(unclaimed.values()))
            return
        except ServiceError as exc:
            self.reject()
            self._on_refused(str(exc))
            return
        self.accept()
        self.ctx.bus.notify(PLANS)
        self._on_done(row)


class ExternalDosesDialog(QDialog):
    """Doses a patient had at another clinic, so the schedule starts in the right phase.

    Each date becomes a dose of the plan's dose and route, marked as given elsewhere (nothing is drawn
    from this clinic's stock), and goes through the same check as a dose given here. A future date, or one
    before the plan starts (unless the plan continues treatment begun elsewhere), is refused as it is
    added. All are saved in one transaction: a refusal of any one saves none, and the findings stay in the
    dialog, warnings with their acknowledge boxes.
    """

    def __init__(
        self,
        ctx: AppContext,
        plan: PlanRow,
        *,
        on_done: Callable[[int], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.plan, self._on_done = ctx, plan, on_done
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Doses given elsewhere")
        self.setMinimumWidth(600)
        self.errors = FieldErrors()
        layout = QVBoxLayout(self)
        what = QLabel(escape(plan_summary_line(plan)))
        what.setWordWrap(True)
        layout.addWidget(what)
        earliest = (
            "Dates before the plan's start may be entered: the plan continues treatment begun elsewhere."
            if plan.continues_elsewhere
            else f"Dates from the plan's start ({format_date(plan.start_date)}) to today. For doses before "
            "it, a pharmacist marks the plan as continuing treatment begun elsewhere."
        )
        prompt = QLabel(
            "Enter the doses given at another clinic, one date at a time (Enter or Add puts the date in the "
            "list). The schedule counts them first (induction, then maintenance); nothing is drawn from "
            f"this clinic's stock. {earliest}"
        )
        prompt.setWordWrap(True)
        prompt.setObjectName("muted")
        layout.addWidget(prompt)
        self.summary = MessageLabel()
        layout.addWidget(self.summary)

        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.dose = QLabel(plan.dose_text)
        self.dose.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.route = QLabel(ROUTE_LABELS.get(plan.route, plan.route.value))
        self.date = QLineEdit()
        self.date.setPlaceholderText(DATE_PLACEHOLDER)
        self.date.setFixedWidth(text_width(self.date, "0000-00-00") + 24)
        self.add_button = QPushButton("Add")
        self.add_button.setAutoDefault(False)
        date_row = QHBoxLayout()
        date_row.addWidget(self.date)
        date_row.addWidget(self.add_button)
        date_row.addStretch(1)
        self.dates = QListWidget()
        line = self.dates.fontMetrics().height()
        self.dates.setMinimumHeight(line * 6)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAutoDefault(False)
        self.remove_button.setEnabled(False)
        self.note = QLineEdit()
        self.note.setPlaceholderText("e.g. Cobalin-H at St Mary's")

        def label(text: str, buddy: QWidget | None = None) -> QLabel:
            widget = QLabel(text)
            if buddy is not None:
                widget.setBuddy(buddy)
            return widget

        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        grid.addWidget(label("Dose"), 0, 0, right)
        grid.addWidget(self.dose, 0, 1)
        grid.addWidget(label("Route"), 1, 0, right)
        grid.addWidget(self.route, 1, 1)
        grid.addWidget(label("Date &given", self.date), 2, 0, right)
        grid.addLayout(date_row, 2, 1)
        date_error = ErrorLabel()
        grid.addWidget(date_error, 3, 1)
        self.errors.add("given_at", self.date, date_error)
        grid.addWidget(label("Dates to save"), 4, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        list_row = QHBoxLayout()
        list_row.addWidget(self.dates, 1)
        list_row.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(list_row, 4, 1)
        grid.setRowStretch(4, 1)
        grid.addWidget(label("&Note", self.note), 5, 0, right)
        grid.addWidget(self.note, 5, 1)
        layout.addLayout(grid)
        self.findings = FindingsPanel()
        layout.addWidget(self.findings)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton("Save doses", QDialogButtonBox.ButtonRole.AcceptRole)
        # Enter belongs to the date field (it adds the date): no button is pressed by Enter.
        for button in buttons.buttons():
            if isinstance(button, QPushButton):
                button.setAutoDefault(False)
                button.setDefault(False)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.add_button.clicked.connect(self.add_date)
        self.date.returnPressed.connect(self.add_date)
        self.remove_button.clicked.connect(self.remove_date)
        self.dates.itemSelectionChanged.connect(
            lambda: self.remove_button.setEnabled(bool(self.dates.selectedItems()))
        )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()  # Enter never saves (in the date field it adds the date): Save is a click
            return
        super().keyPressEvent(event)

    def entered_dates(self) -> list[date]:
        """The dates in the list, oldest first."""
        return [self.dates.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.dates.count())]

    def add_date(self) -> bool:
        """Move the typed date into the list; a date that cannot be a dose given elsewhere is said beside
        the field (the service checks again when saving)."""
        try:
            given = parse_iso_date(self.date.text())
        except ValueError:
            given = None
        if given is None:
            self.errors.show({"given_at": f"Write the date as {DATE_PLACEHOLDER}."})
            return False
        today = self.ctx.clock.today()
        if given > today:
            self.errors.show(
                {"given_at": f"{format_date(given)} is in the future: only doses already given are entered."}
            )
            return False
        if given < self.plan.start_date and not self.plan.continues_elsewhere:
            self.errors.show(
                {
                    "given_at": f"{format_date(given)} is before the plan starts "
                    f"({format_date(self.plan.start_date)}). If treatment began at another clinic, a "
                    "pharmacist marks the plan as continuing that treatment."
                }
            )
            return False
        if given in self.entered_dates():
            self.errors.show({"given_at": f"{format_date(given)} is already in the list."})
            return False
        self.errors.clear()
        self.summary.show_text("")
        self.findings.clear()
        item = QListWidgetItem(f"{format_date(given)}  ({WEEKDAYS[given.weekday()]})")
        item.setData(Qt.ItemDataRole.UserRole, given)
        position = sum(1 for d in self.entered_dates() if d < given)
        self.dates.insertItem(position, item)
        self.date.clear()
        self.date.setFocus()
        return True

    def remove_date(self) -> None:
        for item in self.dates.selectedItems():
            self.dates.takeItem(self.dates.row(item))
        self.findings.clear()

    def save(self) -> None:
        if self.date.text().strip() and not self.add_date():
            return  # a date typed but not yet added counts, once it reads as a date
        days = self.entered_dates()
        if not days:
            self.errors.show({"given_at": "Add the date of at least one dose given elsewhere."})
            return
        try:
            with self.ctx.db.sessions.begin() as s:
                administrations.record_external_doses(
                    s,
                    self.ctx.actor,
                    plan_id=self.plan.id,
                    days=days,
                    note=self.note.text(),
                    acknowledged=self.findings.acknowledged(),
                    password=self.findings.password.text() or None,
                    clock=self.ctx.clock,
                )
        except administrations.DoseRefused as exc:
            self.errors.clear()
            self.findings.show_findings(exc.findings)
            self.summary.show_text(
                "Nothing was saved. "
                + (
                    "Correct the dates marked Stop."
                    if any(f.blocks for f in exc.findings)
                    else "Acknowledge each warning with a reason and your password, then save again."
                )
            )
            return
        except ValidationFailed as exc:
            unclaimed = self.errors.show(exc.errors)
            self.summary.show_text("\n".join(["Nothing was saved.", *unclaimed.values()]))
            return
        except ServiceError as exc:  # PermissionDenied, NotFound, a wrong password
            self.errors.clear()
            self.summary.show_text(f"Nothing was saved. {exc}")
            return
        self.accept()
        self.ctx.bus.notify(PLANS)
        self._on_done(len(days))

    def field_error(self, name: str) -> str:
        """The message shown beside a field ('' when none); for tests and accessibility checks."""
        return self.errors.message(name)


# --- the plan editor -----------------------------------------------------------------------------------


def _warning_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(
        f"QLabel {{ color: {WARNING_AMBER}; background: #fff8e6; border: 1px solid #e8c77a;"
        " border-radius: 4px; padding: 6px; }"
    )
    return label


def template_info_html(template: TemplateRow) -> str:
    """Source, phases and notes; each ⚠ (where references disagree) stands out in amber."""
    d = template.definition
    notes = escape(d.notes).replace("⚠", f'<b style="color:{WARNING_AMBER}">⚠</b>')
    phases = "".join(f"<li>{escape(p.describe())}</li>" for p in d.phases) or "<li>No phases yet.</li>"
    return f"<b>Source:</b> {escape(d.source)}<ul style='margin-top:2px; margin-bottom:2px'>{phases}</ul>" + (
        f"<b>Notes:</b> {notes}" if d.notes else ""
    )


def patient_flags(detail: PatientDetail) -> list[str]:
    data = detail.data
    names = ("flag_b12_hypersensitivity", "flag_lebers_disease", "flag_benzyl_alcohol_sensitivity")
    return [PATIENT_FIELD_LABELS[n] for n in names if getattr(data, n)]


def patient_header_html(detail: PatientDetail) -> str:
    d = detail.data
    neuro = "yes" if d.neuro_involvement else "no"
    text = (
        f"<b>{escape(d.family_name.upper())}, {escape(d.given_name)}</b> &nbsp; MRN {escape(d.mrn)}"
        f" &nbsp;·&nbsp; born {format_date(d.date_of_birth)} &nbsp;·&nbsp; {escape(CAUSE_LABELS[d.cause])}"
        f" &nbsp;·&nbsp; neurologic involvement: {neuro}"
    )
    flags = patient_flags(detail)
    if flags:
        text += f'<br><span style="color:{ERROR_RED}"><b>⚠ Recorded: {escape(", ".join(flags))}</b></span>'
    return text


class PlanEditorDialog(QDialog):
    """New or edited plan; the schedule preview follows every field as it is typed.

    Stays open with everything typed when the service refuses; each message goes beside its field.
    Loading reads the patient, templates and clinic settings in one transaction and raises the
    service's error, so the caller shows it instead of an empty form.
    """

    saved = Signal(int)  # the plan's id

    def __init__(
        self,
        ctx: AppContext,
        patient_id: int,
        plan: PlanRow | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.patient_id, self.plan = ctx, patient_id, plan
        self.result_plan: PlanRow | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        with ctx.db.sessions.begin() as s:
            self.patient = patients.get_patient(s, ctx.actor, patient_id)
            self.templates = {t.id: t for t in plan_service.list_templates(s, ctx.actor)}
            if plan is not None and plan.template_id not in self.templates:
                self.templates[plan.template_id] = plan_service.get_template(s, ctx.actor, plan.template_id)
            self.suggested = plan_service.suggest_template(s, ctx.actor, patient_id)
            self.open_days = clinic.open_days(s)
            self.strengths = {f: plan_service.stocked_strengths(s, f) for f in Formulation}
        d = self.patient.data
        title = "New treatment plan" if plan is None else "Edit treatment plan"
        self.setWindowTitle(f"{title} — {d.family_name.upper()}, {d.given_name} ({d.mrn})")
        self.errors = FieldErrors()
        self._build()
        if plan is not None:
            self._load(plan)
        else:
            preselect = self.suggested.id if self.suggested is not None else None
            self._select_template(preselect, prefill=True)
        self.template.currentIndexChanged.connect(lambda _i: self._template_changed())
        self.dose.textChanged.connect(lambda _t: self._refresh())
        self.strength.currentIndexChanged.connect(lambda _i: self._refresh())
        self.start_date.textChanged.connect(lambda _t: self._refresh())
        self.severe_anaemia.toggled.connect(lambda _c: self._refresh())
        self._refresh()

    # --- building the form ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.header = header = QLabel(patient_header_html(self.patient))
        header.setWordWrap(True)
        self.suggestion = QLabel(self._suggestion_text())
        self.suggestion.setObjectName("muted")
        self.suggestion.setWordWrap(True)

        self.template = QComboBox()
        for t in sorted(self.templates.values(), key=lambda t: (t.formulation.value, t.name)):
            self.template.addItem(f"{t.name} (v{t.version})", t.id)
        self.formulation = QLabel()
        self.formulation.setStyleSheet("QLabel { font-size: 13pt; font-weight: bold; }")
        self.strength = QComboBox()
        self.strength.setToolTip(
            "The strength of the product the doses will be drawn from. The pharmacist verifies it with "
            "the plan, and a dose from another strength is refused."
        )
        self.dose = QLineEdit()
        self.dose.setMaximumWidth(110)
        self.dose.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.dose.setPlaceholderText("e.g. 1000")
        self.volume = QLabel()
        self.volume.setStyleSheet("QLabel { font-weight: bold; }")
        self.dose_range = QLabel()
        self.dose_range.setObjectName("muted")
        dose_row = QWidget()
        dose_layout = QHBoxLayout(dose_row)
        dose_layout.setContentsMargins(0, 0, 0, 0)
        dose_layout.addWidget(self.dose)
        dose_layout.addWidget(QLabel("mcg"))
        dose_layout.addSpacing(8)
        dose_layout.addWidget(self.volume)
        dose_layout.addStretch(1)
        dose_layout.addWidget(self.dose_range)
        self.route = QComboBox()
        self.start_date = QLineEdit(self.ctx.clock.today().isoformat())
        self.start_date.setPlaceholderText(DATE_PLACEHOLDER)
        self.start_date.setMaximumWidth(110)
        self.weekday = QLabel()
        self.weekday.setObjectName("muted")
        start_row = QWidget()
        start_layout = QHBoxLayout(start_row)
        start_layout.setContentsMargins(0, 0, 0, 0)
        start_layout.addWidget(self.start_date)
        start_layout.addWidget(self.weekday, 1)
        self.prescriber = QLineEdit()
        self.prescriber.setPlaceholderText("e.g. Dr A. Shah")
        self.indication = QLineEdit()
        self.indication.setPlaceholderText("e.g. pernicious anaemia, Hb 84 g/L")
        self.severe_anaemia = QCheckBox("Severe anaemia: add the potassium check in the first 48 hours")
        self.continues_elsewhere = QCheckBox(
            "Continues treatment begun at another clinic (doses given there before the start date may "
            "be entered)"
        )

        form = QGridLayout()
        form.setColumnStretch(1, 1)
        form.setVerticalSpacing(2)
        rows: list[tuple[str, str, QWidget, QWidget]] = [
            ("template", "Template", self.template, self.template),
            ("formulation", "Formulation", self.formulation, self.formulation),
            ("strength_mcg_per_ml", "Strength", self.strength, self.strength),
            ("dose_mcg", "Dose", self.dose, dose_row),
            ("route", "Route", self.route, self.route),
            ("start_date", "Start date", self.start_date, start_row),
            ("prescriber", "Prescriber", self.prescriber, self.prescriber),
            ("indication", "Indication", self.indication, self.indication),
        ]
        r = 0
        for name, text, field, shown in rows:
            self._add_field(form, r, name, text, field, shown)
            r += 2
        form.addWidget(self.severe_anaemia, r, 1)
        r += 1
        form.addWidget(self.continues_elsewhere, r, 1)
        r += 1

        self.template_info = QLabel()
        self.template_info.setWordWrap(True)
        self.template_info.setTextFormat(Qt.TextFormat.RichText)
        self.template_info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        info_box = QGroupBox("About this template")
        info_layout = QVBoxLayout(info_box)
        info_layout.addWidget(self.template_info)

        # Revealed when the service asks for a documented override (hypersensitivity).
        self.override_box = QGroupBox("Contraindication override")
        self.override_box.setObjectName("contraindications")
        self.override_message = QLabel()
        self.override_message.setWordWrap(True)
        self.override_message.setStyleSheet(f"QLabel {{ color: {ERROR_RED}; font-weight: normal; }}")
        self.override_reason = QLineEdit()
        self.override_reason.setPlaceholderText("e.g. intradermal test dose tolerated on 2026-01-02")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("your password, as a signature")
        override_grid = QGridLayout(self.override_box)
        override_grid.setColumnStretch(1, 1)
        override_grid.setVerticalSpacing(2)
        override_grid.addWidget(self.override_message, 0, 0, 1, 2)
        self._add_field(override_grid, 1, "hypersensitivity", "Override reason", self.override_reason)
        self._add_field(override_grid, 3, "password", "Password", self.password)
        self.override_box.hide()

        self.change_warning = _warning_label()
        self.change_reason = QLineEdit()
        self.change_reason.setPlaceholderText("why the plan changes, e.g. prescriber changed")
        reason_grid = QGridLayout()
        reason_grid.setColumnStretch(1, 1)
        reason_grid.setVerticalSpacing(2)
        self._add_field(reason_grid, 0, "reason", "Reason for change", self.change_reason)
        reason_box = QWidget()
        reason_box.setLayout(reason_grid)
        reason_grid.setContentsMargins(0, 0, 0, 0)
        self.change_warning.hide()
        reason_box.setVisible(self.plan is not None)

        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(info_box, 1)
        left.addWidget(self.override_box)
        left.addWidget(self.change_warning)
        left.addWidget(reason_box)

        self.preview_model = ScheduleModel(self)
        self.preview = schedule_table(self.preview_model, with_status=False)
        self.preview_summary = QLabel()
        self.preview_summary.setWordWrap(True)
        self.preview_summary.setObjectName("muted")
        preview_box = QGroupBox("Schedule preview")
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.addWidget(self.preview_summary)
        preview_layout.addWidget(self.preview, 1)

        columns = QHBoxLayout()
        columns.addLayout(left, 5)
        columns.addSpacing(8)
        columns.addWidget(preview_box, 6)

        self.summary = MessageLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton("Save plan", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setDefault(True)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(self.suggestion)
        layout.addWidget(self.summary)
        layout.addLayout(columns, 1)
        layout.addWidget(self.buttons)
        self.resize(1220, 760)

    def _add_field(
        self,
        grid: QGridLayout,
        row: int,
        name: str,
        text: str,
        field: QWidget,
        shown: QWidget | None = None,
    ) -> None:
        label = QLabel(text)
        label.setBuddy(field)
        error = ErrorLabel()
        grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(shown or field, row, 1)
        grid.addWidget(error, row + 1, 1)
        self.errors.add(name, field, error)

    def _suggestion_text(self) -> str:
        d = self.patient.data
        why = (
            f"Suggested from cause: {CAUSE_LABELS[d.cause]} and neurologic involvement: "
            f"{'yes' if d.neuro_involvement else 'no'}"
        )
        if self.suggested is None:
            return f"{why}: no template fits; choose one."
        return f"{why} → {self.suggested.name} (v{self.suggested.version})."

    # --- template, dose and preview ------------------------------------------------------------------

    def current_template(self) -> TemplateRow | None:
        template_id = self.template.currentData()
        return self.templates.get(template_id) if template_id is not None else None

    def _select_template(self, template_id: int | None, *, prefill: bool) -> None:
        # With no suggestion nothing is chosen: the prescriber picks a template rather than accept the first.
        index = self.template.findData(template_id) if template_id is not None else -1
        self.template.blockSignals(True)
        self.template.setCurrentIndex(index)
        self.template.blockSignals(False)
        self._apply_template(prefill=prefill)

    def _template_changed(self) -> None:
        self._apply_template(prefill=True)
        self._refresh()

    def _apply_template(self, *, prefill: bool) -> None:
        """Formulation, routes and (for a new choice) the dose come from the chosen template."""
        t = self.current_template()
        keep_route = self.route.currentData()
        self.route.clear()
        if t is None:
            self.formulation.setText("")
            self.template_info.setText("")
            return
        d = t.definition
        self.formulation.setText(t.formulation.value.capitalize())
        keep_strength = self.strength.currentData()
        self.strength.blockSignals(True)
        self.strength.clear()
        stocked = self.strengths.get(t.formulation) or [plan_service.STANDARD_STRENGTH_MCG_PER_ML]
        for value in stocked:
            self.strength.addItem(format_strength(value), value)
        found = self.strength.findData(keep_strength) if keep_strength is not None else -1
        self.strength.setCurrentIndex(max(found, 0))
        self.strength.blockSignals(False)
        for route in d.routes or (d.route,):
            self.route.addItem(ROUTE_LABELS.get(route, route.value), route)
        index = self.route.findData(keep_route) if keep_route is not None else -1
        self.route.setCurrentIndex(max(index, 0))
        self.template_info.setText(template_info_html(t))
        doses = [p.dose_mcg for p in d.phases]
        lows = [p.dose_min_mcg or p.dose_mcg for p in d.phases]
        highs = [p.dose_max_mcg or p.dose_mcg for p in d.phases]
        if doses:
            low, high = min(lows), max(highs)
            span = format_mcg(low) if low == high else f"{format_mcg(low)} to {format_mcg(high)}"
            self.dose_range.setText(f"template allows {span}")
            if prefill:
                self.dose.setText(format(doses[0].normalize(), "f"))
        else:
            self.dose_range.setText("")

    def dose_value(self) -> Decimal | None:
        try:
            return parse_dose_mcg(self.dose.text())
        except QuantityError:
            return None

    def strength_value(self) -> Decimal | None:
        value = self.strength.currentData()
        return Decimal(value) if value is not None else None

    def start_value(self) -> date | None:
        try:
            return parse_iso_date(self.start_date.text())
        except ValueError:
            return None

    def conditions(self) -> frozenset[str]:
        return frozenset({"severe_anaemia"}) if self.severe_anaemia.isChecked() else frozenset()

    def _refresh(self) -> None:
        """Volume, weekday and schedule preview, from what is typed now."""
        t = self.current_template()
        dose = self.dose_value()
        strength = self.strength_value() if t is not None else None
        if dose is not None and strength:
            self.volume.setText(
                f"= {format_ml(dose_volume_ml(dose, strength))} of {format_strength(strength)}"
            )
        elif self.dose.text().strip():
            try:
                parse_dose_mcg(self.dose.text())
            except QuantityError as exc:
                self.volume.setText(str(exc).replace("The dose", "The dose").rstrip("."))
        else:
            self.volume.setText("")
        start = self.start_value()
        self.weekday.setText(WEEKDAY_NAMES[start.weekday()] if start is not None else "")
        if t is None or not t.definition.phases:
            self.preview_model.set_rows([])
            self.preview_summary.setText(
                "This template has no phases yet: a pharmacist must fill it in first."
            )
            return
        if start is None:
            self.preview_model.set_rows([])
            self.preview_summary.setText(f"Enter the start date as {DATE_PLACEHOLDER} to see the schedule.")
            return
        conditions = plan_service.schedule_conditions(
            frozenset(self.conditions()),
            pregnant_or_breastfeeding=self.patient.data.pregnant_or_breastfeeding,
        )
        schedule = plan_service.preview_schedule(
            t.definition,
            start=start,
            dose_mcg=dose,
            conditions=conditions,
            days=self.open_days,
            until=start + timedelta(days=PREVIEW_DAYS),
        )
        entries = schedule_entries(
            schedule,
            strength=strength,
            phases=[(p.kind, p.dose_count) for p in t.definition.phases],
            today=None,
        )
        self.preview_model.set_rows(entries)
        doses = sum(1 for e in entries if e.kind == EventKind.DOSE)
        tasks = len(entries) - doses
        self.preview_summary.setText(
            f"First 12 months from {format_date(start)}: {doses} doses and {tasks} monitoring tasks. "
            f"The clinic gives injections on {open_days_text(self.open_days)}; a dose due on another "
            "day moves to the next open day."
        )

    # --- loading and saving --------------------------------------------------------------------------

    def _load(self, plan: PlanRow) -> None:
        self._select_template(plan.template_id, prefill=False)
        self.dose.setText(format(plan.dose_mcg.normalize(), "f"))
        found = self.strength.findData(plan.strength_mcg_per_ml)
        if found < 0:  # a strength no longer stocked stays what it was until someone changes it
            self.strength.addItem(format_strength(plan.strength_mcg_per_ml), plan.strength_mcg_per_ml)
            found = self.strength.count() - 1
        self.strength.setCurrentIndex(found)
        self.continues_elsewhere.setChecked(plan.continues_elsewhere)
        self.route.setCurrentIndex(max(self.route.findData(plan.route), 0))
        self.start_date.setText(plan.start_date.isoformat())
        self.prescriber.setText(plan.prescriber)
        self.indication.setText(plan.indication)
        self.severe_anaemia.setChecked("severe_anaemia" in plan.conditions)
        if plan.status in (PlanStatus.VERIFIED, PlanStatus.ACTIVE):
            self.change_warning.setText(
                f"This plan is {plan.status.value}. Saving a change returns it to draft: no dose can be "
                "given until another pharmacist verifies it again. Say why it changes."
            )
            self.change_warning.show()
        if plan.override_reason:
            self.override_message.setText(f"Override on file: {plan.override_reason}")

    def read_input(self) -> tuple[PlanInput | None, dict[str, str]]:
        """The form as a PlanInput, or the fields that could not be read as typed."""
        problems: dict[str, str] = {}
        t = self.current_template()
        if t is None:
            problems["template"] = "Choose a regimen template."
        dose = None
        try:
            dose = parse_dose_mcg(self.dose.text())
        except QuantityError as exc:
            problems["dose_mcg"] = f"{exc} Enter it in micrograms, e.g. 1000 (1 mg = 1,000 mcg)."
        strength = self.strength_value()
        if strength is None and t is not None:
            problems["strength_mcg_per_ml"] = "Choose the strength of the product to be used."
        start = self.start_value()
        if start is None:
            problems["start_date"] = f"Write the start date as {DATE_PLACEHOLDER}, e.g. 2026-01-05."
        if problems or t is None or dose is None or start is None or strength is None:
            return None, problems
        data = PlanInput(
            template_id=t.id,
            formulation=t.formulation,
            dose_mcg=dose,
            route=Route(self.route.currentData()),  # Qt hands a StrEnum back as a plain str
            start_date=start,
            prescriber=self.prescriber.text(),
            indication=self.indication.text(),
            conditions=self.conditions(),
            strength_mcg_per_ml=strength,
            continues_elsewhere=self.continues_elsewhere.isChecked(),
        )
        return data, {}

    def _needs_change_reason(self) -> bool:
        return self.plan is not None and self.plan.status in (PlanStatus.VERIFIED, PlanStatus.ACTIVE)

    def save(self) -> None:
        data, problems = self.read_input()
        if self._needs_change_reason() and not self.change_reason.text().strip():
            problems["reason"] = "Say why a verified plan changes: it goes back to a pharmacist."
        if data is None or problems:
            self.show_errors(problems)
            return
        overriding = not self.override_box.isHidden() and bool(self.override_reason.text().strip())
        override_reason = self.override_reason.text() if overriding else ""
        password = (self.password.text() or None) if overriding else None
        try:
            with self.ctx.db.sessions.begin() as s:
                if self.plan is None:
                    row = plan_service.create_plan(
                        s,
                        self.ctx.actor,
                        self.patient_id,
                        data,
                        override_reason=override_reason,
                        password=password,
                    )
                else:
                    row = plan_service.update_plan(
                        s,
                        self.ctx.actor,
                        self.plan.id,
                        data,
                        expected_version=self.plan.version_id,
                        reason=self.change_reason.text(),
                        override_reason=override_reason,
                        password=password,
                    )
        except auth.AuthenticationFailed as exc:
            self.password.clear()
            self.show_errors({"password": str(exc)})
            return
        except ValidationFailed as exc:
            self.show_errors(exc.errors)
            return
        except ServiceError as exc:  # PermissionDenied, Conflict (reopen), NotFound
            self.errors.clear()
            self._show_summary(str(exc))
            return
        self.result_plan = row
        self.ctx.bus.notify(PLANS)
        self.saved.emit(row.id)
        self.accept()

    def show_errors(self, errors: dict[str, str]) -> None:
        if "hypersensitivity" in errors or "password" in errors:
            if "hypersensitivity" in errors:
                self.override_message.setText(errors["hypersensitivity"])
                errors = dict(errors)
                errors["hypersensitivity"] = (
                    "Write the documented reason for going ahead, then enter your password and save again."
                    if not self.override_reason.text().strip()
                    else errors["hypersensitivity"]
                )
            self.override_box.show()
        unclaimed = self.errors.show(errors)
        claimed = [FIELD_LABELS.get(n, n) for n in self.errors.in_form_order(errors)]
        lines = ["The plan was not saved."]
        if claimed:
            noun = "field" if len(claimed) == 1 else "fields"
            lines.append(f"Correct the highlighted {noun}: {', '.join(claimed)}.")
        lines.extend(unclaimed.values())
        self._show_summary("\n".join(lines))

    def _show_summary(self, text: str) -> None:
        self.summary.show_text(text)

    def field_error(self, name: str) -> str:
        """The message shown beside a field ('' when none); for tests and accessibility checks."""
        return self.errors.message(name)


def open_days_text(days: frozenset[int]) -> str:
    if days == frozenset(range(5)):
        return "Monday to Friday"
    if days == frozenset(range(7)):
        return "every day"
    return ", ".join(WEEKDAY_NAMES[d] for d in sorted(days))


# --- a patient's plans ---------------------------------------------------------------------------------


class PatientPlansDialog(QDialog):
    """The patient's plans, newest first; the selected plan's details, schedule and history."""

    def __init__(self, ctx: AppContext, patient_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.patient_id = ctx, patient_id
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        with ctx.db.sessions.begin() as s:
            self.patient = patients.get_patient(s, ctx.actor, patient_id)
        d = self.patient.data
        self.setWindowTitle(f"Treatment plans — {d.family_name.upper()}, {d.given_name} ({d.mrn})")

        header = QLabel(patient_header_html(self.patient))
        header.setWordWrap(True)
        self.message = MessageLabel()
        self.notice = QLabel()
        self.notice.setObjectName("muted")

        self.model = PlansModel(self)
        self.table = make_table(
            self.model,
            (
                "Draft – not verified",
                "Hydroxocobalamin 1 mg, no neurological involvement",
                "1,000 mcg (1 mL of 1,000 mcg/mL)",
                "Deep SC",
                "2026-00-00",
                "Dr A. Shahsaheb",
            ),
        )
        # Few rows, so they may wrap onto two lines rather than cut the template or the signature short.
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(120)

        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.schedule_model = ScheduleModel(self)
        self.schedule = schedule_table(self.schedule_model)
        self.schedule_note = QLabel()
        self.schedule_note.setObjectName("muted")
        self.schedule_note.setWordWrap(True)
        schedule_page = QWidget()
        schedule_layout = QVBoxLayout(schedule_page)
        schedule_layout.addWidget(self.schedule_note)
        schedule_layout.addWidget(self.schedule, 1)
        self.history_model = PlanHistoryModel(self)
        self.history = make_table(
            self.history_model,
            (
                "2026-00-00 00:00",
                "Pharmacist2",
                "Edited – back to draft",
                "prescriber: Dr A. Shah -> Dr B. Okoro, locum  ",
            ),
        )
        self.history.setWordWrap(True)
        self.history.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.pages = QTabWidget()
        self.pages.addTab(schedule_page, "Schedule")
        self.pages.addTab(self.history, "History")

        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.details)
        lower.addWidget(self.pages)
        lower.setStretchFactor(0, 2)
        lower.setStretchFactor(1, 3)
        lower.setSizes([400, 840])
        upper_lower = list_over_details(self.table, lower, (150, 560))

        self.new_button = QPushButton("New plan…")
        self.edit_button = QPushButton("Edit…")
        self.verify_button = QPushButton("Verify…")
        self.end_phase_button = QPushButton("End phase (review)…")
        self.external_button = QPushButton("Doses given elsewhere…")
        self.stop_button = QPushButton("Stop/Complete…")
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        for b in (
            self.new_button,
            self.edit_button,
            self.verify_button,
            self.end_phase_button,
            self.external_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.stop_button)
        buttons.addSpacing(16)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(self.message)
        layout.addWidget(upper_lower, 1)
        layout.addWidget(self.notice)
        layout.addLayout(buttons)
        self.resize(1240, 780)

        can_prescribe = role_can(ctx.actor.role, Permission.PRESCRIBE_PLANS)
        self._prescribe_buttons = (self.new_button, self.edit_button, self.end_phase_button, self.stop_button)
        if not can_prescribe:
            for b in self._prescribe_buttons:
                b.setToolTip(f"A {ctx.actor.role.value} may not prescribe plans; a pharmacist can.")
        self._can_prescribe = can_prescribe
        self._can_record = role_can(ctx.actor.role, Permission.RECORD_ADMINISTRATIONS)
        if not self._can_record:
            self.external_button.setToolTip(f"A {ctx.actor.role.value} may not record doses; a nurse can.")

        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.new_button.clicked.connect(self.new_plan)
        self.edit_button.clicked.connect(self.edit_plan)
        self.verify_button.clicked.connect(self.verify_plan)
        self.end_phase_button.clicked.connect(lambda: self._plan_action(end_phase=True))
        self.stop_button.clicked.connect(lambda: self._plan_action(end_phase=False))
        self.external_button.clicked.connect(self.doses_elsewhere)
        ctx.bus.changed.connect(self._data_changed)
        self.reload()

    # --- loading -------------------------------------------------------------------------------------

    def reload(self, select_plan: int | None = None) -> None:
        keep = select_plan if select_plan is not None else self.selected_plan_id()
        try:
            with self.ctx.db.sessions.begin() as s:
                rows = plan_service.plans_for_patient(s, self.ctx.actor, self.patient_id)
        except ServiceError as exc:
            self.show_refusal(str(exc))
            return
        self.model.set_rows(rows)
        select_or_first(self.table, self.model.row_of(keep) if keep is not None else None)
        self._selection_changed()
        if not rows:
            self.notice.setText("No treatment plan yet: start one with New plan….")

    def _data_changed(self, what: str) -> None:
        if what in (PLANS, TEMPLATES):
            self.reload()

    def selected_plan(self) -> PlanRow | None:
        return self.model.selected(self.table)

    def selected_plan_id(self) -> int | None:
        plan = self.selected_plan()
        return plan.id if plan is not None else None

    def select_plan(self, plan_id: int) -> bool:
        row = self.model.row_of(plan_id)
        if row is not None:
            self.table.selectRow(row)
        return self.selected_plan_id() == plan_id

    def _selection_changed(self) -> None:
        plan = self.selected_plan()
        ended = plan is None or plan.status in (PlanStatus.COMPLETED, PlanStatus.STOPPED)
        live = plan is not None and plan.status in (PlanStatus.VERIFIED, PlanStatus.ACTIVE)
        self.new_button.setEnabled(self._can_prescribe)
        self.edit_button.setEnabled(self._can_prescribe and not ended)
        self.verify_button.setEnabled(plan is not None and plan.status == PlanStatus.DRAFT)
        self.end_phase_button.setEnabled(self._can_prescribe and live)
        self.external_button.setEnabled(self._can_record and live)
        self.stop_button.setEnabled(self._can_prescribe and not ended)
        if plan is None:
            self.details.setHtml("")
            self.schedule_model.set_rows([])
            self.history_model.set_rows([])
            self.schedule_note.setText("")
            return
        self.details.setHtml(plan_details_html(plan))
        self._load_schedule_and_history(plan)

    def _load_schedule_and_history(self, plan: PlanRow) -> None:
        today = self.ctx.clock.today()
        try:
            with self.ctx.db.sessions.begin() as s:
                history = plan_service.plan_history(s, self.ctx.actor, plan.id)
                names = {}
                for template_id in history_template_ids(history) | {plan.template_id}:
                    t = plan_service.get_template(s, self.ctx.actor, template_id)
                    names[template_id] = f"{t.name} (v{t.version})"
                schedule = plan_service.plan_schedule(
                    s, self.ctx.actor, plan.id, today=today, until=today + timedelta(days=PREVIEW_DAYS)
                )
        except ServiceError as exc:
            self.show_refusal(str(exc))
            return
        strength = plan.strength_mcg_per_ml
        self.history_model.set_rows(history_lines(history, names))
        if plan.status in (PlanStatus.COMPLETED, PlanStatus.STOPPED):
            self.schedule_model.set_rows([])
            self.schedule_note.setText(f"This plan is {plan.status.value}: nothing more is scheduled.")
            return
        entries = schedule_entries(
            schedule,
            strength=strength,
            phases=[(p.kind, p.dose_count) for p in plan.phases],
            today=today,
        )
        self.schedule_model.set_rows(entries)
        given = sum(1 for d in schedule.doses if d.given_on is not None)
        overdue = sum(1 for e in entries if e.status == DoseStatus.OVERDUE)
        parts = [f"Doses given so far: {given}."]
        if overdue:
            parts.append(f"{overdue} overdue (red).")
        parts.append("Next 12 months; monitoring tasks whose window has passed are not listed.")
        if plan.status == PlanStatus.DRAFT:
            parts.insert(0, "Draft: no dose may be given until a pharmacist verifies the plan.")
        self.schedule_note.setText(" ".join(parts))

    # --- actions -------------------------------------------------------------------------------------

    def show_refusal(self, text: str) -> None:
        self.message.show_text(text)

    def _done(self, text: str) -> None:
        self.show_refusal("")
        self.notice.setText(text)

    def _open_editor(self, plan: PlanRow | None) -> PlanEditorDialog | None:
        try:
            dialog = PlanEditorDialog(self.ctx, self.patient_id, plan, parent=self)
        except ServiceError as exc:
            self.show_refusal(str(exc))
            return None
        dialog.saved.connect(lambda plan_id: self.reload(select_plan=plan_id))
        dialog.saved.connect(
            lambda _id: self._done(
                "Plan saved as a draft: a pharmacist who did not write it "
                "must verify it before the first dose."
            )
        )
        dialog.open()
        return dialog

    def new_plan(self) -> PlanEditorDialog | None:
        return self._open_editor(None)

    def edit_plan(self) -> PlanEditorDialog | None:
        plan = self.selected_plan()
        return self._open_editor(plan) if plan is not None else None

    def verify_plan(self) -> VerifyDialog | None:
        plan = self.selected_plan()
        if plan is None:
            return None
        dialog = VerifyDialog(
            self.ctx,
            plan,
            on_verified=lambda row: self._done(f"Verified by {row.verified_by}."),
            on_refused=self.show_refusal,
            parent=self,
        )
        dialog.open()
        return dialog

    def _plan_action(self, *, end_phase: bool) -> PlanActionDialog | None:
        plan = self.selected_plan()
        if plan is None:
            return None
        dialog = PlanActionDialog(
            self.ctx,
            plan,
            end_phase=end_phase,
            on_done=lambda row: self._done(f"Plan {STATUS_LABELS[row.status].lower()}."),
            on_refused=self.show_refusal,
            parent=self,
        )
        dialog.open()
        return dialog

    def end_phase(self) -> PlanActionDialog | None:
        return self._plan_action(end_phase=True)

    def doses_elsewhere(self) -> ExternalDosesDialog | None:
        plan = self.selected_plan()
        if plan is None:
            return None

        def done(count: int) -> None:
            self._done(f"{count} dose{'s' if count != 1 else ''} given elsewhere recorded.")

        dialog = ExternalDosesDialog(self.ctx, plan, on_done=done, parent=self)
        dialog.open()
        return dialog

    def stop_plan(self) -> PlanActionDialog | None:
        return self._plan_action(end_phase=False)


def plan_details_html(plan: PlanRow, changed: frozenset[str] = frozenset()) -> str:
    """The whole plan as a table; fields changed since the last verification stand out in amber."""

    def row(key: str, label: str, value: str) -> str:
        style = (
            f' style="background:#fff3cd; color:{WARNING_AMBER}; font-weight:bold"' if key in changed else ""
        )
        return f"<tr><td><b>{escape(label)}</b></td><td{style}>{escape(value)}</td></tr>"

    phases = "".join(f"<li>{escape(phase_description(p))}</li>" for p in plan.phases)
    rows = [
        row("status", "Status", STATUS_LABELS.get(plan.status, plan.status.value)),
        row("template_id", "Template", f"{plan.template_name} (v{plan.template_version})"),
        row("formulation", "Formulation", plan.formulation.value.capitalize()),
        row("strength_mcg_per_ml", "Strength", format_strength(plan.strength_mcg_per_ml)),
        row("dose_mcg", "Dose", plan.dose_text),
        row("route", "Route", ROUTE_LABELS.get(plan.route, plan.route.value)),
        row("start_date", "Start", format_date(plan.start_date)),
        row("prescriber", "Prescriber", plan.prescriber),
        row("indication", "Indication", plan.indication or "—"),
        row("conditions", "Conditions", conditions_text(plan.conditions)),
        row("author", "Written by", plan.author),
        row("verified", "Verified", verified_text(plan)),
    ]
    if plan.continues_elsewhere:
        rows.append(
            row(
                "continues_elsewhere",
                "Continues",
                "treatment begun at another clinic: doses dated before the start may be entered",
            )
        )
    if plan.override_reason:
        rows.append(row("override_reason", "Override", plan.override_reason))
    if plan.end_reason:
        rows.append(row("end_reason", "Ended because", plan.end_reason))
    review = (
        f'<p style="color:{ERROR_RED}"><b>Back for verification:</b> {escape(plan.review_reason)}</p>'
        if plan.review_reason
        else ""
    )
    return (
        review
        + "<table cellspacing='0' cellpadding='3'>"
        + "".join(rows)
        + "</table>"
        + (f"<p><b>Phases</b></p><ul style='margin-top:0'>{phases}</ul>" if phases else "")
    )
