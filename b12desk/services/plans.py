"""Treatment plans: templates as versioned data, plans from draft to verified to ended, schedules, doses.

A plan is made from one version of a template; a pharmacist who is not its author verifies it by
re-entering their password; editing a verified plan returns it to draft. No dose can be recorded against
a plan that is not verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from b12desk.data.audit import append_event, canonical_json, changed_values
from b12desk.data.models import (
    Administration,
    AuditEvent,
    ClinicSetting,
    Patient,
    PlanPhase,
    Product,
    RegimenTemplate,
    ScheduledEvent,
    Staff,
    TreatmentPlan,
)
from b12desk.data.reference import lab_tests, read_resource_json, shipped_regimen_templates
from b12desk.data.types import utcnow
from b12desk.domain.enums import (
    AdministrationOutcome,
    Cause,
    EventKind,
    EventStatus,
    Formulation,
    InjectionSite,
    PhaseKind,
    PlanStatus,
    RecordStatus,
    Route,
)
from b12desk.domain.permissions import Permission
from b12desk.domain.plan_rules import (
    VERIFICATION_MEANING,
    PatientFlags,
    check_plan,
    ending_maintenance_needs_reason,
)
from b12desk.domain.regimens import PhaseDef, TemplateDef, TemplateError, parse_template
from b12desk.domain.schedule import ALL_DAYS, Schedule, build_schedule
from b12desk.domain.units import dose_volume_ml, format_dose, format_mcg
from b12desk.services import auth
from b12desk.services import inventory as inventory_service
from b12desk.services.common import (
    Actor,
    Conflict,
    NotFound,
    PermissionDenied,
    ServiceError,
    ValidationFailed,
    require,
)

OPEN_DAYS_KEY = "clinic_open_days"
DEFAULT_OPEN_DAYS = frozenset(range(5))  # Monday to Friday
SCHEDULE_HORIZON_DAYS = 400
LIVE = (PlanStatus.VERIFIED, PlanStatus.ACTIVE)


class PlanNotVerified(ServiceError):
    pass


# --- rows ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateRow:
    id: int
    code: str
    version: int
    name: str
    formulation: Formulation
    source: str
    active: bool
    definition: TemplateDef
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlanInput:
    template_id: int
    formulation: Formulation
    dose_mcg: Decimal
    route: Route
    start_date: date
    prescriber: str
    indication: str = ""
    conditions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PhaseRow:
    id: int
    seq: int
    kind: PhaseKind
    dose_mcg: Decimal
    interval_days: int | None
    times_per_week: int | None
    dose_count: int | None
    ended_on: date | None
    end_reason: str


@dataclass(frozen=True, slots=True)
class PlanRow:
    id: int
    version_id: int
    patient_id: int
    patient_mrn: str
    patient_name: str
    template_id: int
    template_code: str
    template_version: int
    template_name: str
    formulation: Formulation
    dose_mcg: Decimal
    dose_text: str
    route: Route
    start_date: date
    prescriber: str
    indication: str
    conditions: frozenset[str]
    status: PlanStatus
    author: str
    author_id: int
    verified_by: str | None
    verified_at: datetime | None
    verification_meaning: str
    end_reason: str
    override_reason: str
    phases: tuple[PhaseRow, ...]


@dataclass(frozen=True, slots=True)
class QueueItem:
    plan: PlanRow
    changes: dict[str, tuple[Any, Any]]  # since the last verification; empty for a first verification
    previously_verified: bool


@dataclass(frozen=True, slots=True)
class AdministrationRow:
    id: int
    plan_id: int | None
    given_at: datetime
    dose_mcg: Decimal
    volume_ml: Decimal
    route: Route
    site: InjectionSite | None
    outcome: AdministrationOutcome
    given_by: str


# --- clinic settings -----------------------------------------------------------------------------------


def open_days(session: Session) -> frozenset[int]:
    row = session.get(ClinicSetting, OPEN_DAYS_KEY)
    if row is None:
        return DEFAULT_OPEN_DAYS
    return frozenset(int(d) for d in json.loads(row.value))


def set_open_days(session: Session, actor: Actor, days: frozenset[int]) -> None:
    require(session, actor, Permission.EDIT_TEMPLATES)
    if not days or not all(0 <= d <= 6 for d in days):
        raise ValidationFailed({"open_days": "Choose at least one day the clinic gives injections."})
    old = sorted(open_days(session))
    row = session.get(ClinicSetting, OPEN_DAYS_KEY)
    value = json.dumps(sorted(days))
    if row is None:
        session.add(ClinicSetting(key=OPEN_DAYS_KEY, value=value, updated_by_id=actor.id))
    else:
        row.value, row.updated_by_id, row.updated_at = value, actor.id, utcnow()
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="update",
        entity="clinic_setting",
        entity_id=OPEN_DAYS_KEY,
        old={"days": old},
        new={"days": sorted(days)},
    )


# --- templates -----------------------------------------------------------------------------------------


def shipped_templates() -> list[dict[str, Any]]:
    """The templates of resources/regimen_templates.json, each checked (lab codes included) before use."""
    raw = shipped_regimen_templates()
    codes = [str(t.get("code", "")) for t in raw]
    duplicated = sorted({c for c in codes if codes.count(c) > 1})
    if duplicated:
        raise TemplateError(f"regimen_templates.json uses the code(s) {', '.join(duplicated)} twice.")
    for t in raw:
        parse_template(t, lab_codes=lab_tests())
    return raw


def _template_row(t: RegimenTemplate) -> TemplateRow:
    raw = json.loads(t.definition)
    return TemplateRow(
        id=t.id,
        code=t.code,
        version=t.version,
        name=t.name,
        formulation=t.formulation,
        source=t.source,
        active=t.active,
        definition=parse_template(raw),
        raw=raw,
    )


def ensure_shipped_templates(session: Session) -> int:
    """Store version 1 of every shipped template the database does not have yet (at start-up)."""
    known = set(session.scalars(select(RegimenTemplate.code)))
    added = 0
    for raw in shipped_templates():
        if raw["code"] in known:
            continue
        definition = parse_template(raw)
        t = RegimenTemplate(
            code=definition.code,
            version=1,
            name=definition.name,
            formulation=definition.formulation,
            source=definition.source,
            definition=canonical_json(raw),
            active=True,
            created_by_id=None,
        )
        session.add(t)
        session.flush()
        append_event(
            session,
            staff_id=None,
            action="create",
            entity="regimen_template",
            entity_id=t.id,
            new={"code": t.code, "version": 1, "source": t.source},
        )
        added += 1
    return added


def list_templates(session: Session, actor: Actor, *, include_inactive: bool = False) -> list[TemplateRow]:
    """The newest version of each template."""
    require(session, actor, Permission.READ_PATIENTS)
    return reference_templates(session, include_inactive=include_inactive)


def reference_templates(session: Session, *, include_inactive: bool = False) -> list[TemplateRow]:
    """Templates are reference data with no patient in them: readable without signing in (CLI preview)."""
    latest = (
        select(RegimenTemplate.code, func.max(RegimenTemplate.version).label("v"))
        .group_by(RegimenTemplate.code)
        .subquery()
    )
    stmt = (
        select(RegimenTemplate)
        .join(latest, (latest.c.code == RegimenTemplate.code) & (latest.c.v == RegimenTemplate.version))
        .order_by(RegimenTemplate.formulation, RegimenTemplate.name)
    )
    rows = [_template_row(t) for t in session.scalars(stmt)]
    return rows if include_inactive else [r for r in rows if r.active]


def get_template(session: Session, actor: Actor, template_id: int) -> TemplateRow:
    require(session, actor, Permission.READ_PATIENTS)
    t = session.get(RegimenTemplate, template_id)
    if t is None:
        raise NotFound(f"No regimen template with id {template_id}.")
    return _template_row(t)


def find_template(session: Session, actor: Actor, code_or_id: str) -> TemplateRow:
    require(session, actor, Permission.READ_PATIENTS)
    if code_or_id.isdigit():
        return get_template(session, actor, int(code_or_id))
    for row in list_templates(session, actor, include_inactive=True):
        if row.code == code_or_id:
            return row
    raise NotFound(f"No regimen template '{code_or_id}'; list them with: b12desk schedule --list")


def save_template(session: Session, actor: Actor, raw: dict[str, Any], *, reason: str) -> TemplateRow:
    """A new version of a template (or a new template); plans made earlier keep their version."""
    require(session, actor, Permission.EDIT_TEMPLATES)
    if not reason.strip():
        raise ValidationFailed({"reason": "Say why the template changes (e.g. local protocol update)."})
    try:
        definition = parse_template(raw, lab_codes=lab_tests())
    except KeyError as exc:
        raise ValidationFailed({"template": f"The template is missing the key {exc}."}) from None
    except (ValueError, TypeError) as exc:  # TemplateError, or a value of the wrong kind
        raise ValidationFailed({"template": f"The template cannot be used: {exc}"}) from None
    current = session.scalar(
        select(func.max(RegimenTemplate.version)).where(RegimenTemplate.code == definition.code)
    )
    version = (current or 0) + 1
    t = RegimenTemplate(
        code=definition.code,
        version=version,
        name=definition.name,
        formulation=definition.formulation,
        source=definition.source,
        definition=canonical_json(raw),
        active=bool(raw.get("active", True)),
        created_by_id=actor.id,
    )
    session.add(t)
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="create" if version == 1 else "new_version",
        entity="regimen_template",
        entity_id=t.id,
        new={"code": t.code, "version": version, "definition": raw},
        reason=reason.strip(),
    )
    return _template_row(t)


def cause_settings() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = read_resource_json("causes.json")["causes"]
    return data


def cause_persists(cause: Cause) -> bool:
    return bool(cause_settings().get(cause.value, {"persists": True})["persists"])


def suggest_template(session: Session, actor: Actor, patient_id: int) -> TemplateRow | None:
    """The template the patient's cause and neurologic involvement point to (resources/causes.json)."""
    patient = _patient(session, patient_id)
    entry = cause_settings().get(patient.cause.value, {})
    code = entry.get("template_neuro" if patient.neuro_involvement else "template")
    for row in list_templates(session, actor):
        if row.code == code:
            if patient.flag_lebers_disease and row.formulation == Formulation.CYANOCOBALAMIN:
                return None
            return row
    return None


# --- plans ---------------------------------------------------------------------------------------------


def _patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"No patient with id {patient_id}.")
    return patient


def _plan(session: Session, plan_id: int) -> TreatmentPlan:
    plan = session.get(TreatmentPlan, plan_id)
    if plan is None:
        raise NotFound(f"No treatment plan with id {plan_id}.")
    return plan


def _phases_for(definition: TemplateDef, dose_mcg: Decimal) -> list[PhaseDef]:
    """A plan's phases: the template's, at the prescribed dose when the template uses one dose throughout."""
    doses = {p.dose_mcg for p in definition.phases}
    if len(doses) == 1:
        return [
            PhaseDef(
                kind=p.kind,
                dose_mcg=dose_mcg,
                interval_days=p.interval_days,
                times_per_week=p.times_per_week,
                dose_count=p.dose_count,
                window_days=p.window_days,
                dose_min_mcg=p.dose_min_mcg,
                dose_max_mcg=p.dose_max_mcg,
                label=p.label,
                tasks=p.tasks,
            )
            for p in definition.phases
        ]
    return list(definition.phases)


def _validate(
    session: Session,
    patient: Patient,
    data: PlanInput,
    *,
    override_reason: str,
    password: str | None,
    actor: Actor,
    signature_needed: bool = True,
) -> TemplateRow:
    errors: dict[str, str] = {}
    template_row = session.get(RegimenTemplate, data.template_id)
    if template_row is None:
        raise ValidationFailed({"template": "Choose a regimen template."})
    template = _template_row(template_row)
    if not template.definition.phases:
        raise ValidationFailed(
            {"template": f"The template '{template.name}' has no phases yet: edit it first."}
        )
    if not data.prescriber.strip():
        errors["prescriber"] = "Enter the prescriber's name."
    if data.start_date < date.today() - timedelta(days=3650):
        errors["start_date"] = "The start date is more than 10 years ago: check the year."
    if (
        data.route not in (template.definition.routes or (template.definition.route,))
        and data.route != Route.IV
    ):
        errors["route"] = (
            f"The template allows {', '.join(r.value for r in template.definition.routes)}, "
            f"not {data.route.value}."
        )
    flags = PatientFlags(
        patient.flag_lebers_disease,
        patient.flag_b12_hypersensitivity,
        patient.flag_benzyl_alcohol_sensitivity,
    )
    check = check_plan(
        template.definition,
        formulation=data.formulation,
        dose_mcg=Decimal(data.dose_mcg),
        route=data.route,
        flags=flags,
    )
    errors.update(check.blocking)
    if check.overridable and not errors:
        if not override_reason.strip():
            errors.update(check.overridable)
        elif signature_needed:
            if not password:
                errors["password"] = "An override needs your password again, as a signature."
            else:
                auth.reauthenticate(session, actor, password)
    if errors:
        raise ValidationFailed(errors)
    return template


def _snapshot(plan: TreatmentPlan) -> dict[str, Any]:
    return {
        "template_id": plan.template_id,
        "formulation": plan.formulation.value,
        "dose_mcg": format(Decimal(plan.dose_mcg).normalize(), "f"),
        "route": plan.route.value,
        "start_date": plan.start_date.isoformat(),
        "prescriber": plan.prescriber,
        "indication": plan.indication,
        "conditions": plan.conditions,
        "override_reason": plan.override_reason,
    }


def _plan_row(session: Session, plan: TreatmentPlan) -> PlanRow:
    patient = session.get(Patient, plan.patient_id)
    template = session.get(RegimenTemplate, plan.template_id)
    author = session.get(Staff, plan.author_id)
    verifier = session.get(Staff, plan.verified_by_id) if plan.verified_by_id else None
    assert patient is not None and template is not None and author is not None
    phases = session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.seq))
    strength = strength_for(session, plan.formulation)
    return PlanRow(
        id=plan.id,
        version_id=plan.version_id,
        patient_id=patient.id,
        patient_mrn=patient.mrn,
        patient_name=f"{patient.family_name}, {patient.given_name}",
        template_id=template.id,
        template_code=template.code,
        template_version=template.version,
        template_name=template.name,
        formulation=plan.formulation,
        dose_mcg=Decimal(plan.dose_mcg).normalize(),
        dose_text=format_dose(plan.dose_mcg, strength),
        route=plan.route,
        start_date=plan.start_date,
        prescriber=plan.prescriber,
        indication=plan.indication,
        conditions=frozenset(c for c in plan.conditions.split(",") if c),
        status=plan.status,
        author=author.full_name,
        author_id=author.id,
        verified_by=verifier.full_name if verifier else None,
        verified_at=plan.verified_at,
        verification_meaning=plan.verification_meaning,
        end_reason=plan.end_reason,
        override_reason=plan.override_reason,
        phases=tuple(
            PhaseRow(
                id=p.id,
                seq=p.seq,
                kind=p.kind,
                dose_mcg=Decimal(p.dose_mcg).normalize(),
                interval_days=p.interval_days,
                times_per_week=p.times_per_week,
                dose_count=p.dose_count,
                ended_on=p.ended_on,
                end_reason=p.end_reason,
            )
            for p in phases
        ),
    )


# Every B12 deficiency injection in the seed formulary is 1,000 mcg/mL (clinical-facts 4); used for the
# volume in "1,000 mcg (1 mL of 1,000 mcg/mL)" until the formulary says otherwise.
STANDARD_STRENGTH_MCG_PER_ML = Decimal(1000)


def strength_for(session: Session, formulation: Formulation) -> Decimal:
    """The strength stocked for a formulation, or the standard 1,000 mcg/mL when none or several are."""
    return _strength_for(session, formulation) or STANDARD_STRENGTH_MCG_PER_ML


def _strength_for(session: Session, formulation: Formulation) -> Decimal | None:
    """The strength stocked for this formulation, for "1,000 mcg (1 mL of 1,000 mcg/mL)"; None if mixed."""
    strengths = set(
        session.scalars(
            select(Product.strength_mcg_per_ml)
            .where(Product.formulation == formulation, Product.active, Product.for_deficiency)
            .distinct()
        )
    )
    return Decimal(strengths.pop()).normalize() if len(strengths) == 1 else None


def _write_phases(session: Session, plan: TreatmentPlan, template: TemplateRow) -> None:
    for seq, phase in enumerate(_phases_for(template.definition, Decimal(plan.dose_mcg)), start=1):
        session.add(
            PlanPhase(
                plan_id=plan.id,
                seq=seq,
                kind=phase.kind,
                dose_mcg=phase.dose_mcg,
                interval_days=phase.interval_days,
                times_per_week=phase.times_per_week,
                dose_count=phase.dose_count,
            )
        )
    session.flush()


def create_plan(
    session: Session,
    actor: Actor,
    patient_id: int,
    data: PlanInput,
    *,
    override_reason: str = "",
    password: str | None = None,
) -> PlanRow:
    require(session, actor, Permission.PRESCRIBE_PLANS)
    patient = _patient(session, patient_id)
    if patient.archived:
        raise ValidationFailed({"patient": f"{patient.mrn} is archived: restore the patient first."})
    template = _validate(
        session, patient, data, override_reason=override_reason, password=password, actor=actor
    )
    plan = TreatmentPlan(
        patient_id=patient_id,
        template_id=template.id,
        formulation=data.formulation,
        dose_mcg=Decimal(data.dose_mcg),
        route=data.route,
        start_date=data.start_date,
        prescriber=data.prescriber.strip(),
        indication=data.indication.strip(),
        status=PlanStatus.DRAFT,
        author_id=actor.id,
        conditions=",".join(sorted(data.conditions)),
        override_reason=override_reason.strip(),
        override_by_id=actor.id if override_reason.strip() else None,
    )
    session.add(plan)
    session.flush()
    _write_phases(session, plan, template)
    append_event(
        session,
        staff_id=actor.id,
        action="create",
        entity="treatment_plan",
        entity_id=plan.id,
        new=_snapshot(plan) | {"patient_id": patient_id},
        reason=override_reason.strip(),
    )
    return _plan_row(session, plan)


def update_plan(
    session: Session,
    actor: Actor,
    plan_id: int,
    data: PlanInput,
    *,
    expected_version: int,
    reason: str = "",
    override_reason: str = "",
    password: str | None = None,
) -> PlanRow:
    """Any edit returns the plan to draft: it must be verified again before another dose."""
    require(session, actor, Permission.PRESCRIBE_PLANS)
    plan = _plan(session, plan_id)
    if plan.version_id != expected_version:
        raise Conflict("The plan was changed by someone else while you were editing; reopen it.")
    if plan.status in (PlanStatus.COMPLETED, PlanStatus.STOPPED):
        raise ValidationFailed({"status": "An ended plan cannot be edited: start a new plan."})
    if plan.status != PlanStatus.DRAFT and not reason.strip():
        raise ValidationFailed(
            {"reason": "Say why a verified plan changes: it goes back to draft for verification."}
        )
    patient = _patient(session, plan.patient_id)
    template = _validate(
        session,
        patient,
        data,
        override_reason=override_reason or plan.override_reason,
        password=password,
        actor=actor,
        signature_needed=bool(override_reason.strip()),  # a kept override was signed when it was made
    )
    before = _snapshot(plan)
    template_changed = plan.template_id != template.id
    plan.template_id = template.id
    plan.formulation, plan.dose_mcg, plan.route = data.formulation, Decimal(data.dose_mcg), data.route
    plan.start_date, plan.prescriber, plan.indication = (
        data.start_date,
        data.prescriber.strip(),
        data.indication.strip(),
    )
    plan.conditions = ",".join(sorted(data.conditions))
    if override_reason.strip():
        plan.override_reason, plan.override_by_id = override_reason.strip(), actor.id
    old, new = changed_values(before, _snapshot(plan))
    if not new:
        return _plan_row(session, plan)
    was = plan.status
    plan.status = PlanStatus.DRAFT
    plan.author_id = actor.id  # the author of this version may not verify it
    plan.verified_by_id, plan.verified_at, plan.verification_meaning = None, None, ""
    phases = list(session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id)))
    if template_changed or "dose_mcg" in new:
        if any(p.started_on or p.ended_on for p in phases) and template_changed:
            raise ValidationFailed(
                {
                    "template": "Treatment has started: end this plan and start a new one to "
                    "change the template."
                }
            )
        # Treatment has not started, so the plan's events are outstanding ones: cancel them and let them go
        # of the phases being replaced (they stay as cancelled history).
        _cancel_due_events(session, plan.id)
        session.execute(
            update(ScheduledEvent)
            .where(ScheduledEvent.plan_id == plan.id)
            .values(phase_id=None)
            .execution_options(synchronize_session=False)
        )
        for p in phases:
            session.delete(p)
        session.flush()
        _write_phases(session, plan, template)
    _cancel_due_events(session, plan.id)
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="update",
        entity="treatment_plan",
        entity_id=plan.id,
        old=old | {"status": was.value},
        new=new | {"status": PlanStatus.DRAFT.value},
        reason=reason.strip(),
    )
    return _plan_row(session, plan)


def verify_plan(
    session: Session, actor: Actor, plan_id: int, *, password: str, expected_version: int
) -> PlanRow:
    """A pharmacist who did not write this version re-enters their password: an electronic signature."""
    require(session, actor, Permission.VERIFY_PLANS)
    plan = _plan(session, plan_id)
    if plan.version_id != expected_version:
        raise Conflict("The plan changed since you opened it: review the new version before verifying.")
    if plan.status != PlanStatus.DRAFT:
        raise ValidationFailed(
            {"status": f"Only a draft plan can be verified; this one is {plan.status.value}."}
        )
    if plan.author_id == actor.id:
        raise PermissionDenied("You wrote this version of the plan: another pharmacist must verify it.")
    auth.reauthenticate(session, actor, password)
    plan.status = PlanStatus.ACTIVE if _given_doses(session, plan.id) else PlanStatus.VERIFIED
    plan.verified_by_id, plan.verified_at, plan.verification_meaning = (
        actor.id,
        utcnow(),
        VERIFICATION_MEANING,
    )
    plan.verified_snapshot = canonical_json(_snapshot(plan))
    session.flush()
    _sync_events(session, plan)
    append_event(
        session,
        staff_id=actor.id,
        action="verify",
        entity="treatment_plan",
        entity_id=plan.id,
        old={"status": PlanStatus.DRAFT.value},
        new={"status": plan.status.value, "meaning": VERIFICATION_MEANING},
    )
    return _plan_row(session, plan)


def end_phase(session: Session, actor: Actor, plan_id: int, *, on: date, reason: str) -> PlanRow:
    """A clinical review ends the current phase (e.g. alternate-day doses 'until no further improvement')."""
    require(session, actor, Permission.PRESCRIBE_PLANS)
    plan = _plan(session, plan_id)
    if plan.status not in LIVE:
        raise ValidationFailed({"status": "Only a verified or active plan has a phase to end."})
    if not reason.strip():
        raise ValidationFailed({"reason": "Record the review's finding (e.g. no further improvement)."})
    phases = list(
        session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.seq))
    )
    current = next((p for p in phases if p.ended_on is None), None)
    if current is None or current is phases[-1]:
        raise ValidationFailed(
            {"phase": "The last phase ends with the plan: stop or complete the plan instead."}
        )
    if on > date.today():
        raise ValidationFailed({"on": "A review ends a phase today or in the past, not in the future."})
    current.ended_on, current.end_reason = on, reason.strip()
    session.flush()
    _sync_events(session, plan)
    append_event(
        session,
        staff_id=actor.id,
        action="end_phase",
        entity="treatment_plan",
        entity_id=plan.id,
        new={"phase": current.seq, "ended_on": on},
        reason=reason.strip(),
    )
    return _plan_row(session, plan)


def stop_plan(session: Session, actor: Actor, plan_id: int, *, completed: bool, reason: str) -> PlanRow:
    """End a plan. While the cause persists, maintenance cannot end without a recorded reason."""
    require(session, actor, Permission.PRESCRIBE_PLANS)
    plan = _plan(session, plan_id)
    if plan.status in (PlanStatus.COMPLETED, PlanStatus.STOPPED):
        raise ValidationFailed({"status": f"The plan is already {plan.status.value}."})
    patient = _patient(session, plan.patient_id)
    schedule = _schedule(session, plan, today=date.today())
    phases = list(
        session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.seq))
    )
    in_maintenance = (
        schedule.current_phase is not None and phases[schedule.current_phase].kind == PhaseKind.MAINTENANCE
    )
    if not reason.strip():
        if ending_maintenance_needs_reason(cause_persists(patient.cause), in_maintenance):
            raise ValidationFailed(
                {
                    "reason": (
                        "The cause of deficiency persists: stopping maintenance is when relapse happens. "
                        "Record why "
                        "treatment ends (e.g. cause resolved, moved to oral, patient's informed choice)."
                    )
                }
            )
        if not completed:
            raise ValidationFailed({"reason": "Record why the plan is stopped."})
    was = plan.status
    plan.status = PlanStatus.COMPLETED if completed else PlanStatus.STOPPED
    plan.end_reason = reason.strip()
    session.flush()
    _cancel_due_events(session, plan.id)
    append_event(
        session,
        staff_id=actor.id,
        action="complete" if completed else "stop",
        entity="treatment_plan",
        entity_id=plan.id,
        old={"status": was.value},
        new={"status": plan.status.value},
        reason=reason.strip(),
    )
    return _plan_row(session, plan)


def get_plan(session: Session, actor: Actor, plan_id: int) -> PlanRow:
    require(session, actor, Permission.READ_PATIENTS)
    return _plan_row(session, _plan(session, plan_id))


def plans_for_patient(session: Session, actor: Actor, patient_id: int) -> list[PlanRow]:
    require(session, actor, Permission.READ_PATIENTS)
    return [
        _plan_row(session, p)
        for p in session.scalars(
            select(TreatmentPlan)
            .where(TreatmentPlan.patient_id == patient_id)
            .order_by(TreatmentPlan.id.desc())
        )
    ]


def verification_queue(session: Session, actor: Actor) -> list[QueueItem]:
    """Draft plans awaiting a pharmacist, with what changed since the last verification."""
    require(session, actor, Permission.VERIFY_PLANS)
    items = []
    for plan in session.scalars(
        select(TreatmentPlan)
        .where(TreatmentPlan.status == PlanStatus.DRAFT)
        .order_by(TreatmentPlan.created_at)
    ):
        previous = json.loads(plan.verified_snapshot) if plan.verified_snapshot else {}
        old, new = changed_values(previous, _snapshot(plan)) if previous else ({}, {})
        items.append(
            QueueItem(_plan_row(session, plan), {k: (old.get(k), new[k]) for k in new}, bool(previous))
        )
    return items


def plan_history(session: Session, actor: Actor, plan_id: int) -> list[tuple[datetime, str, str, str, str]]:
    """(when, who, action, what changed, reason), newest first."""
    require(session, actor, Permission.READ_PATIENTS)
    rows = session.execute(
        select(AuditEvent, Staff.full_name)
        .outerjoin(Staff, Staff.id == AuditEvent.staff_id)
        .where(AuditEvent.entity == "treatment_plan", AuditEvent.entity_id == str(plan_id))
        .order_by(AuditEvent.id.desc())
    ).all()
    out = []
    for event, who in rows:
        old, new = json.loads(event.old_values), json.loads(event.new_values)
        changes = "; ".join(
            f"{k}: {old.get(k, '')} -> {v}" if k in old else f"{k}: {v}" for k, v in new.items()
        )
        out.append((event.at, who or "system", event.action, changes, event.reason))
    return out


# --- schedules -----------------------------------------------------------------------------------------


def _given_doses(session: Session, plan_id: int) -> list[date]:
    return [
        d.date()
        for d in session.scalars(
            select(Administration.given_at)
            .where(
                Administration.plan_id == plan_id,
                Administration.outcome == AdministrationOutcome.GIVEN,
                Administration.status == RecordStatus.CURRENT,
            )
            .order_by(Administration.given_at)
        )
    ]


def _plan_phase_defs(
    session: Session, plan: TreatmentPlan
) -> tuple[list[PhaseDef], dict[int, date], TemplateDef]:
    template = _template_row(session.get(RegimenTemplate, plan.template_id))  # type: ignore[arg-type]
    by_kind = list(template.definition.phases)
    phases = list(
        session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.seq))
    )
    defs = []
    for i, p in enumerate(phases):
        tasks = by_kind[i].tasks if i < len(by_kind) else ()
        window = by_kind[i].window_days if i < len(by_kind) else 0
        defs.append(
            PhaseDef(
                kind=p.kind,
                dose_mcg=Decimal(p.dose_mcg),
                interval_days=p.interval_days,
                times_per_week=p.times_per_week,
                dose_count=p.dose_count,
                window_days=window,
                tasks=tasks,
            )
        )
    ended = {i: p.ended_on for i, p in enumerate(phases) if p.ended_on is not None}
    return defs, ended, template.definition


def _schedule(session: Session, plan: TreatmentPlan, *, today: date, until: date | None = None) -> Schedule:
    defs, ended, template = _plan_phase_defs(session, plan)
    patient = session.get(Patient, plan.patient_id)
    conditions = schedule_conditions(
        frozenset(c for c in plan.conditions.split(",") if c),
        pregnant_or_breastfeeding=patient is not None and patient.pregnant_or_breastfeeding,
    )
    return build_schedule(
        defs,
        start=plan.start_date,
        given=_given_doses(session, plan.id),
        today=today,
        until=until or today + timedelta(days=SCHEDULE_HORIZON_DAYS),
        open_days=open_days(session),
        phase_ended_on=ended,
        conditions=conditions,
        baseline_tasks=template.baseline_tasks,
    )


def schedule_conditions(
    plan_conditions: frozenset[str], *, pregnant_or_breastfeeding: bool
) -> frozenset[str]:
    """What a plan's tasks depend on: its own conditions plus what the patient record says
    (pregnant or breastfeeding: symptom review at 1 month, NICE NG239)."""
    extra = {"pregnant_or_breastfeeding"} if pregnant_or_breastfeeding else set()
    return frozenset(plan_conditions | extra)


def plan_schedule(
    session: Session, actor: Actor, plan_id: int, *, today: date | None = None, until: date | None = None
) -> Schedule:
    require(session, actor, Permission.READ_PATIENTS)
    return _schedule(session, _plan(session, plan_id), today=today or date.today(), until=until)


def preview_schedule(
    template: TemplateDef,
    *,
    start: date,
    dose_mcg: Decimal | None = None,
    conditions: frozenset[str] = frozenset(),
    days: frozenset[int] = ALL_DAYS,
    until: date | None = None,
) -> Schedule:
    """A template's planned doses and tasks from a start date, with no patient (the pharmacist's check)."""
    phases = _phases_for(template, dose_mcg) if dose_mcg is not None else list(template.phases)
    return build_schedule(
        phases,
        start=start,
        given=[],
        today=start,
        until=until or start + timedelta(days=SCHEDULE_HORIZON_DAYS),
        open_days=days,
        conditions=conditions,
        baseline_tasks=template.baseline_tasks,
    )


def _cancel_due_events(session: Session, plan_id: int) -> None:
    session.execute(
        update(ScheduledEvent)
        .where(ScheduledEvent.plan_id == plan_id, ScheduledEvent.status == EventStatus.DUE)
        .values(status=EventStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )


def _sync_events(session: Session, plan: TreatmentPlan) -> None:
    """Replace the plan's outstanding events with what the engine now says is due (history stays)."""
    _cancel_due_events(session, plan.id)
    if plan.status not in LIVE:
        return
    today = date.today()
    schedule = _schedule(session, plan, today=today)
    phases = list(
        session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.seq))
    )
    done = {
        (e.kind, e.label, e.due_on)
        for e in session.scalars(
            select(ScheduledEvent).where(
                ScheduledEvent.plan_id == plan.id, ScheduledEvent.status == EventStatus.DONE
            )
        )
    }
    for dose in schedule.outstanding():
        session.add(
            ScheduledEvent(
                patient_id=plan.patient_id,
                plan_id=plan.id,
                phase_id=phases[dose.phase_index].id,
                kind=EventKind.DOSE,
                label=f"{dose.phase_kind.value.capitalize()} dose {dose.number}: {format_mcg(dose.dose_mcg)}",
                due_on=dose.due,
                window_start=dose.due,
                window_end=dose.window_end,
                status=EventStatus.DUE,
            )
        )
    for task in schedule.tasks:
        if (task.kind, task.label, task.due) in done or task.due < plan.start_date:
            continue
        session.add(
            ScheduledEvent(
                patient_id=plan.patient_id,
                plan_id=plan.id,
                phase_id=phases[task.phase_index].id if task.phase_index is not None else None,
                kind=task.kind,
                label=task.label,
                lab_test_code=task.lab_test_code,
                due_on=task.due,
                window_start=task.due,
                window_end=task.window_end,
                status=EventStatus.DUE,
            )
        )
    session.flush()


# --- doses ---------------------------------------------------------------------------------------------


def record_dose(
    session: Session,
    actor: Actor,
    *,
    plan_id: int,
    given_at: datetime,
    dose_mcg: Decimal,
    route: Route,
    site: InjectionSite | None,
    product_id: int | None,
    vial_id: int | None = None,
    lot_id: int | None = None,
    outcome: AdministrationOutcome = AdministrationOutcome.GIVEN,
    note: str = "",
    external: bool = False,
) -> AdministrationRow:
    """Check the dose against a verified plan before saving it; draw it from stock in the same transaction.

    external: given elsewhere (another clinic, before this plan was entered); nothing is drawn from stock
    here, and the product and site may be unknown.
    """
    require(session, actor, Permission.RECORD_ADMINISTRATIONS)
    plan = _plan(session, plan_id)
    if plan.status not in LIVE:
        raise PlanNotVerified(
            f"The plan is {plan.status.value}: no dose can be recorded until a pharmacist verifies it."
        )
    product = session.get(Product, product_id) if product_id is not None else None
    errors: dict[str, str] = {}
    if product is None and not external:
        raise ValidationFailed({"product": "Choose the product given."})
    if product is not None and not product.for_deficiency:
        errors["product"] = "This product is not for B12 deficiency treatment."
    if product is not None and product.formulation != plan.formulation:
        errors["product"] = (
            f"The plan prescribes {plan.formulation.value}; this product is {product.formulation.value}."
        )
    schedule = _schedule(session, plan, today=given_at.date())
    expected = schedule.next_dose()
    expected_dose = expected.dose_mcg if expected else Decimal(plan.dose_mcg)
    if Decimal(dose_mcg) != expected_dose:
        errors["dose_mcg"] = (
            f"The plan's dose is {format_mcg(expected_dose)}, not {format_mcg(dose_mcg)}: "
            "check mcg against mg."
        )
    if route != plan.route:
        errors["route"] = f"The plan's route is {plan.route.value.upper()}, not {route.value.upper()}."
    if outcome == AdministrationOutcome.GIVEN and site is None and route == Route.IM and not external:
        errors["site"] = "Record the injection site."
    if given_at > utcnow() + timedelta(minutes=5):
        errors["given_at"] = "A dose cannot be recorded in the future."
    patient = _patient(session, plan.patient_id)
    if (
        product is not None
        and patient.flag_benzyl_alcohol_sensitivity
        and "benzyl" in product.preservative.lower()
    ):
        errors["product"] = "The patient is sensitive to benzyl alcohol, which this product contains."
    if external and outcome != AdministrationOutcome.GIVEN:
        errors["outcome"] = "Only doses actually given elsewhere are entered afterwards."
    if errors:
        raise ValidationFailed(errors)
    strength = product.strength_mcg_per_ml if product is not None else strength_for(session, plan.formulation)
    volume = dose_volume_ml(dose_mcg, strength)
    administration = Administration(
        patient_id=plan.patient_id,
        plan_id=plan.id,
        product_id=product_id,
        lot_id=lot_id,
        vial_id=vial_id,
        given_at=given_at,
        dose_mcg=Decimal(dose_mcg),
        volume_ml=volume,
        route=route,
        site=site,
        outcome=outcome,
        note=note.strip(),
        given_by_id=actor.id,
        recorded_at=utcnow(),
        status=RecordStatus.CURRENT,
        external=external,
    )
    session.add(administration)
    session.flush()
    if outcome == AdministrationOutcome.GIVEN and not external:
        choice = inventory_service.draw_dose(
            session,
            actor,
            volume_ml=volume,
            vial_id=vial_id,
            lot_id=lot_id,
            administration_id=administration.id,
            now=given_at,
        )
        administration.lot_id = choice.lot_id
    if plan.status == PlanStatus.VERIFIED and outcome == AdministrationOutcome.GIVEN:
        plan.status = PlanStatus.ACTIVE
    session.flush()
    _sync_events(session, plan)
    append_event(
        session,
        staff_id=actor.id,
        action="create",
        entity="administration",
        entity_id=administration.id,
        new={
            "plan": plan.id,
            "patient": plan.patient_id,
            "dose_mcg": dose_mcg,
            "volume_ml": volume,
            "route": route,
            "site": site,
            "outcome": outcome,
            "given_at": given_at,
            "external": external,
        },
    )
    staff = session.get(Staff, actor.id)
    return AdministrationRow(
        administration.id,
        plan.id,
        given_at,
        Decimal(dose_mcg),
        volume,
        route,
        site,
        outcome,
        staff.full_name if staff else actor.username,
    )
