"""Bringing a clinic's dose history from a spreadsheet: checked row by row like a dose given elsewhere,
refused whole with every bad line named, written whole (no stock drawn), so the schedule carries on."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from b12desk.data.models import Administration, AuditEvent, DoseAcknowledgement, ScheduledEvent, StockMovement
from b12desk.domain.enums import AdministrationOutcome, EventKind, EventStatus, InjectionSite, PlanStatus
from b12desk.services import administrations as adm
from b12desk.services import history_import as hist
from b12desk.services import plans
from b12desk.services.common import PermissionDenied
from b12desk.services.imports import UnreadableFile
from tests.services.dose_world import CLOCK, TODAY, World, _patient, _verified_plan
from tests.services.test_administrations import snapshot

HEADER = "mrn,given_at,dose,route,site,outcome,note\n"
# Induction three times a week (Mon, Wed, Fri) in August, then the first maintenance dose in November.
HISTORY = [
    "H2,2026-08-03,1000 mcg,im,left deltoid,given,Riverside surgery",
    "H2,2026-08-05,1 mg,im,right deltoid,given,",
    "H2,2026-08-07 09:30,1000,im,deltoid_left,given,",
    "H2,2026-08-10,,,right deltoid,,",
    "H2,2026-08-12,1000,im,left deltoid,given,",
    "H2,2026-08-14,1000,im,right deltoid,given,",
    "H2,2026-10-01,,,,refused,patient away",
    "H2,2026-11-09,1000,im,left ventrogluteal,given,",
]


@pytest.fixture
def continuing(world: World) -> int:
    """A second patient, H2, whose plan carries on treatment begun at another clinic."""
    pid = _patient(world.session, world.staff.nurse, "H2", family_name="Okafor", given_name="Bea")
    return _verified_plan(world.session, world.staff, world.templates, pid, continues_elsewhere=True).id


def write_csv(tmp_path: Path, lines: list[str], name: str = "history.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(w: World, path: Path, *, dry_run: bool = False) -> hist.HistoryReport:
    return hist.import_history(w.session, w.staff.pharmacist, path, dry_run=dry_run, clock=CLOCK)


def test_a_good_history_is_imported_whole_and_the_schedule_carries_on_in_maintenance(
    world: World, continuing: int, tmp_path: Path
) -> None:
    w = world
    movements = w.session.scalar(select(func.count()).select_from(StockMovement))
    report = run(w, write_csv(tmp_path, HISTORY))
    assert report.ok and report.imported == len(HISTORY) and report.plans_updated == 1, report.problems
    rows = w.session.scalars(
        select(Administration).where(Administration.plan_id == continuing).order_by(Administration.given_at)
    ).all()
    assert [CLOCK.day_of(a.given_at).isoformat() for a in rows][:2] == ["2026-08-03", "2026-08-05"]
    assert all(a.external and a.given_by_id == w.staff.pharmacist.id for a in rows)
    assert rows[1].dose_mcg == Decimal(1000)  # "1 mg" read as 1,000 mcg
    assert rows[2].given_at.astimezone(CLOCK.zone).strftime("%H:%M") == "09:30"
    assert rows[3].dose_mcg == Decimal(1000) and rows[3].site == InjectionSite.DELTOID_RIGHT  # from the plan
    assert rows[6].outcome == AdministrationOutcome.REFUSED and rows[6].volume_ml == 0
    # Nothing drawn from this clinic's stock.
    assert w.session.scalar(select(func.count()).select_from(StockMovement)) == movements
    plan = plans.get_plan(w.session, w.staff.pharmacist, continuing)
    assert plan.status == PlanStatus.ACTIVE
    next_dose = w.session.scalars(
        select(ScheduledEvent)
        .where(
            ScheduledEvent.plan_id == continuing,
            ScheduledEvent.kind == EventKind.DOSE,
            ScheduledEvent.status == EventStatus.DUE,
        )
        .order_by(ScheduledEvent.due_on)
    ).first()
    assert next_dose is not None and next_dose.label.lower().startswith("maintenance dose 2")
    assert next_dose.due_on == date(2026, 11, 9) + timedelta(days=90) or next_dose.due_on > TODAY
    # Each record has its audit event, and the file one more.
    audit = w.session.scalar(select(func.count()).where(AuditEvent.entity == "administration_file"))
    assert audit == 1
    assert w.session.scalar(
        select(func.count()).where(
            AuditEvent.entity == "administration", AuditEvent.entity_id.in_([str(a.id) for a in rows])
        )
    ) == len(rows)


def test_one_bad_row_refuses_the_file_naming_its_line_and_nothing_is_written(
    world: World, continuing: int, tmp_path: Path
) -> None:
    w = world
    lines = list(HISTORY)
    lines[4] = "H2,2026-08-12,1000 mg,im,left deltoid,given,"  # a thousand-fold error, on line 6
    before = snapshot(w.session)
    report = run(w, write_csv(tmp_path, lines))
    assert not report.ok and report.imported == 0
    assert [p.line for p in report.problems] == [6]
    assert "1,000 mcg" in report.problems[0].message and "mg" in report.problems[0].message
    assert snapshot(w.session) == before


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("NOBODY,2026-08-03,,,,,", "MRN NOBODY is not on the roster"),
        ("H2,03/08/2026,,,,,", "'03/08/2026' is not a date; write YYYY-MM-DD"),
        (
            "H2,2026-02-30,,,,,",
            "Given at: 2026-02-30 is not a date in the calendar (February 2026 has 28 days).",
        ),
        (
            "H2,2026-13-01 10:00,,,,,",
            "Given at: 2026-13-01 is not a date in the calendar (there is no month 13",
        ),
        ("H2,2026-08-05 24:00,,,,,", "Given at: 24:00 is not a time of day"),
        ("H2,2026-08-03,,,left buttock,,", "'left buttock' is not an injection site"),
        ("H2,2026-08-05,,iv,,,", "Never IV for B12 deficiency"),
        ("H2,2026-08-05,,by mouth,,,", "Route: 'by mouth' is not one of"),
        ("H2,2026-08-03,,,,lost,", "Outcome: 'lost' is not one of"),
        ("H2,2026-08-03,,,,refused,", "Say why the dose was not given"),
        ("H2,2027-08-03,,,,,", "is in the future"),
        ("P1,2026-08-03,,,,,", "before the plan starts"),
        ("H2,2026-08-03,1000 ug,,,,", "write mcg, not ug"),
    ],
)
def test_each_kind_of_bad_row_is_named_by_its_line_with_what_to_do(
    world: World, continuing: int, tmp_path: Path, line: str, words: str
) -> None:
    w = world
    before = snapshot(w.session)
    report = run(w, write_csv(tmp_path, [HISTORY[0], line]))
    assert [p.line for p in report.problems] == [3], report.problems
    assert words in report.problems[0].message
    assert report.imported == 0 and snapshot(w.session) == before


def test_two_doses_the_same_day_and_a_file_imported_twice_are_refused(
    world: World, continuing: int, tmp_path: Path
) -> None:
    w = world
    report = run(w, write_csv(tmp_path, [HISTORY[0], "H2,2026-08-03 15:00,,,,,"]))
    assert [p.line for p in report.problems] == [3] and "already given on 2026-08-03" in report.problems[
        0
    ].message
    path = write_csv(tmp_path, HISTORY[:3])
    assert run(w, path).imported == 3
    before = snapshot(w.session)
    again = run(w, path)
    assert [p.line for p in again.problems] == [2, 3, 4] and snapshot(w.session) == before


def test_a_dry_run_checks_and_writes_nothing(world: World, continuing: int, tmp_path: Path) -> None:
    before = snapshot(world.session)
    report = run(world, write_csv(tmp_path, HISTORY), dry_run=True)
    assert report.ok and report.dry_run and report.good_rows == len(HISTORY) and report.imported == 0
    assert snapshot(world.session) == before


def test_a_warning_is_recorded_with_the_dose_as_acknowledged_by_the_import(
    world: World, continuing: int, tmp_path: Path
) -> None:
    w = world
    lines = [*HISTORY[:2], "H2,2026-08-07,1000,im,right deltoid,given,"]  # the same site as last time
    report = run(w, write_csv(tmp_path, lines))
    assert report.imported == 3 and [p.line for p in report.warnings] == [4]
    assert "also used for the last dose" in report.warnings[0].message
    ack = w.session.scalars(select(DoseAcknowledgement)).one()
    assert ack.code == "same_site_as_last" and "history.csv, line 4" in ack.reason


def test_a_dose_recorded_since_the_preview_refuses_the_import_and_nothing_is_written(
    world: World, continuing: int, tmp_path: Path
) -> None:
    """The rule holds at the moment of the write: another workstation recorded a dose on a file's day
    after the file was previewed."""
    w = world
    path = write_csv(tmp_path, HISTORY)
    assert not hist.validate_history(w.session, w.staff.pharmacist, path, clock=CLOCK).problems
    adm.record_external_doses(
        w.session, w.staff.nurse, plan_id=continuing, days=[date(2026, 8, 12)], clock=CLOCK
    )
    before = snapshot(w.session)
    report = run(w, path)
    assert [p.line for p in report.problems] == [6] and report.imported == 0
    assert "A dose was already given on 2026-08-12" in report.problems[0].message
    assert snapshot(w.session) == before


def test_a_patient_archived_since_the_preview_refuses_the_import(
    world: World, continuing: int, tmp_path: Path
) -> None:
    from b12desk.services import patients

    w = world
    path = write_csv(tmp_path, HISTORY)
    assert not hist.validate_history(w.session, w.staff.pharmacist, path, clock=CLOCK).problems
    patient_id = plans.get_plan(w.session, w.staff.pharmacist, continuing).patient_id
    patients.set_archived(w.session, w.staff.manager, patient_id, archived=True, reason="moved away")
    before = snapshot(w.session)
    report = run(w, path)
    assert report.imported == 0 and {p.line for p in report.problems} == set(range(2, 2 + len(HISTORY)))
    assert "The patient is archived" in report.problems[0].message
    assert snapshot(w.session) == before


def test_an_excel_workbook_is_read_with_its_dates_and_numbers(
    world: World, continuing: int, tmp_path: Path
) -> None:
    from datetime import datetime

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(hist.COLUMNS))
    sheet.append(["H2", datetime(2026, 8, 3), 1000, "im", "left deltoid", "given", ""])
    sheet.append(["H2", datetime(2026, 8, 5, 14, 45), 1000.0, "IM", "Right deltoid", "", ""])
    sheet.append([None] * 7)  # a blank row is skipped
    sheet.append(["H2", "2026-08-07", "1 mg", "", "", "", ""])
    path = tmp_path / "history.xlsx"
    book.save(path)
    report = run(world, path)
    assert report.ok and report.imported == 3, report.problems
    times = world.session.scalars(
        select(Administration.given_at)
        .where(Administration.plan_id == continuing)
        .order_by(Administration.given_at)
    ).all()
    assert [t.astimezone(CLOCK.zone).strftime("%Y-%m-%d %H:%M") for t in times] == [
        "2026-08-03 12:00",
        "2026-08-05 14:45",
        "2026-08-07 12:00",
    ]


def test_a_bad_excel_row_is_named_by_its_sheet_row(world: World, continuing: int, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(hist.COLUMNS))
    sheet.append(["H2", "2026-08-03", 1000, "im", "", "", ""])
    sheet.append(["H2", "2026-08-05", 5, "im", "", "", ""])  # row 3: 5 mcg is not the plan's dose
    path = tmp_path / "history.xlsx"
    book.save(path)
    report = run(world, path)
    assert [p.line for p in report.problems] == [3] and "not 5 mcg" in report.problems[0].message


def test_files_that_cannot_be_read_say_why_of_the_file(world: World, tmp_path: Path) -> None:
    def unreadable(path: Path) -> list[str]:
        before = snapshot(world.session)
        with pytest.raises(UnreadableFile) as caught:
            run(world, path)
        assert snapshot(world.session) == before
        return caught.value.messages

    not_excel = tmp_path / "history.xlsx"
    not_excel.write_text("mrn,given_at\n", encoding="utf-8")
    assert "is not an Excel workbook" in unreadable(not_excel)[0]
    wrong_columns = tmp_path / "wrong.csv"
    wrong_columns.write_text("mrn,date\nH2,2026-08-03\n", encoding="utf-8")
    messages = unreadable(wrong_columns)
    assert messages[0].startswith("Missing column(s): given_at.") and any(
        "Unknown column(s): date" in m for m in messages
    )
    assert unreadable(tmp_path / "missing.csv") == [
        f"There is no file {tmp_path / 'missing.csv'}: check the file's name and folder."
    ]


def test_a_row_with_too_few_or_too_many_columns_is_named_by_its_line(
    world: World, continuing: int, tmp_path: Path
) -> None:
    report = run(world, write_csv(tmp_path, [HISTORY[0], "H2,2026-08-05", HISTORY[2] + ",extra"]))
    assert report.rows_read == 3 and report.imported == 0
    assert [(p.line, p.mrn, p.message[:40]) for p in report.problems] == [
        (3, "H2", "The row has 2 columns; the header has 7:"),
        (4, "H2", "The row has 8 columns; the header has 7."),
    ]


@pytest.mark.parametrize("name", ["template.csv", "template.xlsx"])
def test_the_template_holds_the_expected_columns_and_an_example_row(
    world: World, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    hist.write_template(path)
    if name.endswith(".xlsx"):
        sheet = load_workbook(path).worksheets[0]
        assert [c.value for c in sheet[1]] == list(hist.COLUMNS)
    else:
        assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(hist.COLUMNS)
    report = run(world, path, dry_run=True)  # the example patient is not on this roster
    assert [p.line for p in report.problems] == [2] and "H123456 is not on the roster" in report.problems[
        0
    ].message


def test_only_a_pharmacist_manager_or_administrator_may_import_history(world: World, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied):
        hist.import_history(world.session, world.staff.nurse, write_csv(tmp_path, HISTORY), dry_run=True)
