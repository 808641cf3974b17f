"""Treatment plans: templates as versioned data, plans from draft to verified to ended, and schedules.

A plan is made from one version of a template; a pharmacist who is not its author verifies it by
re-entering their password; editing a verified plan returns it to draft, and so does a change of the
patient's contraindication flags. Doses are recorded by services.administrations, against verified plans.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.data.audit import append_event, canonical_json, changed_values
from b12desk.data.models import (
    Administration,
    AuditEvent,
    Patient,
    PlanPhase,
    Product,
    RegimenTemplate,
    ScheduledEvent,
    Staff,
    TreatmentPlan,
)
from b12desk.data.reference import lab_tests, read_resource_json, shipped_regimen_templates
from b12desk.domain.dose_check import product_range_problem
from b12desk.domain.enums import (
    AdministrationOutcome,
    Cause,
    EventKind,
    EventStatus,
    Formulation,
    PhaseKind,
    PlanStatus,
    RecordStatus,
    Route,
)
from b12desk.domain.permissions import Permission, role_can
from b12desk.domain.plan_rules import (
    VERIFICATION_MEANING,
    PatientFlags,
    check_plan,
    ending_maintenance_needs_reason,
)
from b12desk.domain.regimens import PhaseDef, TemplateDef, TemplateError, parse_template
from b12desk.domain.schedule import ALL_DAYS, Schedule, build_schedule
from b12desk.domain.suggest import suggest_template as suggest
from b12desk.domain.units import format_dose, format_mcg
from b12desk.services import auth, clinic
from b12desk.services.clinic import open_days
from b12desk.services.common import (
    Actor,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    require,
)

SCHEDULE_HORIZON_DAYS = 400
T = TypeVar("T")
LIVE = (PlanStatus.VERIFIED, PlanStatus.ACTIVE)


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


# Every B12 deficiency injection in the seed formulary is 1,000 mcg/mL (clinical-facts 4).
STANDARD_STRENGTH_MCG_PER_ML = Decimal(1000)


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
    strength_mcg_per_ml: Decimal = STANDARD_STRENGTH_MCG_PER_ML  # of the product to be used
    continues_elsewhere: bool = False  # treatment began at another clinic
    supplied_as: str = ""  # oral plans: what the patient takes home (product, strength, how many)


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
    strength_mcg_per_ml: Decimal
    route: Route
    start_date: date
    continues_elsewhere: bool
    prescriber: str
    indication: str
    conditions: frozenset[str]
    supplied_as: str  # oral plans: what was supplied to take at home
    status: PlanStatus
    author: str
    author_id: int
    verified_by: str | None
    verified_at: datetime | None
    verification_meaning: str
    end_reason: str
    override_reason: str
    review_reason: str  # why it came back for verification without an edit (a new flag; a phase ended)
    phases: tuple[PhaseRow, ...]


@dataclass(frozen=True, slots=True)
class QueueItem:
    plan: PlanRow
    changes: dict[str, tuple[Any, Any]]  # since the last verification; empty for a first verification
    previously_verified: bool


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
    """At start-up: store every shipped template the database lacks, as version 1; and where the
    shipped text was corrected since, and the clinic's newest version is still the one shipped (no
    pharmacist has edited it), store the correction as the next version. A clinic's own edit is never
    replaced. Plans keep the version they were verified against."""
    newest: dict[str, tuple[int, str, int | None]] = {}
    for code, version, stored_text, author in session.execute(
        select(
            RegimenTemplate.code,
            RegimenTemplate.version,
            RegimenTemplate.definition,
            RegimenTemplate.created_by_id,
        ).order_by(RegimenTemplate.code, RegimenTemplate.version)
    ):
        newest[code] = (version, stored_text, author)
    added = 0
    for raw in shipped_templates():
        stored = newest.get(raw["code"])
        text = canonical_json(raw)
        if stored is not None and (stored[1] == text or stored[2] is not None):
            continue  # as shipped, or the clinic's own version
        version = 1 if stored is None else stored[0] + 1
        parsed = parse_template(raw)
        t = RegimenTemplate(
            code=parsed.code,
            version=version,
            name=parsed.name,
            formulation=parsed.formulation,
            source=parsed.source,
            definition=text,
            active=True,
            created_by_id=None,
        )
        session.add(t)
        session.flush()
        append_event(
            session,
            staff_id=None,
            action="create" if version == 1 else "new_version",
            entity="regimen_template",
            entity_id=t.id,
            new={"code": t.code, "version": version, "source": t.source},
            reason="" if version == 1 else "Shipped template corrected; the clinic had not edited it.",
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


def template_names(session: Session, actor: Actor, ids: Iterable[int]) -> dict[int, str]:
    """ "Name (vN)" of each template version, in one statement (the queue and the history show them)."""
    require(session, actor, Permission.READ_PATIENTS)
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(RegimenTemplate.id, RegimenTemplate.name, RegimenTemplate.version).where(
            RegimenTemplate.id.in_(wanted)
        )
    )
    return {i: f"{name} (v{version})" for i, name, version in rows}


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


def causes_data() -> dict[str, Any]:
    """resources/causes.json as read: per cause, the templates suggested and why."""
    data: dict[str, Any] = read_resource_json("causes.json")
    return data


def cause_settings() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = causes_data()["causes"]
    return data


def cause_persists(cause: Cause) -> bool:
    return bool(cause_settings().get(cause.value, {"persists": True})["persists"])


@dataclass(frozen=True, slots=True)
class TemplateSuggestion:
    template: TemplateRow | None  # None: the prescriber chooses
    why: str  # shown beside it


def suggest_template(session: Session, actor: Actor, patient_id: int) -> TemplateSuggestion:
    """The template the patient's record points to (cause, what is treated, neurologic involvement,
    Leber's disease), from resources/causes.json, with the reason shown beside it."""
    require(session, actor, Permission.READ_PATIENTS)
    patient = _patient(session, patient_id)
    rows = {row.code: row for row in list_templates(session, actor)}
    found = suggest(
        causes_data(),
        cause=patient.cause,
        presentation=patient.presentation,
        neuro=patient.neuro_involvement,
        lebers=patient.flag_lebers_disease,
        formulations={code: row.formulation for code, row in rows.items()},
    )
    return TemplateSuggestion(rows[found.code] if found.code is not None else None, found.why)


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
        return [replace(p, dose_mcg=dose_mcg) for p in definition.phases]
    return list(definition.phases)


def _flags(patient: Patient) -> PatientFlags:
    return PatientFlags(
        patient.flag_lebers_disease,
        patient.flag_b12_hypersensitivity,
        patient.flag_benzyl_alcohol_sensitivity,
    )


def _validate(
    session: Session,
    patient: Patient,
    data: PlanInput,
    *,
    override_reason: str,
    password: str | None,
    actor: Actor,
    clock: Clock,
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
    if data.start_date < clock.today() - timedelta(days=3650):
        errors["start_date"] = "The start date is more than 10 years ago: check the year."
    if data.route == Route.ORAL:
        # Taken at home: no vial is drawn from, so no strength; what was supplied is recorded instead.
        if not data.supplied_as.strip():
            errors["supplied_as"] = (
                "Say what the patient takes home, e.g. 'cyanocobalamin 1,000 mcg tablets, one a day, 28'."
            )
    else:
        strength = Decimal(data.strength_mcg_per_ml)
        problem = product_range_problem(strength, Decimal(0), clinic.dose_rules(session))
        if not strength.is_finite() or strength <= 0 or problem:
            errors["strength_mcg_per_ml"] = problem or "Choose the strength of the product to be used."
    if (
        data.route not in (template.definition.routes or (template.definition.route,))
        and data.route != Route.IV
    ):
        errors["route"] = (
            f"The template allows {', '.join(r.value for r in template.definition.routes)}, "
            f"not {data.route.value}."
        )
    check = check_plan(
        template.definition,
        formulation=data.formulation,
        dose_mcg=Decimal(data.dose_mcg),
        route=data.route,
        flags=_flags(patient),
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
    """What a pharmacist verifies; a change to any of it sends the plan back for verification."""
    return {
        "template_id": plan.template_id,
        "formulation": plan.formulation.value,
        "dose_mcg": format(Decimal(plan.dose_mcg).normalize(), "f"),
        "strength_mcg_per_ml": format(Decimal(plan.strength_mcg_per_ml).normalize(), "f"),
        "route": plan.route.value,
        "start_date": plan.start_date.isoformat(),
        "continues_elsewhere": plan.continues_elsewhere,
        "prescriber": plan.prescriber,
        "indication": plan.indication,
        "conditions": plan.conditions,
        "override_reason": plan.override_reason,
    } | ({"supplied_as": plan.supplied_as} if plan.supplied_as else {})


def _phase_rows(phases: list[PlanPhase]) -> tuple[PhaseRow, ...]:
    return tuple(
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
    )


def _plan_rows(session: Session, plans: list[TreatmentPlan]) -> list[PlanRow]:
    """Rows for several plans in a fixed number of statements, whatever their number."""
    if not plans:
        return []
    ids = [p.id for p in plans]
    patients = {
        p.id: p for p in session.scalars(select(Patient).where(Patient.id.in_({p.patient_id for p in plans})))
    }
    templates = {
        t.id: t
        for t in session.scalars(
            select(RegimenTemplate).where(RegimenTemplate.id.in_({p.template_id for p in plans}))
        )
    }
    staff_ids = {p.author_id for p in plans} | {p.verified_by_id for p in plans if p.verified_by_id}
    names = dict(session.execute(select(Staff.id, Staff.full_name).where(Staff.id.in_(staff_ids))).all())
    phases: dict[int, list[PlanPhase]] = {i: [] for i in ids}
    for phase in session.scalars(
        select(PlanPhase).where(PlanPhase.plan_id.in_(ids)).order_by(PlanPhase.plan_id, PlanPhase.seq)
    ):
        phases[phase.plan_id].append(phase)
    rows = []
    for plan in plans:
        patient, template = patients[plan.patient_id], templates[plan.template_id]
        strength = Decimal(plan.strength_mcg_per_ml).normalize()
        rows.append(
            PlanRow(
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
                dose_text=(
                    f"{format_mcg(plan.dose_mcg)} by mouth"
                    if plan.route == Route.ORAL
                    else format_dose(plan.dose_mcg, strength)
                ),
                strength_mcg_per_ml=strength,
                route=plan.route,
                start_date=plan.start_date,
                continues_elsewhere=plan.continues_elsewhere,
                prescriber=plan.prescriber,
                indication=plan.indication,
                conditions=frozenset(c for c in plan.conditions.split(",") if c),
                supplied_as=plan.supplied_as,
                status=plan.status,
                author=names.get(plan.author_id, ""),
                author_id=plan.author_id,
                verified_by=names.get(plan.verified_by_id) if plan.verified_by_id else None,
                verified_at=plan.verified_at,
                verification_meaning=plan.verification_meaning,
                end_reason=plan.end_reason,
                override_reason=plan.override_reason,
                review_reason=plan.review_reason,
                phases=_phase_rows(phases[plan.id]),
            )
        )
    return rows


def _plan_row(session: Session, plan: TreatmentPlan) -> PlanRow:
    return _plan_rows(session, [plan])[0]


def stocked_strengths(session: Session, formulation: Formulation) -> list[Decimal]:
    """The strengths of the active deficiency products of a formulation, for the plan editor's choice."""
    return sorted(
        Decimal(s).normalize()
        for s in session.scalars(
            select(Product.strength_mcg_per_ml)
            .where(Product.formulation == formulation, Product.active, Product.for_deficiency)
            .distinct()
        )
    )


def strength_for(session: Session, formulation: Formulation) -> Decimal:
    """The strength stocked for a formulation, or the standard 1,000 mcg/mL when none or several are."""
    strengths = set(stocked_strengths(session, formulation))
    return strengths.pop() if len(strengths) == 1 else STANDARD_STRENGTH_MCG_PER_ML


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
    clock: Clock | None = None,
) -> PlanRow:
    require(session, actor, Permission.PRESCRIBE_PLANS)
    clock = clock or clinic.clinic_clock(session)
    patient = _patient(session, patient_id)
    if patient.archived:
        raise ValidationFailed({"patient": f"{patient.mrn} is archived: restore the patient first."})
    template = _validate(
        session, patient, data, override_reason=override_reason, password=password, actor=actor, clock=clock
    )
    plan = TreatmentPlan(
        patient_id=patient_id,
        template_id=template.id,
        formulation=data.formulation,
        dose_mcg=Decimal(data.dose_mcg),
        strength_mcg_per_ml=Decimal(data.strength_mcg_per_ml),
        route=data.route,
        start_date=data.start_date,
        continues_elsewhere=data.continues_elsewhere,
        supplied_as=data.supplied_as.strip() if data.route == Route.ORAL else "",
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
    clock: Clock | None = None,
) -> PlanRow:
    """Any edit returns the plan to draft: it must be verified again before another dose."""
    require(session, actor, Permission.PRESCRIBE_PLANS)
    clock = clock or clinic.clinic_clock(session)
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
        clock=clock,
        signature_needed=bool(override_reason.strip()),  # a kept override was signed when it was made
    )
    before = _snapshot(plan)
    template_changed = plan.template_id != template.id
    plan.template_id = template.id
    plan.formulation, plan.dose_mcg, plan.route = data.formulation, Decimal(data.dose_mcg), data.route
    plan.strength_mcg_per_ml = Decimal(data.strength_mcg_per_ml)
    plan.start_date, plan.prescriber, plan.indication = (
        data.start_date,
        data.prescriber.strip(),
        data.indication.strip(),
    )
    plan.continues_elsewhere = data.continues_elsewhere
    plan.supplied_as = data.supplied_as.strip() if data.route == Route.ORAL else ""
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


def verification_problems(session: Session, plan: TreatmentPlan) -> dict[str, str]:
    """What stops a plan being verified now, against the patient as they are at this moment."""
    patient = _patient(session, plan.patient_id)
    problems: dict[str, str] = {}
    if patient.archived:
        problems["patient"] = f"{patient.mrn} is archived: a plan cannot be verified for an archived patient."
    template = session.get(RegimenTemplate, plan.template_id)
    assert template is not None
    check = check_plan(
        _template_row(template).definition,
        formulation=plan.formulation,
        dose_mcg=Decimal(plan.dose_mcg),
        route=plan.route,
        flags=_flags(patient),
    )
    problems.update(check.blocking)
    if check.overridable and not plan.override_reason.strip():
        problems.update(
            {
                key: f"{text} The plan records no override: the prescriber edits it and records the reason."
                for key, text in check.overridable.items()
            }
        )
    return problems


def verify_plan(
    session: Session,
    actor: Actor,
    plan_id: int,
    *,
    password: str,
    expected_version: int,
    clock: Clock | None = None,
) -> PlanRow:
    """A pharmacist who did not write this version re-enters their password: an electronic signature.

    The plan is checked again against the patient as they are now: a contraindication flag set since the
    plan was written, or an archived patient, stops the verification.
    """
    require(session, actor, Permission.VERIFY_PLANS)
    clock = clock or clinic.clinic_clock(session)
    plan = _plan(session, plan_id)
    if plan.version_id != expected_version:
        raise Conflict("The plan changed since you opened it: review the new version before verifying.")
    if plan.status != PlanStatus.DRAFT:
        raise ValidationFailed(
            {"status": f"Only a draft plan can be verified; this one is {plan.status.value}."}
        )
    if plan.author_id == actor.id:
        raise PermissionDenied("You wrote this version of the plan: another pharmacist must verify it.")
    problems = verification_problems(session, plan)
    if problems:
        raise ValidationFailed(problems)
    auth.reauthenticate(session, actor, password)
    plan.status = PlanStatus.ACTIVE if _given_doses(session, plan.id) else PlanStatus.VERIFIED
    plan.verified_by_id, plan.verified_at, plan.verification_meaning = (
        actor.id,
        clock.utcnow(),
        VERIFICATION_MEANING,
    )
    plan.verified_snapshot = canonical_json(_snapshot(plan))
    review_reason, plan.review_reason = plan.review_reason, ""
    session.flush()
    sync_events(session, plan, today=clock.today())
    append_event(
        session,
        staff_id=actor.id,
        action="verify",
        entity="treatment_plan",
        entity_id=plan.id,
        old={"status": PlanStatus.DRAFT.value} | ({"review_reason": review_reason} if review_reason else {}),
        new={
            "status": plan.status.value,
            "meaning": VERIFICATION_MEANING,
            "strength_mcg_per_ml": plan.strength_mcg_per_ml,
        },
    )
    return _plan_row(session, plan)


OWN_PLAN = "You wrote this plan: a second pharmacist verifies it."


def verify_refusal(actor: Actor, plan: PlanRow) -> str:
    """Why `actor` cannot verify `plan` as it was read ('' when they can), for a screen to say before it
    asks for a password. verify_plan refuses the same cases, and checks the patient as they are now."""
    if not role_can(actor.role, Permission.VERIFY_PLANS):
        return f"A {actor.role.value} may not verify plans; a pharmacist can."
    if plan.status != PlanStatus.DRAFT:
        return f"Only a draft plan is verified; this one is {plan.status.value}."
    if plan.author_id == actor.id:
        return OWN_PLAN
    return ""


def return_for_review(session: Session, actor: Actor, patient_id: int, *, reason: str) -> list[int]:
    """The patient's verified plans go back to the pharmacist (e.g. a contraindication flag changed).

    Called by the patient service in the same transaction as the change; returns the plans' ids.
    """
    require(session, actor, Permission.EDIT_PATIENTS)
    returned = []
    for plan in session.scalars(
        select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id, TreatmentPlan.status.in_(LIVE))
    ):
        _back_to_pharmacist(session, actor, plan, reason)
        returned.append(plan.id)
    return returned


def _back_to_pharmacist(session: Session, actor: Actor, plan: TreatmentPlan, reason: str) -> None:
    """A verified plan becomes a draft again, its due events cancelled until a pharmacist verifies it:
    no dose can be recorded against it meanwhile. The queue shows the reason."""
    was = plan.status
    plan.status = PlanStatus.DRAFT
    plan.review_reason = reason
    plan.verified_by_id, plan.verified_at, plan.verification_meaning = None, None, ""
    session.flush()
    _cancel_due_events(session, plan.id)
    append_event(
        session,
        staff_id=actor.id,
        action="return_for_review",
        entity="treatment_plan",
        entity_id=plan.id,
        old={"status": was.value},
        new={"status": PlanStatus.DRAFT.value},
        reason=reason,
    )


class _Phase(Protocol):
    @property
    def ended_on(self) -> date | None: ...


_PhaseT = TypeVar("_PhaseT", bound=_Phase)


def phase_a_review_ends(phases: Sequence[_PhaseT]) -> tuple[_PhaseT, _PhaseT] | None:
    """The current phase and the one that follows it, when a review may end the current one: never the
    last phase, which ends with the plan (stopped or completed). `phases` in their order."""
    still_open = [p for p in phases if p.ended_on is None]
    return (still_open[0], still_open[1]) if len(still_open) >= 2 else None


def end_phase(
    session: Session, actor: Actor, plan_id: int, *, on: date, reason: str, clock: Clock | None = None
) -> PlanRow:
    """A clinical review ends the current phase (e.g. alternate-day doses 'until no further improvement').

    Ending a phase changes what is given from now on (the next phase's dose and spacing), so the plan goes
    back to a pharmacist: it is a draft until verified again, and no dose is recorded against it meanwhile.
    """
    require(session, actor, Permission.PRESCRIBE_PLANS)
    clock = clock or clinic.clinic_clock(session)
    plan = _plan(session, plan_id)
    if plan.status not in LIVE:
        raise ValidationFailed({"status": "Only a verified or active plan has a phase to end."})
    if not reason.strip():
        raise ValidationFailed({"reason": "Record the review's finding (e.g. no further improvement)."})
    phases = list(
        session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.seq))
    )
    pair = phase_a_review_ends(phases)
    if pair is None:
        raise ValidationFailed(
            {"phase": "The last phase ends with the plan: stop or complete the plan instead."}
        )
    current, following = pair
    if on > clock.today():
        raise ValidationFailed({"on": "A review ends a phase today or in the past, not in the future."})
    current.ended_on, current.end_reason = on, reason.strip()
    plan.author_id = actor.id  # the author of this version (phases ended) may not verify it
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="end_phase",
        entity="treatment_plan",
        entity_id=plan.id,
        new={"phase": current.seq, "ended_on": on},
        reason=reason.strip(),
    )
    _back_to_pharmacist(
        session,
        actor,
        plan,
        f"Phase {current.seq} ({current.kind.value}) ended at a review on {on.isoformat()}: "
        f"{reason.strip()}. Verify phase {following.seq} ({following.kind.value}) before its doses are "
        "given.",
    )
    return _plan_row(session, plan)


def stop_plan(
    session: Session,
    actor: Actor,
    plan_id: int,
    *,
    completed: bool,
    reason: str,
    clock: Clock | None = None,
) -> PlanRow:
    """End a plan. While the cause persists, maintenance cannot end without a recorded reason."""
    require(session, actor, Permission.PRESCRIBE_PLANS)
    clock = clock or clinic.clinic_clock(session)
    plan = _plan(session, plan_id)
    if plan.status in (PlanStatus.COMPLETED, PlanStatus.STOPPED):
        raise ValidationFailed({"status": f"The plan is already {plan.status.value}."})
    patient = _patient(session, plan.patient_id)
    schedule = _schedule(session, plan, today=clock.today())
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
    return _plan_rows(
        session,
        list(
            session.scalars(
                select(TreatmentPlan)
                .where(TreatmentPlan.patient_id == patient_id)
                .order_by(TreatmentPlan.id.desc())
            )
        ),
    )


def verification_queue(session: Session, actor: Actor) -> list[QueueItem]:
    """Draft plans awaiting a pharmacist, with what changed since the last verification."""
    require(session, actor, Permission.VERIFY_PLANS)
    plans = list(
        session.scalars(
            select(TreatmentPlan)
            .where(TreatmentPlan.status == PlanStatus.DRAFT)
            .order_by(TreatmentPlan.created_at, TreatmentPlan.id)
        )
    )
    items = []
    for plan, row in zip(plans, _plan_rows(session, plans), strict=True):
        previous = json.loads(plan.verified_snapshot) if plan.verified_snapshot else {}
        old, new = changed_values(previous, _snapshot(plan)) if previous else ({}, {})
        items.append(QueueItem(row, {k: (old.get(k), new[k]) for k in new}, bool(previous)))
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


def given_dose_times(session: Session, plan_id: int) -> list[datetime]:
    """When the plan's current, given doses were given, oldest first."""
    return list(
        session.scalars(
            select(Administration.given_at)
            .where(
                Administration.plan_id == plan_id,
                Administration.outcome == AdministrationOutcome.GIVEN,
                Administration.status == RecordStatus.CURRENT,
            )
            .order_by(Administration.given_at)
        )
    )


def _given_doses(session: Session, plan_id: int, clock: Clock | None = None) -> list[date]:
    """The clinic days of the plan's given doses (a dose at 00:30 clinic time counts for that day)."""
    clock = clock or clinic.clinic_clock(session)
    return [clock.day_of(t) for t in given_dose_times(session, plan_id)]


def plan_phase_defs(
    session: Session, plan: TreatmentPlan
) -> tuple[list[PhaseDef], dict[int, date], TemplateDef, list[PlanPhase]]:
    """The plan's phases as the engine takes them: its own doses and counts, the template's tasks,
    windows and minimum intervals; which phases a review ended; and the phase rows."""
    template_row = session.get(RegimenTemplate, plan.template_id)
    assert template_row is not None
    template = _template_row(template_row).definition
    phases = list(
        session.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.seq))
    )
    defs, ended = _phase_defs(template, phases)
    return defs, ended, template, phases


def _phase_defs(template: TemplateDef, phases: Sequence[PlanPhase]) -> tuple[list[PhaseDef], dict[int, date]]:
    by_kind = list(template.phases)
    defs = []
    for i, p in enumerate(phases):
        base = by_kind[i] if i < len(by_kind) else None
        defs.append(
            PhaseDef(
                kind=p.kind,
                dose_mcg=Decimal(p.dose_mcg),
                interval_days=p.interval_days,
                times_per_week=p.times_per_week,
                dose_count=p.dose_count,
                window_days=base.window_days if base else 0,
                tasks=base.tasks if base else (),
                min_interval_days=base.min_interval_days if base else None,
                route=base.route if base else None,
                ends_with_review=base.ends_with_review if base else False,
            )
        )
    ended = {i: p.ended_on for i, p in enumerate(phases) if p.ended_on is not None}
    return defs, ended


def _schedule(
    session: Session,
    plan: TreatmentPlan,
    *,
    today: date,
    until: date | None = None,
    given: list[date] | None = None,
) -> Schedule:
    defs, ended, template, _ = plan_phase_defs(session, plan)
    patient = session.get(Patient, plan.patient_id)
    conditions = schedule_conditions(
        frozenset(c for c in plan.conditions.split(",") if c),
        pregnant_or_breastfeeding=patient is not None and patient.pregnant_or_breastfeeding,
    )
    return build_schedule(
        defs,
        start=plan.start_date,
        given=_given_doses(session, plan.id) if given is None else given,
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
    session: Session,
    actor: Actor,
    plan_id: int,
    *,
    today: date | None = None,
    until: date | None = None,
    clock: Clock | None = None,
) -> Schedule:
    require(session, actor, Permission.READ_PATIENTS)
    if today is None:
        today = (clock or clinic.clinic_clock(session)).today()
    return _schedule(session, _plan(session, plan_id), today=today, until=until)


@dataclass(frozen=True, slots=True)
class PlanExpectations:
    """A plan's phases read once, to ask what many doses are (the rows of a history import)."""

    start: date
    defs: list[PhaseDef]
    ended: dict[int, date]
    open_days: frozenset[int]

    def of(self, *, given: list[date], day: date) -> tuple[tuple[PhaseDef, int, Decimal] | None, bool]:
        """The dose expected on `day` after the doses `given` (phase, number, amount) or None, and
        whether the plan then waits for a review."""
        schedule = build_schedule(
            self.defs,
            start=self.start,
            given=given,
            today=day,
            until=day + timedelta(days=SCHEDULE_HORIZON_DAYS),
            open_days=self.open_days,
            phase_ended_on=self.ended,
        )
        nxt = schedule.next_dose()
        if nxt is None:
            return None, schedule.waiting_for_review is not None
        return (self.defs[nxt.phase_index], nxt.number, nxt.dose_mcg), False


def plan_expectations(session: Session, plan: TreatmentPlan) -> PlanExpectations:
    return expectations_for(session, [plan])[plan.id]


def expectations_for(session: Session, plans: Sequence[TreatmentPlan]) -> dict[int, PlanExpectations]:
    """Each plan's phases, read for all of them at once (an import checks thousands of doses)."""
    days = open_days(session)
    out = {}
    for plan, (defs, ended, _template, _rows) in zip(plans, _phase_defs_for(session, plans), strict=True):
        doses_only = [replace(d, tasks=()) for d in defs]  # the tasks play no part in which dose is next
        out[plan.id] = PlanExpectations(plan.start_date, doses_only, ended, days)
    return out


def _phase_defs_for(
    session: Session, plans: Sequence[TreatmentPlan]
) -> list[tuple[list[PhaseDef], dict[int, date], TemplateDef, list[PlanPhase]]]:
    """plan_phase_defs for many plans in a few queries, in the order given."""
    templates = {
        t.id: _template_row(t).definition
        for t in session.scalars(
            select(RegimenTemplate).where(RegimenTemplate.id.in_({p.template_id for p in plans}))
        )
    }
    phases: dict[int, list[PlanPhase]] = {}
    for chunk in _chunks([p.id for p in plans]):
        for phase in session.scalars(
            select(PlanPhase).where(PlanPhase.plan_id.in_(chunk)).order_by(PlanPhase.plan_id, PlanPhase.seq)
        ):
            phases.setdefault(phase.plan_id, []).append(phase)
    out = []
    for plan in plans:
        template, rows = templates[plan.template_id], phases.get(plan.id, [])
        defs, ended = _phase_defs(template, rows)
        out.append((defs, ended, template, rows))
    return out


def preview_schedule(
    template: TemplateDef,
    *,
    start: date,
    dose_mcg: Decimal | None = None,
    conditions: frozenset[str] = frozenset(),
    days: frozenset[int] = ALL_DAYS,
    until: date | None = None,
) -> Schedule:
    """A template's planned doses and tasks from a start date through `until`, with no patient (the
    pharmacist's check): nothing after `until` is listed, so a preview is exactly the span it names."""
    phases = _phases_for(template, dose_mcg) if dose_mcg is not None else list(template.phases)
    end = until or start + timedelta(days=SCHEDULE_HORIZON_DAYS)
    schedule = build_schedule(
        phases,
        start=start,
        given=[],
        today=start,
        until=end,
        open_days=days,
        conditions=conditions,
        baseline_tasks=template.baseline_tasks,
    )
    # The schedule lists each task at least once, however far off (a plan's first yearly review, 15 months
    # out when maintenance starts at 3): right for a plan's own events, not for a preview of a span.
    return replace(schedule, tasks=tuple(t for t in schedule.tasks if t.due <= end))


def _cancel_due_events(session: Session, plan_id: int) -> None:
    session.execute(
        update(ScheduledEvent)
        .where(ScheduledEvent.plan_id == plan_id, ScheduledEvent.status == EventStatus.DUE)
        .values(status=EventStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )


def _dose_label(kind: PhaseKind, number: int, dose_mcg: Decimal) -> str:
    return f"{kind.value.capitalize()} dose {number}: {format_mcg(dose_mcg)}"


@dataclass(frozen=True, slots=True)
class _Due:
    kind: EventKind
    phase_id: int | None
    label: str
    lab_test_code: str | None
    due_on: date
    window_end: date


def sync_events(session: Session, plan: TreatmentPlan, *, today: date) -> None:
    """Bring the plan's outstanding events in line with what the engine now says is due (sync_plans)."""
    sync_plans(session, [plan], today=today)


def sync_plans(session: Session, plans: Sequence[TreatmentPlan], *, today: date) -> None:
    """Bring each plan's outstanding events in line with what the engine now says is due.

    Only what changed is written: an event keeps its row when its date moves, a dose just given becomes
    done, an event no longer due is cancelled (kept as history), and a new one is added. Events someone
    closed (done, missed) are never revived. Set-based: what the plans' schedules are worked out from is
    read in a few queries for all of them (an import brings thousands), new events are inserted in bulk.
    """
    dead = [p.id for p in plans if p.status not in LIVE]
    for dead_ids in _chunks(dead):
        session.execute(
            update(ScheduledEvent)
            .where(ScheduledEvent.plan_id.in_(dead_ids), ScheduledEvent.status == EventStatus.DUE)
            .values(status=EventStatus.CANCELLED)
            .execution_options(synchronize_session="fetch")
        )
    live = [p for p in plans if p.status in LIVE]
    if not live:
        return
    session.flush()
    clock = clinic.clinic_clock(session)
    days = open_days(session)
    given: dict[int, list[date]] = {}
    closed: dict[int, list[_Closed]] = {}
    existing: dict[int, list[_Event]] = {}
    pregnant: dict[int, bool] = {}
    for chunk in _chunks(live):
        ids = [p.id for p in chunk]
        for plan_id, given_at in session.execute(
            select(Administration.plan_id, Administration.given_at)
            .where(
                Administration.plan_id.in_(ids),
                Administration.outcome == AdministrationOutcome.GIVEN,
                Administration.status == RecordStatus.CURRENT,
            )
            .order_by(Administration.given_at)
        ):
            given.setdefault(plan_id or 0, []).append(clock.day_of(given_at))
        for plan_id, event_id, kind, phase_id, label, due in session.execute(
            select(
                ScheduledEvent.plan_id,
                ScheduledEvent.id,
                ScheduledEvent.kind,
                ScheduledEvent.phase_id,
                ScheduledEvent.label,
                ScheduledEvent.due_on,
            ).where(
                ScheduledEvent.plan_id.in_(ids),
                ScheduledEvent.kind != EventKind.DOSE,
                ScheduledEvent.status.in_((EventStatus.DONE, EventStatus.MISSED)),
            )
        ):
            closed.setdefault(plan_id, []).append(_Closed(event_id, kind, phase_id, label, due))
        for plan_id, event_id, kind, phase_id, label, lab_test_code, due_on, window_end in session.execute(
            select(
                ScheduledEvent.plan_id,
                ScheduledEvent.id,
                ScheduledEvent.kind,
                ScheduledEvent.phase_id,
                ScheduledEvent.label,
                ScheduledEvent.lab_test_code,
                ScheduledEvent.due_on,
                ScheduledEvent.window_end,
            )
            .where(ScheduledEvent.plan_id.in_(ids), ScheduledEvent.status == EventStatus.DUE)
            .order_by(ScheduledEvent.plan_id, ScheduledEvent.due_on, ScheduledEvent.id)
        ):
            existing.setdefault(plan_id, []).append(
                _Event(event_id, kind, phase_id, label, lab_test_code, due_on, window_end)
            )
        pregnant.update(
            (patient_id, flag)
            for patient_id, flag in session.execute(
                select(Patient.id, Patient.pregnant_or_breastfeeding).where(
                    Patient.id.in_({p.patient_id for p in chunk})
                )
            )
        )
    changes = _EventChanges()
    for plan, (defs, ended, template, rows) in zip(live, _phase_defs_for(session, live), strict=True):
        schedule = build_schedule(
            defs,
            start=plan.start_date,
            given=given.get(plan.id, []),
            today=today,
            until=today + timedelta(days=SCHEDULE_HORIZON_DAYS),
            open_days=days,
            phase_ended_on=ended,
            conditions=schedule_conditions(
                frozenset(c for c in plan.conditions.split(",") if c),
                pregnant_or_breastfeeding=pregnant.get(plan.patient_id, False),
            ),
            baseline_tasks=template.baseline_tasks,
        )
        _reconcile(
            plan,
            schedule,
            [p.id for p in rows],
            closed.get(plan.id, []),
            existing.get(plan.id, []),
            changes,
        )
    changes.write(session)


def _chunks(values: Sequence[T], size: int = 500) -> list[Sequence[T]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


@dataclass(frozen=True, slots=True)
class _Event:
    """A due event as sync_plans reads it: the columns it compares, no ORM object."""

    id: int
    kind: EventKind
    phase_id: int | None
    label: str
    lab_test_code: str | None
    due_on: date
    window_end: date


@dataclass(frozen=True, slots=True)
class _Closed:
    """A lab or review task someone closed (done, missed): it holds its place in the task's occurrences."""

    id: int
    kind: EventKind
    phase_id: int | None
    label: str
    due_on: date


@dataclass
class _EventChanges:
    """What sync_plans writes, gathered over all its plans and written in bulk."""

    added: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    closed: list[dict[str, Any]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        for batch in _chunks(self.added, 2000):
            session.execute(ScheduledEvent.__table__.insert(), list(batch))  # type: ignore[attr-defined]
        for rows in (self.moved, self.closed):
            for batch in _chunks(rows, 2000):
                session.execute(update(ScheduledEvent), list(batch))  # executemany, by primary key
        # Rows this session holds are read again when next used, so none shows a stale date or status.
        changed = {row["id"] for row in self.moved} | {row["id"] for row in self.closed}
        for obj in list(session.identity_map.values()):
            if isinstance(obj, ScheduledEvent) and obj.id in changed:
                session.expire(obj)


def _reconcile(
    plan: TreatmentPlan,
    schedule: Schedule,
    phase_ids: list[int],
    closed: list[_Closed],
    due_events: list[_Event],
    changes: _EventChanges,
) -> None:
    """One plan: which due events move, close or are cancelled to match the schedule, and which are new.

    A task is known by its kind, phase and label, and by which occurrence of that it is (a yearly review's
    first, second, ...), not by its date: when a task's date moves (its phase's first dose given later than
    planned), the occurrence someone already closed stays closed and is not added again as due.
    """
    wanted: list[_Due] = []
    given_keys: set[tuple[EventKind, int | None, str]] = set()
    key: tuple[EventKind, int | None, str]
    for dose in schedule.doses:
        label = _dose_label(dose.phase_kind, dose.number, dose.dose_mcg)
        key = (EventKind.DOSE, phase_ids[dose.phase_index], label)
        if dose.given_on is not None:
            given_keys.add(key)
            continue
        wanted.append(_Due(key[0], key[1], key[2], None, dose.due, dose.window_end))
    existing: dict[tuple[EventKind, int | None, str], list[_Event]] = {}
    for event in due_events:
        existing.setdefault((event.kind, event.phase_id, event.label), []).append(event)
    # Each task's occurrences in date order beside its events, closed and due, in date order: the n-th
    # event stands for the n-th occurrence. A closed one is left alone; a due one moves to its date.
    occurrences: dict[tuple[EventKind, int | None, str], list[_Due]] = {}
    for task in schedule.tasks:
        due, window_end = task.due, task.window_end
        if due < plan.start_date:
            # Treatment begun elsewhere: what fell due before this plan starts is due on its first day.
            due, window_end = plan.start_date, max(window_end, plan.start_date)
        phase_id = phase_ids[task.phase_index] if task.phase_index is not None else None
        occurrences.setdefault((task.kind, phase_id, task.label), []).append(
            _Due(task.kind, phase_id, task.label, task.lab_test_code, due, window_end)
        )
    places: dict[tuple[EventKind, int | None, str], list[tuple[date, int, _Event | None]]] = {}
    for done in closed:
        places.setdefault((done.kind, done.phase_id, done.label), []).append((done.due_on, done.id, None))
    for key, events in existing.items():
        if key[0] != EventKind.DOSE:
            places.setdefault(key, []).extend((e.due_on, e.id, e) for e in events)
    for key, items in occurrences.items():
        items.sort(key=lambda item: item.due_on)
        held = sorted(places.get(key, []), key=lambda place: (place[0], place[1]))
        for index, item in enumerate(items):
            if index >= len(held):
                _add_event(plan, item, changes)
                continue
            place = held[index][2]
            if place is None:
                continue  # this occurrence was closed by someone: never revived
            existing[key].remove(place)
            _move_event(place, item, changes)
    for item in wanted:
        rows = existing.get((item.kind, item.phase_id, item.label))
        if rows:
            _move_event(rows.pop(0), item, changes)
            continue
        _add_event(plan, item, changes)
    for event_key, rows in existing.items():
        for event in rows:
            status = EventStatus.DONE if event_key in given_keys else EventStatus.CANCELLED
            changes.closed.append({"id": event.id, "status": status})


def _move_event(event: _Event, item: _Due, changes: _EventChanges) -> None:
    if (event.due_on, event.window_end, event.lab_test_code) != (
        item.due_on,
        item.window_end,
        item.lab_test_code,
    ):
        changes.moved.append(
            {
                "id": event.id,
                "due_on": item.due_on,
                "window_start": item.due_on,
                "window_end": item.window_end,
                "lab_test_code": item.lab_test_code,
            }
        )


def _add_event(plan: TreatmentPlan, item: _Due, changes: _EventChanges) -> None:
    changes.added.append(
        {
            "patient_id": plan.patient_id,
            "plan_id": plan.id,
            "phase_id": item.phase_id,
            "kind": item.kind,
            "label": item.label,
            "lab_test_code": item.lab_test_code,
            "due_on": item.due_on,
            "window_start": item.due_on,
            "window_end": item.window_end,
            "status": EventStatus.DUE,
        }
    )
