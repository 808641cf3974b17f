"""The check of one dose before it is saved: plain facts in, findings out. No I/O, no clock of its own.

Each finding is a hard stop (the dose cannot be saved; the message says what to do instead) or a warning
(it can be saved once the nurse acknowledges it with a reason and their password). The recording service
gathers the facts from the database as they are at that moment, and the give-dose screen shows the same
findings before Save: one rule set, one place (clinical-facts 3, 5, 6 and 7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from b12desk.domain.enums import (
    AdministrationOutcome,
    Container,
    Formulation,
    InjectionSite,
    PhaseKind,
    PlanStatus,
    Preservative,
    Reaction,
    Route,
)
from b12desk.domain.units import format_mcg, format_ml, format_strength


class Severity(StrEnum):
    HARD_STOP = "hard_stop"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str  # what is wrong, and what to do instead
    field: str  # the part of the form it is about: patient, plan, product, stock, dose, site, given_at, ...

    @property
    def blocks(self) -> bool:
        return self.severity == Severity.HARD_STOP


# --- the clinic's rules, as data ---------------------------------------------------------------------


SITE_GROUPS = ("deltoid", "vastus_lateralis", "ventrogluteal", "dorsogluteal")


def site_group(site: InjectionSite) -> str:
    """ "deltoid_left" -> "deltoid": limits and switches are per muscle, the same on both sides."""
    return site.value.rsplit("_", 1)[0]


@dataclass(frozen=True, slots=True)
class SiteRule:
    enabled: bool
    max_volume_ml: Decimal
    source: str = ""


@dataclass(frozen=True, slots=True)
class DoseRules:
    """Limits a pharmacist may edit (resources/dose_safety.json, then the clinic's own settings)."""

    sites: Mapping[str, SiteRule]
    strength_min_mcg_per_ml: Decimal
    strength_max_mcg_per_ml: Decimal
    container_max_ml: Decimal
    future_tolerance: timedelta = timedelta(minutes=5)
    backdate_reason_after: timedelta = timedelta(hours=24)

    def site_rule(self, site: InjectionSite) -> SiteRule:
        return self.sites[site_group(site)]

    def enabled_sites(self) -> tuple[InjectionSite, ...]:
        return tuple(s for s in InjectionSite if self.site_rule(s).enabled)

    def product_range_text(self) -> str:
        low, high = (
            format_strength(self.strength_min_mcg_per_ml),
            format_strength(self.strength_max_mcg_per_ml),
        )
        return f"{low} to {high}, at most {format_ml(self.container_max_ml)} a container"


class RulesError(ValueError):
    """The rules data cannot be used; the message names the part."""


def _positive(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    try:
        value = Decimal(str(raw[key]))
    except KeyError:
        raise RulesError(f"{where}: '{key}' is missing.") from None
    except InvalidOperation:
        raise RulesError(f"{where}: {key} '{raw[key]}' is not a number.") from None
    if not value.is_finite() or value <= 0:
        raise RulesError(f"{where}: {key} must be a positive number.")
    return value


def parse_dose_rules(raw: Mapping[str, Any]) -> DoseRules:
    """Build and check the rules from their data-file form; every problem names the entry."""
    sites_raw = raw.get("injection_sites")
    if not isinstance(sites_raw, Mapping):
        raise RulesError("dose rules: 'injection_sites' is missing.")
    sites: dict[str, SiteRule] = {}
    for group in SITE_GROUPS:
        entry = sites_raw.get(group)
        if not isinstance(entry, Mapping):
            raise RulesError(f"dose rules: injection site '{group}' is missing.")
        sites[group] = SiteRule(
            enabled=bool(entry.get("enabled", True)),
            max_volume_ml=_positive(entry, "max_volume_ml", f"injection site {group}"),
            source=str(entry.get("source", "")),
        )
    unknown = sorted(set(sites_raw) - set(SITE_GROUPS))
    if unknown:
        raise RulesError(f"dose rules: unknown injection site(s) {', '.join(unknown)}.")
    if not any(rule.enabled for rule in sites.values()):
        raise RulesError("dose rules: at least one injection site must stay switched on.")
    products = raw.get("deficiency_products")
    if not isinstance(products, Mapping):
        raise RulesError("dose rules: 'deficiency_products' is missing.")
    low = _positive(products, "strength_min_mcg_per_ml", "deficiency products")
    high = _positive(products, "strength_max_mcg_per_ml", "deficiency products")
    if low > high:
        raise RulesError("deficiency products: the lowest strength is above the highest.")
    timing = raw.get("timing", {})
    if not isinstance(timing, Mapping):
        raise RulesError("dose rules: 'timing' must be a table of values.")
    future = int(timing.get("future_tolerance_minutes", 5))
    backdate = int(timing.get("backdate_reason_after_hours", 24))
    if not 0 <= future <= 60:
        raise RulesError("timing: future_tolerance_minutes must be 0 to 60.")
    if not 1 <= backdate <= 24 * 14:
        raise RulesError("timing: backdate_reason_after_hours must be 1 to 336.")
    return DoseRules(
        sites=sites,
        strength_min_mcg_per_ml=low,
        strength_max_mcg_per_ml=high,
        container_max_ml=_positive(products, "container_max_ml", "deficiency products"),
        future_tolerance=timedelta(minutes=future),
        backdate_reason_after=timedelta(hours=backdate),
    )


def product_range_problem(strength: Decimal, volume_ml: Decimal, rules: DoseRules) -> str | None:
    """Why a product "for deficiency" is outside the clinic's range (e.g. the 5 g antidote), or None."""
    if not rules.strength_min_mcg_per_ml <= strength <= rules.strength_max_mcg_per_ml:
        return (
            f"{format_strength(strength)} is outside the range for B12 deficiency products "
            f"({rules.product_range_text()}): check the strength, or record the product as not for "
            "deficiency treatment."
        )
    if volume_ml > rules.container_max_ml:
        return (
            f"A {format_ml(volume_ml)} container is larger than B12 deficiency products come "
            f"({rules.product_range_text()}): check the volume, or record the product as not for "
            "deficiency treatment."
        )
    return None


# --- the facts of one attempt ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatientFacts:
    id: int
    archived: bool
    lebers_disease: bool = False
    b12_hypersensitivity: bool = False
    benzyl_alcohol_sensitivity: bool = False
    cobalt_allergy: bool = False  # a caution: counsel, and acknowledge
    self_injection_trained_on: date | None = None  # may report the doses they give themselves at home


@dataclass(frozen=True, slots=True)
class PlanFacts:
    id: int
    patient_id: int
    status: PlanStatus
    formulation: Formulation
    strength_mcg_per_ml: Decimal  # as verified by the pharmacist
    route: Route
    start_date: date
    continues_elsewhere: bool = False
    hypersensitivity_override: bool = False  # a pharmacist recorded why treatment goes ahead
    awaiting_review: bool = False  # its doses complete a phase whose next waits for a review


@dataclass(frozen=True, slots=True)
class ExpectedDose:
    """What the schedule says this dose is: its phase, number, amount and the soonest spacing allowed."""

    phase_kind: PhaseKind
    number: int
    dose_mcg: Decimal
    min_interval_days: int

    def describe(self) -> str:
        return f"{self.phase_kind.value} dose {self.number}"


@dataclass(frozen=True, slots=True)
class LotFacts:
    id: int
    product_id: int
    lot_number: str
    expiry: date
    quantity: int  # sealed containers


@dataclass(frozen=True, slots=True)
class ProductFacts:
    id: int
    label: str
    formulation: Formulation
    strength_mcg_per_ml: Decimal
    container: Container
    volume_ml: Decimal
    for_deficiency: bool
    active: bool = True
    preservatives: frozenset[Preservative] | None = None  # None: not yet confirmed by a pharmacist


@dataclass(frozen=True, slots=True)
class VialFacts:
    id: int
    lot: LotFacts
    is_open: bool
    discard_by: datetime
    remaining_ml: Decimal


@dataclass(frozen=True, slots=True)
class PastDose:
    administration_id: int
    given_at: datetime
    site: InjectionSite | None


@dataclass(frozen=True, slots=True)
class DoseAttempt:
    patient_id: int
    given_at: datetime
    dose_mcg: Decimal
    route: Route
    site: InjectionSite | None
    outcome: AdministrationOutcome = AdministrationOutcome.GIVEN
    external: bool = False  # given at another clinic: no stock here, and often no site
    note: str = ""
    reaction: Reaction = Reaction.NONE
    self_administered: bool = False  # at home, by the patient (external: no stock drawn here)


@dataclass(frozen=True, slots=True)
class DoseFacts:
    attempt: DoseAttempt
    patient: PatientFacts
    plan: PlanFacts | None
    expected: ExpectedDose | None
    product: ProductFacts | None
    lot: LotFacts | None
    vial: VialFacts | None
    history: Sequence[PastDose]  # the patient's current given doses, any plan, this one excluded
    rules: DoseRules
    now: datetime
    zone: tzinfo


def volume_to_draw(dose_mcg: Decimal, strength_mcg_per_ml: Decimal) -> Decimal:
    return (Decimal(dose_mcg) / Decimal(strength_mcg_per_ml)).normalize()


def _day(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def _end_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.max, tzinfo=zone)


def _when(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _site_text(site: InjectionSite) -> str:
    muscle, side = site.value.rsplit("_", 1)
    return f"{side} {muscle.replace('_', ' ')}"


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []

    def stop(self, code: str, field_name: str, message: str) -> None:
        self.items.append(Finding(code, Severity.HARD_STOP, message, field_name))

    def warn(self, code: str, field_name: str, message: str) -> None:
        self.items.append(Finding(code, Severity.WARNING, message, field_name))


def check_dose(f: DoseFacts) -> tuple[Finding, ...]:
    """Every rule, against the facts as they are now; hard stops first, then warnings, each in form order."""
    out = _Findings()
    a = f.attempt
    given = a.outcome == AdministrationOutcome.GIVEN
    _check_patient_and_plan(f, out)
    _check_time(f, out)
    if a.self_administered:
        trained = f.patient.self_injection_trained_on
        if trained is None:
            out.stop(
                "not_trained_to_self_inject",
                "patient",
                "The patient is not recorded as trained to self-inject: record the training (date and "
                "trainer) on the patient first, or record the dose as given in the clinic.",
            )
        elif _day(a.given_at, f.zone) < trained:
            out.stop(
                "before_self_injection_training",
                "given_at",
                f"The patient was trained to self-inject on {trained.isoformat()}: a home dose before then "
                "cannot be theirs. Check the date.",
            )
    if not given:
        if not a.note.strip():
            out.stop(
                "reason_missing",
                "note",
                "Say why the dose was not given (e.g. patient declined, clinical hold).",
            )
        if a.reaction != Reaction.NONE:
            out.stop(
                "reaction_without_dose",
                "reaction",
                "A reaction is recorded with a dose that was given: set the outcome to Given, or the "
                "reaction to None.",
            )
    else:
        _check_product_and_stock(f, out)
        _check_dose_and_route(f, out)
        _check_site(f, out)
        _check_contraindications(f, out)
    order = {Severity.HARD_STOP: 0, Severity.WARNING: 1}
    return tuple(sorted(out.items, key=lambda x: order[x.severity]))


def _check_patient_and_plan(f: DoseFacts, out: _Findings) -> None:
    if f.patient.archived:
        out.stop(
            "patient_archived",
            "patient",
            "The patient is archived: no dose can be recorded. Restore the patient first if they are "
            "back in the clinic's care.",
        )
    plan = f.plan
    if plan is None:
        out.stop(
            "no_plan",
            "plan",
            "The patient has no verified treatment plan: a pharmacist must verify one before any dose.",
        )
        return
    if plan.patient_id != f.patient.id:
        out.stop(
            "plan_other_patient",
            "plan",
            "This plan belongs to another patient: check the patient's name and date of birth, and "
            "choose their own plan.",
        )
    if plan.status not in (PlanStatus.VERIFIED, PlanStatus.ACTIVE):
        out.stop(
            "plan_not_verified",
            "plan",
            f"The plan is {plan.status.value}: no dose can be recorded until a pharmacist verifies it.",
        )
    if plan.route == Route.ORAL and not f.attempt.external:
        out.stop(
            "oral_plan",
            "plan",
            "This plan is oral B12 taken at home: no injection is recorded against it. If an injection is "
            "needed, the prescriber writes an injection plan for a pharmacist to verify.",
        )
    elif plan.awaiting_review and f.attempt.outcome == AdministrationOutcome.GIVEN:
        out.warn(
            "awaiting_review",
            "plan",
            "The plan's doses so far complete a phase that waits for a review (e.g. the reticulocyte "
            "response) before the next: record the review first (End phase), or give this dose only for a "
            "clinical reason.",
        )


def _check_time(f: DoseFacts, out: _Findings) -> None:
    a, zone, rules = f.attempt, f.zone, f.rules
    if a.given_at > f.now + rules.future_tolerance:
        out.stop(
            "time_in_future",
            "given_at",
            f"{_when(a.given_at, zone)} is in the future: record a dose when it has been given, at the "
            "time it was given.",
        )
    elif not a.external and f.now - a.given_at > rules.backdate_reason_after:
        hours = int(rules.backdate_reason_after.total_seconds() // 3600)
        out.warn(
            "backdated",
            "given_at",
            f"The dose is recorded more than {hours} hours after it was given ({_when(a.given_at, zone)}): "
            "say why it is recorded late.",
        )
    day = _day(a.given_at, zone)
    plan = f.plan
    if a.external and plan is not None and day < plan.start_date and not plan.continues_elsewhere:
        out.stop(
            "before_plan_start",
            "given_at",
            f"{day.isoformat()} is before the plan starts ({plan.start_date.isoformat()}). If treatment "
            "began at another clinic, ask a pharmacist to mark the plan as continuing that treatment.",
        )
    if a.outcome != AdministrationOutcome.GIVEN:
        return
    same_day = [d for d in f.history if _day(d.given_at, zone) == day]
    if same_day:
        out.stop(
            "second_dose_same_day",
            "given_at",
            f"A dose was already given on {day.isoformat()} (at {_when(same_day[0].given_at, zone)}): a "
            "second dose the same day is never part of a B12 regimen. If that record is wrong, correct it "
            "from the log first.",
        )
        return
    if f.expected is None:
        return
    gap = f.expected.min_interval_days
    before = [d for d in f.history if d.given_at < a.given_at]
    after = [d for d in f.history if d.given_at > a.given_at]
    if before:
        last = max(before, key=lambda d: d.given_at)
        days = (day - _day(last.given_at, zone)).days
        if days < gap:
            out.warn(
                "interval_too_short",
                "given_at",
                f"Only {days} day(s) since the last dose ({_day(last.given_at, zone).isoformat()}); the "
                f"{f.expected.phase_kind.value} phase spaces doses at least {gap} day(s) apart. Give it "
                "early only for a clinical reason.",
            )
            return
    if after:
        following = min(after, key=lambda d: d.given_at)
        days = (_day(following.given_at, zone) - day).days
        if days < gap:
            out.warn(
                "interval_too_short",
                "given_at",
                f"Only {days} day(s) before the next recorded dose ({_day(following.given_at, zone)}); "
                f"the {f.expected.phase_kind.value} phase spaces doses at least {gap} day(s) apart.",
            )


def _check_product_and_stock(f: DoseFacts, out: _Findings) -> None:
    a, p, plan = f.attempt, f.product, f.plan
    if p is None:
        if not a.external:
            out.stop("product_missing", "product", "Choose the product given (scan the pack or pick it).")
        return
    if not p.for_deficiency:
        out.stop(
            "product_not_for_deficiency",
            "product",
            f"{p.label} is not a B12 deficiency treatment (e.g. the cyanide antidote): choose a "
            "deficiency product.",
        )
    elif not p.active:
        out.stop("product_inactive", "product", f"{p.label} has been taken out of use: choose another.")
    else:
        problem = product_range_problem(p.strength_mcg_per_ml, p.volume_ml, f.rules)
        if problem:
            out.stop("product_out_of_range", "product", f"{p.label}: {problem}")
    if plan is not None:
        if p.formulation != plan.formulation:
            out.stop(
                "formulation_mismatch",
                "product",
                f"The plan prescribes {plan.formulation.value}; {p.label} is {p.formulation.value}. Use "
                f"a {plan.formulation.value} product.",
            )
        elif p.strength_mcg_per_ml != plan.strength_mcg_per_ml:
            out.stop(
                "strength_mismatch",
                "product",
                f"The plan was verified for {format_strength(plan.strength_mcg_per_ml)}; this product is "
                f"{format_strength(p.strength_mcg_per_ml)}. Use the verified strength, or ask a pharmacist "
                "to change the plan (it is verified again).",
            )
    if a.external:
        return
    _check_stock(f, p, out)


def _check_stock(f: DoseFacts, p: ProductFacts, out: _Findings) -> None:
    a, zone = f.attempt, f.zone
    moment = max(a.given_at, f.now)  # the later of the recorded time and now
    multi = p.container == Container.MULTI_DOSE_VIAL
    lot = f.vial.lot if f.vial is not None else f.lot
    if multi:
        if f.vial is None:
            out.stop(
                "vial_missing",
                "stock",
                f"{p.label} is a multi-dose vial: choose the open vial the dose was drawn from, or open a "
                "new one first (its discard-by date starts then).",
            )
            return
        if f.lot is not None and f.lot.id != f.vial.lot.id:
            out.stop(
                "stock_mismatch",
                "stock",
                f"Vial {f.vial.id} is from lot {f.vial.lot.lot_number}, not lot {f.lot.lot_number}: "
                "scan the vial used.",
            )
    else:
        if f.vial is not None:
            out.stop(
                "stock_mismatch",
                "stock",
                f"{p.label} is single-use: it has no open vial. Choose the lot of the ampoule or vial used.",
            )
            return
        if f.lot is None:
            out.stop("lot_missing", "stock", "Choose the lot of the ampoule or vial used (scan the pack).")
            return
    assert lot is not None
    if lot.product_id != p.id:
        out.stop(
            "stock_other_product",
            "stock",
            f"Lot {lot.lot_number} is of another product, not {p.label}: scan the pack actually used.",
        )
        return
    if moment > _end_of_day(lot.expiry, zone):
        out.stop(
            "lot_expired",
            "stock",
            f"Lot {lot.lot_number} expired on {lot.expiry.isoformat()}: do not use it. Take stock from "
            "another lot and set this one aside for waste.",
        )
    vial = f.vial
    volume = volume_to_draw(a.dose_mcg, p.strength_mcg_per_ml)
    if vial is not None:
        if not vial.is_open:
            out.stop("vial_discarded", "stock", f"Vial {vial.id} has been discarded: choose an open vial.")
        elif vial.discard_by <= moment:
            out.stop(
                "vial_past_discard_by",
                "stock",
                f"Vial {vial.id} passed its discard-by time ({_when(vial.discard_by, zone)}): discard it "
                "and open a new vial.",
            )
        elif vial.remaining_ml < volume:
            out.stop(
                "vial_insufficient",
                "stock",
                f"Vial {vial.id} holds {format_ml(vial.remaining_ml)}; the dose needs {format_ml(volume)}. "
                "Open a new vial; never combine the rest of two vials.",
            )
    elif lot.quantity < 1:
        out.stop("lot_empty", "stock", f"Lot {lot.lot_number} has no sealed containers left on record.")


def _check_dose_and_route(f: DoseFacts, out: _Findings) -> None:
    a, plan, p = f.attempt, f.plan, f.product
    if plan is None:
        return
    if f.expected is not None and a.dose_mcg != f.expected.dose_mcg:
        out.stop(
            "dose_mismatch",
            "dose",
            f"The plan's dose for {f.expected.describe()} is {format_mcg(f.expected.dose_mcg)}, not "
            f"{format_mcg(a.dose_mcg)}: check mcg against mg (1 mg = 1,000 mcg).",
        )
    if a.route == Route.IV:
        out.stop("route_iv", "route", "Never IV for B12 deficiency: an IV dose is mostly lost in the urine.")
    elif a.route != plan.route:
        out.stop(
            "route_mismatch",
            "route",
            f"The plan's route is {_route(plan.route)}, not {_route(a.route)}.",
        )
    if p is None:
        return
    volume = volume_to_draw(a.dose_mcg, p.strength_mcg_per_ml)
    if volume > p.volume_ml:
        out.stop(
            "volume_above_container",
            "dose",
            f"{format_mcg(a.dose_mcg)} of {format_strength(p.strength_mcg_per_ml)} is {format_ml(volume)}, "
            f"more than one container holds ({format_ml(p.volume_ml)}): check the dose and the strength.",
        )
    if a.site is not None and a.route == Route.IM:
        rule = f.rules.site_rule(a.site)
        if volume > rule.max_volume_ml:
            out.stop(
                "volume_above_site_max",
                "site",
                f"{format_ml(volume)} is more than the {_site_text(a.site)} takes in one injection "
                f"(at most {format_ml(rule.max_volume_ml)}): check the strength; a 1,000 mcg dose is 1 mL "
                "of 1,000 mcg/mL.",
            )


def _route(route: Route) -> str:
    return route.value.upper().replace("_", " ")


def _check_site(f: DoseFacts, out: _Findings) -> None:
    a = f.attempt
    if a.route != Route.IM:
        return
    if a.site is None:
        if not a.external:
            out.stop("site_missing", "site", "Record the injection site.")
        return
    rule = f.rules.site_rule(a.site)
    if not rule.enabled:
        enabled = ", ".join(sorted({site_group(s).replace("_", " ") for s in f.rules.enabled_sites()}))
        out.stop(
            "site_disabled",
            "site",
            f"The clinic does not use the {_site_text(a.site)} ({rule.source or 'clinic setting'}): use "
            f"{enabled}.",
        )
    previous = [d for d in f.history if d.site is not None and d.given_at < a.given_at]
    if previous:
        last = max(previous, key=lambda d: d.given_at)
        if last.site == a.site:
            out.warn(
                "same_site_as_last",
                "site",
                f"The {_site_text(a.site)} was also used for the last dose "
                f"({_day(last.given_at, f.zone).isoformat()}): rotate sites unless there is a reason.",
            )


def _check_contraindications(f: DoseFacts, out: _Findings) -> None:
    patient, plan, p = f.patient, f.plan, f.product
    formulation = p.formulation if p is not None else (plan.formulation if plan is not None else None)
    if patient.lebers_disease and formulation == Formulation.CYANOCOBALAMIN:
        out.stop(
            "lebers_cyanocobalamin",
            "product",
            "Leber's disease: cyanocobalamin can cause rapid optic atrophy. Do not give it; a pharmacist "
            "changes the plan to hydroxocobalamin.",
        )
    if patient.b12_hypersensitivity and not (plan is not None and plan.hypersensitivity_override):
        out.stop(
            "hypersensitivity",
            "patient",
            "The patient is recorded as hypersensitive to cobalt or vitamin B12, and no pharmacist has "
            "recorded why treatment goes ahead: do not give the dose; ask the pharmacist to review the plan.",
        )
    if patient.cobalt_allergy:
        out.warn(
            "cobalt_allergy",
            "patient",
            "The patient has a recorded cobalt allergy, and vitamin B12 holds cobalt: counsel them, check "
            "they agree, and watch them after the dose.",
        )
    if patient.benzyl_alcohol_sensitivity and p is not None:
        if p.preservatives is None:
            out.warn(
                "preservatives_unknown",
                "product",
                f"The patient is sensitive to benzyl alcohol and the preservatives of {p.label} are not "
                "recorded: read the pack leaflet, and give it only if it holds no benzyl alcohol.",
            )
        elif Preservative.BENZYL_ALCOHOL in p.preservatives:
            out.stop(
                "benzyl_alcohol",
                "product",
                f"The patient is sensitive to benzyl alcohol, which {p.label} contains: use a "
                "preservative-free product.",
            )


# The order a site is suggested in among those equally rested: ventrogluteal preferred, dorsogluteal last
# (Royal Marsden manual; the sciatic nerve); the deltoid is too small for repeated injections.
SITE_PREFERENCE: tuple[InjectionSite, ...] = (
    InjectionSite.VENTROGLUTEAL_LEFT,
    InjectionSite.VENTROGLUTEAL_RIGHT,
    InjectionSite.VASTUS_LATERALIS_LEFT,
    InjectionSite.VASTUS_LATERALIS_RIGHT,
    InjectionSite.DELTOID_LEFT,
    InjectionSite.DELTOID_RIGHT,
    InjectionSite.DORSOGLUTEAL_LEFT,
    InjectionSite.DORSOGLUTEAL_RIGHT,
)


def suggest_site(history: Sequence[PastDose], rules: DoseRules) -> InjectionSite | None:
    """The least recently used site the clinic allows: one never used first (in SITE_PREFERENCE order),
    else the one rested longest. None when the clinic allows no site."""
    allowed = [s for s in SITE_PREFERENCE if rules.site_rule(s).enabled]
    if not allowed:
        return None
    last_used: dict[InjectionSite, datetime] = {}
    for dose in history:
        if dose.site is not None and (dose.site not in last_used or dose.given_at > last_used[dose.site]):
            last_used[dose.site] = dose.given_at
    rested = [s for s in allowed if s not in last_used]
    if rested:
        return rested[0]
    return min(allowed, key=lambda s: (last_used[s], allowed.index(s)))


def describe_findings(findings: Sequence[Finding]) -> str:
    """One line per finding, hard stops marked, for the command line and logs."""
    return "\n".join(f"{'STOP' if x.blocks else 'WARNING'} [{x.code}] {x.message}" for x in findings)


def describe_volume(dose_mcg: Decimal, strength: Decimal) -> str:
    """ "1 mL of 1,000 mcg/mL" for the screen and the label."""
    return f"{format_ml(volume_to_draw(dose_mcg, strength))} of {format_strength(strength)}"
