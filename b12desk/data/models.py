"""The whole b12desk schema as SQLAlchemy 2.0 typed models; Alembic migrations are made from these."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from b12desk.data.types import UTCDateTime, utcnow
from b12desk.domain.enums import (
    AdministrationOutcome,
    Cause,
    Container,
    EventKind,
    EventStatus,
    Formulation,
    InjectionSite,
    LabContext,
    MovementKind,
    PhaseKind,
    PlanStatus,
    Presentation,
    Reaction,
    RecordStatus,
    Role,
    Route,
    Sex,
    VialStatus,
)
from b12desk.domain.stock import WasteReason

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """Stored as the enum's value in a VARCHAR with a CHECK constraint, the same on both engines."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Numeric(12, 3)}


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, default=1)
    # Sign-in lockout: wrong passwords since the last success, the end of the current lock, and how many
    # locks since the last success (each one longer than the one before).
    failed_sign_ins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None]
    lockouts: Mapped[int] = mapped_column(Integer, server_default="0")

    __mapper_args__ = {"version_id_col": version_id}


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(32), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, "sex"), default=Sex.UNKNOWN)
    phone: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[Cause] = mapped_column(str_enum(Cause, "cause"), default=Cause.UNKNOWN)
    presentation: Mapped[Presentation] = mapped_column(
        str_enum(Presentation, "presentation"), default=Presentation.NOT_RECORDED
    )
    neuro_involvement: Mapped[bool] = mapped_column(Boolean, default=False)
    neuro_symptoms: Mapped[str] = mapped_column(Text, default="")
    pregnant_or_breastfeeding: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_b12_hypersensitivity: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_lebers_disease: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_benzyl_alcohol_sensitivity: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_cobalt_allergy: Mapped[bool] = mapped_column(Boolean, default=False)
    self_injection_trained_on: Mapped[date | None] = mapped_column(Date)  # may report home doses
    self_injection_trainer: Mapped[str] = mapped_column(String(200), default="")
    allergies: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None]
    archive_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (Index("ix_patients_name", "family_name", "given_name"),)


class LabResult(Base):
    __tablename__ = "lab_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    test_code: Mapped[str] = mapped_column(String(40))
    context: Mapped[LabContext] = mapped_column(str_enum(LabContext, "lab_context"))
    taken_on: Mapped[date] = mapped_column(Date)
    value_text: Mapped[str] = mapped_column(String(40))
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    unit: Mapped[str] = mapped_column(String(20))
    value_canonical: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    canonical_unit: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[RecordStatus] = mapped_column(
        str_enum(RecordStatus, "record_status"), default=RecordStatus.CURRENT
    )
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("lab_results.id"))
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_lab_results_patient_taken", "patient_id", "taken_on"),
        # A patient's latest result of one test (haemoglobin before and 8 weeks after treatment began).
        Index("ix_lab_results_patient_test_taken", "patient_id", "test_code", "taken_on"),
    )


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    formulation: Mapped[Formulation] = mapped_column(str_enum(Formulation, "formulation"))
    manufacturer: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(200), default="")
    strength_mcg_per_ml: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    container: Mapped[Container] = mapped_column(str_enum(Container, "container"))
    volume_ml: Mapped[Decimal] = mapped_column(Numeric(8, 3))
    preservative: Mapped[str] = mapped_column(String(200), default="")  # as the label words it
    # Structured: comma-separated Preservative codes; "" preservative-free; NULL not yet confirmed.
    preservatives: Mapped[str | None] = mapped_column(String(200))
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)  # the pack's (carton's) code
    # The vial's or ampoule's own code (unit of use), where it differs from the pack's: a scan of either
    # finds the product (clinical-facts 4: store both pack and vial codes where known).
    unit_gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    unit_ndc: Mapped[str | None] = mapped_column(String(20))
    ndc: Mapped[str | None] = mapped_column(String(20))
    storage_note: Mapped[str] = mapped_column(Text, default="")
    beyond_use_days: Mapped[int | None]
    reorder_level: Mapped[int] = mapped_column(Integer, default=0)
    for_deficiency: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        CheckConstraint("strength_mcg_per_ml > 0", name="strength_positive"),
        CheckConstraint("volume_ml > 0", name="volume_positive"),
    )


class Lot(Base):
    __tablename__ = "lots"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    lot_number: Mapped[str] = mapped_column(String(20))
    expiry: Mapped[date] = mapped_column(Date)
    supplier: Mapped[str] = mapped_column(String(200), default="")
    received_on: Mapped[date] = mapped_column(Date)
    quantity_on_hand: Mapped[int] = mapped_column(Integer)  # sealed containers
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        UniqueConstraint("product_id", "lot_number"),
        CheckConstraint("quantity_on_hand >= 0", name="quantity_not_negative"),
    )


class Vial(Base):
    """An opened multi-dose vial: its own remaining volume and discard-by date."""

    __tablename__ = "vials"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    opened_at: Mapped[datetime]
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    discard_by: Mapped[datetime]
    remaining_ml: Mapped[Decimal] = mapped_column(Numeric(8, 3))
    status: Mapped[VialStatus] = mapped_column(str_enum(VialStatus, "vial_status"), default=VialStatus.OPEN)
    discarded_at: Mapped[datetime | None]
    discard_reason: Mapped[str] = mapped_column(Text, default="")
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        CheckConstraint("remaining_ml >= 0", name="remaining_not_negative"),
        Index("ix_vials_lot_status", "lot_id", "status"),
    )


class StockMovement(Base):
    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    vial_id: Mapped[int | None] = mapped_column(ForeignKey("vials.id"))
    kind: Mapped[MovementKind] = mapped_column(str_enum(MovementKind, "movement_kind"))
    containers: Mapped[int] = mapped_column(Integer, default=0)  # signed change of sealed containers
    volume_ml: Mapped[Decimal] = mapped_column(Numeric(8, 3), default=Decimal(0))  # signed change in a vial
    waste_reason: Mapped[WasteReason | None] = mapped_column(str_enum(WasteReason, "waste_reason"))
    reason: Mapped[str] = mapped_column(Text, default="")
    administration_id: Mapped[int | None] = mapped_column(ForeignKey("administrations.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))  # supplied to take home
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_stock_movements_lot_at", "lot_id", "at"),
        Index("ix_stock_movements_patient", "patient_id"),  # what a patient took home (their history)
    )


class RegimenTemplate(Base):
    """One version of a regimen template; editing makes a new version and plans keep theirs."""

    __tablename__ = "regimen_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    formulation: Mapped[Formulation] = mapped_column(str_enum(Formulation, "formulation"))
    source: Mapped[str] = mapped_column(Text)
    definition: Mapped[str] = mapped_column(Text)  # canonical JSON: phases, doses, intervals, tasks
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("code", "version"),)


class TreatmentPlan(Base):
    __tablename__ = "treatment_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("regimen_templates.id"))
    formulation: Mapped[Formulation] = mapped_column(str_enum(Formulation, "formulation"))
    dose_mcg: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    # The product strength prescribed, and verified with the rest: a dose from another strength is refused.
    strength_mcg_per_ml: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    route: Mapped[Route] = mapped_column(str_enum(Route, "route"))
    start_date: Mapped[date] = mapped_column(Date)
    # Treatment began at another clinic: doses dated before start_date may be entered (the queue says so).
    continues_elsewhere: Mapped[bool] = mapped_column(Boolean, default=False)
    supplied_as: Mapped[str] = mapped_column(Text, default="")  # oral plans: what was supplied
    prescriber: Mapped[str] = mapped_column(String(200))
    indication: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[PlanStatus] = mapped_column(str_enum(PlanStatus, "plan_status"), default=PlanStatus.DRAFT)
    author_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    verified_at: Mapped[datetime | None]
    verification_meaning: Mapped[str] = mapped_column(Text, default="")
    verified_snapshot: Mapped[str] = mapped_column(Text, default="")  # what was verified, to diff later
    # Why a verified plan came back to the queue without an edit of its own (e.g. a new contraindication).
    review_reason: Mapped[str] = mapped_column(Text, default="")
    end_reason: Mapped[str] = mapped_column(Text, default="")
    conditions: Mapped[str] = mapped_column(String(200), default="")  # e.g. "severe_anaemia"
    override_reason: Mapped[str] = mapped_column(Text, default="")
    override_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        Index("ix_treatment_plans_patient_status", "patient_id", "status"),
        CheckConstraint("dose_mcg > 0", name="dose_positive"),
        CheckConstraint("strength_mcg_per_ml > 0", name="strength_positive"),
    )


class PlanPhase(Base):
    __tablename__ = "plan_phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("treatment_plans.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[PhaseKind] = mapped_column(str_enum(PhaseKind, "phase_kind"))
    dose_mcg: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    interval_days: Mapped[int | None]
    times_per_week: Mapped[int | None]
    dose_count: Mapped[int | None]  # None: open-ended, a clinical review ends it
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("plan_id", "seq"),
        Index("ix_plan_phases_plan_open", "plan_id", "ended_on", "seq"),  # a plan's current phase
    )


class ScheduledEvent(Base):
    __tablename__ = "scheduled_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("treatment_plans.id"))
    phase_id: Mapped[int | None] = mapped_column(ForeignKey("plan_phases.id"))
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind, "event_kind"))
    label: Mapped[str] = mapped_column(String(200))
    lab_test_code: Mapped[str | None] = mapped_column(String(40))
    due_on: Mapped[date] = mapped_column(Date)
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    status: Mapped[EventStatus] = mapped_column(
        str_enum(EventStatus, "event_status"), default=EventStatus.DUE
    )
    # Who closed a task and how (services.monitoring): done with its result or note, missed with a reason.
    # A sync closes events too (a dose given, a plan stopped): those carry no person.
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # A server default too: bulk loaders (demo data) name only the columns they fill.
    close_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    lab_result_id: Mapped[int | None] = mapped_column(ForeignKey("lab_results.id"))

    __table_args__ = (
        # Covers "next due dose per patient" as one index seek per patient (the roster, the calendar).
        Index("ix_scheduled_events_patient_status_kind_due", "patient_id", "status", "kind", "due_on"),
        Index("ix_scheduled_events_status_due", "status", "due_on"),
        # A plan's due events in date order (sync_events): without due_on here, SQLite walks every due
        # event of the clinic by the index above rather than sort a plan's handful.
        Index("ix_scheduled_events_plan_status_due", "plan_id", "status", "due_on"),
        # A phase's due doses and reviews (the worklists of services.monitoring: induction complete,
        # an open-ended phase waiting for its review): an index seek per phase, not a scan of the events.
        Index("ix_scheduled_events_phase_status_kind_due", "phase_id", "status", "kind", "due_on"),
    )


class Administration(Base):
    __tablename__ = "administrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_plans.id"))
    scheduled_event_id: Mapped[int | None] = mapped_column(ForeignKey("scheduled_events.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))
    vial_id: Mapped[int | None] = mapped_column(ForeignKey("vials.id"))
    given_at: Mapped[datetime]
    dose_mcg: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    volume_ml: Mapped[Decimal] = mapped_column(Numeric(8, 3))
    route: Mapped[Route] = mapped_column(str_enum(Route, "route"))
    site: Mapped[InjectionSite | None] = mapped_column(str_enum(InjectionSite, "injection_site"))
    outcome: Mapped[AdministrationOutcome] = mapped_column(
        str_enum(AdministrationOutcome, "administration_outcome")
    )
    note: Mapped[str] = mapped_column(Text, default="")
    given_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[RecordStatus] = mapped_column(
        str_enum(RecordStatus, "record_status"), default=RecordStatus.CURRENT
    )
    amends_id: Mapped[int | None] = mapped_column(ForeignKey("administrations.id"))
    amendment_reason: Mapped[str] = mapped_column(Text, default="")  # why this record was corrected
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    corrected_at: Mapped[datetime | None]
    external: Mapped[bool] = mapped_column(Boolean, default=False)  # given elsewhere, entered afterwards
    reaction: Mapped[Reaction] = mapped_column(str_enum(Reaction, "reaction"), default=Reaction.NONE)
    self_administered: Mapped[bool] = mapped_column(Boolean, default=False)  # at home, by a trained patient

    __table_args__ = (
        Index("ix_administrations_patient_given", "patient_id", "given_at"),
        Index("ix_administrations_plan_given", "plan_id", "given_at"),
        # The Administration tab's log: newest first, by itself or within a lot, product or nurse.
        Index("ix_administrations_given", "given_at", "id"),
        Index("ix_administrations_lot_given", "lot_id", "given_at"),
        Index("ix_administrations_product_given", "product_id", "given_at"),
        Index("ix_administrations_staff_given", "given_by_id", "given_at"),
        Index("ix_administrations_outcome_given", "outcome", "given_at"),  # the refused, the held
    )


class SymptomScore(Base):
    """Symptoms scored at a visit (each 0 none to 3 severe; None: not asked), to follow the response."""

    __tablename__ = "symptom_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    administration_id: Mapped[int | None] = mapped_column(ForeignKey("administrations.id"))
    scored_at: Mapped[datetime]
    fatigue: Mapped[int | None] = mapped_column(SmallInteger)
    tingling: Mapped[int | None] = mapped_column(SmallInteger)
    balance: Mapped[int | None] = mapped_column(SmallInteger)
    memory_mood: Mapped[int | None] = mapped_column(SmallInteger)
    appetite: Mapped[int | None] = mapped_column(SmallInteger)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))

    __table_args__ = (
        Index("ix_symptom_scores_patient_scored", "patient_id", "scored_at"),
        *(
            CheckConstraint(f"{name} IS NULL OR ({name} >= 0 AND {name} <= 3)", name=f"{name}_scale")
            for name in ("fatigue", "tingling", "balance", "memory_mood", "appetite")
        ),
    )


class DoseAcknowledgement(Base):
    """A warning the nurse acknowledged, with a reason and a password signature, when recording a dose."""

    __tablename__ = "dose_acknowledgements"

    id: Mapped[int] = mapped_column(primary_key=True)
    administration_id: Mapped[int] = mapped_column(ForeignKey("administrations.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class ClinicSetting(Base):
    """Clinic-wide settings shared by every workstation (per-workstation ones live in QSettings)."""

    __tablename__ = "clinic_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version_id}


class AuditEvent(Base):
    """Append-only, hash-chained: each row stores the hash of the one before it."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    old_values: Mapped[str] = mapped_column(Text)  # canonical JSON
    new_values: Mapped[str] = mapped_column(Text)  # canonical JSON
    reason: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Fingerprint of the key whose HMAC made `hash`; NULL for events chained with plain SHA-256 before keys.
    key_id: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (Index("ix_audit_events_entity", "entity", "entity_id"),)


def row_dict(obj: Any) -> dict[str, Any]:
    """Column values of a mapped object, for audit old/new values."""
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}
