"""NICE NG239's decision thresholds, compared in the test's canonical unit whatever unit was reported."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from b12desk.data.reference import lab_tests, read_resource_json
from b12desk.domain.lab_bands import Band, LabBandsError, parse_lab_bands
from b12desk.domain.labs import parse_lab_value

NG239 = parse_lab_bands(read_resource_json("lab_bands.json"), lab_tests())


def band_of(code: str, text: str, unit: str) -> Band:
    value = parse_lab_value(lab_tests()[code], text, unit)
    banded = NG239.band(code, value.canonical)
    assert banded is not None
    return banded[0]


@pytest.mark.parametrize(
    ("text", "unit", "band"),
    [
        ("179", "ng/L", Band.DEFICIENT),
        ("179.9", "pg/mL", Band.DEFICIENT),
        ("180", "ng/L", Band.INDETERMINATE),  # NG239: 180 to 350 ng/L indeterminate
        ("349", "ng/L", Band.INDETERMINATE),
        ("350", "ng/L", Band.NOT_DEFICIENT),
        ("132", "pmol/L", Band.DEFICIENT),  # 132 pmol/L is 178.9 ng/L
        ("133", "pmol/L", Band.INDETERMINATE),  # 180.2 ng/L
        ("258", "pmol/L", Band.INDETERMINATE),  # 349.6 ng/L
        ("259", "pmol/L", Band.NOT_DEFICIENT),  # 350.9 ng/L
    ],
)
def test_total_b12_bands_at_their_edges_in_every_unit(text: str, unit: str, band: Band) -> None:
    assert band_of("serum_b12", text, unit) == band


def test_the_same_number_in_ng_per_l_and_in_pmol_per_l_falls_in_different_bands() -> None:
    """Why the unit is never defaulted: 200 read in the wrong unit moves a result across a threshold."""
    assert band_of("serum_b12", "200", "pmol/L") == Band.INDETERMINATE
    assert band_of("serum_b12", "200", "ng/L") == Band.INDETERMINATE
    assert band_of("serum_b12", "150", "ng/L") == Band.DEFICIENT
    assert band_of("serum_b12", "150", "pmol/L") == Band.INDETERMINATE  # 203 ng/L


@pytest.mark.parametrize(
    ("text", "band"),
    [
        ("24.9", Band.DEFICIENT),
        ("25", Band.INDETERMINATE),
        ("69", Band.INDETERMINATE),
        ("70", Band.NOT_DEFICIENT),
    ],
)
def test_active_b12_bands(text: str, band: Band) -> None:
    assert band_of("active_b12", text, "pmol/L") == band


def test_an_indeterminate_result_asks_for_the_second_line_test_and_others_do_not() -> None:
    canonical = Decimal("200")  # pmol/L: 271 ng/L
    assert NG239.band("serum_b12", canonical) == (
        Band.INDETERMINATE,
        "Indeterminate total B12: a second-line test decides (methylmalonic acid or active B12), NICE NG239.",
    )
    assert NG239.band("serum_b12", Decimal("100")) == (Band.DEFICIENT, "")
    assert NG239.band("hb", Decimal("100")) is None  # no thresholds for haemoglobin here
    assert NG239.band("serum_b12", None) is None


def _raw(**serum: Any) -> dict[str, Any]:
    entry = {"unit": "ng/L", "deficient_below": 200, "indeterminate_below": 300} | serum
    return {"laboratory": "City Hospital", "tests": {"serum_b12": entry}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_raw(unit="mg"), "Serum B12: thresholds in 'mg' cannot be compared; use ng/L, pg/mL, pmol/L."),
        (_raw(deficient_below="abc"), "Serum B12: deficient_below 'abc' is not a number."),
        (_raw(deficient_below=-1), "Serum B12: deficient_below must be a positive number."),
        (
            _raw(indeterminate_below=150),
            "Serum B12: the indeterminate range must end above where deficiency ends (150 ng/L is not above "
            "200 ng/L).",
        ),
        ({"laboratory": " ", "tests": {}}, "Name the laboratory the thresholds come from."),
        ({"laboratory": "X", "tests": {"b12": {}}}, "'b12' is not a known laboratory test."),
    ],
)
def test_unusable_thresholds_are_refused_with_what_is_wrong(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(LabBandsError) as refused:
        parse_lab_bands(raw, lab_tests())
    assert str(refused.value) == message


def test_a_laboratorys_own_thresholds_in_pmol_per_l_are_compared_the_same_way() -> None:
    local = parse_lab_bands(
        {
            "laboratory": "City Hospital",
            "tests": {"serum_b12": {"unit": "pmol/L", "deficient_below": 148, "indeterminate_below": 221}},
        },
        lab_tests(),
    )
    assert local.band("serum_b12", Decimal("147.9")) == (Band.DEFICIENT, "")
    assert local.band("serum_b12", Decimal("148"))[0] == Band.INDETERMINATE  # type: ignore[index]
    assert local.band("serum_b12", Decimal("221"))[0] == Band.NOT_DEFICIENT  # type: ignore[index]
