"""A patient's treatment record, gathered for printing: who the patient is and what to beware of, every
plan with its verification, every dose record (corrected and entered-in-error ones too, with why and by
whom), every laboratory result, and the haemoglobin and serum B12 trends. Plain frozen dataclasses with
times already in clinic time, read in a fixed number of statements whatever the length of the record;
exports/patient_report.py only lays them out.

API: ``patient_record(session, actor, patient_id, *, clock=None) -> PatientRecord`` needs READ_PATIENTS
and writes one audit event (action "export", entity "patient") in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from b12desk.clock import Clock
from b12desk.data.audit import append_event
from b12desk.data.models import Administration, AuditEvent, LabResult, Lot, Patient, Product, Staff
from b12desk.data.reference import lab_tests
from b12desk.domain.enums import (
    CAUSE_LABELS,
    OUTCOME_LABELS,
    REACTION_LABELS,
    SITE_LABELS,
    RecordStatus,
    Route,
)
from b12desk.domain.lab_bands import BAND_LABELS
from b12desk.domain.permissions import Permission
from b12desk.domain.regimens import PhaseDef
from b12desk.domain.units import format_mcg, format_ml
from b12desk.services import clinic, plans, trends
from b12desk.services.common import Actor, NotFound, require
from b12desk.services.label_data import CONTAINER_TEXT, ROUTE_TEXT, drug_text, patient_name, phase_text
from b12desk.services.patients import FLAG_WORDS

# The analytes charted on the record, in this order (trends.PREFERRED_TESTS: haemoglobin, serum B12).
CHARTED = trends.PREFERRED_TESTS
STATUS_WORDS = {
    RecordStatus.CURRENT: "current",
    RecordStatus.AMENDED: "corrected",
    RecordStatus.ENTERED_IN_ERROR: "entered in error",
}


@dataclass(frozen=True, slots=True)
class RecordPatient:
    id: int
    mrn: str
    name: str  # "REID, Ann"
    date_of_birth: date
    sex: str
    cause: str  # "Pernicious anaemia"
    neuro_involvement: bool
    neuro_symptoms: str
    pregnant_or_breastfeeding: bool
    flags: tuple[str, ...]  # contraindications and cautions, in the words every screen uses
    allergies: str  # as typed; "" when none recorded
    self_injection_trained_on: date | None
    archived: bool


@dataclass(frozen=True, slots=True)
class RecordPhase:
    text: str  # "Induction: 1,000 mcg (1 mL) IM 3 times a week, 6 doses"
    ended_on: date | None
    end_reason: str


@dataclass(frozen=True, slots=True)
class RecordPlan:
    id: int
    template: str  # "UK hydroxocobalamin, no neurological involvement (v1)"
    drug: str  # "Hydroxocobalamin 1,000 mcg/mL"
    dose_text: str  # "1,000 mcg (1 mL of 1,000 mcg/mL)"
    route: str
    start_date: date
    status: str
    prescriber: str
    indication: str
    author: str
    verified_by: str  # "" when not verified
    verified_at: datetime | None  # clinic time
    verification_meaning: str
    end_reason: str
    override_reason: str
    review_reason: str
    supplied_as: str
    phases: tuple[RecordPhase, ...]


@dataclass(frozen=True, slots=True)
class RecordDose:
    id: int
    given_at: datetime  # clinic time
    dose_mcg: Decimal
    volume_ml: Decimal
    route: str  # "IM", "deep subcut", "by mouth"
    site: str  # "left ventrogluteal"; "" when not recorded
    product: str  # "Cobalin-H 1 mL ampoule"; "" when not recorded
    lot: str
    nurse: str  # full name of who gave (or recorded) it
    outcome: str  # "Given", "Refused", ...
    reaction: str  # "" when none
    status: RecordStatus
    external: bool  # given elsewhere, entered afterwards
    self_administered: bool
    note: str
    amends_id: int | None  # this record replaces that one
    reason: str  # why this record was corrected, or why it replaces another
    corrected_by: str  # who corrected it (not current only)
    corrected_at: datetime | None  # clinic time

    @property
    def struck(self) -> bool:
        return self.status != RecordStatus.CURRENT

    @property
    def dose_text(self) -> str:
        """ISMP style: "1,000 mcg (1 mL)", or "1,000 mcg" by mouth."""
        if self.route == ROUTE_TEXT[Route.ORAL]:
            return format_mcg(self.dose_mcg)
        return f"{format_mcg(self.dose_mcg)} ({format_ml(self.volume_ml)})"


@dataclass(frozen=True, slots=True)
class RecordLab:
    id: int
    taken_on: date
    test: str  # "Serum vitamin B12"
    result: str  # "245 ng/L"
    band: str  # "Deficient", "" when the test has no thresholds
    context: str  # "baseline", "follow up"
    note: str
    status: RecordStatus
    entered_by: str
    reason: str  # why it was marked entered in error ("" when current)

    @property
    def struck(self) -> bool:
        return self.status != RecordStatus.CURRENT


@dataclass(frozen=True, slots=True)
class PatientRecord:
    patient: RecordPatient
    plans: tuple[RecordPlan, ...]  # oldest first
    doses: tuple[RecordDose, ...]  # oldest first, every record
    labs: tuple[RecordLab, ...]  # oldest first, every result
    trends: tuple[trends.LabTrend, ...]  # haemoglobin, then serum B12
    clinic_name: str  # "" when not set
    clinic_phone: str
    printed_at: datetime  # clinic time
    printed_by: str  # the actor's full name
    zone_name: str  # "Europe/London"


def _phase_text(phase: plans.PhaseRow, route: Route, strength: Decimal) -> str:
    definition = PhaseDef(
        kind=phase.kind,
        dose_mcg=phase.dose_mcg,
        interval_days=phase.interval_days,
        times_per_week=phase.times_per_week,
        dose_count=phase.dose_count,
        route=Route.ORAL if route == Route.ORAL else None,
    )
    return phase_text(definition, route, strength)


def _plan(row: plans.PlanRow, clock: Clock) -> RecordPlan:
    return RecordPlan(
        id=row.id,
        template=f"{row.template_name} (v{row.template_version})",
        drug=drug_text(row.formulation.value, row.strength_mcg_per_ml),
        dose_text=row.dose_text,
        route=ROUTE_TEXT[row.route],
        start_date=row.start_date,
        status=row.status.value.replace("_", " "),
        prescriber=row.prescriber,
        indication=row.indication,
        author=row.author,
        verified_by=row.verified_by or "",
        verified_at=clock.local(row.verified_at) if row.verified_at is not None else None,
        verification_meaning=row.verification_meaning,
        end_reason=row.end_reason,
        override_reason=row.override_reason,
        review_reason=row.review_reason,
        supplied_as=row.supplied_as,
        phases=tuple(
            RecordPhase(_phase_text(p, row.route, row.strength_mcg_per_ml), p.ended_on, p.end_reason)
            for p in row.phases
        ),
    )


def _doses(session: Session, patient_id: int, clock: Clock) -> tuple[RecordDose, ...]:
    """Every dose record of the patient, oldest first, in one statement."""
    giver, corrector = aliased(Staff), aliased(Staff)
    stmt = (
        select(
            Administration.id,
            Administration.given_at,
            Administration.dose_mcg,
            Administration.volume_ml,
            Administration.route,
            Administration.site,
            Product.brand,
            Product.manufacturer,
            Product.volume_ml,
            Product.container,
            Lot.lot_number,
            giver.full_name,
            Administration.outcome,
            Administration.reaction,
            Administration.status,
            Administration.external,
            Administration.self_administered,
            Administration.note,
            Administration.amends_id,
            Administration.amendment_reason,
            corrector.full_name,
            Administration.corrected_at,
        )
        .join(giver, giver.id == Administration.given_by_id)
        .outerjoin(corrector, corrector.id == Administration.corrected_by_id)
        .outerjoin(Product, Product.id == Administration.product_id)
        .outerjoin(Lot, Lot.id == Administration.lot_id)
        .where(Administration.patient_id == patient_id)
        .order_by(Administration.given_at, Administration.id)
    )
    zone = clock.zone
    out = []
    for r in session.connection().execute(stmt):
        product = ""
        if r[9] is not None:
            maker = r[6] or r[7]
            product = f"{maker} {format_ml(Decimal(r[8]).normalize())} {CONTAINER_TEXT[r[9]]}"
        out.append(
            RecordDose(
                id=r[0],
                given_at=r[1].astimezone(zone),
                dose_mcg=Decimal(r[2]).normalize(),
                volume_ml=Decimal(r[3]).normalize(),
                route=ROUTE_TEXT[r[4]],
                site=SITE_LABELS[r[5]] if r[5] else "",
                product=product,
                lot=r[10] or "",
                nurse=r[11],
                outcome=OUTCOME_LABELS[r[12]],
                reaction="" if r[13] is None or r[13].value == "none" else REACTION_LABELS[r[13]],
                status=r[14],
                external=bool(r[15]),
                self_administered=bool(r[16]),
                note=r[17] or "",
                amends_id=r[18],
                reason=r[19] or "",
                corrected_by=r[20] or "",
                corrected_at=r[21].astimezone(zone) if r[21] is not None else None,
            )
        )
    return tuple(out)


def _labs(session: Session, patient_id: int) -> tuple[RecordLab, ...]:
    """Every result, oldest first, and why any was marked in error: two statements."""
    rows = session.execute(
        select(LabResult, Staff.full_name)
        .join(Staff, Staff.id == LabResult.entered_by_id)
        .where(LabResult.patient_id == patient_id)
        .order_by(LabResult.taken_on, LabResult.id)
    ).all()
    wrong = [str(lab.id) for lab, _ in rows if lab.status != RecordStatus.CURRENT]
    reasons: dict[str, str] = {}
    if wrong:
        for entity_id, reason in session.execute(
            select(AuditEvent.entity_id, AuditEvent.reason)
            .where(
                AuditEvent.entity == "lab_result",
                AuditEvent.action == "entered_in_error",
                AuditEvent.entity_id.in_(wrong),
            )
            .order_by(AuditEvent.id)
        ):
            reasons[entity_id] = reason
    tests, bands = lab_tests(), clinic.lab_bands(session)
    out = []
    for lab, entered_by in rows:
        test = tests.get(lab.test_code)
        banded = bands.band(lab.test_code, lab.value_canonical)
        out.append(
            RecordLab(
                id=lab.id,
                taken_on=lab.taken_on,
                test=test.name if test else lab.test_code,
                result=f"{lab.value_text} {lab.unit}".strip(),
                band=BAND_LABELS[banded[0]] if banded else "",
                context=lab.context.value.replace("_", " "),
                note=lab.note or "",
                status=lab.status,
                entered_by=entered_by,
                reason=reasons.get(str(lab.id), ""),
            )
        )
    return tuple(out)


def _patient(p: Patient) -> RecordPatient:
    flags = tuple(text for name, text in FLAG_WORDS.items() if getattr(p, name))
    allergies = " ".join((p.allergies or "").split())
    none = {"", "none", "none known", "nil", "nil known", "nka", "nkda", "no known allergies"}
    return RecordPatient(
        id=p.id,
        mrn=p.mrn,
        name=patient_name(p.family_name, p.given_name),
        date_of_birth=p.date_of_birth,
        sex=p.sex.value,
        cause=CAUSE_LABELS[p.cause],
        neuro_involvement=p.neuro_involvement,
        neuro_symptoms=p.neuro_symptoms or "",
        pregnant_or_breastfeeding=p.pregnant_or_breastfeeding,
        flags=flags,
        allergies="" if allergies.lower().rstrip(".") in none else allergies,
        self_injection_trained_on=p.self_injection_trained_on,
        archived=p.archived,
    )


def patient_record(
    session: Session, actor: Actor, patient_id: int, *, clock: Clock | None = None
) -> PatientRecord:
    """The whole treatment record of one patient, and an audit event saying it was exported."""
    require(session, actor, Permission.READ_PATIENTS)
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"No patient with id {patient_id}.")
    clock = (clock or clinic.clinic_clock(session)).frozen()
    plan_rows = sorted(plans.plans_for_patient(session, actor, patient_id), key=lambda p: p.id)
    charted = tuple(trends.lab_trend(session, actor, patient_id, code, clock=clock) for code in CHARTED)
    contact = clinic.clinic_contact(session)
    record = PatientRecord(
        patient=_patient(patient),
        plans=tuple(_plan(row, clock) for row in plan_rows),
        doses=_doses(session, patient_id, clock),
        labs=_labs(session, patient_id),
        trends=charted,
        clinic_name=contact.name,
        clinic_phone=contact.phone,
        printed_at=clock.now(),
        printed_by=actor.full_name,
        zone_name=clock.zone_name,
    )
    append_event(
        session,
        staff_id=actor.id,
        action="export",
        entity="patient",
        entity_id=patient_id,
        new={
            "report": "treatment record",
            "doses": len(record.doses),
            "labs": len(record.labs),
            "plans": len(record.plans),
        },
    )
    return record
