"""Stock dialogs: receive (with GS1 scanning), open, waste, count, return, discard, lot history, product."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from html import escape

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QIntValidator, QKeyEvent
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
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import PRESERVATIVE_LABELS, Container, Formulation, MovementKind, Preservative
from b12desk.domain.gs1 import GS, looks_like_gs1
from b12desk.domain.permissions import Permission, role_can
from b12desk.domain.stock import (
    CONTAINER_LABELS,
    DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS,
    WASTE_REASON_LABELS,
    WasteReason,
    discard_by,
    is_multi_use,
)
from b12desk.domain.units import QuantityError, format_ml, parse_strength, parse_volume_ml
from b12desk.services import inventory
from b12desk.services.common import Actor
from b12desk.services.inventory import LotRow, MovementRow, ProductInput, ProductRow, ScanResult, VialRow
from b12desk.ui.context import STOCK, AppContext
from b12desk.ui.inventory import (
    FORMULATION_LABELS,
    _table,
    days_text,
    lot_choice_text,
    signed,
)
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.table_model import RIGHT, SortColumn, SortedRowsModel
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    FitsWrappedText,
    MessageLabel,
    format_local_time,
    parse_iso_date,
)

DATE_PLACEHOLDER = "YYYY-MM-DD"
# How a GS separator is shown in a scan field: "<GS>" is one of parse_gs1's default GS substitutes, so the
# text stays parseable, and unlike the raw control character (or U+241D, missing from common fonts) a line
# edit keeps it and every font shows it.
GS_SHOWN = "<GS>"
SCANNER_MS_PER_CHAR = 35  # wedge scanners type a whole code in a burst; people type far slower
SCAN_IDLE_MS = 200  # a burst that ends without Enter is taken as a scan after this pause


def _spin(maximum: int = 1_000_000) -> QSpinBox:
    box = QSpinBox()
    box.setRange(0, maximum)  # the service says what is allowed; the box only stops non-numbers
    box.setGroupSeparatorShown(True)
    box.setAlignment(Qt.AlignmentFlag.AlignRight)
    return box


def _text_box(lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setTabChangesFocus(True)
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 14)
    return box


# --- scanning -------------------------------------------------------------------------------------------


class ScanLineEdit(QLineEdit):
    """Where a keyboard-wedge scanner types a pack's GS1 code.

    Keeps the GS separator that a plain line edit drops (shown as <GS>; Ctrl+] is how many scanners
    send it), takes Enter as the end of a scan instead of letting it press the dialog's default button, and
    takes a fast burst of characters that ends without Enter as a scan too.
    """

    scanned = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("scan the pack's 2D barcode here (or type it and press Enter)")
        self.setClearButtonEnabled(True)
        self._times: list[float] = []
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.setInterval(SCAN_IDLE_MS)
        self._idle.timeout.connect(self._burst_ended)
        self.textEdited.connect(self._edited)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            self.finish()
            return
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if GS in event.text() or (key == Qt.Key.Key_BracketRight and ctrl):
            event.accept()
            self.insert(GS_SHOWN)
            self._note_key()
            return
        if event.text():
            self._note_key()
        super().keyPressEvent(event)

    def _note_key(self) -> None:
        if not self._times or time.monotonic() - self._times[-1] > 1.0:
            self._times = []
        self._times.append(time.monotonic())
        self._idle.start()

    def _edited(self, text: str) -> None:
        if GS in text or "\r" in text or "\n" in text:  # pasted: keep the separators, end at a line end
            cursor = self.cursorPosition()
            head, sep, _ = text.replace("\n", "\r").partition("\r")
            self.setText(head.replace(GS, GS_SHOWN))
            self.setCursorPosition(min(cursor, len(self.text())))
            if sep:
                self.finish()

    def _burst_ended(self) -> None:
        times, self._times = self._times, []
        if len(times) < 16 or not looks_like_gs1(self.text()):
            return
        per_char_ms = (times[-1] - times[0]) * 1000 / (len(times) - 1)
        if per_char_ms <= SCANNER_MS_PER_CHAR:
            self.finish()

    def finish(self) -> None:
        self._idle.stop()
        self._times = []
        text = self.text()
        if text.strip():
            self.selectAll()  # the next scan replaces this one
            self.scanned.emit(text)


def scan_fields(result: ScanResult) -> list[tuple[str, str]]:
    """What a scan carried, as (label, value) pairs for display."""
    d = result.data
    rows = [
        ("GTIN (01)", d.gtin or "–"),
        ("NDC digits", d.ndc_digits or "–"),
        (
            "Expiry (17)",
            f"{d.expiry.isoformat()} (printed {d.expiry_text})" if d.expiry and d.expiry_text else "–",
        ),
        ("Lot (10)", d.lot or "–"),
        ("Serial (21)", d.serial or "–"),
    ]
    rows.extend((f"({ai})", value) for ai, value in d.other.items())
    return rows


# --- receiving ------------------------------------------------------------------------------------------


class ReceiveDialog(DiscardGuard, FitsWrappedText, QDialog):
    """Record a delivery; a scan of the pack fills product, lot and expiry."""

    received = Signal(object)  # the LotRow

    def __init__(self, ctx: AppContext, *, product_id: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Receive stock")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.errors = FieldErrors()
        self.last_scan: ScanResult | None = None
        self._unknown_gtin: str | None = None

        self.scan = ScanLineEdit()
        self.scan_error = ErrorLabel()
        self.scan_info = QLabel()
        self.scan_info.setWordWrap(True)
        self.scan_info.setObjectName("muted")
        self.scan_info.setTextFormat(Qt.TextFormat.RichText)
        self.scan_info.hide()
        self.unknown_label = QLabel()
        self.unknown_label.setWordWrap(True)
        self.unknown_label.setObjectName("inlineError")
        self.link_button = QPushButton("Link GTIN to the chosen product")
        self.link_error = ErrorLabel()
        unknown_row = QHBoxLayout()
        unknown_row.setContentsMargins(0, 0, 0, 0)
        unknown_row.addWidget(self.unknown_label, 1)
        unknown_row.addWidget(self.link_button, 0, Qt.AlignmentFlag.AlignTop)
        self.unknown_box = QWidget()
        self.unknown_box.setLayout(unknown_row)
        self.unknown_box.hide()

        self.product = QComboBox()
        self.product.setMinimumContentsLength(48)
        self.lot_number = QLineEdit()
        self.lot_number.setMaxLength(21)  # one over the limit, so the service's message can show
        self.expiry = QLineEdit()
        self.expiry.setPlaceholderText(DATE_PLACEHOLDER)
        self.expiry.setMaxLength(10)
        self.quantity = _spin()
        self.quantity.setSuffix(" containers")
        self.supplier = QLineEdit()
        self.supplier.setPlaceholderText("wholesaler or manufacturer")
        self.received_on = QLineEdit(ctx.clock.today().isoformat())
        self.received_on.setPlaceholderText(DATE_PLACEHOLDER)
        self.received_on.setMaxLength(10)
        self.summary = MessageLabel()

        scan_box = QGroupBox("Scan the pack")
        scan_layout = QVBoxLayout(scan_box)
        scan_layout.addWidget(self.scan)
        scan_layout.addWidget(self.scan_error)
        scan_layout.addWidget(self.unknown_box)
        scan_layout.addWidget(self.link_error)
        scan_layout.addWidget(self.scan_info)
        self.errors.add("scan", self.scan, self.scan_error)

        form = QGridLayout()
        form.setColumnStretch(1, 1)
        form.setVerticalSpacing(2)
        fields = (
            ("product", "Product", self.product),
            ("lot_number", "Lot (batch)", self.lot_number),
            ("expiry", "Expiry date", self.expiry),
            ("quantity", "Quantity", self.quantity),
            ("supplier", "Supplier", self.supplier),
            ("received_on", "Date received", self.received_on),
        )
        for row, (name, text, widget) in enumerate(fields):
            label = QLabel(text)
            label.setBuddy(widget)
            form.addWidget(label, 2 * row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            form.addWidget(widget, 2 * row, 1)
            error = ErrorLabel()
            form.addWidget(error, 2 * row + 1, 1)
            self.errors.add(name, widget, error)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton("Receive", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setAutoDefault(False)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(scan_box)
        layout.addLayout(form)
        layout.addWidget(buttons)

        self.scan.scanned.connect(self.apply_scan)
        self.link_button.clicked.connect(self.link_gtin)
        self._load_products(product_id)
        self.setMinimumWidth(620)
        self.scan.setFocus()

    def _load_products(self, select_id: int | None) -> None:
        run_op(
            self,
            self.ctx,
            lambda s, actor: inventory.list_products(s, actor),
            lambda rows: self._show_products(rows, select_id),
            quiet=True,
        )

    def _show_products(self, rows: list[ProductRow], select_id: int | None) -> None:
        self.product.clear()
        self.product.addItem("Choose the product…", None)
        for p in rows:
            if p.active:
                self.product.addItem(p.label, p.id)
        if select_id is not None:
            self.select_product(select_id)

    def select_product(self, product_id: int) -> bool:
        index = self.product.findData(product_id)
        if index >= 0:
            self.product.setCurrentIndex(index)
        return index >= 0

    def chosen_product_id(self) -> int | None:
        value = self.product.currentData()
        return value if isinstance(value, int) else None

    # --- scanning --------------------------------------------------------------------------------------

    def apply_scan(self, text: str) -> None:
        """Parse what the scanner typed; fill product (by GTIN), lot and expiry, or say what is wrong."""
        self.scan_error.set_error("")
        self.link_error.set_error("")
        self.unknown_box.hide()
        self.scan_info.hide()
        self._unknown_gtin = None
        run_op(
            self,
            self.ctx,
            lambda s, actor: inventory.lookup_scan(s, actor, text),
            self._scanned,
            self._scan_refused,
        )

    def _scan_refused(self, failure: OpFailure) -> None:
        self.scan_error.set_error(failure.fields.get("scan", failure.message))
        self.last_scan = None
        self.fit_height()

    def _scanned(self, result: ScanResult) -> None:
        self.last_scan = result
        d = result.data
        if d.lot:
            self.lot_number.setText(d.lot)
        if d.expiry:
            self.expiry.setText(d.expiry.isoformat())
        if result.product is not None:
            self.select_product(result.product.id)
        elif d.gtin:
            self._unknown_gtin = d.gtin
            self.unknown_label.setText(
                f"Unknown product GTIN {d.gtin} — link it to a product: choose the product below, then "
                "link (a pharmacist checks the pack first)."
            )
            self.unknown_box.show()
        parts = [f"{label} {escape(value)}" for label, value in scan_fields(result) if value != "–"]
        if result.lot is not None:
            parts.append(f"lot already recorded: {result.lot.quantity:,} sealed on hand")
        self.scan_info.setText("Read from the scan: " + "; ".join(parts))
        self.scan_info.show()
        self.fit_height()
        if result.product is not None:
            self.quantity.setFocus()
            self.quantity.selectAll()

    def link_gtin(self) -> None:
        gtin = self._unknown_gtin
        product_id = self.chosen_product_id()
        if gtin is None:
            return
        if product_id is None:
            self.link_error.set_error("Choose the product this pack belongs to, then link it.")
            return

        def refused(failure: OpFailure) -> None:
            self.link_error.set_error("\n".join(failure.fields.values()) or failure.message)
            self.fit_height()

        run_op(
            self,
            self.ctx,
            lambda s, actor: inventory.link_gtin(s, actor, product_id, gtin),
            lambda row: self._linked(row, gtin),
            refused,
            write=True,
            changes=(STOCK,),
        )

    def _linked(self, row: ProductRow, gtin: str) -> None:
        self.link_error.set_error("")
        self.unknown_box.hide()
        self._unknown_gtin = None
        self._load_products(row.id)
        self.scan_info.setText(f"GTIN {gtin} is now linked to {escape(row.label)}.")
        self.scan_info.show()
        self.fit_height()

    # --- saving ----------------------------------------------------------------------------------------

    def save(self) -> None:
        problems: dict[str, str] = {}
        expiry = received_on = None
        try:
            expiry = parse_iso_date(self.expiry.text())
        except ValueError as exc:
            problems["expiry"] = str(exc)
        try:
            received_on = parse_iso_date(self.received_on.text())
        except ValueError as exc:
            problems["received_on"] = str(exc)
        if problems:  # never let the service fill in a date that was typed but could not be read
            self._show_errors(problems)
            return
        product_id, lot_number = self.chosen_product_id() or 0, self.lot_number.text()
        quantity, supplier = self.quantity.value(), self.supplier.text()

        def receive(session: Session, actor: Actor) -> LotRow:
            return inventory.receive_stock(
                session,
                actor,
                product_id=product_id,
                lot_number=lot_number,
                expiry=expiry,
                quantity=quantity,
                supplier=supplier,
                received_on=received_on,
            )

        run_op(self, self.ctx, receive, self._received, self._refused, write=True, changes=(STOCK,))

    def _received(self, lot: LotRow) -> None:
        self.received.emit(lot)
        self.accept()

    def _refused(self, failure: OpFailure) -> None:
        if failure.fields:
            self._show_errors(failure.fields)
            return
        self.errors.clear()
        self._show_summary(failure.message)

    def _show_errors(self, errors: dict[str, str]) -> None:
        unclaimed = self.errors.show(errors)
        lines = [
            "Nothing was received: correct the highlighted fields." if len(unclaimed) < len(errors) else ""
        ]
        lines.extend(unclaimed.values())
        self._show_summary("\n".join(line for line in lines if line))

    def _show_summary(self, text: str) -> None:
        self.summary.show_text(text)
        self.fit_height()

    def field_error(self, name: str) -> str:
        return self.errors.message(name)


# --- actions on one lot or vial ------------------------------------------------------------------------


class _StockActionDialog(DiscardGuard, FitsWrappedText, QDialog):
    """A small form for one stock action: the service's messages beside the fields, the dialog kept open."""

    done_text = Signal(str)  # what was done, for the tab's note line
    action_text = "Save"

    def __init__(self, ctx: AppContext, title: str, heading: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setMinimumWidth(520)
        self.errors = FieldErrors()
        self.summary = MessageLabel()
        self.heading = QLabel(heading)
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.form = QGridLayout()
        self.form.setColumnStretch(1, 1)
        self.form.setVerticalSpacing(2)
        self._rows = 0
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton(self.action_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setDefault(True)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.heading)
        layout.addSpacing(6)
        layout.addLayout(self.form)
        layout.addWidget(self.buttons)

    def add_field(self, name: str, text: str, widget: QWidget) -> None:
        label = QLabel(text)
        label.setBuddy(widget)
        self.form.addWidget(label, self._rows, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form.addWidget(widget, self._rows, 1)
        error = ErrorLabel()
        self.form.addWidget(error, self._rows + 1, 1)
        self.errors.add(name, widget, error)
        self._rows += 2

    def add_note(self, widget: QWidget) -> None:
        self.form.addWidget(widget, self._rows, 1)
        self._rows += 1

    def action(self) -> Callable[[Session, Actor], tuple[str, object]]:
        """The service call, with the form's values read now (on the GUI thread): it runs on the database
        worker in the action's one transaction and returns the note for the tab and what after_save needs."""
        raise NotImplementedError

    def after_save(self, result: object) -> None:
        """After the commit and the data-changed signal, before the dialog closes."""

    def save(self) -> None:
        local = self.check_input()
        if local:
            self._refused(OpFailure("invalid", "", local))
            return
        run_op(self, self.ctx, self.action(), self._saved, self._refused, write=True, changes=(STOCK,))

    def _saved(self, result: tuple[str, object]) -> None:
        done, payload = result
        self.done_text.emit(done)
        self.after_save(payload)
        self.accept()

    def _refused(self, failure: OpFailure) -> None:
        if failure.fields:
            unclaimed = self.errors.show(failure.fields)
            self._show_summary("\n".join(unclaimed.values()))
            return
        self.errors.clear()  # stock gone meanwhile, a changed count, a role that may not
        self._show_summary(failure.message)

    def check_input(self) -> dict[str, str]:
        """Input that cannot even be passed to the service (an empty choice, a non-number)."""
        return {}

    def _show_summary(self, text: str) -> None:
        self.summary.show_text(text)
        self.fit_height()

    def field_error(self, name: str) -> str:
        return self.errors.message(name)


def _lot_heading(product: ProductRow, lot: LotRow, today: date) -> str:
    return (
        f"<b>{escape(product.label)}</b><br>Lot <b>{escape(lot.lot_number)}</b>, expires "
        f"{lot.expiry.isoformat()} ({days_text(lot.expiry, today)}); {lot.quantity:,} sealed on hand"
    )


# A combo box hands back a StrEnum stored as item data as a plain str: convert it back before use.


def _reason_combo(reasons: list[WasteReason], default: WasteReason | None) -> QComboBox:
    combo = QComboBox()
    combo.addItem("Choose why…", None)
    for reason in reasons:
        combo.addItem(WASTE_REASON_LABELS[reason], reason)
    if default is not None:
        combo.setCurrentIndex(combo.findData(default))
    return combo


SEALED_WASTE_REASONS = [
    WasteReason.EXPIRED,
    WasteReason.DROPPED_OR_BROKEN,
    WasteReason.CONTAMINATED,
    WasteReason.OTHER,
]


class WasteDialog(_StockActionDialog):
    action_text = "Waste"

    def __init__(self, ctx: AppContext, product: ProductRow, lot: LotRow, parent: QWidget | None = None):
        super().__init__(
            ctx, "Waste sealed containers", _lot_heading(product, lot, ctx.clock.today()), parent
        )
        self.lot = lot
        self.quantity = _spin()
        self.quantity.setValue(1)
        self.quantity.setSuffix(" containers")
        self.reason = _reason_combo(SEALED_WASTE_REASONS, WasteReason.EXPIRED if lot.band == 0 else None)
        self.note = QLineEdit()
        self.note.setPlaceholderText("what happened (required for Other)")
        self.add_field("quantity", "Quantity", self.quantity)
        self.add_field("reason", "Reason", self.reason)
        self.add_field("note", "Note", self.note)

    def check_input(self) -> dict[str, str]:
        return {} if self.reason.currentData() else {"reason": "Choose why the containers are wasted."}

    def action(self) -> Callable[[Session, Actor], tuple[str, object]]:
        reason = WasteReason(self.reason.currentData())
        lot_id, quantity, note = self.lot.id, self.quantity.value(), self.note.text()

        def op(session: Session, actor: Actor) -> tuple[str, object]:
            row = inventory.waste_containers(
                session, actor, lot_id=lot_id, quantity=quantity, reason=reason, note=note
            )
            label = WASTE_REASON_LABELS[reason]
            return f"Wasted {quantity:,} from lot {row.lot_number} ({label}); {row.quantity:,} left.", row

        return op


class ReturnDialog(_StockActionDialog):
    action_text = "Return"

    def __init__(self, ctx: AppContext, product: ProductRow, lot: LotRow, parent: QWidget | None = None):
        super().__init__(ctx, "Return to supplier", _lot_heading(product, lot, ctx.clock.today()), parent)
        self.lot = lot
        self.quantity = _spin()
        self.quantity.setValue(lot.quantity)
        self.quantity.setSuffix(" containers")
        self.note = QLineEdit()
        self.note.setPlaceholderText("reason, or the supplier's return reference")
        self.add_field("quantity", "Quantity", self.quantity)
        self.add_field("note", "Reason / reference", self.note)

    def action(self) -> Callable[[Session, Actor], tuple[str, object]]:
        lot_id, quantity, note = self.lot.id, self.quantity.value(), self.note.text()

        def op(session: Session, actor: Actor) -> tuple[str, object]:
            row = inventory.return_to_supplier(session, actor, lot_id=lot_id, quantity=quantity, note=note)
            return f"Returned {quantity:,} from lot {row.lot_number}; {row.quantity:,} left.", row

        return op


class AdjustCountDialog(_StockActionDialog):
    """The quantity on record is read when the dialog opens and passed as `expected`: if someone changes
    the lot while the count is going on, the service refuses rather than overwrite their change."""

    action_text = "Save count"

    def __init__(self, ctx: AppContext, product: ProductRow, lot: LotRow, parent: QWidget | None = None):
        super().__init__(ctx, "Adjust count", _lot_heading(product, lot, ctx.clock.today()), parent)
        self.product = product
        self.lot = lot
        self.expected = lot.quantity
        self.expected_label = QLabel(
            f"<b>{self.expected:,}</b> sealed containers (read when this form opened)"
        )
        self.counted = QLineEdit()
        self.counted.setValidator(QIntValidator(0, 1_000_000, self.counted))
        self.counted.setPlaceholderText("what you counted on the shelf")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("e.g. monthly count, found behind the fridge")
        self.add_field("expected", "On record", self.expected_label)
        self.add_field("counted", "Counted", self.counted)
        self.add_field("reason", "Reason", self.reason)
        self.counted.setFocus()
        # The lot's quantity afresh, as it is when the count starts (the tab's row may be minutes old).
        self.save_button.setEnabled(False)
        product_id, lot_id = product.id, lot.id

        def read(session: Session, actor: Actor) -> LotRow:
            rows = inventory.list_lots(session, actor, product_id, include_empty=True)
            return next((r for r in rows if r.id == lot_id), lot)

        run_op(self, ctx, read, self._fresh, quiet=True)

    def _fresh(self, lot: LotRow) -> None:
        self.lot, self.expected = lot, lot.quantity
        self.heading.setText(_lot_heading(self.product, lot, self.ctx.clock.today()))
        self.expected_label.setText(
            f"<b>{self.expected:,}</b> sealed containers (read when this form opened)"
        )
        self.save_button.setEnabled(True)
        self.mark_clean()

    def check_input(self) -> dict[str, str]:
        return (
            {}
            if self.counted.text().strip()
            else {"counted": "Enter the number of sealed containers counted."}
        )

    def action(self) -> Callable[[Session, Actor], tuple[str, object]]:
        counted, lot_id, expected, reason = (
            int(self.counted.text()),
            self.lot.id,
            self.expected,
            self.reason.text(),
        )

        def op(session: Session, actor: Actor) -> tuple[str, object]:
            row = inventory.adjust_count(
                session, actor, lot_id=lot_id, counted=counted, expected=expected, reason=reason
            )
            change = counted - expected
            what = "no difference" if not change else f"{signed(change)} container(s)"
            return f"Lot {row.lot_number} counted: {row.quantity:,} sealed ({what}).", row

        return op


class OpenVialDialog(_StockActionDialog):
    """First puncture of a multi-dose vial; shows the discard-by time the vial will get."""

    action_text = "Open vial"
    opened = Signal(object)  # the VialRow

    def __init__(
        self,
        ctx: AppContext,
        product: ProductRow,
        *,
        lot_id: int | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(ctx, "Open a multi-dose vial", f"<b>{escape(product.label)}</b>", parent)
        self.product = product
        self.lot_rows: list[LotRow] = []
        self.lot = QComboBox()
        self.lot.addItem("Reading the lots…", None)
        self.discard_by = QLabel()
        self.discard_by.setWordWrap(True)
        self.add_field("lot", "Lot", self.lot)
        self.add_field("discard_by", "Discard by", self.discard_by)
        self.add_note(QLabel(f"Opened by {escape(ctx.actor.full_name)}, now."))
        self.lot.currentIndexChanged.connect(self._preview)
        self._preview()
        product_id = product.id
        run_op(
            self,
            ctx,
            lambda s, actor: [r for r in inventory.list_lots(s, actor, product_id) if r.quantity > 0],
            lambda rows: self._show_lots(rows, lot_id),
            quiet=True,
        )

    def _show_lots(self, rows: list[LotRow], lot_id: int | None) -> None:
        self.lot_rows = rows
        today = self.ctx.clock.today()
        self.lot.blockSignals(True)
        self.lot.clear()
        self.lot.addItem("Choose the lot…", None)
        for r in rows:
            text = lot_choice_text(r, today)
            self.lot.addItem(f"EXPIRED – {text}" if r.band == 0 else text, r.id)
        chosen = lot_id if lot_id is not None else next((r.id for r in rows if r.band != 0), None)
        if chosen is not None and self.lot.findData(chosen) >= 0:
            self.lot.setCurrentIndex(self.lot.findData(chosen))
        self.lot.blockSignals(False)
        self._preview()

    def _chosen(self) -> LotRow | None:
        lot_id = self.lot.currentData()
        return next((r for r in self.lot_rows if r.id == lot_id), None)

    def _preview(self) -> None:
        lot = self._chosen()
        if lot is None:
            self.discard_by.setText("–")
            return
        days = self.product.data.beyond_use_days or DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS
        now = self.ctx.clock.now()
        when = discard_by(now, days, lot.expiry, self.ctx.clock.zone)
        why = (
            "the lot's expiry date, which comes first"
            if when < now + timedelta(days=days)
            else f"{days} days after first puncture"
        )
        self.discard_by.setText(f"<b>{format_local_time(when)}</b> ({why})")

    def check_input(self) -> dict[str, str]:
        return {} if self._chosen() is not None else {"lot": "Choose the lot the vial comes from."}

    def action(self) -> Callable[[Session, Actor], tuple[str, object]]:
        lot = self._chosen()
        assert lot is not None
        lot_id = lot.id

        def op(session: Session, actor: Actor) -> tuple[str, object]:
            vial = inventory.open_vial(session, actor, lot_id=lot_id)
            return f"Vial {vial.id} opened: discard by {format_local_time(vial.discard_by)}.", vial

        return op

    def after_save(self, result: object) -> None:
        self.opened.emit(result)


class DiscardVialDialog(_StockActionDialog):
    action_text = "Discard vial"

    def __init__(self, ctx: AppContext, product: ProductRow, vial: VialRow, parent: QWidget | None = None):
        heading = (
            f"<b>{escape(product.label)}</b><br>Vial <b>{vial.id}</b> from lot {escape(vial.lot_number)}, "
            f"opened {format_local_time(vial.opened_at)} by {escape(vial.opened_by)}; "
            f"{format_ml(vial.remaining_ml)} left; discard by {format_local_time(vial.discard_by)}"
        )
        if vial.past_discard_by:
            heading += "<br><span style='color:#b3261e'><b>PAST DISCARD-BY</b></span>"
        super().__init__(ctx, "Discard open vial", heading, parent)
        self.vial = vial
        self.reason = _reason_combo(
            list(WasteReason), WasteReason.PAST_DISCARD_BY if vial.past_discard_by else None
        )
        self.note = QLineEdit()
        self.note.setPlaceholderText("what happened (required for Other)")
        self.add_field("reason", "Reason", self.reason)
        self.add_field("note", "Note", self.note)

    def check_input(self) -> dict[str, str]:
        return {} if self.reason.currentData() else {"reason": "Choose why the vial is discarded."}

    def action(self) -> Callable[[Session, Actor], tuple[str, object]]:
        reason = WasteReason(self.reason.currentData())
        vial_id, note, left = self.vial.id, self.note.text(), format_ml(self.vial.remaining_ml)

        def op(session: Session, actor: Actor) -> tuple[str, object]:
            inventory.discard_vial(session, actor, vial_id=vial_id, reason=reason, note=note)
            return f"Vial {vial_id} discarded ({WASTE_REASON_LABELS[reason]}, {left} left in it).", None

        return op


# --- lot history ----------------------------------------------------------------------------------------

MOVEMENT_LABELS = {
    MovementKind.RECEIVED: "Received",
    MovementKind.OPENED: "Vial opened",
    MovementKind.DOSE_DRAWN: "Dose drawn",
    MovementKind.WASTED: "Wasted",
    MovementKind.ADJUSTED: "Count adjusted",
    MovementKind.RETURNED: "Returned",
    MovementKind.DOSE_RETURNED: "Dose returned (entered in error)",
}


def _movement_reason(m: MovementRow) -> str:
    label = WASTE_REASON_LABELS.get(m.waste_reason) if m.waste_reason else ""
    return ": ".join(part for part in (label, m.reason) if part)


class MovementsModel(SortedRowsModel[MovementRow]):
    columns = (
        SortColumn[MovementRow](
            "When", lambda m: format_local_time(m.at), sort_key=lambda m: m.at, width=124
        ),
        SortColumn[MovementRow]("What", lambda m: MOVEMENT_LABELS.get(m.kind, str(m.kind)), width=108),
        SortColumn[MovementRow](
            "Containers", lambda m: signed(m.containers), RIGHT, sort_key=lambda m: m.containers, width=78
        ),
        SortColumn[MovementRow](
            "Volume", lambda m: signed(m.volume_ml, "mL"), RIGHT, sort_key=lambda m: m.volume_ml, width=70
        ),
        SortColumn[MovementRow](
            "Vial",
            lambda m: str(m.vial_id) if m.vial_id else "",
            RIGHT,
            sort_key=lambda m: m.vial_id or 0,
            width=46,
        ),
        SortColumn[MovementRow]("Who", lambda m: m.who, width=90),
        SortColumn[MovementRow]("Reason", _movement_reason, width=240),
    )

    def tooltip(self, r: MovementRow, column: int) -> str | None:
        return _movement_reason(r) or None


class LotHistoryDialog(QDialog):
    """Every movement of one lot, newest first: the ledger its on-hand figure is the sum of."""

    def __init__(self, ctx: AppContext, product: ProductRow, lot: LotRow, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Lot history — {lot.lot_number}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.model = MovementsModel(self)
        about = _lot_heading(product, lot, ctx.clock.today()) + (
            f"<br>Supplier: {escape(lot.supplier) or '–'}; received {lot.received_on.isoformat()}"
        )
        heading = QLabel(about + "; reading its movements…")
        heading.setWordWrap(True)

        def show(rows: list[MovementRow]) -> None:
            self.model.set_rows(rows)
            heading.setText(f"{about}; {len(rows):,} movement(s)")

        lot_id = lot.id
        run_op(self, ctx, lambda s, actor: inventory.lot_history(s, actor, lot_id), show, quiet=True)
        self.table: QTableView = _table(self.model, MovementsModel.columns)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(880, 420)


# --- the product editor ---------------------------------------------------------------------------------

PRODUCT_FIELD_LABELS = {
    "formulation": "Formulation",
    "manufacturer": "Manufacturer",
    "brand": "Brand",
    "strength_mcg_per_ml": "Strength (mcg/mL)",
    "container": "Container",
    "volume_ml": "Volume (mL)",
    "preservative": "Preservative (label)",
    "preservatives": "Preservatives",
    "gtin": "Pack GTIN",
    "ndc": "Pack NDC",
    "unit_gtin": "Vial/ampoule GTIN",
    "unit_ndc": "Vial/ampoule NDC",
    "storage_note": "Storage",
    "beyond_use_days": "Beyond-use days",
    "reorder_level": "Reorder level",
    "for_deficiency": "For B12 deficiency treatment",
    "source": "Source",
}


class PreservativesField(QWidget):
    """The preservatives as structured data: not confirmed, none, or the ones ticked.

    A sensitivity (benzyl alcohol) is checked against this, never against the label's free text.
    """

    NOT_CONFIRMED, NONE, CONTAINS = 0, 1, 2

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = QComboBox()
        self.state.addItem("Not confirmed yet: read the label", self.NOT_CONFIRMED)
        self.state.addItem("None: preservative-free", self.NONE)
        self.state.addItem("Contains:", self.CONTAINS)
        self.boxes = {p: QCheckBox(text) for p, text in PRESERVATIVE_LABELS.items()}
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.state, 0, 0, 1, 3, Qt.AlignmentFlag.AlignLeft)
        for i, box in enumerate(self.boxes.values()):
            layout.addWidget(box, 1 + i // 3, i % 3)
        layout.setColumnStretch(3, 1)
        self.state.currentIndexChanged.connect(self._enable)
        self._enable()

    def _enable(self) -> None:
        contains = self.state.currentData() == self.CONTAINS
        for box in self.boxes.values():
            box.setEnabled(contains)

    def value(self) -> frozenset[Preservative] | None:
        state = self.state.currentData()
        if state == self.NOT_CONFIRMED:
            return None
        if state == self.NONE:
            return frozenset()
        return frozenset(p for p, box in self.boxes.items() if box.isChecked())

    def set_value(self, value: frozenset[Preservative] | None) -> None:
        state = self.NOT_CONFIRMED if value is None else (self.CONTAINS if value else self.NONE)
        self.state.setCurrentIndex(self.state.findData(state))
        for p, box in self.boxes.items():
            box.setChecked(bool(value) and p in (value or ()))


class ProductDialog(DiscardGuard, FitsWrappedText, QDialog):
    """Add or edit a formulary product; only pharmacists and administrators may save (the service says)."""

    saved = Signal(object)  # the ProductRow

    def __init__(self, ctx: AppContext, *, product: ProductRow | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.product = product
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("New product" if product is None else f"Edit product — {product.label}")
        self.errors = FieldErrors()
        self.summary = MessageLabel()

        self.formulation = QComboBox()
        for formulation, text in FORMULATION_LABELS.items():
            self.formulation.addItem(text, formulation)
        self.manufacturer = QLineEdit()
        self.brand = QLineEdit()
        self.brand.setPlaceholderText("optional, e.g. Cobalin-H")
        self.strength_mcg_per_ml = QLineEdit("1000")
        self.strength_mcg_per_ml.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.container = QComboBox()
        for container, text in CONTAINER_LABELS.items():
            self.container.addItem(text, container)
        self.volume_ml = QLineEdit()
        self.volume_ml.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.volume_ml.setPlaceholderText("e.g. 1 or 30")
        self.preservative = QLineEdit()
        self.preservative.setPlaceholderText("as the label words it, e.g. benzyl alcohol 1.5%")
        self.preservatives = PreservativesField()
        self.gtin = QLineEdit()
        self.gtin.setMaxLength(14)
        self.gtin.setPlaceholderText("14 digits from the pack's barcode")
        self.ndc = QLineEdit()
        self.ndc.setPlaceholderText("US only, e.g. 0517-0031-25")
        self.unit_gtin = QLineEdit()
        self.unit_gtin.setMaxLength(14)
        self.unit_gtin.setPlaceholderText("the vial's own barcode, if it has one: a scan of either finds it")
        self.unit_ndc = QLineEdit()
        self.unit_ndc.setPlaceholderText("US only: the unit-of-use NDC on the vial, e.g. 63323-044-41")
        self.storage_note = _text_box(2)
        self.storage_note.setPlaceholderText("e.g. 20-25 °C, protect from light")
        self.beyond_use_days = _spin(9999)
        self.beyond_use_days.setValue(DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS)
        self.beyond_use_days.setSuffix(" days after first puncture")
        self.reorder_level = _spin()
        self.reorder_level.setSuffix(" sealed containers")
        self.for_deficiency = QCheckBox(PRODUCT_FIELD_LABELS["for_deficiency"])
        self.for_deficiency.setChecked(True)
        self.source = _text_box(3)
        self.source.setPlaceholderText("where these details come from, e.g. DailyMed label, SmPC")
        self.label_preview = QLabel()
        self.label_preview.setObjectName("muted")
        self.label_preview.setWordWrap(True)
        self.change_reason = QLineEdit()
        self.change_reason.setPlaceholderText("optional: why the product is being changed")

        form = QGridLayout()
        form.setColumnStretch(1, 1)
        form.setVerticalSpacing(2)
        row = 0
        for name in PRODUCT_FIELD_LABELS:
            widget = getattr(self, name)
            error = ErrorLabel()
            if isinstance(widget, QCheckBox):
                form.addWidget(widget, row, 1)
            else:
                label = QLabel(PRODUCT_FIELD_LABELS[name])
                label.setBuddy(widget)
                vertical = (
                    Qt.AlignmentFlag.AlignTop
                    if isinstance(widget, QPlainTextEdit)
                    else Qt.AlignmentFlag.AlignVCenter
                )
                form.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight | vertical)
                form.addWidget(widget, row, 1)
            form.addWidget(error, row + 1, 1)
            self.errors.add(name, widget, error)
            row += 2
        form.addWidget(QLabel("Shown as"), row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.addWidget(self.label_preview, row, 1, Qt.AlignmentFlag.AlignTop)
        row += 1
        if product is not None:
            form.addWidget(QLabel("Reason for change"), row, 0, Qt.AlignmentFlag.AlignRight)
            form.addWidget(self.change_reason, row, 1)

        self.role_note = QLabel(
            "Your role cannot change the formulary: a pharmacist or an administrator saves products."
        )
        self.role_note.setObjectName("muted")
        self.role_note.setWordWrap(True)
        self.role_note.setVisible(not role_can(ctx.actor.role, Permission.EDIT_FORMULARY))

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setDefault(True)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.role_note)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(680)

        if product is not None:
            self._load(product.data)
        for signal in (
            self.formulation.currentIndexChanged,
            self.container.currentIndexChanged,
            self.strength_mcg_per_ml.textChanged,
            self.volume_ml.textChanged,
            self.brand.textChanged,
            self.manufacturer.textChanged,
        ):
            signal.connect(self._refresh)
        self._refresh()

    def _load(self, d: ProductInput) -> None:
        self.formulation.setCurrentIndex(self.formulation.findData(d.formulation))
        self.manufacturer.setText(d.manufacturer)
        self.brand.setText(d.brand)
        self.strength_mcg_per_ml.setText(f"{Decimal(d.strength_mcg_per_ml).normalize():f}")
        self.container.setCurrentIndex(self.container.findData(d.container))
        self.volume_ml.setText(f"{Decimal(d.volume_ml).normalize():f}")
        self.preservative.setText(d.preservative)
        self.preservatives.set_value(d.preservatives)
        self.gtin.setText(d.gtin or "")
        self.ndc.setText(d.ndc or "")
        self.unit_gtin.setText(d.unit_gtin or "")
        self.unit_ndc.setText(d.unit_ndc or "")
        self.storage_note.setPlainText(d.storage_note)
        self.beyond_use_days.setValue(d.beyond_use_days or DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS)
        self.reorder_level.setValue(d.reorder_level)
        self.for_deficiency.setChecked(d.for_deficiency)
        self.source.setPlainText(d.source)

    def _refresh(self) -> None:
        """Beyond-use days only mean something for a multi-dose vial; show the label the product gets."""
        container = Container(self.container.currentData())
        self.beyond_use_days.setEnabled(is_multi_use(container))
        data, problems = self.read_input()
        ok = not problems and data.manufacturer.strip()
        self.label_preview.setText(inventory.product_label(data) if ok else "–")

    def read_input(self) -> tuple[ProductInput, dict[str, str]]:
        """The form as a ProductInput, and the fields whose numbers cannot be read as typed (sent as 0,
        which the service refuses, so every other field's message shows at the same time)."""
        container = Container(self.container.currentData())
        formulation = Formulation(self.formulation.currentData())
        problems: dict[str, str] = {}
        strength = volume = None
        try:
            strength = parse_strength(self.strength_mcg_per_ml.text())
        except QuantityError as exc:
            problems["strength_mcg_per_ml"] = str(exc)
        try:
            volume = parse_volume_ml(self.volume_ml.text())
        except QuantityError as exc:
            problems["volume_ml"] = str(exc)
        return ProductInput(
            formulation=formulation,
            manufacturer=self.manufacturer.text(),
            strength_mcg_per_ml=strength if strength is not None else Decimal(0),
            container=container,
            volume_ml=volume if volume is not None else Decimal(0),
            brand=self.brand.text(),
            preservative=self.preservative.text(),
            preservatives=self.preservatives.value(),
            gtin=self.gtin.text(),
            ndc=self.ndc.text(),
            unit_gtin=self.unit_gtin.text(),
            unit_ndc=self.unit_ndc.text(),
            storage_note=self.storage_note.toPlainText(),
            beyond_use_days=self.beyond_use_days.value() if is_multi_use(container) else None,
            reorder_level=self.reorder_level.value(),
            for_deficiency=self.for_deficiency.isChecked(),
            source=self.source.toPlainText(),
        ), problems

    def save(self) -> None:
        data, problems = self.read_input()
        product, reason = self.product, self.change_reason.text()

        def write(session: Session, actor: Actor) -> ProductRow:
            if product is None:
                return inventory.create_product(session, actor, data)
            return inventory.update_product(
                session, actor, product.id, data, expected_version=product.version_id, reason=reason
            )

        def refused(failure: OpFailure) -> None:
            if not failure.fields:  # a role that may not, or someone else changed the product
                self.errors.clear()
                self._show_summary(failure.message)
                return
            errors = {**failure.fields, **problems}  # "not a number" says more than "must be positive"
            unclaimed = self.errors.show(errors)
            claimed = [PRODUCT_FIELD_LABELS[n] for n in self.errors.in_form_order(errors)]
            lines = ["The product was not saved."]
            if claimed:
                lines.append(f"Correct: {', '.join(claimed)}.")
            lines.extend(unclaimed.values())
            self._show_summary("\n".join(lines))

        run_op(self, self.ctx, write, self._saved, refused, write=True, changes=(STOCK,))

    def _saved(self, row: ProductRow) -> None:
        self.saved.emit(row)
        self.accept()

    def _show_summary(self, text: str) -> None:
        self.summary.show_text(text)
        self.fit_height()

    def field_error(self, name: str) -> str:
        return self.errors.message(name)
