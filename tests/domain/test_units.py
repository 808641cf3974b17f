"""ISMP dose wording: thousands separators, leading zeros, no trailing zeros, never the micro sign."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b12desk.domain.units import b12_pg_per_ml_to_pmol_per_l, format_dose, format_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1000, "1,000"),
        (Decimal("1.0"), "1"),
        (Decimal("0.5"), "0.5"),
        (Decimal("0.250"), "0.25"),
        (Decimal("1000000"), "1,000,000"),
        (Decimal("1E+3"), "1,000"),
        (Decimal("12.50"), "12.5"),
    ],
)
def test_format_number(value: Decimal, text: str) -> None:
    assert format_number(value) == text


def test_dose_with_volume() -> None:
    assert format_dose(1000, 1000) == "1,000 mcg (1 mL of 1,000 mcg/mL)"
    assert format_dose(100, 1000) == "100 mcg (0.1 mL of 1,000 mcg/mL)"
    assert format_dose(Decimal("1000.000")) == "1,000 mcg"


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=3))
def test_no_trailing_zero_no_bare_point_no_micro_sign(value: Decimal) -> None:
    text = format_dose(value, 1000)
    number = format_number(value)
    assert "µ" not in text and "μ" not in text
    assert not number.startswith(".")
    assert not ("." in number and number.endswith("0"))
    assert not number.endswith(".")
    assert Decimal(number.replace(",", "")) == value


def test_b12_conversion() -> None:
    assert b12_pg_per_ml_to_pmol_per_l(Decimal(100)) == Decimal("73.8")
