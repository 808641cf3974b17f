"""Doses: checking one before it is saved, recording it, and correcting a record afterwards.

The facts are read from the database as they are at the moment of the act (the patient's flags and
state, the plan's status and verified strength, the stock's expiry, discard-by and volume, the clinic's
limits) and handed to the one rule function, domain.dose_check.check_dose. A dose is written only when
nothing blocks and every warning is acknowledged with a reason and the nurse's password; the
administration, its stock movement, the schedule's update and the audit event are then written together
in one savepoint, so a refusal or a failure at any step leaves no trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from b12desk.clock import Clock
from b12desk.data.audit import append_event
from b12desk.data.models import (
    Administration,
    DoseAcknowledgement,
    Lot,
    Patient,
    Product,
    ScheduledEvent,
    Staff,
    SymptomScore,
    TreatmentPlan,
    Vial,
)
from b12desk.domain.dose_check import (
    DoseAttempt,
    DoseFacts,
    ExpectedDose,
    Finding,
    LotFacts,
    PastDose,
    PatientFacts,
    PlanFacts,
    ProductFacts,
    VialFacts,
    suggest_site,
    volume_to_draw,
)
from b12desk.domain.dose_check import (
    check_dose as run_checks,
)
from b12desk.domain.enums import (
    SYMPTOMS,
    AdministrationOutcome,
    EventKind,
    EventStatus,
    InjectionSite,
    PlanStatus,
    Reaction,
    RecordStatus,
    Route,
    VialStatus,
)
from b12desk.domain.permissions import Permission
from b12desk.domain.stock import (
    LotOption,
    OpenVialOption,
    choose_stock,
    is_expired,
    is_multi_use,
    preservatives_from_text,
)
from b12desk.domain.units import format_ml
from b12desk.services import auth, clinic, patients, plans
from b12desk.services import inventory as inventory_service
from b12desk.services.common import Actor, NotFound, ServiceError, ValidationFailed, require

HISTORY_WINDOW = timedelta(days=400)  # doses this near are enough for the spacing and site rules


@dataclass(frozen=True, slots=True)
class DoseRequest:
    """What the nurse entered. Left out: the patient's live plan, the plan's route, and now."""

    patient_id: int
    dose_mcg: Decimal
    site: InjectionSite | None = None
    product_id: int | None = None
    lot_id: int | None = None
    vial_id: int | None = None
    given_at: datetime | None = None
    plan_id: int | None = None
    route: Route | None = None
    outcome: AdministrationOutcome = AdministrationOutcome.GIVEN
    note: str = ""
    external: bool = False  # given at another clinic: no stock drawn here
    reaction: Reaction = Reaction.NONE
    self_administered: bool = False  # at home by a patient trained to self-inject (no stock drawn here)
    symptoms: Mapping[str, int] = field(default_factory=dict)  # SYMPTOMS scored at this visit, 0 to 3


@dataclass(frozen=True, slots=True)
class DoseCheck:
    """The findings for one attempt, and what the screen shows beside them."""

    findings: tuple[Finding, ...]
    plan_id: int | None
    given_at: datetime
    expected: ExpectedDose | None
    strength_mcg_per_ml: Decimal | None
    volume_ml: Decimal | None

    @property
    def hard_stops(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocks)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.blocks)

    def unacknowledged(self, acknowledged: Mapping[str, str]) -> tuple[Finding, ...]:
        return tuple(w for w in self.warnings if not acknowledged.get(w.code, "").strip())


class DoseRefused(ServiceError):
    """The dose was not saved: a hard stop, or a warning not acknowledged. Nothing was written."""

    def __init__(self, findings: Sequence[Finding], unacknowledged: Sequence[Finding] = ()) -> None:
        self.findings = tuple(findings)
        self.unacknowledged = tuple(unacknowledged)
        stops = [f for f in self.findings if f.blocks]
        if stops:
            text = "The dose cannot be saved: " + " ".join(f.message for f in stops)
        else:
            text = "Acknowledge each warning with a reason (and your password) before saving: " + " ".join(
                f.message for f in self.unacknowledged
            )
        super().__init__(text)


@dataclass(frozen=True, slots=True)
class AcknowledgementRow:
    code: str
    message: str
    reason: str


@dataclass(frozen=True, slots=True)
class AdministrationRow:
    id: int
    patient_id: int
    plan_id: int | None
    given_at: datetime
    dose_mcg: Decimal
    volume_ml: Decimal
    route: Route
    site: InjectionSite | None
    outcome: AdministrationOutcome
    given_by: str
    status: RecordStatus
    external: bool
    product_id: int | None
    lot_id: int | None
    vial_id: int | None
    note: str
    amends_id: int | None
    amendment_reason: str
    corrected_by: str
    corrected_at: datetime | None
    acknowledgements: tuple[AcknowledgementRow, ...] = ()
    reaction: Reaction = Reaction.NONE
    self_administered: bool = False


# --- gathering the facts -------------------------------------------------------------------------------


def _live_plan(session: Session, patient_id: int) -> TreatmentPlan | None:
    """The patient's verified or active plan (the newest, should there be two)."""
    return session.scalar(
        select(TreatmentPlan)
        .where(TreatmentPlan.patient_id == patient_id, TreatmentPlan.status.in_(plans.LIVE))
        .order_by(TreatmentPlan.id.desc())
        .limit(1)
    )


def _lot_facts(lot: Lot) -> LotFacts:
    return LotFacts(lot.id, lot.product_id, lot.lot_number, lot.expiry, lot.quantity_on_hand)


def _product_facts(product: Product) -> ProductFacts:
    return ProductFacts(
        id=product.id,
        label=inventory_service.label_of(product),
        formulation=product.formulation,
        strength_mcg_per_ml=Decimal(product.strength_mcg_per_ml).normalize(),
        container=product.container,
        volume_ml=Decimal(product.volume_ml).normalize(),
        for_deficiency=product.for_deficiency,
        active=product.active,
        preservatives=preservatives_from_text(product.preservatives),
    )


def _history(
    session: Session, patient_id: int, around: datetime, *, excluding: int | None = None
) -> list[PastDose]:
    """The patient's current, given doses near `around`, any plan."""
    stmt = select(Administration.id, Administration.given_at, Administration.site).where(
        Administration.patient_id == patient_id,
        Administration.outcome == AdministrationOutcome.GIVEN,
        Administration.status == RecordStatus.CURRENT,
        Administration.given_at >= around - HISTORY_WINDOW,
        Administration.given_at <= around + HISTORY_WINDOW,
    )
    if excluding is not None:
        stmt = stmt.where(Administration.id != excluding)
    return [PastDose(i, t, site) for i, t, site in session.execute(stmt)]


def _expected(
    session: Session, plan: TreatmentPlan, given_at: datetime, clock: Clock, *, excluding: int | None
) -> tuple[ExpectedDose | None, bool]:
    """What the schedule expects of this dose, and whether the plan is waiting for a review instead."""
    times = [
        t
        for i, t in session.execute(
            select(Administration.id, Administration.given_at).where(
                Administration.plan_id == plan.id,
                Administration.outcome == AdministrationOutcome.GIVEN,
                Administration.status == RecordStatus.CURRENT,
                Administration.given_at < given_at,
            )
        )
        if i != excluding
    ]
    given = sorted(clock.day_of(t) for t in times)
    return expected_from(plans.plan_expectations(session, plan), given, clock.day_of(given_at))


def expected_from(
    expectations: plans.PlanExpectations, given: list[date], day: date
) -> tuple[ExpectedDose | None, bool]:
    """What the schedule expects of a dose on `day` after the doses `given`, and whether the plan waits
    for a review instead."""
    found, waiting = expectations.of(given=given, day=day)
    if found is None:
        return None, waiting
    phase, number, dose = found
    return ExpectedDose(phase.kind, number, Decimal(dose).normalize(), phase.min_interval), False


def patient_facts(patient: Patient) -> PatientFacts:
    return PatientFacts(
        patient.id,
        patient.archived,
        patient.flag_lebers_disease,
        patient.flag_b12_hypersensitivity,
        patient.flag_benzyl_alcohol_sensitivity,
        patient.flag_cobalt_allergy,
        patient.self_injection_trained_on,
    )


def plan_facts(plan: TreatmentPlan, *, awaiting_review: bool = False) -> PlanFacts:
    return PlanFacts(
        id=plan.id,
        patient_id=plan.patient_id,
        status=plan.status,
        formulation=plan.formulation,
        strength_mcg_per_ml=Decimal(plan.strength_mcg_per_ml).normalize(),
        route=plan.route,
        start_date=plan.start_date,
        continues_elsewhere=plan.continues_elsewhere,
        hypersensitivity_override=bool(plan.override_reason.strip()),
        awaiting_review=awaiting_review,
    )


def _facts(
    session: Session, request: DoseRequest, clock: Clock, *, excluding: int | None = None
) -> tuple[DoseFacts, TreatmentPlan | None, Product | None]:
    patient = session.get(Patient, request.patient_id)
    if patient is None:
        raise NotFound(f"No patient with id {request.patient_id}.")
    plan = (
        session.get(TreatmentPlan, request.plan_id)
        if request.plan_id is not None
        else _live_plan(session, patient.id)
    )
    if request.plan_id is not None and plan is None:
        raise NotFound(f"No treatment plan with id {request.plan_id}.")
    now = clock.now()
    given_at = request.given_at or now
    if given_at.tzinfo is None:
        raise ValidationFailed({"given_at": "Give the time with its zone (clinic time)."})
    product = session.get(Product, request.product_id) if request.product_id is not None else None
    if request.product_id is not None and product is None:
        raise NotFound(f"No product with id {request.product_id}.")
    lot = session.get(Lot, request.lot_id) if request.lot_id is not None else None
    if request.lot_id is not None and lot is None:
        raise NotFound(f"No lot with id {request.lot_id}.")
    vial_facts = None
    if request.vial_id is not None:
        vial = session.get(Vial, request.vial_id)
        if vial is None:
            raise NotFound(f"No vial with id {request.vial_id}.")
        vial_lot = session.get(Lot, vial.lot_id)
        assert vial_lot is not None
        vial_facts = VialFacts(
            vial.id, _lot_facts(vial_lot), vial.status == VialStatus.OPEN, vial.discard_by, vial.remaining_ml
        )
    the_plan = None
    expected = None
    if plan is not None:
        expected, waiting = _expected(session, plan, given_at, clock, excluding=excluding)
        the_plan = plan_facts(plan, awaiting_review=waiting)
    attempt = DoseAttempt(
        patient_id=patient.id,
        given_at=given_at,
        dose_mcg=Decimal(request.dose_mcg).normalize(),
        route=request.route or (plan.route if plan is not None else Route.IM),
        site=request.site,
        outcome=request.outcome,
        external=request.external or request.self_administered,
        note=request.note,
        reaction=request.reaction,
        self_administered=request.self_administered,
    )
    facts = DoseFacts(
        attempt=attempt,
        patient=patient_facts(patient),
        plan=the_plan,
        expected=expected,
        product=_product_facts(product) if product is not None else None,
        lot=_lot_facts(lot) if lot is not None else None,
        vial=vial_facts,
        history=_history(session, patient.id, given_at, excluding=excluding),
        rules=clinic.dose_rules(session),
        now=now,
        zone=clock.zone,
    )
    return facts, plan, product


def _evaluate(session: Session, request: DoseRequest, clock: Clock) -> tuple[DoseCheck, DoseFacts]:
    facts, plan, _product = _facts(session, request, clock)
    strength = facts.product.strength_mcg_per_ml if facts.product is not None else None
    if strength is None and facts.plan is not None:
        strength = facts.plan.strength_mcg_per_ml
    check = DoseCheck(
        findings=run_checks(facts),
        plan_id=plan.id if plan is not None else None,
        given_at=facts.attempt.given_at,
        expected=facts.expected,
        strength_mcg_per_ml=strength,
        volume_ml=volume_to_draw(facts.attempt.dose_mcg, strength) if strength else None,
    )
    return check, facts


def check_dose(
    session: Session, actor: Actor, request: DoseRequest, *, clock: Clock | None = None
) -> DoseCheck:
    """The findings a dose would meet if it were saved now; writes nothing (the screen shows them)."""
    require(session, actor, Permission.READ_PATIENTS)
    check, _ = _evaluate(session, request, (clock or clinic.clinic_clock(session)).frozen())
    return check


# --- recording -----------------------------------------------------------------------------------------


def _signed_acknowledgements(
    session: Session,
    actor: Actor,
    check: DoseCheck,
    acknowledged: Mapping[str, str],
    password: str | None,
) -> list[Finding]:
    """Refuse unless nothing blocks and every warning carries a reason and the nurse's signature."""
    if check.hard_stops:
        raise DoseRefused(check.findings)
    missing = check.unacknowledged(acknowledged)
    if missing:
        raise DoseRefused(check.findings, missing)
    if check.warnings:
        if not password:
            raise ValidationFailed(
                {"password": "Acknowledging a warning needs your password again, as a signature."}
            )
        auth.reauthenticate(session, actor, password)
    return list(check.warnings)


def _write(
    session: Session,
    actor: Actor,
    request: DoseRequest,
    check: DoseCheck,
    facts: DoseFacts,
    warnings: list[Finding],
    acknowledged: Mapping[str, str],
    clock: Clock,
) -> Administration:
    """Stock first (a conditional update that may still find the vial emptied by another workstation),
    then the record, its movement, acknowledgements, the plan's status and schedule, and the audit."""
    attempt = facts.attempt
    assert check.plan_id is not None and check.volume_ml is not None
    plan = session.get(TreatmentPlan, check.plan_id)
    assert plan is not None
    draws = attempt.outcome == AdministrationOutcome.GIVEN and not attempt.external
    stock = None
    if draws:
        stock = inventory_service.reserve_dose_stock(
            session, volume_ml=check.volume_ml, vial_id=request.vial_id, lot_id=request.lot_id, clock=clock
        )
    administration = Administration(
        patient_id=attempt.patient_id,
        plan_id=plan.id,
        product_id=request.product_id,
        lot_id=stock.lot_id if stock is not None else request.lot_id,
        vial_id=request.vial_id,
        given_at=attempt.given_at,
        dose_mcg=attempt.dose_mcg,
        volume_ml=check.volume_ml if attempt.outcome == AdministrationOutcome.GIVEN else Decimal(0),
        route=attempt.route,
        site=attempt.site,
        outcome=attempt.outcome,
        note=attempt.note.strip(),
        given_by_id=actor.id,
        recorded_at=clock.utcnow(),
        status=RecordStatus.CURRENT,
        external=attempt.external,
        reaction=attempt.reaction,
        self_administered=attempt.self_administered,
    )
    session.add(administration)
    session.flush()
    if request.symptoms:
        session.add(
            SymptomScore(
                patient_id=attempt.patient_id,
                administration_id=administration.id,
                scored_at=attempt.given_at,
                recorded_by_id=actor.id,
                **dict(request.symptoms),
            )
        )
    if stock is not None:
        inventory_service.record_dose_drawn(
            session, actor, stock, administration_id=administration.id, clock=clock
        )
    for warning in warnings:
        session.add(
            DoseAcknowledgement(
                administration_id=administration.id,
                code=warning.code,
                message=warning.message,
                reason=acknowledged[warning.code].strip(),
                staff_id=actor.id,
            )
        )
    if plan.status == PlanStatus.VERIFIED and attempt.outcome == AdministrationOutcome.GIVEN:
        plan.status = PlanStatus.ACTIVE
    session.flush()
    plans.sync_events(session, plan, today=clock.today())
    append_event(
        session,
        staff_id=actor.id,
        action="create",
        entity="administration",
        entity_id=administration.id,
        new={
            "plan": plan.id,
            "patient": attempt.patient_id,
            "dose_mcg": attempt.dose_mcg,
            "volume_ml": administration.volume_ml,
            "route": attempt.route,
            "site": attempt.site,
            "outcome": attempt.outcome,
            "given_at": attempt.given_at,
            "external": attempt.external,
            "self_administered": attempt.self_administered,
            "reaction": attempt.reaction,
            "symptoms": dict(request.symptoms),
            "product": request.product_id,
            "lot": administration.lot_id,
            "vial": request.vial_id,
            "acknowledged": {w.code: acknowledged[w.code].strip() for w in warnings},
        },
    )
    if attempt.reaction == Reaction.ALLERGIC:
        _flag_hypersensitivity(session, actor, attempt.patient_id, attempt.given_at, clock)
    return administration


def _flag_hypersensitivity(
    session: Session, actor: Actor, patient_id: int, given_at: datetime, clock: Clock
) -> None:
    """An allergic reaction flags the patient as hypersensitive and sends every verified plan back to the
    pharmacist, in the same transaction as the dose."""
    patient = session.get(Patient, patient_id)
    assert patient is not None
    if not patient.flag_b12_hypersensitivity:
        patient.flag_b12_hypersensitivity = True
        session.flush()
        append_event(
            session,
            staff_id=actor.id,
            action="update",
            entity="patient",
            entity_id=patient.id,
            old={"flag_b12_hypersensitivity": False},
            new={"flag_b12_hypersensitivity": True},
            reason="Allergic reaction recorded with a dose.",
        )
    plans.return_for_review(
        session,
        actor,
        patient_id,
        reason=f"Allergic reaction after the dose of {clock.day_of(given_at).isoformat()}: the patient is "
        "now flagged as hypersensitive.",
    )


def _check_symptoms(symptoms: Mapping[str, int]) -> None:
    unknown = sorted(set(symptoms) - set(SYMPTOMS))
    if unknown:
        raise ValidationFailed({"symptoms": f"Unknown symptom {unknown[0]!r}: use {', '.join(SYMPTOMS)}."})
    bad = [name for name, score in symptoms.items() if not (isinstance(score, int) and 0 <= score <= 3)]
    if bad:
        raise ValidationFailed(
            {"symptoms": f"{SYMPTOMS[bad[0]]}: score it 0 (none), 1 (mild), 2 (moderate) or 3 (severe)."}
        )


def record_dose(
    session: Session,
    actor: Actor,
    request: DoseRequest,
    *,
    acknowledged: Mapping[str, str] | None = None,
    password: str | None = None,
    clock: Clock | None = None,
) -> AdministrationRow:
    """Check the dose against the facts as they are now and save it only if nothing blocks.

    acknowledged: {finding code: reason} for each warning the nurse accepts; with any warning, the
    nurse's password signs the acknowledgement. Raises DoseRefused, writing nothing, otherwise.
    """
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    clock = (clock or clinic.clinic_clock(session)).frozen()
    acknowledged = dict(acknowledged or {})
    _check_symptoms(request.symptoms)
    check, facts = _evaluate(session, request, clock)
    warnings = _signed_acknowledgements(session, actor, check, acknowledged, password)
    with session.begin_nested():
        administration = _write(session, actor, request, check, facts, warnings, acknowledged, clock)
    return _rows(session, [administration.id])[0]


def record_external_doses(
    session: Session,
    actor: Actor,
    *,
    plan_id: int,
    days: Sequence[date],
    note: str = "",
    acknowledged: Mapping[str, str] | None = None,
    password: str | None = None,
    clock: Clock | None = None,
) -> list[AdministrationRow]:
    """Doses a patient had at another clinic, one per day (at noon, clinic time), all or none.

    Each goes through the same check as a dose given here, without the stock rules: a future date, a
    second dose the same day or a date before the plan starts (unless the plan continues treatment begun
    elsewhere) is refused, and a warning (doses closer than the phase allows) must be acknowledged.
    """
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    clock = (clock or clinic.clinic_clock(session)).frozen()
    plan = session.get(TreatmentPlan, plan_id)
    if plan is None:
        raise NotFound(f"No treatment plan with id {plan_id}.")
    if not days:
        raise ValidationFailed({"given_at": "Add the date of at least one dose given elsewhere."})
    if len(set(days)) != len(days):
        raise ValidationFailed({"given_at": "The same date is listed twice."})
    acknowledged = dict(acknowledged or {})
    written: list[int] = []
    signed = False
    with session.begin_nested():
        for day in sorted(days):
            request = DoseRequest(
                patient_id=plan.patient_id,
                plan_id=plan.id,
                dose_mcg=_expected_amount(session, plan, clock, day),
                given_at=noon_or_now(day, clock),
                route=plan.route,
                note=note,
                external=True,
            )
            check, facts = _evaluate(session, request, clock)
            if check.hard_stops or check.unacknowledged(acknowledged):
                raise DoseRefused(
                    [replace(f, message=f"{day.isoformat()}: {f.message}") for f in check.findings],
                    [
                        replace(f, message=f"{day.isoformat()}: {f.message}")
                        for f in check.unacknowledged(acknowledged)
                    ],
                )
            if check.warnings and not signed:
                _signed_acknowledgements(session, actor, check, acknowledged, password)
                signed = True
            administration = _write(
                session, actor, request, check, facts, list(check.warnings), acknowledged, clock
            )
            written.append(administration.id)
    return _rows(session, written)


def noon_or_now(day: date, clock: Clock) -> datetime:
    """A dose given elsewhere on `day`: at noon, clinic time (the hour is not known), or now if today's
    noon has not come yet; a later day stays in the future, and the check refuses it."""
    noon = clock.at(day)
    return min(noon, clock.now()) if day == clock.today() else noon


def _expected_amount(session: Session, plan: TreatmentPlan, clock: Clock, day: date) -> Decimal:
    """The dose the plan's schedule expects on that day (doses given elsewhere were the plan's dose)."""
    expected, _waiting = _expected(session, plan, clock.at(day), clock, excluding=None)
    return expected.dose_mcg if expected is not None else Decimal(plan.dose_mcg).normalize()


# --- corrections ---------------------------------------------------------------------------------------


def _current(session: Session, administration_id: int) -> Administration:
    administration = session.get(Administration, administration_id)
    if administration is None:
        raise NotFound(f"No dose record with id {administration_id}.")
    if administration.status != RecordStatus.CURRENT:
        raise ValidationFailed(
            {
                "status": f"Dose record {administration_id} is already "
                f"{administration.status.value.replace('_', ' ')}: correct the current record instead."
            }
        )
    return administration


def _original_id(session: Session, administration: Administration) -> int:
    """The first record of an amendment chain: the one its stock movement names."""
    current = administration
    while current.amends_id is not None:
        earlier = session.get(Administration, current.amends_id)
        assert earlier is not None
        current = earlier
    return current.id


def mark_entered_in_error(
    session: Session,
    actor: Actor,
    administration_id: int,
    *,
    reason: str,
    password: str,
    clock: Clock | None = None,
) -> tuple[AdministrationRow, str]:
    """A dose record that should never have been made: it stays readable, marked, with the reason.

    What it drew goes back to its vial or lot when that can still be used; otherwise the ledger says why
    not. The schedule is worked out again. Returns the marked record and what happened to the stock.
    """
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    clock = (clock or clinic.clinic_clock(session)).frozen()
    if not reason.strip():
        raise ValidationFailed(
            {"reason": "Say why the record is wrong (e.g. recorded for the wrong patient)."}
        )
    administration = _current(session, administration_id)
    auth.reauthenticate(session, actor, password)
    with session.begin_nested():
        administration.status = RecordStatus.ENTERED_IN_ERROR
        administration.amendment_reason = reason.strip()
        administration.corrected_by_id, administration.corrected_at = actor.id, clock.utcnow()
        session.flush()
        stock = "nothing was drawn from stock for this dose"
        if administration.outcome == AdministrationOutcome.GIVEN and not administration.external:
            stock = inventory_service.return_dose_stock(
                session,
                actor,
                administration_id=_original_id(session, administration),
                reason=reason.strip(),
                clock=clock,
            )
        _resync(session, administration, clock)
        append_event(
            session,
            staff_id=actor.id,
            action="entered_in_error",
            entity="administration",
            entity_id=administration.id,
            old={"status": RecordStatus.CURRENT.value},
            new={"status": RecordStatus.ENTERED_IN_ERROR.value, "stock": stock},
            reason=reason.strip(),
        )
    return _rows(session, [administration.id])[0], stock


_UNCHANGED: object = object()


def amend_administration(
    session: Session,
    actor: Actor,
    administration_id: int,
    *,
    reason: str,
    site: InjectionSite | object | None = _UNCHANGED,
    given_at: datetime | None = None,
    note: str | None = None,
    clock: Clock | None = None,
) -> AdministrationRow:
    """Correct the site, time or note of a dose: a new record replaces the old, which stays readable,
    marked amended and linked. Stock is not touched (the same dose, the same draw)."""
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    clock = (clock or clinic.clinic_clock(session)).frozen()
    if not reason.strip():
        raise ValidationFailed({"reason": "Say why the record is corrected."})
    old = _current(session, administration_id)
    new_site = old.site if site is _UNCHANGED else site
    assert new_site is None or isinstance(new_site, InjectionSite)
    new_time = given_at or old.given_at
    new_note = old.note if note is None else note.strip()
    if (new_site, new_time, new_note) == (old.site, old.given_at, old.note):
        raise ValidationFailed({"reason": "Nothing differs from the record: change the site, time or note."})
    if given_at is not None and old.outcome == AdministrationOutcome.GIVEN:
        request = DoseRequest(
            patient_id=old.patient_id,
            plan_id=old.plan_id,
            dose_mcg=old.dose_mcg,
            given_at=new_time,
            route=old.route,
            site=new_site,
            external=True,  # the time is corrected; the stock was checked when the dose was drawn
        )
        facts, _, _ = _facts(session, request, clock, excluding=old.id)
        timing = [
            f
            for f in run_checks(facts)
            if f.blocks and f.code in ("time_in_future", "second_dose_same_day", "before_plan_start")
        ]
        if timing:
            raise ValidationFailed({"given_at": " ".join(f.message for f in timing)})
    elif given_at is not None and new_time > clock.now() + clinic.dose_rules(session).future_tolerance:
        raise ValidationFailed({"given_at": "A dose time cannot be in the future."})
    with session.begin_nested():
        new = Administration(
            patient_id=old.patient_id,
            plan_id=old.plan_id,
            scheduled_event_id=old.scheduled_event_id,
            product_id=old.product_id,
            lot_id=old.lot_id,
            vial_id=old.vial_id,
            given_at=new_time,
            dose_mcg=old.dose_mcg,
            volume_ml=old.volume_ml,
            route=old.route,
            site=new_site,
            outcome=old.outcome,
            note=new_note,
            given_by_id=old.given_by_id,
            recorded_at=clock.utcnow(),
            status=RecordStatus.CURRENT,
            amends_id=old.id,
            amendment_reason=reason.strip(),
            external=old.external,
        )
        old.status = RecordStatus.AMENDED
        old.corrected_by_id, old.corrected_at = actor.id, clock.utcnow()
        old.amendment_reason = reason.strip()
        session.add(new)
        session.flush()
        for ack in session.scalars(
            select(DoseAcknowledgement).where(DoseAcknowledgement.administration_id == old.id)
        ):
            session.add(
                DoseAcknowledgement(
                    administration_id=new.id,
                    code=ack.code,
                    message=ack.message,
                    reason=ack.reason,
                    staff_id=ack.staff_id,
                )
            )
        session.flush()
        _resync(session, new, clock)
        changes_old: dict[str, object] = {}
        changes_new: dict[str, object] = {}
        for name, before, after in (
            ("site", old.site, new_site),
            ("given_at", old.given_at, new_time),
            ("note", old.note, new_note),
        ):
            if before != after:
                changes_old[name], changes_new[name] = before, after
        append_event(
            session,
            staff_id=actor.id,
            action="amend",
            entity="administration",
            entity_id=old.id,
            old=changes_old,
            new=changes_new | {"replaced_by": new.id},
            reason=reason.strip(),
        )
    return _rows(session, [new.id])[0]


def _resync(session: Session, administration: Administration, clock: Clock) -> None:
    if administration.plan_id is None:
        return
    plan = session.get(TreatmentPlan, administration.plan_id)
    assert plan is not None
    plans.sync_events(session, plan, today=clock.today())


# --- reading -------------------------------------------------------------------------------------------


def _rows(session: Session, ids: Sequence[int]) -> list[AdministrationRow]:
    if not ids:
        return []
    records = {a.id: a for a in session.scalars(select(Administration).where(Administration.id.in_(ids)))}
    staff_ids = {a.given_by_id for a in records.values()} | {
        a.corrected_by_id for a in records.values() if a.corrected_by_id
    }
    names = dict(session.execute(select(Staff.id, Staff.full_name).where(Staff.id.in_(staff_ids))).all())
    acks: dict[int, list[AcknowledgementRow]] = {}
    for ack in session.scalars(
        select(DoseAcknowledgement)
        .where(DoseAcknowledgement.administration_id.in_(ids))
        .order_by(DoseAcknowledgement.id)
    ):
        acks.setdefault(ack.administration_id, []).append(
            AcknowledgementRow(ack.code, ack.message, ack.reason)
        )
    out = []
    for i in ids:
        a = records[i]
        out.append(
            AdministrationRow(
                id=a.id,
                patient_id=a.patient_id,
                plan_id=a.plan_id,
                given_at=a.given_at,
                dose_mcg=Decimal(a.dose_mcg).normalize(),
                volume_ml=Decimal(a.volume_ml).normalize(),
                route=a.route,
                site=a.site,
                outcome=a.outcome,
                given_by=names.get(a.given_by_id, ""),
                status=a.status,
                external=a.external,
                product_id=a.product_id,
                lot_id=a.lot_id,
                vial_id=a.vial_id,
                note=a.note,
                amends_id=a.amends_id,
                amendment_reason=a.amendment_reason,
                corrected_by=names.get(a.corrected_by_id, "") if a.corrected_by_id else "",
                corrected_at=a.corrected_at,
                acknowledgements=tuple(acks.get(a.id, ())),
                reaction=a.reaction,
                self_administered=a.self_administered,
            )
        )
    return out


def get_administration(session: Session, actor: Actor, administration_id: int) -> AdministrationRow:
    require(session, actor, Permission.READ_PATIENTS)
    if session.get(Administration, administration_id) is None:
        raise NotFound(f"No dose record with id {administration_id}.")
    return _rows(session, [administration_id])[0]


def patient_administrations(
    session: Session, actor: Actor, patient_id: int, *, limit: int = 200
) -> list[AdministrationRow]:
    """A patient's dose records, newest first, corrected ones included (the screen strikes them through)."""
    require(session, actor, Permission.READ_PATIENTS)
    ids = list(
        session.scalars(
            select(Administration.id)
            .where(Administration.patient_id == patient_id)
            .order_by(Administration.given_at.desc(), Administration.id.desc())
            .limit(limit)
        )
    )
    return _rows(session, ids)


# --- the due list, the site to use, and the log --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueRow:
    """A dose due today or overdue, from the scheduled events (the roster's "next due" agrees)."""

    event_id: int
    patient_id: int
    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date
    plan_id: int
    label: str  # "Induction dose 3: 1,000 mcg"
    due_on: date
    window_end: date

    def overdue(self, today: date) -> bool:
        return today > self.window_end


def due_doses(today: date) -> Select[*tuple[Any, ...]]:
    """Each live plan's next dose when it is due on or before `today` (clinic day), as one statement over
    the events, columns as DueRow's, overdue first. The one notion of "due" and "overdue" for doses: the due
    list, and the worklists of services.monitoring (which add their own conditions), are built on it. The
    next dose only: the ones after it move once it is given."""
    later = aliased(ScheduledEvent)
    first_of_plan = (
        select(func.min(later.due_on))
        .where(
            later.plan_id == ScheduledEvent.plan_id,
            later.status == EventStatus.DUE,
            later.kind == EventKind.DOSE,
        )
        .correlate(ScheduledEvent)
        .scalar_subquery()
    )
    return (
        select(
            ScheduledEvent.id,
            Patient.id,
            Patient.mrn,
            Patient.family_name,
            Patient.given_name,
            Patient.date_of_birth,
            ScheduledEvent.plan_id,
            ScheduledEvent.label,
            ScheduledEvent.due_on,
            ScheduledEvent.window_end,
        )
        .join(Patient, Patient.id == ScheduledEvent.patient_id)
        .join(TreatmentPlan, TreatmentPlan.id == ScheduledEvent.plan_id)
        .where(
            ScheduledEvent.status == EventStatus.DUE,
            ScheduledEvent.kind == EventKind.DOSE,
            ScheduledEvent.due_on <= today,
            ScheduledEvent.due_on == first_of_plan,
            TreatmentPlan.status.in_(plans.LIVE),
            Patient.archived.is_(False),
        )
        .order_by(ScheduledEvent.due_on, Patient.family_name, Patient.given_name, ScheduledEvent.id)
    )


def due_list(session: Session, actor: Actor, *, today: date | None = None) -> list[DueRow]:
    """Each live plan's next dose, when it is due on or before `today` (clinic day), overdue first: one
    statement over the events (due_doses)."""
    require(session, actor, Permission.READ_PATIENTS)
    today = today or clinic.clinic_clock(session).today()
    stmt = due_doses(today)
    return [
        DueRow(event_id, pid, mrn, family, given, born, plan_id, label, due_on, window_end)
        for event_id, pid, mrn, family, given, born, plan_id, label, due_on, window_end in session.execute(
            stmt
        )
    ]


@dataclass(frozen=True, slots=True)
class SiteAdvice:
    recent: tuple[tuple[datetime, InjectionSite], ...]  # the patient's last sites, newest first
    suggested: InjectionSite | None  # the least recently used site the clinic allows
    enabled: frozenset[InjectionSite]


def site_advice(
    session: Session, actor: Actor, patient_id: int, *, clock: Clock | None = None, recent: int = 8
) -> SiteAdvice:
    require(session, actor, Permission.READ_PATIENTS)
    clock = clock or clinic.clinic_clock(session)
    history = _history(session, patient_id, clock.now(), excluding=None)
    rules = clinic.dose_rules(session)
    used = sorted(
        ((d.given_at, d.site) for d in history if d.site is not None), key=lambda x: x[0], reverse=True
    )
    return SiteAdvice(
        tuple((t, s) for t, s in used[:recent] if s is not None),
        suggest_site(history, rules),
        frozenset(rules.enabled_sites()),
    )


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What the Administration tab's log shows: every field optional; the newest dose first."""

    given_from: date | None = None  # clinic days, inclusive
    given_to: date | None = None
    nurse_id: int | None = None
    patient: str = ""  # an MRN, or words of the name
    product_id: int | None = None
    lot_number: str = ""
    outcome: AdministrationOutcome | None = None


@dataclass(frozen=True, slots=True)
class LogRow:
    id: int
    given_at: datetime
    patient_id: int
    mrn: str
    patient_name: str
    dose_mcg: Decimal
    volume_ml: Decimal
    route: Route
    site: InjectionSite | None
    outcome: AdministrationOutcome
    reaction: Reaction
    product_id: int | None
    lot_number: str
    nurse: str
    status: RecordStatus
    external: bool
    self_administered: bool
    note: str
    amends_id: int | None  # this record corrects that one
    correction_reason: str  # why this record was corrected (if not current) or why it corrects another

    @property
    def key(self) -> tuple[datetime, int]:
        return self.given_at, self.id


LOG_PAGE = 200


@cache
def _log_select() -> Select[*tuple[Any, ...]]:
    """The log's columns and joins, built once (each page adds its conditions to a copy)."""
    return (
        select(
            Administration.id,
            Administration.given_at,
            Patient.id,
            Patient.mrn,
            Patient.family_name,
            Patient.given_name,
            Administration.dose_mcg,
            Administration.volume_ml,
            Administration.route,
            Administration.site,
            Administration.outcome,
            Administration.reaction,
            Administration.product_id,
            Lot.lot_number,
            Staff.full_name,
            Administration.status,
            Administration.external,
            Administration.self_administered,
            Administration.note,
            Administration.amends_id,
            Administration.amendment_reason,
        )
        .join(Patient, Patient.id == Administration.patient_id)
        .join(Staff, Staff.id == Administration.given_by_id)
        .outerjoin(Lot, Lot.id == Administration.lot_id)
    )


def administration_log(
    session: Session,
    actor: Actor,
    log_filter: LogFilter,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int = LOG_PAGE,
    clock: Clock | None = None,
) -> list[LogRow]:
    """One page of the log, newest first, filtered and paged in the database (keyset: the rows after
    `after`, the last row's (given_at, id) of the page before), never the whole table in memory."""
    require(session, actor, Permission.READ_PATIENTS)
    clock = clock or clinic.clinic_clock(session)
    f = log_filter
    stmt = _log_select()
    if f.given_from is not None:
        stmt = stmt.where(Administration.given_at >= clock.at(f.given_from, hour=0))
    if f.given_to is not None:
        stmt = stmt.where(Administration.given_at < clock.at(f.given_to + timedelta(days=1), hour=0))
    if f.nurse_id is not None:
        stmt = stmt.where(Administration.given_by_id == f.nurse_id)
    if f.product_id is not None:
        stmt = stmt.where(Administration.product_id == f.product_id)
    if f.outcome is not None:
        stmt = stmt.where(Administration.outcome == f.outcome)
    if f.lot_number.strip():
        lot_ids = session.scalars(select(Lot.id).where(Lot.lot_number == f.lot_number.strip().upper())).all()
        stmt = stmt.where(Administration.lot_id.in_(lot_ids))  # ids first: the lot's index, not a scan
    words = f.patient.split()
    if words:
        ids = _patients_matching(session, words)
        stmt = stmt.where(Administration.patient_id.in_(ids))
    if after is not None:
        at, last_id = after
        stmt = stmt.where(
            or_(
                Administration.given_at < at, and_(Administration.given_at == at, Administration.id < last_id)
            )
        )
    stmt = stmt.order_by(Administration.given_at.desc(), Administration.id.desc()).limit(limit)
    # Core rather than ORM results (plain columns: nothing for the ORM to load), built positionally.
    return [
        LogRow(
            r[0],
            r[1],
            r[2],
            r[3],
            f"{r[4].upper()}, {r[5]}",  # as the due list and the give-dose screen name them
            r[6].normalize(),
            r[7].normalize(),
            r[8],
            r[9],
            r[10],
            r[11],
            r[12],
            r[13] or "",
            r[14],
            r[15],
            r[16],
            r[17],
            r[18],
            r[19],
            r[20],
        )
        for r in session.connection().execute(stmt)
    ]


def _patients_matching(session: Session, words: Sequence[str]) -> list[int]:
    """Patients whose MRN is the first word, or whose names hold every word (a handful: filtered here)."""
    first = words[0].upper()
    by_mrn = list(session.scalars(select(Patient.id).where(Patient.mrn == first)))
    if by_mrn and len(words) == 1:
        return by_mrn
    stmt = select(Patient.id)
    for word in words:
        pattern = f"%{word.lower()}%"
        stmt = stmt.where(
            or_(func.lower(Patient.family_name).like(pattern), func.lower(Patient.given_name).like(pattern))
        )
    return by_mrn + list(session.scalars(stmt.limit(500)))


# --- what the give-dose screen shows --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StockOption:
    """One place a dose can be drawn from now: an open vial, or a single-use container of a lot."""

    product_id: int
    product_label: str
    lot_id: int
    lot_number: str
    expiry: date
    vial_id: int | None
    discard_by: datetime | None
    remaining_ml: Decimal | None
    sealed: int  # sealed containers of the lot
    suggested: bool  # the one to use first: the open vial to discard first, else FEFO

    def describe(self, clock: Clock) -> str:
        if self.vial_id is not None and self.discard_by is not None and self.remaining_ml is not None:
            return (
                f"{self.product_label}, lot {self.lot_number} (exp {self.expiry.isoformat()}), open vial "
                f"{self.vial_id}: {format_ml(self.remaining_ml)} left, discard by "
                f"{clock.local(self.discard_by):%Y-%m-%d %H:%M}"
            )
        return (
            f"{self.product_label}, lot {self.lot_number} (exp {self.expiry.isoformat()}): {self.sealed} "
            "sealed"
        )


@dataclass(frozen=True, slots=True)
class DosePatient:
    id: int
    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date
    archived: bool
    flags: tuple[str, ...]  # contraindications and cautions recorded, as the screen words them
    self_injection_trained_on: date | None
    self_injection_trainer: str


@dataclass(frozen=True, slots=True)
class DoseContext:
    """Everything the give-dose screen needs for one patient, read in one transaction."""

    patient: DosePatient
    plan: plans.PlanRow | None
    volume_ml: Decimal | None  # the plan's dose at its verified strength
    sites: SiteAdvice
    stock: tuple[StockOption, ...]


def find_patient_for_dose(session: Session, actor: Actor, mrn: str) -> int:
    """The patient whose MRN was typed or scanned at the give-dose screen."""
    require(session, actor, Permission.READ_PATIENTS)
    text = mrn.strip().upper()
    if not text:
        raise ValidationFailed({"mrn": "Type or scan the patient's MRN."})
    found = session.scalar(select(Patient.id).where(Patient.mrn == text))
    if found is None:
        raise ValidationFailed({"mrn": f"No patient has the MRN {text}: check it against the wristband."})
    return found


def dose_context(
    session: Session, actor: Actor, patient_id: int, *, clock: Clock | None = None
) -> DoseContext:
    require(session, actor, Permission.READ_PATIENTS)
    clock = clock or clinic.clinic_clock(session)
    p = session.get(Patient, patient_id)
    if p is None:
        raise NotFound(f"No patient with id {patient_id}.")
    patient = DosePatient(
        p.id,
        p.mrn,
        p.family_name,
        p.given_name,
        p.date_of_birth,
        p.archived,
        patients.flag_words(p),  # the same words as the plan screens and the queue
        p.self_injection_trained_on,
        p.self_injection_trainer,
    )
    plan = _live_plan(session, patient_id)
    plan_row = plans.get_plan(session, actor, plan.id) if plan is not None else None
    volume = None
    stock: tuple[StockOption, ...] = ()
    if plan is not None and plan.route != Route.ORAL:
        strength = Decimal(plan.strength_mcg_per_ml)
        volume = volume_to_draw(Decimal(plan.dose_mcg), strength)
        stock = _stock_options(session, plan.formulation, strength, volume, clock)
    return DoseContext(patient, plan_row, volume, site_advice(session, actor, patient_id, clock=clock), stock)


def _stock_options(
    session: Session, formulation: Any, strength: Decimal, volume: Decimal, clock: Clock
) -> tuple[StockOption, ...]:
    """Open vials and single-use lots of the plan's formulation and verified strength, usable now."""
    now = clock.now()
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(
                Product.formulation == formulation,
                Product.strength_mcg_per_ml == strength,
                Product.for_deficiency.is_(True),
                Product.active.is_(True),
            )
        )
    }
    if not products:
        return ()
    options: list[StockOption] = []
    vial_options, lot_options = [], []
    for vial, lot in session.execute(
        select(Vial, Lot)
        .join(Lot, Lot.id == Vial.lot_id)
        .where(Lot.product_id.in_(products), Vial.status == VialStatus.OPEN)
    ):
        if vial.discard_by <= now or is_expired(lot.expiry, now, clock.zone) or vial.remaining_ml < volume:
            continue
        vial_options.append(OpenVialOption(vial.id, lot.id, vial.discard_by, lot.expiry, vial.remaining_ml))
        options.append(
            StockOption(
                lot.product_id,
                inventory_service.label_of(products[lot.product_id]),
                lot.id,
                lot.lot_number,
                lot.expiry,
                vial.id,
                vial.discard_by,
                Decimal(vial.remaining_ml).normalize(),
                lot.quantity_on_hand,
                False,
            )
        )
    for lot in session.scalars(
        select(Lot).where(Lot.product_id.in_(products), Lot.quantity_on_hand > 0).order_by(Lot.expiry)
    ):
        product = products[lot.product_id]
        if is_multi_use(product.container) or is_expired(lot.expiry, now, clock.zone):
            continue  # a multi-dose vial is opened first (Inventory), then drawn from
        lot_options.append(LotOption(lot.id, lot.expiry, lot.quantity_on_hand))
        options.append(
            StockOption(
                lot.product_id,
                inventory_service.label_of(product),
                lot.id,
                lot.lot_number,
                lot.expiry,
                None,
                None,
                None,
                lot.quantity_on_hand,
                False,
            )
        )
    choice = choose_stock(vial_options, lot_options, volume, now, clock.zone)
    if choice is not None:
        options = [
            replace(o, suggested=True) if (o.vial_id, o.lot_id) == (choice.vial_id, choice.lot_id) else o
            for o in options
        ]
    options.sort(key=lambda o: (not o.suggested, o.vial_id is None, o.expiry, o.lot_number))
    return tuple(options)


def log_products(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """Every product a dose may name, by label, for the log's filter (no stock totals: see inventory)."""
    require(session, actor, Permission.READ_PATIENTS)
    labelled = [(p.id, inventory_service.label_of(p)) for p in session.scalars(select(Product))]
    return sorted(labelled, key=lambda item: item[1].casefold())


def log_staff(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """Everyone who may appear in the log as having recorded a dose, former staff included, by name."""
    require(session, actor, Permission.READ_PATIENTS)
    return [
        (i, name) for i, name in session.execute(select(Staff.id, Staff.full_name).order_by(Staff.full_name))
    ]
