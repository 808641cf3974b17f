"""Scanner set-up test: scan a pack and see what the app reads from it (the GUI twin of `b12desk scan`)."""

from __future__ import annotations

from datetime import date
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from b12desk.domain.gs1 import GS
from b12desk.services import inventory
from b12desk.services.inventory import ScanResult
from b12desk.ui.context import AppContext
from b12desk.ui.inventory_dialogs import GS_SHOWN, ScanLineEdit, scan_fields
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.widgets import ErrorLabel, FitsWrappedText

HINT = (
    "<b>If a scan fails:</b> the code on a medicine pack is a GS1 DataMatrix whose variable-length fields "
    "(lot, serial) are ended by a GS separator, shown here as &lt;GS&gt;. If the separators are missing, or "
    "the scan has odd characters (for example ‘@’ or ‘&amp;’ where digits should be), the scanner's keyboard "
    "layout does not match the workstation's, or it is not set to send GS: set the scanner to the same "
    "keyboard layout and to send GS as Ctrl+] (ASCII 29), with Enter after each scan. The scanner's "
    "manual has the set-up barcodes."
)
FIELD_NAMES = ("GTIN (01)", "NDC digits", "Expiry (17)", "Lot (10)", "Serial (21)", "Other AIs")
NOT_YET = "–"


def visible(text: str) -> str:
    """The characters as received, control characters named, so a wrong set-up can be seen."""
    out = []
    for ch in text:
        if ch == GS:
            out.append(GS_SHOWN)
        elif not ch.isprintable():
            out.append(f"<{ord(ch):#04x}>")
        else:
            out.append(ch)
    return "".join(out)


class ScannerTestDialog(FitsWrappedText, QDialog):
    """Scan into the field; every element read is shown, with the product and lot it matches."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Scanner set-up test")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.result_: ScanResult | None = None

        intro = QLabel("Scan any medicine pack's 2D barcode into the field below. Nothing is recorded.")
        intro.setWordWrap(True)
        self.scan = ScanLineEdit()
        self.error = ErrorLabel()
        self.received = QLabel("Received: nothing yet")
        self.received.setObjectName("muted")
        self.received.setTextFormat(Qt.TextFormat.PlainText)  # "<GS>" is not a tag
        self.received.setWordWrap(True)
        self.received.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        fields_box = QGroupBox("Read from the scan")
        grid = QGridLayout(fields_box)
        grid.setColumnStretch(1, 1)
        self.values: dict[str, QLabel] = {}
        for row, name in enumerate(FIELD_NAMES):
            value = QLabel(NOT_YET)
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            grid.addWidget(QLabel(name), row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, 1)
            self.values[name] = value
        self.match = QLabel("Scan a pack to see the formulary product and the lot it matches.")
        self.match.setWordWrap(True)
        self.match.setTextFormat(Qt.TextFormat.RichText)
        grid.addWidget(self.match, len(FIELD_NAMES), 0, 1, 2)

        hint = QLabel(HINT)
        hint.setWordWrap(True)
        hint.setObjectName("muted")
        hint.setTextFormat(Qt.TextFormat.RichText)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.scan)
        layout.addWidget(self.error)
        layout.addWidget(self.received)
        layout.addWidget(fields_box)
        layout.addStretch(1)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.setMinimumWidth(660)
        self.scan.scanned.connect(self.show_scan)
        self.scan.setFocus()

    def show_scan(self, text: str) -> None:
        count = len(text.replace(GS_SHOWN, GS))  # a separator is one character from the scanner
        self.received.setText(f"Received {count} characters: {visible(text)}")
        self.error.set_error("")
        self.result_ = None
        for shown_value in self.values.values():
            shown_value.setText(NOT_YET)
        self.match.setText("")
        run_op(
            self,
            self.ctx,
            lambda s, actor: inventory.lookup_scan(s, actor, text),
            self._show_result,
            self._refused,
        )

    def _refused(self, failure: OpFailure) -> None:
        self.error.set_error(failure.fields.get("scan", failure.message))
        if failure.fields:
            self.match.setText("The scan could not be read: see the message above and the hint below.")
        self.fit_height()

    def _show_result(self, result: ScanResult) -> None:
        self.result_ = result
        shown = scan_fields(result)
        for name, text in shown[:5]:
            self.values[name].setText(text)
        self.values["Other AIs"].setText("; ".join(f"{ai} {text}" for ai, text in shown[5:]) or NOT_YET)
        self.match.setText(match_text(result, self.ctx.clock.today()))
        self.fit_height()

    def field_text(self) -> dict[str, str]:
        """What the form shows, field name -> value (for tests)."""
        return {name: label.text() for name, label in self.values.items()}


def match_text(result: ScanResult, today: date) -> str:
    d = result.data
    lines = []
    if result.product is not None:
        lines.append(f"<b>Product:</b> {escape(result.product.label)}")
    elif d.gtin:
        lines.append(
            f"<b>Product:</b> <span style='color:#b3261e'>GTIN {d.gtin} is not in the formulary</span>; "
            "a pharmacist can link it to a product when receiving stock."
        )
    else:
        lines.append("<b>Product:</b> the scan has no GTIN (01).")
    if result.lot is not None:
        lot = result.lot
        lines.append(
            f"<b>Lot record:</b> {escape(lot.lot_number)}, expiry {lot.expiry.isoformat()}, "
            f"{lot.quantity:,} sealed on hand"
        )
    elif result.product is not None:
        lines.append("<b>Lot record:</b> not received yet")
    if d.expiry is not None and not inventory.scan_as_dict(result, today=today)["usable"]:
        lines.append(
            f"<span style='color:#b3261e'><b>This pack expired on {d.expiry.isoformat()}.</b></span>"
        )
    return "<br>".join(lines)
