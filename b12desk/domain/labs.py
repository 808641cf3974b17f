"""Laboratory test definitions and the rules for recording a result in a unit the lab reports."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from b12desk.domain.units import QuantityError, format_number, parse_number


@dataclass(frozen=True, slots=True)
class LabTestDef:
    code: str
    name: str
    canonical_unit: str
    units: dict[str, Decimal | None]  # factor to the canonical unit; None: no conversion known
    plausible: tuple[Decimal, Decimal] | None
    qualitative: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class LabValue:
    value_text: str  # as entered, for the record
    numeric: Decimal | None
    unit: str
    canonical: Decimal | None  # in the test's canonical unit, when a factor is known


class LabValueError(ValueError):
    pass


def parse_lab_value(test: LabTestDef, text: str, unit: str) -> LabValue:
    """Validate one result; the message says what is wrong and what would be accepted."""
    text = text.strip()
    if not text:
        raise LabValueError(f"{test.name}: enter a value.")
    if test.qualitative:
        choice = text.lower()
        if choice not in test.qualitative:
            raise LabValueError(f"{test.name}: enter one of {', '.join(test.qualitative)}.")
        return LabValue(choice, None, test.canonical_unit, None)
    if unit not in test.units:
        raise LabValueError(f"{test.name}: unit must be one of {', '.join(test.units)}, not '{unit}'.")
    try:
        number = parse_number(text, what=f"{test.name}:")
    except QuantityError as exc:
        raise LabValueError(str(exc)) from None
    factor = test.units[unit]
    canonical = (number * factor).normalize() if factor is not None else None
    if test.plausible is not None and canonical is not None:
        low, high = test.plausible
        if not low <= canonical <= high:
            raise LabValueError(
                f"{test.name}: {format_number(number)} {unit} is outside {format_number(low)}"
                f"-{format_number(high)} {test.canonical_unit}; check the value and the unit."
            )
    return LabValue(text, number, unit, canonical)
