"""Formulary, receiving, opening, drawing, wasting, counting, FEFO choice and alerts, on both engines."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from b12desk.clock import fixed_clock
from b12desk.data.models import AuditEvent, Lot, StockMovement, Vial
from b12desk.domain.enums import Container, Formulation, MovementKind, VialStatus
from b12desk.domain.stock import WasteReason
from b12desk.services import inventory as inv
from b12desk.services.common import PermissionDenied, ValidationFailed
from tests.clinic_time import clinic_now, clinic_today
from tests.conftest import Staffing

TODAY = clinic_today()
NOW = clinic_now()  # in the clinic's zone (the computer's, as no zone is set)
GTIN_MDV = "00305170031251"


def mdv(**kw: object) -> inv.ProductInput:
    values: dict[str, object] = {
        "formulation": Formulation.CYANOCOBALAMIN,
        "manufacturer": "American Regent",
        "strength_mcg_per_ml": Decimal(1000),
        "container": Container.MULTI_DOSE_VIAL,
        "volume_ml": Decimal(10),
        "preservative": "benzyl alcohol 1.5%",
        "gtin": GTIN_MDV,
        "reorder_level": 5,
    }
    values.update(kw)
    return inv.ProductInput(**values)  # type: ignore[arg-type]


def ampoule(**kw: object) -> inv.ProductInput:
    values: dict[str, object] = {
        "formulation": Formulation.HYDROXOCOBALAMIN,
        "manufacturer": "Advanz",
        "brand": "Cobalin-H",
        "strength_mcg_per_ml": Decimal(1000),
        "container": Container.AMPOULE,
        "volume_ml": Decimal(1),
    }
    values.update(kw)
    return inv.ProductInput(**values)  # type: ignore[arg-type]


def ledger_matches(session: Session) -> None:
    for lot in session.scalars(select(Lot)):
        session.refresh(lot)
        total = session.scalar(
            select(func.coalesce(func.sum(StockMovement.containers), 0)).where(StockMovement.lot_id == lot.id)
        )
        assert lot.quantity_on_hand == total >= 0


def test_only_pharmacists_and_admins_edit_the_formulary(session: Session, staff: Staffing) -> None:
    with pytest.raises(PermissionDenied):
        inv.create_product(session, staff.nurse, mdv())
    row = inv.create_product(session, staff.pharmacist, mdv())
    assert row.label == "Cyanocobalamin 1,000 mcg/mL, 10 mL multi-dose vial (American Regent)"
    assert row.data.beyond_use_days == 28  # USP <797> default for a multi-dose vial


def test_cyanide_antidote_is_refused_for_deficiency(session: Session, staff: Staffing) -> None:
    cyanokit = ampoule(
        formulation=Formulation.OTHER,
        brand="Cyanokit",
        strength_mcg_per_ml=Decimal(25_000_000),
        volume_ml=Decimal(200),
        container=Container.SINGLE_DOSE_VIAL,
    )
    with pytest.raises(ValidationFailed) as err:
        inv.create_product(session, staff.pharmacist, cyanokit)
    assert "cyanide antidote" in err.value.errors["formulation"]
    row = inv.create_product(session, staff.pharmacist, replace(cyanokit, for_deficiency=False))
    assert row.id not in {p.id for p in inv.list_products(session, staff.nurse, deficiency_only=True)}


def test_bad_gtin_and_single_use_beyond_use_days(session: Session, staff: Staffing) -> None:
    with pytest.raises(ValidationFailed) as err:
        inv.create_product(session, staff.pharmacist, mdv(gtin="00305170031252"))
    assert "check digit" in err.value.errors["gtin"]
    row = inv.create_product(session, staff.pharmacist, ampoule(beyond_use_days=28))
    assert row.data.beyond_use_days is None  # an opened ampoule is never stored


def test_receive_open_draw_and_discard_keep_the_ledger(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, mdv())
    lot = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="L1",
        expiry=TODAY + timedelta(days=400),
        quantity=3,
        supplier="Wholesaler",
        clock=fixed_clock(NOW),
    )
    assert lot.quantity == 3
    vial = inv.open_vial(session, staff.nurse, lot_id=lot.id, clock=fixed_clock(NOW))
    assert vial.discard_by == NOW + timedelta(days=28)
    assert vial.remaining_ml == 10
    inv.draw_dose(session, staff.nurse, vial_id=vial.id, volume_ml=Decimal("1"), clock=fixed_clock(NOW))
    remaining = session.get(Vial, vial.id)
    assert remaining is not None and remaining.remaining_ml == 9
    with pytest.raises(inv.StockUnavailable, match=r"holds 9 mL; 9\.5 mL was asked for"):
        inv.draw_dose(session, staff.nurse, vial_id=vial.id, volume_ml=Decimal("9.5"), clock=fixed_clock(NOW))
    inv.discard_vial(
        session, staff.nurse, vial_id=vial.id, reason=WasteReason.CONTAMINATED, clock=fixed_clock(NOW)
    )
    with pytest.raises(inv.StockUnavailable, match="discarded"):
        inv.draw_dose(session, staff.nurse, vial_id=vial.id, volume_ml=Decimal("1"), clock=fixed_clock(NOW))
    kinds = [m.kind for m in inv.lot_history(session, staff.nurse, lot.id)]
    assert kinds == [MovementKind.WASTED, MovementKind.DOSE_DRAWN, MovementKind.OPENED, MovementKind.RECEIVED]
    ledger_matches(session)


def test_discard_by_never_after_lot_expiry(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, mdv())
    lot = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="SHORT",
        expiry=TODAY + timedelta(days=5),
        quantity=1,
    )
    vial = inv.open_vial(session, staff.nurse, lot_id=lot.id, clock=fixed_clock(NOW))
    assert vial.discard_by.date() == TODAY + timedelta(days=5)


def test_vial_past_discard_by_cannot_be_drawn(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, mdv())
    lot = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="L2",
        expiry=TODAY + timedelta(days=400),
        quantity=1,
    )
    opened = NOW - timedelta(days=29)
    vial = inv.open_vial(session, staff.nurse, lot_id=lot.id, clock=fixed_clock(opened))
    with pytest.raises(inv.StockUnavailable, match="discard-by"):
        inv.draw_dose(session, staff.nurse, vial_id=vial.id, volume_ml=Decimal(1), clock=fixed_clock(NOW))
    alerts = inv.alerts(session, staff.nurse, clock=fixed_clock(NOW))
    assert [v.id for v in alerts.vials_past_discard_by] == [vial.id]


def test_empty_vial_is_closed(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, mdv(volume_ml=Decimal(1), gtin=None))
    lot = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="L3",
        expiry=TODAY + timedelta(days=100),
        quantity=1,
    )
    vial = inv.open_vial(session, staff.nurse, lot_id=lot.id, clock=fixed_clock(NOW))
    inv.draw_dose(session, staff.nurse, vial_id=vial.id, volume_ml=Decimal(1), clock=fixed_clock(NOW))
    closed = session.get(Vial, vial.id)
    assert closed is not None and closed.status == VialStatus.DISCARDED


def test_expired_stock_cannot_be_received_opened_or_drawn(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, ampoule())
    with pytest.raises(ValidationFailed, match="do not receive expired stock"):
        inv.receive_stock(
            session,
            staff.nurse,
            product_id=product.id,
            lot_number="OLD",
            expiry=TODAY - timedelta(days=1),
            quantity=1,
        )
    lot = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="A1",
        expiry=TODAY + timedelta(days=2),
        quantity=2,
    )
    later = NOW + timedelta(days=5)
    with pytest.raises(inv.StockUnavailable, match="expired"):
        inv.draw_dose(session, staff.nurse, lot_id=lot.id, volume_ml=Decimal(1), clock=fixed_clock(later))
    assert (
        inv.suggest_stock(
            session, staff.nurse, product_id=product.id, volume_ml=Decimal(1), clock=fixed_clock(later)
        )
        is None
    )
    inv.waste_containers(session, staff.nurse, lot_id=lot.id, quantity=2, reason=WasteReason.EXPIRED)
    ledger_matches(session)


def test_fefo_suggests_the_open_vial_first_then_the_earliest_lot(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, mdv())
    late = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="LATE",
        expiry=TODAY + timedelta(days=300),
        quantity=2,
    )
    early = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="EARLY",
        expiry=TODAY + timedelta(days=100),
        quantity=2,
    )
    choice = inv.suggest_stock(
        session, staff.nurse, product_id=product.id, volume_ml=Decimal(1), clock=fixed_clock(NOW)
    )
    assert choice is not None and (choice.vial_id, choice.lot_id) == (None, early.id)
    vial = inv.open_vial(session, staff.nurse, lot_id=late.id, clock=fixed_clock(NOW))
    choice = inv.suggest_stock(
        session, staff.nurse, product_id=product.id, volume_ml=Decimal(1), clock=fixed_clock(NOW)
    )
    assert choice is not None and choice.vial_id == vial.id


def test_adjust_and_return_need_reasons_and_never_go_negative(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, ampoule())
    lot = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="C1",
        expiry=TODAY + timedelta(days=200),
        quantity=5,
    )
    with pytest.raises(ValidationFailed):
        inv.adjust_count(session, staff.nurse, lot_id=lot.id, counted=4, expected=5, reason="")
    inv.adjust_count(session, staff.nurse, lot_id=lot.id, counted=5, expected=5, reason="weekly count")
    confirmed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "count_confirmed", AuditEvent.entity_id == str(lot.id))
    ).one()  # no movement, but the count itself is on record
    assert confirmed.staff_id == staff.nurse.id and confirmed.reason == "weekly count"
    assert (
        inv.adjust_count(
            session, staff.nurse, lot_id=lot.id, counted=4, expected=5, reason="monthly count"
        ).quantity
        == 4
    )
    with pytest.raises(inv.StockUnavailable, match="holds 4"):
        inv.return_to_supplier(session, staff.nurse, lot_id=lot.id, quantity=5, note="recall R-17")
    assert (
        inv.return_to_supplier(session, staff.nurse, lot_id=lot.id, quantity=4, note="recall R-17").quantity
        == 0
    )
    ledger_matches(session)


def test_alerts_bands_and_reorder_count_only_usable_stock(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, ampoule(reorder_level=10))
    inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="S30",
        expiry=TODAY + timedelta(days=20),
        quantity=4,
    )
    inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="S90",
        expiry=TODAY + timedelta(days=80),
        quantity=4,
    )
    a = inv.alerts(session, staff.nurse)
    assert [lot.lot_number for lot in a.expiring[30]] == ["S30"]
    assert [lot.lot_number for lot in a.expiring[90]] == ["S90"]
    assert [p.id for p in a.below_reorder] == [product.id]
    later = inv.alerts(session, staff.nurse, clock=fixed_clock(NOW + timedelta(days=30)))
    assert [lot.lot_number for lot in later.expiring[0]] == ["S30"]
    assert (
        inv.list_products(session, staff.nurse, clock=fixed_clock(NOW + timedelta(days=30)))[0].sealed_usable
        == 4
    )


def test_scan_lookup_finds_product_and_lot(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, mdv())
    inv.receive_stock(
        session, staff.nurse, product_id=product.id, lot_number="LOT42", expiry=date(2099, 3, 31), quantity=1
    )
    result = inv.lookup_scan(session, staff.nurse, f"]d201{GTIN_MDV}17990300" + "10LOT42")
    assert result.product is not None and result.product.id == product.id
    assert result.lot is not None and result.lot.lot_number == "LOT42"
    with pytest.raises(ValidationFailed, match="check digit"):
        inv.lookup_scan(session, staff.nurse, "0100305170031252")


def test_unknown_gtin_is_linked_by_a_pharmacist_only(session: Session, staff: Staffing) -> None:
    product = inv.create_product(session, staff.pharmacist, ampoule())
    with pytest.raises(PermissionDenied):
        inv.link_gtin(session, staff.nurse, product.id, "05012345678900")
    assert (
        inv.link_gtin(session, staff.pharmacist, product.id, "05012345678900").data.gtin == "05012345678900"
    )


UNIT_GTIN = "00363323044411"  # a vial's own code, derived from its unit NDC 63323-044-41


def test_a_scan_of_the_vial_finds_the_product_as_a_scan_of_the_pack_does(
    session: Session, staff: Staffing
) -> None:
    product = inv.create_product(
        session, staff.pharmacist, mdv(unit_gtin=UNIT_GTIN, unit_ndc=" 63323-044-41 ")
    )
    assert (product.data.unit_gtin, product.data.unit_ndc) == (UNIT_GTIN, "63323-044-41")
    inv.receive_stock(
        session, staff.nurse, product_id=product.id, lot_number="LOT7", expiry=date(2099, 3, 31), quantity=1
    )
    for code in (GTIN_MDV, UNIT_GTIN):
        result = inv.lookup_scan(session, staff.nurse, f"]d201{code}17990300" + "10LOT7")
        assert result.product is not None and result.product.id == product.id, code
        assert result.lot is not None and result.lot.lot_number == "LOT7"


def test_a_code_names_one_product_whether_on_a_pack_or_on_a_vial(session: Session, staff: Staffing) -> None:
    inv.create_product(session, staff.pharmacist, mdv(unit_gtin=UNIT_GTIN))
    with pytest.raises(ValidationFailed) as taken:  # another product's pack code as this one's vial code
        inv.create_product(session, staff.pharmacist, ampoule(unit_gtin=GTIN_MDV))
    assert taken.value.errors["unit_gtin"] == f"GTIN {GTIN_MDV} already belongs to another product."
    with pytest.raises(ValidationFailed) as taken:  # and the other way round
        inv.create_product(session, staff.pharmacist, ampoule(gtin=UNIT_GTIN))
    assert "already belongs to another product" in taken.value.errors["gtin"]
    with pytest.raises(ValidationFailed) as same:
        inv.create_product(
            session, staff.pharmacist, ampoule(gtin="00290000000029", unit_gtin="00290000000029")
        )
    assert "pack's code" in same.value.errors["unit_gtin"]
    with pytest.raises(ValidationFailed) as bad:
        inv.create_product(session, staff.pharmacist, ampoule(unit_gtin="00363323044412"))
    assert "check digit" in bad.value.errors["unit_gtin"]
