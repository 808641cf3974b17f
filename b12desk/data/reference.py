"""Reference data shipped in resources/: lab tests, the seed formulary and the regimen templates."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from b12desk.domain.enums import Container, EventKind, Formulation, PhaseKind, Route
from b12desk.domain.gs1 import valid_gtin
from b12desk.domain.labs import LabTestDef

_E = TypeVar("_E", bound=enum.Enum)


def read_resource_text(name: str) -> str:
    return (resources.files("b12desk.resources") / name).read_text(encoding="utf-8")


def read_resource_json(name: str) -> Any:
    return json.loads(read_resource_text(name))


@cache
def lab_tests() -> dict[str, LabTestDef]:
    out: dict[str, LabTestDef] = {}
    for t in read_resource_json("lab_tests.json")["tests"]:
        plausible = t.get("plausible")
        out[t["code"]] = LabTestDef(
            code=t["code"],
            name=t["name"],
            canonical_unit=t["canonical_unit"],
            units={u: (None if f is None else Decimal(str(f))) for u, f in t["units"].items()},
            plausible=(Decimal(str(plausible[0])), Decimal(str(plausible[1]))) if plausible else None,
            qualitative=tuple(t.get("qualitative", ())),
            source=t["source"],
        )
    return out


# --- Seed formulary and regimen templates ---------------------------------------------------------------

#: Patient conditions a monitoring task may depend on (regimen_templates.json "condition").
TASK_CONDITIONS = ("severe_anaemia", "pregnant_or_breastfeeding")


class ReferenceDataError(ValueError):
    """A shipped or pharmacist-edited reference file is inconsistent; the message names the entry."""


@dataclass(frozen=True, slots=True)
class FormularyProduct:
    """One seed formulary entry; the fields up to ``source`` are the products table's columns."""

    key: str
    formulation: Formulation
    manufacturer: str
    brand: str
    strength_mcg_per_ml: Decimal
    container: Container
    volume_ml: Decimal
    preservative: str
    gtin: str | None
    ndc: str | None
    storage_note: str
    beyond_use_days: int | None
    reorder_level: int
    for_deficiency: bool
    source: str
    gtin_invented: bool
    units_per_pack: int

    def product_values(self) -> dict[str, Any]:
        """Column values for a products row (without id, active and version_id)."""
        return {
            "formulation": self.formulation,
            "manufacturer": self.manufacturer,
            "brand": self.brand,
            "strength_mcg_per_ml": self.strength_mcg_per_ml,
            "container": self.container,
            "volume_ml": self.volume_ml,
            "preservative": self.preservative,
            "gtin": self.gtin,
            "ndc": self.ndc,
            "storage_note": self.storage_note,
            "beyond_use_days": self.beyond_use_days,
            "reorder_level": self.reorder_level,
            "for_deficiency": self.for_deficiency,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class RegimenTask:
    """Monitoring a phase generates: due offset_days after the phase starts, on time for window_days."""

    kind: EventKind
    label: str
    offset_days: int
    window_days: int
    lab_test_code: str | None
    condition: str | None
    repeat_days: int | None
    source: str


@dataclass(frozen=True, slots=True)
class RegimenPhase:
    kind: PhaseKind
    label: str
    dose_mcg: Decimal
    route: Route
    interval_days: int | None
    times_per_week: int | None
    dose_count: int | None  # None: open-ended, a clinical review ends it (or it continues for life)
    interval_days_range: tuple[int, int] | None
    note: str
    tasks: tuple[RegimenTask, ...]

    def gaps_days(self) -> tuple[int, ...]:
        """Days between successive doses, repeating: (90,) every 3 months, (2, 2, 3) three times a week."""
        if self.interval_days is not None:
            return (self.interval_days,)
        assert self.times_per_week is not None
        base, extra = divmod(7, self.times_per_week)
        return tuple(
            base + (1 if i >= self.times_per_week - extra else 0) for i in range(self.times_per_week)
        )


@dataclass(frozen=True, slots=True)
class RegimenTemplateDef:
    code: str
    name: str
    formulation: Formulation
    routes: tuple[Route, ...]
    source: str
    notes: str
    phases: tuple[RegimenPhase, ...]
    definition: str  # canonical JSON of the template as written in the file, stored with each version


def _enum(cls: type[_E], value: Any, where: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ReferenceDataError(f"{where}: '{value}' is not one of {allowed}.") from None


def _opt_int(value: Any, where: str, *, minimum: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ReferenceDataError(f"{where}: expected a whole number of at least {minimum}, not {value!r}.")
    return value


def _int(value: Any, where: str, *, minimum: int) -> int:
    out = _opt_int(value, where, minimum=minimum)
    if out is None:
        raise ReferenceDataError(f"{where}: a whole number is required.")
    return out


def _positive_decimal(value: Any, where: str) -> Decimal:
    number = Decimal(str(value))
    if not number.is_finite() or number <= 0:
        raise ReferenceDataError(f"{where}: expected a positive number, not {value!r}.")
    number = number.normalize()
    # 1000, not 1E+3: these values are shown to people and written into definitions.
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number


@cache
def formulary() -> tuple[FormularyProduct, ...]:
    """The seed formulary from resources/formulary.json, checked (GTIN check digits, units, beyond-use)."""
    out: list[FormularyProduct] = []
    seen_keys: set[str] = set()
    seen_gtins: set[str] = set()
    for p in read_resource_json("formulary.json")["products"]:
        key = str(p["key"])
        where = f"formulary.json product '{key}'"
        if key in seen_keys:
            raise ReferenceDataError(f"{where}: the key is used twice.")
        seen_keys.add(key)
        gtin = p.get("gtin")
        if gtin is not None:
            if not (isinstance(gtin, str) and len(gtin) == 14 and valid_gtin(gtin)):
                raise ReferenceDataError(f"{where}: GTIN {gtin!r} is not 14 digits with a valid check digit.")
            if gtin in seen_gtins:
                raise ReferenceDataError(f"{where}: GTIN {gtin} is used by another product.")
            seen_gtins.add(gtin)
        container = _enum(Container, p["container"], f"{where} container")
        beyond_use = _opt_int(p.get("beyond_use_days"), f"{where} beyond_use_days", minimum=1)
        if container != Container.MULTI_DOSE_VIAL and beyond_use is not None:
            raise ReferenceDataError(f"{where}: only a multi-dose vial has a beyond-use period once opened.")
        out.append(
            FormularyProduct(
                key=key,
                formulation=_enum(Formulation, p["formulation"], f"{where} formulation"),
                manufacturer=str(p["manufacturer"]),
                brand=str(p.get("brand", "")),
                strength_mcg_per_ml=_positive_decimal(p["strength_mcg_per_ml"], f"{where} strength"),
                container=container,
                volume_ml=_positive_decimal(p["volume_ml"], f"{where} volume_ml"),
                preservative=str(p.get("preservative", "")),
                gtin=gtin,
                ndc=p.get("ndc"),
                storage_note=str(p.get("storage_note", "")),
                beyond_use_days=beyond_use,
                reorder_level=_int(p.get("reorder_level", 0), f"{where} reorder_level", minimum=0),
                for_deficiency=bool(p.get("for_deficiency", True)),
                source=str(p["source"]),
                gtin_invented=bool(p.get("gtin_invented", False)),
                units_per_pack=_int(p.get("units_per_pack", 1), f"{where} units_per_pack", minimum=1),
            )
        )
    return tuple(out)


def _task(t: Mapping[str, Any], where: str) -> RegimenTask:
    kind = _enum(EventKind, t["kind"], f"{where} kind")
    code = t.get("lab_test_code")
    if kind == EventKind.LAB:
        if code not in lab_tests():
            raise ReferenceDataError(f"{where}: lab test '{code}' is not in lab_tests.json.")
    elif kind == EventKind.REVIEW:
        if code is not None:
            raise ReferenceDataError(f"{where}: a review task has no lab test.")
    else:
        raise ReferenceDataError(f"{where}: a task is a lab or a review, not '{kind.value}'.")
    condition = t.get("condition")
    if condition is not None and condition not in TASK_CONDITIONS:
        raise ReferenceDataError(
            f"{where}: condition '{condition}' is not one of {', '.join(TASK_CONDITIONS)}."
        )
    return RegimenTask(
        kind=kind,
        label=str(t["label"]),
        offset_days=_int(t["offset_days"], f"{where} offset_days", minimum=0),
        window_days=_int(t["window_days"], f"{where} window_days", minimum=0),
        lab_test_code=code,
        condition=condition,
        repeat_days=_opt_int(t.get("repeat_days"), f"{where} repeat_days", minimum=1),
        source=str(t.get("source", "")),
    )


def _phase(ph: Mapping[str, Any], where: str, routes: tuple[Route, ...]) -> RegimenPhase:
    interval = _opt_int(ph.get("interval_days"), f"{where} interval_days", minimum=1)
    per_week = _opt_int(ph.get("times_per_week"), f"{where} times_per_week", minimum=1)
    if (interval is None) == (per_week is None):
        raise ReferenceDataError(f"{where}: give exactly one of interval_days and times_per_week.")
    if per_week is not None and per_week > 7:
        raise ReferenceDataError(f"{where}: times_per_week is at most 7.")
    route = _enum(Route, ph["route"], f"{where} route")
    if route not in routes:
        raise ReferenceDataError(f"{where}: route '{route.value}' is not among the template's routes.")
    span = ph.get("interval_days_range")
    interval_range: tuple[int, int] | None = None
    if span is not None:
        low = _int(span[0], f"{where} interval_days_range", minimum=1)
        high = _int(span[1], f"{where} interval_days_range", minimum=low)
        if interval is None or not low <= interval <= high:
            raise ReferenceDataError(f"{where}: interval_days must lie within interval_days_range.")
        interval_range = (low, high)
    return RegimenPhase(
        kind=_enum(PhaseKind, ph["kind"], f"{where} kind"),
        label=str(ph["label"]),
        dose_mcg=_positive_decimal(ph["dose_mcg"], f"{where} dose_mcg"),
        route=route,
        interval_days=interval,
        times_per_week=per_week,
        dose_count=_opt_int(ph.get("dose_count"), f"{where} dose_count", minimum=1),
        interval_days_range=interval_range,
        note=str(ph.get("note", "")),
        tasks=tuple(_task(t, f"{where} task {i + 1}") for i, t in enumerate(ph.get("tasks", ()))),
    )


@cache
def regimen_templates() -> tuple[RegimenTemplateDef, ...]:
    """The shipped regimen templates from resources/regimen_templates.json, checked against lab_tests.json."""
    out: list[RegimenTemplateDef] = []
    seen: set[str] = set()
    for t in read_resource_json("regimen_templates.json")["templates"]:
        code = str(t["code"])
        where = f"regimen_templates.json template '{code}'"
        if code in seen:
            raise ReferenceDataError(f"{where}: the code is used twice.")
        seen.add(code)
        routes = tuple(_enum(Route, r, f"{where} routes") for r in t["routes"])
        if not routes or Route.IV in routes:
            raise ReferenceDataError(f"{where}: list at least one route; IV is never used for deficiency.")
        out.append(
            RegimenTemplateDef(
                code=code,
                name=str(t["name"]),
                formulation=_enum(Formulation, t["formulation"], f"{where} formulation"),
                routes=routes,
                source=str(t["source"]),
                notes=str(t.get("notes", "")),
                phases=tuple(
                    _phase(ph, f"{where} phase {i + 1}", routes) for i, ph in enumerate(t["phases"])
                ),
                definition=json.dumps(t, sort_keys=True, separators=(",", ":")),  # as audit.canonical_json
            )
        )
    return tuple(out)
