"""Acting on a plan: the pharmacist's signature, ending a phase or the plan, doses given elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.services import administrations, auth
from b12desk.services import plans as plan_service
from b12desk.services.common import Actor
from b12desk.services.plans import PlanRow
from b12desk.ui.context import DOSES, PLANS, AppContext
from b12desk.ui.findings import FindingsPanel
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.plans.common import (
    DATE_PLACEHOLDER,
    ROUTE_LABELS,
    WEEKDAYS,
    phase_description,
    plan_summary_line,
)
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    MessageLabel,
    format_date,
    parse_iso_date,
    text_width,
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
        plan_id, version, password = self.plan.id, self.plan.version_id, self.password.text()
        run_op(
            self,
            self.ctx,
            lambda s, actor: plan_service.verify_plan(
                s, actor, plan_id, password=password, expected_version=version
            ),
            self._verified,
            self._refused,
            write=True,
            changes=(PLANS,),
        )

    def _verified(self, row: PlanRow) -> None:
        self.accept()
        self._on_verified(row)

    def _refused(self, failure: OpFailure) -> None:
        if isinstance(failure.error, auth.AuthenticationFailed):
            self.error.set_error(failure.message)
            self.password.clear()
            self.password.setFocus()
            return
        self.reject()
        self._on_refused(failure.message)


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
        plan_id, reason, completed = self.plan.id, self.reason.text(), self.completed.isChecked()
        op: Callable[[Session, Actor], PlanRow]
        if self.end_phase:
            try:
                on = parse_iso_date(self.on_date.text())
                problem = "" if on else f"Write the review date as {DATE_PLACEHOLDER}."
            except ValueError as exc:
                on, problem = None, str(exc)
            if on is None:
                self._refused(OpFailure("invalid", "", {"on": problem}))
                return
            review_day = on

            def op(s: Session, actor: Actor) -> PlanRow:
                return plan_service.end_phase(s, actor, plan_id, on=review_day, reason=reason)

        else:

            def op(s: Session, actor: Actor) -> PlanRow:
                return plan_service.stop_plan(s, actor, plan_id, completed=completed, reason=reason)

        run_op(self, self.ctx, op, self._done, self._refused, write=True, changes=(PLANS,))

    def _refused(self, failure: OpFailure) -> None:
        if failure.fields:
            unclaimed = self.errors.show(failure.fields)
            if unclaimed:
                self.reject()
                self._on_refused("\n".join(unclaimed.values()))
            return
        self.reject()
        self._on_refused(failure.message)

    def _done(self, row: PlanRow) -> None:
        self.accept()
        self._on_done(row)


class ExternalDosesDialog(DiscardGuard, QDialog):
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
            problem = "" if given else f"Write the date as {DATE_PLACEHOLDER}."
        except ValueError as exc:
            given, problem = None, str(exc)
        if given is None:
            self.errors.show({"given_at": problem})
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
        plan_id, note, clock = self.plan.id, self.note.text(), self.ctx.clock
        acknowledged, password = self.findings.acknowledged(), self.findings.password.text() or None
        run_op(
            self,
            self.ctx,
            lambda s, actor: administrations.record_external_doses(
                s,
                actor,
                plan_id=plan_id,
                days=days,
                note=note,
                acknowledged=acknowledged,
                password=password,
                clock=clock,
            ),
            lambda rows: self._saved(len(rows)),
            self._refused,
            write=True,
            changes=(DOSES,),
        )

    def _saved(self, count: int) -> None:
        self.accept()
        self._on_done(count)

    def _refused(self, failure: OpFailure) -> None:
        refusal = failure.error
        if isinstance(refusal, administrations.DoseRefused):
            self.errors.clear()
            self.findings.show_findings(refusal.findings)
            self.summary.show_text(
                "Nothing was saved. "
                + (
                    "Correct the dates marked Stop."
                    if any(f.blocks for f in refusal.findings)
                    else "Acknowledge each warning with a reason and your password, then save again."
                )
            )
            return
        if failure.fields:
            unclaimed = self.errors.show(failure.fields)
            self.summary.show_text("\n".join(["Nothing was saved.", *unclaimed.values()]))
            return
        self.errors.clear()  # a role that may not, a wrong password, a busy database
        self.summary.show_text(f"Nothing was saved. {failure.message}")

    def field_error(self, name: str) -> str:
        """The message shown beside a field ('' when none); for tests and accessibility checks."""
        return self.errors.message(name)
