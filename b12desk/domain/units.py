"""Doses and volumes: the one parser for what people type, and ISMP-style wording ("1,000 mcg (1 mL)",
never "µg", no trailing zeros)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MCG_PER_MG = 1000
PMOL_PER_L_PER_PG_PER_ML = Decimal("0.738")  # serum B12: pmol/L = pg/mL x 0.738
SMALLEST_VOLUME_ML = Decimal("0.001")  # below what any syringe measures: a typing error


class QuantityError(ValueError):
    """What was typed is not a usable number; the message says what is wrong and how to write it."""


# "1,000" and "12,500.5" use commas as thousands separators, in groups of three from the point.
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_AMOUNT_AND_UNIT = re.compile(r"^\s*([^\sa-zA-Zµμ]+)\s*([a-zA-Zµμ/]*)\s*$")

_DOSE_UNITS: dict[str, Decimal] = {
    "mcg": Decimal(1),
    "microgram": Decimal(1),
    "micrograms": Decimal(1),
    "mg": Decimal(MCG_PER_MG),
    "milligram": Decimal(MCG_PER_MG),
    "milligrams": Decimal(MCG_PER_MG),
}
_VOLUME_UNITS = {"ml": Decimal(1), "millilitre": Decimal(1), "milliliter": Decimal(1)}


def parse_number(text: str | None, *, what: str = "The number") -> Decimal:
    """One number as people type it: "1,000" is one thousand and "0.5" one half.

    A decimal comma ("0,5", "1,5") is refused rather than guessed: read as a thousands separator it
    would make 0.5 mL into 5 mL. Empty text, words, infinities and NaN are refused with a message.
    """
    if text is None:
        raise QuantityError(f"{what} is missing.")
    raw = str(text).strip()
    if not raw:
        raise QuantityError(f"{what} is missing.")
    if _GROUPED.match(raw):
        raw = raw.replace(",", "")
    elif "," in raw:
        raise QuantityError(
            f"{what} '{text}' has a comma: write decimals with a point (0.5, not 0,5); a comma may only "
            "separate thousands (1,000)."
        )
    if not _PLAIN.match(raw):
        raise QuantityError(f"{what} '{text}' is not a number.")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise QuantityError(f"{what} '{text}' is not a number.") from None
    if not value.is_finite():
        raise QuantityError(f"{what} '{text}' is not a number.")
    return value


def _amount(text: str | Decimal | int | None, what: str, example: str) -> tuple[Decimal, str]:
    if text is None:
        raise QuantityError(f"{what} is missing.")
    if isinstance(text, Decimal | int) and not isinstance(text, bool):
        value = Decimal(text)
        if not value.is_finite():
            raise QuantityError(f"{what} '{text}' is not a number.")
        return value, ""
    if isinstance(text, float):
        raise QuantityError(f"{what}: give the amount as text or a Decimal, not a binary float.")
    if not str(text).strip():
        raise QuantityError(f"{what} is missing.")
    match = _AMOUNT_AND_UNIT.match(str(text))
    if match is None:
        raise QuantityError(f"{what} '{text}' is not a number (write it like {example}).")
    return parse_number(match.group(1), what=what), match.group(2).lower()


def parse_dose_mcg(text: str | Decimal | int | None, *, what: str = "The dose") -> Decimal:
    """A dose in micrograms, whatever unit was typed: "1,000", "1,000 mcg", "1 mg" are all 1,000 mcg.

    "µg" and "ug" are refused: the ISMP lists them as error-prone (µg misread as mg is a 1,000-fold error).
    """
    value, unit = _amount(text, what, "1,000 mcg")
    if unit in ("µg", "μg", "ug"):
        raise QuantityError(f"{what}: write mcg, not {unit} ({unit} is misread as mg, a 1,000-fold error).")
    factor = _DOSE_UNITS.get(unit or "mcg")
    if factor is None:
        raise QuantityError(f"{what} '{text}': the unit must be mcg or mg, not '{unit}'.")
    mcg = (value * factor).normalize()
    if mcg <= 0:
        raise QuantityError(f"{what} must be more than 0 mcg.")
    return mcg


def parse_volume_ml(text: str | Decimal | int | None, *, what: str = "The volume") -> Decimal:
    """A volume in mL: "0.5", "0.5 mL" or "30"; at least 0.001 mL."""
    value, unit = _amount(text, what, "0.5 mL")
    factor = _VOLUME_UNITS.get(unit or "ml")
    if factor is None:
        raise QuantityError(f"{what} '{text}': the unit must be mL, not '{unit}'.")
    ml = (value * factor).normalize()
    if ml < SMALLEST_VOLUME_ML:
        raise QuantityError(f"{what} must be at least {SMALLEST_VOLUME_ML} mL; check what was typed.")
    return ml


def parse_strength(text: str | Decimal | int | None, *, what: str = "The strength") -> Decimal:
    """A strength in mcg/mL: "1,000", "1000 mcg/mL" or "1 mg/mL"."""
    value, unit = _amount(text, what, "1,000 mcg/mL")
    factors = {"": Decimal(1), "mcg/ml": Decimal(1), "mg/ml": Decimal(MCG_PER_MG)}
    if unit in ("µg/ml", "μg/ml", "ug/ml"):
        raise QuantityError(f"{what}: write mcg/mL, not {unit} (misread as mg/mL).")
    factor = factors.get(unit)
    if factor is None:
        raise QuantityError(f"{what} '{text}': the unit must be mcg/mL or mg/mL, not '{unit}'.")
    strength = (value * factor).normalize()
    if strength <= 0:
        raise QuantityError(f"{what} must be more than 0 mcg/mL.")
    return strength


def format_number(value: Decimal | int | float) -> str:
    """Thousands separators, a leading zero and no trailing zero: 1000 -> "1,000", 0.50 -> "0.5"."""
    d = Decimal(str(value)).normalize()
    if d == d.to_integral_value():
        return f"{int(d):,}"
    sign = "-" if d < 0 else ""
    whole, _, frac = f"{abs(d):f}".partition(".")
    return f"{sign}{int(whole):,}.{frac.rstrip('0')}"


def format_mcg(mcg: Decimal | int | float) -> str:
    return f"{format_number(mcg)} mcg"


def format_ml(ml: Decimal | int | float) -> str:
    return f"{format_number(ml)} mL"


def format_strength(mcg_per_ml: Decimal | int | float) -> str:
    return f"{format_number(mcg_per_ml)} mcg/mL"


def dose_volume_ml(dose_mcg: Decimal | int, strength_mcg_per_ml: Decimal | int) -> Decimal:
    if Decimal(strength_mcg_per_ml) <= 0:
        raise ValueError("strength must be positive")
    return (Decimal(dose_mcg) / Decimal(strength_mcg_per_ml)).normalize()


def format_dose(dose_mcg: Decimal | int, strength_mcg_per_ml: Decimal | int | None = None) -> str:
    """ "1,000 mcg (1 mL of 1,000 mcg/mL)" when the strength is known, else "1,000 mcg"."""
    text = format_mcg(dose_mcg)
    if strength_mcg_per_ml is None:
        return text
    volume = dose_volume_ml(dose_mcg, strength_mcg_per_ml)
    return f"{text} ({format_ml(volume)} of {format_strength(strength_mcg_per_ml)})"


def b12_pg_per_ml_to_pmol_per_l(pg_per_ml: Decimal) -> Decimal:
    return Decimal(pg_per_ml) * PMOL_PER_L_PER_PG_PER_ML
