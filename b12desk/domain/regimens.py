"""Regimen templates as data: phases with dose, route, interval, length and the monitoring they generate."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from b12desk.domain.enums import EventKind, Formulation, PhaseKind, Route

# Routes each formulation may be given by (clinical-facts 1): hydroxocobalamin IM only (Cobalin-H SmPC,
# emc 24703; Neo-Cytamen SmPC, emc 9746); cyanocobalamin IM or deep SC (FDA label), SC in ASMBS 2016
# post-bariatric guidance, or by mouth (oral B12: NICE NG239, MHRA 2022, ASMBS 2016); never IV for
# deficiency (FDA label: an IV dose is mostly lost in urine).
ALLOWED_ROUTES: dict[Formulation, frozenset[Route]] = {
    Formulation.HYDROXOCOBALAMIN: frozenset({Route.IM}),
    Formulation.CYANOCOBALAMIN: frozenset({Route.IM, Route.DEEP_SC, Route.SC, Route.ORAL}),
    Formulation.OTHER: frozenset(),
}
INJECTED_ROUTES = frozenset({Route.IM, Route.DEEP_SC, Route.SC})


# Patient conditions a monitoring task may depend on (a template task's "condition").
TASK_CONDITIONS = ("severe_anaemia", "pregnant_or_breastfeeding")


class TemplateError(ValueError):
    """A template file or edit that cannot produce a safe schedule; the message names the part."""


@dataclass(frozen=True, slots=True)
class TaskDef:
    kind: EventKind  # lab or review
    label: str
    offset_days: int  # from the first dose of the phase
    window_days: int = 0  # may be done up to this many days after it is due
    lab_test_code: str | None = None
    condition: str | None = None  # e.g. "severe_anaemia": generated only when the plan says so
    repeat_every_days: int | None = None  # e.g. yearly review in maintenance


@dataclass(frozen=True, slots=True)
class PhaseDef:
    kind: PhaseKind
    dose_mcg: Decimal
    interval_days: int | None = None
    times_per_week: int | None = None
    dose_count: int | None = None  # None: open-ended, a clinical review ends it
    interval_days_range: tuple[int, int] | None = None  # where the references give a range (⚠)
    window_days: int = 0  # a dose may be given up to this many days after it is due
    dose_min_mcg: Decimal | None = None
    dose_max_mcg: Decimal | None = None
    label: str = ""
    tasks: tuple[TaskDef, ...] = ()
    min_interval_days: int | None = None  # the template's own; else see min_interval
    route: Route | None = None  # ORAL: taken at home, so the phase schedules its tasks but no doses
    ends_with_review: bool = False  # its doses done, the next phase waits for a review (a response)

    @property
    def taken_at_home(self) -> bool:
        return self.route == Route.ORAL

    @property
    def min_gap_days(self) -> int:
        """The shortest spacing the phase allows between two doses."""
        if self.interval_days is not None:
            return self.interval_days
        assert self.times_per_week is not None
        return 7 // self.times_per_week

    @property
    def min_interval(self) -> int:
        """Fewer days than this since the last dose draws a warning when a dose is recorded.

        The template may say; otherwise an induction dose may not come sooner than its spacing (three
        times a week: 2 days; alternate days: 2; daily: 1), and a maintenance dose not sooner than its
        interval less its due window (every 90 days with a 14-day window: 76 days).
        """
        if self.min_interval_days is not None:
            return self.min_interval_days
        if self.kind == PhaseKind.INDUCTION:
            return self.min_gap_days
        return max(1, self.min_gap_days - self.window_days)

    def describe(self) -> str:
        from b12desk.domain.units import format_mcg

        if self.interval_days == 1:
            every = "daily"
        elif self.interval_days == 2:
            every = "on alternate days"
        elif self.interval_days is not None:
            every = f"every {self.interval_days} days"
        else:
            every = f"{self.times_per_week} times a week"
        if self.dose_count:
            length = f"for {self.dose_count} doses"
            if self.ends_with_review:
                length += ", then a response review before the next phase"
        elif self.kind == PhaseKind.INDUCTION:
            length = "until a clinical review ends it"
        else:
            length = "continuing; ending it needs a recorded reason"
        by_mouth = " by mouth, taken at home" if self.taken_at_home else ""
        return f"{self.kind.value.capitalize()}: {format_mcg(self.dose_mcg)} {every}{by_mouth}, {length}"


@dataclass(frozen=True, slots=True)
class TemplateDef:
    code: str
    name: str
    formulation: Formulation
    route: Route  # the default
    source: str
    phases: tuple[PhaseDef, ...]
    routes: tuple[Route, ...] = ()  # allowed for this template, the default first
    notes: str = ""
    baseline_tasks: tuple[TaskDef, ...] = field(default=())


def _decimal(value: Any, where: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except Exception:
        raise TemplateError(f"{where}: '{value}' is not a number.") from None
    if not d.is_finite() or d <= 0:
        raise TemplateError(f"{where}: must be a positive number.")
    return d


def _task(raw: Mapping[str, Any], where: str, lab_codes: Collection[str] | None) -> TaskDef:
    try:
        kind = EventKind(raw["kind"])
    except (KeyError, ValueError):
        raise TemplateError(f"{where}: kind must be 'lab' or 'review'.") from None
    if kind == EventKind.DOSE:
        raise TemplateError(f"{where}: doses come from the phase, not from tasks.")
    if kind == EventKind.LAB and not raw.get("lab_test_code"):
        raise TemplateError(f"{where}: a lab task needs lab_test_code.")
    if kind == EventKind.LAB and lab_codes is not None and raw["lab_test_code"] not in lab_codes:
        raise TemplateError(f"{where}: lab test '{raw['lab_test_code']}' is not a known laboratory test.")
    if kind == EventKind.REVIEW and raw.get("lab_test_code"):
        raise TemplateError(f"{where}: a review task has no lab test.")
    condition = raw.get("condition")
    if condition is not None and condition not in TASK_CONDITIONS:
        raise TemplateError(f"{where}: condition '{condition}' is not one of {', '.join(TASK_CONDITIONS)}.")
    offset = int(raw.get("offset_days", 0))
    if offset < 0:
        raise TemplateError(f"{where}: offset_days cannot be negative.")
    repeat = raw.get("repeat_days", raw.get("repeat_every_days"))
    if repeat is not None and int(repeat) < 1:
        raise TemplateError(f"{where}: repeat_every_days must be at least 1.")
    return TaskDef(
        kind=kind,
        label=str(raw.get("label") or raw.get("lab_test_code") or kind.value),
        offset_days=offset,
        window_days=int(raw.get("window_days", 0)),
        lab_test_code=raw.get("lab_test_code"),
        condition=raw.get("condition"),
        repeat_every_days=None if repeat is None else int(repeat),
    )


def parse_template(raw: Mapping[str, Any], *, lab_codes: Collection[str] | None = None) -> TemplateDef:
    """Build and check one template from its data-file form; every problem names the phase or task."""
    code = str(raw.get("code", "")).strip()
    if not code:
        raise TemplateError("A template needs a code.")
    where = f"template {code}"
    try:
        formulation = Formulation(raw["formulation"])
    except (KeyError, ValueError):
        raise TemplateError(f"{where}: formulation must be cyanocobalamin or hydroxocobalamin.") from None
    if formulation == Formulation.OTHER:
        raise TemplateError(f"{where}: only cyanocobalamin or hydroxocobalamin treat B12 deficiency.")
    try:
        routes = tuple(Route(r) for r in (raw.get("routes") or [raw.get("route", "im")]))
    except ValueError:
        raise TemplateError(f"{where}: routes must be among im, deep_sc, sc.") from None
    for route in routes:
        if route not in ALLOWED_ROUTES[formulation]:
            raise TemplateError(f"{where}: {formulation.value} may not be given by route {route.value}.")
    if Route.ORAL in routes and len(routes) > 1:
        raise TemplateError(
            f"{where}: oral treatment is a template of its own, not one route among injections."
        )
    if not str(raw.get("source", "")).strip():
        raise TemplateError(f"{where}: cite the source the template follows.")
    phases = []
    for n, p in enumerate(raw.get("phases", []), start=1):
        pw = f"{where}, phase {n}"
        interval, per_week = p.get("interval_days"), p.get("times_per_week")
        if (interval is None) == (per_week is None):
            raise TemplateError(f"{pw}: give either interval_days or times_per_week.")
        if interval is not None and int(interval) < 1:
            raise TemplateError(f"{pw}: interval_days must be at least 1.")
        if per_week is not None and not 1 <= int(per_week) <= 7:
            raise TemplateError(f"{pw}: times_per_week must be 1 to 7.")
        count = p.get("dose_count")
        if count is not None and int(count) < 1:
            raise TemplateError(f"{pw}: dose_count must be at least 1, or null for open-ended.")
        try:
            kind = PhaseKind(p["kind"])
        except (KeyError, ValueError):
            raise TemplateError(f"{pw}: kind must be induction or maintenance.") from None
        dose = _decimal(p.get("dose_mcg"), f"{pw} dose_mcg")
        lo = _decimal(p["dose_min_mcg"], f"{pw} dose_min_mcg") if p.get("dose_min_mcg") is not None else dose
        hi = _decimal(p["dose_max_mcg"], f"{pw} dose_max_mcg") if p.get("dose_max_mcg") is not None else dose
        if not lo <= dose <= hi:
            raise TemplateError(f"{pw}: the dose must lie within its allowed range.")
        span = p.get("interval_days_range")
        interval_range: tuple[int, int] | None = None
        if span is not None:
            low, high = int(span[0]), int(span[1])
            if interval is None or not 1 <= low <= int(interval) <= high:
                raise TemplateError(f"{pw}: interval_days must lie within interval_days_range.")
            interval_range = (low, high)
        min_interval = p.get("min_interval_days")
        if min_interval is not None and not 1 <= int(min_interval) <= 366:
            raise TemplateError(f"{pw}: min_interval_days must be 1 to 366.")
        phase_route = p.get("route")
        if phase_route is not None and Route(phase_route) not in routes:
            raise TemplateError(f"{pw}: route '{phase_route}' is not among the template's routes.")
        oral = Route.ORAL in routes
        if oral and count is not None:
            raise TemplateError(f"{pw}: oral treatment is taken daily at home: leave dose_count null.")
        gated = bool(p.get("ends_with_review", False))
        if gated and count is None:
            raise TemplateError(
                f"{pw}: ends_with_review needs a dose_count (an open-ended phase ends by review anyway)."
            )
        phases.append(
            PhaseDef(
                kind=kind,
                dose_mcg=dose,
                interval_days=None if interval is None else int(interval),
                times_per_week=None if per_week is None else int(per_week),
                dose_count=None if count is None else int(count),
                interval_days_range=interval_range,
                window_days=int(p.get("window_days", 0)),
                dose_min_mcg=lo,
                dose_max_mcg=hi,
                label=str(p.get("label", "")),
                min_interval_days=None if min_interval is None else int(min_interval),
                route=Route.ORAL if oral else (None if phase_route is None else Route(phase_route)),
                ends_with_review=gated,
                tasks=tuple(
                    _task(t, f"{pw}, task {k}", lab_codes) for k, t in enumerate(p.get("tasks", []), start=1)
                ),
            )
        )
    for n, phase in enumerate(phases[:-1], start=1):
        if phase.dose_count is None and phase.kind != PhaseKind.INDUCTION:
            raise TemplateError(
                f"{where}, phase {n}: only an induction phase may be open-ended before another."
            )
        if phase.taken_at_home:
            raise TemplateError(
                f"{where}, phase {n}: oral treatment is the last phase, with nothing after it."
            )
    if phases and phases[-1].ends_with_review:
        raise TemplateError(f"{where}: the last phase has no next phase to wait for a review.")
    return TemplateDef(
        code=code,
        name=str(raw.get("name", code)),
        formulation=formulation,
        route=routes[0],
        routes=routes,
        source=str(raw["source"]).strip(),
        phases=tuple(phases),
        notes=str(raw.get("notes", "")),
        baseline_tasks=tuple(
            _task(t, f"{where}, baseline task {k}", lab_codes)
            for k, t in enumerate(raw.get("baseline_tasks", []), start=1)
        ),
    )
