"""Files made to break the importers are refused with where and what: an over-long value, a column named
twice, characters stored unseen (control characters, bidirectional overrides), and a named pipe, folder
or device given as the file. A refused row or file writes nothing."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from b12desk.data.models import Administration, AuditEvent, Patient
from b12desk.services import history_import as hist
from b12desk.services import imports
from b12desk.services.imports import MAX_FIELD_CHARS, RowProblem, UnreadableFile, read_csv, read_table
from tests.conftest import Staffing
from tests.services.dose_world import CLOCK, World, _patient, _verified_plan

HEADER = ["mrn", "family_name", "given_name", "date_of_birth", "notes"]


def csv_text(*rows: list[str], header: list[str] = HEADER, delimiter: str = ",") -> str:
    out = io.StringIO()
    # Every value quoted: the csv module leaves a lone carriage return unquoted, which no reader can
    # tell from the end of a line.
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def good(mrn: str = "A1", family: str = "Ng", notes: str = "") -> list[str]:
    return [mrn, family, "Mo", "1950-01-01", notes]


def counts(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Patient)) or 0,
        session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


def only(problems: list[RowProblem]) -> RowProblem:
    assert len(problems) == 1, problems
    return problems[0]


# --- a value too long ------------------------------------------------------------------------------


def test_a_value_beyond_the_csv_modules_limit_is_a_problem_of_its_row_and_the_other_rows_are_read(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, csv_text(good("A1"), good("A2", notes="x" * 200_000), good("A3")))
    rows, problems = read_csv(path)
    assert [line for line, _ in rows] == [2, 4]
    problem = only(problems)
    assert (problem.line, problem.mrn) == (3, "A2")
    assert problem.message.startswith(
        "Column 5 (notes): the value has 200,000 characters; at most 10,000 are accepted in any column."
    )


def test_the_longest_value_accepted_is_read_whole_and_one_more_character_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        csv_text(good("A1", notes="n" * MAX_FIELD_CHARS), good("A2", notes="n" * (MAX_FIELD_CHARS + 1))),
    )
    rows, problems = read_csv(path)
    assert [(line, len(raw["notes"])) for line, raw in rows] == [(2, MAX_FIELD_CHARS)]
    assert "the value has 10,001 characters" in only(problems).message


def test_a_quote_that_swallows_the_rows_below_is_named_with_how_to_close_it(tmp_path: Path) -> None:
    text = csv_text(good("A1")) + 'A2,Ng,Mo,1950-01-01,"a note\n' + "A3,Ng,Mo,1950-01-01,x\n" * 600 + 'end"\n'
    rows, problems = read_csv(write(tmp_path, text))
    assert [line for line, _ in rows] == [2]
    message = only(problems).message
    assert "characters; at most 10,000 are accepted" in message
    assert "a double quote opens it and is closed only far below" in message


def test_a_lowered_csv_field_limit_cannot_end_the_reading_with_a_traceback(tmp_path: Path) -> None:
    before = csv.field_size_limit()
    csv.field_size_limit(100)  # as any other code in the process may have left it
    try:
        rows, problems = read_csv(write(tmp_path, csv_text(good("A1", notes="y" * 5_000))))
    finally:
        csv.field_size_limit(before)
    assert problems == [] and len(rows[0][1]["notes"]) == 5_000


def test_a_quote_never_closed_refuses_the_file_naming_its_line(tmp_path: Path) -> None:
    text = csv_text(good("A1")) + 'A2,Ng,Mo,1950-01-01,"open\nA3,Ng,Mo,1950-01-01,\n'
    with pytest.raises(UnreadableFile) as caught:
        read_csv(write(tmp_path, text))
    assert caught.value.messages == [
        "roster.csv: a double quote opens a value on line 3 that is never closed, so every line after it "
        'would be read as that one value: close the value ("...") where it ends, or remove the quote.'
    ]


def test_quoted_values_that_are_closed_are_not_taken_for_an_open_quote(tmp_path: Path) -> None:
    for last in ('""', '"x"""', '"a ""b"""', '"two\nlines"'):
        text = csv_text(good("A1")) + f"A2,Ng,Mo,1950-01-01,{last}"  # no line break after the last value
        rows, problems = read_csv(write(tmp_path, text))
        assert problems == [] and [line for line, _ in rows] == [2, 3], last


# --- a column named twice --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "where"),
    [
        (["mrn", "family_name", "given_name", "date_of_birth", "mrn"], "mrn (columns 1 and 5)"),
        (
            ["mrn", "family_name", "given_name", "date_of_birth", " MRN "],
            "mrn (columns 1 and 5, written 'mrn' and 'MRN')",
        ),
        (
            ["mrn", "family_name", "given_name", "Family_Name", "date_of_birth", "family_name"],
            "family_name (columns 2, 4 and 6, written 'family_name', 'Family_Name' and 'family_name')",
        ),
    ],
)
def test_a_column_named_twice_refuses_the_file_naming_both_columns(
    session: Session, staff: Staffing, tmp_path: Path, header: list[str], where: str
) -> None:
    row = ["A1", "Ng", "Mo", "1950-01-01", "B2", "Lee"][: len(header)]
    path = write(tmp_path, csv_text(row, header=header))
    before = counts(session)
    with pytest.raises(UnreadableFile) as caught:
        imports.import_patients(session, staff.admin, path, dry_run=False, clock=CLOCK)
    (message,) = caught.value.messages
    assert message.startswith(f"Column(s) named twice in the header: {where}. Each value would be read")
    assert message.endswith("keep one column of each name and remove the other.")
    assert counts(session) == before


def test_a_workbook_header_naming_a_column_twice_names_the_cells(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["mrn", "family_name", "given_name", "date_of_birth", "MRN"])
    sheet.append(["A1", "Ng", "Mo", "1950-01-01", "B2"])
    book.save(tmp_path / "roster.xlsx")
    with pytest.raises(UnreadableFile) as caught:
        read_table(tmp_path / "roster.xlsx")
    assert "mrn (cells A1 and E1, written 'mrn' and 'MRN')" in caught.value.messages[0]


# --- characters stored unseen ----------------------------------------------------------------

UNSEEN = [
    ("\x00", "the control character U+0000 (NUL)"),
    ("\x1b", "the control character U+001B (escape)"),
    ("\x07", "the control character U+0007"),
    ("\x7f", "the control character U+007F"),
    ("\x85", "the control character U+0085"),
    ("\x0b", "the control character U+000B"),
    *((chr(c), f"an invisible right-to-left control character (U+{c:04X})") for c in range(0x202A, 0x202F)),
    *((chr(c), f"an invisible right-to-left control character (U+{c:04X})") for c in range(0x2066, 0x206A)),
]


@pytest.mark.parametrize(("char", "what"), UNSEEN, ids=[f"U+{ord(c):04X}" for c, _ in UNSEEN])
def test_each_character_stored_unseen_is_named_by_line_column_and_position(
    tmp_path: Path, char: str, what: str
) -> None:
    path = write(
        tmp_path, csv_text(good("A1"), good("A2", family=f"Ng{char}uyen"), good("A3", notes=f"x{char}y"))
    )
    rows, problems = read_csv(path)
    assert [line for line, _ in rows] == [2]
    assert [(p.line, p.mrn) for p in problems] == [(3, "A2"), (4, "A3")]
    assert problems[0].message.startswith(f"Column 2 (family_name), character 3: holds {what}")
    assert problems[1].message.startswith(f"Column 5 (notes), character 2: holds {what}")


def test_the_messages_say_how_to_mend_each_kind(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        csv_text(
            good("A1", family="Ng\x00"), good("A2", family="Ng\u202eyu"), good("A3", family="M\x96ller")
        ),
    )
    _, problems = read_csv(path)
    assert [p.message.split(": ", 1)[1] for p in problems] == [
        "holds the control character U+0000 (NUL), which is stored unseen: retype the value without it.",
        "holds an invisible right-to-left control character (U+202E) that can make the text read differently "
        "from what is stored: retype the value without it (copying it from another program brings the "
        "character along).",
        "holds the control character U+0096, which is stored unseen, as text saved in an older encoding and "
        "read as UTF-8 shows them: save the file from the spreadsheet as 'CSV UTF-8', or retype the value.",
    ]


def test_an_mrn_holding_an_override_is_shown_visibly_in_the_problem(tmp_path: Path) -> None:
    _, problems = read_csv(write(tmp_path, csv_text(good("A\u202e21"))))
    assert only(problems).mrn == "A<U+202E>21"
    assert only(problems).message.startswith("Column 1 (mrn), character 2:")


def test_line_breaks_and_tabs_are_kept_in_multi_line_text_and_refused_in_one_line_values(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        csv_text(
            good("A1", notes="first line\r\nsecond\tline\nthird"),
            good("A2", family="Ng\nuyen"),
            good("A3", family="Ng\tuyen"),
            good("A4", family="  Ng\t", notes="\n trimmed \n"),  # surrounding whitespace is trimmed anyway
        ),
    )
    rows, problems = read_csv(path)
    assert [line for line, _ in rows] == [2, 8]
    assert rows[0][1]["notes"] == "first line\r\nsecond\tline\nthird"
    assert [(p.line, p.message[:60]) for p in problems] == [
        (5, "Column 2 (family_name), character 3: holds a line break (U+0"),
        (7, "Column 2 (family_name), character 3: holds a tab (U+0009), a"),
    ]
    assert problems[0].message.endswith(
        "keep the value on one line (in the spreadsheet, delete the line break inside the cell)."
    )
    assert problems[1].message.endswith("replace the tab with a space.")


def test_a_character_on_a_later_line_of_a_multi_line_value_names_that_line(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(good("A1", notes="one\ntwo\nth\x00ree")))
    problem = only(read_csv(path)[1])
    assert problem.line == 2
    assert problem.message.startswith(
        "Column 5 (notes), on line 4, character 3: holds the control character U+0000"
    )


def test_tab_delimited_files_and_direction_marks_are_still_read(tmp_path: Path) -> None:
    # U+200F (right-to-left mark) only leans neutral characters; it comes with names copied from systems
    # that write right to left, and is kept.
    path = write(tmp_path, csv_text(good("A1", family="Cohen\u200f"), delimiter="\t"), "roster.txt")
    rows, problems = read_csv(path)
    assert problems == [] and rows[0][1]["family_name"] == "Cohen\u200f"


def test_a_workbook_cell_holding_an_override_is_named_by_its_cell(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(good("A1"))
    sheet.append(good("A2", notes="see \u2066attached\u2069"))
    book.save(tmp_path / "roster.xlsx")
    rows, problems = read_table(tmp_path / "roster.xlsx")
    assert [line for line, _ in rows] == [2]
    problem = only(problems)
    assert (problem.line, problem.mrn) == (3, "A2")
    assert problem.message.startswith(
        "Cell E3 (notes), character 5: holds an invisible right-to-left control"
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(st.text(max_size=12))
def test_no_unseen_character_is_ever_read_into_a_one_line_value(tmp_path: Path, family: str) -> None:
    path = write(tmp_path, csv_text(good("A1", family=family)))
    try:
        rows, problems = read_csv(path)
    except UnreadableFile:
        return  # a lone quote may leave a value open: said of the file
    for _, raw in rows:
        stored = raw["family_name"].strip()
        assert not any(
            ord(c) < 0x20
            or 0x7F <= ord(c) <= 0x9F
            or 0x202A <= ord(c) <= 0x202E
            or 0x2066 <= ord(c) <= 0x2069
            for c in stored
        ), repr(stored)
    assert all(p.line == 2 and p.message.startswith("Column 2 (family_name)") for p in problems)


def test_a_refused_row_writes_nothing_and_the_import_is_refused_whole(
    session: Session, staff: Staffing, tmp_path: Path
) -> None:
    path = write(
        tmp_path, csv_text(good("H1"), good("H2", family="Ng\u202e"), good("H3", notes="x" * 20_000))
    )
    before = counts(session)
    report = imports.import_patients(session, staff.admin, path, dry_run=False, clock=CLOCK)
    assert (report.rows_read, report.good_rows, report.imported) == (3, 1, 0)
    assert [(p.line, p.mrn) for p in report.problems] == [(3, "H2"), (4, "H3")]
    assert counts(session) == before


def test_a_dose_history_note_holding_an_override_is_refused_and_nothing_is_written(
    world: World, tmp_path: Path
) -> None:
    pid = _patient(world.session, world.staff.nurse, "H2", family_name="Okafor", given_name="Bea")
    _verified_plan(world.session, world.staff, world.templates, pid, continues_elsewhere=True)
    path = write(
        tmp_path,
        "mrn,given_at,dose,route,site,outcome,note\n"
        'H2,2026-08-03,1000 mcg,im,left deltoid,given,"Riverside\nsurgery"\n'
        "H2,2026-08-05,1000 mcg,im,right deltoid,given,paid \u202e0001\u202c\n",
        "history.csv",
    )
    doses = world.session.scalar(select(func.count()).select_from(Administration))
    before = counts(world.session)
    report = hist.import_history(world.session, world.staff.pharmacist, path, dry_run=False, clock=CLOCK)
    assert report.imported == 0
    problem = only(report.problems)
    assert (problem.line, problem.mrn) == (4, "H2")
    assert problem.message.startswith("Column 7 (note), character 6: holds an invisible right-to-left")
    assert world.session.scalar(select(func.count()).select_from(Administration)) == doses
    assert counts(world.session) == before


# --- not a regular file ------------------------------------------------------------------------------


def within(seconds: float, read: Callable[[], object], unblock: Callable[[], None]) -> BaseException | None:
    """What `read` raised, run in a thread given `seconds`: a read that hangs fails the test instead of
    hanging it, and `unblock` then lets the thread finish."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            read()
        except BaseException as exc:  # handed to the test to judge
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        thread.join(5)
        pytest.fail(f"the reading was still waiting after {seconds} s")
    return outcome[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes are POSIX")
    path = tmp_path / "roster.csv"
    os.mkfifo(path)
    yield path


def _writer_end(path: Path) -> Callable[[], None]:
    def unblock() -> None:  # a reader waiting in open() is let through, and reads the end of the file
        with contextlib.suppress(OSError):  # no reader waits any more
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    return unblock


@pytest.mark.parametrize("reader", [read_csv, read_table], ids=["csv", "table"])
def test_a_named_pipe_is_refused_before_it_is_opened(fifo: Path, reader: Callable[[Path], object]) -> None:
    error = within(5, lambda: reader(fifo), _writer_end(fifo))
    assert isinstance(error, UnreadableFile)
    assert error.messages == [
        f"{fifo} is a named pipe (FIFO), not a file saved on disk: reading it could wait for ever or never "
        "end. Choose the CSV or Excel file itself."
    ]


def test_a_named_pipe_named_like_a_workbook_is_refused_too(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes are POSIX")
    path = tmp_path / "history.xlsx"
    os.mkfifo(path)
    error = within(5, lambda: read_table(path, hist.COLUMNS, hist.REQUIRED_COLUMNS), _writer_end(path))
    assert isinstance(error, UnreadableFile) and "is a named pipe (FIFO)" in error.messages[0]


def test_a_patient_import_from_a_named_pipe_writes_nothing(
    session: Session, staff: Staffing, fifo: Path
) -> None:
    before = counts(session)
    error = within(
        5,
        lambda: imports.import_patients(session, staff.admin, fifo, dry_run=False, clock=CLOCK),
        _writer_end(fifo),
    )
    assert isinstance(error, UnreadableFile)
    assert counts(session) == before


def test_a_folder_and_a_device_are_refused_saying_what_they_are(tmp_path: Path) -> None:
    folder = tmp_path / "exports.csv"
    folder.mkdir()
    with pytest.raises(UnreadableFile) as caught:
        read_csv(folder)
    assert caught.value.messages == [f"{folder} is a folder, not a file: choose the file inside it."]
    device = Path(os.devnull)
    if not device.exists() or device.is_file():
        return  # no character device to offer here
    with pytest.raises(UnreadableFile) as caught:
        read_csv(device)
    assert caught.value.messages[0].startswith(f"{device} is a device, not a file saved on disk")


def test_a_link_to_a_regular_file_is_read(tmp_path: Path) -> None:
    target = write(tmp_path, csv_text(good("A1")))
    link = tmp_path / "link.csv"
    try:
        link.symlink_to(target)
    except OSError:
        pytest.skip("no symbolic links here")
    rows, problems = read_csv(link)
    assert problems == [] and rows[0][1]["mrn"] == "A1"
