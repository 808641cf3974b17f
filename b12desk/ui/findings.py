"""What the dose check found, shown before Save: hard stops in red, warnings each with an acknowledge box.

The panel only shows what services.administrations decided; it never decides anything itself. A hard stop
cannot be acknowledged. A warning needs its box ticked and a reason, and any acknowledged warning needs the
nurse's password, which the service checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from b12desk.domain.dose_check import Finding
from b12desk.ui.style import ERROR_RED, WARNING_AMBER


class _WarningRow(QWidget):
    changed = Signal()

    def __init__(self, finding: Finding, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.finding = finding
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setColumnStretch(1, 1)
        text = QLabel(f"<b style='color:{WARNING_AMBER}'>Warning:</b> {escape(finding.message)}")
        text.setWordWrap(True)
        self.box = QCheckBox("Acknowledge")
        self.box.setAccessibleName(f"Acknowledge warning {finding.code}")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("reason, recorded with the dose")
        self.reason.setEnabled(False)
        layout.addWidget(text, 0, 0, 1, 2)
        layout.addWidget(self.box, 1, 0)
        layout.addWidget(self.reason, 1, 1)
        self.box.toggled.connect(self.reason.setEnabled)
        self.box.toggled.connect(lambda _c: self.changed.emit())
        self.reason.textChanged.connect(lambda _t: self.changed.emit())

    def acknowledged(self) -> bool:
        return self.box.isChecked() and bool(self.reason.text().strip())


class FindingsPanel(QFrame):
    """Lists findings; `acknowledged()` gives {code: reason} for the warnings the nurse accepted."""

    changed = Signal()  # an acknowledgement was ticked or its reason typed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("findings")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._stops: list[QLabel] = []
        self._warnings: list[_WarningRow] = []
        self._shown: list[Finding] = []
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("your password, to sign the acknowledgement")
        self.password_label = QLabel("Password")
        self.password_label.setBuddy(self.password)
        self._password_row = QWidget()
        row = QGridLayout(self._password_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setColumnStretch(1, 1)
        row.addWidget(self.password_label, 0, 0)
        row.addWidget(self.password, 0, 1)
        self._password_row.hide()
        self._layout.addWidget(self._password_row)
        self.password.textChanged.connect(lambda _t: self.changed.emit())
        self.hide()

    def show_findings(self, findings: Sequence[Finding]) -> None:
        """Replace what is shown; acknowledgements of warnings still present are kept."""
        kept = {w.finding.code: (w.box.isChecked(), w.reason.text()) for w in self._warnings}
        for widget in [*self._stops, *self._warnings]:
            self._layout.removeWidget(widget)
            widget.hide()  # at once: deleteLater waits for the event loop, and it would be painted till then
            widget.deleteLater()
        self._stops, self._warnings = [], []
        self._shown = list(findings)
        for position, finding in enumerate(findings):
            if finding.blocks:
                label = QLabel(
                    f"<b style='color:{ERROR_RED}'>Stop:</b> "
                    f"<span style='color:{ERROR_RED}'>{escape(finding.message)}</span>"
                )
                label.setWordWrap(True)
                label.setObjectName("hardStop")
                self._layout.insertWidget(position, label)
                self._stops.append(label)
            else:
                row = _WarningRow(finding)
                if finding.code in kept:
                    checked, reason = kept[finding.code]
                    row.reason.setText(reason)
                    row.box.setChecked(checked)
                row.changed.connect(self.changed)
                self._layout.insertWidget(position, row)
                self._warnings.append(row)
        self._password_row.setVisible(bool(self._warnings))
        self.setVisible(bool(findings))

    def messages(self) -> list[str]:
        """What is shown, hard stops first (for tests and screen readers)."""
        return [f.message for f in self._shown]

    def has_hard_stop(self) -> bool:
        return bool(self._stops)

    def warning_codes(self) -> list[str]:
        return [w.finding.code for w in self._warnings]

    def acknowledge(self, code: str, reason: str) -> None:
        """Tick a warning and give its reason (as a nurse would; for tests and keyboard shortcuts)."""
        for row in self._warnings:
            if row.finding.code == code:
                row.box.setChecked(True)
                row.reason.setText(reason)

    def acknowledged(self) -> dict[str, str]:
        return {w.finding.code: w.reason.text().strip() for w in self._warnings if w.acknowledged()}

    def all_acknowledged(self) -> bool:
        return all(w.acknowledged() for w in self._warnings) and (
            not self._warnings or bool(self.password.text())
        )

    def clear(self) -> None:
        self.show_findings(())
        self.password.clear()
