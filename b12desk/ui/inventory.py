"""The Inventory tab: formulary products, their lots and open vials, stock alerts, and the stock actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QAbstractTableModel, QObject, Qt, Signal
from PySide6.QtGui import QColor, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import Formulation
from b12desk.domain.stock import CONTAINER_LABELS, is_multi_use
from b12desk.domain.units import format_ml
from b12desk.services import inventory
from b12desk.services.common import Actor
from b12desk.services.inventory import Alerts, LotRow, ProductRow, VialRow
from b12desk.ui.context import STOCK, AppContext
from b12desk.ui.ops import run_op
from b12desk.ui.style import WARNING_AMBER
from b12desk.ui.table_model import FIRST_FREE_ROLE, RIGHT, SortColumn, SortedRowsModel
from b12desk.ui.widgets import format_date, format_local_time, show_message

if TYPE_CHECKING:  # the dialogs import this module; they are loaded when first used
    from b12desk.ui.inventory_dialogs import (
        AdjustCountDialog,
        DiscardVialDialog,
        LotHistoryDialog,
        OpenVialDialog,
        ProductDialog,
        ReceiveDialog,
        ReturnDialog,
        WasteDialog,
        _StockActionDialog,
    )

    _D = TypeVar("_D", bound=_StockActionDialog)

# What the data bus names after any change of stock or formulary (see ui/context.py).

URGENCY_ROLE = FIRST_FREE_ROLE  # lots: expiry band (0 expired, 30/60/90, None); vials: bool

FORMULATION_LABELS = {
    Formulation.CYANOCOBALAMIN: "Cyanocobalamin",
    Formulation.HYDROXOCOBALAMIN: "Hydroxocobalamin",
    Formulation.OTHER: "Other",
}
NOT_FOR_DEFICIENCY = "Not for B12 deficiency"
PAST_DISCARD_BY = "PAST DISCARD-BY"

ERROR_RED = QColor("#b3261e")
GREY = QColor("#7a7a7a")
WARNING = QColor(WARNING_AMBER)
WHITE = QColor("#ffffff")
DARK = QColor("#202124")
# Expiry urgency: expired, within 30, 60 and 90 days (services.inventory.LotRow.band).
BAND_COLOURS: dict[int, QColor] = {
    0: ERROR_RED,
    30: QColor("#f5a04a"),
    60: QColor("#ffe066"),
    90: QColor("#fff6c7"),
}


# --- text helpers shared with the dialogs -----------------------------------------------------------------


def days_text(expiry: date, today: date) -> str:
    days = (expiry - today).days
    if days < 0:
        return "expired today" if days == 0 else f"expired {-days} day{'s' if days != -1 else ''} ago"
    if days == 0:
        return "expires today"
    return f"in {days} day{'s' if days != 1 else ''}"


def lot_choice_text(lot: LotRow, today: date) -> str:
    """One line for a lot chooser: 'Lot A123, expires 2027-03-31 (in 400 days), 5 sealed'."""
    return (
        f"Lot {lot.lot_number}, expires {lot.expiry.isoformat()} ({days_text(lot.expiry, today)}), "
        f"{lot.quantity} sealed"
    )


def signed(value: int | Decimal, unit: str = "") -> str:
    """'+10' / '−1' / '−0.5 mL'; nothing for zero (a movement that did not change that figure)."""
    if value == 0:
        return ""
    size = -Decimal(value) if value < 0 else Decimal(value)
    text = format_ml(size) if unit == "mL" else f"{size:,}"
    return ("+" if value > 0 else "−") + text


def _status_text(p: ProductRow) -> str:
    notes = []
    if p.expired_lots:
        lots = "1 expired lot" if p.expired_lots == 1 else f"{p.expired_lots} expired lots"
        notes.append(f"✕ {lots} in stock")
    if p.expiring_on:
        notes.append(f"⚠ lot expires {p.expiring_on.isoformat()}")
    if p.below_reorder:
        notes.append("▼ Below reorder level")
    if not p.data.for_deficiency:
        notes.append(NOT_FOR_DEFICIENCY)
    if not p.active:
        notes.append("Inactive")
    return "; ".join(notes)


# --- the three tables of the tab --------------------------------------------------------------------------


def _codes_text(p: ProductRow) -> str:
    lines = [p.data.gtin or "no GTIN"]
    if p.data.ndc:
        lines.append(f"NDC {p.data.ndc}")
    return "\n".join(lines)


class ProductsModel(SortedRowsModel[ProductRow]):
    """Two lines a row: the full ISMP label wraps rather than being cut, and GTIN sits over NDC."""

    columns = (
        SortColumn[ProductRow](
            "Product", lambda p: p.label, sort_key=lambda p: p.label.casefold(), width=400
        ),
        SortColumn[ProductRow](
            "Formulation",
            lambda p: FORMULATION_LABELS.get(p.data.formulation, str(p.data.formulation)),
            width=122,
        ),
        SortColumn[ProductRow](
            "Container", lambda p: CONTAINER_LABELS.get(p.data.container, str(p.data.container)), width=112
        ),
        SortColumn[ProductRow]("GTIN / NDC", _codes_text, sort_key=lambda p: p.data.gtin or "", width=124),
        SortColumn[ProductRow](
            "Sealed\nusable",
            lambda p: f"{p.sealed_usable:,}",
            RIGHT,
            sort_key=lambda p: p.sealed_usable,
            width=62,
        ),
        SortColumn[ProductRow](
            "Open\nvials",
            lambda p: f"{p.open_vials:,}" if is_multi_use(p.data.container) else "–",
            RIGHT,
            sort_key=lambda p: p.open_vials,
            width=50,
        ),
        SortColumn[ProductRow](
            "Open\nvolume",
            lambda p: format_ml(p.open_ml) if p.open_vials else "",
            RIGHT,
            sort_key=lambda p: p.open_ml,
            width=62,
        ),
        SortColumn[ProductRow](
            "Reorder\nat",
            lambda p: f"{p.data.reorder_level:,}",
            RIGHT,
            sort_key=lambda p: p.data.reorder_level,
            width=60,
        ),
        SortColumn[ProductRow]("Status", _status_text, width=160),
    )
    COL_LABEL, COL_FORMULATION, COL_CONTAINER, COL_SEALED, COL_STATUS = 0, 1, 2, 4, 8
    # The product's label already names its formulation and container: on a narrow window those two
    # columns give their room to the label, which would otherwise be cut.
    NARROW_HIDES = (COL_FORMULATION, COL_CONTAINER)

    def foreground(self, r: ProductRow, column: int) -> QColor | None:
        if not r.data.for_deficiency or not r.active:
            return GREY
        if (r.below_reorder and column == self.COL_SEALED) or (
            column == self.COL_STATUS and (r.below_reorder or r.expired_lots)
        ):
            return ERROR_RED
        if column == self.COL_STATUS and r.expiring_on:
            return WARNING
        return None

    def tooltip(self, r: ProductRow, column: int) -> str | None:
        lines = [r.label]
        if r.data.preservative:
            lines.append(f"Preservative: {r.data.preservative}")
        if r.data.storage_note:
            lines.append(f"Storage: {r.data.storage_note}")
        if r.data.beyond_use_days:
            lines.append(f"Discard {r.data.beyond_use_days} days after first puncture")
        if not r.data.for_deficiency:
            lines.append(f"{NOT_FOR_DEFICIENCY}: never offered for treatment")
        if r.below_reorder:
            lines.append(f"{r.sealed_usable} usable sealed; reorder at {r.data.reorder_level}")
        return "\n".join(lines)


class LotsModel(SortedRowsModel[LotRow]):
    def __init__(self, today: date, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.today = today
        self.columns = (
            SortColumn[LotRow]("Lot", lambda lot: lot.lot_number, width=80),
            SortColumn[LotRow]("Expiry", lambda lot: lot.expiry.isoformat(), width=84),
            SortColumn[LotRow](
                "Expires",
                lambda lot: days_text(lot.expiry, self.today),
                sort_key=lambda lot: lot.expiry,
                width=122,
            ),
            SortColumn[LotRow](
                "Sealed", lambda lot: f"{lot.quantity:,}", RIGHT, sort_key=lambda lot: lot.quantity, width=54
            ),
            SortColumn[LotRow](
                "Supplier", lambda lot: lot.supplier, sort_key=lambda lot: lot.supplier.casefold(), width=120
            ),
            SortColumn[LotRow]("Received", lambda lot: format_date(lot.received_on), width=84),
        )

    COL_EXPIRY, COL_EXPIRES = 1, 2

    def set_rows(self, rows: Sequence[LotRow], today: date | None = None) -> None:
        self.today = today or self.today
        super().set_rows(rows)

    def extra(self, row: LotRow, column: int, role: int) -> Any:
        return row.band if role == URGENCY_ROLE else None

    def background(self, r: LotRow, column: int) -> QColor | None:
        if column in (self.COL_EXPIRY, self.COL_EXPIRES) and r.band is not None:
            return BAND_COLOURS.get(r.band)
        return None

    def foreground(self, r: LotRow, column: int) -> QColor | None:
        if column in (self.COL_EXPIRY, self.COL_EXPIRES) and r.band is not None:
            return WHITE if r.band == 0 else DARK
        return None

    def tooltip(self, r: LotRow, column: int) -> str | None:
        if r.band == 0:
            return f"Expired on {r.expiry.isoformat()}: do not use; waste or return it."
        if r.band is not None:
            return f"Expires within {r.band} days: use first."
        return None


class VialsModel(SortedRowsModel[VialRow]):
    columns = (
        SortColumn[VialRow]("Vial", lambda v: str(v.id), RIGHT, sort_key=lambda v: v.id, width=40),
        SortColumn[VialRow]("Lot", lambda v: v.lot_number, width=74),
        SortColumn[VialRow](
            "Opened", lambda v: format_local_time(v.opened_at), sort_key=lambda v: v.opened_at, width=124
        ),
        SortColumn[VialRow]("By", lambda v: v.opened_by, width=72),
        SortColumn[VialRow](
            "Left", lambda v: format_ml(v.remaining_ml), RIGHT, sort_key=lambda v: v.remaining_ml, width=50
        ),
        SortColumn[VialRow](
            "Discard by",
            lambda v: format_local_time(v.discard_by),
            sort_key=lambda v: v.discard_by,
            width=124,
        ),
        SortColumn[VialRow](
            "State",
            lambda v: PAST_DISCARD_BY if v.past_discard_by else "In use",
            sort_key=lambda v: not v.past_discard_by,
            width=124,
        ),
    )
    COL_DISCARD_BY, COL_STATE = 5, 6

    def extra(self, row: VialRow, column: int, role: int) -> Any:
        return row.past_discard_by if role == URGENCY_ROLE else None

    def foreground(self, r: VialRow, column: int) -> QColor | None:
        if r.past_discard_by and column in (self.COL_DISCARD_BY, self.COL_STATE):
            return ERROR_RED
        return None

    def tooltip(self, r: VialRow, column: int) -> str | None:
        if r.past_discard_by:
            return "Past its beyond-use time: it cannot be drawn from. Discard it."
        return None


def _table(model: QAbstractTableModel, columns: Sequence[SortColumn[Any]]) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    header = table.horizontalHeader()
    header.setStretchLastSection(True)
    header.setHighlightSections(False)
    for i, column in enumerate(columns):
        table.setColumnWidth(i, column.width)
    header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the service's order until a header is clicked
    table.setSortingEnabled(True)
    return table


# --- the alert banner -----------------------------------------------------------------------------------

MAX_ALERT_LINES = 4  # per kind of alert; the rest is counted


EXPANDED_UP_TO = 3  # alert lines shown in full by default; with more, only the urgent ones until asked


class AlertBanner(QFrame):
    """Expired and expiring lots, vials past discard-by, products short of stock: one line each kind.

    Expired stock and vials past discard-by are always listed; when there are many lines the others fold
    behind a button so the tables keep their room, and stay as the user last chose.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stockAlerts")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.urgent = QLabel()
        self.urgent.setWordWrap(True)
        self.urgent.setTextFormat(Qt.TextFormat.RichText)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.toggle = QPushButton()
        self.toggle.setFlat(True)
        self.toggle.clicked.connect(self._toggle)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.urgent)
        layout.addWidget(self.details)
        self.lines: list[tuple[bool, str]] = []
        self._expanded: bool | None = None  # None: not chosen by the user yet

    def _toggle(self) -> None:
        self._expanded = not self.details.isVisible()
        self._update_details()

    def _update_details(self) -> None:
        others = [line for urgent, line in self.lines if not urgent]
        expanded = self._expanded if self._expanded is not None else len(self.lines) <= EXPANDED_UP_TO
        self.details.setVisible(bool(others) and expanded)
        self.toggle.setVisible(bool(others))
        kinds = "1 more kind of alert" if len(others) == 1 else f"{len(others)} more kinds of alert"
        self.toggle.setText("Hide details" if expanded else f"Show {kinds}")

    def show_alerts(self, alerts: Alerts, labels: dict[int, str], today: date) -> None:
        self.lines = alert_lines(alerts, labels, today)
        urgent = bool(alerts.expiring.get(0) or alerts.vials_past_discard_by)
        level = "urgent" if urgent else ("warning" if alerts.count else "ok")
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.summary.setText(f"<b>{escape(alerts.summary())}</b>")
        self.urgent.setText("<br>".join(line for urgent, line in self.lines if urgent))
        self.urgent.setVisible(urgent)
        self.details.setText("<br>".join(line for urgent, line in self.lines if not urgent))
        self._update_details()

    def details_text(self) -> str:
        """Every alert line, shown or folded."""
        return "<br>".join(line for _urgent, line in self.lines)


def status_text(alerts: Alerts | None) -> str:
    """The alerts in a few words for the main window's status bar."""
    if alerts is None:
        return ""

    def count(n: int, one: str, many: str) -> str:
        return f"{n} {one if n == 1 else many}"

    expired = len(alerts.expiring.get(0, []))
    soon = sum(len(v) for k, v in alerts.expiring.items() if k)
    parts = []
    if expired:
        parts.append(count(expired, "expired lot", "expired lots"))
    if alerts.vials_past_discard_by:
        parts.append(count(len(alerts.vials_past_discard_by), "vial", "vials") + " past discard-by")
    if soon:
        parts.append(f"{soon} expiring soon")
    if alerts.below_reorder:
        parts.append(f"{len(alerts.below_reorder)} to reorder")
    return "Stock: " + (" · ".join(parts) if parts else "no alerts")


def short_name(p: ProductRow) -> str:
    """'Cyanocobalamin 10 mL (Hikma)': enough to find the product in the table, short for the banner."""
    formulation = FORMULATION_LABELS.get(p.data.formulation, str(p.data.formulation))
    return f"{formulation} {format_ml(p.data.volume_ml)} ({p.data.brand or p.data.manufacturer})"


def alert_lines(alerts: Alerts, labels: dict[int, str], today: date) -> list[tuple[bool, str]]:
    """Rich-text lines, most urgent first, each naming the lot or vial and its product (id -> name)."""

    def product(pid: int) -> str:
        return escape(labels.get(pid, f"product {pid}"))

    def limited(title: str, items: list[str], noun: str) -> str:
        shown = items[:MAX_ALERT_LINES]
        more = len(items) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more {noun}{'' if more == 1 else 's'}" if more > 0 else "")
        return f"<b>{escape(title)}:</b> {text}"

    lines: list[tuple[bool, str]] = []  # (urgent, line)
    red = "<span style='color:#b3261e'>{}</span>"
    if alerts.expiring.get(0):
        items = [
            f"{red.format('lot ' + escape(lot.lot_number))} of {product(lot.product_id)} "
            f"({lot.quantity} sealed, expired {lot.expiry.isoformat()})"
            for lot in alerts.expiring[0]
        ]
        lines.append((True, limited("Expired, still in stock", items, "lot")))
    if alerts.vials_past_discard_by:
        items = [
            f"{red.format(f'vial {v.id}')} (lot {escape(v.lot_number)}) of {product(v.product_id)}, "
            f"discard-by {format_local_time(v.discard_by)}"
            for v in alerts.vials_past_discard_by
        ]
        lines.append((True, limited("Open vials past discard-by", items, "vial")))
    for band in sorted(b for b in alerts.expiring if b):
        items = [
            f"lot {escape(lot.lot_number)} of {product(lot.product_id)} ({lot.quantity} sealed, "
            f"{lot.expiry.isoformat()}, {days_text(lot.expiry, today)})"
            for lot in alerts.expiring[band]
        ]
        lines.append((False, limited(f"Expiring within {band} days", items, "lot")))
    if alerts.below_reorder:
        items = [
            f"{product(p.id)} ({p.sealed_usable} usable, reorder at {p.data.reorder_level})"
            for p in alerts.below_reorder
        ]
        lines.append((False, limited("Below reorder level", items, "product")))
    return lines


BANNER_STYLE = """
QFrame#stockAlerts { border-radius: 4px; border: 1px solid #c9c9c9; background: #f1f3f4; }
QFrame#stockAlerts[level="warning"] { border: 1px solid #e0b04a; background: #fff8e1; }
QFrame#stockAlerts[level="urgent"] { border: 1px solid #f0b8b3; background: #fdecea; }
"""


# --- the tab --------------------------------------------------------------------------------------------


class InventoryTab(QWidget):
    """Products, lots and open vials; every action goes through services.inventory and is refused there."""

    alerts_changed = Signal(str)  # the one-line alert summary, for the main window's status bar

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.today = ctx.clock.today()
        self._alerts: Alerts | None = None
        self._loading = False

        self.banner = AlertBanner()
        self.banner.setStyleSheet(BANNER_STYLE)

        self.products = ProductsModel(self)
        self.products_table = _table(self.products, ProductsModel.columns)
        self.products_table.setWordWrap(True)
        self.products_table.verticalHeader().setDefaultSectionSize(
            2 * self.products_table.fontMetrics().lineSpacing() + 8
        )
        product_header = self.products_table.horizontalHeader()
        product_header.setStretchLastSection(False)
        product_header.setSectionResizeMode(ProductsModel.COL_LABEL, QHeaderView.ResizeMode.Stretch)
        self.lots = LotsModel(self.today, self)
        self.lots_table = _table(self.lots, self.lots.columns)
        self.vials = VialsModel(self)
        self.vials_table = _table(self.vials, VialsModel.columns)

        self.receive_button = QPushButton("Receive stock…")
        self.new_product_button = QPushButton("New product…")
        self.edit_product_button = QPushButton("Edit product…")
        self.seed_button = QPushButton("Load seed formulary…")
        self.refresh_button = QPushButton("Refresh")
        self.open_vial_button = QPushButton("Open vial…")
        self.waste_button = QPushButton("Waste…")
        self.adjust_button = QPushButton("Adjust count…")
        self.return_button = QPushButton("Return to supplier…")
        self.history_button = QPushButton("Lot history…")
        self.discard_button = QPushButton("Discard vial…")
        self.vial_label_button = QPushButton("Vial label…")
        self.vial_label_button.setToolTip("Print the opened vial's label: product, lot, opened, discard-by.")
        self.lot_label_button = QPushButton("Label…")
        self.lot_label_button.setToolTip(
            "The selected lot's label with its GS1 DataMatrix; with no lot selected, the product's "
            "shelf label."
        )
        self.show_empty = QCheckBox("Show empty lots")
        self.note = QLabel()  # what the last action did
        self.note.setObjectName("muted")
        self.lots_title = QLabel("Lots")
        self.lots_title.setWordWrap(True)  # a long product name must not widen the lots pane
        self.vials_title = QLabel("Open multi-dose vials")
        self.empty_hint = QLabel(
            "The formulary is empty. Load the seed formulary (a pharmacist checks it against the packs "
            "the clinic buys) or add the products one by one."
        )
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setObjectName("muted")

        product_buttons = QHBoxLayout()
        for b in (
            self.receive_button,
            self.new_product_button,
            self.edit_product_button,
            self.lot_label_button,
            self.seed_button,
        ):
            product_buttons.addWidget(b)
        product_buttons.addSpacing(12)
        product_buttons.addWidget(self.note, 1)
        product_buttons.addWidget(self.refresh_button)

        lots_box = QWidget()
        lots_layout = QVBoxLayout(lots_box)
        lots_layout.setContentsMargins(0, 0, 0, 0)
        lots_head = QHBoxLayout()
        lots_head.addWidget(self.lots_title, 1)
        lots_head.addWidget(self.show_empty)
        lots_layout.addLayout(lots_head)
        lots_layout.addWidget(self.lots_table, 1)
        lot_buttons = QHBoxLayout()
        for b in (
            self.open_vial_button,
            self.waste_button,
            self.adjust_button,
            self.return_button,
            self.history_button,
        ):
            lot_buttons.addWidget(b)
        lot_buttons.addStretch(1)
        lots_layout.addLayout(lot_buttons)

        vials_box = QWidget()
        vials_layout = QVBoxLayout(vials_box)
        vials_layout.setContentsMargins(0, 0, 0, 0)
        vials_layout.addWidget(self.vials_title)
        vials_layout.addWidget(self.vials_table, 1)
        vial_buttons = QHBoxLayout()
        vial_buttons.addWidget(self.discard_button)
        vial_buttons.addWidget(self.vial_label_button)
        vial_buttons.addStretch(1)
        vials_layout.addLayout(vial_buttons)

        self.bottom = QSplitter(Qt.Orientation.Horizontal)
        self.bottom.addWidget(lots_box)
        self.bottom.addWidget(vials_box)
        self.bottom.setStretchFactor(
            0, 0
        )  # the lots keep the width of their columns; the vials take the rest
        self.bottom.setStretchFactor(1, 1)
        self.bottom.setChildrenCollapsible(False)
        self._sized = False

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.products_table, 1)
        top_layout.addWidget(self.empty_hint)
        top_layout.addLayout(product_buttons)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.bottom)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)

        self.products_table.selectionModel().selectionChanged.connect(self._product_selected)
        self.lots_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.vials_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.products_table.doubleClicked.connect(lambda _i: self.edit_product())
        self.lots_table.doubleClicked.connect(lambda _i: self.lot_history())
        self.show_empty.toggled.connect(lambda _on: self.reload_product())
        self.receive_button.clicked.connect(self.receive_stock)
        self.new_product_button.clicked.connect(self.new_product)
        self.edit_product_button.clicked.connect(self.edit_product)
        self.seed_button.clicked.connect(self.load_seed_formulary)
        self.refresh_button.clicked.connect(self.reload)
        self.open_vial_button.clicked.connect(self.open_vial)
        self.waste_button.clicked.connect(self.waste)
        self.adjust_button.clicked.connect(self.adjust_count)
        self.return_button.clicked.connect(self.return_to_supplier)
        self.history_button.clicked.connect(self.lot_history)
        self.discard_button.clicked.connect(self.discard_vial)
        self.vial_label_button.clicked.connect(lambda: self.print_vial_label())
        self.lot_label_button.clicked.connect(lambda: self.print_lot_label())
        ctx.bus.changed.connect(self._data_changed)
        self._update_buttons()

    NARROW_BELOW = 1250  # px of the tab: below this the formulation and container columns are hidden

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        narrow = self.width() < self.NARROW_BELOW
        for column in ProductsModel.NARROW_HIDES:
            self.products_table.setColumnHidden(column, narrow)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # splitter sizes only take once the widths are known
            self._sized = True
            lots_width = sum(c.width for c in self.lots.columns) + 24
            self.bottom.setSizes([lots_width, max(self.bottom.width() - lots_width, 200)])
            bottom_height = 6 * self.lots_table.verticalHeader().defaultSectionSize()
            self.splitter.setSizes([max(self.splitter.height() - bottom_height, 200), bottom_height])

    # --- loading ---------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read products and alerts again (on the database worker), keeping the selection."""
        clock = self.ctx.clock

        def read(session: Session, actor: Actor) -> tuple[list[ProductRow], Alerts]:
            return (
                inventory.list_products(session, actor, clock=clock),
                inventory.alerts(session, actor, clock=clock),
            )

        run_op(self, self.ctx, read, self._loaded, quiet=True, title="Inventory")

    def _loaded(self, result: tuple[list[ProductRow], Alerts]) -> None:
        rows, alerts = result
        keep = self.selected_product()
        self.today = self.ctx.clock.today()
        self._loading = True  # one read of lots and vials below, not one per selection change
        self.products.set_rows(rows)
        self._alerts = alerts
        self.banner.show_alerts(alerts, {p.id: short_name(p) for p in rows}, self.today)
        self.seed_button.setVisible(not rows)
        self.empty_hint.setVisible(not rows)
        target = keep.id if keep is not None else (rows[0].id if rows else None)
        if target is not None:
            self.select_product(target)
        self._loading = False
        self.reload_product()
        self.alerts_changed.emit(self.alert_summary())

    def reload_product(self) -> None:
        """The lots and open vials of the selected product, read on the database worker."""
        product = self.selected_product()
        if product is None:
            self._show_product(None, ([], []))
            return
        clock, include_empty = self.ctx.clock, self.show_empty.isChecked()

        def read(session: Session, actor: Actor) -> tuple[list[LotRow], list[VialRow]]:
            return (
                inventory.list_lots(session, actor, product.id, include_empty=include_empty, clock=clock),
                inventory.list_open_vials(session, actor, product_id=product.id, clock=clock),
            )

        run_op(self, self.ctx, read, lambda r: self._show_product(product, r), quiet=True, title="Inventory")

    def _show_product(self, product: ProductRow | None, stock: tuple[list[LotRow], list[VialRow]]) -> None:
        if product is not None and self.selected_product_id() != product.id:
            return  # the selection moved on while this was read: its own answer follows
        lots, vials = stock
        keep_lot = self.selected_lot()
        keep_vial = self.selected_vial()
        self.lots.set_rows(lots, self.today)
        self.vials.set_rows(vials)
        self._reselect(self.lots_table, self.lots, keep_lot.id if keep_lot else None)
        self._reselect(self.vials_table, self.vials, keep_vial.id if keep_vial else None)
        name = short_name(product) if product is not None else "no product chosen"
        self.lots_title.setText(f"<b>Lots</b> of {escape(name)}")
        multi = product is not None and is_multi_use(product.data.container)
        self.vials_title.setText(
            "<b>Open multi-dose vials</b>"
            if multi or product is None
            else "<b>Open vials</b>: none (single-use)"
        )
        self._update_buttons()

    def _data_changed(self, what: str) -> None:
        if what == STOCK:
            self.reload()

    def alert_summary(self) -> str:
        """A few words for the status bar, e.g. 'Stock: 1 expired lot · 2 vials past discard-by'."""
        return status_text(self._alerts)

    @property
    def alerts(self) -> Alerts | None:
        return self._alerts

    # --- selection -------------------------------------------------------------------------------------

    def selected_product(self) -> ProductRow | None:
        return self.products.selected(self.products_table)

    def selected_product_id(self) -> int | None:
        product = self.selected_product()
        return product.id if product is not None else None

    def selected_lot(self) -> LotRow | None:
        return self.lots.selected(self.lots_table)

    def selected_vial(self) -> VialRow | None:
        return self.vials.selected(self.vials_table)

    @staticmethod
    def _reselect(table: QTableView, model: SortedRowsModel[Any], row_id: int | None) -> bool:
        row = model.row_of_id(row_id) if row_id is not None else None
        if row is None:
            table.clearSelection()
            return False
        table.selectRow(row)
        table.scrollTo(model.index(row, 0))
        return True

    def select_product(self, product_id: int) -> bool:
        return self._reselect(self.products_table, self.products, product_id)

    def select_lot(self, lot_id: int) -> bool:
        return self._reselect(self.lots_table, self.lots, lot_id)

    def select_vial(self, vial_id: int) -> bool:
        return self._reselect(self.vials_table, self.vials, vial_id)

    def _product_selected(self) -> None:
        if not self._loading:
            self.reload_product()

    def _update_buttons(self) -> None:
        product = self.selected_product()
        lot = self.selected_lot()
        self.edit_product_button.setEnabled(product is not None)
        self.open_vial_button.setEnabled(product is not None and is_multi_use(product.data.container))
        for b in (self.waste_button, self.adjust_button, self.return_button, self.history_button):
            b.setEnabled(lot is not None)
        self.discard_button.setEnabled(self.selected_vial() is not None)
        self.vial_label_button.setEnabled(self.selected_vial() is not None)
        self.lot_label_button.setEnabled(product is not None)

    def say(self, text: str) -> None:
        self.note.setText(text)

    # --- actions (dialogs are loaded when first used) -------------------------------------------------

    def receive_stock(self) -> ReceiveDialog:
        from b12desk.ui.inventory_dialogs import ReceiveDialog

        product = self.selected_product()
        dialog = ReceiveDialog(self.ctx, product_id=product.id if product else None, parent=self)
        dialog.received.connect(self._after_receive)
        dialog.open()
        return dialog

    def _after_receive(self, lot: LotRow) -> None:
        self.select_product(lot.product_id)
        self.reload_product()
        self.select_lot(lot.id)
        self.say(f"Received into lot {lot.lot_number}: {lot.quantity:,} sealed on hand.")

    def new_product(self) -> ProductDialog:
        from b12desk.ui.inventory_dialogs import ProductDialog

        dialog = ProductDialog(self.ctx, parent=self)
        dialog.saved.connect(self._after_product_saved)
        dialog.open()
        return dialog

    def edit_product(self) -> ProductDialog | None:
        from b12desk.ui.inventory_dialogs import ProductDialog

        product = self.selected_product()
        if product is None:
            return None
        dialog = ProductDialog(self.ctx, product=product, parent=self)
        dialog.saved.connect(self._after_product_saved)
        dialog.open()
        return dialog

    def _after_product_saved(self, product: ProductRow) -> None:
        self.select_product(product.id)
        self.say(f"Saved {product.label}.")

    def load_seed_formulary(self) -> None:
        from b12desk.services.reference import ReferenceDataError, seed_formulary_entries

        try:
            entries = seed_formulary_entries()
        except ReferenceDataError as exc:
            show_message(self, "Load seed formulary", f"The shipped formulary file is not valid: {exc}")
            return
        run_op(
            self,
            self.ctx,
            lambda s, actor: inventory.seed_formulary(s, actor, entries),
            lambda count: self.say(
                f"Loaded {count} products from the seed formulary: check them against your packs."
            ),
            write=True,
            changes=(STOCK,),
            title="Load seed formulary",
        )

    def open_vial(self) -> OpenVialDialog | None:
        from b12desk.ui.inventory_dialogs import OpenVialDialog

        product = self.selected_product()
        if product is None:
            return None
        lot = self.selected_lot()
        dialog = OpenVialDialog(self.ctx, product, lot_id=lot.id if lot else None, parent=self)
        dialog.opened.connect(self._after_open)
        dialog.open()
        return dialog

    def _after_open(self, vial: VialRow) -> None:
        self.select_vial(vial.id)
        when = format_local_time(vial.discard_by)
        self.say(f"Vial {vial.id} opened from lot {vial.lot_number}: discard by {when}.")
        self.print_vial_label(vial.id)  # an opened vial is labelled at once: offered here

    def print_vial_label(self, vial_id: int | None = None) -> QDialog | None:
        from b12desk.ui.printing import LabelPrintDialog

        if vial_id is None:
            vial = self.selected_vial()
            vial_id = vial.id if vial is not None else None
        if vial_id is None:
            return None
        dialog = LabelPrintDialog(self.ctx, "vial", [vial_id], parent=self)
        dialog.open()
        return dialog

    def print_lot_label(self) -> QDialog | None:
        """The selected lot's label (GS1 DataMatrix), or the product's shelf label when no lot is chosen."""
        from b12desk.ui.printing import LabelPrintDialog

        product, lot = self.selected_product(), self.selected_lot()
        if product is None:
            return None
        kind, record = ("lot", lot.id) if lot is not None else ("shelf", product.id)
        dialog = LabelPrintDialog(self.ctx, kind, [record], parent=self)
        dialog.open()
        return dialog

    def _lot_dialog(self, cls: Callable[..., _D]) -> _D | None:
        product, lot = self.selected_product(), self.selected_lot()
        if product is None or lot is None:
            return None
        dialog = cls(self.ctx, product, lot, parent=self)
        dialog.done_text.connect(self.say)
        dialog.open()
        return dialog

    def waste(self) -> WasteDialog | None:
        from b12desk.ui.inventory_dialogs import WasteDialog

        return self._lot_dialog(WasteDialog)

    def adjust_count(self) -> AdjustCountDialog | None:
        from b12desk.ui.inventory_dialogs import AdjustCountDialog

        return self._lot_dialog(AdjustCountDialog)

    def return_to_supplier(self) -> ReturnDialog | None:
        from b12desk.ui.inventory_dialogs import ReturnDialog

        return self._lot_dialog(ReturnDialog)

    def discard_vial(self) -> DiscardVialDialog | None:
        from b12desk.ui.inventory_dialogs import DiscardVialDialog

        product, vial = self.selected_product(), self.selected_vial()
        if product is None or vial is None:
            return None
        dialog = DiscardVialDialog(self.ctx, product, vial, parent=self)
        dialog.done_text.connect(self.say)
        dialog.open()
        return dialog

    def lot_history(self) -> LotHistoryDialog | None:
        from b12desk.ui.inventory_dialogs import LotHistoryDialog

        product, lot = self.selected_product(), self.selected_lot()
        if product is None or lot is None:
            return None
        dialog = LotHistoryDialog(self.ctx, product, lot, parent=self)
        dialog.open()
        return dialog
