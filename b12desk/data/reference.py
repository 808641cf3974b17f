"""Reference data shipped in resources/: lab tests, the seed formulary, the regimen templates' text."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from b12desk.domain.enums import Container, Formulation, Preservative
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
    preservatives: frozenset[Preservative] | None  # None: the label has not been read for them
    gtin: str | None
    ndc: str | None
    unit_gtin: str | None  # the vial's or ampoule's own code, where known
    unit_ndc: str | None
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
            "preservatives": self.preservatives,
            "gtin": self.gtin,
            "ndc": self.ndc,
            "unit_gtin": self.unit_gtin,
            "unit_ndc": self.unit_ndc,
            "storage_note": self.storage_note,
            "beyond_use_days": self.beyond_use_days,
            "reorder_level": self.reorder_level,
            "for_deficiency": self.for_deficiency,
            "source": self.source,
        }


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


def _preservatives(value: Any, where: str) -> frozenset[Preservative] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ReferenceDataError(f"{where}: preservatives must be a list of codes, [] for none, or null.")
    return frozenset(_enum(Preservative, v, f"{where} preservatives") for v in value)


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
        gtin, unit_gtin = p.get("gtin"), p.get("unit_gtin")
        for code in (gtin, unit_gtin):
            if code is None:
                continue
            if not (isinstance(code, str) and len(code) == 14 and valid_gtin(code)):
                raise ReferenceDataError(f"{where}: GTIN {code!r} is not 14 digits with a valid check digit.")
            if code in seen_gtins:
                raise ReferenceDataError(f"{where}: GTIN {code} is used by another product (or twice).")
            seen_gtins.add(code)
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
                preservatives=_preservatives(p.get("preservatives"), where),
                gtin=gtin,
                ndc=p.get("ndc"),
                unit_gtin=unit_gtin,
                unit_ndc=p.get("unit_ndc"),
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


def shipped_regimen_templates() -> list[dict[str, Any]]:
    """The raw templates of resources/regimen_templates.json; the domain parses and checks them."""
    templates: list[dict[str, Any]] = read_resource_json("regimen_templates.json")["templates"]
    return templates
