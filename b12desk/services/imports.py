"""Import a roster from CSV: validate every row first, report bad rows by line, never half-import."""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import zipfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.data.audit import append_event
from b12desk.data.models import Patient
from b12desk.domain.dates import DateTextError, read_date
from b12desk.domain.enums import CAUSE_LABELS, PRESENTATION_LABELS, SEX_LABELS, Cause, Presentation, Sex
from b12desk.domain.patients import PATIENT_FIELD_LABELS, PatientInput, validate_patient
from b12desk.domain.permissions import Permission
from b12desk.services import clinic
from b12desk.services import patients as patient_service
from b12desk.services.common import Actor, ValidationFailed, require

COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(PatientInput))
REQUIRED_COLUMNS = ("mrn", "family_name", "given_name", "date_of_birth")
DATE_COLUMNS = frozenset({"date_of_birth", "self_injection_trained_on"})
BOOL_COLUMNS = frozenset(
    c for c in COLUMNS if c.startswith("flag_") or c in ("neuro_involvement", "pregnant_or_breastfeeding")
)
_TRUE = {"yes", "y", "true", "t", "1", "x"}
_FALSE = {"no", "n", "false", "f", "0", ""}
_SEX_WORDS = (
    {"f": Sex.FEMALE, "m": Sex.MALE, "": Sex.UNKNOWN}
    | {s.value: s for s in Sex}
    | {label.lower(): s for s, label in SEX_LABELS.items()}
)
_PRESENTATION_WORDS = (
    {"": Presentation.NOT_RECORDED, "anaemia": Presentation.ANAEMIA, "prevention": Presentation.PREVENTION}
    | {p.value: p for p in Presentation}
    | {label.lower(): p for p, label in PRESENTATION_LABELS.items()}
)
_CAUSE_WORDS = (
    {"": Cause.UNKNOWN}
    | {c.value: c for c in Cause}
    | {label.lower(): c for c, label in CAUSE_LABELS.items()}
)
# Columns whose text may run over several lines (a quoted value holding line breaks, or tabs): the
# patient form writes these in multi-line boxes. Every other value is one line.
MULTILINE_COLUMNS = frozenset({"address", "allergies", "notes", "neuro_symptoms"})
MAX_FILE_BYTES = 50 * 1024 * 1024
# The longest value any import stores is 4,000 characters (an address or a note, domain.patients
# MAX_TEXT; a name holds 100), and a dose history's note has no limit of its own. Up to 10,000 the
# rules of each column speak for themselves ("Notes is longer than 4000 characters"); a value longer
# than that was not typed into a cell: it is a quote that swallowed the rows below it, or a file made to
# exhaust memory, and is refused as such, by its row and column.
MAX_FIELD_CHARS = 10_000
# The csv module ends the reading of the whole file at its own field limit (131,072 by default) with an
# error that names no row. Raised past the longest field a file within MAX_FILE_BYTES can hold, it can
# never be reached: MAX_FIELD_CHARS is checked per value instead.
_CSV_FIELD_LIMIT = MAX_FILE_BYTES + 1
# Characters stored unseen. Control characters (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) are
# never typed into a cell; tab and line breaks are allowed inside multi-line text only. The
# bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder the text
# around them, so that "ANN" can be stored and show as "NNA" ("Trojan Source"). The plain direction marks
# U+200E, U+200F and U+061C are allowed: they change only how neutral characters next to them lean, not
# the order of letters, and they come in right-to-left names copied from other systems.
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_HOSTILE_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
_HOSTILE_MULTILINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
_LINE_BREAK = re.compile(r"\r\n?|\n")
_CONTROL_NAMES = {"\x00": "NUL", "\x1b": "escape"}


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int  # line in the file (a CSV row's first line), the header being line 1
    mrn: str
    message: str


class UnreadableFile(ValidationFailed):
    """The file as a whole cannot be imported (it cannot be read, is not UTF-8 text, is empty, or its
    header lacks the columns): no row of it was checked, so there is no good row to offer."""

    def __init__(self, *messages: str) -> None:
        super().__init__({f"file{n}" if n else "file": m for n, m in enumerate(messages)})

    @property
    def messages(self) -> list[str]:
        return list(self.errors.values())


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows_read: int
    good_rows: int
    problems: list[RowProblem]
    imported: int
    dry_run: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def template_text() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    example = {
        "mrn": "H123456",
        "family_name": "Example",
        "given_name": "Pat",
        "date_of_birth": "1958-03-14",
        "sex": "female",
        "cause": "pernicious_anaemia",
        "presentation": "deficiency_with_anaemia",
        "neuro_involvement": "no",
        "pregnant_or_breastfeeding": "no",
        "flag_b12_hypersensitivity": "no",
        "flag_lebers_disease": "no",
        "flag_benzyl_alcohol_sensitivity": "no",
    }
    writer.writerow([example.get(c, "") for c in COLUMNS])
    return out.getvalue()


def write_template(path: Path) -> None:
    """The header row the importer expects, with one example row to overwrite."""
    path.write_text(template_text(), encoding="utf-8")


def _parse_row(raw: dict[str, str]) -> tuple[PatientInput | None, list[str]]:
    problems: list[str] = []
    values: dict[str, object] = {}
    for column in COLUMNS:
        text = (raw.get(column) or "").strip()
        label = PATIENT_FIELD_LABELS[column]
        if column in BOOL_COLUMNS:
            if text.lower() in _TRUE:
                values[column] = True
            elif text.lower() in _FALSE:
                values[column] = False
            else:
                problems.append(f"{label}: '{text}' is not yes or no.")
        elif column in DATE_COLUMNS:
            try:
                values[column] = read_date(text, what=label, example="1958-03-14") if text else None
            except DateTextError as exc:
                problems.append(str(exc))
        elif column == "sex":
            if text.lower() in _SEX_WORDS:
                values[column] = _SEX_WORDS[text.lower()]
            else:
                problems.append(f"{label}: '{text}' is not one of female, male, other, unknown.")
        elif column == "presentation":
            if text.lower() in _PRESENTATION_WORDS:
                values[column] = _PRESENTATION_WORDS[text.lower()]
            else:
                choices = ", ".join(p.value for p in Presentation if p != Presentation.NOT_RECORDED)
                problems.append(f"{label}: '{text}' is not one of {choices} (or empty: not recorded).")
        elif column == "cause":
            if text.lower() in _CAUSE_WORDS:
                values[column] = _CAUSE_WORDS[text.lower()]
            else:
                problems.append(
                    f"{label}: '{text}' is not a known cause; use one of {', '.join(c.value for c in Cause)}."
                )
        else:
            values[column] = text
    if problems:
        return None, problems
    return PatientInput(**values).normalized(), []  # type: ignore[arg-type]


Rows = list[tuple[int, dict[str, str]]]  # (line in the file, {column: text})


def _check_header(
    path: Path,
    header: list[str],
    columns: Sequence[str],
    required: Sequence[str],
    first: str = "line",
    typed: Sequence[str] | None = None,
) -> None:
    """UnreadableFile unless the header (the file's first line, or a sheet's first row) names the
    required columns, each once, and no unknown one. `typed`: the header as written, before trimming and
    lower-casing, to show where two spellings name one column."""
    if not any(header):
        raise UnreadableFile(
            f"{path.name} is empty: its first {first} must be the header row naming the columns, and each "
            f"{first} below it one row of values. Write the template to see the columns expected."
        )
    problems = []
    missing = [c for c in required if c not in header]
    if missing:
        first_line = ", ".join(_visible(h) for h in header if h)
        problems.append(
            f"Missing column(s): {', '.join(missing)}. The first {first} of {path.name} must be the "
            f"header row naming the columns (it reads: {first_line[:120]}); write the template to see them."
        )
    twice = sorted({c for c in header if c and header.count(c) > 1}, key=header.index)
    if twice:
        named = []
        for name in twice:
            at = [n for n, c in enumerate(header) if c == name]
            where = _and([_column_name(n, first) for n in at])
            spelled = [typed[n].strip() for n in at] if typed is not None else []
            if len(set(spelled)) > 1:  # shown when the spellings differ: 'mrn' and 'MRN'
                where += ", written " + _and([f"'{_visible(t)}'" for t in spelled])
            named.append(f"{name} ({'columns' if first == 'line' else 'cells'} {where})")
        problems.append(
            f"Column(s) named twice in the header: {'; '.join(named)}. Each value would be read from one "
            f"of them only: keep one column of each name and remove the other{'s' if len(twice) > 1 else ''}."
        )
    unknown = [_visible(c) for c in header if c and c not in columns]
    if unknown:
        problems.append(f"Unknown column(s): {', '.join(unknown)}; expected {', '.join(columns)}.")
    if problems:
        raise UnreadableFile(*problems)


def _column_name(index: int, first: str) -> str:
    """Column `index` (from 0) as the user finds it: a number in a CSV line, a cell of a sheet's row."""
    if first == "line":
        return str(index + 1)
    from openpyxl.utils import get_column_letter  # loaded with the workbook being read

    return f"{get_column_letter(index + 1)}1"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _visible(text: str, limit: int = 40) -> str:
    """Text from the file as it may be shown in a message: characters stored unseen written as <U+XXXX>
    (so a message never reorders itself or hides what is wrong), and at most `limit` characters."""
    shown = _HOSTILE_ONE_LINE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text[:limit])
    return shown + ("…" if len(text) > limit else "")


def _row_key(text: str) -> str:
    """A row's MRN as typed, for a problem's MRN column."""
    return _visible(text.strip().upper())


def _value_problem(column: str, value: str, multiline: bool) -> tuple[int | None, str] | None:
    """What is wrong with one value as it would be stored, and the index of the character at fault;
    None when nothing is. Surrounding whitespace is trimmed before a value is stored, so it is not
    judged."""
    if len(value) > MAX_FIELD_CHARS:
        fix = "Shorten it"
        if _LINE_BREAK.search(value):
            fix += (
                "; if it holds the rows below it, a double quote opens it and is closed only far below "
                '(or a quote inside it is not doubled): close the value ("...") where it ends, or write '
                'each quote inside it twice ("")'
            )
        return None, (
            f"the value has {len(value):,} characters; at most {MAX_FIELD_CHARS:,} are accepted in any "
            f"column. {fix}."
        )
    start = len(value) - len(value.lstrip())
    end = len(value.rstrip())
    found = (_HOSTILE_MULTILINE if multiline else _HOSTILE_ONE_LINE).search(value, start, end)
    if found is None:
        return None
    char = found.group()
    code = f"U+{ord(char):04X}"
    if char in "\n\r":
        what = (
            f"holds a line break ({code}), and the {column} column holds one line: keep the value on one "
            "line (in the spreadsheet, delete the line break inside the cell)."
        )
    elif char == "\t":
        what = f"holds a tab ({code}), and the {column} column holds one line: replace the tab with a space."
    elif char >= "\u202a":
        what = (
            f"holds an invisible right-to-left control character ({code}) that can make the text read "
            "differently from what is stored: retype the value without it (copying it from another "
            "program brings the character along)."
        )
    else:
        name = _CONTROL_NAMES.get(char, "")
        what = f"holds the control character {code}{f' ({name})' if name else ''}, which is stored unseen"
        if "\x80" <= char <= "\x9f":
            what += (
                ", as text saved in an older encoding and read as UTF-8 shows them: save the file from "
                "the spreadsheet as 'CSV UTF-8', or retype the value."
            )
        else:
            what += ": retype the value without it."
    return found.start(), what


def _csv_value_checker(
    header: Sequence[str], multiline: Collection[str]
) -> Callable[[int, Sequence[str]], list[str]]:
    """For a file's header, a function from a row (its first line, its fields) to a message for each
    value that cannot be stored, naming its column and, when it is not the row's first line, the line of
    the file the character is on. Most rows hold nothing to find: they are let through with one search
    over their one-line values and one over their multi-line ones."""
    one_line = [n for n, c in enumerate(header) if c and c not in multiline]
    several = [n for n, c in enumerate(header) if c and c in multiline]
    one_line_search, several_search = _HOSTILE_ONE_LINE.search, _HOSTILE_MULTILINE.search

    def problems_of(line: int, fields_: Sequence[str]) -> list[str]:
        if (
            max(map(len, fields_), default=0) <= MAX_FIELD_CHARS
            and one_line_search(" ".join([fields_[n] for n in one_line])) is None
            and several_search(" ".join([fields_[n] for n in several])) is None
        ):
            return []
        problems = []
        breaks = 0  # line breaks inside the quoted values before this one
        for n, (column, value) in enumerate(zip(header, fields_, strict=True)):
            found = _value_problem(column, value, column in multiline) if column else None
            if found is not None:
                at, what = found
                here = line + breaks + len(_LINE_BREAK.findall(value, 0, at or 0))
                on = f", on line {here}" if here != line else ""
                character = "" if at is None else f", character {at - value.rfind(chr(10), 0, at)}"
                problems.append(f"Column {n + 1} ({column}){on}{character}: {what}")
            breaks += len(_LINE_BREAK.findall(value))
        return problems

    return problems_of


def _too_large(path: Path) -> UnreadableFile:
    return UnreadableFile(
        f"{path.name} is larger than {MAX_FILE_BYTES // 1024 // 1024} MB: split it into smaller files "
        "and import each."
    )


def _cannot_read(path: Path, exc: OSError) -> UnreadableFile:
    if isinstance(exc, FileNotFoundError):
        return UnreadableFile(f"There is no file {path}: check the file's name and folder.")
    if isinstance(exc, IsADirectoryError):
        return UnreadableFile(f"{path} is a folder, not a file: choose the file inside it.")
    return UnreadableFile(f"Cannot read {path}: {exc.strerror or exc}.")


def _not_a_file(path: Path, mode: int) -> UnreadableFile:
    if stat.S_ISDIR(mode):
        return UnreadableFile(f"{path} is a folder, not a file: choose the file inside it.")
    kind = (
        "a named pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )
    return UnreadableFile(
        f"{path} is {kind}, not a file saved on disk: reading it could wait for ever or never end. "
        "Choose the CSV or Excel file itself."
    )


# Opening a named pipe for reading waits for a writer; non-blocking, the open returns at once and the
# check of what was opened refuses it. Neither flag exists everywhere (O_BINARY is Windows's).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES. UnreadableFile, before anything is read,
    for a folder, a named pipe, a device or a socket (which could make the reading hang or never end),
    and for a file too large."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _not_a_file(path, info.st_mode)
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(path)
        fd = os.open(path, _OPEN_FLAGS)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())  # what was opened: the name may point elsewhere since the stat
            if not stat.S_ISREG(info.st_mode):
                raise _not_a_file(path, info.st_mode)
            data = f.read(MAX_FILE_BYTES + 1)  # a file growing as it is read stops at the limit too
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(path)
    return data


def read_table(
    path: Path,
    columns: Sequence[str] = COLUMNS,
    required: Sequence[str] = REQUIRED_COLUMNS,
    multiline: Collection[str] = MULTILINE_COLUMNS,
) -> tuple[Rows, list[RowProblem]]:
    """A CSV file or the first sheet of an Excel workbook (.xlsx), as rows keyed by column, and the
    rows that cannot be read as rows, by line. UnreadableFile when the file as a whole cannot be."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_xlsx(path, columns, required, multiline)
    return read_csv(path, columns, required, multiline)


def read_xlsx(
    path: Path,
    columns: Sequence[str] = COLUMNS,
    required: Sequence[str] = REQUIRED_COLUMNS,
    multiline: Collection[str] = MULTILINE_COLUMNS,
) -> tuple[Rows, list[RowProblem]]:
    """The first sheet of a workbook: its first row the header, each row's line its row number. Dates
    typed as dates come as YYYY-MM-DD (with HH:MM when they hold a time); whole numbers without '.0'.
    UnreadableFile when it is not a workbook, cannot be read, or its header lacks the columns. A cell
    holding what read_csv refuses in a value is a problem of its row, named by the cell."""
    from openpyxl import load_workbook  # loaded when an Excel file is imported
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.exceptions import InvalidFileException

    data = read_regular_file(path)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError):
        raise UnreadableFile(
            f"{path.name} is not an Excel workbook (.xlsx): save it from the spreadsheet as 'Excel "
            "Workbook', or as 'CSV UTF-8'."
        ) from None
    lines = None
    try:
        sheet = book.worksheets[0]
        lines = sheet.iter_rows(values_only=True)
        typed = [_cell_text(v) for v in next(lines, ())]
        header = [t.lower() for t in typed]
        while header and not header[-1]:
            header.pop()
        _check_header(path, header, columns, required, first="row", typed=typed)
        rows: Rows = []
        problems: list[RowProblem] = []
        width = len(header)
        for line, values in enumerate(lines, start=2):
            texts = [_cell_text(v) for v in values]
            if not any(texts):
                continue
            beyond = [n for n, t in enumerate(texts) if t and n >= width]
            if beyond:
                key = _row_key(texts[header.index("mrn")]) if "mrn" in header else ""
                cells = ", ".join(f"{get_column_letter(n + 1)}{line}" for n in beyond[:3])
                problems.append(
                    RowProblem(
                        line,
                        key,
                        f"The row has a value in cell {cells}, beyond the header's {width} columns "
                        f"(A to {get_column_letter(width)}): give that column a name in row 1, or move "
                        "the value into its column.",
                    )
                )
                continue
            texts += [""] * (width - len(texts))
            cell_problems = []
            for n, (column, text) in enumerate(zip(header, texts, strict=False)):
                found = _value_problem(column, text, column in multiline) if column else None
                if found is not None:
                    at, what = found
                    character = "" if at is None else f", character {at + 1}"
                    cell = f"{get_column_letter(n + 1)}{line}"
                    cell_problems.append(f"Cell {cell} ({column}){character}: {what}")
            if cell_problems:
                key = _row_key(texts[header.index("mrn")]) if "mrn" in header else ""
                problems.extend(RowProblem(line, key, m) for m in cell_problems)
                continue
            rows.append((line, {c: t for c, t in zip(header, texts, strict=False) if c}))
        return rows, problems
    finally:
        if lines is not None:
            lines.close()  # the sheet's stream, when a problem ends the reading early
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d" if value.time() == time() else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _column_count_problem(fields: list[str], header: list[str]) -> str:
    """What to say of a CSV row with more or fewer fields than the header, and how to mend it."""
    n, width = len(fields), len(header)
    if n < width:
        last = header[n - 1] or f"column {n}"
        return (
            f"The row has {n} column{'' if n == 1 else 's'}; the header has {width}: the row stops after "
            f"{last}. A comma may be missing, or a value may hold a line break without double quotes "
            "around it (which ends the row early and starts another): each row needs a value, or an "
            "empty one between commas, for every column."
        )
    return (
        f"The row has {n} columns; the header has {width}. A value may hold a comma without double "
        'quotes around it (write "Smith, Jr"), or there may be a comma too many.'
    )


def read_csv(
    path: Path,
    columns: Sequence[str] = COLUMNS,
    required: Sequence[str] = REQUIRED_COLUMNS,
    multiline: Collection[str] = MULTILINE_COLUMNS,
) -> tuple[Rows, list[RowProblem]]:
    """Rows keyed by column with their line numbers, and the rows that cannot be taken, by line: a
    number of fields other than the header's, a value longer than MAX_FIELD_CHARS, or a value holding a
    character stored unseen (a control character, a line break outside `multiline` columns, a
    bidirectional override). UnreadableFile when the file is not a regular file or cannot be read, is
    not UTF-8 text, is empty, its header lacks the columns or names one twice, or a double quote opens a
    value that is never closed."""
    try:
        data = read_regular_file(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(
            f"{path.name} is not UTF-8 text: save it from the spreadsheet as 'CSV UTF-8', then import "
            "that file."
        ) from None
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    first_line = data.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(data, newline=""), delimiter=delimiter)
    try:
        typed = next(reader, [])
        header = [h.strip().lower() for h in typed]
        while header and not header[-1]:
            header.pop()  # a trailing delimiter on the header line names no column
        _check_header(path, header, columns, required, typed=typed)
        mrn_at = header.index("mrn") if "mrn" in header else None
        width = len(header)
        value_problems_of = _csv_value_checker(header, multiline)
        rows: Rows = []
        problems: list[RowProblem] = []
        line = reader.line_num
        start_line, fields_ = line, typed
        for fields_ in reader:
            start_line = line + 1
            line = reader.line_num
            if not any(f.strip() for f in fields_):
                continue  # a blank line, or one of delimiters only
            if len(fields_) > width and not any(f.strip() for f in fields_[width:]):
                del fields_[width:]  # trailing empty fields, as some spreadsheets write them
            mrn = _row_key(fields_[mrn_at]) if mrn_at is not None and mrn_at < len(fields_) else ""
            if len(fields_) != width:
                problems.append(RowProblem(start_line, mrn, _column_count_problem(fields_, header)))
                continue
            value_problems = value_problems_of(start_line, fields_)
            if value_problems:
                problems.extend(RowProblem(start_line, mrn, m) for m in value_problems)
                continue
            rows.append((start_line, {c: v for c, v in zip(header, fields_, strict=True) if c}))
    except csv.Error as exc:
        raise UnreadableFile(
            f"{path.name} cannot be read as CSV from line {reader.line_num} on ({exc}): a double quote "
            'may open a value that is never closed; close it ("...") or remove it.'
        ) from None
    if fields_ and fields_[-1] and data.endswith('"' + fields_[-1].replace('"', '""')):
        # The csv reader ends a quoted value left open at the end of the file, and keeps all it read
        # since the quote as that one value: the rows below it would be lost without a word.
        raise UnreadableFile(
            f"{path.name}: a double quote opens a value on line {start_line} that is never closed, so "
            'every line after it would be read as that one value: close the value ("...") where it ends, '
            "or remove the quote."
        )
    return rows, problems


@dataclass(frozen=True, slots=True)
class ValidatedFile:
    """A file read and checked (validate_file), ready to be written (write_validated)."""

    name: str
    rows_read: int
    good: list[PatientInput]
    problems: list[RowProblem]

    def report(self, *, imported: int, dry_run: bool) -> ImportReport:
        return ImportReport(self.rows_read, len(self.good), self.problems, imported, dry_run)


def validate_file(
    session: Session,
    actor: Actor,
    path: Path,
    *,
    clock: Clock | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ValidatedFile:
    """Read and check every row, writing nothing: run it in a reader's transaction, so that the write
    lock is taken only for the writing (write_validated), never while a large file is checked.
    UnreadableFile when the file as a whole cannot be imported."""
    require(session, actor, Permission.IMPORT_PATIENTS)
    if progress is not None:
        progress(0, 0, f"Reading {path.name}…")
    rows, problems = read_csv(path)
    rows_read = len(rows) + len({p.line for p in problems})  # with the rows of the wrong width
    existing = set(session.scalars(select(Patient.mrn)))
    seen: dict[str, int] = {}
    good: list[PatientInput] = []
    clock = clock or clinic.clinic_clock(session)
    today = clock.today()
    for n, (line, raw) in enumerate(rows, 1):
        parsed, row_problems = _parse_row(raw)
        mrn = (raw.get("mrn") or "").strip().upper()
        if parsed is not None:
            errors = validate_patient(parsed, today=today)
            row_problems = list(errors.values())
            if "mrn" not in errors:
                if parsed.mrn in existing:
                    row_problems.append(f"MRN {parsed.mrn} is already on the roster.")
                elif parsed.mrn in seen:
                    row_problems.append(f"MRN {parsed.mrn} appears again (first on line {seen[parsed.mrn]}).")
        if row_problems:
            problems.extend(RowProblem(line, mrn, m) for m in row_problems)
        elif parsed is not None:
            seen[parsed.mrn] = line
            good.append(parsed)
        if progress is not None and n % 5000 == 0:
            progress(n, len(rows), f"Checked {n:,} of {len(rows):,} rows…")
    problems.sort(key=lambda p: p.line)
    return ValidatedFile(path.name, rows_read, good, problems)


def write_validated(
    session: Session,
    actor: Actor,
    checked: ValidatedFile,
    *,
    only_good_rows: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> ImportReport:
    """Write a checked file's patients in bulk, in the caller's (writer's) transaction: all, or (only
    when asked) just the good rows; nothing while it has problems. An MRN another workstation saved
    since the check refuses the whole import."""
    require(session, actor, Permission.IMPORT_PATIENTS)
    if (checked.problems and not only_good_rows) or not checked.good:
        return checked.report(imported=0, dry_run=False)  # nothing to write, nor to audit
    try:
        patient_service.create_patients(session, actor, checked.good, progress=progress)
    except ValidationFailed as exc:  # raced with another workstation: the whole import is refused
        raise ValidationFailed({"import": str(exc)}) from None
    append_event(
        session,
        staff_id=actor.id,
        action="import",
        entity="patient_csv",
        entity_id=checked.name,
        new={"imported": len(checked.good), "skipped_bad_rows": len({p.line for p in checked.problems})},
    )
    return checked.report(imported=len(checked.good), dry_run=False)


def import_patients(
    session: Session,
    actor: Actor,
    path: Path,
    *,
    dry_run: bool,
    only_good_rows: bool = False,
    clock: Clock | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ImportReport:
    """validate_file then write_validated in one transaction (the caller's): whole or absent.
    `progress(done, total, text)` is called as it goes (and may raise to cancel: all rolls back)."""
    checked = validate_file(session, actor, path, clock=clock, progress=progress)
    if dry_run:
        return checked.report(imported=0, dry_run=True)
    return write_validated(session, actor, checked, only_good_rows=only_good_rows, progress=progress)
