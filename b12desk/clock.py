"""The clinic's clock: "now" and "today" in the clinic's time zone, and the one place that reads the time.

Every service takes a Clock (tests pass a fixed one); nothing else calls date.today(), datetime.now() or
datetime.utcnow() (ruff's banned-api rule enforces it). "Expires 2027-03-31" means usable until the end of
that day in clinic time, whatever zone the computer or the database server is in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class UnknownTimeZone(ValueError):
    """A time zone name that is not in the IANA database (e.g. a typo such as Europe/Londn)."""


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone of that name ("Europe/London"), or UnknownTimeZone saying how to write one."""
    text = name.strip()
    try:
        if not text or text.startswith(("/", ".")) or ".." in text:
            raise ValueError(text)
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(
            f"'{name}' is not a time zone name; use an IANA name such as Europe/London or America/Chicago."
        ) from None


def system_zone_name() -> str:
    """The computer's IANA zone name: $TZ, else /etc/localtime's target (Linux, macOS), else UTC."""
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            zone_named(env)
            return env
        except UnknownTimeZone:
            pass
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        target = ""
    marker = "zoneinfo/"
    if marker in target:
        name = target.split(marker, 1)[1]
        try:
            zone_named(name)
            return name
        except UnknownTimeZone:
            pass
    if os.name == "nt":  # pragma: no cover - Windows names its zones differently; use the offset's zone
        return _windows_zone_name()
    return "UTC"


def _windows_zone_name() -> str:  # pragma: no cover - exercised on Windows only
    offset = datetime.now(UTC).astimezone().utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    if offset.total_seconds() % 3600 == 0 and -12 <= hours <= 14:
        # POSIX Etc/ zones have the sign reversed: UTC+1 is Etc/GMT-1.
        return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    return "UTC"


def time_zone_names() -> list[str]:
    """Every IANA zone name, sorted, for a picker."""
    return sorted(available_timezones())


def system_utcnow() -> datetime:
    """The real time in UTC, for the audit trail's own timestamps ("when, by the system clock")."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """The clinic's time zone, and the time: the real one, or a fixed instant in tests."""

    zone: tzinfo
    fixed: datetime | None = None

    def __post_init__(self) -> None:
        if self.fixed is not None and self.fixed.tzinfo is None:
            raise ValueError("a fixed clock needs an aware datetime")

    @property
    def zone_name(self) -> str:
        return getattr(self.zone, "key", None) or str(self.zone)

    def now(self) -> datetime:
        """This instant, as an aware datetime in the clinic's zone."""
        moment = self.fixed if self.fixed is not None else datetime.now(UTC)
        return moment.astimezone(self.zone)

    def utcnow(self) -> datetime:
        return self.now().astimezone(UTC)

    def today(self) -> date:
        """The calendar day at the clinic now."""
        return self.now().date()

    def local(self, moment: datetime) -> datetime:
        """An instant shown in clinic time."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime: say which zone it is in")
        return moment.astimezone(self.zone)

    def day_of(self, moment: datetime) -> date:
        """The clinic's calendar day of an instant (a dose at 00:30 clinic time belongs to that day)."""
        return self.local(moment).date()

    def start_of_day(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.zone)

    def end_of_day(self, day: date) -> datetime:
        """The last instant of a clinic day: a lot that expires on `day` is usable until then."""
        return datetime.combine(day, time.max, tzinfo=self.zone)

    def at(self, day: date, hour: int = 12, minute: int = 0) -> datetime:
        """A wall-clock time on a clinic day, as an aware datetime (e.g. noon for a dose given elsewhere)."""
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone)

    def frozen(self) -> Clock:
        """This clock stopped at this instant: one action sees one 'now' from start to end."""
        return Clock(self.zone, self.now())


def system_clock() -> Clock:
    """The computer's zone and the real time (before the clinic's own zone is known)."""
    return Clock(zone_named(system_zone_name()))


def fixed_clock(at: datetime, zone: str | tzinfo = "UTC") -> Clock:
    """A stopped clock, for tests and reproducible runs: `at` must be aware."""
    tz = zone_named(zone) if isinstance(zone, str) else zone
    return Clock(tz, at)
