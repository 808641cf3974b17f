"""Formulary and vial inventory: products, receiving, opening, drawing, wasting, counting, returning.

Every change of stock is a movement row written in the same transaction as a conditional update of the
stock figure it changes, so on-hand figures equal the ledger and can never go below zero, also when two
workstations draw from the same vial or lot at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from b12desk.data.audit import append_event, changed_values
from b12desk.data.models import Lot, Product, Staff, StockMovement, Vial
from b12desk.data.types import utcnow
from b12desk.domain.enums import Container, Formulation, MovementKind, VialStatus
from b12desk.domain.gs1 import Gs1Data, Gs1Error, parse_gs1, valid_gtin
from b12desk.domain.permissions import Permission
from b12desk.domain.stock import (
    DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS,
    DEFICIENCY_FORMULATIONS,
    EXPIRY_ALERT_DAYS,
    LotOption,
    OpenVialOption,
    StockChoice,
    WasteReason,
    choose_stock,
    discard_by,
    end_of_day,
    expiry_band,
    is_multi_use,
)
from b12desk.domain.units import format_ml, format_strength
from b12desk.services.common import Actor, Conflict, NotFound, ServiceError, ValidationFailed, require


class StockUnavailable(ServiceError):
    """The stock asked for is not there (any more): nothing was changed."""


# --- plain rows for views ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductInput:
    formulation: Formulation
    manufacturer: str
    strength_mcg_per_ml: Decimal
    container: Container
    volume_ml: Decimal
    brand: str = ""
    preservative: str = ""
    gtin: str | None = None
    ndc: str | None = None
    storage_note: str = ""
    beyond_use_days: int | None = None
    reorder_level: int = 0
    for_deficiency: bool = True
    source: str = ""


@dataclass(frozen=True, slots=True)
class ProductRow:
    id: int
    version_id: int
    data: ProductInput
    active: bool
    label: str  # "Hydroxocobalamin 1,000 mcg/mL, 1 mL ampoule (Cobalin-H)"
    sealed_usable: int  # sealed containers in unexpired lots
    open_vials: int
    open_ml: Decimal
    below_reorder: bool


@dataclass(frozen=True, slots=True)
class LotRow:
    id: int
    product_id: int
    lot_number: str
    expiry: date
    supplier: str
    received_on: date
    quantity: int
    band: int | None  # 0 expired, 30/60/90 expiring within, None later


@dataclass(frozen=True, slots=True)
class VialRow:
    id: int
    lot_id: int
    lot_number: str
    product_id: int
    opened_at: datetime
    opened_by: str
    discard_by: datetime
    remaining_ml: Decimal
    status: VialStatus
    past_discard_by: bool


@dataclass(frozen=True, slots=True)
class MovementRow:
    id: int
    at: datetime
    kind: MovementKind
    containers: int
    volume_ml: Decimal
    vial_id: int | None
    waste_reason: WasteReason | None
    reason: str
    who: str


@dataclass(frozen=True, slots=True)
class Alerts:
    expiring: dict[int, list[LotRow]]  # band (0 = expired) -> lots holding stock
    vials_past_discard_by: list[VialRow]
    below_reorder: list[ProductRow]

    @property
    def count(self) -> int:
        return (
            sum(len(v) for v in self.expiring.values())
            + len(self.vials_past_discard_by)
            + len(self.below_reorder)
        )

    def summary(self) -> str:
        parts = []
        if self.expiring.get(0):
            parts.append(f"{len(self.expiring[0])} expired lot(s) in stock")
        soon = sum(len(v) for k, v in self.expiring.items() if k)
        if soon:
            parts.append(f"{soon} lot(s) expiring within {max(EXPIRY_ALERT_DAYS)} days")
        if self.vials_past_discard_by:
            parts.append(f"{len(self.vials_past_discard_by)} open vial(s) past discard-by")
        if self.below_reorder:
            parts.append(f"{len(self.below_reorder)} product(s) below reorder level")
        return "; ".join(parts) or "Stock: no alerts"


@dataclass(frozen=True, slots=True)
class ScanResult:
    data: Gs1Data
    product: ProductRow | None
    lot: LotRow | None


# --- products ------------------------------------------------------------------------------------------


def product_label(p: ProductInput) -> str:
    container = p.container.value.replace("_", "-").replace("-dose-", "-dose ")
    text = (
        f"{p.formulation.value.capitalize()} {format_strength(p.strength_mcg_per_ml)}, "
        f"{format_ml(p.volume_ml)} {container}"
    )
    return f"{text} ({p.brand or p.manufacturer})"


def _product_input(p: Product) -> ProductInput:
    return ProductInput(
        formulation=p.formulation,
        manufacturer=p.manufacturer,
        strength_mcg_per_ml=p.strength_mcg_per_ml,
        container=p.container,
        volume_ml=p.volume_ml,
        brand=p.brand,
        preservative=p.preservative,
        gtin=p.gtin,
        ndc=p.ndc,
        storage_note=p.storage_note,
        beyond_use_days=p.beyond_use_days,
        reorder_level=p.reorder_level,
        for_deficiency=p.for_deficiency,
        source=p.source,
    )


def validate_product(data: ProductInput) -> tuple[ProductInput, dict[str, str]]:
    errors: dict[str, str] = {}
    if not data.manufacturer.strip():
        errors["manufacturer"] = "Enter the manufacturer (as on the pack)."
    try:
        strength = Decimal(data.strength_mcg_per_ml)
        if strength <= 0:
            raise InvalidOperation
    except (InvalidOperation, TypeError):
        errors["strength_mcg_per_ml"] = "Strength must be a positive number of mcg per mL (e.g. 1000)."
        strength = Decimal(0)
    try:
        volume = Decimal(data.volume_ml)
        if volume <= 0:
            raise InvalidOperation
    except (InvalidOperation, TypeError):
        errors["volume_ml"] = "Volume must be a positive number of mL (e.g. 1 or 30)."
        volume = Decimal(0)
    if data.for_deficiency and data.formulation not in DEFICIENCY_FORMULATIONS:
        errors["formulation"] = (
            "Only cyanocobalamin or hydroxocobalamin treat B12 deficiency; record other products (such as "
            "the 5 g IV cyanide antidote) as not for deficiency treatment."
        )
    gtin = (data.gtin or "").strip() or None
    if gtin is not None:
        if gtin.isdigit() and len(gtin) < 14:
            gtin = gtin.zfill(14)
        if not valid_gtin(gtin):
            errors["gtin"] = f"GTIN {gtin} is not 14 digits with a valid check digit."
    bud = data.beyond_use_days
    if is_multi_use(data.container):
        if bud is None:
            bud = DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS
        elif not 1 <= bud <= 365:
            errors["beyond_use_days"] = (
                "Beyond-use days after first puncture must be 1 to 365 (USP <797>: 28)."
            )
    else:
        bud = None  # ampoules and single-dose vials are used once and never stored open
    if data.reorder_level < 0:
        errors["reorder_level"] = "Reorder level cannot be negative."
    clean = ProductInput(
        formulation=data.formulation,
        manufacturer=data.manufacturer.strip(),
        strength_mcg_per_ml=strength,
        container=data.container,
        volume_ml=volume,
        brand=data.brand.strip(),
        preservative=data.preservative.strip(),
        gtin=gtin,
        ndc=(data.ndc or "").strip() or None,
        storage_note=data.storage_note.strip(),
        beyond_use_days=bud,
        reorder_level=data.reorder_level,
        for_deficiency=data.for_deficiency,
        source=data.source.strip(),
    )
    return clean, errors


def _audit_values(data: ProductInput) -> dict[str, Any]:
    return {k: getattr(data, k) for k in ProductInput.__dataclass_fields__}


def _check_gtin_unique(
    session: Session, gtin: str | None, product_id: int | None, errors: dict[str, str]
) -> None:
    if gtin is None or "gtin" in errors:
        return
    other = session.scalar(select(Product.id).where(Product.gtin == gtin))
    if other is not None and other != product_id:
        errors["gtin"] = f"GTIN {gtin} already belongs to another product."


def create_product(session: Session, actor: Actor, data: ProductInput) -> ProductRow:
    require(session, actor, Permission.EDIT_FORMULARY)
    clean, errors = validate_product(data)
    _check_gtin_unique(session, clean.gtin, None, errors)
    if errors:
        raise ValidationFailed(errors)
    product = Product(**_audit_values(clean))
    session.add(product)
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="create",
        entity="product",
        entity_id=product.id,
        new=_audit_values(clean),
    )
    return _product_rows(session, [product.id])[0]


def update_product(
    session: Session,
    actor: Actor,
    product_id: int,
    data: ProductInput,
    *,
    expected_version: int,
    reason: str = "",
) -> ProductRow:
    require(session, actor, Permission.EDIT_FORMULARY)
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product with id {product_id}.")
    if product.version_id != expected_version:
        raise Conflict("The product was changed by someone else while you were editing; reopen it.")
    clean, errors = validate_product(data)
    _check_gtin_unique(session, clean.gtin, product_id, errors)
    if errors:
        raise ValidationFailed(errors)
    old, new = changed_values(_audit_values(_product_input(product)), _audit_values(clean))
    for key, value in new.items():
        setattr(product, key, value)
    session.flush()
    if new:
        append_event(
            session,
            staff_id=actor.id,
            action="update",
            entity="product",
            entity_id=product.id,
            old=old,
            new=new,
            reason=reason,
        )
    return _product_rows(session, [product.id])[0]


def link_gtin(session: Session, actor: Actor, product_id: int, gtin: str) -> ProductRow:
    """An unknown pack scanned at the desk: a pharmacist links its GTIN to the right product."""
    require(session, actor, Permission.EDIT_FORMULARY)
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product with id {product_id}.")
    data = _product_input(product)
    return update_product(
        session,
        actor,
        product_id,
        ProductInput(**{**_audit_values(data), "gtin": gtin}),
        expected_version=product.version_id,
        reason="GTIN linked from a scan",
    )


def seed_formulary(session: Session, actor: Actor, entries: list[dict[str, Any]]) -> int:
    """Load the shipped seed formulary into an empty product table; returns the number created."""
    require(session, actor, Permission.EDIT_FORMULARY)
    if session.scalar(select(func.count()).select_from(Product)):
        raise ValidationFailed({"formulary": "The formulary already has products; edit them instead."})
    for entry in entries:
        create_product(session, actor, product_input_from_dict(entry))
    return len(entries)


def product_input_from_dict(entry: dict[str, Any]) -> ProductInput:
    fields = ProductInput.__dataclass_fields__
    values = {k: v for k, v in entry.items() if k in fields}
    values["formulation"] = Formulation(values["formulation"])
    values["container"] = Container(values["container"])
    values["strength_mcg_per_ml"] = Decimal(str(values["strength_mcg_per_ml"]))
    values["volume_ml"] = Decimal(str(values["volume_ml"]))
    return ProductInput(**values)


def _product_rows(
    session: Session, ids: list[int] | None = None, *, today: date | None = None
) -> list[ProductRow]:
    today = today or date.today()
    now = utcnow()
    sealed = (
        select(Lot.product_id, func.sum(Lot.quantity_on_hand).label("n"))
        .where(Lot.expiry >= today)
        .group_by(Lot.product_id)
        .subquery()
    )
    opened = (
        select(Lot.product_id, func.count(Vial.id).label("n"), func.sum(Vial.remaining_ml).label("ml"))
        .join(Vial, Vial.lot_id == Lot.id)
        .where(Vial.status == VialStatus.OPEN, Vial.discard_by > now, Lot.expiry >= today)
        .group_by(Lot.product_id)
        .subquery()
    )
    stmt = (
        select(Product, sealed.c.n, opened.c.n, opened.c.ml)
        .outerjoin(sealed, sealed.c.product_id == Product.id)
        .outerjoin(opened, opened.c.product_id == Product.id)
        .order_by(Product.formulation, Product.strength_mcg_per_ml, Product.volume_ml, Product.id)
    )
    if ids is not None:
        stmt = stmt.where(Product.id.in_(ids))
    rows = []
    for product, n_sealed, n_open, ml_open in session.execute(stmt):
        data = _product_input(product)
        usable = int(n_sealed or 0)
        rows.append(
            ProductRow(
                id=product.id,
                version_id=product.version_id,
                data=data,
                active=product.active,
                label=product_label(data),
                sealed_usable=usable,
                open_vials=int(n_open or 0),
                open_ml=Decimal(ml_open or 0),
                below_reorder=product.active and usable < product.reorder_level,
            )
        )
    return rows


def list_products(
    session: Session, actor: Actor, *, today: date | None = None, deficiency_only: bool = False
) -> list[ProductRow]:
    """Products with usable on-hand totals; pickers for treatment pass deficiency_only=True."""
    require(session, actor, Permission.READ_PATIENTS)
    rows = _product_rows(session, today=today)
    if deficiency_only:
        rows = [r for r in rows if r.data.for_deficiency and r.active]
    return rows


# --- lots, vials and movements ------------------------------------------------------------------------


def _lot_row(lot: Lot, today: date) -> LotRow:
    return LotRow(
        id=lot.id,
        product_id=lot.product_id,
        lot_number=lot.lot_number,
        expiry=lot.expiry,
        supplier=lot.supplier,
        received_on=lot.received_on,
        quantity=lot.quantity_on_hand,
        band=expiry_band(lot.expiry, today),
    )


def list_lots(
    session: Session, actor: Actor, product_id: int, *, include_empty: bool = False, today: date | None = None
) -> list[LotRow]:
    require(session, actor, Permission.READ_PATIENTS)
    today = today or date.today()
    stmt = select(Lot).where(Lot.product_id == product_id).order_by(Lot.expiry, Lot.id)
    if not include_empty:
        open_lots = select(Vial.lot_id).where(Vial.status == VialStatus.OPEN)
        stmt = stmt.where((Lot.quantity_on_hand > 0) | Lot.id.in_(open_lots))
    return [_lot_row(lot, today) for lot in session.scalars(stmt)]


def _vial_rows(session: Session, condition: Any, now: datetime) -> list[VialRow]:
    stmt = (
        select(Vial, Lot.lot_number, Lot.product_id, Staff.username)
        .join(Lot, Lot.id == Vial.lot_id)
        .join(Staff, Staff.id == Vial.opened_by_id)
        .where(condition)
        .order_by(Vial.discard_by, Vial.id)
    )
    return [
        VialRow(
            id=v.id,
            lot_id=v.lot_id,
            lot_number=lot_number,
            product_id=product_id,
            opened_at=v.opened_at,
            opened_by=username,
            discard_by=v.discard_by,
            remaining_ml=v.remaining_ml,
            status=v.status,
            past_discard_by=v.discard_by <= now,
        )
        for v, lot_number, product_id, username in session.execute(stmt)
    ]


def list_open_vials(
    session: Session, actor: Actor, *, product_id: int | None = None, now: datetime | None = None
) -> list[VialRow]:
    require(session, actor, Permission.READ_PATIENTS)
    condition = Vial.status == VialStatus.OPEN
    if product_id is not None:
        condition = and_(condition, Lot.product_id == product_id)
    return _vial_rows(session, condition, now or utcnow())


def lot_history(session: Session, actor: Actor, lot_id: int) -> list[MovementRow]:
    require(session, actor, Permission.READ_PATIENTS)
    stmt = (
        select(StockMovement, Staff.username)
        .join(Staff, Staff.id == StockMovement.staff_id)
        .where(StockMovement.lot_id == lot_id)
        .order_by(StockMovement.at.desc(), StockMovement.id.desc())
    )
    return [
        MovementRow(
            id=m.id,
            at=m.at,
            kind=m.kind,
            containers=m.containers,
            volume_ml=m.volume_ml,
            vial_id=m.vial_id,
            waste_reason=m.waste_reason,
            reason=m.reason,
            who=username,
        )
        for m, username in session.execute(stmt)
    ]


def _movement(
    session: Session,
    actor: Actor,
    *,
    lot_id: int,
    kind: MovementKind,
    containers: int = 0,
    volume_ml: Decimal = Decimal(0),
    vial_id: int | None = None,
    waste_reason: WasteReason | None = None,
    reason: str = "",
    administration_id: int | None = None,
) -> StockMovement:
    movement = StockMovement(
        lot_id=lot_id,
        vial_id=vial_id,
        kind=kind,
        containers=containers,
        volume_ml=volume_ml,
        waste_reason=waste_reason,
        reason=reason,
        administration_id=administration_id,
        staff_id=actor.id,
        at=utcnow(),
    )
    session.add(movement)
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action=kind.value,
        entity="lot",
        entity_id=lot_id,
        new={
            "movement": movement.id,
            "containers": containers,
            "volume_ml": volume_ml,
            "vial": vial_id,
            "waste_reason": waste_reason,
            "administration": administration_id,
        },
        reason=reason,
    )
    return movement


def _take_containers(session: Session, lot_id: int, count: int, *, allow_expired: bool, today: date) -> None:
    """Conditional decrement: only if the lot still holds enough (and, unless allowed, is in date)."""
    condition = and_(Lot.id == lot_id, Lot.quantity_on_hand >= count)
    if not allow_expired:
        condition = and_(condition, Lot.expiry >= today)
    result = session.execute(
        update(Lot)
        .where(condition)
        .values(quantity_on_hand=Lot.quantity_on_hand - count, version_id=Lot.version_id + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        lot = session.get(Lot, lot_id)
        session.expire_all()
        if lot is None:
            raise NotFound(f"No lot with id {lot_id}.")
        session.refresh(lot)
        if not allow_expired and lot.expiry < today:
            raise StockUnavailable(
                f"Lot {lot.lot_number} expired on {lot.expiry.isoformat()}: it cannot be used."
            )
        raise StockUnavailable(
            f"Lot {lot.lot_number} holds {lot.quantity_on_hand} container(s); {count} were asked for."
        )


def receive_stock(
    session: Session,
    actor: Actor,
    *,
    product_id: int,
    lot_number: str,
    expiry: date | None,
    quantity: int,
    supplier: str = "",
    received_on: date | None = None,
    today: date | None = None,
) -> LotRow:
    require(session, actor, Permission.MANAGE_STOCK)
    today = today or date.today()
    received_on = received_on or today
    errors: dict[str, str] = {}
    product = session.get(Product, product_id)
    if product is None:
        errors["product"] = "Choose the product received."
    lot_number = lot_number.strip()
    if not lot_number:
        errors["lot_number"] = "Enter the lot (batch) number printed on the pack, or scan it."
    elif len(lot_number) > 20:
        errors["lot_number"] = "A lot number has at most 20 characters (GS1 AI 10)."
    if expiry is None:
        errors["expiry"] = "Enter the expiry date printed on the pack, or scan it."
    elif expiry < today:
        errors["expiry"] = f"The lot expired on {expiry.isoformat()}: do not receive expired stock."
    if quantity < 1:
        errors["quantity"] = "Quantity must be at least 1 container."
    elif quantity > 10000:
        errors["quantity"] = "Quantity above 10,000 containers: check the number."
    if received_on > today:
        errors["received_on"] = "The date received cannot be in the future."
    existing = None
    if product is not None and lot_number:
        existing = session.scalar(
            select(Lot).where(Lot.product_id == product_id, Lot.lot_number == lot_number)
        )
        if existing is not None and expiry is not None and existing.expiry != expiry:
            errors["expiry"] = (
                f"Lot {lot_number} is already recorded with expiry {existing.expiry.isoformat()}, not "
                f"{expiry.isoformat()}: check the pack."
            )
    if errors:
        raise ValidationFailed(errors)
    assert expiry is not None
    if existing is None:
        lot = Lot(
            product_id=product_id,
            lot_number=lot_number,
            expiry=expiry,
            supplier=supplier.strip(),
            received_on=received_on,
            quantity_on_hand=0,
        )
        session.add(lot)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"Lot {lot_number} was just recorded by another workstation; try again.") from None
        lot_id = lot.id
    else:
        lot_id = existing.id
    session.execute(
        update(Lot)
        .where(Lot.id == lot_id)
        .values(quantity_on_hand=Lot.quantity_on_hand + quantity, version_id=Lot.version_id + 1)
        .execution_options(synchronize_session=False)
    )
    _movement(
        session,
        actor,
        lot_id=lot_id,
        kind=MovementKind.RECEIVED,
        containers=quantity,
        reason=f"received {received_on.isoformat()}"
        + (f" from {supplier.strip()}" if supplier.strip() else ""),
    )
    session.expire_all()
    lot_obj = session.get(Lot, lot_id)
    assert lot_obj is not None
    return _lot_row(lot_obj, today)


def open_vial(session: Session, actor: Actor, *, lot_id: int, now: datetime | None = None) -> VialRow:
    """First puncture of a multi-dose vial: who and when; discard-by = opened + beyond-use days, capped."""
    require(session, actor, Permission.MANAGE_STOCK)
    now = now or utcnow()
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"No lot with id {lot_id}.")
    product = session.get(Product, lot.product_id)
    assert product is not None
    if not is_multi_use(product.container):
        raise ValidationFailed(
            {"lot": "Ampoules and single-dose vials are used once: draw the dose directly."}
        )
    _take_containers(session, lot_id, 1, allow_expired=False, today=now.date())
    vial = Vial(
        lot_id=lot_id,
        opened_at=now,
        opened_by_id=actor.id,
        discard_by=discard_by(now, product.beyond_use_days or DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS, lot.expiry),
        remaining_ml=product.volume_ml,
        status=VialStatus.OPEN,
    )
    session.add(vial)
    session.flush()
    _movement(
        session,
        actor,
        lot_id=lot_id,
        kind=MovementKind.OPENED,
        containers=-1,
        vial_id=vial.id,
        volume_ml=product.volume_ml,
        reason="first puncture",
    )
    return _vial_rows(session, Vial.id == vial.id, now)[0]


def draw_dose(
    session: Session,
    actor: Actor,
    *,
    volume_ml: Decimal,
    vial_id: int | None = None,
    lot_id: int | None = None,
    administration_id: int | None = None,
    now: datetime | None = None,
) -> StockChoice:
    """Take one dose: from an open multi-dose vial, or one whole ampoule/single-dose vial from a lot."""
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    now = now or utcnow()
    volume_ml = Decimal(volume_ml)
    if volume_ml <= 0:
        raise ValidationFailed({"volume_ml": "The volume to draw must be more than 0 mL."})
    if vial_id is not None:
        result = session.execute(
            update(Vial)
            .where(
                Vial.id == vial_id,
                Vial.status == VialStatus.OPEN,
                Vial.remaining_ml >= volume_ml,
                Vial.discard_by > now,
            )
            .values(remaining_ml=Vial.remaining_ml - volume_ml, version_id=Vial.version_id + 1)
            .execution_options(synchronize_session=False)
        )
        vial = session.get(Vial, vial_id)
        if vial is None:
            raise NotFound(f"No vial with id {vial_id}.")
        session.refresh(vial)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            if vial.status != VialStatus.OPEN:
                raise StockUnavailable(f"Vial {vial_id} was discarded: choose another.")
            if vial.discard_by <= now:
                raise StockUnavailable(
                    f"Vial {vial_id} passed its discard-by time {vial.discard_by:%Y-%m-%d %H:%M}: discard it."
                )
            raise StockUnavailable(
                f"Vial {vial_id} holds {format_ml(vial.remaining_ml)}; {format_ml(volume_ml)} was asked for."
            )
        lot = session.get(Lot, vial.lot_id)
        assert lot is not None
        if lot.expiry < now.date():
            raise StockUnavailable(f"Lot {lot.lot_number} expired on {lot.expiry.isoformat()}.")
        _movement(
            session,
            actor,
            lot_id=vial.lot_id,
            kind=MovementKind.DOSE_DRAWN,
            volume_ml=-volume_ml,
            vial_id=vial_id,
            administration_id=administration_id,
        )
        if vial.remaining_ml == 0:
            _close_vial(session, actor, vial, WasteReason.EMPTY, "empty after the last dose", now)
        return StockChoice(vial_id, vial.lot_id, "drawn from an open vial")
    if lot_id is None:
        raise ValidationFailed({"stock": "Choose an open vial or a lot to draw from."})
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"No lot with id {lot_id}.")
    product = session.get(Product, lot.product_id)
    assert product is not None
    if is_multi_use(product.container):
        raise ValidationFailed({"stock": "A multi-dose vial must be opened first; draw from the open vial."})
    if volume_ml > product.volume_ml:
        holds = format_ml(product.volume_ml)
        raise ValidationFailed(
            {"volume_ml": f"{format_ml(volume_ml)} is more than one container holds ({holds})."}
        )
    _take_containers(session, lot_id, 1, allow_expired=False, today=now.date())
    _movement(
        session,
        actor,
        lot_id=lot_id,
        kind=MovementKind.DOSE_DRAWN,
        containers=-1,
        volume_ml=-volume_ml,
        administration_id=administration_id,
        reason="single-use container",
    )
    return StockChoice(None, lot_id, "one single-use container")


def _close_vial(
    session: Session, actor: Actor, vial: Vial, reason: WasteReason, note: str, now: datetime
) -> None:
    remaining = vial.remaining_ml
    result = session.execute(
        update(Vial)
        .where(Vial.id == vial.id, Vial.status == VialStatus.OPEN)
        .values(
            status=VialStatus.DISCARDED,
            discarded_at=now,
            discard_reason=f"{reason.value}: {note}".strip(": "),
            remaining_ml=0,
            version_id=Vial.version_id + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StockUnavailable(f"Vial {vial.id} is already discarded.")
    _movement(
        session,
        actor,
        lot_id=vial.lot_id,
        kind=MovementKind.WASTED,
        vial_id=vial.id,
        volume_ml=-remaining,
        waste_reason=reason,
        reason=note,
    )
    session.refresh(vial)


def discard_vial(
    session: Session,
    actor: Actor,
    *,
    vial_id: int,
    reason: WasteReason,
    note: str = "",
    now: datetime | None = None,
) -> None:
    require(session, actor, Permission.MANAGE_STOCK)
    now = now or utcnow()
    vial = session.get(Vial, vial_id)
    if vial is None:
        raise NotFound(f"No vial with id {vial_id}.")
    if reason == WasteReason.OTHER and not note.strip():
        raise ValidationFailed({"note": "Say why the vial is discarded."})
    _close_vial(session, actor, vial, reason, note.strip(), now)


def waste_containers(
    session: Session,
    actor: Actor,
    *,
    lot_id: int,
    quantity: int,
    reason: WasteReason,
    note: str = "",
    today: date | None = None,
) -> LotRow:
    """Sealed containers thrown away (expired, broken, ...): expired stock may of course be wasted."""
    require(session, actor, Permission.MANAGE_STOCK)
    today = today or date.today()
    if quantity < 1:
        raise ValidationFailed({"quantity": "Waste at least 1 container."})
    if reason == WasteReason.OTHER and not note.strip():
        raise ValidationFailed({"note": "Say why the containers are wasted."})
    _take_containers(session, lot_id, quantity, allow_expired=True, today=today)
    _movement(
        session,
        actor,
        lot_id=lot_id,
        kind=MovementKind.WASTED,
        containers=-quantity,
        waste_reason=reason,
        reason=note.strip(),
    )
    return _fresh_lot(session, lot_id, today)


def return_to_supplier(
    session: Session, actor: Actor, *, lot_id: int, quantity: int, note: str, today: date | None = None
) -> LotRow:
    require(session, actor, Permission.MANAGE_STOCK)
    today = today or date.today()
    if quantity < 1:
        raise ValidationFailed({"quantity": "Return at least 1 container."})
    if not note.strip():
        raise ValidationFailed({"note": "Give the reason or the supplier's return reference."})
    _take_containers(session, lot_id, quantity, allow_expired=True, today=today)
    _movement(
        session, actor, lot_id=lot_id, kind=MovementKind.RETURNED, containers=-quantity, reason=note.strip()
    )
    return _fresh_lot(session, lot_id, today)


def adjust_count(
    session: Session,
    actor: Actor,
    *,
    lot_id: int,
    counted: int,
    expected: int,
    reason: str,
    today: date | None = None,
) -> LotRow:
    """After a physical count: set the lot to what was counted, if nobody changed it since it was read."""
    require(session, actor, Permission.MANAGE_STOCK)
    today = today or date.today()
    if counted < 0:
        raise ValidationFailed({"counted": "A count cannot be negative."})
    if not reason.strip():
        raise ValidationFailed({"reason": "Give the reason for the adjustment (e.g. monthly count)."})
    result = session.execute(
        update(Lot)
        .where(Lot.id == lot_id, Lot.quantity_on_hand == expected)
        .values(quantity_on_hand=counted, version_id=Lot.version_id + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The lot's quantity changed while you were counting: reload and count again.")
    if counted != expected:
        _movement(
            session,
            actor,
            lot_id=lot_id,
            kind=MovementKind.ADJUSTED,
            containers=counted - expected,
            reason=reason.strip(),
        )
    return _fresh_lot(session, lot_id, today)


def _fresh_lot(session: Session, lot_id: int, today: date) -> LotRow:
    session.expire_all()
    lot = session.get(Lot, lot_id)
    assert lot is not None
    return _lot_row(lot, today)


# --- choosing stock, alerts, scanning ------------------------------------------------------------------


def suggest_stock(
    session: Session, actor: Actor, *, product_id: int, volume_ml: Decimal, now: datetime | None = None
) -> StockChoice | None:
    require(session, actor, Permission.READ_PATIENTS)
    now = now or utcnow()
    vials = [
        OpenVialOption(v.id, v.lot_id, v.discard_by, expiry, v.remaining_ml)
        for v, expiry in session.execute(
            select(Vial, Lot.expiry)
            .join(Lot, Lot.id == Vial.lot_id)
            .where(Lot.product_id == product_id, Vial.status == VialStatus.OPEN)
        )
    ]
    lots = [
        LotOption(lot.id, lot.expiry, lot.quantity_on_hand)
        for lot in session.scalars(select(Lot).where(Lot.product_id == product_id, Lot.quantity_on_hand > 0))
    ]
    return choose_stock(vials, lots, Decimal(volume_ml), now)


def alerts(
    session: Session, actor: Actor, *, today: date | None = None, now: datetime | None = None
) -> Alerts:
    require(session, actor, Permission.READ_PATIENTS)
    today = today or date.today()
    now = now or utcnow()
    horizon = max(EXPIRY_ALERT_DAYS)
    expiring: dict[int, list[LotRow]] = {}
    lots = session.scalars(
        select(Lot)
        .where(Lot.quantity_on_hand > 0, Lot.expiry <= date.fromordinal(today.toordinal() + horizon))
        .order_by(Lot.expiry)
    )
    for lot in lots:
        row = _lot_row(lot, today)
        if row.band is not None:
            expiring.setdefault(row.band, []).append(row)
    vials = _vial_rows(session, and_(Vial.status == VialStatus.OPEN, Vial.discard_by <= now), now)
    below = [p for p in _product_rows(session, today=today) if p.below_reorder]
    return Alerts(expiring=expiring, vials_past_discard_by=vials, below_reorder=below)


def lookup_scan(session: Session, actor: Actor, scan: str) -> ScanResult:
    """Parse a scan and find its product (by GTIN) and lot; Gs1Error becomes a ValidationFailed message."""
    require(session, actor, Permission.READ_PATIENTS)
    try:
        data = parse_gs1(scan)
    except Gs1Error as exc:
        raise ValidationFailed({"scan": str(exc)}) from None
    product_row = lot_row = None
    if data.gtin:
        pid = session.scalar(select(Product.id).where(Product.gtin == data.gtin))
        if pid is not None:
            product_row = _product_rows(session, [pid])[0]
            if data.lot:
                lot = session.scalar(select(Lot).where(Lot.product_id == pid, Lot.lot_number == data.lot))
                if lot is not None:
                    lot_row = _lot_row(lot, date.today())
    return ScanResult(data=data, product=product_row, lot=lot_row)


def scan_as_dict(result: ScanResult) -> dict[str, Any]:
    d = result.data
    return {
        "gtin": d.gtin,
        "expiry": d.expiry.isoformat() if d.expiry else None,
        "expiry_text": d.expiry_text,
        "lot": d.lot,
        "serial": d.serial,
        "ndc_digits": d.ndc_digits,
        "other": d.other,
        "product": None
        if result.product is None
        else {"id": result.product.id, "label": result.product.label},
        "lot_record": None
        if result.lot is None
        else {
            "id": result.lot.id,
            "lot_number": result.lot.lot_number,
            "expiry": result.lot.expiry.isoformat(),
            "quantity": result.lot.quantity,
        },
        "usable": bool(d.expiry is None or d.expiry >= date.today()),
    }


def usable_through(expiry: date) -> datetime:
    return end_of_day(expiry)
