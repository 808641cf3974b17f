"""What each printed label says, gathered from the database: syringe, opened vial, patient dose card, lot or
shelf label. Plain frozen dataclasses with their text already worded (ISMP doses, clinic times), so the
drawing in exports/labels.py only places text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from b12desk.clock import Clock
from b12desk.data.models import Administration, Lot, Patient, Product, Staff, TreatmentPlan, Vial
from b12desk.domain.enums import (
    CAUSE_LABELS,
    SITE_LABELS,
    AdministrationOutcome,
    Container,
    EventKind,
    PhaseKind,
    PlanStatus,
    RecordStatus,
    Route,
    VialStatus,
)
from b12desk.domain.permissions import Permission
from b12desk.domain.regimens import PhaseDef
from b12desk.domain.schedule import DoseStatus
from b12desk.domain.units import dose_volume_ml, format_mcg, format_ml, format_strength
from b12desk.services import clinic, plans
from b12desk.services.common import Actor, NotFound, ServiceError, require

# ISMP lists "SC" and "SQ" as error-prone (read as "SL", "5 every"): labels say "subcut".
ROUTE_TEXT: dict[Route, str] = {
    Route.IM: "IM",
    Route.DEEP_SC: "deep subcut",
    Route.SC: "subcut",
    Route.IV: "IV",
    Route.ORAL: "by mouth",
}
CONTAINER_TEXT: dict[Container, str] = {
    Container.AMPOULE: "ampoule",
    Container.SINGLE_DOSE_VIAL: "single-dose vial",
    Container.MULTI_DOSE_VIAL: "multi-dose vial",
}
NEXT_DOSES_ON_CARD = 3
CHECKS_ON_CARD = 2
CHECK_TEXT: dict[EventKind, str] = {EventKind.LAB: "Blood test", EventKind.REVIEW: "Symptom review"}


class NoLabel(ServiceError):
    """The record exists but no label may be printed for it (a dose not given, a discarded vial)."""


def label_date(day: date) -> str:
    """ "3 Dec 2026": the month in words, never a number that reads both ways round."""
    return f"{day.day} {day.strftime('%b')} {day.year}"


def label_day(day: date) -> str:
    """ "Thu 3 Dec 2026": appointments carry the weekday patients plan by."""
    return f"{day.strftime('%a')} {label_date(day)}"


def label_time(moment: datetime) -> str:
    return f"{label_date(moment.date())} {moment:%H:%M}"


def initials(full_name: str) -> str:
    return "".join(word[0] for word in full_name.replace("-", " ").split() if word[:1].isalpha()).upper()


def patient_name(family: str, given: str) -> str:
    """ "REID, Ann": the family name in capitals, as wristbands and labels print it."""
    return f"{family.upper()}, {given}"


def drug_text(formulation: str, strength_mcg_per_ml: Decimal) -> str:
    return f"{formulation.capitalize()} {format_strength(strength_mcg_per_ml)}"


# --- the labels ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyringeLabel:
    administration_id: int
    patient: str  # "REID, Ann"
    mrn: str
    date_of_birth: date
    drug: str  # "Hydroxocobalamin 1,000 mcg/mL"
    brand: str
    dose_mcg: Decimal
    volume_ml: Decimal
    route: str  # "IM"
    site: str  # "left ventrogluteal", "" when not recorded
    given_at: datetime  # clinic time
    initials: str
    lot: str

    @property
    def dose_text(self) -> str:
        return f"{format_mcg(self.dose_mcg)} in {format_ml(self.volume_ml)}"


@dataclass(frozen=True, slots=True)
class VialLabel:
    vial_id: int
    product: str  # "Hydroxocobalamin 1,000 mcg/mL"
    pack: str  # "30 mL multi-dose vial, Actavis"
    lot: str
    expiry: date
    opened_at: datetime  # clinic time
    discard_by: datetime  # clinic time
    opened_by: str  # full name
    opened_by_initials: str


@dataclass(frozen=True, slots=True)
class DoseCard:
    patient_id: int
    patient: str
    mrn: str
    cause: str  # "Pernicious anaemia"
    drug: str  # "Hydroxocobalamin 1,000 mcg/mL"
    phases: tuple[str, ...]  # "Induction: 1,000 mcg (1 mL) IM 3 times a week, 6 doses"
    next_doses: tuple[date, ...]
    checks: tuple[tuple[date, str], ...]  # the next follow-ups after today: (day, "Blood test")
    clinic_name: str  # "" when not set
    clinic_phone: str  # "" when not set


@dataclass(frozen=True, slots=True)
class LotLabel:
    """A lot's label (GS1 DataMatrix: GTIN, expiry, lot) or a product's shelf label (Code 128 GTIN)."""

    product: str
    pack: str
    lot: str  # "" on a shelf label
    expiry: date | None  # None on a shelf label
    gtin: str  # "" when the product has none
    storage: str
    lot_id: int | None = None
    product_id: int | None = None

    @property
    def is_shelf(self) -> bool:
        return self.lot_id is None

    @property
    def gs1_element_string(self) -> str:
        """(01) GTIN, (17) expiry, (10) lot, in that order: the lot is variable-length and comes last, so
        no separator is needed. Empty when the product has no GTIN."""
        if not self.gtin:
            return ""
        text = f"01{self.gtin.zfill(14)}"
        if self.expiry is not None:
            text += f"17{self.expiry:%y%m%d}"
        if self.lot:
            text += f"10{self.lot}"
        return text

    @property
    def gs1_human_readable(self) -> str:
        if not self.gtin:
            return ""
        text = f"(01){self.gtin.zfill(14)}"
        if self.expiry is not None:
            text += f"(17){self.expiry:%y%m%d}"
        if self.lot:
            text += f"(10){self.lot}"
        return text


Label = SyringeLabel | VialLabel | DoseCard | LotLabel


def _pack(product: Product) -> str:
    maker = product.brand or product.manufacturer
    return f"{format_ml(product.volume_ml)} {CONTAINER_TEXT[product.container]}, {maker}"


def _clock(session: Session, clock: Clock | None) -> Clock:
    return clock or clinic.clinic_clock(session)


# --- gathering -----------------------------------------------------------------------------------------


def syringe_label(
    session: Session, actor: Actor, administration_id: int, *, clock: Clock | None = None
) -> SyringeLabel:
    """The label for the syringe of a recorded dose: patient, two identifiers, drug, dose in mcg and mL,
    route, site, time and the initials of who drew it up. One query."""
    require(session, actor, Permission.READ_PATIENTS)
    given_by = aliased(Staff)
    found = session.execute(
        select(Administration, Patient, Product, Lot, given_by.full_name, TreatmentPlan)
        .join(Patient, Patient.id == Administration.patient_id)
        .join(given_by, given_by.id == Administration.given_by_id)
        .outerjoin(Product, Product.id == Administration.product_id)
        .outerjoin(Lot, Lot.id == Administration.lot_id)
        .outerjoin(TreatmentPlan, TreatmentPlan.id == Administration.plan_id)
        .where(Administration.id == administration_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"No dose record with id {administration_id}.")
    a, patient, product, lot, giver, plan = found
    if a.status != RecordStatus.CURRENT:
        raise NoLabel(f"Dose record {administration_id} was corrected: print the label of its correction.")
    if a.outcome != AdministrationOutcome.GIVEN:
        raise NoLabel(
            f"Dose record {administration_id} records a dose not given: there is no syringe to label."
        )
    if a.route == Route.ORAL:
        raise NoLabel(f"Dose record {administration_id} is an oral dose: there is no syringe to label.")
    if product is not None:
        strength, formulation, brand = product.strength_mcg_per_ml, product.formulation.value, product.brand
    else:
        strength = (
            plan.strength_mcg_per_ml if plan is not None else Decimal(a.dose_mcg) / Decimal(a.volume_ml)
        )
        formulation = plan.formulation.value if plan is not None else "cobalamin"
        brand = ""
    return SyringeLabel(
        administration_id=a.id,
        patient=patient_name(patient.family_name, patient.given_name),
        mrn=patient.mrn,
        date_of_birth=patient.date_of_birth,
        drug=drug_text(formulation, Decimal(strength).normalize()),
        brand=brand,
        dose_mcg=Decimal(a.dose_mcg).normalize(),
        volume_ml=Decimal(a.volume_ml).normalize(),
        route=ROUTE_TEXT[a.route],
        site=SITE_LABELS[a.site] if a.site else "",
        given_at=_clock(session, clock).local(a.given_at),
        initials=initials(giver),
        lot=lot.lot_number if lot is not None else "",
    )


def vial_label(session: Session, actor: Actor, vial_id: int, *, clock: Clock | None = None) -> VialLabel:
    """The label on an opened multi-dose vial: product, lot, opened, discard-by, opened by. One query."""
    require(session, actor, Permission.MANAGE_STOCK)
    found = session.execute(
        select(Vial, Lot, Product, Staff.full_name)
        .join(Lot, Lot.id == Vial.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .join(Staff, Staff.id == Vial.opened_by_id)
        .where(Vial.id == vial_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"No opened vial with id {vial_id}.")
    vial, lot, product, opener = found
    if vial.status != VialStatus.OPEN:
        raise NoLabel(f"Vial {vial_id} has been discarded: it needs no label.")
    zone = _clock(session, clock)
    return VialLabel(
        vial_id=vial.id,
        product=drug_text(product.formulation.value, Decimal(product.strength_mcg_per_ml).normalize()),
        pack=_pack(product),
        lot=lot.lot_number,
        expiry=lot.expiry,
        opened_at=zone.local(vial.opened_at),
        discard_by=zone.local(vial.discard_by),
        opened_by=opener,
        opened_by_initials=initials(opener),
    )


def lot_label(session: Session, actor: Actor, lot_id: int) -> LotLabel:
    """A lot's label with its GS1 DataMatrix (GTIN, expiry, lot) for the box or the shelf. One query."""
    require(session, actor, Permission.MANAGE_STOCK)
    found = session.execute(
        select(Lot, Product).join(Product, Product.id == Lot.product_id).where(Lot.id == lot_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"No lot with id {lot_id}.")
    lot, product = found
    return LotLabel(
        product=drug_text(product.formulation.value, Decimal(product.strength_mcg_per_ml).normalize()),
        pack=_pack(product),
        lot=lot.lot_number,
        expiry=lot.expiry,
        gtin=product.gtin or "",
        storage=product.storage_note,
        lot_id=lot.id,
        product_id=product.id,
    )


def shelf_label(session: Session, actor: Actor, product_id: int) -> LotLabel:
    """A product's shelf label: its name, pack and storage, and its GTIN as a Code 128 (GS1-128)."""
    require(session, actor, Permission.MANAGE_STOCK)
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product with id {product_id}.")
    return LotLabel(
        product=drug_text(product.formulation.value, Decimal(product.strength_mcg_per_ml).normalize()),
        pack=_pack(product),
        lot="",
        expiry=None,
        gtin=product.gtin or "",
        storage=product.storage_note,
        product_id=product.id,
    )


def _every(phase: PhaseDef) -> str:
    if phase.interval_days == 1:
        return "daily"
    if phase.interval_days == 2:
        return "every other day"
    if phase.interval_days is not None:
        if phase.interval_days % 7 == 0:
            weeks = phase.interval_days // 7
            return "every week" if weeks == 1 else f"every {weeks} weeks"
        return f"every {phase.interval_days} days"
    return "once a week" if phase.times_per_week == 1 else f"{phase.times_per_week} times a week"


def phase_text(phase: PhaseDef, route: Route, strength_mcg_per_ml: Decimal) -> str:
    """ "Induction: 1,000 mcg (1 mL) IM 3 times a week, 6 doses", in words a patient can follow."""
    amount = format_mcg(phase.dose_mcg)
    if phase.taken_at_home or route == Route.ORAL:
        how = f"{amount} by mouth {_every(phase)}"
    else:
        volume = format_ml(dose_volume_ml(phase.dose_mcg, strength_mcg_per_ml))
        how = f"{amount} ({volume}) {ROUTE_TEXT[route]} {_every(phase)}"
    if phase.dose_count:
        length = f", {phase.dose_count} doses"
    elif phase.kind == PhaseKind.INDUCTION:
        length = " until reviewed"
    else:
        length = ""  # maintenance goes on: saying "for life" is the prescriber's, not the label's
    return f"{phase.kind.value.capitalize()}: {how}{length}"


def dose_card(session: Session, actor: Actor, patient_id: int, *, clock: Clock | None = None) -> DoseCard:
    """The card a patient takes home: why they have B12, the induction and maintenance schedule, the next
    appointments and follow-up checks, and whom to call."""
    require(session, actor, Permission.READ_PATIENTS)
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"No patient with id {patient_id}.")
    plan = session.scalars(
        select(TreatmentPlan)
        .where(
            TreatmentPlan.patient_id == patient_id,
            TreatmentPlan.status.in_((PlanStatus.VERIFIED, PlanStatus.ACTIVE)),
        )
        .order_by(TreatmentPlan.id.desc())
        .limit(1)
    ).first()
    if plan is None:
        raise NoLabel(
            f"{patient_name(patient.family_name, patient.given_name)} ({patient.mrn}) has no verified plan: "
            "a dose card needs one."
        )
    today = _clock(session, clock).today()
    strength = Decimal(plan.strength_mcg_per_ml).normalize()
    defs, ended, _, _ = plans.plan_phase_defs(session, plan)
    phases = tuple(phase_text(d, plan.route, strength) for i, d in enumerate(defs) if i not in ended)
    schedule = plans.plan_schedule(session, actor, plan.id, today=today)
    upcoming = [d.due for d in schedule.doses if d.status != DoseStatus.GIVEN and d.due >= today]
    # The task names are the staff's ("Platelet count at 7-10 days (reactive thrombocytosis)"): the
    # patient needs to know a blood test or a symptom review is due, and when.
    checks = sorted(
        {(t.due, CHECK_TEXT[t.kind]) for t in schedule.tasks if t.due > today and t.kind in CHECK_TEXT}
    )
    contact = clinic.clinic_contact(session)
    return DoseCard(
        patient_id=patient.id,
        patient=patient_name(patient.family_name, patient.given_name),
        mrn=patient.mrn,
        cause=CAUSE_LABELS[patient.cause],
        drug=drug_text(plan.formulation.value, strength),
        phases=phases,
        next_doses=tuple(sorted(upcoming)[:NEXT_DOSES_ON_CARD]),
        checks=tuple(checks[:CHECKS_ON_CARD]),
        clinic_name=contact.name,
        clinic_phone=contact.phone,
    )
