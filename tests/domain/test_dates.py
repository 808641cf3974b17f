"""Dates as typed: a date the calendar lacks is told so; only a wrongly shaped one is told the format."""

from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b12desk.domain.dates import DateTextError, read_date, read_date_time


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "2026-02-30",
            "Date of birth: 2026-02-30 is not a date in the calendar (February 2026 has 28 days).",
        ),
        (
            "2028-02-30",
            "Date of birth: 2028-02-30 is not a date in the calendar (February 2028 has 29 days).",
        ),
        ("2026-04-31", "Date of birth: 2026-04-31 is not a date in the calendar (April 2026 has 30 days)."),
        (
            "2026-13-01",
            "Date of birth: 2026-13-01 is not a date in the calendar (there is no month 13: months run from "
            "01 to 12).",
        ),
        (
            "2026-01-00",
            "Date of birth: 2026-01-00 is not a date in the calendar (the days of January 2026 run from 01 "
            "to 31).",
        ),
    ],
)
def test_a_date_of_the_right_shape_that_the_calendar_lacks_says_so(text: str, message: str) -> None:
    with pytest.raises(DateTextError) as caught:
        read_date(text, what="Date of birth")
    assert str(caught.value) == message
    assert "YYYY-MM-DD" not in message  # it is written that way already


@pytest.mark.parametrize("text", ["03/04/1990", "2026-2-3", "1990", "14 March 1958", "2026-02-30x"])
def test_a_date_of_the_wrong_shape_is_told_the_format(text: str) -> None:
    with pytest.raises(DateTextError) as caught:
        read_date(text, what="Date of birth", example="1958-03-14")
    assert str(caught.value) == (
        f"Date of birth: '{text}' is not a date; write it as YYYY-MM-DD (e.g. 1958-03-14)."
    )


def test_a_date_is_read_with_spaces_around_it_and_without_a_label() -> None:
    assert read_date(" 2026-03-02 ") == date(2026, 3, 2)
    with pytest.raises(DateTextError, match=r"^2026-02-29 is not a date in the calendar \(February 2026"):
        read_date("2026-02-29")
    with pytest.raises(DateTextError, match=r"^empty; write the date as YYYY-MM-DD"):
        read_date("  ")


@given(st.dates(min_value=date(1, 1, 1)))
def test_every_calendar_date_reads_back(day: date) -> None:
    assert read_date(day.isoformat()) == day


@given(st.integers(1, 9999), st.integers(0, 99), st.integers(0, 99))
def test_any_date_shaped_text_is_read_or_told_why_not(year: int, month: int, day: int) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}"
    try:
        expected = date(year, month, day)
    except ValueError:
        with pytest.raises(DateTextError, match="is not a date in the calendar"):
            read_date(text)
    else:
        assert read_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02", (date(2026, 3, 2), None)),
        ("2026-03-02 09:30", (date(2026, 3, 2), time(9, 30))),
        ("2026-03-02T9:05", (date(2026, 3, 2), time(9, 5))),
        ("2026-03-02 23:59:30", (date(2026, 3, 2), time(23, 59, 30))),
    ],
)
def test_a_date_and_time(text: str, expected: tuple[date, time | None]) -> None:
    assert read_date_time(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "2026-02-30 10:00",
            "Given at: 2026-02-30 is not a date in the calendar (February 2026 has 28 days).",
        ),
        ("2026-02-30T10:00+01:00", "Given at: 2026-02-30 is not a date in the calendar (February 2026"),
        ("2026-03-02 25:00", "Given at: 25:00 is not a time of day: hours run from 00 to 23"),
        ("2026-03-02 10:60", "Given at: 10:60 is not a time of day"),
        ("02/03/2026", "Given at: '02/03/2026' is not a date; write YYYY-MM-DD (e.g. 2026-03-02), or "),
        ("", "Given at: empty; write YYYY-MM-DD"),
    ],
)
def test_a_date_and_time_that_cannot_be_read_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(DateTextError) as caught:
        read_date_time(text, what="Given at")
    assert str(caught.value).startswith(message)
