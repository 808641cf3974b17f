"""A patient's whole story from the audit trail: record, labs, plans, doses and supplies, newest first."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from b12desk.domain.enums import (
    CAUSE_LABELS,
    OUTCOME_LABELS,
    PRESENTATION_LABELS,
    REACTION_LABELS,
    SEX_LABELS,
    SITE_LABELS,
    SYMPTOM_SCALE,
    SYMPTOMS,
    AdministrationOutcome,
    Cause,
    InjectionSite,
    LabContext,
    PlanStatus,
    Presentation,
    Reaction,
    RecordStatus,
    Route,
    Sex,
)
from b12desk.domain.patients import PATIENT_FIELD_LABELS
from b12desk.domain.units import format_mcg, format_ml
from b12desk.services import patients
from b12desk.services.patients import HistoryEntry, RosterRow
from b12desk.services.reference import lab_tests
from b12desk.ui.context import AppContext
from b12desk.ui.labs_dialog import CONTEXT_LABELS, STATUS_LABELS
from b12desk.ui.ops import run_op
from b12desk.ui.plans.common import CHANGE_LABELS, SHORT_STATUS, change_value_text, route_text
from b12desk.ui.table_model import TOP_LEFT, Column, RowsModel
from b12desk.ui.widgets import MessageLabel, format_local_time, resize_within_screen, setup_record_table

_OTHER_LABELS = {
    "archived": "Archived",
    "patient_id": "Patient",
    "test": "Test",
    "taken_on": "Date taken",
    "value": "Value",
    "unit": "Unit",
    "context": "Context",
    "status": "Status",
}
# A dose's audit, field by field, in the order a nurse reads it.
_DOSE_LABELS = {
    "outcome": "Outcome",
    "dose_mcg": "Dose",
    "volume_ml": "Volume",
    "route": "Route",
    "site": "Site",
    "given_at": "Given at",
    "external": "Given elsewhere",
    "self_administered": "Self-injected at home",
    "imported": "Imported from",
    "reaction": "Reaction",
    "symptoms": "Symptoms",
    "lot": "Lot",
    "vial": "Vial",
    "acknowledged": "Warnings accepted",
    "note": "Note",
    "status": "Status",
    "stock": "Stock",
}
_SUPPLY_LABELS = {"containers": "Containers", "lot": "Lot", "vial": "Vial"}
# Ids that say nothing to a reader: the patient is the dialog's, the rest are bookkeeping.
_HIDDEN = {"patient", "patient_id", "plan", "product", "movement", "administration", "replaced_by"}
_ACTION_LABELS = {
    "create": "Created",
    "update": "Edited",
    "archive": "Archived",
    "restore": "Restored",
    "lab create": "Lab result added",
    "lab entered_in_error": "Lab result marked entered in error",
    "plan create": "Plan written (draft)",
    "plan update": "Plan edited – back to draft",
    "plan verify": "Plan verified",
    "plan return_for_review": "Plan back to the pharmacist to verify again",
    "plan end_phase": "Plan phase ended at review",
    "plan complete": "Plan completed",
    "plan stop": "Plan stopped",
    "dose amend": "Dose corrected",
    "dose entered_in_error": "Dose marked entered in error",
    "supply supplied_home": "Supplied to take home",
}
_DOSE_OUTCOMES = {
    AdministrationOutcome.GIVEN: "Dose given",
    AdministrationOutcome.REFUSED: "Dose refused",
    AdministrationOutcome.HELD: "Dose held",
    AdministrationOutcome.NOT_GIVEN: "Dose not given",
}


def _kind(entry: HistoryEntry) -> str:
    """What the event is about: 'patient', or the prefix the service gives ('lab', 'plan', 'dose', ...)."""
    prefix, space, _ = entry.action.partition(" ")
    return prefix if space else "patient"


def _time_text(value: Any) -> str:
    try:
        return format_local_time(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _dose_value_text(field: str, value: Any) -> str:
    if field == "dose_mcg":
        return format_mcg(Decimal(str(value)))
    if field == "volume_ml":
        return format_ml(Decimal(str(value)))
    if field == "route" and value in Route._value2member_map_:
        return route_text(Route(value))
    if field == "site" and value in InjectionSite._value2member_map_:
        return SITE_LABELS[InjectionSite(value)]
    if field == "outcome" and value in AdministrationOutcome._value2member_map_:
        return OUTCOME_LABELS[AdministrationOutcome(value)]
    if field == "reaction" and value in Reaction._value2member_map_:
        return REACTION_LABELS[Reaction(value)]
    if field == "given_at":
        return _time_text(value)
    if field == "symptoms" and isinstance(value, dict):
        return ", ".join(
            f"{SYMPTOMS.get(name, name)} {SYMPTOM_SCALE[score] if 0 <= score < 4 else score}"
            for name, score in value.items()
        )
    if field == "acknowledged" and isinstance(value, dict):
        return "; ".join(f"{code.replace('_', ' ')} ({why})" for code, why in value.items())
    return _value_text(field, value)


def _value_text(field: str, value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if field == "cause" and value in Cause._value2member_map_:
        return CAUSE_LABELS[Cause(value)]
    if field == "presentation" and value in Presentation._value2member_map_:
        return PRESENTATION_LABELS[Presentation(value)]
    if field == "sex" and value in Sex._value2member_map_:
        return SEX_LABELS[Sex(value)]
    if field == "test" and value in lab_tests():
        return lab_tests()[value].name
    if field == "context" and value in LabContext._value2member_map_:
        return CONTEXT_LABELS[LabContext(value)]
    if field == "status" and value in RecordStatus._value2member_map_:
        return STATUS_LABELS[RecordStatus(value)]
    return str(value)


def _plan_value_text(field: str, value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if field == "status" and value in PlanStatus._value2member_map_:
        return SHORT_STATUS[PlanStatus(value)]
    if field == "ended_on":
        return str(value)
    return change_value_text(field, value, {})  # the service gave template ids as names


def _says_nothing(value: Any) -> bool:
    return value in (None, "", False, {}, "none", 0, "0")


def _field_line(kind: str, field: str, old: Any, new: Any) -> tuple[str, str, str | None]:
    """(label, old text or '', new text or None) of one changed field, in the words of its kind."""
    if kind == "plan":
        label = CHANGE_LABELS.get(field, field.replace("_", " "))
        label = label[:1].upper() + label[1:]
        text = _plan_value_text
    elif kind == "dose":
        label, text = _DOSE_LABELS.get(field, field.replace("_", " ").capitalize()), _dose_value_text
    elif kind == "supply":
        label, text = _SUPPLY_LABELS.get(field, field.replace("_", " ").capitalize()), _value_text
        if field == "containers" and new is not None:
            new = abs(int(new))
    else:
        label = PATIENT_FIELD_LABELS.get(field) or _OTHER_LABELS.get(field, field)
        text = _value_text
    return label, text(field, old) if old is not None else "", text(field, new)


def _order(kind: str, fields: list[str]) -> list[str]:
    order = {
        "plan": ["status", *CHANGE_LABELS],
        "dose": list(_DOSE_LABELS),
        "supply": list(_SUPPLY_LABELS),
    }.get(kind)
    if order is None:
        return fields
    return sorted(fields, key=lambda f: order.index(f) if f in order else len(order))


def changes_text(entry: HistoryEntry) -> str:
    """One line per field, 'Label: value' or 'Label: old → new', in plain words."""
    kind = _kind(entry)
    created = entry.action.endswith("create") or kind == "supply"
    lines = []
    for field in _order(kind, list(entry.changes)):
        old, new = entry.changes[field]
        if field in _HIDDEN:
            continue
        if old is None and created and _says_nothing(new):
            continue  # a new record's empty fields say nothing
        label, old_text, new_text = _field_line(kind, field, old, new)
        lines.append(f"{label}: {old_text} → {new_text}" if old is not None else f"{label}: {new_text}")
    return "\n".join(lines)


def action_text(entry: HistoryEntry) -> str:
    if entry.action == "dose create":
        outcome = AdministrationOutcome._value2member_map_.get(entry.changes.get("outcome", (None, ""))[1])
        text = (
            _DOSE_OUTCOMES.get(outcome, "Dose recorded") if isinstance(outcome, AdministrationOutcome) else ""
        )
        text = text or "Dose recorded"
        external = entry.changes.get("external", (None, False))[1]
        at_home = entry.changes.get("self_administered", (None, False))[1]
        if at_home:
            return "Dose self-injected at home (reported)"
        return f"{text} elsewhere (entered here)" if external else text
    return _ACTION_LABELS.get(entry.action, entry.action.replace("_", " "))


class HistoryModel(RowsModel[HistoryEntry]):
    columns = (
        Column[HistoryEntry]("When", lambda e: format_local_time(e.at), TOP_LEFT),
        Column[HistoryEntry]("Who", lambda e: e.who, TOP_LEFT),
        Column[HistoryEntry]("Action", action_text, TOP_LEFT),
        Column[HistoryEntry]("Changes (field: old → new)", changes_text, TOP_LEFT),
        Column[HistoryEntry]("Reason", lambda e: e.reason, TOP_LEFT),
    )
    text_tooltips = True

    def __init__(self, entries: list[HistoryEntry], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.set_rows(entries)


class HistoryDialog(QDialog):
    """Opens at once and fills in when the audit trail has been read; a refusal is said in the dialog."""

    def __init__(self, ctx: AppContext, patient: RosterRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        who = f"{patient.family_name.upper()}, {patient.given_name}"
        self.setWindowTitle(f"History — {who} ({patient.mrn})")
        self.model = HistoryModel([], self)
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_record_table(self.table)
        self.table.setWordWrap(True)
        for column, width in enumerate((120, 90, 150, 380)):
            self.table.setColumnWidth(column, width)
        # Per-patient history is short, so measuring every row's height is cheap here.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        note = QLabel(
            "From the audit trail: nothing is deleted or overwritten, and every change names who made it."
        )
        note.setObjectName("muted")
        self.message = MessageLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self._close_button = buttons.button(QDialogButtonBox.StandardButton.Close)
        self.record_button = buttons.addButton(
            "Treatment record (PDF)…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.record_button.setToolTip(
            "The patient's plans and verification, every dose, labs with trends, corrections and reasons, "
            "with signature lines: to print or save."
        )
        self.record_button.clicked.connect(lambda: self.print_record())
        self.ctx, self.patient_id = ctx, patient.id
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>{escape(who)}</b> &nbsp; MRN {escape(patient.mrn)}"))
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)
        resize_within_screen(self, 980, 520)
        run_op(
            self,
            ctx,
            lambda s, actor: patients.patient_history(s, actor, patient.id),
            self.model.set_rows,
            lambda failure: self.message.show_text(failure.message),
            quiet=True,
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._close_button.setFocus()  # rather than outlining the first cell of the table

    def print_record(self) -> QDialog:
        from b12desk.ui.printing import RecordPrintDialog  # loaded when first used

        dialog = RecordPrintDialog(self.ctx, self.patient_id, parent=self)
        dialog.open()
        return dialog
