"""The CSV importer never fails on odd files: a bad row is a message with its line number, a file that
cannot be read at all is one message about the file (no line, no MRN)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from b12desk.services.imports import (
    COLUMNS,
    UnreadableFile,
    _parse_row,
    read_csv,
    read_table,
    template_text,
)


@given(st.dictionaries(st.sampled_from(COLUMNS), st.text(max_size=30)))
def test_parse_row_gives_input_or_messages(raw: dict[str, str]) -> None:
    parsed, problems = _parse_row(raw)
    assert (parsed is None) == bool(problems)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.binary(max_size=300))
def test_read_csv_survives_any_bytes(tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "x.csv"
    f.write_bytes(data)
    try:
        rows, problems = read_csv(f)
    except UnreadableFile as exc:
        assert exc.messages and all(exc.messages)
        return
    assert all(p.line >= 2 and p.message for p in problems)
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


def test_a_missing_required_column_is_said_of_the_file(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("mrn,family_name\nA1,Ng\n", encoding="utf-8")
    with pytest.raises(UnreadableFile) as caught:
        read_csv(f)
    (message,) = caught.value.messages
    assert message.startswith("Missing column(s): given_name, date_of_birth. The first line of x.csv")
    assert "(it reads: mrn, family_name)" in message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "There is no file "),
        (
            b"mrn,family_name,given_name,date_of_birth\nA1,M\xfcller,Jo,1950-01-01\n",
            "x.csv is not UTF-8 text",
        ),
        (b"", "x.csv is empty: its first line must be the header row"),
        (b"\n\n", "x.csv is empty"),
        (b"mrn,mrn,family_name,given_name,date_of_birth\n", "Column(s) named twice in the header: mrn"),
        (b"mrn,family_name,given_name,date_of_birth,born\n", "Unknown column(s): born; expected mrn,"),
        (
            b'mrn,family_name,given_name,date_of_birth,notes\nA1,Ng,Mo,1950-01-01,"' + b"x" * 140_000,
            "a double",
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_said_of_the_file_without_a_line(
    tmp_path: Path, content: bytes | None, words: str
) -> None:
    f = tmp_path / "x.csv"
    if content is not None:
        f.write_bytes(content)
    with pytest.raises(UnreadableFile) as caught:
        read_table(f)
    assert any(words in m for m in caught.value.messages), caught.value.messages
    assert not any(m.startswith("line") for m in caught.value.messages)


HEADER_17 = ",".join(COLUMNS[:17])


def test_a_short_row_is_named_by_its_line_with_its_column_count(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    full = "A1,Ng,Mo,1950-01-01" + "," * 13
    f.write_text(f"{HEADER_17}\n{full}\nA2,Ng\n{full.replace('A1', 'A3')}\n", encoding="utf-8")
    rows, problems = read_csv(f)
    assert [line for line, _ in rows] == [2, 4]
    (problem,) = problems
    assert (problem.line, problem.mrn) == (3, "A2")
    assert problem.message.startswith(
        "The row has 2 columns; the header has 17: the row stops after family_name. A comma may be missing"
    )
    assert "line break without double quotes" in problem.message


def test_a_line_break_without_quotes_makes_two_short_rows(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text(
        "mrn,family_name,given_name,date_of_birth,notes,allergies\nA1,Ng,Mo,1950-01-01,two\nlines,none\n",
        encoding="utf-8",
    )
    rows, problems = read_csv(f)
    assert rows == []
    assert [(p.line, p.message[:42]) for p in problems] == [
        (2, "The row has 5 columns; the header has 6: t"),
        (3, "The row has 2 columns; the header has 6: t"),
    ]


def test_a_long_row_is_named_by_its_line_with_its_column_count(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text(
        "mrn,family_name,given_name,date_of_birth\nA1,Smith, Jr,Al,1950-01-01\nA2,Ng,Mo,1950-01-01,,\n",
        encoding="utf-8",
    )
    rows, problems = read_csv(f)
    assert [line for line, _ in rows] == [3]  # trailing empty fields are no problem
    assert [(p.line, p.mrn) for p in problems] == [(2, "A1")]
    assert problems[0].message.startswith("The row has 5 columns; the header has 4. A value may hold a comma")


def test_a_trailing_delimiter_on_every_line_is_no_problem(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("mrn,family_name,given_name,date_of_birth,\nA1,Ng,Mo,1950-01-01,\n", encoding="utf-8")
    rows, problems = read_csv(f)
    assert problems == [] and rows[0][1]["given_name"] == "Mo"


def test_a_cell_beyond_the_header_of_a_workbook_names_the_cell(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["mrn", "family_name", "given_name", "date_of_birth"])
    sheet.append(["A1", "Ng", "Mo", "1950-01-01"])
    sheet.append(["A2", "Ng", "Al", "1950-01-01", None, "stray"])
    f = tmp_path / "x.xlsx"
    book.save(f)
    rows, problems = read_table(f)
    assert [line for line, _ in rows] == [2]
    assert [(p.line, p.mrn) for p in problems] == [(3, "A2")]
    assert problems[0].message.startswith(
        "The row has a value in cell F3, beyond the header's 4 columns (A to D)"
    )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "date_of_birth",
            "2026-02-30",
            "Date of birth: 2026-02-30 is not a date in the calendar (February 2026 has 28 days).",
        ),
        (
            "date_of_birth",
            "1961-13-01",
            "Date of birth: 1961-13-01 is not a date in the calendar (there is no month 13: months run from "
            "01 to 12).",
        ),
        (
            "date_of_birth",
            "03/04/1990",
            "Date of birth: '03/04/1990' is not a date; write it as YYYY-MM-DD (e.g. 1958-03-14).",
        ),
        (
            "self_injection_trained_on",
            "2025-06-31",
            "Trained to self-inject on: 2025-06-31 is not a date in the calendar (June 2025 has 30 days).",
        ),
    ],
)
def test_an_impossible_date_is_not_told_to_use_the_format_it_uses(
    column: str, value: str, message: str
) -> None:
    raw = {"mrn": "A1", "family_name": "Ng", "given_name": "Mo", "date_of_birth": "1950-01-01", column: value}
    parsed, problems = _parse_row(raw)
    assert parsed is None and problems == [message]


def test_a_workbook_without_the_columns_says_so_of_its_first_row(tmp_path: Path) -> None:
    book = Workbook()
    f = tmp_path / "x.xlsx"
    book.save(f)
    with pytest.raises(UnreadableFile, match=r"^x\.xlsx is empty: its first row must be the header row"):
        read_table(f)
    sheet = book.active
    assert sheet is not None
    sheet.append(["mrn", "name"])
    book.save(f)
    with pytest.raises(UnreadableFile) as caught:
        read_table(f)
    assert caught.value.messages[0].startswith(
        "Missing column(s): family_name, given_name, date_of_birth. The first row of x.xlsx must be"
    )
