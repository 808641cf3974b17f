"""Dates and times as typed (YYYY-MM-DD, YYYY-MM-DD HH:MM): read, or told exactly what is wrong with them.

A date of the right shape that the calendar does not have (2026-02-30, 2026-13-01) is told so, with the
month's length; only a date of the wrong shape (03/04/1990) is told to use YYYY-MM-DD.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, time

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


class DateTextError(ValueError):
    """Text that is not a date (or a date and time); str() says what is wrong and how to write it."""


def calendar_problem(year: int, month: int, day: int) -> str | None:
    """Why year-month-day is not a day of the calendar, in a few words; None when it is one."""
    if year < 1:
        return "years start at 0001"
    if not 1 <= month <= 12:
        return f"there is no month {month:02d}: months run from 01 to 12"
    days = calendar.monthrange(year, month)[1]
    if day < 1:
        return f"the days of {MONTH_NAMES[month - 1]} {year} run from 01 to {days}"
    if day > days:
        return f"{MONTH_NAMES[month - 1]} {year} has {days} days"
    return None


def _prefix(what: str | None) -> str:
    return f"{what}: " if what else ""


def _calendar_date(text: str, what: str | None) -> date | None:
    """The date when text is shaped YYYY-MM-DD; DateTextError when that day is not in the calendar;
    None when text has another shape."""
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(g) for g in match.groups())
    why = calendar_problem(year, month, day)
    if why is not None:
        raise DateTextError(f"{_prefix(what)}{text} is not a date in the calendar ({why}).")
    return date(year, month, day)


def read_date(text: str, *, what: str | None = None, example: str = "2026-03-02") -> date:
    """The date written YYYY-MM-DD in text (spaces around it ignored), or DateTextError saying what is
    wrong: 'what' names the field in the message ("Date of birth: ..."), 'example' is the date shown."""
    text = text.strip()
    if not text:
        raise DateTextError(f"{_prefix(what)}empty; write the date as YYYY-MM-DD (e.g. {example}).")
    found = _calendar_date(text, what)
    if found is None:
        raise DateTextError(
            f"{_prefix(what)}'{text}' is not a date; write it as YYYY-MM-DD (e.g. {example})."
        )
    return found


def read_date_time(
    text: str, *, what: str | None = None, example: str = "2026-03-02"
) -> tuple[date, time | None]:
    """A date with an optional time of day, "YYYY-MM-DD", "YYYY-MM-DD HH:MM" (or a 'T' for the space,
    seconds allowed): (the date, the time or None). DateTextError says what is wrong."""
    text = text.strip()
    prefix = _prefix(what)
    shape = f"write YYYY-MM-DD (e.g. {example}), or YYYY-MM-DD HH:MM in clinic time."
    if not text:
        raise DateTextError(f"{prefix}empty; {shape}")
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        head = _DATE.match(text)
        if head is not None:  # a date of the right shape first: say if the calendar has no such day
            _calendar_date(head.group(0), what)
        raise DateTextError(f"{prefix}'{text}' is not a date; {shape}")
    day = _calendar_date(match.group(1), what)
    assert day is not None  # the pattern holds a YYYY-MM-DD date
    if match.group(2) is None:
        return day, None
    hour, minute, second = int(match.group(2)), int(match.group(3)), int(match.group(4) or 0)
    if hour > 23 or minute > 59 or second > 59:
        clock_text = text[len(match.group(1)) + 1 :]
        raise DateTextError(
            f"{prefix}{clock_text} is not a time of day: hours run from 00 to 23, minutes from 00 to 59."
        )
    return day, time(hour, minute, second)
