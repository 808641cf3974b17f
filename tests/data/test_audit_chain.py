"""The chain walk reads stored timestamps as text or datetimes and must hash exactly what was written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from b12desk.data.audit import _at_text, _payload


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_the_stored_time_reads_back_as_the_hashed_isoformat(naive: datetime) -> None:
    hashed = naive.replace(tzinfo=UTC).isoformat()  # what append_event hashed
    sqlite_text = naive.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLite stores it
    assert _at_text(sqlite_text) == hashed
    assert _at_text(naive) == hashed  # PostgreSQL hands back a datetime


def test_whole_seconds_have_no_fraction() -> None:
    assert _at_text("2026-12-01 10:00:00.000000") == "2026-12-01T10:00:00+00:00"


_field = st.one_of(st.text(), st.none(), st.integers(), st.just('é"\\\n\x00\u2028😀'))


@given(st.lists(_field, min_size=9, max_size=9), st.one_of(st.none(), st.integers(), st.text()))
def test_the_walks_payload_is_exactly_what_json_dumps_writes(fields: list[object], staff: object) -> None:
    """The chain walk builds the hashed text field by field; any value, even one a tampered row could
    hold (a NULL, a number, a name for a staff id), gives the very text event_hash hashed."""
    prev, at, _, action, entity, entity_id, old, new, reason = fields
    values = [prev, at, staff, action, entity, entity_id, old, new, reason]
    assert _payload(*values) == json.dumps(values, separators=(",", ":"))


def test_an_aware_time_reads_back_as_the_hashed_isoformat() -> None:
    aware = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert _at_text(aware) == aware.isoformat() == _at_text(aware.replace(tzinfo=None))
