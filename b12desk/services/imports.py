"""Import a roster from CSV: validate every row first, report bad rows by line, never half-import."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.data.audit import append_event
from b12desk.data.models import Patient
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
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int  # line in the file, the header being line 1
    mrn: str
    message: str


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
                values[column] = date.fromisoformat(text) if text else None
            except ValueError:
                problems.append(f"{label}: '{text}' is not a date; write it as YYYY-MM-DD (e.g. 1958-03-14).")
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


def _header_problems(header: list[str], columns: Sequence[str], required: Sequence[str]) -> list[RowProblem]:
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c and c not in columns]
    problems = []
    if not any(header):
        problems.append(
            RowProblem(1, "", "The file is empty; write the template to see the expected columns.")
        )
    if missing:
        problems.append(RowProblem(1, "", f"Missing column(s): {', '.join(missing)}."))
    if unknown:
        problems.append(
            RowProblem(1, "", f"Unknown column(s): {', '.join(unknown)}; expected {', '.join(columns)}.")
        )
    return problems


def read_table(
    path: Path, columns: Sequence[str] = COLUMNS, required: Sequence[str] = REQUIRED_COLUMNS
) -> tuple[Rows, list[RowProblem]]:
    """A CSV file or the first sheet of an Excel workbook (.xlsx), as rows keyed by column."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_xlsx(path, columns, required)
    return read_csv(path, columns, required)


def read_xlsx(
    path: Path, columns: Sequence[str] = COLUMNS, required: Sequence[str] = REQUIRED_COLUMNS
) -> tuple[Rows, list[RowProblem]]:
    """The first sheet of a workbook: its first row the header, each row's line its row number. Dates
    typed as dates come as YYYY-MM-DD (with HH:MM when they hold a time); whole numbers without '.0'."""
    from openpyxl import load_workbook  # loaded when an Excel file is imported
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], [RowProblem(1, "", f"The file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB.")]
        book = load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:
        return [], [RowProblem(0, "", f"Cannot read {path}: {exc.strerror or exc}.")]
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError):
        return [], [
            RowProblem(
                0,
                "",
                f"{path.name} is not an Excel workbook (.xlsx): save it from the spreadsheet "
                "as 'Excel Workbook', or as 'CSV UTF-8'.",
            )
        ]
    try:
        sheet = book.worksheets[0]
        lines = sheet.iter_rows(values_only=True)
        header = [_cell_text(v).lower() for v in next(lines, ())]
        while header and not header[-1]:
            header.pop()
        problems = _header_problems(header, columns, required)
        if problems:
            return [], problems
        rows: Rows = []
        for line, values in enumerate(lines, start=2):
            texts = [_cell_text(v) for v in values]
            if not any(texts):
                continue
            if any(texts[len(header) :]):
                key = texts[header.index("mrn")] if "mrn" in header else ""
                problems.append(RowProblem(line, key, "The row has more cells than the header."))
                continue
            texts += [""] * (len(header) - len(texts))
            rows.append((line, {c: t for c, t in zip(header, texts, strict=False) if c}))
        return rows, problems
    finally:
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


def read_csv(
    path: Path, columns: Sequence[str] = COLUMNS, required: Sequence[str] = REQUIRED_COLUMNS
) -> tuple[Rows, list[RowProblem]]:
    """Rows keyed by column with their line numbers; file-level problems are reported on line 1."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], [RowProblem(1, "", f"The file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB.")]
        data = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        return [], [RowProblem(0, "", f"Cannot read {path}: {exc.strerror or exc}.")]
    except UnicodeDecodeError:
        return [], [
            RowProblem(0, "", "The file is not UTF-8 text; save it from the spreadsheet as 'CSV UTF-8'.")
        ]
    first_line = data.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.DictReader(io.StringIO(data, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    problems = _header_problems(header, columns, required)
    if problems:
        return [], problems
    rows = []
    line = reader.line_num
    for raw in reader:
        start_line = line + 1
        line = reader.line_num
        if None in raw:
            problems.append(
                RowProblem(start_line, raw.get("mrn") or "", "The row has more fields than the header.")
            )
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue  # blank line
        rows.append((start_line, {k: v or "" for k, v in raw.items()}))
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
    lock is taken only for the writing (write_validated), never while a large file is checked."""
    require(session, actor, Permission.IMPORT_PATIENTS)
    if progress is not None:
        progress(0, 0, f"Reading {path.name}…")
    rows, problems = read_csv(path)
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
    return ValidatedFile(path.name, len(rows), good, problems)


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
    if checked.problems and not only_good_rows:
        return checked.report(imported=0, dry_run=False)
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
