"""The verification queue: draft plans, what changed since each was last verified, and the signature."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.schedule import Schedule
from b12desk.services import patients
from b12desk.services import plans as plan_service
from b12desk.services.common import Actor
from b12desk.services.plans import PlanRow, QueueItem
from b12desk.ui.context import PLANS, AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.plans import (
    CHANGE_LABELS,
    PREVIEW_DAYS,
    ScheduleModel,
    VerifyDialog,
    change_value_text,
    flags_html,
    list_over_details,
    make_table,
    plan_details_html,
    route_text,
    schedule_entries,
    schedule_table,
    select_or_first,
)
from b12desk.ui.style import ERROR_RED, WARNING_AMBER
from b12desk.ui.table_model import Column, RowsModel, bold_font
from b12desk.ui.widgets import MessageLabel, resize_within_screen

FIRST_VERIFICATION = "first verification"


@dataclass(frozen=True, slots=True)
class _Queue:
    """What the queue reads in one transaction: the plans, template names, and each patient's flags."""

    items: list[QueueItem]
    template_names: dict[int, str]
    flags: dict[int, tuple[str, ...]]


CHANGED_BACKGROUND = QColor("#fff3cd")


def change_lines(item: QueueItem, template_names: Mapping[int, str]) -> list[str]:
    """'field: old -> new' for each change since the last verification; empty for a first one."""
    return [
        f"{CHANGE_LABELS.get(field, field)}: {change_value_text(field, old, template_names)} -> "
        f"{change_value_text(field, new, template_names)}"
        for field, (old, new) in item.changes.items()
    ]


class QueueModel(RowsModel[QueueItem]):
    """Draft plans; the changes column stands out for a plan verified before and edited since."""

    COL_CHANGES = 5
    text_tooltips = True

    def __init__(self, parent: QWidget | None = None, *, actor_id: int | None = None) -> None:
        super().__init__(parent)
        self._changes: dict[int, list[str]] = {}
        self.template_names: dict[int, str] = {}
        self.patient_flags: dict[
            int, tuple[str, ...]
        ] = {}  # by patient: contraindications, cautions, allergies
        self.actor_id = actor_id  # the signed-in person: their own plans say so
        self.columns = (
            Column[QueueItem](
                "Patient",
                self._patient_text,
                foreground=lambda i: QColor(ERROR_RED) if self.patient_flags.get(i.plan.patient_id) else None,
                font=lambda i: bold_font() if self.patient_flags.get(i.plan.patient_id) else None,
            ),
            Column[QueueItem]("Template", lambda i: f"{i.plan.template_name} (v{i.plan.template_version})"),
            Column[QueueItem]("Dose", lambda i: i.plan.dose_text),
            Column[QueueItem]("Route", lambda i: route_text(i.plan.route)),
            Column[QueueItem](
                "Written by",
                lambda i: f"{i.plan.author} (you)" if i.plan.author_id == self.actor_id else i.plan.author,
            ),
            Column[QueueItem](
                "Since the last verification",
                self._text,
                foreground=lambda i: QColor(WARNING_AMBER) if i.previously_verified else None,
                background=lambda i: CHANGED_BACKGROUND if i.previously_verified else None,
                font=lambda i: bold_font() if i.previously_verified else None,
            ),
        )

    def set_queue(
        self,
        items: list[QueueItem],
        template_names: Mapping[int, str],
        flags: Mapping[int, tuple[str, ...]] | None = None,
    ) -> None:
        self.template_names = dict(template_names)
        self.patient_flags = dict(flags or {})
        self._changes = {i.plan.id: change_lines(i, template_names) for i in items}
        self.set_rows(items)

    def _patient_text(self, item: QueueItem) -> str:
        name = f"{item.plan.patient_name} ({item.plan.patient_mrn})"
        return f"⚠ {name}" if self.patient_flags.get(item.plan.patient_id) else name

    def changes_text(self, row: int) -> str:
        return self._text(self.row(row))

    def _text(self, item: QueueItem) -> str:
        lines = self._changes.get(item.plan.id, [])
        if item.plan.review_reason:  # the patient changed, or a review ended a phase
            lines = [*lines, item.plan.review_reason]
        if not item.previously_verified:
            return (
                "; ".join([FIRST_VERIFICATION, *lines[1:]]) if item.plan.review_reason else FIRST_VERIFICATION
            )
        return "; ".join(lines) or "verified before; no field changed"

    def row_id(self, row: QueueItem) -> int:
        return row.plan.id

    def row_of(self, plan_id: int) -> int | None:
        return self.find(lambda item: item.plan.id == plan_id)


class VerificationQueueDialog(QDialog):
    """Open to everyone; the service decides who may list and verify (a nurse reads its refusal)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Verification queue")
        intro = QLabel(
            "Draft plans wait here until a pharmacist who did not write them checks the formulation, "
            "strength and schedule, and signs with their password. No dose can be recorded before that."
        )
        intro.setWordWrap(True)
        self.message = MessageLabel()
        self.notice = QLabel()
        self.notice.setObjectName("muted")

        self.model = QueueModel(self, actor_id=ctx.actor.id)
        self.table = make_table(
            self.model,
            (
                "MACDONALD, Elizabeth (H10000)",
                "Hydroxocobalamin 1 mg, no neurological involvement (BNF) (v1)",
                "1,000 mcg (1 mL of 1,000 mcg/mL)",
                "Deep SC",
                "Pharmacist2",
            ),
        )

        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.schedule_model = ScheduleModel(self)
        self.schedule = schedule_table(self.schedule_model, with_status=False)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(QLabel("<b>Schedule as it will run once verified</b> (next 12 months)"))
        right_layout.addWidget(self.schedule, 1)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.details)
        lower.addWidget(right)
        lower.setSizes([480, 680])
        split = list_over_details(self.table, lower, (170, 470))

        self.verify_button = QPushButton("Verify…")
        self.refresh_button = QPushButton("Refresh")
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        # Why Verify is off, beside it: a tooltip alone is not seen until the pointer rests on the button.
        self.verify_reason = QLabel()
        self.verify_reason.setObjectName("muted")
        buttons = QHBoxLayout()
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.verify_reason)
        buttons.addStretch(1)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.message)
        layout.addWidget(split, 1)
        layout.addWidget(self.notice)
        layout.addLayout(buttons)
        resize_within_screen(self, 1240, 760)

        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.verify_button.clicked.connect(self.verify_selected)
        self.refresh_button.clicked.connect(lambda: self.reload())
        ctx.bus.changed.connect(self._data_changed)
        self.reload()

    def reload(self, select_plan: int | None = None) -> None:
        keep = select_plan if select_plan is not None else self.selected_plan_id()

        def read(session: Session, actor: Actor) -> _Queue:
            items = plan_service.verification_queue(session, actor)
            ids = {i.plan.template_id for i in items}
            for item in items:
                ids |= {int(v) for v in item.changes.get("template_id", ()) if v is not None}
            flags = patients.recorded_flags(session, actor, {i.plan.patient_id for i in items})
            return _Queue(items, plan_service.template_names(session, actor, ids), flags)

        run_op(self, self.ctx, read, lambda r: self._loaded(r, keep), self._refused, quiet=True)

    def _refused(self, failure: OpFailure) -> None:
        self.model.set_queue([], {})
        self.show_refusal(failure.message)
        self._selection_changed()

    def _loaded(self, result: _Queue, keep: int | None) -> None:
        items = result.items
        self.show_refusal("")
        self.model.set_queue(items, result.template_names, result.flags)
        select_or_first(self.table, self.model.row_of(keep) if keep is not None else None)
        self._selection_changed()
        if not items:
            self.notice.setText("Nothing to verify: every plan has been verified.")
        else:
            n = len(items)
            self.notice.setText(f"{n} plan{'s' if n != 1 else ''} awaiting verification.")

    def _data_changed(self, what: str) -> None:
        if what == PLANS:
            self.reload()

    def show_refusal(self, text: str) -> None:
        self.message.show_text(text)

    def selected_item(self) -> QueueItem | None:
        return self.model.selected(self.table)

    def selected_plan_id(self) -> int | None:
        item = self.selected_item()
        return item.plan.id if item is not None else None

    def select_plan(self, plan_id: int) -> bool:
        row = self.model.row_of(plan_id)
        if row is not None:
            self.table.selectRow(row)
        return self.selected_plan_id() == plan_id

    def _selection_changed(self) -> None:
        item = self.selected_item()
        # Said before the password is asked for: above all, that the author may not verify their own plan.
        refusal = plan_service.verify_refusal(self.ctx.actor, item.plan) if item is not None else ""
        self.verify_button.setEnabled(item is not None and not refusal)
        self.verify_button.setToolTip(refusal or "Verify the selected plan and sign with your password.")
        self.verify_reason.setText(refusal)
        if item is None:
            self.details.setHtml("")
            self.schedule_model.set_rows([])
            return
        self.details.setHtml(self._details_html(item))
        today = self.ctx.clock.today()
        until = today + timedelta(days=PREVIEW_DAYS)
        plan = item.plan
        run_op(
            self,
            self.ctx,
            lambda s, actor: plan_service.plan_schedule(s, actor, plan.id, today=today, until=until),
            lambda schedule: self._show_schedule(plan, schedule, today, until),
            lambda failure: self.show_refusal(failure.message),
            quiet=True,
        )

    def _show_schedule(self, plan: PlanRow, schedule: Schedule, today: date, until: date) -> None:
        if self.selected_plan_id() != plan.id:
            return  # the selection moved on meanwhile
        strength = plan.strength_mcg_per_ml
        self.schedule_model.set_rows(
            schedule_entries(
                schedule,
                strength=strength,
                phases=[(p.kind, p.dose_count) for p in plan.phases],
                today=today,
                until=until,
            )
        )

    def _details_html(self, item: QueueItem) -> str:
        if item.previously_verified and item.changes:
            changes = change_lines(item, self.model.template_names)
            head = (
                f'<p style="color:{WARNING_AMBER}"><b>Verified before; changed since:</b><br>'
                + "<br>".join(escape(c) for c in changes)
                + "</p>"
            )
        elif item.previously_verified:
            head = "<p><b>Verified before</b>; the plan itself has not changed since.</p>"
        else:
            head = "<p><b>First verification</b> of this plan.</p>"
        plan, flags = item.plan, self.model.patient_flags.get(item.plan.patient_id, ())
        patient = (
            f"<p><b>{escape(plan.patient_name)}</b> &nbsp; MRN {escape(plan.patient_mrn)}"
            + (f"<br>{flags_html(flags)}" if flags else "")
            + "</p>"
        )
        return patient + head + plan_details_html(plan, changed=frozenset(item.changes))

    def verify_selected(self) -> VerifyDialog | None:
        item = self.selected_item()
        if item is None or not self.verify_button.isEnabled():
            return None
        dialog = VerifyDialog(
            self.ctx, item.plan, on_verified=self._verified, on_refused=self.show_refusal, parent=self
        )
        dialog.open()
        return dialog

    def _verified(self, row: PlanRow) -> None:
        # The queue has already reloaded on the data-changed signal the verification emitted.
        self.notice.setText(
            f"Verified {row.patient_name} ({row.patient_mrn}) as {row.verified_by}. " + self.notice.text()
        )
