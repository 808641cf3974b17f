"""Grab the Inventory screens to PNG files in this folder, from a temporary clinic with realistic stock.

Run from the repository root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_inventory_screenshots.py
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from _shots import prepare, save, settle

WORK = prepare("b12desk-inventory-shots-")

from PySide6.QtCore import QEvent, Qt  # noqa: E402 - after the environment is set
from PySide6.QtGui import QKeyEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from b12desk.clock import fixed_clock, system_clock  # noqa: E402
from b12desk.data import migrate  # noqa: E402
from b12desk.data.db import Database, open_database  # noqa: E402
from b12desk.data.reference import formulary  # noqa: E402
from b12desk.domain.enums import Role  # noqa: E402
from b12desk.domain.stock import WasteReason  # noqa: E402
from b12desk.services import auth, clinic  # noqa: E402
from b12desk.services import inventory as inv  # noqa: E402
from b12desk.services.common import Actor  # noqa: E402
from b12desk.ui import ops, style  # noqa: E402
from b12desk.ui.context import AppContext, DataBus  # noqa: E402
from b12desk.ui.inventory import InventoryTab  # noqa: E402
from b12desk.ui.inventory_dialogs import LotHistoryDialog, ProductDialog, ReceiveDialog  # noqa: E402
from b12desk.ui.scanner_test import ScannerTestDialog  # noqa: E402

# Every database call of the GUI runs on the database worker; make each one return with its result on the
# screen (as the UI tests do), so that a screen is filled in before it is grabbed.
ops.WAIT_FOR_RESULTS = True

PASSWORD = "correct horse battery staple"
TODAY = system_clock().today()
NOW = system_clock().now()


def build_database() -> tuple[Database, Actor, Actor]:
    db = open_database(f"sqlite:///{WORK / 'inventory.sqlite3'}")
    migrate.upgrade(db, backup_dir=None)
    with db.sessions.begin() as s:
        admin = auth.create_first_admin(s, username="admin", full_name="Ada Admin", password=PASSWORD)
        pharmacist = auth.create_user(
            s, admin, username="pmorgan", full_name="Priya Morgan", role=Role.PHARMACIST, password=PASSWORD
        )
        nurse = auth.create_user(
            s, admin, username="nokafor", full_name="Nkechi Okafor", role=Role.NURSE, password=PASSWORD
        )
    with db.sessions.begin() as s:
        inv.seed_formulary(s, pharmacist, [e.product_values() for e in formulary()])
    with db.sessions.begin() as s:
        ids = {p.data.gtin: p.id for p in inv.list_products(s, pharmacist)}

        def receive(gtin: str, lot: str, days: int, quantity: int, supplier: str, ago: int = 10) -> int:
            received = TODAY - timedelta(days=ago)
            return inv.receive_stock(
                s,
                nurse,
                product_id=ids[gtin],
                lot_number=lot,
                expiry=TODAY + timedelta(days=days),
                quantity=quantity,
                supplier=supplier,
                received_on=received,
                clock=fixed_clock(datetime.combine(received, datetime.min.time(), UTC)),  # still in date then
            ).id

        receive("00305170031251", "AR2405", 20, 12, "McKesson", ago=150)
        receive("00305170031251", "AR2511", 420, 40, "McKesson", ago=6)
        receive("00363323044442", "FK3301", 510, 80, "Cardinal Health", ago=12)
        hikma = receive("00301439620105", "H7781", 75, 8, "Cardinal Health", ago=40)
        receive("00301439620105", "H6620", -9, 2, "Cardinal Health", ago=220)
        receive("00368083449254", "GL0423", 52, 3, "McKesson", ago=90)
        vitruvias = receive("00369680121307", "VT118", 300, 5, "Henry Schein", ago=20)
        receive("00290000000012", "CH2291", 610, 60, "Alliance Healthcare", ago=8)
        receive("00290000000029", "NC1187", 35, 20, "Alliance Healthcare", ago=60)
        receive("00350633310114", "CK0912", 700, 2, "SERB direct", ago=100)

        old = inv.open_vial(s, nurse, lot_id=hikma, clock=fixed_clock(NOW - timedelta(days=30)))
        for day in (29, 22, 15):
            inv.draw_dose(
                s, nurse, vial_id=old.id, volume_ml=Decimal(1), clock=fixed_clock(NOW - timedelta(days=day))
            )
        fresh = inv.open_vial(s, nurse, lot_id=hikma, clock=fixed_clock(NOW - timedelta(days=3, hours=2)))
        inv.draw_dose(
            s, nurse, vial_id=fresh.id, volume_ml=Decimal(1), clock=fixed_clock(NOW - timedelta(days=2))
        )
        inv.waste_containers(
            s, nurse, lot_id=hikma, quantity=1, reason=WasteReason.DROPPED_OR_BROKEN, note=""
        )
        inv.adjust_count(s, pharmacist, lot_id=hikma, counted=4, expected=5, reason="monthly count")
        big = inv.open_vial(s, nurse, lot_id=vitruvias, clock=fixed_clock(NOW - timedelta(days=5)))
        for day in (5, 4, 2, 1):
            inv.draw_dose(
                s, nurse, vial_id=big.id, volume_ml=Decimal(1), clock=fixed_clock(NOW - timedelta(days=day))
            )
    return db, pharmacist, nurse


def type_scan(field: QWidget, code: str) -> None:
    """Type as a keyboard-wedge scanner does: one key event per character, GS as its raw character."""
    for ch in code:
        QApplication.sendEvent(field, QKeyEvent(QEvent.Type.KeyPress, 0, Qt.KeyboardModifier.NoModifier, ch))
    QApplication.sendEvent(
        field, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier, "\r")
    )


def main() -> int:
    app = QApplication(["b12desk"])
    app.setApplicationName("b12desk")
    style.apply(app)
    db, pharmacist, _nurse = build_database()
    with db.sessions() as session:  # the clinic's clock, as the sign-in reads it
        clock = clinic.clinic_clock(session)
    ctx = AppContext(db=db, actor=pharmacist, demo=False, bus=DataBus(), clock=clock)

    tab = InventoryTab(ctx)
    tab.resize(1280, 800)
    tab.show()
    tab.reload()
    settle()  # the products, then the first product's lots and vials
    tab.select_product(next(p.id for p in tab.products.rows() if p.data.gtin == "00301439620105"))
    settle()  # the chosen product's lots and vials
    tab.select_lot(next(r.id for r in tab.lots.rows() if r.lot_number == "H7781"))
    tab.select_vial(tab.vials.rows()[-1].id)  # the one in use: the selection would hide the other's red
    tab.banner.toggle.click()  # every alert line; the main window shot below shows them folded
    save(tab, "inventory_tab")

    receive = ReceiveDialog(ctx, parent=tab)
    receive.show()
    expiry = (TODAY + timedelta(days=540)).strftime("%y%m00")
    type_scan(receive.scan, f"]d20100305170031251{'17' + expiry}10AR2609\x1d21SN7Q2K4M9")
    save(receive, "inventory_receive_scan")
    receive.close()

    bad = ReceiveDialog(ctx, parent=tab)
    bad.show()
    type_scan(bad.scan, "]d2010030517003125217270300" + "10AR2609\x1d21SN7Q2K4M9")  # last digit wrong
    save(bad, "inventory_receive_bad_scan")
    bad.close()

    product = next(p for p in tab.products.rows() if p.data.gtin == "00301439620105")
    editor = ProductDialog(ctx, product=product, parent=tab)
    editor.show()
    save(editor, "inventory_product")
    editor.close()

    tab.select_product(product.id)
    settle()
    lot = next(r for r in tab.lots.rows() if r.lot_number == "H7781")
    history = LotHistoryDialog(ctx, product, lot, parent=tab)
    history.show()
    save(history, "inventory_history")
    history.close()

    scanner = ScannerTestDialog(ctx, parent=tab)
    scanner.show()
    lot_expiry = next(r for r in tab.lots.rows() if r.lot_number == "H7781").expiry.strftime("%y%m%d")
    type_scan(scanner.scan, f"]d20100301439620105{'17' + lot_expiry}10H7781\x1d21SN00417\x1d240HK-10ML")
    save(scanner, "scanner_test")
    scanner.close()

    tab.close()

    from b12desk.ui.main_window import MainWindow

    window = MainWindow(ctx)
    window.resize(1200, 700)  # the main window's default size
    window.load()
    window.tabs.setCurrentWidget(window.inventory)
    window.show()
    save(window, "inventory_main_window")
    window.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
