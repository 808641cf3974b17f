"""Regimen templates: read, preview from a date, edit as JSON into a new version; the clinic's open days."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import EventKind, Formulation
from b12desk.domain.permissions import Permission, role_can
from b12desk.domain.regimens import TaskDef
from b12desk.services import clinic
from b12desk.services import plans as plan_service
from b12desk.services.common import Actor
from b12desk.services.plans import TemplateRow
from b12desk.ui.context import TEMPLATES, AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.plans import (
    CONDITION_LABELS,
    DATE_PLACEHOLDER,
    PREVIEW_DAYS,
    WEEKDAY_NAMES,
    ScheduleModel,
    list_over_details,
    make_table,
    open_days_text,
    route_text,
    schedule_entries,
    schedule_table,
    select_or_first,
)
from b12desk.ui.style import WARNING_AMBER
from b12desk.ui.table_model import RIGHT, Column, RowsModel
from b12desk.ui.widgets import ErrorLabel, MessageLabel, mark_invalid, parse_iso_date, resize_within_screen


def _routes_text(t: TemplateRow) -> str:
    return ", ".join(route_text(r) for r in (t.definition.routes or (t.definition.route,)))


class TemplatesModel(RowsModel[TemplateRow]):
    columns = (
        Column[TemplateRow]("Code", lambda t: t.code),
        Column[TemplateRow]("Version", lambda t: str(t.version), RIGHT),
        Column[TemplateRow]("Name", lambda t: t.name if t.active else f"{t.name} (inactive)"),
        Column[TemplateRow]("Formulation", lambda t: t.formulation.value.capitalize()),
        Column[TemplateRow]("Routes", _routes_text),
        Column[TemplateRow]("Source", lambda t: t.source),
    )
    text_tooltips = True

    def row_id(self, row: TemplateRow) -> int:
        return row.id

    def foreground(self, row: TemplateRow, column: int) -> QColor | None:
        return None if row.active else QColor("#7a7a7a")

    def row_of_code(self, code: str) -> int | None:
        return self.find(lambda t: t.code == code)


def _task_html(task: TaskDef) -> str:
    kind = "Lab" if task.kind == EventKind.LAB else "Review"
    when = "on the first dose" if task.offset_days == 0 else f"day {task.offset_days}"
    parts = [f"{kind}: {escape(task.label)} — {when}"]
    if task.window_days:
        parts.append(f"(window {task.window_days} days)")
    if task.repeat_every_days:
        parts.append(f"repeats every {task.repeat_every_days} days")
    if task.condition:
        parts.append(f"<i>only with {escape(CONDITION_LABELS.get(task.condition, task.condition))}</i>")
    return "<li>" + " ".join(parts) + "</li>"


def template_html(t: TemplateRow) -> str:
    d = t.definition
    notes = escape(d.notes).replace("⚠", f'<b style="color:{WARNING_AMBER}">⚠</b>')
    out = [
        f"<h3 style='margin-bottom:2px'>{escape(t.name)} <span style='font-weight:normal'>"
        f"(v{t.version})</span></h3>",
        f"<p style='margin-top:0'><b>{escape(t.formulation.value.capitalize())}</b>, "
        f"{', '.join(route_text(r) for r in (d.routes or (d.route,)))}."
        f"<br><b>Source:</b> {escape(d.source)}</p>",
    ]
    if d.notes:
        out.append(f"<p><b>Notes:</b> {notes}</p>")
    if d.baseline_tasks:
        out.append("<p><b>Before the first dose</b></p><ul>")
        out.extend(_task_html(task) for task in d.baseline_tasks)
        out.append("</ul>")
    for n, phase in enumerate(d.phases, start=1):
        label = f" — {escape(phase.label)}" if phase.label else ""
        out.append(f"<p><b>Phase {n}{label}</b><br>{escape(phase.describe())}</p>")
        if phase.tasks:
            out.append("<ul>" + "".join(_task_html(task) for task in phase.tasks) + "</ul>")
    if not d.phases:
        out.append("<p><b>No phases yet</b>: add them in the JSON before a plan can use this template.</p>")
    return "".join(out)


class TemplatesDialog(QDialog):
    """Everyone may read; the service decides who may save a version or change the open days."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Regimen templates")
        self.can_edit = role_can(ctx.actor.role, Permission.EDIT_TEMPLATES)
        self.open_days: frozenset[int] = clinic.DEFAULT_OPEN_DAYS
        self.strengths: dict[Formulation, Decimal] = {}

        self.message = MessageLabel()
        self.notice = QLabel()
        self.notice.setObjectName("muted")

        self.model = TemplatesModel(self)
        self.table = make_table(
            self.model,
            (
                "uk_hoc_prophylaxis",
                "Version",
                "Cyanocobalamin 1,000 mcg monthly after bariatric surgery (ASMBS)",
                "Hydroxocobalamin",
                "IM, Deep SC",
            ),
        )

        self.details = QTextBrowser()
        self.details.setOpenLinks(False)

        self.preview_start = QLineEdit(ctx.clock.today().isoformat())
        self.preview_start.setPlaceholderText(DATE_PLACEHOLDER)
        self.preview_start.setMaximumWidth(110)
        self.preview_note = QLabel()
        self.preview_note.setObjectName("muted")
        self.preview_note.setWordWrap(True)
        self.preview_model = ScheduleModel(self)
        self.preview = schedule_table(self.preview_model, with_status=False)
        preview_page = QWidget()
        preview_layout = QVBoxLayout(preview_page)
        start_row = QHBoxLayout()
        start_row.addWidget(QLabel("Preview from"))
        start_row.addWidget(self.preview_start)
        start_row.addStretch(1)
        preview_layout.addLayout(start_row)
        preview_layout.addWidget(self.preview_note)
        preview_layout.addWidget(self.preview, 1)

        self.json_edit = QPlainTextEdit()
        self.json_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.json_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.json_error = ErrorLabel()
        self.reason = QLineEdit()
        self.reason.setPlaceholderText(
            "why the template changes, e.g. local protocol: maintenance every 60 days"
        )
        self.reason_error = ErrorLabel()
        self.save_button = QPushButton("Save as new version")
        edit_note = QLabel(
            "Saving stores a new numbered version; plans keep the version they were made from. A new "
            "'code' starts a new template."
            if self.can_edit
            else f"Read only: a {ctx.actor.role.value} may not edit templates; a pharmacist can."
        )
        edit_note.setObjectName("muted")
        edit_note.setWordWrap(True)
        edit_page = QWidget()
        edit_layout = QVBoxLayout(edit_page)
        edit_layout.addWidget(edit_note)
        edit_layout.addWidget(self.json_edit, 1)
        edit_layout.addWidget(self.json_error)
        reason_row = QHBoxLayout()
        reason_row.addWidget(QLabel("Reason"))
        reason_row.addWidget(self.reason, 1)
        reason_row.addWidget(self.save_button)
        edit_layout.addLayout(reason_row)
        edit_layout.addWidget(self.reason_error)
        self.json_edit.setReadOnly(not self.can_edit)
        self.reason.setEnabled(self.can_edit)
        self.save_button.setEnabled(self.can_edit)

        self.pages = QTabWidget()
        self.pages.addTab(self.details, "Phases and monitoring")
        self.pages.addTab(preview_page, "Preview from a date")
        self.pages.addTab(edit_page, "Edit (JSON)")

        split = list_over_details(self.table, self.pages, (190, 560))

        self.day_boxes = [QCheckBox(name[:3]) for name in WEEKDAY_NAMES]
        self.days_button = QPushButton("Save open days")
        self.days_error = ErrorLabel()
        days_box = QGroupBox("Clinic open days")
        days_grid = QGridLayout(days_box)
        days_row = QHBoxLayout()
        for box in self.day_boxes:
            box.setEnabled(self.can_edit)
            days_row.addWidget(box)
        days_row.addSpacing(12)
        days_row.addWidget(self.days_button)
        days_row.addStretch(1)
        self.days_button.setEnabled(self.can_edit)
        days_note = QLabel(
            "Doses are scheduled on these days only: a dose due on a closed day moves to the next open day."
        )
        days_note.setObjectName("muted")
        days_grid.addLayout(days_row, 0, 0)
        days_grid.addWidget(days_note, 1, 0)
        days_grid.addWidget(self.days_error, 2, 0)

        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.notice, 1)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(split, 1)
        layout.addWidget(days_box)
        layout.addLayout(bottom)
        resize_within_screen(self, 1220, 880)

        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.preview_start.textChanged.connect(lambda _t: self._update_preview())
        self.save_button.clicked.connect(self.save_template)
        self.days_button.clicked.connect(self.save_open_days)
        self.reload()

    # --- loading -------------------------------------------------------------------------------------

    def reload(self, select_code: str | None = None) -> None:
        keep = select_code or (t.code if (t := self.selected_template()) is not None else None)

        def read(
            session: Session, actor: Actor
        ) -> tuple[list[TemplateRow], frozenset[int], dict[Formulation, Decimal]]:
            return (
                plan_service.list_templates(session, actor, include_inactive=True),
                clinic.open_days(session),
                {f: plan_service.strength_for(session, f) for f in Formulation},
            )

        run_op(
            self,
            self.ctx,
            read,
            lambda result: self._loaded(result, keep),
            lambda failure: self.show_refusal(failure.message),
            quiet=True,
        )

    def _loaded(
        self, result: tuple[list[TemplateRow], frozenset[int], dict[Formulation, Decimal]], keep: str | None
    ) -> None:
        rows, self.open_days, self.strengths = result
        self.model.set_rows(rows)
        for day, box in enumerate(self.day_boxes):
            box.setChecked(day in self.open_days)
        select_or_first(self.table, self.model.row_of_code(keep) if keep is not None else None)
        self._selection_changed()

    def show_refusal(self, text: str) -> None:
        self.message.show_text(text)

    def selected_template(self) -> TemplateRow | None:
        return self.model.selected(self.table)

    def select_code(self, code: str) -> bool:
        row = self.model.row_of_code(code)
        if row is not None:
            self.table.selectRow(row)
        t = self.selected_template()
        return t is not None and t.code == code

    def _selection_changed(self) -> None:
        t = self.selected_template()
        self.json_error.set_error("")
        self.reason_error.set_error("")
        mark_invalid(self.json_edit, False)
        if t is None:
            self.details.setHtml("")
            self.json_edit.setPlainText("")
            self.preview_model.set_rows([])
            return
        self.details.setHtml(template_html(t))
        self.json_edit.setPlainText(json.dumps(t.raw, indent=2, ensure_ascii=False))
        self._update_preview()

    def _update_preview(self) -> None:
        t = self.selected_template()
        if t is None:
            return
        try:
            start = parse_iso_date(self.preview_start.text())
        except ValueError:
            start = None
        if start is None:
            self.preview_model.set_rows([])
            self.preview_note.setText(f"Write the first dose's date as {DATE_PLACEHOLDER}.")
            return
        if not t.definition.phases:
            self.preview_model.set_rows([])
            self.preview_note.setText("This template has no phases yet, so there is nothing to schedule.")
            return
        schedule = plan_service.preview_schedule(
            t.definition, start=start, days=self.open_days, until=start + timedelta(days=PREVIEW_DAYS)
        )
        self.preview_model.set_rows(
            schedule_entries(
                schedule,
                strength=self.strengths.get(t.formulation),
                phases=[(p.kind, p.dose_count) for p in t.definition.phases],
                today=None,
            )
        )
        self.preview_note.setText(
            f"First 12 months, clinic open {open_days_text(self.open_days)}; tasks that apply only to some "
            "patients (e.g. severe anaemia) are left out."
        )

    # --- saving --------------------------------------------------------------------------------------

    def save_template(self) -> None:
        self.json_error.set_error("")
        self.reason_error.set_error("")
        mark_invalid(self.json_edit, False)
        mark_invalid(self.reason, False)
        try:
            raw = json.loads(self.json_edit.toPlainText())
        except json.JSONDecodeError as exc:
            self._json_problem(f"Not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.")
            return
        if not isinstance(raw, dict):
            self._json_problem('A template is one JSON object: { "code": ..., "phases": [...] }.')
            return
        reason = self.reason.text()

        def refused(failure: OpFailure) -> None:
            if not failure.fields:
                self.show_refusal(failure.message)
                return
            if "template" in failure.fields:
                self._json_problem(failure.fields["template"])
            if "reason" in failure.fields:
                self.reason_error.set_error(failure.fields["reason"])
                mark_invalid(self.reason, True)
                self.reason.setFocus()

        run_op(
            self,
            self.ctx,
            lambda s, actor: plan_service.save_template(s, actor, raw, reason=reason),
            self._template_saved,
            refused,
            write=True,
            changes=(TEMPLATES,),
        )

    def _template_saved(self, saved: TemplateRow) -> None:
        self.show_refusal("")
        self.reason.clear()
        self.reload(select_code=saved.code)
        self.notice.setText(f"Saved {saved.code} version {saved.version}.")

    def _json_problem(self, text: str) -> None:
        self.json_error.set_error(text)
        mark_invalid(self.json_edit, True)
        self.json_edit.setFocus()

    def save_open_days(self) -> None:
        days = frozenset(day for day, box in enumerate(self.day_boxes) if box.isChecked())
        run_op(
            self,
            self.ctx,
            lambda s, actor: clinic.set_open_days(s, actor, days),
            lambda _none: self._days_saved(days),
            lambda failure: self.days_error.set_error("\n".join(failure.fields.values()) or failure.message),
            write=True,
            changes=(TEMPLATES,),
        )

    def _days_saved(self, days: frozenset[int]) -> None:
        self.days_error.set_error("")
        self.open_days = days
        self._update_preview()
        self.notice.setText(f"The clinic now gives injections on {open_days_text(days)}.")
