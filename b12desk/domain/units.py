"""Dose and quantity wording in ISMP style: "1,000 mcg (1 mL)", never "µg", no trailing zeros."""

from __future__ import annotations

from decimal import Decimal

MCG_PER_MG = 1000
PMOL_PER_L_PER_PG_PER_ML = Decimal("0.738")  # serum B12: pmol/L = pg/mL x 0.738


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
