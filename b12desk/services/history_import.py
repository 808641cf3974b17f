"""A clinic's dose history from a spreadsheet (CSV or .xlsx), so each schedule carries on in its phase.

Every row is read and checked by the same rules as a dose given elsewhere (domain.dose_check, without
the stock rules: nothing is drawn from this clinic's stock), each bad row is reported by its line, and
nothing is written while any row is bad. The check reads what it needs in a few set-based queries and
runs the rules in memory; the write is bulk (executemany), each plan's schedule is worked out once, and
every record gets its audit event, chained in bulk, all in the caller's one transaction.

An import checks and writes in one transaction, so the rules hold against the data as it is at the
moment of writing: a preview (validate_history) is only a preview, and a dose recorded or a patient
archived since then is found when the file is imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.data.audit import PendingEvent, append_event, append_events
from b12desk.data.models import Administration, DoseAcknowledgement, Patient, TreatmentPlan
from b12desk.domain.dates import DateTextError, read_date_time
from b12desk.domain.dose_check import DoseAttempt, DoseFacts, Finding, PastDose, volume_to_draw
from b12desk.domain.dose_check import check_dose as run_checks
from b12desk.domain.enums import (
    OUTCOME_LABELS,
    SITE_LABELS,
    AdministrationOutcome,
    InjectionSite,
    PlanStatus,
    Reaction,
    RecordStatus,
    Route,
)
from b12desk.domain.permissions import Permission
from b12desk.domain.units import QuantityError, parse_dose_mcg
from b12desk.services import administrations as adm
from b12desk.services import clinic, plans
from b12desk.services.common import Actor, require
from b12desk.services.imports import RowProblem, read_table

COLUMNS: tuple[str, ...] = ("mrn", "given_at", "dose", "route", "site", "outcome", "note")
REQUIRED_COLUMNS: tuple[str, ...] = ("mrn", "given_at")
COLUMN_HELP: dict[str, str] = {
    "mrn": "the patient's MRN, as on the roster",
    "given_at": "YYYY-MM-DD, or YYYY-MM-DD HH:MM in clinic time (a date alone is taken as noon)",
    "dose": "as given, e.g. 1000, 1,000 mcg or 1 mg; empty: the dose the plan's schedule expects",
    "route": "im, deep_sc or sc; empty: the plan's route",
    "site": "e.g. left deltoid or ventrogluteal_right; may be empty",
    "outcome": "given, refused, held or not_given; empty: given",
    "note": "where it was given, and why when not given (required then)",
}
# A note may run over several lines (a quoted value holding line breaks); every other value is one line.
MULTILINE_COLUMNS = frozenset({"note"})
# Rules about the act of giving a dose here, which a dose already given elsewhere cannot break.
NOT_FOR_HISTORY = frozenset({"site_disabled"})
BATCH = 2000
_ROUTES = {r.value: r for r in Route} | {r.value.replace("_", " "): r for r in Route}
_OUTCOMES = (
    {o.value: o for o in AdministrationOutcome}
    | {o.value.replace("_", " "): o for o in AdministrationOutcome}
    | {label.lower(): o for o, label in OUTCOME_LABELS.items()}
)
_SITES = (
    {s.value: s for s in InjectionSite}
    | {s.value.replace("_", " "): s for s in InjectionSite}
    | {label: s for s, label in SITE_LABELS.items()}
)


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A line of the file as typed, its values read; the dose None when left to the schedule."""

    line: int
    mrn: str
    given_on: date
    given_time: tuple[int, int] | None  # (hour, minute) clinic time; None: the date alone
    dose_mcg: Decimal | None
    route: Route | None
    site: InjectionSite | None
    outcome: AdministrationOutcome
    note: str


@dataclass(frozen=True, slots=True)
class HistoryDose:
    """A row that passed every check, ready to write."""

    line: int
    mrn: str
    patient_id: int
    plan_id: int
    given_at: datetime
    dose_mcg: Decimal
    volume_ml: Decimal
    route: Route
    site: InjectionSite | None
    outcome: AdministrationOutcome
    note: str
    warnings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class HistoryReport:
    rows_read: int
    good_rows: int
    problems: list[RowProblem]
    warnings: list[RowProblem]  # recorded with the doses, acknowledged by the import (the file is history)
    imported: int
    plans_updated: int
    dry_run: bool

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class CheckedHistory:
    """A file read and checked (validate_history), ready for write_history."""

    name: str
    rows_read: int
    good: list[HistoryDose]
    problems: list[RowProblem]

    def report(self, *, imported: int = 0, plans_updated: int = 0, dry_run: bool) -> HistoryReport:
        warnings = [RowProblem(d.line, d.mrn, w.message) for d in self.good for w in d.warnings]
        return HistoryReport(
            self.rows_read, len(self.good), self.problems, warnings, imported, plans_updated, dry_run
        )


# --- the template ------------------------------------------------------------------------------------


EXAMPLE = {
    "mrn": "H123456",
    "given_at": "2026-03-02",
    "dose": "1000 mcg",
    "route": "im",
    "site": "left deltoid",
    "outcome": "given",
    "note": "given at the previous clinic",
}


def write_template(path: Path) -> None:
    """The expected columns, one example row to overwrite; an Excel workbook when the name ends .xlsx."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook  # loaded when a workbook is written

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "Dose history"
        sheet.append(list(COLUMNS))
        sheet.append([EXAMPLE[c] for c in COLUMNS])
        for n, column in enumerate(COLUMNS):
            sheet.column_dimensions[chr(ord("A") + n)].width = max(14, len(str(EXAMPLE[column])) + 4)
        help_sheet = book.create_sheet("Columns")
        help_sheet.append(["column", "what to write"])
        for column in COLUMNS:
            help_sheet.append([column, COLUMN_HELP[column]])
        help_sheet.column_dimensions["B"].width = 90
        book.save(path)
        return
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerow([EXAMPLE[c] for c in COLUMNS])
    path.write_text(out.getvalue(), encoding="utf-8")


# --- reading the rows ----------------------------------------------------------------------------------


def parse_row(line: int, raw: dict[str, str]) -> tuple[ParsedRow | None, list[str]]:
    problems: list[str] = []
    mrn = raw.get("mrn", "").strip().upper()
    if not mrn:
        problems.append("MRN: empty; write the patient's MRN as on the roster.")
    when = raw.get("given_at", "").strip()
    given_on: date | None = None
    given_time = None
    if not when:
        problems.append("Given at: empty; write the date the dose was given, YYYY-MM-DD.")
    else:
        try:
            given_on, at = read_date_time(when, what="Given at")
        except DateTextError as exc:
            problems.append(str(exc))
        else:
            given_time = None if at is None else (at.hour, at.minute)
    dose = None
    dose_text = raw.get("dose", "").strip()
    if dose_text:
        try:
            dose = parse_dose_mcg(dose_text, what="Dose")
        except QuantityError as exc:
            problems.append(str(exc))
    route = None
    route_text = raw.get("route", "").strip().lower()
    if route_text:
        route = _ROUTES.get(route_text)
        if route is None:
            problems.append(f"Route: '{route_text}' is not one of im, deep_sc, sc (or empty: the plan's).")
    site = None
    site_text = " ".join(raw.get("site", "").lower().split())
    if site_text:
        site = _SITES.get(site_text) or _SITES.get(_swap_side(site_text))
        if site is None:
            problems.append(
                f"Site: '{site_text}' is not an injection site; write e.g. left deltoid or "
                "ventrogluteal_right (or leave it empty)."
            )
    outcome_text = " ".join(raw.get("outcome", "").lower().split())
    outcome = _OUTCOMES.get(outcome_text) if outcome_text else AdministrationOutcome.GIVEN
    if outcome is None:
        problems.append(f"Outcome: '{outcome_text}' is not one of given, refused, held, not_given.")
    if problems or given_on is None or outcome is None:
        return None, problems
    return ParsedRow(
        line, mrn, given_on, given_time, dose, route, site, outcome, raw.get("note", "").strip()
    ), []


def _swap_side(text: str) -> str:
    """'deltoid left' for 'left deltoid' and back."""
    words = text.split()
    if words and words[-1] in ("left", "right"):
        return " ".join([words[-1], *words[:-1]])
    return text


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- checking ------------------------------------------------------------------------------------------


def _check(
    session: Session,
    parsed: Sequence[ParsedRow],
    clock: Clock,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[list[HistoryDose], list[RowProblem]]:
    """Every parsed row against the data as it is now: a handful of queries, the rules in memory."""
    mrns = sorted({r.mrn for r in parsed})
    patients: dict[str, Patient] = {}
    for chunk in _chunks(mrns):
        patients.update((p.mrn, p) for p in session.scalars(select(Patient).where(Patient.mrn.in_(chunk))))
    ids = [p.id for p in patients.values()]
    live: dict[int, TreatmentPlan] = {}
    history: dict[int, list[PastDose]] = {}
    plan_days: dict[int, list[date]] = {}
    for chunk in _chunks(ids):
        for found in session.scalars(
            select(TreatmentPlan)
            .where(TreatmentPlan.patient_id.in_(chunk), TreatmentPlan.status.in_(plans.LIVE))
            .order_by(TreatmentPlan.id)
        ):
            live[found.patient_id] = found  # the newest, should there be two
        for admin_id, patient_id, plan_id, given_at, site in session.execute(
            select(
                Administration.id,
                Administration.patient_id,
                Administration.plan_id,
                Administration.given_at,
                Administration.site,
            ).where(
                Administration.patient_id.in_(chunk),
                Administration.outcome == AdministrationOutcome.GIVEN,
                Administration.status == RecordStatus.CURRENT,
            )
        ):
            history.setdefault(patient_id, []).append(PastDose(admin_id, given_at, site))
            if plan_id is not None:
                plan_days.setdefault(plan_id, []).append(clock.day_of(given_at))
    expectations = plans.expectations_for(session, list(live.values()))
    rules = clinic.dose_rules(session)
    now = clock.now()
    patient_facts = {p.id: adm.patient_facts(p) for p in patients.values()}

    good: list[HistoryDose] = []
    problems: list[RowProblem] = []
    timed = sorted(
        ((r, _moment(r, clock)) for r in parsed), key=lambda item: (item[0].mrn, item[1], item[0].line)
    )
    for n, (row, given_at) in enumerate(timed, 1):
        if progress is not None and n % 2000 == 0:
            progress(n, len(timed), f"Checked {n:,} of {len(timed):,} rows…")
        patient = patients.get(row.mrn)
        if patient is None:
            problems.append(
                RowProblem(
                    row.line, row.mrn, f"MRN {row.mrn} is not on the roster: import or add the patient first."
                )
            )
            continue
        plan = live.get(patient.id)
        expected, waiting = None, False
        if plan is not None:
            given = sorted(d for d in plan_days.get(plan.id, []) if d < row.given_on)
            expected, waiting = adm.expected_from(expectations[plan.id], given, row.given_on)
        dose = row.dose_mcg
        if dose is None:
            dose = (
                expected.dose_mcg
                if expected is not None
                else Decimal(plan.dose_mcg if plan else 0).normalize()
            )
        route = row.route or (plan.route if plan is not None else Route.IM)
        facts = DoseFacts(
            attempt=DoseAttempt(
                patient_id=patient.id,
                given_at=given_at,
                dose_mcg=dose,
                route=route,
                site=row.site,
                outcome=row.outcome,
                external=True,
                note=row.note,
            ),
            patient=patient_facts[patient.id],
            plan=adm.plan_facts(plan, awaiting_review=waiting) if plan is not None else None,
            expected=expected,
            product=None,
            lot=None,
            vial=None,
            history=history.get(patient.id, ()),
            rules=rules,
            now=now,
            zone=clock.zone,
        )
        findings = [f for f in run_checks(facts) if f.code not in NOT_FOR_HISTORY]
        stops = [f for f in findings if f.blocks]
        if stops:
            problems.extend(RowProblem(row.line, row.mrn, f.message) for f in stops)
            continue
        assert plan is not None  # no plan is a hard stop
        given_dose = row.outcome == AdministrationOutcome.GIVEN
        good.append(
            HistoryDose(
                line=row.line,
                mrn=row.mrn,
                patient_id=patient.id,
                plan_id=plan.id,
                given_at=given_at,
                dose_mcg=dose,
                volume_ml=volume_to_draw(dose, Decimal(plan.strength_mcg_per_ml))
                if given_dose
                else Decimal(0),
                route=route,
                site=row.site,
                outcome=row.outcome,
                note=row.note,
                warnings=tuple(f for f in findings if not f.blocks),
            )
        )
        if given_dose:  # the next rows of this patient see it, as they would had it been saved
            history.setdefault(patient.id, []).append(PastDose(-row.line, given_at, row.site))
            plan_days.setdefault(plan.id, []).append(row.given_on)
    problems.sort(key=lambda p: p.line)
    good.sort(key=lambda d: d.line)
    return good, problems


def _moment(row: ParsedRow, clock: Clock) -> datetime:
    if row.given_time is None:
        return adm.noon_or_now(row.given_on, clock)
    hour, minute = row.given_time
    return clock.at(row.given_on, hour=hour, minute=minute)


def validate_history(
    session: Session,
    actor: Actor,
    path: Path,
    *,
    clock: Clock | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> CheckedHistory:
    """Read and check every row, writing nothing: a preview (run it in a reader's transaction).
    imports.UnreadableFile when the file as a whole cannot be read (each bad row is a RowProblem)."""
    require(session, actor, Permission.IMPORT_HISTORY)
    clock = (clock or clinic.clinic_clock(session)).frozen()
    if progress is not None:
        progress(0, 0, f"Reading {path.name}…")
    rows, problems = read_table(path, COLUMNS, REQUIRED_COLUMNS, MULTILINE_COLUMNS)
    rows_read = len(rows) + len({p.line for p in problems})  # with the rows of the wrong width
    parsed: list[ParsedRow] = []
    for line, raw in rows:
        row, row_problems = parse_row(line, raw)
        if row is None:
            mrn = raw.get("mrn", "").strip().upper()
            problems.extend(RowProblem(line, mrn, m) for m in row_problems)
        else:
            parsed.append(row)
    good, check_problems = _check(session, parsed, clock, progress)
    problems = sorted([*problems, *check_problems], key=lambda p: p.line)
    return CheckedHistory(path.name, rows_read, good, problems)


def _write(
    session: Session,
    actor: Actor,
    checked: CheckedHistory,
    clock: Clock,
    progress: Callable[[int, int, str], None] | None,
) -> HistoryReport:
    """Write the good rows of a file checked in this same transaction, in bulk."""
    good = checked.good
    recorded_at = clock.utcnow()
    table = Administration.__table__
    values = [
        {
            "patient_id": d.patient_id,
            "plan_id": d.plan_id,
            "given_at": d.given_at,
            "dose_mcg": d.dose_mcg,
            "volume_ml": d.volume_ml,
            "route": d.route,
            "site": d.site,
            "outcome": d.outcome,
            "note": d.note,
            "given_by_id": actor.id,
            "recorded_at": recorded_at,
            "status": RecordStatus.CURRENT,
            "amendment_reason": "",
            "external": True,
            "reaction": Reaction.NONE,
            "self_administered": False,
        }
        for d in good
    ]
    ids: list[int] = []
    insert = table.insert().returning(table.c.id, sort_by_parameter_order=True)  # type: ignore[attr-defined]
    for n, chunk in enumerate(_chunks(values, BATCH)):
        ids.extend(session.scalars(insert, list(chunk)).all())
        if progress is not None:
            done = min((n + 1) * BATCH, len(values))
            progress(done, len(values), f"Saved {done:,} of {len(values):,} doses…")
    reason = f"History imported from {checked.name}"
    acknowledgements = [
        {
            "administration_id": admin_id,
            "code": w.code,
            "message": w.message,
            "reason": f"{reason}, line {d.line}: given elsewhere, as recorded there.",
            "staff_id": actor.id,
        }
        for admin_id, d in zip(ids, good, strict=True)
        for w in d.warnings
    ]
    if acknowledgements:
        session.execute(DoseAcknowledgement.__table__.insert(), acknowledgements)  # type: ignore[attr-defined]
    plan_ids = sorted({d.plan_id for d in good})
    given_plans = sorted({d.plan_id for d in good if d.outcome == AdministrationOutcome.GIVEN})
    for chunk in _chunks(given_plans):
        session.execute(
            update(TreatmentPlan)
            .where(TreatmentPlan.id.in_(chunk), TreatmentPlan.status == PlanStatus.VERIFIED)
            .values(status=PlanStatus.ACTIVE)
            .execution_options(synchronize_session="fetch")
        )
    if progress is not None:
        progress(0, 0, f"Working out {len(plan_ids):,} schedules…")
    touched = [
        p
        for chunk in _chunks(plan_ids)
        for p in session.scalars(select(TreatmentPlan).where(TreatmentPlan.id.in_(chunk)))
    ]
    plans.sync_plans(session, touched, today=clock.today())
    append_events(
        session,
        staff_id=actor.id,
        events=[
            PendingEvent(
                "create",
                "administration",
                admin_id,
                new={
                    "plan": d.plan_id,
                    "patient": d.patient_id,
                    "dose_mcg": d.dose_mcg,
                    "volume_ml": d.volume_ml,
                    "route": d.route,
                    "site": d.site,
                    "outcome": d.outcome,
                    "given_at": d.given_at,
                    "external": True,
                    "imported": f"{checked.name}, line {d.line}",
                    "acknowledged": {w.code: "history import" for w in d.warnings},
                },
            )
            for admin_id, d in zip(ids, good, strict=True)
        ],
    )
    append_event(
        session,
        staff_id=actor.id,
        action="import",
        entity="administration_file",
        entity_id=checked.name,
        new={"imported": len(good), "plans": len(plan_ids)},
    )
    return checked.report(imported=len(good), plans_updated=len(plan_ids), dry_run=False)


def import_history(
    session: Session,
    actor: Actor,
    path: Path,
    *,
    dry_run: bool,
    clock: Clock | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> HistoryReport:
    """Check every row and, unless a dry run or any row is bad, write them all, in the caller's one
    (writer's) transaction: the check is against the data as it is at the moment of writing."""
    clock = (clock or clinic.clinic_clock(session)).frozen()
    checked = validate_history(session, actor, path, clock=clock, progress=progress)
    if dry_run or checked.problems:
        return checked.report(dry_run=dry_run)
    return _write(session, actor, checked, clock, progress)
