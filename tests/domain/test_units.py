"""ISMP dose wording: thousands separators, leading zeros, no trailing zeros, never the micro sign."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b12desk.domain.units import (
    QuantityError,
    b12_pg_per_ml_to_pmol_per_l,
    format_dose,
    format_mcg,
    format_number,
    parse_dose_mcg,
    parse_number,
    parse_strength,
    parse_volume_ml,
)


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


# --- the one parser for what people type -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mcg"),
    [
        ("1000", Decimal(1000)),
        ("1,000", Decimal(1000)),
        ("1,000 mcg", Decimal(1000)),
        (" 1000mcg ", Decimal(1000)),
        ("1 mg", Decimal(1000)),
        ("0.5 mg", Decimal(500)),
        ("12,500", Decimal(12500)),
        ("100 micrograms", Decimal(100)),
        (Decimal("1000.000"), Decimal(1000)),
        (250, Decimal(250)),
    ],
)
def test_a_dose_is_read_in_mcg_whatever_unit_was_typed(text: str | Decimal | int, mcg: Decimal) -> None:
    assert parse_dose_mcg(text) == mcg


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0,5", "decimal"),
        ("1,5", "decimal"),
        ("10,00", "decimal"),
        ("1,5 mg", "decimal"),
        ("", "missing"),
        (None, "missing"),
        ("abc", "not a number"),
        ("NaN", "not a number"),
        ("inf", "not a number"),
        ("1e3", "not a number"),
        ("1000 µg", "write mcg"),
        ("1000 ug", "write mcg"),
        ("1 g", "unit must be mcg or mg"),
        ("-100", "more than 0"),
        ("0", "more than 0"),
    ],
)
def test_a_dose_that_could_be_misread_is_refused_with_a_message(text: str | None, says: str) -> None:
    with pytest.raises(QuantityError, match=says):
        parse_dose_mcg(text)


def test_a_decimal_comma_is_refused_not_read_as_thousands() -> None:
    with pytest.raises(QuantityError) as caught:
        parse_volume_ml("0,5")
    assert "point (0.5, not 0,5)" in str(caught.value)
    assert parse_volume_ml("0.5") == Decimal("0.5")
    assert parse_volume_ml("0.5 mL") == Decimal("0.5")
    assert parse_number("1,000") == 1000


@pytest.mark.parametrize("text", ["0.0001", "0", "-1", "0.0009 mL"])
def test_volumes_below_a_thousandth_of_a_ml_are_refused(text: str) -> None:
    with pytest.raises(QuantityError, match=r"at least 0\.001 mL"):
        parse_volume_ml(text)


def test_strength_in_mcg_or_mg_per_ml() -> None:
    assert parse_strength("1,000") == 1000
    assert parse_strength("1 mg/mL") == 1000
    assert parse_strength("1000 mcg/mL") == 1000
    with pytest.raises(QuantityError, match="write mcg/mL"):
        parse_strength("1000 µg/mL")


def test_a_binary_float_is_refused_rather_than_rounded() -> None:
    with pytest.raises(QuantityError, match="not a binary float"):
        parse_dose_mcg(0.1)  # type: ignore[arg-type]


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000000"), places=3))
def test_what_is_shown_reads_back_as_the_same_number(value: Decimal) -> None:
    assert parse_number(format_number(value)) == value
    assert parse_dose_mcg(format_mcg(value)) == value.normalize()


@given(st.text(max_size=20))
def test_any_text_is_a_number_or_a_clear_message_never_a_crash(text: str) -> None:
    for parse in (parse_number, parse_dose_mcg, parse_volume_ml, parse_strength):
        try:
            value = parse(text)
        except QuantityError as exc:
            assert str(exc)
        else:
            assert value.is_finite()
