"""A patient's plans: the list, the schedule with what is overdue, the history, and the actions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import PlanStatus, Route
from b12desk.domain.permissions import Permission, role_can
from b12desk.domain.schedule import DoseStatus, Schedule
from b12desk.services import patients
from b12desk.services import plans as plan_service
from b12desk.services.common import Actor
from b12desk.services.patients import PatientDetail
from b12desk.services.plans import PlanRow
from b12desk.ui.context import DOSES, PLANS, TEMPLATES, AppContext
from b12desk.ui.ops import run_op
from b12desk.ui.plans.actions import (
    ExternalDosesDialog,
    PlanActionDialog,
    VerifyDialog,
)
from b12desk.ui.plans.common import (
    PREVIEW_DAYS,
    STATUS_LABELS,
    history_template_ids,
    patient_header_html,
    plan_details_html,
)
from b12desk.ui.plans.editor import (
    PlanEditorDialog,
)
from b12desk.ui.plans.models import (
    PlanHistoryModel,
    PlansModel,
    ScheduleModel,
    history_lines,
    list_over_details,
    make_table,
    schedule_entries,
    schedule_table,
    select_or_first,
)
from b12desk.ui.widgets import (
    MessageLabel,
    format_date,
    resize_within_screen,
)


class PatientPlansDialog(QDialog):
    """The patient's plans, newest first; the selected plan's details, schedule and history."""

    def __init__(self, ctx: AppContext, patient_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.patient_id = ctx, patient_id
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.patient: PatientDetail | None = None
        self.setWindowTitle("Treatment plans")

        self.header = header = QLabel("Reading the patient's plans…")
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
        self.card_button = QPushButton("Dose card…")
        self.card_button.setToolTip("Print the patient's dose card: cause, schedule, next appointments.")
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        for b in (
            self.new_button,
            self.edit_button,
            self.verify_button,
            self.end_phase_button,
            self.external_button,
            self.card_button,
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
        resize_within_screen(self, 1240, 780)

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
        self.card_button.clicked.connect(lambda: self.print_dose_card())
        ctx.bus.changed.connect(self._data_changed)
        self.reload()

    # --- loading -------------------------------------------------------------------------------------

    def reload(self, select_plan: int | None = None) -> None:
        keep = select_plan if select_plan is not None else self.selected_plan_id()
        patient_id = self.patient_id

        def read(session: Session, actor: Actor) -> tuple[PatientDetail, list[PlanRow]]:
            return (
                patients.get_patient(session, actor, patient_id),
                plan_service.plans_for_patient(session, actor, patient_id),
            )

        run_op(
            self,
            self.ctx,
            read,
            lambda result: self._loaded(result, keep),
            lambda failure: self.show_refusal(failure.message),
            quiet=True,
        )

    def _loaded(self, result: tuple[PatientDetail, list[PlanRow]], keep: int | None) -> None:
        self.patient, rows = result
        d = self.patient.data
        self.setWindowTitle(f"Treatment plans — {d.family_name.upper()}, {d.given_name} ({d.mrn})")
        self.header.setText(patient_header_html(self.patient))
        self.model.set_rows(rows)
        select_or_first(self.table, self.model.row_of(keep) if keep is not None else None)
        self._selection_changed()
        if not rows:
            self.notice.setText("No treatment plan yet: start one with New plan….")

    def _data_changed(self, what: str) -> None:
        if what in (PLANS, TEMPLATES, DOSES):
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
        # Said before the password is asked for: the author, a role that may not, a plan not in draft.
        refusal = plan_service.verify_refusal(self.ctx.actor, plan) if plan is not None else ""
        self.verify_button.setEnabled(plan is not None and not refusal)
        self.verify_button.setToolTip(
            refusal or "Verify the selected draft plan and sign with your password."
        )
        self.end_phase_button.setEnabled(self._can_prescribe and live)
        self.card_button.setEnabled(live)
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

        def read(session: Session, actor: Actor) -> tuple[list[Any], dict[int, str], Schedule]:
            history = plan_service.plan_history(session, actor, plan.id)
            ids = history_template_ids(history) | {plan.template_id}
            names = plan_service.template_names(session, actor, ids)
            schedule = plan_service.plan_schedule(
                session, actor, plan.id, today=today, until=today + timedelta(days=PREVIEW_DAYS)
            )
            return history, names, schedule

        run_op(
            self,
            self.ctx,
            read,
            lambda result: self._show_schedule_and_history(plan, today, *result),
            lambda failure: self.show_refusal(failure.message),
            quiet=True,
        )

    def _show_schedule_and_history(
        self, plan: PlanRow, today: date, history: list[Any], names: dict[int, str], schedule: Schedule
    ) -> None:
        if self.selected_plan_id() != plan.id:
            return  # the selection moved on while this was read
        strength = plan.strength_mcg_per_ml
        self.history_model.set_rows(history_lines(history, names))
        if plan.status in (PlanStatus.COMPLETED, PlanStatus.STOPPED):
            self.schedule_model.set_rows([])
            self.schedule_note.setText(f"This plan is {plan.status.value}: nothing more is scheduled.")
            return
        until = today + timedelta(days=PREVIEW_DAYS)
        entries = schedule_entries(
            schedule,
            strength=strength,
            phases=[(p.kind, p.dose_count) for p in plan.phases],
            today=today,
            until=until,
        )
        self.schedule_model.set_rows(entries)
        given = sum(1 for d in schedule.doses if d.given_on is not None)
        overdue = sum(1 for e in entries if e.status == DoseStatus.OVERDUE)
        parts = [f"Doses given so far: {given}."]
        if plan.route == Route.ORAL:
            parts = [f"Oral B12 taken at home ({plan.supplied_as}): no injection is scheduled."]
        if schedule.waiting_for_review is not None:
            parts.append(
                "Waiting for the response review: no further dose is scheduled until a prescriber records "
                "it (End phase); no response asks for a reassessment, not more of the same."
            )
        if overdue:
            parts.append(f"{overdue} overdue (red).")
        parts.append(
            f"Next 12 months, to {format_date(until)}; monitoring tasks whose window has passed are "
            "not listed."
        )
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
        dialog = PlanEditorDialog(self.ctx, self.patient_id, plan, parent=self)
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
        if plan is None or not self.verify_button.isEnabled():
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

    def print_dose_card(self) -> QDialog | None:
        """The dose card of the verified plan: cause, schedule, the next appointments and checks."""
        from b12desk.ui.printing import LabelPrintDialog

        dialog = LabelPrintDialog(self.ctx, "card", [self.patient_id], parent=self)
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
