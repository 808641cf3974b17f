"""GS1 scans: every form a scanner types, every refusal with its reason, and no other outcome."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b12desk.domain.gs1 import GS, Gs1Error, gtin_check_digit, parse_expiry, parse_gs1, valid_gtin

GTIN = "00305170031251"  # NDC 0517-0031-25 as GTIN-14 (clinical-facts 8)


@pytest.mark.parametrize(
    "scan",
    [
        f"]d201{GTIN}17270300" + "10LOT42" + GS + "21SER1",
        f"01{GTIN}1727030010LOT42{GS}21SER1{GS}",
        f"{GS}01{GTIN}1727030010LOT42{GS}21SER1",
        f"(01){GTIN}(17)270300(10)LOT42(21)SER1",
        f"01{GTIN}1727030010LOT42<GS>21SER1",
        f"01{GTIN}1727030010LOT42^]21SER1\r\n",
    ],
)
def test_forms_a_scanner_may_type(scan: str) -> None:
    data = parse_gs1(scan)
    assert data.gtin == GTIN
    assert data.expiry == date(2027, 3, 31)
    assert (data.lot, data.serial) == ("LOT42", "SER1")
    assert data.ndc_digits == "0517003125"


def test_missing_separator_after_the_last_field() -> None:
    assert parse_gs1(f"01{GTIN}21SER1{GS}10LOT9").lot == "LOT9"


def test_unknown_fixed_ai_is_skipped_by_its_length() -> None:
    data = parse_gs1(f"01{GTIN}11260101{'17'}27030010L1")
    assert data.other == {"11": "260101"}
    assert data.lot == "L1"


def test_expiry_day_00_is_the_last_day_and_compares_by_meaning() -> None:
    assert parse_expiry("210300") == parse_expiry("210331")
    assert parse_expiry("240200") == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("scan", "reason"),
    [
        ("01003051700312521727030010L1", "check digit 2, expected 1"),
        (f"01{GTIN}1727133110L1", "month 13"),
        (f"01{GTIN}1727023010L1", "day 30 of a month with 28 days"),
        (f"01{GTIN}17270", "(17) is cut short"),
        ("0100305170", "(01) is cut short"),
        (f"01{GTIN}10" + "X" * 21, "(10) must have 1 to 20 characters"),
        ("", "empty"),
    ],
)
def test_refusals_say_which_field(scan: str, reason: str) -> None:
    with pytest.raises(Gs1Error, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_gs1(scan)


@given(st.text(max_size=60))
def test_any_input_gives_a_result_or_the_parsers_own_error(text: str) -> None:
    with contextlib.suppress(Gs1Error):
        parse_gs1(text)


lot_chars = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=20)


@given(
    body=st.text(alphabet="0123456789", min_size=13, max_size=13),
    expiry=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    lot=lot_chars,
    serial=lot_chars,
    human=st.booleans(),
    prefix=st.booleans(),
    trailing=st.booleans(),
)
def test_round_trip(
    body: str, expiry: date, lot: str, serial: str, human: bool, prefix: bool, trailing: bool
) -> None:
    gtin = body + str(gtin_check_digit(body))
    assert valid_gtin(gtin)
    yymmdd = expiry.strftime("%y%m%d")
    if human:
        scan = f"(01){gtin}(17){yymmdd}(10){lot}(21){serial}"
    else:
        scan = f"01{gtin}17{yymmdd}10{lot}{GS}21{serial}" + (GS if trailing else "")
        if prefix:
            scan = "]d2" + scan
    data = parse_gs1(scan)
    assert (data.gtin, data.expiry, data.lot, data.serial) == (gtin, expiry, lot, serial)
