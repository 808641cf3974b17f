"""The checks a treatment plan must pass before it is saved, and the rules for ending one."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from b12desk.domain.enums import Formulation, Route
from b12desk.domain.regimens import ALLOWED_ROUTES, TemplateDef
from b12desk.domain.units import format_mcg

VERIFICATION_MEANING = "verified formulation, strength and schedule"


@dataclass(frozen=True, slots=True)
class PatientFlags:
    lebers_disease: bool
    b12_hypersensitivity: bool
    benzyl_alcohol_sensitivity: bool


@dataclass(frozen=True, slots=True)
class PlanCheck:
    blocking: dict[str, str]  # cannot be saved
    overridable: dict[str, str]  # needs a documented reason and the prescriber's password again


def check_plan(
    template: TemplateDef, *, formulation: Formulation, dose_mcg: Decimal, route: Route, flags: PatientFlags
) -> PlanCheck:
    blocking: dict[str, str] = {}
    overridable: dict[str, str] = {}
    if formulation != template.formulation:
        blocking["formulation"] = (
            f"The template '{template.name}' is for {template.formulation.value}, not {formulation.value}: "
            "choose a template for the formulation prescribed."
        )
    if formulation == Formulation.CYANOCOBALAMIN and flags.lebers_disease:
        blocking["formulation"] = (
            "Leber's disease: cyanocobalamin can cause rapid optic atrophy. Use hydroxocobalamin, which is "
            "licensed for Leber's."
        )
    if route == Route.IV:
        blocking["route"] = "Never IV for B12 deficiency: an IV dose is mostly lost in the urine."
    elif route not in ALLOWED_ROUTES.get(formulation, frozenset()):
        allowed = " or ".join(r.value.upper().replace("_", " ") for r in sorted(ALLOWED_ROUTES[formulation]))
        blocking["route"] = f"{formulation.value.capitalize()} is given {allowed} only."
    ranges = [(p.dose_min_mcg or p.dose_mcg, p.dose_max_mcg or p.dose_mcg) for p in template.phases]
    if ranges:
        low = min(lo for lo, _ in ranges)
        high = max(hi for _, hi in ranges)
        if not low <= dose_mcg <= high:
            span = format_mcg(low) if low == high else f"{format_mcg(low)} to {format_mcg(high)}"
            blocking["dose_mcg"] = (
                f"{format_mcg(dose_mcg)} is outside the template's range ({span}): check mcg against mg "
                "(1 mg = 1,000 mcg), or choose another template."
            )
    if flags.b12_hypersensitivity:
        overridable["hypersensitivity"] = (
            "The patient is recorded as hypersensitive to cobalt or vitamin B12: both formulations are "
            "contraindicated. Consider an intradermal test dose; proceed only with a documented reason."
        )
    return PlanCheck(blocking, overridable)


def ending_maintenance_needs_reason(cause_persists: bool, in_maintenance: bool) -> bool:
    """Stopping maintenance while the cause persists is when relapse happens: a reason is required."""
    return cause_persists and in_maintenance
