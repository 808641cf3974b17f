"""A deterministic synthetic clinic (patients, plans, doses, labs, stock) bulk-loaded in batched executemany.

What it makes follows the app's own rules, so screens and services treat demo records like real ones:
templates come from resources/regimen_templates.json (stored the way start-up stores them) and are chosen
from the cause as resources/causes.json suggests; plans are verified by a pharmacist who did not write
them; doses fall on the clinic's open days; the monitoring tasks and the outstanding doses are those the
schedule engine (b12desk.domain.schedule) gives for the doses recorded; stock moves as
b12desk.services.inventory moves it (received, opened, drawn, wasted with a reason), so each lot's
quantity on hand is the sum of its ledger.

Sizing: each patient is followed from the start of treatment to the day before ``today``, over a history of
``years`` years; half are already under treatment when the history begins and the rest join evenly across
it. ``patients=20000, years=10`` gives about 1,030,000 administrations (3.6 million rows in all),
``patients=20000, years=2`` about 340,000 (1.6 million rows). The clinic uses every shipped template and
both the UK and the US products, so each screen has something to show; a real clinic would use one
formulary.

Speed: rows are built already in the form the database driver takes (text timestamps and floats on
SQLite, datetimes and decimals on PostgreSQL) and written 10,000 at a time with the connection's own
executemany (COPY on PostgreSQL), in one transaction. Measured here on administration rows, a typed Core
``insert()`` executemany managed 36,000-40,000 rows/s against 53,000 for the driver-level executemany of
the same rows: SQLAlchemy's per-value type processing cost more than SQLite's own insert work, so it is
bypassed. The statements are built from the mapped tables, dictionary rows are checked against them, and
the high-volume tables' tuple layouts are compared with the tables at start, so a schema change fails
loudly instead of shifting values. Whole runs reach 52,000-65,000 rows/s on SQLite here
(benchmarks/demo_data.py).
"""

from __future__ import annotations

import json
import random
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from operator import itemgetter
from typing import Any, Final

from sqlalchemy import Connection, Table, func, insert, inspect, select, text
from sqlalchemy.orm import Session

from b12desk.clock import system_utcnow
from b12desk.data.audit import append_event, canonical_json
from b12desk.data.db import Database
from b12desk.data.models import (
    Administration,
    Base,
    LabResult,
    Lot,
    Patient,
    PlanPhase,
    Product,
    RegimenTemplate,
    ScheduledEvent,
    Staff,
    StockMovement,
    TreatmentPlan,
    Vial,
)
from b12desk.data.reference import formulary, lab_tests, read_resource_json
from b12desk.domain.enums import (
    CAUSE_LABELS,
    Cause,
    Container,
    EventKind,
    EventStatus,
    Formulation,
    InjectionSite,
    LabContext,
    MovementKind,
    PhaseKind,
    PlanStatus,
    Presentation,
    RecordStatus,
    Role,
    Route,
    Sex,
    VialStatus,
)
from b12desk.domain.permissions import Permission
from b12desk.domain.plan_rules import VERIFICATION_MEANING
from b12desk.domain.regimens import TemplateDef, parse_template
from b12desk.domain.schedule import build_schedule
from b12desk.domain.stock import DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS, WasteReason, preservatives_to_text
from b12desk.domain.suggest import suggest_template
from b12desk.domain.units import format_mcg
from b12desk.services import auth, clinic, plans
from b12desk.services.common import Actor, ServiceError, ValidationFailed, require
from b12desk.services.startup import DEMO_PASSWORD, DEMO_USERS

ProgressCallback = Callable[[str, int], None]

BATCH_ROWS: Final = 10_000
PROGRESS_EVERY: Final = 100_000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_EPOCH: Final = datetime(1970, 1, 1)
_DAY: Final = 86_400

# Tables the generator fills with explicit ids, parents before children (the order batches are written in).
_TABLES: Final[tuple[type[Base], ...]] = (
    Product,
    Patient,
    TreatmentPlan,
    PlanPhase,
    ScheduledEvent,
    LabResult,
    Lot,
    Vial,
    Administration,
    StockMovement,
)
# The high-volume tables are written as tuples in this column order, checked against the mapped tables at
# start, so a schema change stops the generator instead of shifting values into the wrong columns.
_ADMINISTRATION_COLUMNS: Final = (
    "id", "patient_id", "plan_id", "scheduled_event_id", "product_id", "lot_id", "vial_id", "given_at",
    "dose_mcg", "volume_ml", "route", "site", "outcome", "note", "given_by_id", "recorded_at", "status",
    "amends_id", "amendment_reason", "corrected_by_id", "corrected_at", "external", "reaction",
    "self_administered",
)  # fmt: skip
_MOVEMENT_COLUMNS: Final = (
    "id", "lot_id", "vial_id", "kind", "containers", "volume_ml", "waste_reason", "reason",
    "administration_id", "patient_id", "staff_id", "at",
)  # fmt: skip
_EVENT_COLUMNS: Final = (
    "id", "patient_id", "plan_id", "phase_id", "kind", "label", "lab_test_code", "due_on", "window_start",
    "window_end", "status", "closed_at", "closed_by_id", "close_note", "lab_result_id",
)  # fmt: skip
_LAB_COLUMNS: Final = (
    "id", "patient_id", "test_code", "context", "taken_on", "value_text", "value", "unit", "value_canonical",
    "canonical_unit", "note", "status", "corrects_id", "entered_by_id", "entered_at",
)  # fmt: skip
_VIAL_COLUMNS: Final = (
    "id", "lot_id", "opened_at", "opened_by_id", "discard_by", "remaining_ml", "status", "discarded_at",
    "discard_reason", "version_id",
)  # fmt: skip
_TUPLE_COLUMNS: Final[dict[type[Base], tuple[str, ...]]] = {
    Administration: _ADMINISTRATION_COLUMNS,
    Vial: _VIAL_COLUMNS,
    StockMovement: _MOVEMENT_COLUMNS,
    ScheduledEvent: _EVENT_COLUMNS,
    LabResult: _LAB_COLUMNS,
}
# Demo data goes only where none of these hold anything yet (products and templates may be seeded).
_MUST_BE_EMPTY: Final = (
    Patient,
    TreatmentPlan,
    ScheduledEvent,
    LabResult,
    Lot,
    Vial,
    Administration,
    StockMovement,
)


class DemoDataRefused(ServiceError):
    """Demo data only goes into an empty database."""


@dataclass(frozen=True, slots=True)
class DemoStats:
    counts: dict[str, int]  # rows written per table
    total_rows: int
    seconds: float
    rows_per_second: float


# --- The demo clinic's make-up ---------------------------------------------------------------------------

# Cause of deficiency: pernicious anaemia is the commonest cause in a B12 injection clinic.
_CAUSE_WEIGHTS: Final[tuple[tuple[Cause, float], ...]] = (
    (Cause.PERNICIOUS_ANAEMIA, 34),
    (Cause.DIETARY, 9),
    (Cause.MALABSORPTION_GI_DISEASE, 8),
    (Cause.GASTRECTOMY, 5),
    (Cause.ILEAL_RESECTION, 3),
    (Cause.POST_BARIATRIC, 9),
    (Cause.MEDICATION_METFORMIN, 10),
    (Cause.MEDICATION_ACID_SUPPRESSION, 8),
    (Cause.MEDICATION_NITROUS_OXIDE, 2),
    (Cause.MEDICATION_OTHER, 2),
    (Cause.UNKNOWN, 10),
)
_CAUSES: Final = (tuple(c for c, _ in _CAUSE_WEIGHTS), tuple(accumulate(w for _, w in _CAUSE_WEIGHTS)))
_NEURO_CHANCE: Final[dict[Cause, float]] = {Cause.MEDICATION_NITROUS_OXIDE: 0.7}
# What is treated, by cause: (with anaemia, without, prevention, not recorded) weights.
_PRESENTATION_WEIGHTS: Final[dict[Cause, tuple[float, float, float, float]]] = {
    Cause.PERNICIOUS_ANAEMIA: (0.7, 0.25, 0.0, 0.05),
    Cause.DIETARY: (0.45, 0.3, 0.2, 0.05),
    Cause.GASTRECTOMY: (0.35, 0.2, 0.4, 0.05),
    Cause.ILEAL_RESECTION: (0.35, 0.2, 0.4, 0.05),
    Cause.POST_BARIATRIC: (0.15, 0.25, 0.55, 0.05),
    Cause.MEDICATION_METFORMIN: (0.3, 0.45, 0.2, 0.05),
    Cause.MEDICATION_ACID_SUPPRESSION: (0.3, 0.45, 0.2, 0.05),
}
_PRESENTATION_DEFAULT: Final = (0.6, 0.3, 0.05, 0.05)
_COBALT_ALLERGY: Final = "Nickel and cobalt (contact dermatitis)"
_PRESENTATION_ORDER: Final = (
    Presentation.ANAEMIA,
    Presentation.DEFICIENCY,
    Presentation.PREVENTION,
    Presentation.NOT_RECORDED,
)
_NEURO_DEFAULT: Final = 0.19
# Mean and spread of age at the start of treatment, and the youngest and oldest.
_AGE: Final[dict[Cause, tuple[float, float, int, int]]] = {
    Cause.PERNICIOUS_ANAEMIA: (66, 12, 25, 97),
    Cause.DIETARY: (36, 12, 18, 80),
    Cause.POST_BARIATRIC: (45, 10, 21, 72),
    Cause.MEDICATION_METFORMIN: (66, 10, 40, 92),
    Cause.MEDICATION_ACID_SUPPRESSION: (64, 12, 30, 95),
    Cause.MEDICATION_NITROUS_OXIDE: (24, 5, 16, 45),
}
_AGE_DEFAULT: Final = (58, 16, 18, 95)
# Causes that can resolve: the chance a plan for them ends as completed, and the reason recorded.
_RESOLVES: Final[dict[Cause, tuple[float, str]]] = {
    Cause.DIETARY: (0.5, "Cause resolved: diet changed; switched to oral B12."),
    Cause.MEDICATION_METFORMIN: (0.2, "Metformin stopped; levels normal; injections no longer needed."),
    Cause.MEDICATION_ACID_SUPPRESSION: (0.3, "PPI stopped; levels normal; injections no longer needed."),
    Cause.MEDICATION_NITROUS_OXIDE: (
        0.6,
        "Nitrous oxide use stopped; recovered; injections no longer needed.",
    ),
    Cause.MEDICATION_OTHER: (0.3, "Medication changed; injections no longer needed."),
}
_HYPERSENSITIVITY_END: Final = (
    "Hypersensitivity reaction after a dose: injections stopped, referred to the prescriber."
)
_ARCHIVE_REASONS: Final = (
    "Moved out of the area.",
    "Care transferred to the GP practice.",
    "Died (not related to treatment).",
    "Registered with another clinic.",
)
_SUPPLIERS: Final = ("Northgate Pharmacy Wholesale", "Riverside Medical Supplies", "County Hospital Pharmacy")

# Injection sites, left and right alternating: ventrogluteal preferred, dorsogluteal rarely (sciatic nerve).
_SITES: Final[tuple[str | None, ...]] = (
    None,
    InjectionSite.VENTROGLUTEAL_LEFT.value,
    InjectionSite.VENTROGLUTEAL_RIGHT.value,
    InjectionSite.DELTOID_LEFT.value,
    InjectionSite.DELTOID_RIGHT.value,
    InjectionSite.VASTUS_LATERALIS_LEFT.value,
    InjectionSite.VASTUS_LATERALIS_RIGHT.value,
    InjectionSite.DORSOGLUTEAL_LEFT.value,
    InjectionSite.DORSOGLUTEAL_RIGHT.value,
)
_SITE_GROUP_CUM: Final = tuple(accumulate((0.70, 0.15, 0.12, 0.03)))

_OUTCOMES: Final = ("given", "refused", "held", "not_given")  # AdministrationOutcome values, by code
_OUTCOMES_BEFORE_0004: Final = ("given", "refused", "not_given", "not_given")
_ROUTES: Final = tuple(r.value for r in Route)
_NOTES: Final = (
    "",
    "Patient declined today; dose re-offered.",
    "Patient unwell; dose deferred after discussion with the prescriber.",
    "Patient reports less tingling in the feet.",
    "Mild soreness at the last site; rotated.",
    "None of the prescribed product in stock today; dose rebooked.",
)
_NOTE_REFUSED, _NOTE_DEFERRED, _NOTE_BETTER, _NOTE_SORE, _NOTE_NO_STOCK = 1, 2, 3, 4, 5

# Which product a dose is drawn from, by formulation and dose: the clinic keeps several in stock.
_PRODUCT_MIX: Final[dict[tuple[Formulation, int], tuple[tuple[str, float], ...]]] = {
    (Formulation.HYDROXOCOBALAMIN, 1000): (
        ("uk_hoc_1ml_cobalin_h", 60),
        ("uk_hoc_1ml_neo_cytamen", 30),
        ("us_hoc_30ml_actavis", 10),
    ),
    (Formulation.CYANOCOBALAMIN, 1000): (
        ("us_cnc_1ml_fresenius", 35),
        ("us_cnc_1ml_american_regent", 35),
        ("us_cnc_10ml_hikma", 10),
        ("us_cnc_10ml_gland", 10),
        ("us_cnc_30ml_vitruvias", 10),
    ),
    (Formulation.CYANOCOBALAMIN, 100): (
        ("us_cnc_10ml_hikma", 40),
        ("us_cnc_10ml_gland", 30),
        ("us_cnc_30ml_vitruvias", 15),
        ("us_cnc_1ml_fresenius", 15),
    ),
}
# Every product in the seed formulary is 1,000 mcg/mL: the strength each demo plan is verified for.
_STRENGTH: Final = Decimal(1000)
# Preservative-free single-use ampoules for patients sensitive to benzyl alcohol.
_BENZYL_FREE_MIX: Final = (("uk_hoc_1ml_cobalin_h", 60), ("uk_hoc_1ml_neo_cytamen", 40))


# --- Values in the driver's own form ---------------------------------------------------------------------


class _Native:
    """Turns day numbers, epoch seconds and decimals into what the database driver stores directly.

    SQLite gets the exact text SQLAlchemy writes for Date and DateTime columns and floats for Numeric, so
    rows read back through the ORM like any other; PostgreSQL gets naive UTC datetimes, dates and decimals.
    """

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self._days: dict[int, Any] = {}
        self._times = [f" {m // 60:02d}:{m % 60:02d}:00.000000" for m in range(1440)]

    def day(self, ordinal: int) -> Any:
        value = self._days.get(ordinal)
        if value is None:
            d = date.fromordinal(ordinal)
            value = self._days[ordinal] = d.isoformat() if self.sqlite else d
        return value

    def opt_day(self, ordinal: int | None) -> Any:
        return None if ordinal is None else self.day(ordinal)

    def ts(self, epoch: int) -> Any:
        """Generated times fall on whole minutes, so SQLite's text is a cached day plus a cached time."""
        if not self.sqlite:
            return _EPOCH + timedelta(seconds=epoch)
        days, rest = divmod(epoch, _DAY)
        if rest % 60:
            raise ValueError("demo timestamps are whole minutes")
        return self.day(days + _EPOCH_ORDINAL) + self._times[rest // 60]

    def opt_ts(self, epoch: int | None) -> Any:
        return None if epoch is None else self.ts(epoch)

    def num(self, value: Decimal) -> Any:
        return float(value) if self.sqlite else value


# --- Small helpers ---------------------------------------------------------------------------------------


def _epoch(day: int, seconds: int) -> int:
    """Seconds since 1970 (UTC) of a day number and a time of day."""
    return (day - _EPOCH_ORDINAL) * _DAY + seconds


def _centi(value: Decimal) -> int:
    """Volumes are counted in hundredths of a mL, so vial arithmetic is exact."""
    hundredths = value * 100
    if hundredths != hundredths.to_integral_value():
        raise ValueError(f"{value} mL is finer than the 0.01 mL the demo clinic measures in")
    return int(hundredths)


def _ml(hundredths: int) -> Decimal:
    return (Decimal(hundredths) / 100).normalize() if hundredths % 100 else Decimal(hundredths // 100)


def _pick(rng: random.Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    return items[bisect_right(cum, rng.random() * cum[-1])]


def _month_end(day: int) -> int:
    """Expiry dates on packs are month ends."""
    d = date.fromordinal(day)
    following = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return following.toordinal() - 1


@dataclass(frozen=True, slots=True)
class _StaffIds:
    nurses: tuple[int, ...]
    pharmacists: tuple[int, ...]
    authors: tuple[int, ...]  # who types plans in: not the pharmacist who verifies them, where possible


@dataclass(slots=True)
class _ProductInfo:
    index: int
    id: int
    key: str
    formulation: Formulation
    strength: float  # mcg/mL
    container: Container
    volume_centi: int
    beyond_use_days: int
    units_per_pack: int
    for_deficiency: bool
    lot_prefix: str


@dataclass(slots=True)
class _TemplateInfo:
    id: int
    code: str
    definition: TemplateDef


@dataclass(slots=True)
class _LotState:
    id: int
    product: _ProductInfo
    lot_number: str
    received_on: int
    expiry: int
    on_hand: int
    supplier: str


@dataclass(slots=True)
class _VialState:
    id: int
    lot: _LotState
    opened_at: int  # epoch seconds
    discard_by: int
    remaining: int  # hundredths of a mL
    opened_by: int


@dataclass(slots=True)
class _Admins:
    """Administrations as compact columns, kept until the stock pass has given each its lot and vial."""

    patient: array[int] = field(default_factory=lambda: array("q"))
    plan: array[int] = field(default_factory=lambda: array("q"))
    given_at: array[int] = field(default_factory=lambda: array("q"))
    recorded_after: array[int] = field(default_factory=lambda: array("l"))
    dose_mcg: array[int] = field(default_factory=lambda: array("l"))
    product: array[int] = field(default_factory=lambda: array("b"))  # index into the generator's products
    route: array[int] = field(default_factory=lambda: array("b"))
    site: array[int] = field(default_factory=lambda: array("b"))
    outcome: array[int] = field(default_factory=lambda: array("b"))  # 0 given, 1 refused, 2 not given
    note: array[int] = field(default_factory=lambda: array("b"))
    nurse: array[int] = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.given_at)


@dataclass(slots=True)
class _Timeline:
    """What the dose simulation leaves for the schedule: given days, phases' ids and end days."""

    phase_ids: list[int]
    phase_ended: list[int | None]
    given_days: list[int]


@dataclass(frozen=True, slots=True)
class _LabState:
    """A patient's values at baseline, in canonical units; follow-ups recover from these."""

    us: bool  # reported in US units (pg/mL, g/dL, ng/mL)
    b12: float  # pmol/L
    hb: float  # g/L
    mcv: float
    folate: float  # nmol/L
    ferritin: float

    @property
    def severe(self) -> bool:
        return self.hb < 80

    @staticmethod
    def draw(rng: random.Random, *, cause: Cause, us: bool) -> _LabState:
        r = rng.random()
        hb = rng.uniform(55, 79) if r < 0.12 else rng.uniform(80, 109) if r < 0.55 else rng.uniform(110, 145)
        return _LabState(
            us=us,
            b12=rng.uniform(35, 180),
            hb=hb,
            mcv=rng.uniform(100, 124) if hb < 110 else rng.uniform(92, 106),
            folate=rng.uniform(4, 30),
            ferritin=rng.uniform(12, 320) if cause != Cause.POST_BARIATRIC else rng.uniform(6, 120),
        )


class _Loader:
    """Buffers rows per table and writes them in batches, parents first: executemany on SQLite, COPY on
    PostgreSQL (psycopg's executemany managed about 20,000 rows/s here; COPY in the same transaction
    several times that)."""

    def __init__(self, conn: Connection, progress: ProgressCallback | None) -> None:
        self.conn = conn
        self.progress = progress
        self.copy = conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
        self.buffers: dict[type[Base], list[tuple[Any, ...]]] = {t: [] for t in _TABLES}
        self.counts: dict[str, int] = {t.__tablename__: 0 for t in _TABLES}
        placeholder = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        quote = conn.dialect.identifier_preparer.quote
        self.statements: dict[type[Base], str] = {}
        self.getters: dict[type[Base], tuple[int, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {}
        # A database at an earlier schema revision (the migration tests fill one) lacks the newest
        # columns: rows are written without them, and the migration fills them in.
        self.projections: dict[type[Base], Callable[[tuple[Any, ...]], tuple[Any, ...]] | None] = {}
        self.outcomes: tuple[str, ...] = _OUTCOMES
        inspector = inspect(conn)
        for model in _TABLES:
            table = model.__table__
            assert isinstance(table, Table)
            names = tuple(c.name for c in table.columns)
            expected = _TUPLE_COLUMNS.get(model)
            if expected is not None and expected != names:
                raise ValueError(f"the {table.name} table's columns changed: update the demo generator")
            present = {c["name"] for c in inspector.get_columns(table.name)}
            if model is Administration and "reaction" not in present:
                # Before revision 0004 a held dose was recorded as not given.
                self.outcomes = _OUTCOMES_BEFORE_0004
            keep = tuple(i for i, n in enumerate(names) if n in present)
            self.projections[model] = None
            if len(keep) != len(names):
                self.projections[model] = _projection(keep)
                names = tuple(names[i] for i in keep)
            columns = f"{quote(table.name)} ({', '.join(quote(n) for n in names)})"
            self.statements[model] = (
                f"COPY {columns} FROM STDIN"
                if self.copy
                else f"INSERT INTO {columns} VALUES ({', '.join(placeholder for _ in names)})"
            )
            full = tuple(c.name for c in table.columns)
            self.getters[model] = (len(full), itemgetter(*full))

    def add(self, model: type[Base], row: dict[str, Any]) -> None:
        """A row by column name: a missing column raises KeyError, an extra one ValueError."""
        width, getter = self.getters[model]
        if len(row) != width:
            raise ValueError(f"{model.__tablename__} row has {sorted(row)}, not the table's {width} columns")
        self.add_values(model, getter(row))

    def add_values(self, model: type[Base], values: tuple[Any, ...]) -> None:
        """A row of a high-volume table, in its _TUPLE_COLUMNS order."""
        project = self.projections[model]
        buffer = self.buffers[model]
        buffer.append(values if project is None else project(values))
        if len(buffer) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        for model, rows in self.buffers.items():
            if not rows:
                continue
            if self.copy:
                driver = self.conn.connection.driver_connection
                assert driver is not None
                with driver.cursor() as cursor, cursor.copy(self.statements[model]) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                self.conn.exec_driver_sql(self.statements[model], rows)
            name = model.__tablename__
            before = self.counts[name]
            self.counts[name] = before + len(rows)
            self.buffers[model] = []
            if self.progress and before // PROGRESS_EVERY != self.counts[name] // PROGRESS_EVERY:
                self.progress(name, self.counts[name])


def _projection(keep: tuple[int, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """The values at `keep`, in order: a row for a table that lacks some of the model's columns."""

    def project(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(values[i] for i in keep)

    return project


# --- The generator ---------------------------------------------------------------------------------------


def generate(
    db: Database,
    *,
    patients: int,
    years: int,
    seed: int,
    progress: ProgressCallback | None = None,
    today: date | None = None,
    actor: Actor | None = None,
    create_demo_users: bool = False,
) -> DemoStats:
    """Fill an empty database with a synthetic clinic; the same seed and ``today`` give the same data.

    The clinic's existing staff do the demo work. Only in demo mode (`create_demo_users`) does a database
    with no staff get the demo users (startup.DEMO_USERS, password "demo"). With `actor`, that person must
    hold GENERATE_DEMO_DATA when the data is written. Everything is written in one transaction, closed by a
    single audit event, so a failure leaves the database as it was.
    """
    errors: dict[str, str] = {}
    if patients < 1:
        errors["patients"] = "Ask for at least 1 patient."
    if years < 1:
        errors["years"] = "Ask for at least 1 year of history."
    if errors:
        raise ValidationFailed(errors)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        _refuse_unless_empty(conn)
        sqlite_cache = None
        if conn.dialect.name == "sqlite":
            # A bigger page cache (64 MB, this connection, during the load) keeps the growing indexes in
            # memory: about 10% faster here than SQLite's 2 MB default, for 70 MB more.
            sqlite_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql("PRAGMA cache_size=-65536")
        session = Session(bind=conn)
        if actor is not None:
            require(session, actor, Permission.GENERATE_DEMO_DATA)
        staff, staff_rows = _ensure_staff(conn, create_demo_users=create_demo_users)
        today = today or clinic.clinic_clock(session).today()
        templates_before = session.scalar(select(func.count()).select_from(RegimenTemplate)) or 0
        plans.ensure_shipped_templates(session)  # as start-up stores them, each with its audit event
        session.flush()
        open_days = clinic.open_days(session)
        templates_rows = (
            session.scalar(select(func.count()).select_from(RegimenTemplate)) or 0
        ) - templates_before
        loader = _Loader(conn, progress)
        generator = _Generator(
            conn, loader, staff, patients=patients, years=years, seed=seed, today=today, open_days=open_days
        )
        generator.run()
        loader.flush()
        if sqlite_cache is not None:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(sqlite_cache)}")
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn)
        counts = {"staff": staff_rows, "regimen_templates": templates_rows, **loader.counts}
        append_event(
            session,
            staff_id=None,
            action="demo_data",
            entity="database",
            entity_id="demo",
            new=counts,
            reason=f"Synthetic demo clinic: seed {seed}, {patients} patients, {years} years to {today}.",
        )
        session.close()
    counts["audit_events"] = 1 + templates_rows
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    if progress:
        progress("done", total)
    return DemoStats(counts=counts, total_rows=total, seconds=seconds, rows_per_second=total / seconds)


NOT_THE_DEMO_FLAG = "--i-know-this-is-not-the-demo"


def fill_with_demo_data(
    db: Database,
    actor: Actor,
    *,
    demo_database: bool,
    not_the_demo: bool,
    patients: int,
    years: int,
    seed: int,
    progress: ProgressCallback | None = None,
) -> DemoStats:
    """`b12desk demo-data`: an administrator fills an empty demo database. Synthetic patients written into
    a real clinic's database would mix with real ones, so a database that is neither the demo database
    nor marked as holding demo data is refused unless the caller says, on purpose, that it is not the demo.
    No account is ever created here: in demo mode the demo users exist already (startup)."""
    with db.readers() as session:
        require(session, actor, Permission.GENERATE_DEMO_DATA)
        marked = demo_database or clinic.holds_demo_data(session)
    if not marked and not not_the_demo:
        raise DemoDataRefused(
            f"{db.describe()} is not the demo database. Demo data is synthetic patients; in a clinic's "
            "database they would sit beside real ones. Use the demo database (b12desk --demo demo-data), "
            f"or, to fill this one on purpose (a test or benchmark copy), add {NOT_THE_DEMO_FLAG}."
        )
    return generate(db, patients=patients, years=years, seed=seed, progress=progress, actor=actor)


def _refuse_unless_empty(conn: Connection) -> None:
    patient_count = conn.scalar(select(func.count()).select_from(Patient)) or 0
    if patient_count:
        raise DemoDataRefused(
            f"This database already holds {patient_count:,} patients. Demo data goes only into an empty "
            "database: create a new one (e.g. --db sqlite:///demo.sqlite3) and run demo-data against it."
        )
    filled = [
        model.__tablename__
        for model in _MUST_BE_EMPTY
        if conn.scalar(select(func.count()).select_from(model)) or 0
    ]
    if filled:
        raise DemoDataRefused(
            f"This database already has {', '.join(filled)}. Demo data goes only into an empty database: "
            "create a new one and run demo-data against it."
        )


def _ensure_staff(conn: Connection, *, create_demo_users: bool) -> tuple[_StaffIds, int]:
    """Existing staff do the demo work; in demo mode an empty database gets the demo users, hashed once."""
    made = 0
    if not conn.scalar(select(func.count()).select_from(Staff)):
        if not create_demo_users:
            raise DemoDataRefused(
                "The database has no staff accounts, and demo data creates none outside demo mode: create "
                "an administrator first (b12desk user add NAME --role admin), or use the demo database "
                "(--demo)."
            )
        password_hash = auth.hash_password(DEMO_PASSWORD)
        created = system_utcnow()
        conn.execute(
            insert(Staff),
            [
                {
                    "username": username,
                    "full_name": full_name,
                    "role": role,
                    "password_hash": password_hash,
                    "active": True,
                    "created_at": created,
                    "version_id": 1,
                }
                for username, full_name, role in DEMO_USERS
            ],
        )
        made = len(DEMO_USERS)
    rows = conn.execute(select(Staff.id, Staff.role).where(Staff.active).order_by(Staff.id)).all()
    if not rows:
        raise DemoDataRefused("Every staff account is disabled; enable one before adding demo data.")
    by_role: dict[Role, list[int]] = {}
    for staff_id, role in rows:
        by_role.setdefault(role, []).append(staff_id)
    everyone = tuple(r[0] for r in rows)
    nurses = tuple(by_role.get(Role.NURSE, ())) or everyone
    pharmacists = tuple(by_role.get(Role.PHARMACIST, ())) or everyone
    authors = tuple(i for i in everyone if i not in pharmacists) or everyone
    return _StaffIds(nurses=nurses, pharmacists=pharmacists, authors=authors), made


def _reset_sequences(conn: Connection) -> None:
    """Explicit ids leave PostgreSQL's sequences behind: move each past its table's highest id."""
    for model in _TABLES:
        name = model.__tablename__
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
            )
        )


def _next_ids(conn: Connection) -> dict[str, int]:
    return {m.__tablename__: (conn.scalar(select(func.max(m.__table__.c.id))) or 0) + 1 for m in _TABLES}


class _Generator:
    def __init__(
        self,
        conn: Connection,
        loader: _Loader,
        staff: _StaffIds,
        *,
        patients: int,
        years: int,
        seed: int,
        today: date,
        open_days: frozenset[int],
    ) -> None:
        self.conn = conn
        self.loader = loader
        self.staff = staff
        self.n_patients = patients
        self.seed = seed
        self.rng = random.Random(f"b12desk-demo/{seed}/people")
        self.v = _Native(conn.dialect.name == "sqlite")
        self.today = today.toordinal()
        self.history_start = self.today - round(365.25 * years)
        self.open_days = open_days or frozenset(range(7))
        self.ids = _next_ids(conn)
        self.names: dict[str, list[str]] = read_resource_json("demo_names.json")
        self.causes = plans.causes_data()
        self.admins = _Admins()
        self.products: list[_ProductInfo] = []
        self.product_by_key: dict[str, _ProductInfo] = {}
        self.templates: dict[str, _TemplateInfo] = {}
        self.lab_defs = lab_tests()
        self.mixes: dict[object, tuple[tuple[int, ...], tuple[float, ...]]] = {}

    def _id(self, table: str) -> int:
        value = self.ids[table]
        self.ids[table] = value + 1
        return value

    def _open_day(self, day: int) -> int:
        """The clinic's next open day on or after ``day`` (day numbers: ordinal 1 is a Monday)."""
        for _ in range(7):
            if (day - 1) % 7 in self.open_days:
                return day
            day += 1
        return day

    def run(self) -> None:
        self._products()
        self._templates()
        for i in range(self.n_patients):
            self._patient(i)
        self.loader.flush()
        lot_of, vial_of = self._stock()
        self.loader.flush()
        self._write_administrations(lot_of, vial_of)

    # -- reference data ----------------------------------------------------------------------------------

    def _products(self) -> None:
        """The seed formulary; products already in the database (matched by GTIN) are used as they are."""
        v = self.v
        existing = {
            gtin: (pid, strength, container, volume, bud, for_deficiency)
            for pid, gtin, strength, container, volume, bud, for_deficiency in self.conn.execute(
                select(
                    Product.id,
                    Product.gtin,
                    Product.strength_mcg_per_ml,
                    Product.container,
                    Product.volume_ml,
                    Product.beyond_use_days,
                    Product.for_deficiency,
                )
            )
            if gtin
        }
        for index, spec in enumerate(formulary()):
            letters = "".join(ch for ch in spec.manufacturer.upper() if ch.isalpha())[:2] or "LT"
            known = existing.get(spec.gtin or "")
            if known is not None:
                pid, strength, container, volume, bud, for_deficiency = known
            else:
                pid, strength, container, volume = (
                    self._id("products"),
                    spec.strength_mcg_per_ml,
                    spec.container,
                    spec.volume_ml,
                )
                bud, for_deficiency = spec.beyond_use_days, spec.for_deficiency
                values = spec.product_values()
                values.update(
                    id=pid,
                    preservatives=preservatives_to_text(spec.preservatives),
                    formulation=spec.formulation.value,
                    container=spec.container.value,
                    strength_mcg_per_ml=v.num(spec.strength_mcg_per_ml),
                    volume_ml=v.num(spec.volume_ml),
                    active=True,
                    version_id=1,
                )
                self.loader.add(Product, values)
            info = _ProductInfo(
                index=index,
                id=pid,
                key=spec.key,
                formulation=spec.formulation,
                strength=float(strength),
                container=Container(container),
                volume_centi=_centi(Decimal(volume)),
                beyond_use_days=bud or DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS,
                units_per_pack=spec.units_per_pack,
                for_deficiency=bool(for_deficiency),
                lot_prefix=letters,
            )
            self.products.append(info)
            self.product_by_key[spec.key] = info
        for key, mix in (*_PRODUCT_MIX.items(), ("benzyl_free", _BENZYL_FREE_MIX)):
            indexes = tuple(self.product_by_key[k].index for k, _ in mix)
            self.mixes[key] = (indexes, tuple(accumulate(w for _, w in mix)))

    def _templates(self) -> None:
        """The newest active version of each stored template that has phases (start-up stores the shipped)."""
        rows = self.conn.execute(
            select(RegimenTemplate.id, RegimenTemplate.code, RegimenTemplate.definition)
            .where(RegimenTemplate.active)
            .order_by(RegimenTemplate.code, RegimenTemplate.version)
        ).all()
        for template_id, code, definition in rows:  # later versions replace earlier ones
            parsed = parse_template(json.loads(definition))
            if parsed.phases:
                self.templates[code] = _TemplateInfo(template_id, code, parsed)
        if "uk_hoc_no_neuro" not in self.templates:
            raise DemoDataRefused("The demo clinic needs the shipped template 'uk_hoc_no_neuro', active.")

    # -- one patient -------------------------------------------------------------------------------------

    def _choose_template(
        self,
        cause: Cause,
        presentation: Presentation,
        neuro: bool,
        cnc_contraindicated: bool,
        rng: random.Random,
    ) -> str:
        """Mostly what resources/causes.json suggests; some clinics follow US cyanocobalamin practice."""
        suggested = suggest_template(
            self.causes,
            cause=cause,
            presentation=presentation,
            neuro=neuro,
            lebers=cnc_contraindicated,
            formulations={code: t.definition.formulation for code, t in self.templates.items()},
        )
        code = suggested.code or ("uk_hoc_neuro" if neuro else "uk_hoc_no_neuro")
        if not neuro:
            r = rng.random()
            if code == "uk_hoc_no_neuro" and r > 0.7:
                code = "us_cnc_common" if r < 0.92 else "us_cnc_fda"
        template = self.templates.get(code)
        if template is None or (
            cnc_contraindicated and template.definition.formulation == Formulation.CYANOCOBALAMIN
        ):
            code = "uk_hoc_neuro" if neuro and "uk_hoc_neuro" in self.templates else "uk_hoc_no_neuro"
        return code

    def _patient(self, i: int) -> None:
        rng = self.rng
        v = self.v
        names = self.names
        today = self.today
        patient_id = self._id("patients")
        cause: Cause = _pick(rng, *_CAUSES)
        r = rng.random()
        sex = Sex.FEMALE if r < 0.58 else Sex.MALE if r < 0.99 else Sex.OTHER if r < 0.995 else Sex.UNKNOWN
        neuro = rng.random() < _NEURO_CHANCE.get(cause, _NEURO_DEFAULT)
        weights = _PRESENTATION_WEIGHTS.get(cause, _PRESENTATION_DEFAULT)
        presentation = _PRESENTATION_ORDER[
            bisect_right(tuple(accumulate(weights)), rng.random() * sum(weights))
        ]
        hypersensitive = rng.random() < 0.003
        lebers = rng.random() < 0.002
        benzyl = rng.random() < 0.005
        cobalt = rng.random() < 0.004
        template = self.templates[self._choose_template(cause, presentation, neuro, lebers or benzyl, rng)]
        definition = template.definition
        us = definition.formulation == Formulation.CYANOCOBALAMIN
        state = _LabState.draw(rng, cause=cause, us=us)

        # When treatment starts: half were already under treatment when the history begins, a few are new.
        r = rng.random()
        new_patient = r < 0.02
        if new_patient:
            start = today + rng.randint(1, 14)
        elif r < 0.5:
            start = self.history_start + rng.randint(0, 60)
        else:
            start = rng.randint(self.history_start, today - 1)
        start = self._open_day(start)
        mean, spread, youngest, oldest = _AGE.get(cause, _AGE_DEFAULT)
        age = min(oldest, max(youngest, round(rng.gauss(mean, spread))))
        born = start - age * 365 - rng.randint(0, 364)
        age_now = (today - born) // 365
        pregnant = sex == Sex.FEMALE and 18 <= age_now <= 45 and rng.random() < 0.08

        # How the plan ends, if it ends before today.
        status = PlanStatus.ACTIVE
        stop: int | None = None
        end_reason = ""
        archived = False
        if new_patient:
            status = PlanStatus.DRAFT if rng.random() < 0.35 else PlanStatus.VERIFIED
        elif hypersensitive:
            stop = start + rng.randint(0, 6)
            status = PlanStatus.STOPPED
            end_reason = _HYPERSENSITIVITY_END
        elif rng.random() < 0.03:
            stop = start + rng.randint(60, max(61, today - 1 - start))
            status = PlanStatus.STOPPED
            end_reason = rng.choice(_ARCHIVE_REASONS)
            archived = True
        elif cause in _RESOLVES and rng.random() < _RESOLVES[cause][0]:
            stop = start + rng.randint(300, 1100)
            status = PlanStatus.COMPLETED
            end_reason = _RESOLVES[cause][1]
        if stop is not None and stop >= today:
            stop, status, end_reason, archived = None, PlanStatus.ACTIVE, "", False
        last_day = today - 1 if stop is None else min(stop, today - 1)
        if new_patient:
            last_day = start - 1
        elif status == PlanStatus.ACTIVE and rng.random() < 0.05:
            last_day = today - rng.randint(1, 60)  # stopped coming: the next dose is overdue

        given = rng.choice(names["given_names_female" if sex == Sex.FEMALE else "given_names_male"])
        family = rng.choice(names["family_names"])
        handle = "".join(ch for ch in f"{given}.{family}".lower() if ch.isalnum() or ch == ".")
        created = _epoch(min(start - rng.randint(2, 10), today - 2), 60 * rng.randrange(8 * 60, 17 * 60))
        archived_at = _epoch(stop, 16 * 3600) if archived and stop is not None else None
        allergies = (
            "Hypersensitivity to hydroxocobalamin/cyanocobalamin (urticaria)" if hypersensitive else ""
        )
        if benzyl:
            allergies = "; ".join(a for a in (allergies, "Benzyl alcohol") if a)
        phone = f"(212) 555-01{rng.randint(0, 99):02d}" if us else f"07700 900{rng.randint(0, 999):03d}"
        address = f"{rng.randint(1, 180)} {rng.choice(names['streets'])}, {rng.choice(names['towns'])}"
        self.loader.add(
            Patient,
            {
                "id": patient_id,
                "mrn": f"DEMO{i + 1:07d}",
                "family_name": family,
                "given_name": given,
                "date_of_birth": v.day(born),
                "sex": sex.value,
                "phone": phone,
                "email": f"{handle}{i % 97}@example.org" if rng.random() < 0.7 else "",
                "address": address,
                "cause": cause.value,
                "presentation": presentation.value,
                "neuro_involvement": neuro,
                "neuro_symptoms": rng.choice(names["neuro_symptoms"]) if neuro else "",
                "pregnant_or_breastfeeding": pregnant,
                "flag_b12_hypersensitivity": hypersensitive,
                "flag_lebers_disease": lebers,
                "flag_benzyl_alcohol_sensitivity": benzyl,
                "flag_cobalt_allergy": cobalt,
                "self_injection_trained_on": None,
                "self_injection_trainer": "",
                "allergies": "; ".join(a for a in (allergies, _COBALT_ALLERGY if cobalt else "") if a),
                "notes": "Leber's hereditary optic neuropathy: hydroxocobalamin only." if lebers else "",
                "archived": archived,
                "archived_at": v.opt_ts(archived_at),
                "archive_reason": end_reason if archived else "",
                "created_at": v.ts(created),
                "updated_at": v.ts(archived_at or created),
                "version_id": 1,
            },
        )

        # The plan, verified by a pharmacist who did not write it.
        plan_id = self._id("treatment_plans")
        first = definition.phases[0]
        route = definition.route
        if len(definition.routes) > 1 and rng.random() < 0.1:
            route = definition.routes[1]
        verified = status != PlanStatus.DRAFT
        conditions = "severe_anaemia" if state.severe else ""
        prescriber = rng.choice(names["prescribers"])
        indication = CAUSE_LABELS[cause] + (" with neurological involvement" if neuro else "")
        oral = route == Route.ORAL
        supplied_as = (
            f"Cyanocobalamin {format_mcg(first.dose_mcg)} tablets, one daily, 3 months" if oral else ""
        )
        snapshot = ""
        if verified:  # the fields services.plans records when a pharmacist verifies a plan
            snapshot = canonical_json(
                {
                    "template_id": template.id,
                    "formulation": definition.formulation.value,
                    "dose_mcg": format(first.dose_mcg.normalize(), "f"),
                    "strength_mcg_per_ml": format(_STRENGTH.normalize(), "f"),
                    "route": route.value,
                    "start_date": date.fromordinal(start).isoformat(),
                    "continues_elsewhere": False,
                    "prescriber": prescriber,
                    "indication": indication,
                    "conditions": conditions,
                    "override_reason": "",
                }
                | ({"supplied_as": supplied_as} if supplied_as else {})
            )
        self.loader.add(
            TreatmentPlan,
            {
                "id": plan_id,
                "patient_id": patient_id,
                "template_id": template.id,
                "formulation": definition.formulation.value,
                "dose_mcg": v.num(first.dose_mcg),
                "strength_mcg_per_ml": v.num(_STRENGTH),
                "route": route.value,
                "start_date": v.day(start),
                "continues_elsewhere": False,
                "supplied_as": supplied_as,
                "prescriber": prescriber,
                "indication": indication,
                "status": status.value,
                "author_id": rng.choice(self.staff.authors),
                "verified_by_id": rng.choice(self.staff.pharmacists) if verified else None,
                "verified_at": v.ts(created + rng.randint(1, 24) * 3600) if verified else None,
                "verification_meaning": VERIFICATION_MEANING if verified else "",
                "verified_snapshot": snapshot,
                "end_reason": end_reason,
                "conditions": conditions,
                "override_reason": "",
                "override_by_id": None,
                "review_reason": "",
                "created_at": v.ts(created),
                "version_id": 1,
            },
        )

        timeline = self._doses(
            rng,
            patient_id=patient_id,
            plan_id=plan_id,
            definition=definition,
            route=route,
            start=start,
            last_day=last_day,
            stop=stop,
            end_reason=end_reason,
            neuro=neuro,
            benzyl=benzyl,
        )
        if verified:  # nothing is scheduled before a pharmacist verifies the plan
            self._schedule(
                rng,
                patient_id=patient_id,
                plan_id=plan_id,
                definition=definition,
                timeline=timeline,
                live=status in plans.LIVE,
                start=start,
                stop=stop,
                state=state,
                conditions=plans.schedule_conditions(
                    frozenset({conditions} - {""}), pregnant_or_breastfeeding=pregnant
                ),
                cause=cause,
            )

    def _doses(
        self,
        rng: random.Random,
        *,
        patient_id: int,
        plan_id: int,
        definition: TemplateDef,
        route: Route,
        start: int,
        last_day: int,
        stop: int | None,
        end_reason: str,
        neuro: bool,
        benzyl: bool,
    ) -> _Timeline:
        """Walk the phases from the start date, as the schedule engine spaces them, writing each dose
        (compactly) and each phase row; doses fall on open days, now and then early or late."""
        a = self.admins
        v = self.v
        open_day = self._open_day
        route_code = _ROUTES.index(route.value)
        injected = route == Route.IM  # sites are recorded for IM; (deep) SC goes in the abdomen or arm
        nurses = self.staff.nurses
        side = rng.randint(0, 1)
        random = rng.random
        phase_ids: list[int] = []
        started: list[int | None] = []
        ended: list[int | None] = []
        reasons: list[str] = []
        given_days: list[int] = []
        day = start
        last_given = start
        previous_complete = True
        for seq, phase in enumerate(definition.phases):
            phase_ids.append(self._id("plan_phases"))
            if phase.taken_at_home:  # oral, at home: no dose is recorded; the phase runs from the start
                started.append(start if start <= last_day else None)
                ended.append(stop)
                reasons.append(end_reason if stop is not None else "")
                previous_complete = False
                continue
            if not previous_complete:
                started.append(None)
                ended.append(None)
                reasons.append("")
                continue
            gap = phase.min_gap_days
            if seq > 0:
                day = open_day(last_given + gap)
            planned = phase.dose_count
            if planned is None and phase.kind == PhaseKind.INDUCTION:
                planned = rng.randint(10, 30)  # alternate days until a review finds no further improvement
            dose = int(phase.dose_mcg)
            mix = (
                self.mixes.get("benzyl_free" if benzyl else (definition.formulation, dose))
                or self.mixes[
                    (definition.formulation, 1000)  # a dose the demo clinic has no preference for
                ]
            )
            maintenance = phase.kind == PhaseKind.MAINTENANCE
            first_day = day if day <= last_day else None
            k = 0
            while (planned is None or k < planned) and day <= last_day:
                r = random()
                a.patient.append(patient_id)
                a.plan.append(plan_id)
                a.given_at.append(_epoch(day, 60 * (510 + int(random() * 510))))  # 08:30 to 16:59
                a.recorded_after.append(60 * (1 + int(random() * 15)))
                a.dose_mcg.append(dose)
                a.route.append(route_code)
                a.nurse.append(nurses[int(random() * len(nurses))])
                a.product.append(_pick(rng, *mix))
                if r < 0.012:  # refused, held or not given: offered again a few days later
                    a.outcome.append(1 if r < 0.007 else 2 if r < 0.011 else 3)
                    a.note.append(
                        _NOTE_REFUSED if r < 0.007 else _NOTE_DEFERRED if r < 0.011 else _NOTE_NO_STOCK
                    )
                    a.site.append(0)
                    day = open_day(day + rng.randint(1, 7))
                    continue
                a.outcome.append(0)
                a.note.append(_NOTE_BETTER if neuro and r > 0.995 else _NOTE_SORE if r > 0.998 else 0)
                if injected:
                    side ^= 1
                    group = bisect_right(_SITE_GROUP_CUM, random() * _SITE_GROUP_CUM[-1])
                    a.site.append(1 + group * 2 + side)
                else:
                    a.site.append(0)
                k += 1
                last_given = day
                given_days.append(day)
                day += gap
                if maintenance:  # people come a little early or late, and now and then much later
                    r = random()
                    if r < 0.15:
                        day += rng.randint(1, 3)
                    elif r < 0.23:
                        day -= rng.randint(1, 3)
                    elif r < 0.30:
                        day += rng.randint(5, 30)
                day = open_day(day)
            started.append(first_day)
            if planned is not None and k >= planned:
                ended.append(last_given)
                reasons.append(
                    "Clinical review: no further improvement; maintenance started."
                    if phase.dose_count is None
                    else "Response review: reticulocytes rising and clinically better; next phase started."
                    if phase.ends_with_review
                    else f"Course complete: {planned} doses."
                )
                continue
            previous_complete = False
            if stop is not None and first_day is not None:
                ended.append(stop)
                reasons.append(end_reason)
            else:
                ended.append(None)
                reasons.append("")
        for seq, phase in enumerate(definition.phases):
            self.loader.add(
                PlanPhase,
                {
                    "id": phase_ids[seq],
                    "plan_id": plan_id,
                    "seq": seq + 1,
                    "kind": phase.kind.value,
                    "dose_mcg": v.num(phase.dose_mcg),
                    "interval_days": phase.interval_days,
                    "times_per_week": phase.times_per_week,
                    "dose_count": phase.dose_count,
                    "started_on": v.opt_day(started[seq]),
                    "ended_on": v.opt_day(ended[seq]),
                    "end_reason": reasons[seq],
                },
            )
        return _Timeline(phase_ids, ended, given_days)

    def _schedule(
        self,
        rng: random.Random,
        *,
        patient_id: int,
        plan_id: int,
        definition: TemplateDef,
        timeline: _Timeline,
        live: bool,
        start: int,
        stop: int | None,
        state: _LabState,
        conditions: frozenset[str],
        cause: Cause,
    ) -> None:
        """The events the schedule engine gives for the doses recorded: tasks before today done (with
        their results) or a few recent ones overdue; tasks and doses from today on due while the plan lives.

        The labels, windows and the outstanding doses are those services.plans writes after each dose, so
        recording the next dose for a demo patient replaces these events with the same ones.
        """
        v = self.v
        add = self.loader.add_values
        today = self.today
        clerks = self.staff.nurses + self.staff.pharmacists
        until = today + plans.SCHEDULE_HORIZON_DAYS if live else (stop if stop is not None else today)
        schedule = build_schedule(
            definition.phases,
            start=date.fromordinal(start),
            given=[date.fromordinal(d) for d in timeline.given_days],
            today=date.fromordinal(today),
            until=date.fromordinal(until),
            open_days=self.open_days,
            phase_ended_on={
                i: date.fromordinal(e) for i, e in enumerate(timeline.phase_ended) if e is not None
            },
            conditions=conditions,
            baseline_tasks=definition.baseline_tasks,
        )
        baseline_done = False
        for task in schedule.tasks:
            due = task.due.toordinal()
            if due < start or (stop is not None and due > stop):
                continue
            window_end = task.window_end.toordinal()
            status = EventStatus.DUE
            if due < today:
                if not (live and due >= today - 30 and rng.random() < 0.5):  # else overdue, not done yet
                    status = EventStatus.DONE
            elif not live:
                continue
            phase_id = None if task.phase_index is None else timeline.phase_ids[task.phase_index]
            add(
                ScheduledEvent,
                (  # _EVENT_COLUMNS
                    self._id("scheduled_events"),
                    patient_id,
                    plan_id,
                    phase_id,
                    task.kind.value,
                    task.label,
                    task.lab_test_code,
                    v.day(due),
                    v.day(due),
                    v.day(window_end),
                    status.value,
                    None,  # closed_at, closed_by_id, close_note, lab_result_id: not recorded for demo tasks
                    None,
                    "",
                    None,
                ),
            )
            if status == EventStatus.DONE and task.lab_test_code is not None:
                taken = min(due + rng.randint(0, window_end - due), today - 1)
                baseline_done = baseline_done or taken == start
                clerk = clerks[rng.randrange(len(clerks))]
                self._lab(
                    rng, patient_id, task.lab_test_code, taken, state, days_in=taken - start, clerk=clerk
                )
        if baseline_done and cause in (Cause.PERNICIOUS_ANAEMIA, Cause.UNKNOWN) and rng.random() < 0.7:
            # Antibody tests sit outside the templates: the prescriber orders them to find the cause.
            positive = cause == Cause.PERNICIOUS_ANAEMIA and rng.random() < 0.6
            clerk = clerks[rng.randrange(len(clerks))]
            value = "positive" if positive else "negative"
            self._lab_row(
                rng, patient_id, "if_antibodies", start, value, None, "result", clerk, LabContext.BASELINE
            )
        if not live:
            return
        for dose in schedule.outstanding():
            due = dose.due.toordinal()
            label = f"{dose.phase_kind.value.capitalize()} dose {dose.number}: {format_mcg(dose.dose_mcg)}"
            add(
                ScheduledEvent,
                (  # _EVENT_COLUMNS
                    self._id("scheduled_events"),
                    patient_id,
                    plan_id,
                    timeline.phase_ids[dose.phase_index],
                    EventKind.DOSE.value,
                    label,
                    None,
                    v.day(due),
                    v.day(due),
                    v.day(dose.window_end.toordinal()),
                    EventStatus.DUE.value,
                    None,
                    None,
                    "",
                    None,
                ),
            )

    # -- laboratory results ------------------------------------------------------------------------------

    def _lab(
        self,
        rng: random.Random,
        patient_id: int,
        code: str,
        taken: int,
        state: _LabState,
        *,
        days_in: int,
        clerk: int,
    ) -> None:
        """One result whose value follows the response to treatment: low at baseline, recovering after."""
        stage = 0 if days_in <= 0 else 1 if days_in < 21 else 2
        us = state.us
        if code == "serum_b12":
            pmol = state.b12 if stage == 0 else rng.uniform(300, 900)
            # UK laboratories report ng/L (NICE NG239), US ones pg/mL: the same number, 0.738 pmol/L each.
            value, unit = f"{pmol / 0.738:.0f}", ("pg/mL" if us else "ng/L")
        elif code == "hb":
            recovered = max(state.hb, rng.uniform(122, 148))
            gl = state.hb if stage == 0 else state.hb + (recovered - state.hb) * (0.4 if stage == 1 else 1.0)
            value, unit = (f"{gl / 10:.1f}", "g/dL") if us else (f"{gl:.0f}", "g/L")
        elif code == "mcv":
            fl = state.mcv if stage == 0 else rng.uniform(84, 98)
            value, unit = f"{fl:.0f}", "fL"
        elif code == "reticulocytes":
            low, high = ((15, 45), (90, 260), (35, 90))[stage]
            value, unit = f"{rng.uniform(low, high):.0f}", "x10^9/L"
        elif code == "folate":
            folate = state.folate
            value, unit = (f"{folate / 2.266:.1f}", "ng/mL") if us else (f"{folate:.1f}", "nmol/L")
        elif code == "ferritin":
            value, unit = f"{state.ferritin:.0f}", ("ng/mL" if us else "mcg/L")
        elif code == "potassium":
            value, unit = f"{rng.uniform(3.1, 4.9):.1f}", "mmol/L"
        elif code == "haematocrit":
            hct = rng.uniform(0.26, 0.34) if stage == 0 else rng.uniform(0.32, 0.38 if stage == 1 else 0.45)
            value, unit = (f"{hct * 100:.0f}", "%") if us else (f"{hct:.2f}", "L/L")
        elif code == "platelets":
            # Low before treatment; a reactive rise in the first weeks (SmPC), then normal.
            low, high = ((90, 180), (250, 620), (160, 400))[stage]
            value, unit = f"{rng.uniform(low, high):.0f}", "x10^9/L"
        elif code == "sodium":
            value, unit = f"{rng.uniform(134, 145):.0f}", "mmol/L"
        elif code == "urea":
            value, unit = f"{rng.uniform(2.5, 7.8):.1f}", "mmol/L"
        elif code == "creatinine":
            value, unit = f"{rng.uniform(50, 110):.0f}", "micromol/L"
        else:
            raise ValueError(f"the demo clinic has no values for lab test '{code}'")
        context = LabContext.BASELINE if stage == 0 else LabContext.FOLLOW_UP
        self._lab_row(rng, patient_id, code, taken, value, Decimal(value), unit, clerk, context)

    def _lab_row(
        self,
        rng: random.Random,
        patient_id: int,
        code: str,
        taken: int,
        value_text: str,
        value: Decimal | None,
        unit: str,
        clerk: int,
        context: LabContext,
    ) -> None:
        """Stored as services.patients.add_lab_result stores one: as entered, and in the canonical unit."""
        v = self.v
        test = self.lab_defs[code]
        factor = test.units[unit]
        canonical = (value * factor).normalize() if value is not None and factor is not None else None
        self.loader.add_values(
            LabResult,
            (  # _LAB_COLUMNS
                self._id("lab_results"),
                patient_id,
                code,
                context.value,
                v.day(taken),
                value_text,
                None if value is None else v.num(value),
                unit,
                None if canonical is None else v.num(canonical),
                test.canonical_unit,
                "",
                RecordStatus.CURRENT.value,
                None,
                clerk,
                v.ts(_epoch(taken, 60 * rng.randrange(15 * 60, 18 * 60))),
            ),
        )

    # -- stock: lots, opened vials and the ledger --------------------------------------------------------

    def _stock(self) -> tuple[array[int], array[int]]:
        """Give every given dose a lot (and a vial for multi-dose draws), receiving lots as stock runs low.

        Each product's doses are replayed in time order, as services.inventory would have recorded them:
        one single-use container per dose; a multi-dose vial opened (first puncture), drawn from, and
        closed when empty or discarded at its discard-by time (opened + beyond-use days, capped at the lot's
        expiry). Each lot's quantity on hand is the sum of its ledger and never goes below zero.
        """
        rng = random.Random(f"b12desk-demo/{self.seed}/stock")
        v = self.v
        a = self.admins
        n = len(a)
        lot_of = array("q", bytes(8 * n))
        vial_of = array("q", bytes(8 * n))
        uses: list[list[int]] = [[] for _ in self.products]
        for idx, (p, outcome) in enumerate(zip(a.product, a.outcome, strict=True)):
            if outcome == 0:
                uses[p].append(idx)
        end_of_history = _epoch(self.today, 0)
        history_days = max(1, self.today - self.history_start)
        pharmacists = self.staff.pharmacists
        lots: list[_LotState] = []
        vial_rows: list[tuple[Any, ...]] = []
        movements: list[tuple[Any, ...]] = []
        lot_numbers: set[tuple[int, str]] = set()

        def movement(
            lot: _LotState,
            vial: _VialState | None,
            kind: MovementKind,
            containers: int,
            volume_centi: int,
            waste: WasteReason | None,
            reason: str,
            staff_id: int,
            at: int,
        ) -> None:
            movements.append(
                (  # _MOVEMENT_COLUMNS
                    self._id("stock_movements"),
                    lot.id,
                    None if vial is None else vial.id,
                    kind.value,
                    containers,
                    v.num(_ml(volume_centi)),
                    None if waste is None else waste.value,
                    reason,
                    None,
                    None,
                    staff_id,
                    v.ts(at),
                )
            )

        def new_lot(product: _ProductInfo, received_on: int, quantity: int, expiry: int) -> _LotState:
            while True:
                number = f"{product.lot_prefix}{rng.randint(1, 99):02d}{rng.randint(0, 99999):05d}"
                if (product.index, number) not in lot_numbers:
                    lot_numbers.add((product.index, number))
                    break
            lot = _LotState(
                id=self._id("lots"),
                product=product,
                lot_number=number,
                received_on=received_on,
                expiry=expiry,
                on_hand=quantity,
                supplier=rng.choice(_SUPPLIERS),
            )
            lots.append(lot)
            at = _epoch(received_on, 60 * rng.randrange(9 * 60, 12 * 60))
            reason = f"received {date.fromordinal(received_on).isoformat()} from {lot.supplier}"
            movement(lot, None, MovementKind.RECEIVED, quantity, 0, None, reason, rng.choice(pharmacists), at)
            return lot

        def vial_values(
            vial: _VialState, remaining: int, status: VialStatus, discarded_at: int | None, reason: str
        ) -> tuple[Any, ...]:
            return (  # _VIAL_COLUMNS
                vial.id,
                vial.lot.id,
                v.ts(vial.opened_at),
                vial.opened_by,
                v.ts(vial.discard_by),
                v.num(_ml(remaining)),
                status.value,
                v.opt_ts(discarded_at),
                reason,
                1,
            )

        def close(vial: _VialState, at: int, waste: WasteReason, note: str) -> None:
            """As services.inventory closes a vial: discarded, nothing left, the rest recorded as waste."""
            movement(vial.lot, vial, MovementKind.WASTED, 0, -vial.remaining, waste, note, vial.opened_by, at)
            vial_rows.append(vial_values(vial, 0, VialStatus.DISCARDED, at, f"{waste.value}: {note}"))

        for product in self.products:
            order = uses[product.index]
            order.sort(key=a.given_at.__getitem__)
            containers_per_day = 0.0
            if order:
                per_dose = max(a.dose_mcg[order[0]] / product.strength * 100, 1.0)
                share = min(1.0, per_dose / product.volume_centi)
                containers_per_day = len(order) * share * 1.3 / history_days
            lot: _LotState | None = None
            vial: _VialState | None = None
            for idx in order:
                t = a.given_at[idx]
                day = _EPOCH_ORDINAL + t // _DAY
                dose_centi = round(a.dose_mcg[idx] / product.strength * 100)
                multi_dose = product.container == Container.MULTI_DOSE_VIAL
                if vial is not None:
                    if t > vial.discard_by:
                        close(vial, vial.discard_by, WasteReason.PAST_DISCARD_BY, "beyond-use date reached")
                        vial = None
                    elif vial.remaining < dose_centi:
                        close(vial, t - 60, WasteReason.OTHER, "not enough left for a dose")
                        vial = None
                if vial is None:
                    if lot is not None and lot.expiry < day:
                        if lot.on_hand:
                            at = _epoch(lot.expiry + 1, 9 * 3600)
                            note = "removed from stock and destroyed"
                            staff = rng.choice(pharmacists)
                            movement(
                                lot,
                                None,
                                MovementKind.WASTED,
                                -lot.on_hand,
                                0,
                                WasteReason.EXPIRED,
                                note,
                                staff,
                                at,
                            )
                            lot.on_hand = 0
                        lot = None
                    if lot is None or lot.on_hand == 0:
                        # Whole packs, and never fewer than 5 containers: nobody orders one vial at a time.
                        wanted = containers_per_day * rng.uniform(45, 120) / product.units_per_pack
                        packs = max(-(-5 // product.units_per_pack), round(wanted))
                        received = max(self.history_start - 20, day - rng.randint(1, 6))
                        expiry = _month_end(received + rng.randint(420, 900))
                        lot = new_lot(product, received, packs * product.units_per_pack, expiry)
                    lot.on_hand -= 1
                    if multi_dose:
                        opened = t - 120
                        vial = _VialState(
                            id=self._id("vials"),
                            lot=lot,
                            opened_at=opened,
                            discard_by=min(
                                opened + product.beyond_use_days * _DAY, _epoch(lot.expiry, _DAY - 60)
                            ),
                            remaining=product.volume_centi,
                            opened_by=a.nurse[idx],
                        )
                        volume = product.volume_centi
                        movement(
                            lot,
                            vial,
                            MovementKind.OPENED,
                            -1,
                            volume,
                            None,
                            "first puncture",
                            vial.opened_by,
                            opened,
                        )
                if vial is not None:
                    vial.remaining -= dose_centi
                    lot_of[idx] = vial.lot.id
                    vial_of[idx] = vial.id
                    if vial.remaining == 0:
                        close(vial, t, WasteReason.EMPTY, "empty after the last dose")
                        vial = None
                else:
                    assert lot is not None
                    lot_of[idx] = lot.id
            if vial is not None:
                if vial.discard_by < end_of_history:
                    close(vial, vial.discard_by, WasteReason.PAST_DISCARD_BY, "beyond-use date reached")
                else:
                    vial_rows.append(vial_values(vial, vial.remaining, VialStatus.OPEN, None, ""))
            # The shelf today: expired and short-dated stock for the expiry alerts (30, 60, 90 days) to find.
            if product.for_deficiency:
                if rng.random() < 0.6:
                    received = self.today - rng.randint(300, 500)
                    quantity = product.units_per_pack * rng.randint(1, 2)
                    new_lot(product, received, quantity, self.today - rng.randint(1, 45))
                for low, high in rng.sample(((5, 30), (31, 60), (61, 90)), rng.randint(1, 3)):
                    received = self.today - rng.randint(10, 200)
                    quantity = product.units_per_pack * rng.randint(1, 3)
                    new_lot(product, received, quantity, self.today + rng.randint(low, high))
            else:
                new_lot(product, self.today - rng.randint(30, 300), 2, self.today + rng.randint(200, 700))

            # This product's ledger is complete: write it (lots and vials before the movements naming them),
            # so memory holds one product's stock history at a time.
            for lot in lots:
                self.loader.add(
                    Lot,
                    {
                        "id": lot.id,
                        "product_id": lot.product.id,
                        "lot_number": lot.lot_number,
                        "expiry": v.day(lot.expiry),
                        "supplier": lot.supplier,
                        "received_on": v.day(lot.received_on),
                        "quantity_on_hand": lot.on_hand,
                        "version_id": 1,
                    },
                )
            for values in vial_rows:
                self.loader.add_values(Vial, values)
            self.loader.flush()
            for values in movements:
                self.loader.add_values(StockMovement, values)
            lots.clear()
            vial_rows.clear()
            movements.clear()
            uses[product.index] = []
        return lot_of, vial_of

    def _write_administrations(self, lot_of: array[int], vial_of: array[int]) -> None:
        """Stream the administrations as services.plans.record_dose stores them, each given dose with the
        movement that drew it from stock (refused and deferred doses name the product but draw nothing)."""
        v = self.v
        a = self.admins
        add = self.loader.add_values
        outcomes = self.loader.outcomes
        ts = v.ts
        products = self.products
        first_id = self.ids["administrations"]
        self.ids["administrations"] += len(a)
        doses = set(a.dose_mcg)
        centi = {(p.index, d): round(d / p.strength * 100) for p in products for d in doses}
        volume_of = {key: v.num(_ml(c)) for key, c in centi.items()}
        drawn_of = {key: v.num(_ml(-c)) for key, c in centi.items()}
        dose_of = {d: v.num(Decimal(d)) for d in doses}
        product_ids = [p.id for p in products]
        drawn, current, single_use = (
            MovementKind.DOSE_DRAWN.value,
            RecordStatus.CURRENT.value,
            "single-use container",
        )
        for idx in range(len(a)):
            admin_id = first_id + idx
            t = a.given_at[idx]
            given_at = ts(t)
            key = (a.product[idx], a.dose_mcg[idx])
            lot_id = lot_of[idx] or None
            vial_id = vial_of[idx] or None
            nurse = a.nurse[idx]
            add(
                Administration,
                (  # _ADMINISTRATION_COLUMNS
                    admin_id,
                    a.patient[idx],
                    a.plan[idx],
                    None,
                    product_ids[key[0]],
                    lot_id,
                    vial_id,
                    given_at,
                    dose_of[key[1]],
                    volume_of[key],
                    _ROUTES[a.route[idx]],
                    _SITES[a.site[idx]],
                    outcomes[a.outcome[idx]],
                    _NOTES[a.note[idx]],
                    nurse,
                    ts(t + a.recorded_after[idx]),
                    current,
                    None,
                    "",
                    None,
                    None,
                    False,
                    "local" if a.note[idx] == _NOTE_SORE else "none",
                    False,
                ),
            )
            if lot_id is None:
                continue
            add(
                StockMovement,
                (  # _MOVEMENT_COLUMNS
                    self._id("stock_movements"),
                    lot_id,
                    vial_id,
                    drawn,
                    0 if vial_id else -1,
                    drawn_of[key],
                    None,
                    "" if vial_id else single_use,
                    admin_id,
                    None,
                    nurse,
                    given_at,
                ),
            )
