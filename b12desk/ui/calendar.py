"""The Calendar tab: the month (or week) of due doses, lab checks and reviews, what one day holds, and the
clinic's worklists (who is due, overdue, lapsed, ready for maintenance, waiting for a review, or not
responding as expected).

Each day of the month shows its counts by kind (dose, lab check, review), each count in the colour of its
status (due, done, overdue, missed); a day opens its list; an entry opens the patient on the roster, the
give-dose screen, or the form that records the lab result or the review that completes a task. Every read
is one service call on the database worker (services.monitoring), each one set-based query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import EventKind, LabContext
from b12desk.domain.permissions import Permission, role_can
from b12desk.services import clinic, monitoring
from b12desk.services import patients as patient_service
from b12desk.services import plans as plan_service
from b12desk.services.common import Actor
from b12desk.services.monitoring import DayCount, DayEntry, DayStatus, TaskRow, WorkItem, Worklist
from b12desk.services.plans import PlanRow
from b12desk.services.reference import lab_tests
from b12desk.ui.context import DOSES, LABS, PATIENTS, PLANS, AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.style import ERROR_RED, WARNING_AMBER
from b12desk.ui.table_model import Column, RowsModel
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    MessageLabel,
    ReasonDialog,
    parse_iso_date,
    setup_record_table,
    text_width,
)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
KIND_ORDER = (EventKind.DOSE, EventKind.LAB, EventKind.REVIEW)
KIND_COLOURS = {
    EventKind.DOSE: QColor("#1565c0"),
    EventKind.LAB: QColor("#7b1fa2"),
    EventKind.REVIEW: QColor("#00796b"),
}
KIND_WORDS = {
    EventKind.DOSE: ("dose", "doses"),
    EventKind.LAB: ("lab check", "lab checks"),
    EventKind.REVIEW: ("review", "reviews"),
}
KIND_SHORT = {EventKind.DOSE: "Doses", EventKind.LAB: "Labs", EventKind.REVIEW: "Reviews"}
STATUS_ORDER = (DayStatus.OVERDUE, DayStatus.DUE, DayStatus.DONE, DayStatus.MISSED)
URGENCY = (DayStatus.OVERDUE, DayStatus.DUE, DayStatus.MISSED, DayStatus.DONE)  # a compact cell's colour
STATUS_COLOURS = {
    DayStatus.OVERDUE: QColor(ERROR_RED),
    DayStatus.DUE: QColor(WARNING_AMBER),
    DayStatus.DONE: QColor("#2e7d32"),
    DayStatus.MISSED: QColor("#6d6d6d"),
}
STATUS_WORDS = {
    DayStatus.OVERDUE: "overdue",
    DayStatus.DUE: "due",
    DayStatus.DONE: "done",
    DayStatus.MISSED: "missed",
}

DAY_ROLE = Qt.ItemDataRole.UserRole + 11
COUNTS_ROLE = Qt.ItemDataRole.UserRole + 12
IN_MONTH_ROLE = Qt.ItemDataRole.UserRole + 13
IS_TODAY_ROLE = Qt.ItemDataRole.UserRole + 14

_ModelIndex = QModelIndex | QPersistentModelIndex
Counts = dict[EventKind, dict[DayStatus, int]]


def month_grid(year: int, month: int) -> tuple[date, int]:
    """The Monday the month's grid starts on, and how many weeks it shows (5 or 6, whole weeks)."""
    first = date(year, month, 1)
    start = first - timedelta(days=first.weekday())
    next_month = date(year + month // 12, month % 12 + 1, 1)
    weeks = -(-(next_month - start).days // 7)
    return start, weeks


def counts_text(counts: Counts) -> str:
    """In words, e.g. '5 doses: 2 overdue, 3 due; 1 lab check: 1 done' (the cell's tooltip and name)."""
    parts = []
    for kind in KIND_ORDER:
        by_status = counts.get(kind, {})
        total = sum(by_status.values())
        if not total:
            continue
        one, many = KIND_WORDS[kind]
        statuses = ", ".join(f"{by_status[s]} {STATUS_WORDS[s]}" for s in STATUS_ORDER if by_status.get(s))
        parts.append(f"{total} {one if total == 1 else many}: {statuses}")
    return "; ".join(parts) if parts else "nothing scheduled"


class MonthModel(QAbstractTableModel):
    """Days in weeks, Monday first: each cell's date, and its counts by kind and status."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.start = date(2000, 1, 3)
        self.weeks = 0
        self.month: int | None = None  # days of other months are drawn dim; None in week view
        self.today = self.start
        self.counts: dict[date, Counts] = {}

    def set_days(self, start: date, weeks: int, month: int | None, today: date) -> None:
        self.beginResetModel()
        self.start, self.weeks, self.month, self.today = start, weeks, month, today
        self.counts = {}
        self.endResetModel()

    def set_counts(self, rows: Sequence[DayCount]) -> None:
        counts: dict[date, Counts] = {}
        for r in rows:
            by_kind = counts.setdefault(r.day, {})
            by_status = by_kind.setdefault(r.kind, {})
            by_status[r.status] = by_status.get(r.status, 0) + r.count
        self.counts = counts
        if self.weeks:
            self.dataChanged.emit(self.index(0, 0), self.index(self.weeks - 1, 6))

    @property
    def end(self) -> date:
        """The last day shown."""
        return self.start + timedelta(days=7 * self.weeks - 1)

    def day(self, index: _ModelIndex) -> date:
        return self.start + timedelta(days=7 * index.row() + index.column())

    def index_of(self, day: date) -> QModelIndex:
        offset = (day - self.start).days
        if not 0 <= offset < 7 * self.weeks:
            return QModelIndex()
        return self.index(offset // 7, offset % 7)

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self.weeks

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else 7

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return WEEKDAYS[section]
        return None

    def data(self, index: _ModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        day = self.day(index)
        counts = self.counts.get(day, {})
        if role == DAY_ROLE:
            return day
        if role == COUNTS_ROLE:
            return counts
        if role == IN_MONTH_ROLE:
            return self.month is None or day.month == self.month
        if role == IS_TODAY_ROLE:
            return day == self.today
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return f"{day.isoformat()}: {counts_text(counts)}"
        return None


class DayDelegate(QStyledItemDelegate):
    """Paints a day: its number (ringed today, dim outside the month), then a line per kind with a
    coloured mark and each status's count in the status's colour, e.g. '■ Doses 2 overdue · 3 due'."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _ModelIndex) -> None:
        painter.save()
        rect: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette: QPalette = option.palette
        in_month = bool(index.data(IN_MONTH_ROLE))
        base = palette.color(QPalette.ColorRole.Base) if in_month else QColor("#f1f1f1")
        painter.fillRect(rect, QColor("#dbe8f7") if selected else base)
        painter.setPen(QColor("#c8c8c8"))
        painter.drawRect(rect.adjusted(0, 0, -1, -1))
        day: date = index.data(DAY_ROLE)
        font = QFont(option.font)
        metrics = painter.fontMetrics()
        line = metrics.height()
        x, y = rect.left() + 5, rect.top() + 3
        bold = QFont(font)
        bold.setBold(True)
        painter.setFont(bold)
        number = str(day.day) if day.day != 1 else f"{day.day} {MONTHS[day.month - 1][:3]}"
        if index.data(IS_TODAY_ROLE):
            width = painter.fontMetrics().horizontalAdvance(number) + 8
            painter.setBrush(QColor("#1565c0"))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(x - 3, y, width, line, 4, 4)
            painter.setPen(QColor("white"))
            painter.drawText(x + 1, y + metrics.ascent(), number)
        else:
            painter.setPen(palette.color(QPalette.ColorRole.Text) if in_month else QColor("#8a8a8a"))
            painter.drawText(x, y + metrics.ascent(), number)
        painter.setFont(font)
        counts: Counts = index.data(COUNTS_ROLE) or {}
        y += line + 2
        kinds = [k for k in KIND_ORDER if counts.get(k)]
        if kinds and y + line * len(KIND_ORDER) > rect.bottom() + 2:  # the same look in every cell
            # Too small a cell for a line per kind (a laptop screen): one line, each kind's total in the
            # colour of its most urgent status, so nothing is hidden; the words are in the tooltip.
            cx = x
            for kind in kinds:
                by_status = counts[kind]
                worst = next(s for s in URGENCY if by_status.get(s))
                painter.fillRect(cx, y + 3, 8, line - 6, KIND_COLOURS[kind])
                text = f"{sum(by_status.values())}"
                painter.setPen(STATUS_COLOURS[worst])
                painter.drawText(cx + 11, y + metrics.ascent(), text)
                cx += 11 + metrics.horizontalAdvance(text + "  ")
            painter.restore()
            return
        for kind in kinds:
            by_status = counts[kind]
            painter.fillRect(x, y + 3, 8, line - 6, KIND_COLOURS[kind])
            cx = x + 12
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            label = KIND_SHORT[kind]
            painter.drawText(cx, y + metrics.ascent(), label)
            cx += metrics.horizontalAdvance(label + " ")
            first = True
            for status in STATUS_ORDER:
                n = by_status.get(status)
                if not n:
                    continue
                text = ("" if first else "· ") + f"{n} {STATUS_WORDS[status]} "
                if cx + metrics.horizontalAdvance(text) > rect.right() - 2:  # the rest is in the tooltip
                    painter.setPen(palette.color(QPalette.ColorRole.Text))
                    painter.drawText(cx, y + metrics.ascent(), "…")
                    break
                painter.setPen(STATUS_COLOURS[status])
                painter.drawText(cx, y + metrics.ascent(), text)
                cx += metrics.horizontalAdvance(text)
                first = False
            y += line
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _ModelIndex) -> QSize:
        line = option.fontMetrics.height()
        return QSize(150, line * 4 + 8)


# --- one day's list and the worklists ---------------------------------------------------------------


def _patient(family: str, given: str) -> str:
    return f"{family.upper()}, {given}"


class DayEntriesModel(RowsModel[DayEntry]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = (
            Column("Kind", lambda r: KIND_WORDS[r.kind][0].capitalize()),
            Column("Status", lambda r: STATUS_WORDS[r.status]),
            Column("Patient", lambda r: _patient(r.family_name, r.given_name)),
            Column("MRN", lambda r: r.mrn),
            Column("What", lambda r: r.label),
            Column("Note", lambda r: r.close_note),
        )

    def foreground(self, row: DayEntry, column: int) -> QColor | None:
        if column == 0:
            return KIND_COLOURS[row.kind]
        return STATUS_COLOURS[row.status] if column == 1 else None

    def row_id(self, row: DayEntry) -> int | None:
        return row.event_id or row.administration_id


class WorkItemsModel(RowsModel[WorkItem]):
    text_tooltips = True

    def __init__(self, today: date, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.today = today
        self.columns = (
            Column("Patient", lambda r: _patient(r.family_name, r.given_name)),
            Column("MRN", lambda r: r.mrn),
            Column("Due", self._due_text),
            Column("What", lambda r: r.label),
            Column("Why it is here", lambda r: r.detail),
        )

    def _due_text(self, r: WorkItem) -> str:
        if r.due_on is None:
            return ""
        if r.window_end is not None and r.window_end < self.today:
            return f"{r.due_on.isoformat()} · overdue"
        return f"{r.due_on.isoformat()} · today" if r.due_on == self.today else r.due_on.isoformat()

    def foreground(self, row: WorkItem, column: int) -> QColor | None:
        if column == 2 and row.window_end is not None and row.window_end < self.today:
            return STATUS_COLOURS[DayStatus.OVERDUE]
        return None

    def row_id(self, row: WorkItem) -> int | None:
        return row.event_id


@dataclass(frozen=True)
class Target:
    """What an action works on: a patient, and the dose or task the row is about."""

    patient_id: int
    name: str  # "FAMILY, Given (MRN)"
    kind: EventKind | None
    event_id: int | None
    status: DayStatus | None  # a day entry's; None for worklist rows (all open)


def _target_of_entry(r: DayEntry) -> Target:
    name = f"{_patient(r.family_name, r.given_name)} ({r.mrn})"
    return Target(r.patient_id, name, r.kind, r.event_id, r.status)


def _target_of_item(r: WorkItem) -> Target:
    name = f"{_patient(r.family_name, r.given_name)} ({r.mrn})"
    return Target(r.patient_id, name, r.kind, r.event_id, None)


def _open_task(t: Target) -> bool:
    """A lab or review task still to be done (due or overdue)."""
    if t.kind not in (EventKind.LAB, EventKind.REVIEW) or t.event_id is None:
        return False
    return t.status in (None, DayStatus.DUE, DayStatus.OVERDUE)


def _open_dose(t: Target) -> bool:
    return (
        t.kind == EventKind.DOSE
        and t.event_id is not None
        and t.status
        in (
            None,
            DayStatus.DUE,
            DayStatus.OVERDUE,
        )
    )


class Actions(QWidget):
    """The buttons under a list: open the patient, give the dose, complete a task or mark it missed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.open_button = QPushButton("Show in roster")
        self.open_button.setToolTip("Select the patient on the Roster tab (Labs, Plans, History from there).")
        self.plans_button = QPushButton("Plans…")
        self.plans_button.setToolTip("The patient's plans: end a phase at its review, stop or complete.")
        self.give_button = QPushButton("Give dose…")
        self.give_button.setToolTip("Open the give-dose screen for this patient.")
        self.complete_button = QPushButton("Record result…")
        self.complete_button.setToolTip("Record the lab result or the review's findings; the task is done.")
        self.missed_button = QPushButton("Mark missed…")
        self.missed_button.setToolTip("The task was not done: say why (e.g. the patient did not attend).")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for button in (self.open_button, self.plans_button):
            row.addWidget(button)
        row.addStretch(1)
        for button in (self.give_button, self.complete_button, self.missed_button):
            row.addWidget(button)
        self.update_for(None)

    def update_for(self, t: Target | None) -> None:
        self.open_button.setEnabled(t is not None)
        self.plans_button.setEnabled(t is not None)
        self.give_button.setEnabled(t is not None and _open_dose(t))
        task = t is not None and _open_task(t)
        self.complete_button.setEnabled(task)
        self.missed_button.setEnabled(task)
        review = t is not None and t.kind == EventKind.REVIEW
        self.complete_button.setText("Review done…" if review else "Record result…")


# --- completing a task ---------------------------------------------------------------------------------


class TaskResultDialog(DiscardGuard, QDialog):
    """Completes a task: a lab check with the result that answers it (stored as a lab result and linked
    to the task, in one transaction), a review with what it found."""

    saved = Signal(int)  # the task's id

    def __init__(
        self,
        ctx: AppContext,
        task: TaskRow,
        patient: str,
        plan: PlanRow | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.task = task
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        lab = task.kind == EventKind.LAB
        self.setWindowTitle(("Lab result" if lab else "Review") + f" — {patient}")
        heading = QLabel(
            f"<b>{escape(patient)}</b><br>{escape(task.label)} &nbsp; due {task.due_on.isoformat()}"
            f" (window to {task.window_end.isoformat()})"
        )
        heading.setWordWrap(True)
        self.errors = FieldErrors()
        self.summary = MessageLabel()
        form = QFormLayout()
        self.test = lab_tests().get(task.lab_test_code or "")
        self.taken_on = QLineEdit(ctx.clock.today().isoformat())
        self.taken_on.setPlaceholderText("YYYY-MM-DD")
        self.value = QLineEdit()
        self.value.setPlaceholderText("number as reported")
        self.choice = QComboBox()
        self.unit = QComboBox()
        self.note = QPlainTextEdit()
        self.note.setFixedHeight(self.note.fontMetrics().height() * 4 + 12)

        def add(label: str, widget: QWidget, field: str) -> None:
            error = ErrorLabel()
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(1)
            column.addWidget(widget)
            column.addWidget(error)
            form.addRow(label, box)
            self.errors.add(field, widget, error)

        if lab:
            test_name = self.test.name if self.test else (task.lab_test_code or "")
            form.addRow("Test", QLabel(f"<b>{escape(test_name)}</b>"))
            add("Date taken", self.taken_on, "taken_on")
            if self.test is not None and self.test.qualitative:
                for option in self.test.qualitative:
                    self.choice.addItem(option.capitalize(), option)
                add("Result", self.choice, "value")
            else:
                add("Result", self.value, "value")
                for unit in self.test.units if self.test else ():
                    self.unit.addItem(unit, unit)
                if self.unit.count() > 1:
                    # No default: the unit is read off the report (B12 in ng/L read as pmol/L is 35% high).
                    self.unit.setPlaceholderText("Choose the unit reported…")
                    self.unit.setCurrentIndex(-1)
                add("Unit", self.unit, "unit")
            self.note.setPlaceholderText("optional")
            add("Note", self.note, "note")
        else:
            self.note.setPlaceholderText("What the review found, e.g. tingling better, Hb 128 g/L: continue")
            add("Findings", self.note, "note")
        # A review may end the current phase (e.g. no further improvement): a prescriber's act, after which
        # the plan goes back to a second pharmacist to verify the next phase.
        self.end_phase = QCheckBox()
        self.end_phase.hide()
        live = plan is not None and plan.status in plan_service.LIVE and not lab
        phases = plan_service.phase_a_review_ends(plan.phases) if plan is not None and live else None
        if phases is not None and role_can(ctx.actor.role, Permission.PRESCRIBE_PLANS):
            current, following = phases
            self.end_phase.setText(
                f"This review ends phase {current.seq} ({current.kind.value}); phase {following.seq} "
                f"({following.kind.value}) follows once another pharmacist verifies the plan"
            )
            self.end_phase.show()
            form.addRow("", self.end_phase)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton(
            "Save and complete the task", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(480)

    def save(self) -> None:
        task, note = self.task, self.note.toPlainText()
        if task.kind != EventKind.LAB:
            ends_phase = self.end_phase.isChecked()

            def review(session: Session, actor: Actor) -> TaskRow:
                done = monitoring.complete_task(session, actor, task.id, note=note)
                if ends_phase:  # the same transaction: both, or neither
                    today = clinic.clinic_clock(session).today()
                    plan_service.end_phase(session, actor, task.plan_id, on=today, reason=note)
                return done

            run_op(self, self.ctx, review, self._saved, self._refused, write=True, changes=(PLANS,))
            return
        date_problem = ""
        try:
            taken_on = parse_iso_date(self.taken_on.text())
        except ValueError as exc:
            taken_on, date_problem = None, str(exc)
        qualitative = self.test is not None and bool(self.test.qualitative)
        value = (self.choice.currentData() if qualitative else self.value.text()) or ""
        unit = (self.test.canonical_unit if qualitative and self.test else self.unit.currentData()) or ""
        context = LabContext.BASELINE if task.label.lower().startswith("baseline") else LabContext.FOLLOW_UP
        code = task.lab_test_code or ""

        def record(session: Session, actor: Actor) -> TaskRow:
            result = patient_service.add_lab_result(
                session,
                actor,
                task.patient_id,
                test_code=code,
                context=context,
                taken_on=taken_on,
                value_text=value,
                unit=unit,
                note=note,
            )
            return monitoring.complete_task(session, actor, task.id, lab_result_id=result.id, note=note)

        def refused(failure: OpFailure) -> None:
            if date_problem:
                failure = OpFailure(
                    failure.kind, failure.message, {**failure.fields, "taken_on": date_problem}
                )
            self._refused(failure)

        run_op(self, self.ctx, record, self._saved, refused, write=True, changes=(LABS, PLANS))

    def _refused(self, failure: OpFailure) -> None:
        errors = {("value" if k == "value_text" else k): v for k, v in failure.fields.items()}
        unclaimed = self.errors.show(errors) if errors else {}
        if errors:
            self.summary.show_text("\n".join(["Nothing was saved.", *unclaimed.values()]))
        else:
            self.errors.clear()
            self.summary.show_text(failure.message)

    def _saved(self, task: TaskRow) -> None:
        self.mark_clean()
        self.saved.emit(task.id)
        self.accept()


# --- the tab ---------------------------------------------------------------------------------------------


class CalendarTab(QWidget):
    """Month or week of the schedule beside the selected day's list, and the worklists."""

    counts_shown = Signal()  # the month's counts are on screen
    day_shown = Signal()
    worklists_shown = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        today = ctx.clock.today()
        self.today = today
        self.anchor = today  # the day whose month (or week) is shown
        self.selected_day = today
        self.week_view = False
        self._loaded_once = False
        self._stale = False

        # --- the calendar page ---
        self.prev_button = QPushButton("◀")
        self.prev_button.setToolTip("The previous month (or week)")
        self.today_button = QPushButton("Today")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("The next month (or week)")
        self.title = QLabel()
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.month_button = QPushButton("Month")
        self.week_button = QPushButton("Week")
        self.view_group = QButtonGroup(self)
        for n, button in enumerate((self.month_button, self.week_button)):
            button.setCheckable(True)
            self.view_group.addButton(button, n)
        self.month_button.setChecked(True)
        legend = QLabel(
            " ".join(
                f"<span style='color:{KIND_COLOURS[k].name()}'>■</span> {KIND_SHORT[k]}" for k in KIND_ORDER
            )
            + " &nbsp; "
            + " · ".join(
                f"<span style='color:{STATUS_COLOURS[s].name()}'>{STATUS_WORDS[s]}</span>"
                for s in STATUS_ORDER
            )
        )
        legend.setObjectName("muted")
        bar = QHBoxLayout()
        for w in (self.prev_button, self.today_button, self.next_button):
            bar.addWidget(w)
        bar.addSpacing(8)
        bar.addWidget(self.title)
        bar.addStretch(1)
        bar.addWidget(legend)
        bar.addSpacing(8)
        bar.addWidget(self.month_button)
        bar.addWidget(self.week_button)

        self.month = MonthModel(self)
        self.grid = QTableView()
        self.grid.setModel(self.month)
        self.grid.setItemDelegate(DayDelegate(self.grid))
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.verticalHeader().hide()
        self.grid.setShowGrid(False)
        self.grid.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.setMinimumWidth(7 * 96)

        self.day_title = QLabel()
        self.day_entries = DayEntriesModel(self)
        self.day_table = QTableView()
        self.day_table.setModel(self.day_entries)
        setup_record_table(self.day_table)
        self.day_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for i, sample in enumerate(("Lab check", "overdue", "WORTHINGTON, Elizabeth", "DEMO0000000")):
            self.day_table.setColumnWidth(i, text_width(self.day_table, sample))
        self.day_table.setColumnWidth(4, text_width(self.day_table, "Maintenance dose 22: 1,000 mcg (1 mL)"))
        self.day_actions = Actions()
        day_box = QWidget()
        day_layout = QVBoxLayout(day_box)
        day_layout.setContentsMargins(0, 0, 0, 0)
        day_layout.addWidget(self.day_title)
        day_layout.addWidget(self.day_table, 1)
        day_layout.addWidget(self.day_actions)

        calendar_page = QWidget()
        calendar_layout = QVBoxLayout(calendar_page)
        calendar_layout.addLayout(bar)
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.grid)
        self.split.addWidget(day_box)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        calendar_layout.addWidget(self.split, 1)

        # --- the worklists page ---
        self.lists = QListWidget()
        for name, title in monitoring.WORKLIST_TITLES.items():
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, name.value)
            self.lists.addItem(item)
        self.lists.setFixedWidth(text_width(self.lists, "Induction complete: ready for the next phase (999)"))
        self.lists.setSpacing(3)
        self.lists.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.work_title = QLabel()
        self.work_title.setWordWrap(True)
        self.work_items = WorkItemsModel(today, self)
        self.work_table = QTableView()
        self.work_table.setModel(self.work_items)
        setup_record_table(self.work_table)
        self.work_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for i, sample in enumerate(("WORTHINGTON, Elizabeth", "DEMO0000000", "2026-12-01 · overdue")):
            self.work_table.setColumnWidth(i, text_width(self.work_table, sample))
        self.work_table.setColumnWidth(3, text_width(self.work_table, "Maintenance dose 22: 1,000"))
        self.work_table.setWordWrap(False)
        # Why a patient is on the list is a sentence: the selected row's is written out under the table.
        self.work_detail = QLabel()
        self.work_detail.setWordWrap(True)
        self.work_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.work_actions = Actions()
        self.work_empty = QLabel()
        self.work_empty.setObjectName("muted")
        self.work_stack = QStackedWidget()
        self.work_stack.addWidget(self.work_table)
        self.work_stack.addWidget(self.work_empty)
        work_right = QWidget()
        work_layout = QVBoxLayout(work_right)
        work_layout.setContentsMargins(0, 0, 0, 0)
        work_layout.addWidget(self.work_title)
        work_layout.addWidget(self.work_stack, 1)
        work_layout.addWidget(self.work_detail)
        work_layout.addWidget(self.work_actions)
        work_page = QWidget()
        work_page_layout = QHBoxLayout(work_page)
        work_page_layout.addWidget(self.lists)
        work_page_layout.addWidget(work_right, 1)
        self.worklists: dict[Worklist, list[WorkItem]] = {}

        self.message = MessageLabel()
        self.pages = QTabWidget()
        self.pages.addTab(calendar_page, "Month and week")
        self.pages.addTab(work_page, "Worklists")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.pages)

        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.today_button.clicked.connect(self.go_today)
        self.view_group.idClicked.connect(lambda n: self.set_week_view(n == 1))
        self.grid.selectionModel().currentChanged.connect(lambda current, _p: self._day_clicked(current))
        self.grid.clicked.connect(self._day_clicked)
        self.day_table.selectionModel().selectionChanged.connect(lambda *_: self._day_selection())
        self.day_table.doubleClicked.connect(lambda _i: self._activate(self.day_target()))
        self.lists.currentRowChanged.connect(lambda _r: self._show_worklist())
        self.work_table.selectionModel().selectionChanged.connect(lambda *_: self._work_selection())
        self.work_table.doubleClicked.connect(lambda _i: self._activate(self.work_target()))
        self._wire(self.day_actions, self.day_target)
        self._wire(self.work_actions, self.work_target)
        ctx.bus.changed.connect(self._data_changed)
        self._show_range()

    def _wire(self, actions: Actions, target: Any) -> None:
        actions.open_button.clicked.connect(lambda: self.show_in_roster(target()))
        actions.plans_button.clicked.connect(lambda: self.open_plans(target()))
        actions.give_button.clicked.connect(lambda: self.give_dose(target()))
        actions.complete_button.clicked.connect(lambda: self.complete_task(target()))
        actions.missed_button.clicked.connect(lambda: self.mark_missed(target()))

    # --- loading ---------------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._loaded_once:
            self._loaded_once = True
            self.reload()
        elif self._stale:
            self.reload()

    def reload(self) -> None:
        self._stale = False
        self.today = self.ctx.clock.today()
        self.load_counts()
        self.load_day()
        self.load_worklists()

    def _data_changed(self, what: str) -> None:
        if what in (DOSES, PLANS, PATIENTS, LABS) and self._loaded_once:
            if self.isVisible():
                self.reload()
            else:
                self._stale = True

    def _show_range(self) -> None:
        """Lay out the month (or week) around the anchor day; its counts follow from the database."""
        if self.week_view:
            start = self.anchor - timedelta(days=self.anchor.weekday())
            end = start + timedelta(days=6)
            self.month.set_days(start, 1, None, self.today)
            same = start.month == end.month
            self.title.setText(
                f"Week of {start.day}{'' if same else ' ' + MONTHS[start.month - 1]} to "
                f"{end.day} {MONTHS[end.month - 1]} {end.year}"
            )
        else:
            start, weeks = month_grid(self.anchor.year, self.anchor.month)
            self.month.set_days(start, weeks, self.anchor.month, self.today)
            self.title.setText(f"{MONTHS[self.anchor.month - 1]} {self.anchor.year}")
        index = self.month.index_of(self.selected_day)
        if index.isValid():
            self.grid.setCurrentIndex(index)

    def load_counts(self) -> None:
        start, end, today = self.month.start, self.month.end, self.today

        def read(session: Session, actor: Actor) -> list[DayCount]:
            return monitoring.month_counts(session, actor, start, end, today=today)

        def shown(rows: list[DayCount]) -> None:
            if (self.month.start, self.month.end) == (start, end):  # not a range moved away from since
                self.month.set_counts(rows)
                self.counts_shown.emit()

        run_op(self, self.ctx, read, shown, self._failed, quiet=True, title="Calendar")

    def load_day(self) -> None:
        day, today = self.selected_day, self.today
        self.day_title.setText(f"<b>{self._day_words(day)}</b> &nbsp; loading…")

        def read(session: Session, actor: Actor) -> list[DayEntry]:
            return monitoring.day_entries(session, actor, day, today=today)

        def shown(rows: list[DayEntry]) -> None:
            if day != self.selected_day:
                return
            keep = self.day_target()
            self.day_entries.set_rows(rows)
            if keep is not None:
                i = self.day_entries.find(
                    lambda r: (r.patient_id, r.event_id) == (keep.patient_id, keep.event_id)
                )
                if i is not None:
                    self.day_table.selectRow(i)
            counts: dict[EventKind, int] = {}
            for r in rows:
                counts[r.kind] = counts.get(r.kind, 0) + 1
            summary = ", ".join(
                f"{counts[k]} {KIND_WORDS[k][0] if counts[k] == 1 else KIND_WORDS[k][1]}"
                for k in KIND_ORDER
                if counts.get(k)
            )
            self.day_title.setText(f"<b>{self._day_words(day)}</b> &nbsp; {summary or 'nothing scheduled'}")
            self._day_selection()
            self.day_shown.emit()

        run_op(self, self.ctx, read, shown, self._failed, quiet=True, title="Calendar")

    def load_worklists(self) -> None:
        today = self.today

        def read(session: Session, actor: Actor) -> dict[Worklist, list[WorkItem]]:
            return {name: monitoring.worklist(session, actor, name, today=today) for name in Worklist}

        run_op(self, self.ctx, read, self._worklists_loaded, self._failed, quiet=True, title="Calendar")

    def _worklists_loaded(self, lists: dict[Worklist, list[WorkItem]]) -> None:
        self.worklists = lists
        for i in range(self.lists.count()):
            item = self.lists.item(i)
            name = Worklist(item.data(Qt.ItemDataRole.UserRole))
            n = len(lists.get(name, []))
            item.setText(f"{monitoring.WORKLIST_TITLES[name]} ({n})")
            urgent = name in (Worklist.OVERDUE, Worklist.LAPSED, Worklist.NOT_RESPONDING) and n
            item.setForeground(STATUS_COLOURS[DayStatus.OVERDUE] if urgent else self.palette().text().color())
        if self.lists.currentRow() < 0:
            self.lists.setCurrentRow(0)
        else:
            self._show_worklist()
        self.worklists_shown.emit()

    def _show_worklist(self) -> None:
        item = self.lists.currentItem()
        if item is None:
            return
        name = Worklist(item.data(Qt.ItemDataRole.UserRole))
        rows = self.worklists.get(name, [])
        keep = self.work_target()
        self.work_items.today = self.today
        self.work_items.set_rows(rows)
        if keep is not None:
            wanted = (keep.patient_id, keep.event_id)
            i = self.work_items.find(lambda r: (r.patient_id, r.event_id) == wanted)
            if i is not None:
                self.work_table.selectRow(i)
        self.work_title.setText(f"<b>{escape(monitoring.WORKLIST_TITLES[name])}</b> &nbsp; {len(rows)}")
        self.work_empty.setText("Nobody is on this list today.")
        self.work_stack.setCurrentWidget(self.work_table if rows else self.work_empty)
        self._work_selection()

    def _failed(self, failure: OpFailure) -> None:
        self.message.show_text(failure.message)

    # --- moving about ----------------------------------------------------------------------------------

    @staticmethod
    def _day_words(day: date) -> str:
        return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"

    def step(self, direction: int) -> None:
        if self.week_view:
            self.anchor += timedelta(days=7 * direction)
        else:
            months = self.anchor.year * 12 + self.anchor.month - 1 + direction
            self.anchor = date(months // 12, months % 12 + 1, 1)
        self._show_range()
        self.load_counts()

    def go_today(self) -> None:
        self.anchor = self.today
        self.select_day(self.today)

    def set_week_view(self, week: bool) -> None:
        self.week_view = week
        (self.week_button if week else self.month_button).setChecked(True)
        self.anchor = self.selected_day
        self._show_range()
        self.load_counts()

    def select_day(self, day: date) -> None:
        """Show the day's month (or week) and its list."""
        self.selected_day = day
        if not self.month.index_of(day).isValid() or (not self.week_view and day.month != self.anchor.month):
            self.anchor = day
            self._show_range()
            self.load_counts()
        else:
            self.grid.setCurrentIndex(self.month.index_of(day))
        self.load_day()

    def _day_clicked(self, index: _ModelIndex) -> None:
        if not index.isValid():
            return
        day = self.month.day(index)
        if day != self.selected_day:
            self.selected_day = day
            self.load_day()

    # --- selections and actions ------------------------------------------------------------------------

    def day_target(self) -> Target | None:
        row = self.day_entries.selected(self.day_table)
        return _target_of_entry(row) if row is not None else None

    def work_target(self) -> Target | None:
        row = self.work_items.selected(self.work_table)
        return _target_of_item(row) if row is not None else None

    def _day_selection(self) -> None:
        self.day_actions.update_for(self.day_target())

    def _work_selection(self) -> None:
        self.work_actions.update_for(self.work_target())
        row = self.work_items.selected(self.work_table)
        self.work_detail.setText(
            f"<b>{escape(_patient(row.family_name, row.given_name))}</b>: {escape(row.detail or row.label)}"
            if row is not None
            else ""
        )

    def _activate(self, t: Target | None) -> None:
        """Double-click: give a due dose, complete an open task, otherwise show the patient."""
        if t is None:
            return
        if _open_dose(t):
            self.give_dose(t)
        elif _open_task(t):
            self.complete_task(t)
        else:
            self.show_in_roster(t)

    def show_in_roster(self, t: Target | None) -> bool:
        window = self.window()
        roster = getattr(window, "roster", None)
        tabs = getattr(window, "tabs", None)
        if t is None or roster is None or tabs is None:
            return False
        tabs.setCurrentWidget(roster)
        if not roster.select_patient(t.patient_id):
            roster.search.clear()
            return bool(roster.select_patient(t.patient_id))
        return True

    def open_plans(self, t: Target | None) -> QDialog | None:
        if t is None:
            return None
        from b12desk.ui.plans import PatientPlansDialog  # loaded when first used

        dialog = PatientPlansDialog(self.ctx, t.patient_id, parent=self)
        dialog.open()
        return dialog

    def give_dose(self, t: Target | None) -> QDialog | None:
        if t is None:
            return None
        from b12desk.ui.give_dose import GiveDoseDialog  # loaded when first used

        dialog = GiveDoseDialog(self.ctx, t.patient_id, parent=self)
        dialog.open()
        return dialog

    def complete_task(self, t: Target | None) -> None:
        """Read the task as it is now, then open the form that completes it."""
        if t is None or t.event_id is None:
            return
        event_id, name = t.event_id, t.name

        def read(session: Session, actor: Actor) -> tuple[TaskRow, PlanRow]:
            task = monitoring.get_task(session, actor, event_id)
            return task, plan_service.get_plan(session, actor, task.plan_id)

        def opened(result: tuple[TaskRow, PlanRow]) -> None:
            self.open_task_form(result[0], name, result[1])

        run_op(self, self.ctx, read, opened, self._failed)

    def open_task_form(self, task: TaskRow, patient: str, plan: PlanRow | None = None) -> TaskResultDialog:
        dialog = TaskResultDialog(self.ctx, task, patient, plan, parent=self)
        dialog.open()
        return dialog

    def mark_missed(self, t: Target | None) -> ReasonDialog | None:
        if t is None or t.event_id is None:
            return None
        event_id = t.event_id

        def submit(session: Session, actor: Actor, reason: str) -> object:
            return monitoring.miss_task(session, actor, event_id, reason=reason)

        dialog = ReasonDialog(
            self,
            self.ctx,
            title="Mark the task missed",
            prompt=f"{t.name}: why was this task not done?",
            action_text="Mark missed",
            submit=submit,
            changes=(PLANS,),
            placeholder="e.g. the patient did not attend; sample haemolysed",
        )
        dialog.open()
        return dialog
