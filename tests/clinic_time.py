"""The clinic's "today" and "now" for tests that build data relative to the real date.

A database with no time-zone setting uses the computer's zone, so these agree with what the services see.
Tests that need an exact moment pass a fixed clock (b12desk.clock.fixed_clock) to the services instead.
"""

from __future__ import annotations

from datetime import date, datetime

from b12desk.clock import system_clock


def clinic_today() -> date:
    return system_clock().today()


def clinic_now() -> datetime:
    return system_clock().now()
