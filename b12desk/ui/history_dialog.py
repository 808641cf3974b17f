"""Everything that happened to a patient's record and labs, newest first, from the audit trail."""

from __future__ import annotations

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

from b12desk.domain.enums import CAUSE_LABELS, SEX_LABELS, Cause, LabContext, RecordStatus, Sex
from b12desk.domain.patients import PATIENT_FIELD_LABELS
from b12desk.services import patients
from b12desk.services.patients import HistoryEntry, RosterRow
from b12desk.services.reference import lab_tests
from b12desk.ui.context import AppContext
from b12desk.ui.labs_dialog import CONTEXT_LABELS, STATUS_LABELS
from b12desk.ui.ops import run_op
from b12desk.ui.table_model import TOP_LEFT, Column, RowsModel
from b12desk.ui.widgets import MessageLabel, format_local_time, setup_record_table

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
_ACTION_LABELS = {
    "create": "Created",
    "update": "Edited",
    "archive": "Archived",
    "restore": "Restored",
    "lab create": "Lab result added",
    "lab entered_in_error": "Lab result marked entered in error",
}


def _value_text(field: str, value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if field == "cause" and value in Cause._value2member_map_:
        return CAUSE_LABELS[Cause(value)]
    if field == "sex" and value in Sex._value2member_map_:
        return SEX_LABELS[Sex(value)]
    if field == "test" and value in lab_tests():
        return lab_tests()[value].name
    if field == "context" and value in LabContext._value2member_map_:
        return CONTEXT_LABELS[LabContext(value)]
    if field == "status" and value in RecordStatus._value2member_map_:
        return STATUS_LABELS[RecordStatus(value)]
    return str(value)


def changes_text(entry: HistoryEntry) -> str:
    lines = []
    for field, (old, new) in entry.changes.items():
        if field == "patient_id":
            continue
        label = PATIENT_FIELD_LABELS.get(field) or _OTHER_LABELS.get(field, field)
        if old is None:
            if new in (None, "", False) and entry.action == "create":
                continue  # a new record's empty fields say nothing
            lines.append(f"{label}: {_value_text(field, new)}")
        else:
            lines.append(f"{label}: {_value_text(field, old)} → {_value_text(field, new)}")
    return "\n".join(lines)


def _action_text(entry: HistoryEntry) -> str:
    return _ACTION_LABELS.get(entry.action, entry.action.replace("_", " "))


class HistoryModel(RowsModel[HistoryEntry]):
    columns = (
        Column[HistoryEntry]("When", lambda e: format_local_time(e.at), TOP_LEFT),
        Column[HistoryEntry]("Who", lambda e: e.who, TOP_LEFT),
        Column[HistoryEntry]("Action", _action_text, TOP_LEFT),
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
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>{escape(who)}</b> &nbsp; MRN {escape(patient.mrn)}"))
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(980, 520)
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
