"""The chain walk reads stored timestamps as text or datetimes and must hash exactly what was written."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from b12desk.data.audit import _at_text


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_the_stored_time_reads_back_as_the_hashed_isoformat(naive: datetime) -> None:
    hashed = naive.replace(tzinfo=UTC).isoformat()  # what append_event hashed
    sqlite_text = naive.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLite stores it
    assert _at_text(sqlite_text) == hashed
    assert _at_text(naive) == hashed  # PostgreSQL hands back a datetime


def test_whole_seconds_have_no_fraction() -> None:
    assert _at_text("2026-12-01 10:00:00.000000") == "2026-12-01T10:00:00+00:00"
