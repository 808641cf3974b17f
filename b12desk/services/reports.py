"""What the exported reports read: permission, set-based queries, and rows streamed from the database in
batches so that a report of a million rows never holds them all in memory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, case, distinct, func, or_, select
from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.data.audit import append_event
from b12desk.data.models import Administration, Lot, Product, ScheduledEvent, Staff, StockMovement, Vial
from b12desk.domain.enums import AdministrationOutcome, MovementKind, RecordStatus, Role, VialStatus
from b12desk.domain.permissions import Permission
from b12desk.domain.stock import EXPIRY_ALERT_DAYS, WasteReason, expiry_band
from b12desk.services import administrations, clinic, monitoring
from b12desk.services import inventory as inventory_service
from b12desk.services.common import Actor, ValidationFailed, require

BATCH = 2_000  # rows a query fetches at a time
MAX_PERIOD_DAYS = 366 * 20


class ReportKind(StrEnum):
    ADMINISTRATIONS = "administrations"
    DUE = "due"  # due today, overdue and lapsed patients
    INVENTORY = "inventory"
    WASTAGE = "wastage"
    USAGE = "usage"
    NURSE_ACTIVITY = "nurse-activity"


REPORT_TITLES: dict[ReportKind, str] = {
    ReportKind.ADMINISTRATIONS: "Administrations",
    ReportKind.DUE: "Due, overdue and lapsed patients",
    ReportKind.INVENTORY: "Inventory: lots by expiry",
    ReportKind.WASTAGE: "Wastage by reason",
    ReportKind.USAGE: "Usage by product and month",
    ReportKind.NURSE_ACTIVITY: "Nurse activity",
}

# Reports of a moment rather than a period: the period's last day is the day they describe.
AS_OF_KINDS = frozenset({ReportKind.DUE, ReportKind.INVENTORY})


@dataclass(frozen=True, slots=True)
class ReportParameters:
    """Clinic days, inclusive. For the due lists and the inventory, `end` is the day reported on."""

    start: date
    end: date

    def validated(self) -> ReportParameters:
        if self.start > self.end:
            raise ValidationFailed(
                {"start": f"The period starts ({self.start}) after it ends ({self.end}): swap the dates."}
            )
        if (self.end - self.start).days > MAX_PERIOD_DAYS:
            raise ValidationFailed({"start": "The period is longer than 20 years: give a shorter one."})
        return self


def authorize(session: Session, actor: Actor) -> None:
    """Refuse before anything is read or written: exports hold patient data in bulk."""
    require(session, actor, Permission.EXPORT_REPORTS)


def record_export(
    session: Session,
    actor: Actor,
    kind: ReportKind,
    parameters: ReportParameters,
    *,
    rows: int,
    file_name: str,
) -> None:
    """The audit trail's note that a report left the database: who, which, for when, how many rows."""
    authorize(session, actor)
    append_event(
        session,
        staff_id=actor.id,
        action="export",
        entity="report",
        entity_id=kind.value,
        new={
            "kind": kind.value,
            "from": parameters.start.isoformat(),
            "to": parameters.end.isoformat(),
            "rows": rows,
            "file": file_name,
        },
    )


def _bounds(parameters: ReportParameters, clock: Clock) -> tuple[datetime, datetime]:
    """The period as instants: from the start of its first clinic day to the start of the day after."""
    return clock.start_of_day(parameters.start), clock.start_of_day(parameters.end + timedelta(days=1))


def product_labels(session: Session) -> dict[int, str]:
    """Every product's label by id (a few dozen: read once, then looked up per row)."""
    return {p.id: inventory_service.label_of(p) for p in session.scalars(select(Product))}


# --- administrations -----------------------------------------------------------------------------------


def count_administrations(
    session: Session, actor: Actor, parameters: ReportParameters, *, clock: Clock
) -> int:
    authorize(session, actor)
    start, end = _bounds(parameters, clock)
    stmt = select(func.count(Administration.id)).where(
        Administration.given_at >= start, Administration.given_at < end
    )
    return int(session.scalar(stmt) or 0)


# The Administration tab's log statement (administrations._log_select: its columns and joins), read here
# as plain tuples: these are their positions (tests/exports checks them against the statement).
LOG_COLUMNS = (
    "id",
    "given_at",
    "patient_id",
    "mrn",
    "family_name",
    "given_name",
    "dose_mcg",
    "volume_ml",
    "route",
    "site",
    "outcome",
    "reaction",
    "product_id",
    "lot_number",
    "nurse",
    "status",
    "external",
    "self_administered",
    "note",
    "amends_id",
    "correction_reason",
)


def administration_batches(
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    *,
    clock: Clock,
    batch: int = BATCH,
) -> Iterator[Sequence[Any]]:
    """The Administration tab's log for the period (its statement: the same columns and joins), newest
    first, as batches of rows in LOG_COLUMNS order from one cursor read `batch` rows at a time. Checks
    permission when called, not at the first batch.

    One streamed statement rather than administration_log's keyset pages: a page re-seeks the index and
    builds a LogRow per row, which costs a fifth again of the writing time over 100,000 rows."""
    authorize(session, actor)
    require(session, actor, Permission.READ_PATIENTS)
    start, end = _bounds(parameters, clock)
    stmt = (
        administrations._log_select()
        .where(Administration.given_at >= start, Administration.given_at < end)
        .order_by(Administration.given_at.desc(), Administration.id.desc())
    )

    def batches() -> Iterator[Sequence[Any]]:
        result = session.execute(stmt.execution_options(yield_per=batch))
        try:
            yield from result.partitions()
        finally:
            result.close()

    return batches()


# --- due, overdue and lapsed -------------------------------------------------------------------------

DUE_LISTS = (monitoring.Worklist.TODAY, monitoring.Worklist.OVERDUE, monitoring.Worklist.LAPSED)


def due_lists(
    session: Session, actor: Actor, today: date
) -> dict[monitoring.Worklist, list[monitoring.WorkItem]]:
    """The three worklists of the day: one statement each (a row per patient's plan, not per dose)."""
    authorize(session, actor)
    return {name: monitoring.worklist(session, actor, name, today=today) for name in DUE_LISTS}


# --- inventory -------------------------------------------------------------------------------------------


def band_label(band: int | None) -> str:
    if band == 0:
        return "Expired"
    if band is None:
        return f"Later than {max(EXPIRY_ALERT_DAYS)} days"
    bands = sorted(EXPIRY_ALERT_DAYS)
    lower = ([0, *bands])[bands.index(band)]
    return f"Within {band} days" if lower == 0 else f"{lower + 1}–{band} days"


def band_labels() -> list[str]:
    """Every bucket, most urgent first."""
    return [band_label(b) for b in (0, *sorted(EXPIRY_ALERT_DAYS), None)]


@dataclass(frozen=True, slots=True)
class InventoryLotRow:
    lot_id: int
    product_id: int
    product: str
    lot_number: str
    expiry: date
    days_to_expiry: int
    band: int | None
    sealed: int
    open_vials: int
    open_ml: Decimal
    supplier: str
    received_on: date


def inventory_lots(
    session: Session, actor: Actor, today: date, *, batch: int = BATCH
) -> Iterator[InventoryLotRow]:
    """Lots holding sealed stock or an open vial, soonest expiry first, each in its expiry bucket."""
    authorize(session, actor)
    labels = product_labels(session)
    opened = (
        select(
            Vial.lot_id,
            func.count(Vial.id).label("n"),
            func.sum(Vial.remaining_ml).label("ml"),
        )
        .where(Vial.status == VialStatus.OPEN)
        .group_by(Vial.lot_id)
        .subquery()
    )
    stmt = (
        select(
            Lot.id,
            Lot.product_id,
            Lot.lot_number,
            Lot.expiry,
            Lot.quantity_on_hand,
            opened.c.n,
            opened.c.ml,
            Lot.supplier,
            Lot.received_on,
        )
        .outerjoin(opened, opened.c.lot_id == Lot.id)
        .where(or_(Lot.quantity_on_hand > 0, opened.c.n > 0))
        .order_by(Lot.expiry, Lot.product_id, Lot.lot_number, Lot.id)
    )

    def rows() -> Iterator[InventoryLotRow]:
        for r in _streamed(session, stmt, batch):
            yield InventoryLotRow(
                r[0],
                r[1],
                labels.get(r[1], ""),
                r[2],
                r[3],
                (r[3] - today).days,
                expiry_band(r[3], today),
                int(r[4]),
                int(r[5] or 0),
                Decimal(r[6] or 0),
                r[7],
                r[8],
            )

    return rows()


# --- wastage ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WasteRow:
    id: int
    at: datetime
    reason: WasteReason | None
    product: str
    lot_number: str
    expiry: date
    containers: int  # sealed containers thrown away (positive)
    volume_ml: Decimal  # left in an opened vial thrown away (positive)
    opened_vial: bool
    note: str
    who: str


@dataclass(frozen=True, slots=True)
class WasteTotal:
    reason: WasteReason | None
    events: int
    containers: int
    volume_ml: Decimal


def _waste_conditions(parameters: ReportParameters, clock: Clock) -> Any:
    start, end = _bounds(parameters, clock)
    return and_(StockMovement.kind == MovementKind.WASTED, StockMovement.at >= start, StockMovement.at < end)


def waste_rows(
    session: Session,
    actor: Actor,
    parameters: ReportParameters,
    *,
    clock: Clock,
    batch: int = BATCH,
) -> Iterator[WasteRow]:
    """Each wasting in the period, oldest first: sealed containers, or what an opened vial still held."""
    authorize(session, actor)
    labels = product_labels(session)
    stmt = (
        select(
            StockMovement.id,
            StockMovement.at,
            StockMovement.waste_reason,
            Lot.product_id,
            Lot.lot_number,
            Lot.expiry,
            StockMovement.containers,
            StockMovement.volume_ml,
            StockMovement.vial_id,
            StockMovement.reason,
            Staff.full_name,
        )
        .join(Lot, Lot.id == StockMovement.lot_id)
        .join(Staff, Staff.id == StockMovement.staff_id)
        .where(_waste_conditions(parameters, clock))
        .order_by(StockMovement.at, StockMovement.id)
    )

    def rows() -> Iterator[WasteRow]:
        for r in _streamed(session, stmt, batch):
            yield WasteRow(
                r[0],
                r[1],
                r[2],
                labels.get(r[3], ""),
                r[4],
                r[5],
                -int(r[6] or 0),
                -Decimal(r[7] or 0),
                r[8] is not None,
                r[9],
                r[10],
            )

    return rows()


def waste_by_reason(
    session: Session, actor: Actor, parameters: ReportParameters, *, clock: Clock
) -> list[WasteTotal]:
    """One GROUP BY: how often, how many containers and how much volume, per reason."""
    authorize(session, actor)
    stmt = (
        select(
            StockMovement.waste_reason,
            func.count(StockMovement.id),
            func.sum(StockMovement.containers),
            func.sum(StockMovement.volume_ml),
        )
        .where(_waste_conditions(parameters, clock))
        .group_by(StockMovement.waste_reason)
    )
    order = {reason: n for n, reason in enumerate(WasteReason)}
    totals = [
        WasteTotal(reason, int(n), -int(containers or 0), -Decimal(ml or 0))
        for reason, n, containers, ml in session.execute(stmt)
    ]
    return sorted(totals, key=lambda t: order.get(t.reason, len(order)) if t.reason else len(order))


# --- usage by product and month ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageRow:
    month: date  # its first day
    product_id: int | None
    product: str
    doses: int  # given, current records
    given_here: int
    given_elsewhere: int
    self_administered: int
    dose_mcg: Decimal
    volume_ml: Decimal  # drawn here (doses given at the clinic)


def months_of(parameters: ReportParameters) -> list[date]:
    """The first day of each calendar month the period touches."""
    months, day = [], parameters.start.replace(day=1)
    while day <= parameters.end:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def usage_by_product_month(
    session: Session, actor: Actor, parameters: ReportParameters, *, clock: Clock
) -> list[UsageRow]:
    """Doses given (current records) per product and clinic month: one GROUP BY over the period, the
    month told by comparing each instant with the months' first moments in clinic time."""
    authorize(session, actor)
    start, end = _bounds(parameters, clock)
    months = months_of(parameters)
    month_index = case(
        *((Administration.given_at < clock.start_of_day(m), n - 1) for n, m in enumerate(months[1:], 1)),
        else_=len(months) - 1,
    )
    here = and_(Administration.external.is_(False), Administration.self_administered.is_(False))
    given = (
        select(
            month_index.label("month"),
            Administration.product_id.label("product_id"),
            case((here, 1), else_=0).label("here"),
            case((Administration.external.is_(True), 1), else_=0).label("elsewhere"),
            case((Administration.self_administered.is_(True), 1), else_=0).label("home"),
            Administration.dose_mcg.label("mcg"),
            case((here, Administration.volume_ml), else_=0).label("ml"),
        )
        .where(
            Administration.given_at >= start,
            Administration.given_at < end,
            Administration.outcome == AdministrationOutcome.GIVEN,
            Administration.status == RecordStatus.CURRENT,
        )
        .subquery()
    )
    # Grouped by the subquery's columns: PostgreSQL cannot match a CASE with parameters in GROUP BY.
    stmt = (
        select(
            given.c.month,
            given.c.product_id,
            func.count(),
            func.sum(given.c.here),
            func.sum(given.c.elsewhere),
            func.sum(given.c.home),
            func.sum(given.c.mcg),
            func.sum(given.c.ml),
        )
        .group_by(given.c.month, given.c.product_id)
        .order_by(given.c.month, given.c.product_id)
    )
    labels = product_labels(session)
    rows = [
        UsageRow(
            months[int(month)],
            product_id,
            labels.get(product_id, "") if product_id is not None else "(no product recorded)",
            int(n),
            int(n_here or 0),
            int(n_elsewhere or 0),
            int(n_home or 0),
            Decimal(mcg or 0).normalize(),
            Decimal(ml or 0).normalize(),
        )
        for month, product_id, n, n_here, n_elsewhere, n_home, mcg, ml in session.execute(stmt)
    ]
    rows.sort(key=lambda r: (r.month, r.product.casefold()))
    return rows


# --- nurse activity --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NurseActivityRow:
    staff_id: int
    name: str
    username: str
    role: Role
    active: bool
    given: int  # doses recorded as given (current records)
    not_given: int  # refused, held or not given
    entered_in_error: int
    patients: int  # patients with a current record by them
    first_dose: datetime | None
    last_dose: datetime | None
    tasks_closed: int  # monitoring tasks marked done or missed
    stock_movements: int


_NOT_GIVEN = (AdministrationOutcome.REFUSED, AdministrationOutcome.HELD, AdministrationOutcome.NOT_GIVEN)


def nurse_activity(
    session: Session, actor: Actor, parameters: ReportParameters, *, clock: Clock
) -> list[NurseActivityRow]:
    """Per staff member, what they recorded in the period: three GROUP BYs (doses, tasks, stock)."""
    authorize(session, actor)
    start, end = _bounds(parameters, clock)
    current = Administration.status == RecordStatus.CURRENT
    doses = session.execute(
        select(
            Administration.given_by_id,
            func.sum(
                case((and_(current, Administration.outcome == AdministrationOutcome.GIVEN), 1), else_=0)
            ),
            func.sum(case((and_(current, Administration.outcome.in_(_NOT_GIVEN)), 1), else_=0)),
            func.sum(case((Administration.status == RecordStatus.ENTERED_IN_ERROR, 1), else_=0)),
            func.count(distinct(case((current, Administration.patient_id)))),
            func.min(case((current, Administration.given_at))),
            func.max(case((current, Administration.given_at))),
        )
        .where(Administration.given_at >= start, Administration.given_at < end)
        .group_by(Administration.given_by_id)
    ).all()
    tasks = dict(
        session.execute(
            select(ScheduledEvent.closed_by_id, func.count(ScheduledEvent.id))
            .where(
                ScheduledEvent.closed_by_id.is_not(None),
                ScheduledEvent.closed_at >= start,
                ScheduledEvent.closed_at < end,
            )
            .group_by(ScheduledEvent.closed_by_id)
        ).all()
    )
    movements = dict(
        session.execute(
            select(StockMovement.staff_id, func.count(StockMovement.id))
            .where(StockMovement.at >= start, StockMovement.at < end)
            .group_by(StockMovement.staff_id)
        ).all()
    )
    by_staff = {r[0]: r for r in doses}
    ids = set(by_staff) | set(tasks) | set(movements)
    if not ids:
        return []
    staff = session.execute(
        select(Staff.id, Staff.full_name, Staff.username, Staff.role, Staff.active).where(Staff.id.in_(ids))
    ).all()
    utc = _utc_type()
    rows = []
    for staff_id, name, username, role, active in staff:
        d = by_staff.get(staff_id)
        rows.append(
            NurseActivityRow(
                staff_id,
                name,
                username,
                role,
                active,
                int(d[1] or 0) if d else 0,
                int(d[2] or 0) if d else 0,
                int(d[3] or 0) if d else 0,
                int(d[4] or 0) if d else 0,
                utc(d[5]) if d else None,
                utc(d[6]) if d else None,
                int(tasks.get(staff_id, 0)),
                int(movements.get(staff_id, 0)),
            )
        )
    rows.sort(key=lambda r: (r.name.casefold(), r.staff_id))
    return rows


def _utc_type() -> Any:
    """min()/max() of a CASE lose the column's type: read their values as the UTC column would."""
    from datetime import UTC

    def to_utc(value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite hands back the stored text
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    return to_utc


# --- shared --------------------------------------------------------------------------------------------


def _streamed(session: Session, stmt: Select[*tuple[Any, ...]], batch: int) -> Iterator[Any]:
    """Rows of a statement fetched `batch` at a time (a server-side cursor on PostgreSQL)."""
    result = session.execute(stmt.execution_options(yield_per=batch))
    try:
        for partition in result.partitions():
            yield from partition
    finally:
        result.close()


def clinic_clock(session: Session, clock: Clock | None) -> Clock:
    return (clock or clinic.clinic_clock(session)).frozen()
