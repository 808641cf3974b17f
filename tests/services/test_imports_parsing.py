"""The CSV importer never raises on odd files: each problem is a message with a line number."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b12desk.services.imports import COLUMNS, _parse_row, read_csv, template_text


@given(st.dictionaries(st.sampled_from(COLUMNS), st.text(max_size=30)))
def test_parse_row_gives_input_or_messages(raw: dict[str, str]) -> None:
    parsed, problems = _parse_row(raw)
    assert (parsed is None) == bool(problems)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.binary(max_size=300))
def test_read_csv_survives_any_bytes(tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "x.csv"
    f.write_bytes(data)
    rows, problems = read_csv(f)
    assert all(p.line >= 0 and p.message for p in problems)
    assert all(line >= 2 for line, _ in rows)


def test_semicolon_files_from_european_spreadsheets(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text(template_text().replace(",", ";"), encoding="utf-8")
    rows, problems = read_csv(f)
    assert problems == []
    assert rows[0][1]["mrn"] == "H123456"


def test_quoted_multiline_field_keeps_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text(
        'mrn,family_name,given_name,date_of_birth,notes\nA1,Ng,Mo,1950-01-01,"two\nlines"\n'
        "A2,Ng,Al,1950-01-01,\n",
        encoding="utf-8",
    )
    rows, problems = read_csv(f)
    assert problems == []
    assert [line for line, _ in rows] == [2, 4]


def test_missing_required_column_is_reported_on_line_1(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("mrn,family_name\nA1,Ng\n", encoding="utf-8")
    rows, problems = read_csv(f)
    assert rows == [] and problems[0].line == 1 and "given_name" in problems[0].message
