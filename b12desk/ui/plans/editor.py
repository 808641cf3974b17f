"""The plan editor: template, strength, dose, route and start, with a live schedule preview."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import EventKind, Formulation, PlanStatus, Route
from b12desk.domain.units import (
    QuantityError,
    dose_volume_ml,
    format_mcg,
    format_ml,
    format_strength,
    parse_dose_mcg,
)
from b12desk.services import auth, clinic, patients
from b12desk.services import plans as plan_service
from b12desk.services.common import Actor
from b12desk.services.patients import PatientDetail
from b12desk.services.plans import PlanInput, PlanRow, TemplateRow, TemplateSuggestion
from b12desk.ui.context import PLANS, AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.plans.common import (
    DATE_PLACEHOLDER,
    FIELD_LABELS,
    PREVIEW_DAYS,
    ROUTE_LABELS,
    WEEKDAY_NAMES,
    _warning_label,
    open_days_text,
    patient_header_html,
    template_info_html,
)
from b12desk.ui.plans.models import (
    ScheduleModel,
    schedule_entries,
    schedule_table,
)
from b12desk.ui.style import ERROR_RED
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    MessageLabel,
    format_date,
    parse_iso_date,
    resize_within_screen,
)


@dataclass(frozen=True)
class _EditorData:
    patient: PatientDetail
    templates: dict[int, TemplateRow]
    suggestion: TemplateSuggestion
    open_days: frozenset[int]
    strengths: dict[Formulation, list[Decimal]]


def _editor_data(session: Session, actor: Actor, patient_id: int, template_id: int | None) -> _EditorData:
    """Everything the editor shows, read in one transaction on the database worker."""
    templates = {t.id: t for t in plan_service.list_templates(session, actor)}
    if template_id is not None and template_id not in templates:  # a plan on an older version
        templates[template_id] = plan_service.get_template(session, actor, template_id)
    return _EditorData(
        patient=patients.get_patient(session, actor, patient_id),
        templates=templates,
        suggestion=plan_service.suggest_template(session, actor, patient_id),
        open_days=clinic.open_days(session),
        strengths={f: plan_service.stocked_strengths(session, f) for f in Formulation},
    )


class PlanEditorDialog(DiscardGuard, QDialog):
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
        self.setWindowTitle("New treatment plan" if plan is None else "Edit treatment plan")
        self._outer = QVBoxLayout(self)
        self.loading = MessageLabel()
        self.loading.setObjectName("muted")
        self.loading.show_text("Reading the patient and the regimen templates…")
        self._outer.addWidget(self.loading)
        resize_within_screen(self, 1220, 760)
        template_id = plan.template_id if plan is not None else None
        run_op(
            self,
            ctx,
            lambda s, actor: _editor_data(s, actor, patient_id, template_id),
            self._setup,
            lambda failure: self.loading.show_text(f"The plan cannot be edited: {failure.message}"),
        )

    def _setup(self, data: _EditorData) -> None:
        """Build the form once the patient, templates and strengths have been read."""
        self.patient, self.templates = data.patient, data.templates
        self.suggested, self.suggestion_why = data.suggestion.template, data.suggestion.why
        self.open_days, self.strengths = data.open_days, data.strengths
        plan = self.plan
        self.loading.hide()
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
        self.mark_clean()  # as read: what the pharmacist changes from here is what Esc would lose

    # --- building the form ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.header = header = QLabel(patient_header_html(self.patient))
        header.setWordWrap(True)
        self.suggestion = QLabel(self._suggestion_text())
        self.suggestion.setObjectName("muted")
        self.suggestion.setWordWrap(True)

        self.template = QComboBox()
        # Template names are long: the combo box shrinks to the window and shows the whole name when open.
        self.template.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.template.setMinimumContentsLength(24)
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
        self.dose.setMinimumWidth(self.dose.fontMetrics().horizontalAdvance("000000") + 16)
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
        self.severe_anaemia = QCheckBox("Severe anaemia (a second potassium check)")
        self.severe_anaemia.setToolTip(
            "Severe anaemia: a second potassium check is scheduled 3-4 days after the first dose."
        )
        self.supplied_as = QLineEdit()
        self.supplied_as.setPlaceholderText("e.g. cyanocobalamin 1,000 mcg tablets, one a day, 28")
        self.supplied_as.setToolTip(
            "Oral treatment is taken at home: no injection is scheduled. Record what the patient takes "
            "home; the pharmacist verifies it with the plan."
        )
        self.continues_elsewhere = QCheckBox("Continues treatment begun at another clinic")
        self.continues_elsewhere.setToolTip(
            "Doses given at the other clinic before the start date may then be entered."
        )

        self.field_labels: dict[str, QLabel] = {}
        form = QGridLayout()
        form.setColumnStretch(1, 1)
        form.setVerticalSpacing(2)
        rows: list[tuple[str, str, QWidget, QWidget]] = [
            ("template", "Template", self.template, self.template),
            ("formulation", "Formulation", self.formulation, self.formulation),
            ("strength_mcg_per_ml", "Strength", self.strength, self.strength),
            ("supplied_as", "Supplied", self.supplied_as, self.supplied_as),
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
        preview_box.setMinimumWidth(340)
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

        layout = self._outer
        layout.addWidget(header)
        layout.addWidget(self.suggestion)
        layout.addWidget(self.summary)
        layout.addLayout(columns, 1)
        layout.addWidget(self.buttons)

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
        self.field_labels[name] = label
        error = ErrorLabel()
        grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(shown or field, row, 1)
        grid.addWidget(error, row + 1, 1)
        self.errors.add(name, field, error)

    def _suggestion_text(self) -> str:
        if self.suggested is None:
            return f"Suggested from the record: {self.suggestion_why} Choose a template."
        return (
            f"Suggested from the record → {self.suggested.name} (v{self.suggested.version}). "
            f"{self.suggestion_why}"
        )

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
            for widget in (self.supplied_as, self.field_labels["supplied_as"]):
                widget.setVisible(False)
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
        oral = Route.ORAL in (d.routes or (d.route,))  # taken at home: what is supplied, not a strength
        injection_only: tuple[QWidget, ...] = (
            self.strength,
            self.field_labels["strength_mcg_per_ml"],
            self.volume,
        )
        for shown in injection_only:
            shown.setVisible(not oral)
        for oral_only in (self.supplied_as, self.field_labels["supplied_as"]):
            oral_only.setVisible(oral)
        for injections_only in (self.severe_anaemia, self.continues_elsewhere):
            injections_only.setVisible(not oral)  # potassium checks and outside doses are of injections
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
        until = start + timedelta(days=PREVIEW_DAYS)
        schedule = plan_service.preview_schedule(
            t.definition,
            start=start,
            dose_mcg=dose,
            conditions=conditions,
            days=self.open_days,
            until=until,
        )
        entries = schedule_entries(
            schedule,
            strength=strength,
            phases=[(p.kind, p.dose_count) for p in t.definition.phases],
            today=None,
            until=until,
        )
        self.preview_model.set_rows(entries)
        doses = sum(1 for e in entries if e.kind == EventKind.DOSE)
        tasks = len(entries) - doses
        span = f"First 12 months, {format_date(start)} to {format_date(until)}"
        if Route.ORAL in (t.definition.routes or (t.definition.route,)):
            self.preview_summary.setText(
                f"{span}: taken at home, no injections; {tasks} monitoring tasks, on the clinic's open "
                f"days ({open_days_text(self.open_days)})."
            )
            return
        self.preview_summary.setText(
            f"{span}: {doses} doses and {tasks} monitoring tasks. The clinic gives injections on "
            f"{open_days_text(self.open_days)}; a dose due on another day moves to the next open day."
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
        self.supplied_as.setText(plan.supplied_as)
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
        route = Route(self.route.currentData())  # Qt hands a StrEnum back as a plain str
        oral = route == Route.ORAL  # the injection-only boxes are hidden: what they hold does not apply
        data = PlanInput(
            template_id=t.id,
            formulation=t.formulation,
            dose_mcg=dose,
            route=route,
            start_date=start,
            prescriber=self.prescriber.text(),
            indication=self.indication.text(),
            conditions=frozenset() if oral else self.conditions(),
            strength_mcg_per_ml=strength,
            continues_elsewhere=False if oral else self.continues_elsewhere.isChecked(),
            supplied_as=self.supplied_as.text() if oral else "",
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
        plan, patient_id, reason = self.plan, self.patient_id, self.change_reason.text()

        def write(session: Session, actor: Actor) -> PlanRow:
            if plan is None:
                return plan_service.create_plan(
                    session, actor, patient_id, data, override_reason=override_reason, password=password
                )
            return plan_service.update_plan(
                session,
                actor,
                plan.id,
                data,
                expected_version=plan.version_id,
                reason=reason,
                override_reason=override_reason,
                password=password,
            )

        run_op(self, self.ctx, write, self._saved, self._refused, write=True, changes=(PLANS,))

    def _saved(self, row: PlanRow) -> None:
        self.result_plan = row
        self.saved.emit(row.id)
        self.accept()

    def _refused(self, failure: OpFailure) -> None:
        if isinstance(failure.error, auth.AuthenticationFailed):
            self.password.clear()
            self.show_errors({"password": failure.message})
            return
        if failure.fields:
            self.show_errors(failure.fields)
            return
        self.errors.clear()  # a role that may not, a plan changed meanwhile (reopen it)
        self._show_summary(failure.message)

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
