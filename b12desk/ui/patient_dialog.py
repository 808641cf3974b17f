"""Add or edit a patient; the service validates, and each of its messages is shown beside its field."""

from __future__ import annotations

from datetime import date

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
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import CAUSE_LABELS, PRESENTATION_LABELS, SEX_LABELS, Cause, Presentation, Sex
from b12desk.domain.patients import MAX_NAME, PATIENT_FIELD_LABELS, PatientInput
from b12desk.services import patients
from b12desk.services.common import Actor
from b12desk.services.patients import PatientDetail
from b12desk.ui.context import PATIENTS, PLANS, AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    MessageLabel,
    mark_invalid,
    parse_iso_date,
    show_message,
)

FLAG_FIELDS = (
    "flag_b12_hypersensitivity",
    "flag_cobalt_allergy",  # beside the hypersensitivity: a caution to counsel on, not a contraindication
    "flag_lebers_disease",
    "flag_benzyl_alcohol_sensitivity",
)
FLAG_TIPS = {
    "flag_b12_hypersensitivity": "A reaction to B12 or cobalt: both formulations are contraindicated; a plan "
    "needs a pharmacist's documented override (SmPC).",
    "flag_cobalt_allergy": "A cobalt (or nickel-cobalt) allergy, e.g. contact dermatitis: vitamin B12 holds "
    "cobalt. Counsel the patient before treatment and watch after the first dose; a reaction to B12 "
    "itself is a hypersensitivity (hydroxocobalamin leaflet, clinical-facts 3).",
    "flag_lebers_disease": "Leber's disease: cyanocobalamin can cause rapid optic atrophy; hydroxocobalamin "
    "only.",
    "flag_benzyl_alcohol_sensitivity": "Benzyl alcohol sensitivity: products preserved with it are refused.",
}
DATE_PLACEHOLDER = "YYYY-MM-DD"


def _text_box(lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setTabChangesFocus(True)
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 14)
    return box


class PatientDialog(DiscardGuard, QDialog):
    """Stays open with everything typed when the service refuses; closes only after a save."""

    saved = Signal(int)  # the patient's id

    def __init__(
        self, ctx: AppContext, *, detail: PatientDetail | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.ctx = ctx
        self.detail = detail
        self.result_detail: PatientDetail | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if detail is None:
            self.setWindowTitle("New patient")
        else:
            d = detail.data
            self.setWindowTitle(f"Edit patient — {d.family_name.upper()}, {d.given_name} ({d.mrn})")

        self.errors = FieldErrors()
        self._training_date_problem = ""
        self.mrn = QLineEdit()
        self.mrn.setMaxLength(32)
        self.mrn.setPlaceholderText("hospital number")
        self.family_name = QLineEdit()
        self.family_name.setMaxLength(MAX_NAME + 1)  # one over, so the service's message can show
        self.given_name = QLineEdit()
        self.given_name.setMaxLength(MAX_NAME + 1)
        self.date_of_birth = QLineEdit()
        self.date_of_birth.setPlaceholderText(DATE_PLACEHOLDER)
        self.date_of_birth.setMaxLength(10)
        self.sex = QComboBox()
        for sex, label in SEX_LABELS.items():
            self.sex.addItem(label, sex)
        self.sex.setCurrentIndex(self.sex.findData(Sex.UNKNOWN))
        self.phone = QLineEdit()
        self.email = QLineEdit()
        self.address = _text_box(2)
        self.cause = QComboBox()
        for cause, label in CAUSE_LABELS.items():
            self.cause.addItem(label, cause)
        self.cause.setCurrentIndex(self.cause.findData(Cause.UNKNOWN))
        self.presentation = QComboBox()
        for presentation, label in PRESENTATION_LABELS.items():
            self.presentation.addItem(label, presentation)
        self.presentation.setCurrentIndex(self.presentation.findData(Presentation.NOT_RECORDED))
        self.presentation.setToolTip(
            "With the cause, chooses the regimen suggested: an established deficiency is treated first "
            "(with its blood and potassium checks); prevention alone is not."
        )
        self.neuro_involvement = QCheckBox(PATIENT_FIELD_LABELS["neuro_involvement"])
        self.neuro_symptoms = _text_box(2)
        self.neuro_symptoms.setPlaceholderText("e.g. paraesthesia, ataxia, memory problems")
        self.pregnant_or_breastfeeding = QCheckBox(PATIENT_FIELD_LABELS["pregnant_or_breastfeeding"])
        self.self_injection_trained_on = QLineEdit()
        self.self_injection_trained_on.setPlaceholderText(f"{DATE_PLACEHOLDER}, if trained")
        self.self_injection_trained_on.setToolTip(
            "A patient trained to self-inject may report the doses given at home."
        )
        self.self_injection_trained_on.setMaxLength(10)
        self.self_injection_trainer = QLineEdit()
        self.self_injection_trainer.setPlaceholderText("the nurse who trained them")
        self.flags = {name: QCheckBox(PATIENT_FIELD_LABELS[name]) for name in FLAG_FIELDS}
        for name, box in self.flags.items():
            box.setToolTip(FLAG_TIPS[name])
        self.allergies = _text_box(2)
        self.allergies.setPlaceholderText("drug and other allergies, or 'none known'")
        self.notes = _text_box(3)
        self.change_reason = QLineEdit()
        self.change_reason.setPlaceholderText("optional: why the record is being changed")

        self.summary = MessageLabel()

        identity = self._group("Patient", ["mrn", "family_name", "given_name", "date_of_birth", "sex"])
        contact = self._group("Contact", ["phone", "email", "address"])
        clinical = self._group(
            "Clinical",
            [
                "cause",
                "presentation",
                "neuro_involvement",
                "neuro_symptoms",
                "pregnant_or_breastfeeding",
                "self_injection_trained_on",
                "self_injection_trainer",
            ],
        )
        contraindications = self._group("Contraindications and cautions", [*FLAG_FIELDS, "allergies"])
        contraindications.setObjectName("contraindications")
        notes = QGroupBox(PATIENT_FIELD_LABELS["notes"])
        notes_layout = QVBoxLayout(notes)
        notes_layout.addWidget(self.notes)
        notes_error = ErrorLabel()
        notes_layout.addWidget(notes_error)
        self.errors.add("notes", self.notes, notes_error)

        columns = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(identity)
        left.addWidget(contact)
        left.addStretch(1)
        right.addWidget(clinical)
        right.addWidget(contraindications)
        right.addStretch(1)
        columns.addLayout(left, 1)
        columns.addSpacing(8)
        columns.addLayout(right, 1)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setDefault(True)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(columns)
        layout.addWidget(notes)
        if detail is not None:
            reason_row = QHBoxLayout()
            reason_row.addWidget(QLabel("Reason for change"))
            reason_row.addWidget(self.change_reason, 1)
            layout.addLayout(reason_row)
        layout.addWidget(self.buttons)
        self.resize(900, self.sizeHint().height())

        if detail is not None:
            self._load(detail.data)

    def _widget(self, name: str) -> QWidget:
        widget = self.flags.get(name) or getattr(self, name)
        assert isinstance(widget, QWidget)
        return widget

    def _group(self, title: str, names: list[str]) -> QGroupBox:
        box = QGroupBox(title)
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(2)
        row = 0
        for name in names:
            widget = self._widget(name)
            error = ErrorLabel()
            if isinstance(widget, QCheckBox):
                grid.addWidget(widget, row, 0, 1, 2)
            else:
                label = QLabel(PATIENT_FIELD_LABELS[name])
                label.setBuddy(widget)
                align = Qt.AlignmentFlag.AlignRight
                align |= (
                    Qt.AlignmentFlag.AlignTop
                    if isinstance(widget, QPlainTextEdit)
                    else Qt.AlignmentFlag.AlignVCenter
                )
                grid.addWidget(label, row, 0, align)
                grid.addWidget(widget, row, 1)
            grid.addWidget(error, row + 1, 1 if not isinstance(widget, QCheckBox) else 0, 1, 2)
            self.errors.add(name, widget, error)
            row += 2
        return box

    # --- reading and writing the form ------------------------------------------------------------------

    def _load(self, data: PatientInput) -> None:
        self.mrn.setText(data.mrn)
        self.family_name.setText(data.family_name)
        self.given_name.setText(data.given_name)
        self.date_of_birth.setText(data.date_of_birth.isoformat() if data.date_of_birth else "")
        self.sex.setCurrentIndex(self.sex.findData(data.sex))
        self.phone.setText(data.phone)
        self.email.setText(data.email)
        self.address.setPlainText(data.address)
        self.cause.setCurrentIndex(self.cause.findData(data.cause))
        self.presentation.setCurrentIndex(self.presentation.findData(data.presentation))
        self.neuro_involvement.setChecked(data.neuro_involvement)
        self.neuro_symptoms.setPlainText(data.neuro_symptoms)
        self.pregnant_or_breastfeeding.setChecked(data.pregnant_or_breastfeeding)
        trained = data.self_injection_trained_on
        self.self_injection_trained_on.setText(trained.isoformat() if trained else "")
        self.self_injection_trainer.setText(data.self_injection_trainer)
        for name, box in self.flags.items():
            box.setChecked(getattr(data, name))
        self.allergies.setPlainText(data.allergies)
        self.notes.setPlainText(data.notes)

    def read_input(self) -> tuple[PatientInput, str]:
        """The form as a PatientInput, and a message if the date of birth could not be read as a date."""
        date_problem = ""
        born: date | None
        try:
            born = parse_iso_date(self.date_of_birth.text(), example="1958-03-14")
        except ValueError as exc:
            born, date_problem = None, str(exc)
        trained: date | None = None
        try:
            trained = parse_iso_date(self.self_injection_trained_on.text())
        except ValueError as exc:
            self._training_date_problem = str(exc)
        else:
            self._training_date_problem = ""
        data = PatientInput(
            mrn=self.mrn.text(),
            family_name=self.family_name.text(),
            given_name=self.given_name.text(),
            date_of_birth=born,
            sex=self.sex.currentData(),
            phone=self.phone.text(),
            email=self.email.text(),
            address=self.address.toPlainText(),
            cause=self.cause.currentData(),
            presentation=self.presentation.currentData(),
            neuro_involvement=self.neuro_involvement.isChecked(),
            neuro_symptoms=self.neuro_symptoms.toPlainText(),
            pregnant_or_breastfeeding=self.pregnant_or_breastfeeding.isChecked(),
            flag_b12_hypersensitivity=self.flags["flag_b12_hypersensitivity"].isChecked(),
            flag_lebers_disease=self.flags["flag_lebers_disease"].isChecked(),
            flag_benzyl_alcohol_sensitivity=self.flags["flag_benzyl_alcohol_sensitivity"].isChecked(),
            flag_cobalt_allergy=self.flags["flag_cobalt_allergy"].isChecked(),
            self_injection_trained_on=trained,
            self_injection_trainer=self.self_injection_trainer.text(),
            allergies=self.allergies.toPlainText(),
            notes=self.notes.toPlainText(),
        )
        return data, date_problem

    # --- saving ----------------------------------------------------------------------------------------

    def save(self) -> None:
        data, date_problem = self.read_input()
        detail, reason = self.detail, self.change_reason.text()
        if self._training_date_problem:  # checked here: an unreadable date must not be saved as none
            self.show_errors({"self_injection_trained_on": self._training_date_problem})
            return

        def write(session: Session, actor: Actor) -> PatientDetail:
            if detail is None:
                return patients.create_patient(session, actor, data)
            return patients.update_patient(
                session, actor, detail.id, data, expected_version=detail.version_id, reason=reason
            )

        def refused(failure: OpFailure) -> None:
            self.save_button.setEnabled(True)
            errors = dict(failure.fields)
            if date_problem and failure.kind == "invalid":  # why the typed date was not read
                errors["date_of_birth"] = date_problem
            if errors:
                self.show_errors(errors)
                return
            self.errors.clear()  # a conflict (reopen), a role that may not, a busy database
            self._show_summary(failure.message)

        self.save_button.setEnabled(False)  # one save at a time, until this one is answered
        run_op(self, self.ctx, write, self._saved, refused, write=True, changes=(PATIENTS,))

    def _saved(self, result: PatientDetail) -> None:
        self.result_detail = result
        if result.plans_returned_for_review:
            self.ctx.bus.notify(PLANS)
            parent = self.parentWidget()
            if parent is not None:
                show_message(
                    parent,
                    "Plan back to the pharmacist",
                    "A contraindication flag changed, so the patient's verified plan goes back to a "
                    "pharmacist, who checks it against the flag. No dose can be recorded until it is "
                    "verified again.",
                    QMessageBox.Icon.Information,
                )
        self.saved.emit(result.id)
        self.accept()

    def show_errors(self, errors: dict[str, str]) -> None:
        unclaimed = self.errors.show(errors)
        claimed = [PATIENT_FIELD_LABELS[name] for name in self.errors.in_form_order(errors)]
        lines = ["The patient was not saved."]
        if claimed:
            noun = "field" if len(claimed) == 1 else "fields"
            lines.append(f"Correct the highlighted {noun}: {', '.join(claimed)}.")
        lines.extend(unclaimed.values())
        self._show_summary("\n".join(lines))

    def _show_summary(self, text: str) -> None:
        self.summary.show_text(text)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow to show wrapped messages in full; a dialog does not grow by itself once shown."""
        layout = self.layout()
        if layout is None:
            return
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        needed = max(needed, layout.totalMinimumSize().height())
        if needed > self.height():
            self.resize(self.width(), needed)

    def field_error(self, name: str) -> str:
        """The message shown beside a field ('' when none); for tests and accessibility checks."""
        return self.errors.message(name)

    def field_invalid(self, name: str) -> bool:
        return bool(self._widget(name).property("invalid"))

    def clear_errors(self) -> None:
        self.errors.clear()
        self._show_summary("")
        for name in PATIENT_FIELD_LABELS:
            mark_invalid(self._widget(name), False)
