"""Formulary and vial inventory: products, receiving, opening, drawing, wasting, counting, returning.

Every change of stock is a movement row written in the same transaction as a conditional update of the
stock figure it changes, so on-hand figures equal the ledger and can never go below zero, also when two
workstations draw from the same vial or lot at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.data.audit import append_event, changed_values
from b12desk.data.models import Lot, Patient, Product, Staff, StockMovement, Vial
from b12desk.data.types import utcnow
from b12desk.domain.dose_check import DoseRules, product_range_problem
from b12desk.domain.enums import Container, Formulation, MovementKind, Preservative, VialStatus
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
    expiry_band,
    is_expired,
    is_multi_use,
    preservatives_from_text,
    preservatives_to_text,
)
from b12desk.domain.units import format_ml, format_strength
from b12desk.services import clinic
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
    preservative: str = ""  # as the label words it
    preservatives: frozenset[Preservative] | None = None  # structured; None: not confirmed yet
    gtin: str | None = None  # the pack's (carton's) barcode
    ndc: str | None = None
    unit_gtin: str | None = None  # the vial's or ampoule's own barcode, where it has one
    unit_ndc: str | None = None
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
    expired_lots: int = 0  # expired lots still holding sealed containers
    expiring_on: date | None = None  # the soonest expiry of a lot in stock, when within the first band


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


def label_of(product: Product) -> str:
    return product_label(_product_input(product))


def _product_input(p: Product) -> ProductInput:
    return ProductInput(
        formulation=p.formulation,
        manufacturer=p.manufacturer,
        strength_mcg_per_ml=p.strength_mcg_per_ml,
        container=p.container,
        volume_ml=p.volume_ml,
        brand=p.brand,
        preservative=p.preservative,
        preservatives=preservatives_from_text(p.preservatives),
        gtin=p.gtin,
        ndc=p.ndc,
        unit_gtin=p.unit_gtin,
        unit_ndc=p.unit_ndc,
        storage_note=p.storage_note,
        beyond_use_days=p.beyond_use_days,
        reorder_level=p.reorder_level,
        for_deficiency=p.for_deficiency,
        source=p.source,
    )


def validate_product(data: ProductInput, rules: DoseRules) -> tuple[ProductInput, dict[str, str]]:
    """The cleaned product and {field: message} for every problem; `rules` holds the range a product
    for deficiency treatment must lie in (a pack typed in wrongly, or the 5 g antidote, is refused)."""
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
    if data.for_deficiency and strength > 0 and volume > 0:
        problem = product_range_problem(strength, volume, rules)
        if problem is not None:
            in_range = rules.strength_min_mcg_per_ml <= strength <= rules.strength_max_mcg_per_ml
            errors["volume_ml" if in_range else "strength_mcg_per_ml"] = problem
    codes: dict[str, str | None] = {}
    for field, raw in (("gtin", data.gtin), ("unit_gtin", data.unit_gtin)):
        code = (raw or "").strip() or None
        if code is not None:
            if code.isdigit() and len(code) < 14:
                code = code.zfill(14)
            if not valid_gtin(code):
                errors[field] = f"GTIN {code} is not 14 digits with a valid check digit."
        codes[field] = code
    gtin, unit_gtin = codes["gtin"], codes["unit_gtin"]
    if gtin is not None and gtin == unit_gtin:
        errors["unit_gtin"] = (
            "This is the pack's code: leave the vial's empty when it has no code of its own."
        )
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
        preservatives=data.preservatives,
        gtin=gtin,
        ndc=(data.ndc or "").strip() or None,
        unit_gtin=unit_gtin,
        unit_ndc=(data.unit_ndc or "").strip() or None,
        storage_note=data.storage_note.strip(),
        beyond_use_days=bud,
        reorder_level=data.reorder_level,
        for_deficiency=data.for_deficiency,
        source=data.source.strip(),
    )
    return clean, errors


def _audit_values(data: ProductInput) -> dict[str, Any]:
    """The products row's column values (also what the audit records)."""
    values = {k: getattr(data, k) for k in ProductInput.__dataclass_fields__}
    values["preservatives"] = preservatives_to_text(data.preservatives)
    return values


def _check_gtin_unique(
    session: Session, data: ProductInput, product_id: int | None, errors: dict[str, str]
) -> None:
    """A code names one product, whether it is printed on a pack or on a vial."""
    for field, code in (("gtin", data.gtin), ("unit_gtin", data.unit_gtin)):
        if code is None or field in errors:
            continue
        other = session.scalar(select(Product.id).where(or_(Product.gtin == code, Product.unit_gtin == code)))
        if other is not None and other != product_id:
            errors[field] = f"GTIN {code} already belongs to another product."


def create_product(session: Session, actor: Actor, data: ProductInput) -> ProductRow:
    require(session, actor, Permission.EDIT_FORMULARY)
    clean, errors = validate_product(data, clinic.dose_rules(session))
    _check_gtin_unique(session, clean, None, errors)
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
    return _product_rows(session, [product.id], clock=clinic.clinic_clock(session))[0]


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
    clean, errors = validate_product(data, clinic.dose_rules(session))
    _check_gtin_unique(session, clean, product_id, errors)
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
    return _product_rows(session, [product.id], clock=clinic.clinic_clock(session))[0]


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
    preservatives = values.get("preservatives")
    if preservatives is not None and not isinstance(preservatives, frozenset):
        values["preservatives"] = frozenset(Preservative(p) for p in preservatives)
    return ProductInput(**values)


def _clock(session: Session, clock: Clock | None) -> Clock:
    return clock or clinic.clinic_clock(session)


def _product_rows(session: Session, ids: list[int] | None = None, *, clock: Clock) -> list[ProductRow]:
    today, now = clock.today(), clock.now()
    soon = today + timedelta(days=min(EXPIRY_ALERT_DAYS))  # the first band: use it first, or lose it
    sealed = (
        select(Lot.product_id, func.sum(Lot.quantity_on_hand).label("n"), func.min(Lot.expiry).label("first"))
        .where(Lot.expiry >= today, Lot.quantity_on_hand > 0)
        .group_by(Lot.product_id)
        .subquery()
    )
    expired = (  # expired lots still holding sealed containers: to be set aside for waste
        select(Lot.product_id, func.count(Lot.id).label("n"))
        .where(Lot.expiry < today, Lot.quantity_on_hand > 0)
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
        select(Product, sealed.c.n, opened.c.n, opened.c.ml, expired.c.n, sealed.c.first)
        .outerjoin(sealed, sealed.c.product_id == Product.id)
        .outerjoin(expired, expired.c.product_id == Product.id)
        .outerjoin(opened, opened.c.product_id == Product.id)
        .order_by(Product.formulation, Product.strength_mcg_per_ml, Product.volume_ml, Product.id)
    )
    if ids is not None:
        stmt = stmt.where(Product.id.in_(ids))
    rows = []
    for product, n_sealed, n_open, ml_open, n_expired, first_expiry in session.execute(stmt):
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
                expired_lots=int(n_expired or 0),
                expiring_on=first_expiry if first_expiry and first_expiry <= soon else None,
            )
        )
    return rows


def list_products(
    session: Session, actor: Actor, *, deficiency_only: bool = False, clock: Clock | None = None
) -> list[ProductRow]:
    """Products with usable on-hand totals; pickers for treatment pass deficiency_only=True."""
    require(session, actor, Permission.READ_PATIENTS)
    rows = _product_rows(session, clock=_clock(session, clock))
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
    session: Session,
    actor: Actor,
    product_id: int,
    *,
    include_empty: bool = False,
    clock: Clock | None = None,
) -> list[LotRow]:
    require(session, actor, Permission.READ_PATIENTS)
    today = _clock(session, clock).today()
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
    session: Session, actor: Actor, *, product_id: int | None = None, clock: Clock | None = None
) -> list[VialRow]:
    require(session, actor, Permission.READ_PATIENTS)
    condition = Vial.status == VialStatus.OPEN
    if product_id is not None:
        condition = and_(condition, Lot.product_id == product_id)
    return _vial_rows(session, condition, _clock(session, clock).now())


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
    patient_id: int | None = None,
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
        patient_id=patient_id,
        staff_id=actor.id,
        at=utcnow(),  # when the ledger line was written, by the system clock, like the audit
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
            "patient": patient_id,
        },
        reason=reason,
    )
    return movement


def _take_containers(session: Session, lot_id: int, count: int, *, allow_expired: bool, today: date) -> None:
    """Conditional decrement: only if the lot still holds enough (and, unless allowed, is in date).

    `today` is the clinic's day: a lot is usable through its expiry date.
    """
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
    clock: Clock | None = None,
) -> LotRow:
    require(session, actor, Permission.MANAGE_STOCK)
    clock = _clock(session, clock)
    today = clock.today()
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
    return _fresh_lot(session, lot_id, today)


def open_vial(session: Session, actor: Actor, *, lot_id: int, clock: Clock | None = None) -> VialRow:
    """First puncture of a multi-dose vial: who and when; discard-by = opened + beyond-use days, capped
    at the end of the lot's expiry day in clinic time."""
    require(session, actor, Permission.MANAGE_STOCK)
    clock = _clock(session, clock)
    now = clock.now()
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"No lot with id {lot_id}.")
    product = session.get(Product, lot.product_id)
    assert product is not None
    if not is_multi_use(product.container):
        raise ValidationFailed(
            {"lot": "Ampoules and single-dose vials are used once: draw the dose directly."}
        )
    _take_containers(session, lot_id, 1, allow_expired=False, today=clock.today())
    vial = Vial(
        lot_id=lot_id,
        opened_at=now,
        opened_by_id=actor.id,
        discard_by=discard_by(
            now, product.beyond_use_days or DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS, lot.expiry, clock.zone
        ),
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


@dataclass(frozen=True, slots=True)
class DoseStock:
    """What one dose took: from which lot and vial, how many sealed containers and how many mL."""

    lot_id: int
    vial_id: int | None
    containers: int
    volume_ml: Decimal


def reserve_dose_stock(
    session: Session,
    *,
    volume_ml: Decimal,
    vial_id: int | None,
    lot_id: int | None,
    clock: Clock,
) -> DoseStock:
    """Take a dose's volume from an open vial, or one single-use container from a lot, by a conditional
    update that cannot go below zero nor touch expired stock; StockUnavailable (nothing changed) if the
    stock is no longer there. The caller writes the ledger movement with record_dose_drawn."""
    now = clock.now()
    volume_ml = Decimal(volume_ml)
    if volume_ml <= 0:
        raise ValidationFailed({"volume_ml": "The volume to draw must be more than 0 mL."})
    if vial_id is not None:
        vial = session.get(Vial, vial_id)
        if vial is None:
            raise NotFound(f"No vial with id {vial_id}.")
        lot = session.get(Lot, vial.lot_id)
        assert lot is not None
        if is_expired(lot.expiry, now, clock.zone):
            raise StockUnavailable(f"Lot {lot.lot_number} expired on {lot.expiry.isoformat()}.")
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
        session.refresh(vial)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            if vial.status != VialStatus.OPEN:
                raise StockUnavailable(f"Vial {vial_id} was discarded: choose another.")
            if vial.discard_by <= now:
                raise StockUnavailable(
                    f"Vial {vial_id} passed its discard-by time "
                    f"{clock.local(vial.discard_by):%Y-%m-%d %H:%M}: discard it."
                )
            raise StockUnavailable(
                f"Vial {vial_id} holds {format_ml(vial.remaining_ml)}; {format_ml(volume_ml)} was asked for."
            )
        return DoseStock(vial.lot_id, vial_id, 0, volume_ml)
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
    _take_containers(session, lot_id, 1, allow_expired=False, today=clock.today())
    return DoseStock(lot_id, None, 1, volume_ml)


def record_dose_drawn(
    session: Session,
    actor: Actor,
    stock: DoseStock,
    *,
    administration_id: int | None,
    clock: Clock,
) -> None:
    """The ledger movement of a reserved dose; a vial left empty is closed as such."""
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    if stock.vial_id is not None:
        _movement(
            session,
            actor,
            lot_id=stock.lot_id,
            kind=MovementKind.DOSE_DRAWN,
            volume_ml=-stock.volume_ml,
            vial_id=stock.vial_id,
            administration_id=administration_id,
        )
        vial = session.get(Vial, stock.vial_id)
        assert vial is not None
        if vial.remaining_ml == 0:
            _close_vial(session, actor, vial, WasteReason.EMPTY, "empty after the last dose", clock)
        return
    _movement(
        session,
        actor,
        lot_id=stock.lot_id,
        kind=MovementKind.DOSE_DRAWN,
        containers=-stock.containers,
        volume_ml=-stock.volume_ml,
        administration_id=administration_id,
        reason="single-use container",
    )


def draw_dose(
    session: Session,
    actor: Actor,
    *,
    volume_ml: Decimal,
    vial_id: int | None = None,
    lot_id: int | None = None,
    administration_id: int | None = None,
    clock: Clock | None = None,
) -> StockChoice:
    """Take one dose: from an open multi-dose vial, or one whole ampoule/single-dose vial from a lot."""
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    clock = _clock(session, clock)
    stock = reserve_dose_stock(session, volume_ml=volume_ml, vial_id=vial_id, lot_id=lot_id, clock=clock)
    record_dose_drawn(session, actor, stock, administration_id=administration_id, clock=clock)
    if stock.vial_id is not None:
        return StockChoice(stock.vial_id, stock.lot_id, "drawn from an open vial")
    return StockChoice(None, stock.lot_id, "one single-use container")


def return_dose_stock(
    session: Session, actor: Actor, *, administration_id: int, reason: str, clock: Clock
) -> str:
    """A dose recorded in error gives back what it drew, when that can still be used: the volume to its
    vial (still open and in date) or the container to its lot (in date). Otherwise the ledger records why
    nothing returns. Returns what happened, in words."""
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    drawn = session.scalar(
        select(StockMovement).where(
            StockMovement.administration_id == administration_id,
            StockMovement.kind == MovementKind.DOSE_DRAWN,
        )
    )
    if drawn is None:
        return "nothing was drawn from stock for this dose"
    now = clock.now()
    lot = session.get(Lot, drawn.lot_id)
    assert lot is not None
    volume = -Decimal(drawn.volume_ml)
    note = f"dose entered in error: {reason}"
    if drawn.vial_id is not None:
        vial = session.get(Vial, drawn.vial_id)
        assert vial is not None
        usable = vial.status == VialStatus.OPEN and vial.discard_by > now
        if usable and not is_expired(lot.expiry, now, clock.zone):
            result = session.execute(
                update(Vial)
                .where(Vial.id == vial.id, Vial.status == VialStatus.OPEN)
                .values(remaining_ml=Vial.remaining_ml + volume, version_id=Vial.version_id + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                session.refresh(vial)
                _movement(
                    session,
                    actor,
                    lot_id=lot.id,
                    kind=MovementKind.DOSE_RETURNED,
                    volume_ml=volume,
                    vial_id=vial.id,
                    administration_id=administration_id,
                    reason=note,
                )
                return f"{format_ml(volume)} returned to vial {vial.id}"
        why = "discarded" if vial.status != VialStatus.OPEN else "past its discard-by time or lot expiry"
        _movement(
            session,
            actor,
            lot_id=lot.id,
            kind=MovementKind.DOSE_RETURNED,
            vial_id=vial.id,
            administration_id=administration_id,
            reason=f"{note}; vial {vial.id} is {why}, so nothing goes back to stock",
        )
        return f"vial {vial.id} is {why}: nothing returned to stock"
    if not is_expired(lot.expiry, now, clock.zone):
        session.execute(
            update(Lot)
            .where(Lot.id == lot.id)
            .values(quantity_on_hand=Lot.quantity_on_hand + 1, version_id=Lot.version_id + 1)
            .execution_options(synchronize_session=False)
        )
        _movement(
            session,
            actor,
            lot_id=lot.id,
            kind=MovementKind.DOSE_RETURNED,
            containers=1,
            administration_id=administration_id,
            reason=note,
        )
        return f"1 container returned to lot {lot.lot_number}"
    _movement(
        session,
        actor,
        lot_id=lot.id,
        kind=MovementKind.DOSE_RETURNED,
        administration_id=administration_id,
        reason=f"{note}; lot {lot.lot_number} has expired, so nothing goes back to stock",
    )
    return f"lot {lot.lot_number} has expired: nothing returned to stock"


def _close_vial(
    session: Session, actor: Actor, vial: Vial, reason: WasteReason, note: str, clock: Clock
) -> None:
    remaining = vial.remaining_ml
    result = session.execute(
        update(Vial)
        .where(Vial.id == vial.id, Vial.status == VialStatus.OPEN)
        .values(
            status=VialStatus.DISCARDED,
            discarded_at=clock.utcnow(),
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
    clock: Clock | None = None,
) -> None:
    require(session, actor, Permission.MANAGE_STOCK)
    vial = session.get(Vial, vial_id)
    if vial is None:
        raise NotFound(f"No vial with id {vial_id}.")
    if reason == WasteReason.OTHER and not note.strip():
        raise ValidationFailed({"note": "Say why the vial is discarded."})
    _close_vial(session, actor, vial, reason, note.strip(), _clock(session, clock))


def waste_containers(
    session: Session,
    actor: Actor,
    *,
    lot_id: int,
    quantity: int,
    reason: WasteReason,
    note: str = "",
    clock: Clock | None = None,
) -> LotRow:
    """Sealed containers thrown away (expired, broken, ...): expired stock may of course be wasted."""
    require(session, actor, Permission.MANAGE_STOCK)
    clock = _clock(session, clock)
    if quantity < 1:
        raise ValidationFailed({"quantity": "Waste at least 1 container."})
    if reason == WasteReason.OTHER and not note.strip():
        raise ValidationFailed({"note": "Say why the containers are wasted."})
    _take_containers(session, lot_id, quantity, allow_expired=True, today=clock.today())
    _movement(
        session,
        actor,
        lot_id=lot_id,
        kind=MovementKind.WASTED,
        containers=-quantity,
        waste_reason=reason,
        reason=note.strip(),
    )
    return _fresh_lot(session, lot_id, clock.today())


def return_to_supplier(
    session: Session, actor: Actor, *, lot_id: int, quantity: int, note: str, clock: Clock | None = None
) -> LotRow:
    require(session, actor, Permission.MANAGE_STOCK)
    clock = _clock(session, clock)
    if quantity < 1:
        raise ValidationFailed({"quantity": "Return at least 1 container."})
    if not note.strip():
        raise ValidationFailed({"note": "Give the reason or the supplier's return reference."})
    _take_containers(session, lot_id, quantity, allow_expired=True, today=clock.today())
    _movement(
        session,
        actor,
        lot_id=lot_id,
        kind=MovementKind.RETURNED,
        containers=-quantity,
        reason=note.strip(),
    )
    return _fresh_lot(session, lot_id, clock.today())


def supply_home(
    session: Session,
    actor: Actor,
    *,
    patient_id: int,
    lot_id: int,
    quantity: int,
    note: str = "",
    clock: Clock | None = None,
) -> LotRow:
    """Sealed containers given to a patient trained to self-inject, to take home: a stock movement that
    names the patient (their home doses are then reported as self-administered, drawing nothing here)."""
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    clock = _clock(session, clock)
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"No patient with id {patient_id}.")
    if patient.archived:
        raise ValidationFailed({"patient": f"{patient.mrn} is archived: nothing is supplied to them."})
    if patient.self_injection_trained_on is None:
        raise ValidationFailed(
            {"patient": "The patient is not recorded as trained to self-inject: record the training first."}
        )
    if quantity < 1:
        raise ValidationFailed({"quantity": "Supply at least 1 container."})
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"No lot with id {lot_id}.")
    product = session.get(Product, lot.product_id)
    assert product is not None
    if not product.for_deficiency or not product.active:
        raise ValidationFailed({"lot": f"{label_of(product)} is not to be supplied for B12 treatment."})
    _take_containers(session, lot_id, quantity, allow_expired=False, today=clock.today())
    _movement(
        session,
        actor,
        lot_id=lot_id,
        kind=MovementKind.SUPPLIED_HOME,
        containers=-quantity,
        reason=note.strip() or f"Supplied to {patient.mrn} to self-inject at home",
        patient_id=patient_id,
    )
    return _fresh_lot(session, lot_id, clock.today())


def adjust_count(
    session: Session,
    actor: Actor,
    *,
    lot_id: int,
    counted: int,
    expected: int,
    reason: str,
    clock: Clock | None = None,
) -> LotRow:
    """After a physical count: set the lot to what was counted, if nobody changed it since it was read."""
    require(session, actor, Permission.MANAGE_STOCK)
    clock = _clock(session, clock)
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
    else:  # nothing moves, but a count that confirms the figure is still a record of who counted when
        append_event(
            session,
            staff_id=actor.id,
            action="count_confirmed",
            entity="lot",
            entity_id=lot_id,
            new={"counted": counted},
            reason=reason.strip(),
        )
    return _fresh_lot(session, lot_id, clock.today())


def _fresh_lot(session: Session, lot_id: int, today: date) -> LotRow:
    session.expire_all()
    lot = session.get(Lot, lot_id)
    assert lot is not None
    return _lot_row(lot, today)


# --- choosing stock, alerts, scanning ------------------------------------------------------------------


def suggest_stock(
    session: Session,
    actor: Actor,
    *,
    product_id: int,
    volume_ml: Decimal,
    clock: Clock | None = None,
) -> StockChoice | None:
    require(session, actor, Permission.READ_PATIENTS)
    clock = _clock(session, clock)
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
    return choose_stock(vials, lots, Decimal(volume_ml), clock.now(), clock.zone)


def alerts(session: Session, actor: Actor, *, clock: Clock | None = None) -> Alerts:
    require(session, actor, Permission.READ_PATIENTS)
    clock = _clock(session, clock)
    today, now = clock.today(), clock.now()
    horizon = max(EXPIRY_ALERT_DAYS)
    expiring: dict[int, list[LotRow]] = {}
    lots = session.scalars(
        select(Lot)
        .where(Lot.quantity_on_hand > 0, Lot.expiry <= today + timedelta(days=horizon))
        .order_by(Lot.expiry)
    )
    for lot in lots:
        row = _lot_row(lot, today)
        if row.band is not None:
            expiring.setdefault(row.band, []).append(row)
    vials = _vial_rows(session, and_(Vial.status == VialStatus.OPEN, Vial.discard_by <= now), now)
    below = [p for p in _product_rows(session, clock=clock) if p.below_reorder]
    return Alerts(expiring=expiring, vials_past_discard_by=vials, below_reorder=below)


def lookup_scan(session: Session, actor: Actor, scan: str, *, clock: Clock | None = None) -> ScanResult:
    """Parse a scan and find its product (by the pack's or the vial's GTIN) and lot; Gs1Error becomes a
    ValidationFailed message."""
    require(session, actor, Permission.READ_PATIENTS)
    clock = _clock(session, clock)
    try:
        data = parse_gs1(scan)
    except Gs1Error as exc:
        raise ValidationFailed({"scan": str(exc)}) from None
    product_row = lot_row = None
    if data.gtin:
        pid = session.scalar(
            select(Product.id).where(or_(Product.gtin == data.gtin, Product.unit_gtin == data.gtin))
        )
        if pid is not None:
            product_row = _product_rows(session, [pid], clock=clock)[0]
            if data.lot:
                lot = session.scalar(select(Lot).where(Lot.product_id == pid, Lot.lot_number == data.lot))
                if lot is not None:
                    lot_row = _lot_row(lot, clock.today())
    return ScanResult(data=data, product=product_row, lot=lot_row)


def scan_as_dict(result: ScanResult, *, today: date) -> dict[str, Any]:
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
        "usable": bool(d.expiry is None or d.expiry >= today),
    }
