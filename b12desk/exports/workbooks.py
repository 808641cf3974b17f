"""The Excel reports: administrations, due lists, inventory, wastage, usage and nurse activity, each a
workbook whose first sheet says what was asked for, by whom, when, and the totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from openpyxl import Workbook
from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.domain.enums import AdministrationOutcome, InjectionSite, Reaction, RecordStatus, Route
from b12desk.domain.stock import WASTE_REASON_LABELS
from b12desk.exports import xlsx
from b12desk.exports.xlsx import Column, ColumnType
from b12desk.services import monitoring, reports
from b12desk.services.common import Actor
from b12desk.services.reports import REPORT_TITLES, ReportKind, ReportParameters

T, INT, N, D, DT, B = (
    ColumnType.TEXT,
    ColumnType.INT,
    ColumnType.NUMBER,
    ColumnType.DATE,
    ColumnType.DATETIME,
    ColumnType.BOOL,
)
PARAMETERS_SHEET = "Parameters"
PROGRESS_EVERY = 1_000  # rows between progress calls

Progress = Callable[[int, int | None], bool]  # (rows done, rows in all or None) -> False to cancel


@dataclass(frozen=True, slots=True)
class ExportResult:
    kind: ReportKind
    path: Path
    rows: int  # data rows written, over all sheets
    cancelled: bool = False  # then nothing was written


class ExportCancelled(Exception):
    pass


def _words(value: Any) -> str:
    """An enum's value as words ("entered_in_error" -> "entered in error")."""
    if value is None:
        return ""
    return str(getattr(value, "value", value)).replace("_", " ")


def _number(value: Decimal | None) -> int | float | None:
    """Whole amounts as ints (1000, not 1000.0), others as floats: Excel holds doubles either way."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


class _Run:
    """One export in progress: the workbook, its parameters sheet (first, written last) and progress."""

    def __init__(
        self,
        kind: ReportKind,
        session: Session,
        actor: Actor,
        parameters: ReportParameters,
        path: Path,
        progress: Progress | None,
        clock: Clock | None,
    ) -> None:
        reports.authorize(session, actor)  # before the file is touched
        self.kind, self.session, self.actor = kind, session, actor
        self.parameters = parameters.validated()
        self.path = Path(path)
        self.clock = reports.clinic_clock(session, clock)
        self.progress = progress
        self.done = 0
        self.total: int | None = None
        self.temporary = xlsx.writable_target(self.path)
        self.wb: Workbook = xlsx.new_workbook()
        self.parameters_sheet = xlsx.SheetWriter(
            self.wb, PARAMETERS_SHEET, (Column("Parameter", T, 30), Column("Value", ColumnType.MIXED, 50))
        )
        self.sheets: list[xlsx.SheetWriter] = []

    def local(self, moment: datetime | None) -> datetime | None:
        """An instant as Excel holds it: clinic wall-clock time, without a zone."""
        return None if moment is None else moment.astimezone(self.clock.zone).replace(tzinfo=None)

    def sheet(self, title: str, columns: Sequence[Column]) -> xlsx.SheetWriter:
        writer = xlsx.SheetWriter(self.wb, title, columns)
        self.sheets.append(writer)
        return writer

    def tick(self, rows: int = 1) -> None:
        before = self.done
        self.done += rows
        if self.progress is not None and self.done // PROGRESS_EVERY != before // PROGRESS_EVERY:
            self.report()

    def report(self) -> None:
        if self.progress is not None and self.progress(self.done, self.total) is False:
            raise ExportCancelled

    def write_rows(self, sheet: xlsx.SheetWriter, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            sheet.append(row)
            self.tick()

    def finish(
        self, totals: Sequence[tuple[str, Any]], extra: Sequence[tuple[str, Any]] = ()
    ) -> ExportResult:
        p = self.parameters
        rows = sum(s.close() for s in self.sheets)
        period: list[tuple[str, Any]]
        if self.kind in reports.AS_OF_KINDS:
            period = [("As of (clinic day)", p.end)]
        else:
            period = [("From (clinic day)", p.start), ("To (clinic day, inclusive)", p.end)]
        lines: list[tuple[str, Any]] = [
            ("Report", REPORT_TITLES[self.kind]),
            *period,
            *extra,
            ("Exported by", f"{self.actor.full_name} ({self.actor.username}, {self.actor.role.value})"),
            ("Exported at (clinic time)", self.local(self.clock.now())),
            ("Clinic time zone", self.clock.zone_name),
            ("Sheets", ", ".join(s.ws.title for s in self.sheets)),
            ("Rows", rows),
            *((f"Total: {label}", value) for label, value in totals),
        ]
        self.parameters_sheet.extend(lines)
        self.parameters_sheet.close()
        xlsx.save(self.wb, self.temporary, self.path)
        self.done = rows
        self.report_final()
        return ExportResult(self.kind, self.path, rows)

    def report_final(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.done)

    def cancel(self) -> ExportResult:
        xlsx.discard(self.wb, self.temporary)
        return ExportResult(self.kind, self.path, 0, cancelled=True)


class _Body(Protocol):
    def __call__(self, run: _Run) -> ExportResult: ...


def _export(
    kind: ReportKind,
    body: _Body,
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    path: Path | str,
    progress: Progress | None,
    clock: Clock | None,
    audit: bool,
) -> ExportResult:
    run = _Run(kind, session, actor, parameters, Path(path), progress, clock)
    try:
        result = body(run)
    except ExportCancelled:
        return run.cancel()
    except BaseException:
        xlsx.discard(run.wb, run.temporary)
        raise
    if audit:
        reports.record_export(
            session, actor, kind, run.parameters, rows=result.rows, file_name=result.path.name
        )
    return result


# --- administrations -----------------------------------------------------------------------------------

ADMINISTRATION_COLUMNS = (
    Column("Given at", DT),
    Column("MRN", T),
    Column("Patient", T),
    Column("Dose (mcg)", N),
    Column("Volume (mL)", N),
    Column("Route", T),
    Column("Site", T),
    Column("Outcome", T),
    Column("Reaction", T),
    Column("Product", T),
    Column("Lot", T),
    Column("Recorded by", T),
    Column("Record status", T),
    Column("Given elsewhere", B),
    Column("Self-administered", B),
    Column("Note", T, 40),
    Column("Corrects record", INT),
    Column("Correction reason", T, 30),
    Column("Record id", INT),
)


def _administrations(run: _Run) -> ExportResult:
    s, actor, clock = run.session, run.actor, run.clock
    run.total = reports.count_administrations(s, actor, run.parameters, clock=clock)
    run.report()
    labels = reports.product_labels(s)
    sheet = run.sheet("Administrations", ADMINISTRATION_COLUMNS)
    zone = clock.zone
    given = Counter[str]()
    mcg = Decimal(0)
    # Looked up, not computed, per row: enum members as words, amounts as Excel numbers.
    words: dict[Any, str] = {
        m: _words(m) for e in (Route, InjectionSite, AdministrationOutcome, Reaction, RecordStatus) for m in e
    }
    words[None] = ""
    numbers: dict[Decimal, int | float | None] = {}
    append = sheet.append
    current, entered_in_error = RecordStatus.CURRENT, RecordStatus.ENTERED_IN_ERROR
    for page in reports.administration_batches(s, actor, run.parameters, clock=clock):
        for (
            record_id,
            given_at,
            _patient_id,
            mrn,
            family_name,
            given_name,
            dose,
            volume,
            route,
            site,
            outcome,
            reaction,
            product_id,
            lot_number,
            nurse,
            status,
            external,
            self_administered,
            note,
            amends_id,
            correction_reason,
        ) in page:
            if dose not in numbers:
                numbers[dose] = _number(dose)
            if volume not in numbers:
                numbers[volume] = _number(volume)
            append(
                [
                    given_at.astimezone(zone).replace(tzinfo=None),
                    mrn,
                    f"{family_name.upper()}, {given_name}",  # as the log and the due list name them
                    numbers[dose],
                    numbers[volume],
                    words[route],
                    words[site],
                    words[outcome],
                    words[reaction],
                    labels.get(product_id, "") if product_id is not None else "",
                    lot_number or "",
                    nurse,
                    words[status],
                    external,
                    self_administered,
                    note,
                    amends_id,
                    correction_reason,
                    record_id,
                ]
            )
            if status == current:
                given[outcome.value] += 1
                if outcome == AdministrationOutcome.GIVEN:
                    mcg += dose
            elif status == entered_in_error:
                given["entered in error"] += 1
        run.tick(len(page))
    totals: list[tuple[str, Any]] = [
        ("records", sheet.rows),
        ("doses given (current records)", given[AdministrationOutcome.GIVEN.value]),
        ("mcg given (current records)", _number(mcg)),
    ]
    totals += [
        (f"{_words(o)} (current records)", given[o.value])
        for o in AdministrationOutcome
        if o != AdministrationOutcome.GIVEN
    ]
    totals.append(("records entered in error", given["entered in error"]))
    return run.finish(totals)


# --- due, overdue and lapsed --------------------------------------------------------------------------

DUE_COLUMNS = (
    Column("MRN", T),
    Column("Family name", T),
    Column("Given name", T),
    Column("Date of birth", D),
    Column("What", T),
    Column("Due on", D),
    Column("Window ends", D),
    Column("Days past window", INT),
    Column("Last dose", D),
    Column("Why listed", T, 50),
    Column("Plan id", INT),
)
DUE_SHEETS = {
    monitoring.Worklist.TODAY: "Due today",
    monitoring.Worklist.OVERDUE: "Overdue",
    monitoring.Worklist.LAPSED: "Lapsed",
}


def _due(run: _Run) -> ExportResult:
    today = run.parameters.end
    lists = reports.due_lists(run.session, run.actor, today)
    run.total = sum(len(v) for v in lists.values())
    run.report()
    for name, items in lists.items():
        sheet = run.sheet(DUE_SHEETS[name], DUE_COLUMNS)
        run.write_rows(
            sheet,
            (
                (
                    i.mrn,
                    i.family_name,
                    i.given_name,
                    i.date_of_birth,
                    i.label,
                    i.due_on,
                    i.window_end,
                    max((today - i.window_end).days, 0) if i.window_end else None,
                    i.since,
                    i.detail,
                    i.plan_id,
                )
                for i in items
            ),
        )
    totals = [(monitoring.WORKLIST_TITLES[name].lower(), len(items)) for name, items in lists.items()]
    return run.finish(totals)


# --- inventory ---------------------------------------------------------------------------------------------

INVENTORY_COLUMNS = (
    Column("Product", T),
    Column("Lot", T),
    Column("Expiry", D),
    Column("Days to expiry", INT),
    Column("Expiry bucket", T),
    Column("Sealed on hand", INT),
    Column("Open vials", INT),
    Column("Open volume (mL)", N),
    Column("Supplier", T),
    Column("Received on", D),
)


def _inventory(run: _Run) -> ExportResult:
    today = run.parameters.end
    sheet = run.sheet("Lots", INVENTORY_COLUMNS)
    lots = Counter[str]()
    containers = Counter[str]()
    for r in reports.inventory_lots(run.session, run.actor, today):
        bucket = reports.band_label(r.band)
        lots[bucket] += 1
        containers[bucket] += r.sealed
        sheet.append(
            (
                r.product,
                r.lot_number,
                r.expiry,
                r.days_to_expiry,
                bucket,
                r.sealed,
                r.open_vials,
                _number(r.open_ml),
                r.supplier,
                r.received_on,
            )
        )
        run.tick()
    totals: list[tuple[str, Any]] = [("lots", sheet.rows), ("sealed containers", sum(containers.values()))]
    for bucket in reports.band_labels():
        totals.append((f"{bucket}: lots", lots[bucket]))
        totals.append((f"{bucket}: sealed containers", containers[bucket]))
    return run.finish(totals)


# --- wastage -------------------------------------------------------------------------------------------

WASTE_COLUMNS = (
    Column("Wasted at", DT),
    Column("Reason", T),
    Column("Product", T),
    Column("Lot", T),
    Column("Lot expiry", D),
    Column("Sealed containers", INT),
    Column("Opened vial", B),
    Column("Volume in vial (mL)", N),
    Column("Note", T, 40),
    Column("Recorded by", T),
)
WASTE_TOTAL_COLUMNS = (
    Column("Reason", T),
    Column("Times", INT),
    Column("Sealed containers", INT),
    Column("Volume in opened vials (mL)", N),
)


def _reason(reason: Any) -> str:
    return WASTE_REASON_LABELS.get(reason, "Not given") if reason is not None else "Not given"


def _wastage(run: _Run) -> ExportResult:
    s, actor, p, clock = run.session, run.actor, run.parameters, run.clock
    by_reason = reports.waste_by_reason(s, actor, p, clock=clock)
    run.total = sum(t.events for t in by_reason) + len(by_reason)
    run.report()
    summary = run.sheet("By reason", WASTE_TOTAL_COLUMNS)
    run.write_rows(
        summary, ((_reason(t.reason), t.events, t.containers, _number(t.volume_ml)) for t in by_reason)
    )
    detail = run.sheet("Wastage", WASTE_COLUMNS)
    run.write_rows(
        detail,
        (
            (
                run.local(r.at),
                _reason(r.reason),
                r.product,
                r.lot_number,
                r.expiry,
                r.containers,
                r.opened_vial,
                _number(r.volume_ml),
                r.note,
                r.who,
            )
            for r in reports.waste_rows(s, actor, p, clock=clock)
        ),
    )
    totals = [
        ("times stock was wasted", sum(t.events for t in by_reason)),
        ("sealed containers", sum(t.containers for t in by_reason)),
        ("volume in opened vials (mL)", _number(sum((t.volume_ml for t in by_reason), Decimal(0)))),
    ]
    return run.finish(totals)


# --- usage ---------------------------------------------------------------------------------------------

USAGE_COLUMNS = (
    Column("Month", D),
    Column("Product", T),
    Column("Doses given", INT),
    Column("Given here", INT),
    Column("Given elsewhere", INT),
    Column("Self-administered", INT),
    Column("Total dose (mcg)", N),
    Column("Volume drawn here (mL)", N),
)


def _usage(run: _Run) -> ExportResult:
    rows = reports.usage_by_product_month(run.session, run.actor, run.parameters, clock=run.clock)
    run.total = len(rows)
    run.report()
    sheet = run.sheet("Usage", USAGE_COLUMNS)
    run.write_rows(
        sheet,
        (
            (
                r.month,
                r.product,
                r.doses,
                r.given_here,
                r.given_elsewhere,
                r.self_administered,
                _number(r.dose_mcg),
                _number(r.volume_ml),
            )
            for r in rows
        ),
    )
    totals = [
        ("doses given", sum(r.doses for r in rows)),
        ("given here", sum(r.given_here for r in rows)),
        ("total dose (mcg)", _number(sum((r.dose_mcg for r in rows), Decimal(0)))),
        ("volume drawn here (mL)", _number(sum((r.volume_ml for r in rows), Decimal(0)))),
    ]
    return run.finish(totals, [("Months", len(reports.months_of(run.parameters)))])


# --- nurse activity ------------------------------------------------------------------------------------

NURSE_COLUMNS = (
    Column("Name", T),
    Column("User name", T),
    Column("Role", T),
    Column("Account active", B),
    Column("Doses given", INT),
    Column("Not given (refused, held)", INT),
    Column("Entered in error", INT),
    Column("Patients", INT),
    Column("First dose", DT),
    Column("Last dose", DT),
    Column("Monitoring tasks closed", INT),
    Column("Stock movements", INT),
)


def _nurse_activity(run: _Run) -> ExportResult:
    rows = reports.nurse_activity(run.session, run.actor, run.parameters, clock=run.clock)
    run.total = len(rows)
    run.report()
    sheet = run.sheet("Activity", NURSE_COLUMNS)
    run.write_rows(
        sheet,
        (
            (
                r.name,
                r.username,
                r.role.value,
                r.active,
                r.given,
                r.not_given,
                r.entered_in_error,
                r.patients,
                run.local(r.first_dose),
                run.local(r.last_dose),
                r.tasks_closed,
                r.stock_movements,
            )
            for r in rows
        ),
    )
    totals = [
        ("staff", len(rows)),
        ("doses given", sum(r.given for r in rows)),
        ("not given", sum(r.not_given for r in rows)),
        ("monitoring tasks closed", sum(r.tasks_closed for r in rows)),
        ("stock movements", sum(r.stock_movements for r in rows)),
    ]
    return run.finish(totals)


# --- the public functions, one per kind ------------------------------------------------------------------


def administrations_workbook(
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    path: Path | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    audit: bool = True,
) -> ExportResult:
    """Every dose record of the period (all statuses, as the Administration tab's log shows them)."""
    return _export(
        ReportKind.ADMINISTRATIONS, _administrations, session, actor, parameters, path, progress, clock, audit
    )


def due_workbook(
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    path: Path | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    audit: bool = True,
) -> ExportResult:
    """Patients due, overdue and lapsed on the period's last day: a sheet each."""
    return _export(ReportKind.DUE, _due, session, actor, parameters, path, progress, clock, audit)


def inventory_workbook(
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    path: Path | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    audit: bool = True,
) -> ExportResult:
    """Lots holding stock, in expiry buckets as of the period's last day."""
    return _export(ReportKind.INVENTORY, _inventory, session, actor, parameters, path, progress, clock, audit)


def wastage_workbook(
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    path: Path | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    audit: bool = True,
) -> ExportResult:
    """Totals by reason, then each wasting of the period."""
    return _export(ReportKind.WASTAGE, _wastage, session, actor, parameters, path, progress, clock, audit)


def usage_workbook(
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    path: Path | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    audit: bool = True,
) -> ExportResult:
    """Doses given per product and clinic month."""
    return _export(ReportKind.USAGE, _usage, session, actor, parameters, path, progress, clock, audit)


def nurse_activity_workbook(
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    path: Path | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    audit: bool = True,
) -> ExportResult:
    """What each staff member recorded in the period."""
    return _export(
        ReportKind.NURSE_ACTIVITY, _nurse_activity, session, actor, parameters, path, progress, clock, audit
    )


class WorkbookFunction(Protocol):
    def __call__(
        self,
        session: Session,
        actor: Actor,
        parameters: ReportParameters,
        path: Path | str,
        *,
        progress: Progress | None = None,
        clock: Clock | None = None,
        audit: bool = True,
    ) -> ExportResult: ...


WORKBOOKS: dict[ReportKind, WorkbookFunction] = {
    ReportKind.ADMINISTRATIONS: administrations_workbook,
    ReportKind.DUE: due_workbook,
    ReportKind.INVENTORY: inventory_workbook,
    ReportKind.WASTAGE: wastage_workbook,
    ReportKind.USAGE: usage_workbook,
    ReportKind.NURSE_ACTIVITY: nurse_activity_workbook,
}


def export_workbook(
    kind: ReportKind,
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    path: Path | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    audit: bool = True,
) -> ExportResult:
    return WORKBOOKS[kind](session, actor, parameters, path, progress=progress, clock=clock, audit=audit)


__all__ = [
    "WORKBOOKS",
    "ExportResult",
    "Progress",
    "ReportKind",
    "ReportParameters",
    "administrations_workbook",
    "due_workbook",
    "export_workbook",
    "inventory_workbook",
    "nurse_activity_workbook",
    "usage_workbook",
    "wastage_workbook",
]
