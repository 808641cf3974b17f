"""The Inventory tab and its dialogs: scans typed as a wedge scanner types them; stock via the services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from b12desk.clock import fixed_clock
from b12desk.data.db import Database
from b12desk.data.reference import formulary
from b12desk.domain.enums import Container, Formulation
from b12desk.domain.stock import WasteReason
from b12desk.services import inventory as inv
from b12desk.services.common import Actor
from b12desk.ui.inventory import (
    BAND_COLOURS,
    ERROR_RED,
    NOT_FOR_DEFICIENCY,
    PAST_DISCARD_BY,
    URGENCY_ROLE,
    InventoryTab,
    LotsModel,
    ProductsModel,
    VialsModel,
)
from b12desk.ui.inventory_dialogs import (
    AdjustCountDialog,
    LotHistoryDialog,
    MovementsModel,
    OpenVialDialog,
    ProductDialog,
    ReceiveDialog,
    WasteDialog,
)
from b12desk.ui.scanner_test import ScannerTestDialog
from b12desk.ui.style import WARNING_AMBER
from b12desk.ui.widgets import format_local_time
from tests.clinic_time import clinic_now, clinic_today
from tests.conftest import Staffing
from tests.ui.conftest import MakeContext

GTIN = "00305170031251"  # NDC 0517-0031-25 (clinical-facts 8)
TODAY = clinic_today()
NOW = clinic_now()  # in the clinic's zone (the computer's, as no zone is set)
GS = "\x1d"


def mdv(**kw: object) -> inv.ProductInput:
    values: dict[str, object] = {
        "formulation": Formulation.CYANOCOBALAMIN,
        "manufacturer": "American Regent",
        "strength_mcg_per_ml": Decimal(1000),
        "container": Container.MULTI_DOSE_VIAL,
        "volume_ml": Decimal(1),
        "gtin": GTIN,
        "reorder_level": 5,
    }
    values.update(kw)
    return inv.ProductInput(**values)  # type: ignore[arg-type]


@pytest.fixture
def product_id(db: Database, staff: Staffing) -> int:
    with db.sessions.begin() as s:
        return inv.create_product(s, staff.pharmacist, mdv()).id


Receive = Callable[..., int]


@pytest.fixture
def receive(db: Database, staff: Staffing) -> Receive:
    """Commit a delivery through the service, as another workstation would; returns the lot id."""

    def add(product: int, lot: str, expiry_days: int, quantity: int, received_days_ago: int = 0) -> int:
        received = TODAY - timedelta(days=received_days_ago)
        with db.sessions.begin() as s:
            return inv.receive_stock(
                s,
                staff.nurse,
                product_id=product,
                lot_number=lot,
                expiry=TODAY + timedelta(days=expiry_days),
                quantity=quantity,
                supplier="Wholesaler",
                received_on=received,
                clock=fixed_clock(NOW - timedelta(days=received_days_ago)),
            ).id

    return add


def make_tab(qtbot: QtBot, make_ctx: MakeContext, actor: Actor, host: QWidget) -> InventoryTab:
    tab = InventoryTab(make_ctx(actor), parent=host)
    host.resize(1200, 700)
    tab.resize(1200, 700)
    host.show()
    tab.reload()
    return tab


def scanner_types(qtbot: QtBot, field: QWidget, code: str, *, enter: bool = True) -> None:
    """One key event per character, as a keyboard-wedge scanner sends them, then Enter.

    QTest cannot type the GS control character (it aborts on a character without a key), so GS goes as
    the raw key event a scanner produces: no key code, the text "\\x1d".
    """
    for i, part in enumerate(code.split(GS)):
        if i:
            QApplication.sendEvent(
                field, QKeyEvent(QEvent.Type.KeyPress, 0, Qt.KeyboardModifier.NoModifier, GS)
            )
        if part:
            qtbot.keyClicks(field, part)
    if enter:
        qtbot.keyClick(field, Qt.Key.Key_Return)


def lot_quantity(tab: InventoryTab) -> int | None:
    lot = tab.selected_lot()
    return lot.quantity if lot is not None else None


def cells(model: object, row: int) -> list[str]:
    from PySide6.QtCore import QAbstractItemModel

    assert isinstance(model, QAbstractItemModel)
    return [model.data(model.index(row, c)) for c in range(model.columnCount())]


# --- scanning into the receive dialog --------------------------------------------------------------------


def test_a_wedge_scan_fills_product_lot_and_expiry(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int
) -> None:
    dialog = ReceiveDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    assert dialog.focusWidget() is dialog.scan  # a scan goes into the scan field first
    scanner_types(qtbot, dialog.scan, "]d2010030517003125117270300" + "10LOT42" + GS + "21SER1")
    assert dialog.isVisible()  # Enter ended the scan; it did not press "Receive"
    assert dialog.chosen_product_id() == product_id
    assert dialog.lot_number.text() == "LOT42"
    assert dialog.expiry.text() == "2027-03-31"  # DD=00: the last day of the month
    assert dialog.scan_error.isHidden()
    assert "<GS>" in dialog.scan.text()  # the separator was kept, not dropped by the line edit
    assert dialog.last_scan is not None and dialog.last_scan.data.serial == "SER1"
    assert "Serial (21) SER1" in dialog.scan_info.text()


def test_ctrl_bracket_is_taken_as_the_gs_separator(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int
) -> None:
    dialog = ReceiveDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    qtbot.keyClicks(dialog.scan, "010030517003125110LOT7")
    qtbot.keyClick(dialog.scan, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(dialog.scan, "17270300")
    qtbot.keyClick(dialog.scan, Qt.Key.Key_Return)
    assert dialog.lot_number.text() == "LOT7"
    assert dialog.expiry.text() == "2027-03-31"


def test_a_bad_check_digit_is_shown_under_the_scan_field(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int
) -> None:
    dialog = ReceiveDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    scanner_types(qtbot, dialog.scan, "0100305170031252" + "17270300" + "10LOT42")
    assert "check digit" in dialog.scan_error.text()
    assert dialog.scan_error.isVisible()
    assert dialog.lot_number.text() == "" and dialog.expiry.text() == ""
    assert dialog.chosen_product_id() is None


def test_a_truncated_scan_and_an_impossible_date_say_which_field(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int
) -> None:
    dialog = ReceiveDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    scanner_types(qtbot, dialog.scan, "01003051700312511727023")
    assert "(17)" in dialog.scan_error.text() and "cut short" in dialog.scan_error.text()
    scanner_types(qtbot, dialog.scan, "01003051700312511727023010L1")
    assert "day 30 of a month with 28 days" in dialog.scan_error.text()


def test_a_fast_burst_without_enter_is_taken_as_a_scan(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int
) -> None:
    dialog = ReceiveDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    scanner_types(qtbot, dialog.scan, "0100305170031251172703001" + "0BURST", enter=False)
    qtbot.waitUntil(lambda: dialog.lot_number.text() == "BURST", timeout=2000)


def test_unknown_gtin_offers_a_link_that_only_a_pharmacist_may_make(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    with db.sessions.begin() as s:
        pid = inv.create_product(s, staff.pharmacist, mdv(gtin=None)).id
    nurse = ReceiveDialog(make_ctx(staff.nurse), parent=host)
    nurse.show()
    scanner_types(qtbot, nurse.scan, "01" + GTIN + "17270300" + "10LOT9")
    assert nurse.unknown_box.isVisible()
    assert f"Unknown product GTIN {GTIN} — link it to a product" in nurse.unknown_label.text()
    assert nurse.lot_number.text() == "LOT9"  # what the pack says is filled in all the same
    qtbot.mouseClick(nurse.link_button, Qt.MouseButton.LeftButton)
    assert "Choose the product" in nurse.link_error.text()
    nurse.select_product(pid)
    qtbot.mouseClick(nurse.link_button, Qt.MouseButton.LeftButton)
    assert "nurse may not edit formulary" in nurse.link_error.text()  # the service's refusal
    nurse.reject()

    ctx = make_ctx(staff.pharmacist)
    pharmacist = ReceiveDialog(ctx, parent=host)
    pharmacist.show()
    scanner_types(qtbot, pharmacist.scan, "01" + GTIN + "17270300" + "10LOT9")
    pharmacist.select_product(pid)
    with qtbot.waitSignal(ctx.bus.changed) as changed:
        qtbot.mouseClick(pharmacist.link_button, Qt.MouseButton.LeftButton)
    assert changed.args == ["stock"]
    assert pharmacist.unknown_box.isHidden()
    with db.sessions.begin() as s:
        assert inv.lookup_scan(s, staff.nurse, "01" + GTIN).product is not None


# --- receiving, opening, the tab's tables ----------------------------------------------------------------


def test_receive_through_the_dialog_and_the_lot_appears_in_the_tab(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int
) -> None:
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    assert tab.lots.rowCount() == 0
    dialog = tab.receive_stock()
    assert isinstance(dialog, ReceiveDialog)
    scanner_types(qtbot, dialog.scan, "]d2010030517003125117270300" + "10LOT42" + GS + "21SER1")
    assert dialog.focusWidget() in (dialog.quantity, dialog.quantity.lineEdit())  # all that is left to type
    dialog.quantity.setValue(12)
    qtbot.keyClicks(dialog.supplier, "McKesson")
    with qtbot.waitSignal(tab.ctx.bus.changed) as changed:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert changed.args == ["stock"]
    assert not dialog.isVisible()
    chosen = tab.selected_product()
    assert chosen is not None and chosen.id == product_id
    lot = tab.selected_lot()
    assert lot is not None and lot.lot_number == "LOT42" and lot.quantity == 12
    row = tab.lots.row_of_id(lot.id)
    assert row is not None
    assert cells(tab.lots, row)[:4] == ["LOT42", "2027-03-31", cells(tab.lots, row)[2], "12"]
    assert cells(tab.lots, row)[4] == "McKesson"
    assert cells(tab.products, 0)[ProductsModel.COL_SEALED] == "12"
    assert "LOT42" in tab.note.text()


def test_receive_refusals_are_shown_beside_their_fields(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int
) -> None:
    dialog = ReceiveDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    dialog.expiry.setText((TODAY - timedelta(days=1)).isoformat())
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.field_error("product") == "Choose the product received."
    assert "do not receive expired stock" in dialog.field_error("expiry")
    assert dialog.field_error("quantity") == "Quantity must be at least 1 container."
    assert dialog.field_error("lot_number").startswith("Enter the lot")
    dialog.received_on.setText("2026-02-30")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "is not a date" in dialog.field_error("received_on")


def test_open_a_vial_shows_its_discard_by(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int, receive: Receive
) -> None:
    lot_id = receive(product_id, "L1", 400, 3)
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    assert tab.select_lot(lot_id)
    assert tab.open_vial_button.isEnabled()
    dialog = tab.open_vial()
    assert isinstance(dialog, OpenVialDialog)
    assert dialog.lot.currentData() == lot_id
    assert "28 days after first puncture" in dialog.discard_by.text()
    with qtbot.waitSignal(tab.ctx.bus.changed):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    vial = tab.selected_vial()
    assert vial is not None and vial.lot_id == lot_id
    assert (vial.discard_by - vial.opened_at) == timedelta(days=28)
    row = tab.vials.row_of_id(vial.id)
    assert row is not None
    shown = cells(tab.vials, row)
    assert shown[VialsModel.COL_DISCARD_BY] == format_local_time(vial.discard_by)
    assert shown[VialsModel.COL_STATE] == "In use"
    assert shown[4] == "1 mL"
    assert f"discard by {format_local_time(vial.discard_by)}" in tab.note.text()
    assert lot_quantity(tab) == 2


def test_open_vial_is_only_offered_for_multi_dose_vials(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    with db.sessions.begin() as s:
        inv.create_product(
            s,
            staff.pharmacist,
            mdv(gtin=None, container=Container.AMPOULE, formulation=Formulation.HYDROXOCOBALAMIN),
        )
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    assert tab.selected_product() is not None
    assert not tab.open_vial_button.isEnabled()
    assert cells(tab.products, 0)[5] == "–"  # ampoules are never kept open


def test_a_lot_in_its_last_30_days_is_named_in_the_products_status(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int, receive: Receive
) -> None:
    receive(product_id, "LATER", 400, 60)
    receive(product_id, "SOON", 12, 1)
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    status = tab.products.index(0, ProductsModel.COL_STATUS)
    assert tab.products.data(status) == f"⚠ lot expires {(TODAY + timedelta(days=12)).isoformat()}"
    assert tab.products.data(status, Qt.ItemDataRole.ForegroundRole).color() == QColor(WARNING_AMBER)


def test_expired_lot_is_red_and_a_vial_past_discard_by_is_flagged(
    qtbot: QtBot,
    db: Database,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    product_id: int,
    receive: Receive,
) -> None:
    expired = receive(product_id, "OLD", -3, 2, received_days_ago=100)
    good = receive(product_id, "GOOD", 400, 4)
    soon = receive(product_id, "SOON", 45, 1)
    with db.sessions.begin() as s:
        old_vial = inv.open_vial(s, staff.nurse, lot_id=good, clock=fixed_clock(NOW - timedelta(days=30))).id
        inv.open_vial(s, staff.nurse, lot_id=good, clock=fixed_clock(NOW - timedelta(days=1)))
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    lots = tab.lots
    expired_row, soon_row = lots.row_of_id(expired), lots.row_of_id(soon)
    assert expired_row is not None and soon_row is not None
    expiry_cell = lots.index(expired_row, LotsModel.COL_EXPIRY)
    assert lots.data(expiry_cell, Qt.ItemDataRole.BackgroundRole).color() == ERROR_RED
    assert lots.data(expiry_cell, URGENCY_ROLE) == 0
    assert "expired 3 days ago" in cells(lots, expired_row)[LotsModel.COL_EXPIRES]
    soon_cell = lots.index(soon_row, LotsModel.COL_EXPIRY)
    assert lots.data(soon_cell, Qt.ItemDataRole.BackgroundRole).color() == BAND_COLOURS[60]
    good_row = lots.row_of_id(good)
    assert good_row is not None
    assert lots.data(lots.index(good_row, LotsModel.COL_EXPIRY), Qt.ItemDataRole.BackgroundRole) is None

    vials = tab.vials
    row = vials.row_of_id(old_vial)
    assert row is not None
    state = vials.index(row, VialsModel.COL_STATE)
    assert vials.data(state) == PAST_DISCARD_BY
    assert vials.data(state, Qt.ItemDataRole.ForegroundRole).color() == ERROR_RED
    assert vials.data(state, URGENCY_ROLE) is True
    other = 1 - row
    assert vials.data(vials.index(other, VialsModel.COL_STATE)) == "In use"
    # Only usable stock counts: 4 - 2 opened in GOOD, + 1 SOON; the expired lot's 2 do not.
    assert cells(tab.products, 0)[ProductsModel.COL_SEALED] == "3"
    assert cells(tab.products, 0)[5] == "1"  # the vial past discard-by is not usable either
    # The product's Status names the expired lot still in stock in words (a lot 45 days from expiry is
    # for the Lots table's colours; the Status speaks of the first 30 days only).
    status = cells(tab.products, 0)[ProductsModel.COL_STATUS]
    assert status.split("; ") == ["✕ 1 expired lot in stock", "▼ Below reorder level"], status

    # Four kinds of alert: the urgent two stay listed, the other two fold behind a button.
    banner = tab.banner
    assert (
        tab.alert_summary()
        == "Stock: 1 expired lot · 1 vial past discard-by · 1 expiring soon · 1 to reorder"
    )
    assert banner.property("level") == "urgent"
    assert banner.urgent.isVisible() and "OLD" in banner.urgent.text() and "vial" in banner.urgent.text()
    assert not banner.details.isVisible() and banner.toggle.text() == "Show 2 more kinds of alert"
    qtbot.mouseClick(banner.toggle, Qt.MouseButton.LeftButton)
    assert banner.details.isVisible() and "SOON" in banner.details.text()
    tab.reload()  # the choice is kept
    assert banner.details.isVisible()


def test_alert_banner_lists_a_lot_expiring_within_30_days(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int, receive: Receive
) -> None:
    receive(product_id, "SHORT20", 20, 10)
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    text = tab.banner.details_text()
    assert "Expiring within 30 days" in text and "SHORT20" in text and "in 20 days" in text
    assert tab.banner.details.isVisible()
    assert "1 lot(s) expiring within 90 days" in tab.banner.summary.text()
    assert tab.alert_summary() == "Stock: 1 expiring soon"
    assert tab.banner.property("level") == "warning"
    qtbot.mouseClick(tab.banner.toggle, Qt.MouseButton.LeftButton)
    assert not tab.banner.details.isVisible()


def test_alerts_follow_the_data_bus(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int, receive: Receive
) -> None:
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    assert tab.alert_summary() == "Stock: 1 to reorder"  # nothing in stock, reorder level 5
    receive(product_id, "L1", 400, 10)
    with qtbot.waitSignal(tab.alerts_changed) as summary:
        tab.ctx.bus.notify("stock")
    assert summary.args == ["Stock: no alerts"]
    assert tab.banner.property("level") == "ok"
    assert tab.lots.rowCount() == 1
    tab.ctx.bus.notify("patients")  # not ours: no reload needed, nothing breaks
    assert tab.lots.rowCount() == 1


# --- products --------------------------------------------------------------------------------------------


def test_a_nurse_trying_new_product_sees_the_services_refusal(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    qtbot.mouseClick(tab.new_product_button, Qt.MouseButton.LeftButton)
    dialog = tab.findChild(ProductDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.role_note.isVisible()
    qtbot.keyClicks(dialog.manufacturer, "American Regent")
    qtbot.keyClicks(dialog.volume_ml, "10")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.summary.isVisible()
    assert dialog.summary.text() == "A nurse may not edit formulary; ask a colleague whose role allows it."
    with db.sessions.begin() as s:
        assert inv.list_products(s, staff.nurse) == []


def test_pharmacist_adds_and_edits_a_product_with_messages_by_field(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    tab = make_tab(qtbot, make_ctx, staff.pharmacist, host)
    dialog = tab.new_product()
    assert isinstance(dialog, ProductDialog)
    assert not dialog.role_note.isVisible()
    dialog.formulation.setCurrentIndex(dialog.formulation.findData(Formulation.OTHER))
    dialog.volume_ml.setText("abc")
    dialog.gtin.setText("00305170031252")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.field_error("manufacturer") == "Enter the manufacturer (as on the pack)."
    assert "not a number" in dialog.field_error("volume_ml")
    assert "check digit" in dialog.field_error("gtin")
    assert "cyanide antidote" in dialog.field_error("formulation")
    dialog.formulation.setCurrentIndex(dialog.formulation.findData(Formulation.CYANOCOBALAMIN))
    dialog.manufacturer.setText("American Regent")
    dialog.volume_ml.setText("30")
    dialog.gtin.setText(GTIN)
    dialog.container.setCurrentIndex(dialog.container.findData(Container.MULTI_DOSE_VIAL))
    dialog.reorder_level.setValue(4)
    assert dialog.beyond_use_days.isEnabled() and dialog.beyond_use_days.value() == 28
    label = "Cyanocobalamin 1,000 mcg/mL, 30 mL multi-dose vial (American Regent)"
    assert dialog.label_preview.text() == label
    with qtbot.waitSignal(tab.ctx.bus.changed):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    product = tab.selected_product()
    assert product is not None and product.data.volume_ml == 30 and product.data.beyond_use_days == 28

    edit = tab.edit_product()
    assert isinstance(edit, ProductDialog)
    assert edit.gtin.text() == GTIN and edit.volume_ml.text() == "30"
    edit.container.setCurrentIndex(edit.container.findData(Container.SINGLE_DOSE_VIAL))
    assert not edit.beyond_use_days.isEnabled()
    edit.change_reason.setText("listing says single-dose")
    with qtbot.waitSignal(tab.ctx.bus.changed):
        qtbot.mouseClick(edit.save_button, Qt.MouseButton.LeftButton)
    product = tab.selected_product()
    assert product is not None
    assert product.data.container == Container.SINGLE_DOSE_VIAL and product.data.beyond_use_days is None


def test_not_for_deficiency_products_are_greyed_with_that_text(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    with db.sessions.begin() as s:
        inv.create_product(
            s,
            staff.pharmacist,
            mdv(
                formulation=Formulation.OTHER,
                brand="Cyanokit",
                gtin=None,
                strength_mcg_per_ml=Decimal(25_000_000),
                volume_ml=Decimal(200),
                container=Container.SINGLE_DOSE_VIAL,
                for_deficiency=False,
                reorder_level=0,
            ),
        )
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    status = tab.products.index(0, ProductsModel.COL_STATUS)
    assert tab.products.data(status) == NOT_FOR_DEFICIENCY
    brush = tab.products.data(tab.products.index(0, 0), Qt.ItemDataRole.ForegroundRole)
    assert brush is not None and brush.color().name() == "#7a7a7a"


def test_seed_formulary_is_offered_only_while_the_formulary_is_empty(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    nurse_tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    assert nurse_tab.seed_button.isVisible() and nurse_tab.empty_hint.isVisible()
    tab = make_tab(qtbot, make_ctx, staff.pharmacist, host)
    with qtbot.waitSignal(tab.ctx.bus.changed):
        qtbot.mouseClick(tab.seed_button, Qt.MouseButton.LeftButton)
    assert tab.products.rowCount() == len(formulary())
    assert not tab.seed_button.isVisible() and not tab.empty_hint.isVisible()
    labels = [cells(tab.products, r)[0] for r in range(tab.products.rowCount())]
    assert all("µg" not in label for label in labels)
    assert "Cyanocobalamin 1,000 mcg/mL, 30 mL multi-dose vial (Vitruvias Therapeutics)" in labels


# --- waste, count, history ------------------------------------------------------------------------------


def test_waste_and_adjust_count_through_their_dialogs(
    qtbot: QtBot,
    db: Database,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    product_id: int,
    receive: Receive,
) -> None:
    lot_id = receive(product_id, "L5", 400, 5)
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    assert tab.select_lot(lot_id)
    waste = tab.waste()
    assert isinstance(waste, WasteDialog)
    waste.quantity.setValue(2)
    qtbot.mouseClick(waste.save_button, Qt.MouseButton.LeftButton)
    assert waste.field_error("reason") == "Choose why the containers are wasted."
    waste.reason.setCurrentIndex(waste.reason.findData(WasteReason.OTHER))
    qtbot.mouseClick(waste.save_button, Qt.MouseButton.LeftButton)
    assert waste.field_error("note") == "Say why the containers are wasted."  # the service's rule
    waste.note.setText("fridge failure")
    with qtbot.waitSignal(tab.ctx.bus.changed):
        qtbot.mouseClick(waste.save_button, Qt.MouseButton.LeftButton)
    assert lot_quantity(tab) == 3

    adjust = tab.adjust_count()
    assert isinstance(adjust, AdjustCountDialog)
    assert adjust.expected == 3 and "3" in adjust.expected_label.text()
    receive(product_id, "L5", 400, 1)  # another workstation receives into the same lot meanwhile
    qtbot.keyClicks(adjust.counted, "2")
    adjust.reason.setText("monthly count")
    qtbot.mouseClick(adjust.save_button, Qt.MouseButton.LeftButton)
    assert adjust.isVisible()
    assert "changed while you were counting" in adjust.summary.text()
    adjust.reject()
    tab.reload()
    again = tab.adjust_count()
    assert isinstance(again, AdjustCountDialog) and again.expected == 4
    qtbot.keyClicks(again.counted, "2")
    again.reason.setText("monthly count")
    with qtbot.waitSignal(tab.ctx.bus.changed):
        qtbot.mouseClick(again.save_button, Qt.MouseButton.LeftButton)
    assert lot_quantity(tab) == 2
    assert "−2 container(s)" in tab.note.text()

    history = tab.lot_history()
    assert isinstance(history, LotHistoryDialog)
    kinds = [history.model.text(r, 1) for r in range(history.model.rowCount())]
    assert kinds == ["Count adjusted", "Received", "Wasted", "Received"]
    wasted = kinds.index("Wasted")
    assert history.model.text(wasted, 2) == "−2"
    assert history.model.text(wasted, 6) == "Other: fridge failure"


def test_discard_a_vial_past_discard_by(
    qtbot: QtBot,
    db: Database,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    product_id: int,
    receive: Receive,
) -> None:
    lot_id = receive(product_id, "L1", 400, 2)
    with db.sessions.begin() as s:
        vial = inv.open_vial(s, staff.nurse, lot_id=lot_id, clock=fixed_clock(NOW - timedelta(days=29)))
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    assert tab.select_vial(vial.id) and tab.discard_button.isEnabled()
    dialog = tab.discard_vial()
    assert dialog is not None
    assert "PAST DISCARD-BY" in dialog.heading.text()
    assert dialog.reason.currentData() == WasteReason.PAST_DISCARD_BY
    with qtbot.waitSignal(tab.ctx.bus.changed):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert tab.vials.rowCount() == 0
    assert tab.alert_summary() == "Stock: 1 to reorder"  # and no vial past discard-by any more


# --- models ---------------------------------------------------------------------------------------------


def test_table_models_pass_qt_model_checks(
    qtbot: QtBot,
    qtmodeltester: ModelTester,
    db: Database,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    product_id: int,
    receive: Receive,
) -> None:
    lot_id = receive(product_id, "L1", 20, 4)
    receive(product_id, "L0", -1, 1, received_days_ago=30)
    with db.sessions.begin() as s:
        inv.open_vial(s, staff.nurse, lot_id=lot_id, clock=fixed_clock(NOW - timedelta(days=30)))
        vial = inv.open_vial(s, staff.nurse, lot_id=lot_id)
        inv.draw_dose(s, staff.nurse, vial_id=vial.id, volume_ml=Decimal("0.5"))
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    with db.sessions.begin() as s:
        history = inv.lot_history(s, staff.nurse, lot_id)
    movements = MovementsModel()
    movements.set_rows(history)
    models = (tab.products, tab.lots, tab.vials, movements)
    assert [m.rowCount() for m in models] == [1, 2, 2, 4]
    for model in models:
        qtmodeltester.check(model, force_py=True)
        for column in range(model.columnCount()):
            model.sort(column, Qt.SortOrder.DescendingOrder)
        qtmodeltester.check(model, force_py=True)
        assert model.data(model.index(0, 0).parent()) is None
        assert model.rowCount(model.index(0, 0)) == 0
    volumes = {movements.text(r, 3) for r in range(movements.rowCount())}
    assert volumes == {"", "+1 mL", "−0.5 mL"}  # received: no volume; two opened; one dose drawn


def test_sorting_keeps_the_selection(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int, receive: Receive
) -> None:
    receive(product_id, "B-LATE", 300, 9)
    early = receive(product_id, "A-EARLY", 100, 1)
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    assert [r.lot_number for r in tab.lots.rows()] == ["A-EARLY", "B-LATE"]  # the service's order: expiry
    tab.select_lot(early)
    tab.lots_table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # by quantity
    assert [r.lot_number for r in tab.lots.rows()] == ["B-LATE", "A-EARLY"]
    selected = tab.selected_lot()
    assert selected is not None and selected.id == early


# --- scanner set-up test --------------------------------------------------------------------------------


def test_scanner_test_dialog_shows_each_element_and_the_match(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, product_id: int, receive: Receive
) -> None:
    lot_id = receive(product_id, "LOT42", 400, 6)
    dialog = ScannerTestDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    expiry = (TODAY + timedelta(days=400)).strftime("%y%m%d")
    code = "]d201" + GTIN + "17" + expiry + "10LOT42" + GS + "21SER1" + GS + "240X-1"
    scanner_types(qtbot, dialog.scan, code)
    assert dialog.isVisible()
    shown = dialog.field_text()
    assert shown["GTIN (01)"] == GTIN
    assert shown["NDC digits"] == "0517003125"
    assert shown["Lot (10)"] == "LOT42" and shown["Serial (21)"] == "SER1"
    assert shown["Other AIs"] == "(240) X-1"
    assert "Cyanocobalamin 1,000 mcg/mL, 1 mL multi-dose vial (American Regent)" in dialog.match.text()
    assert "6 sealed on hand" in dialog.match.text()
    assert dialog.result_ is not None and dialog.result_.lot is not None and dialog.result_.lot.id == lot_id
    assert "<GS>" in dialog.received.text()
    assert dialog.received.text().startswith(f"Received {len(code)} characters")

    scanner_types(qtbot, dialog.scan, "0100305170031252")
    assert "check digit 2, expected 1" in dialog.error.text()
    assert dialog.field_text()["GTIN (01)"] == "–"


# --- in the main window ---------------------------------------------------------------------------------


def test_main_window_has_the_inventory_tab_its_alerts_and_the_scanner_test(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, product_id: int, receive: Receive
) -> None:
    from b12desk.ui.main_window import MainWindow

    receive(product_id, "SHORT", 10, 3)  # reorder level 5
    window = MainWindow(make_ctx(staff.nurse))
    qtbot.addWidget(window)
    window.load()
    window.show()
    assert window.tabs.tabText(1) == "Inventory" and window.tabs.widget(1) is window.inventory
    assert window.stock_label.text() == "Stock: 1 expiring soon · 1 to reorder"
    receive(product_id, "MORE", 400, 5)
    window.ctx.bus.notify("stock")
    assert window.stock_label.text() == "Stock: 1 expiring soon"
    tools = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}["Tools"]
    assert [a.text().replace("&", "") for a in tools.actions()] == [
        "Scanner set-up test…",
        "Audit trail…",
        "Users and roles…",
    ]
    window.scanner_test_action.trigger()
    dialog = window.findChild(ScannerTestDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.reject()
