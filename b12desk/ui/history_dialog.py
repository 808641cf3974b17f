"""Everything that happened to a patient's record and labs, newest first, from the audit trail."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
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

from b12desk.data.reference import lab_tests
from b12desk.domain.enums import CAUSE_LABELS, SEX_LABELS, Cause, LabContext, RecordStatus, Sex
from b12desk.domain.patients import PATIENT_FIELD_LABELS
from b12desk.services import patients
from b12desk.services.patients import HistoryEntry, RosterRow
from b12desk.ui.context import AppContext
from b12desk.ui.labs_dialog import CONTEXT_LABELS, STATUS_LABELS
from b12desk.ui.widgets import format_local_time, setup_record_table

HEADERS = ("When", "Who", "Action", "Changes (field: old → new)", "Reason")
_ModelIndex = QModelIndex | QPersistentModelIndex
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


class HistoryModel(QAbstractTableModel):
    def __init__(self, entries: list[HistoryEntry], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows = [
            (
                format_local_time(e.at),
                e.who,
                _ACTION_LABELS.get(e.action, e.action.replace("_", " ")),
                changes_text(e),
                e.reason,
            )
            for e in entries
        ]

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(HEADERS):
            return HEADERS[section]
        return None

    def flags(self, index: _ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren


class HistoryDialog(QDialog):
    """Raises the service's error from the constructor, so the caller shows it instead of an empty table."""

    def __init__(self, ctx: AppContext, patient: RosterRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        who = f"{patient.family_name.upper()}, {patient.given_name}"
        self.setWindowTitle(f"History — {who} ({patient.mrn})")
        with ctx.db.sessions.begin() as s:
            entries = patients.patient_history(s, ctx.actor, patient.id)
        self.model = HistoryModel(entries, self)
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
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self._close_button = buttons.button(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>{escape(who)}</b> &nbsp; MRN {escape(patient.mrn)}"))
        layout.addWidget(self.table, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(980, 520)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._close_button.setFocus()  # rather than outlining the first cell of the table
