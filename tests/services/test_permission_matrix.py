"""Every service called as every role is refused exactly when resources/service_permissions.json says so.

The table names, for each public service function that acts for a signed-in person (it takes `actor`),
the permissions it needs; b12desk/domain/permissions.py says which role holds which. Each service is
called once per role, on a small clinic, inside a savepoint rolled back afterwards. A role that lacks a
permission must get the very refusal `require` gives for it (not a wrong-password or own-plan refusal, not
another error) before anything is written; a role that holds them all must get past the check.

A new service: one line in resources/service_permissions.json and, when the names of its parameters are
new here, one entry in ARGUMENTS below.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import column, func, select, table, update
from sqlalchemy import inspect as inspect_db
from sqlalchemy.orm import Session

import b12desk.services
from b12desk.data.audit import append_event
from b12desk.data.models import Lot, Patient, Product, ScheduledEvent, Staff, TreatmentPlan
from b12desk.data.reference import read_resource_text
from b12desk.domain.enums import Cause, Container, EventKind, EventStatus, Formulation, LabContext, Role
from b12desk.domain.gs1 import gtin_check_digit
from b12desk.domain.patients import PatientInput
from b12desk.domain.permissions import ROLE_PERMISSIONS, Permission, role_can
from b12desk.domain.stock import WasteReason
from b12desk.services import administrations as adm
from b12desk.services import audit_log, clinic, imports, monitoring, patients, plans, reports
from b12desk.services import inventory as inv
from b12desk.services.common import Actor, PermissionDenied, ServiceError, require
from tests.conftest import PASSWORD, Staffing
from tests.services.dose_world import CLOCK, TODAY, World, _patient, _verified_plan

TABLE_FILE = "service_permissions.json"
THE_CHECK_ITSELF = "common.require"  # the permission check, not a user action: tested on its own below


# --- the table and the services it must match ------------------------------------------------------------


def services() -> dict[str, Callable[..., Any]]:
    """Every public function defined in a module of b12desk.services that takes the acting person."""
    found: dict[str, Callable[..., Any]] = {}
    for info in pkgutil.iter_modules(b12desk.services.__path__):
        module = importlib.import_module(f"{b12desk.services.__name__}.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or function.__module__ != module.__name__:
                continue
            if "actor" in inspect.signature(function).parameters:
                found[f"{info.name}.{name}"] = function
    del found[THE_CHECK_ITSELF]
    return found


@dataclass(frozen=True)
class Table:
    needs: dict[str, frozenset[Permission]]  # an empty set: any signed-in user
    refusal_as_text: frozenset[str]
    not_called: frozenset[str]


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    assert not twice, f"{TABLE_FILE} lists {', '.join(twice)} twice: keep one line each"
    return dict(pairs)


def load_table() -> Table:
    raw = json.loads(read_resource_text(TABLE_FILE), object_pairs_hook=_no_duplicate_keys)
    anyone = raw["any_signed_in_user"]
    known = ", ".join(p.value for p in Permission)
    needs: dict[str, frozenset[Permission]] = {}
    for name, entry in raw["services"].items():
        if entry == anyone:
            needs[name] = frozenset()
            continue
        assert isinstance(entry, list) and entry, (
            f'{TABLE_FILE}: {name} needs a list of permissions or "{anyone}", not {entry!r}'
        )
        unknown = [p for p in entry if p not in {q.value for q in Permission}]
        assert not unknown, f"{TABLE_FILE}: {name} names {unknown}, which are not permissions ({known})"
        needs[name] = frozenset(Permission(p) for p in entry)
    sections = {key: frozenset(raw[key]["services"]) for key in ("refusal_as_text", "not_called")}
    for key, names in sections.items():
        assert names <= needs.keys(), (
            f"{TABLE_FILE}: {key} lists {sorted(names - needs.keys())}, not in services"
        )
    return Table(needs, sections["refusal_as_text"], sections["not_called"])


def test_every_service_is_in_the_table_and_every_entry_is_a_service() -> None:
    listed, found = set(load_table().needs), set(services())
    missing, stale = sorted(found - listed), sorted(listed - found)
    assert not missing, (
        f"Services missing from resources/{TABLE_FILE}: {', '.join(missing)}. Add a line for each, e.g. "
        f'"{missing[0]}": ["read_patients"] (the permissions it checks) or "any signed-in user".'
    )
    assert not stale, f"resources/{TABLE_FILE} lists functions that do not exist: {', '.join(stale)}"


def test_every_permission_is_checked_by_some_service() -> None:
    """A permission nothing checks is one a role is given for nothing."""
    used = set().union(*load_table().needs.values())
    assert set(Permission) - used == set()


def test_a_role_that_records_doses_may_edit_patients() -> None:
    """An allergic reaction recorded with a dose flags the patient and sends the plans back to the
    pharmacist (plans.return_for_review needs edit_patients): a role that records doses must hold both."""
    for role in Role:
        if role_can(role, Permission.RECORD_ADMINISTRATIONS):
            assert role_can(role, Permission.EDIT_PATIENTS), role


def test_require_refuses_exactly_what_the_role_table_withholds(session: Session, staff: Staffing) -> None:
    for actor in actors(staff).values():
        for permission in Permission:
            if role_can(actor.role, permission):
                require(session, actor, permission)
            else:
                with pytest.raises(PermissionDenied, match=f"^A {actor.role.value} may not "):
                    require(session, actor, permission)
    assert set(ROLE_PERMISSIONS) == set(Role)


# --- a small clinic to call every service in ------------------------------------------------------------


def actors(staff: Staffing) -> dict[Role, Actor]:
    out = {Role.NURSE: staff.nurse, Role.PHARMACIST: staff.pharmacist, Role.MANAGER: staff.manager}
    out[Role.ADMIN] = staff.admin
    assert all(actor.role == role for role, actor in out.items()) and set(out) == set(Role)
    return out


@dataclass
class Clinic:
    """The world of the dose tests (P1 on a verified plan, stock), and what else the services act on."""

    w: World
    given_id: int  # a dose given today to P2, whose plan continues treatment begun elsewhere
    history_path: Path  # earlier doses of P2, as a history import file
    lab_id: int  # a haemoglobin of P1
    event_id: int  # a monitoring task of P1's plan
    draft_plan_id: int  # P3's plan, written by the second pharmacist, awaiting verification
    new_patient_id: int  # P4, with no plan yet, trained to self-inject
    patients_path: Path  # a patient import file of one new patient
    validated: imports.ValidatedFile
    tables: list[str]

    @property
    def session(self) -> Session:
        return self.w.session


def make_clinic(w: World, tmp_path: Path) -> Clinic:
    s, staff = w.session, w.staff
    p2 = _patient(s, staff.nurse, "P2", family_name="Okafor", given_name="Bea")
    p2_plan = _verified_plan(s, staff, w.templates, p2, continues_elsewhere=True)
    given = adm.record_dose(s, staff.nurse, w.request(patient_id=p2, plan_id=p2_plan.id), clock=CLOCK)
    history = tmp_path / "history.csv"
    history.write_text(
        "mrn,given_at,dose,route,site,outcome,note\nP2,2026-11-09,1000,im,left deltoid,given,\n",
        encoding="utf-8",
    )
    lab = patients.add_lab_result(
        s,
        staff.nurse,
        w.patient_id,
        test_code="hb",
        context=LabContext.BASELINE,
        taken_on=TODAY,
        value_text="120",
        unit="g/L",
        clock=CLOCK,
    )
    event_id = s.scalar(
        select(ScheduledEvent.id)
        .where(
            ScheduledEvent.plan_id == w.plan_id,
            ScheduledEvent.kind == EventKind.LAB,
            ScheduledEvent.lab_test_code == "hb",
            ScheduledEvent.status == EventStatus.DUE,
            ScheduledEvent.due_on == TODAY,
        )
        .order_by(ScheduledEvent.id)
        .limit(1)
    )
    assert event_id is not None, "the plan of the dose tests has no haemoglobin task due today to act on"
    p3 = _patient(s, staff.nurse, "P3", family_name="Lowe", given_name="Cara")
    draft = plans.create_plan(s, staff.pharmacist2, p3, plan_input(w), clock=CLOCK)
    p4 = _patient(
        s,
        staff.nurse,
        "P4",
        family_name="Bauer",
        given_name="Dan",
        self_injection_trained_on=date(2026, 11, 2),
        self_injection_trainer="Sam Cole",
    )
    people = tmp_path / "patients.csv"
    people.write_text(
        "mrn,family_name,given_name,date_of_birth,cause\nNEW1,Novak,Eva,1970-01-31,dietary\n",
        encoding="utf-8",
    )
    validated = imports.validate_file(s, staff.admin, people, clock=CLOCK)
    assert not validated.problems, validated.problems
    tables = sorted(set(inspect_db(s.connection()).get_table_names()) - {"alembic_version"})
    return Clinic(w, given.id, history, lab.id, event_id, draft.id, p4, people, validated, tables)


def plan_input(w: World, **changes: Any) -> plans.PlanInput:
    t = w.templates["uk_hoc_no_neuro"]
    values: dict[str, Any] = {
        "template_id": t.id,
        "formulation": t.formulation,
        "dose_mcg": t.definition.phases[0].dose_mcg,
        "route": t.definition.route,
        "start_date": TODAY,
        "prescriber": "Dr Shah",
    }
    return plans.PlanInput(**(values | changes))


def product_input(**changes: Any) -> inv.ProductInput:
    values: dict[str, Any] = {
        "formulation": Formulation.HYDROXOCOBALAMIN,
        "manufacturer": "Advanz",
        "brand": "Cobalin-H",
        "strength_mcg_per_ml": Decimal(1000),
        "container": Container.AMPOULE,
        "volume_ml": Decimal(1),
        "preservatives": frozenset(),
    }
    return inv.ProductInput(**(values | changes))


def gtin(body: str) -> str:
    return body + str(gtin_check_digit(body))


def version(c: Clinic, model: Any, key: int) -> int:
    row = c.session.get(model, key)
    assert row is not None
    return int(row.version_id)


def on_hand(c: Clinic) -> int:
    lot = c.session.get(Lot, c.w.ampoule_lot_id)
    assert lot is not None
    return lot.quantity_on_hand


# Arguments by parameter name, shared by every service that takes one of that name.
def common_arguments(c: Clinic) -> dict[str, Any]:
    w = c.w
    period = reports.ReportParameters(start=TODAY - timedelta(days=30), end=TODAY)
    return {
        "patient_id": w.patient_id,
        "plan_id": w.plan_id,
        "product_id": w.ampoule_id,
        "lot_id": w.ampoule_lot_id,
        "vial_id": w.vial_id,
        "administration_id": c.given_id,
        "lab_id": c.lab_id,
        "event_id": c.event_id,
        "template_id": w.templates["uk_hoc_no_neuro"].id,
        "mrn": "P1",
        "reason": "checked as every role",
        "note": "",
        "password": PASSWORD,
        "clock": CLOCK,
        "today": TODAY,
        "day": TODAY,
        "start": TODAY.replace(day=1),
        "end": TODAY.replace(day=28),
        "parameters": period,
        "quantity": 1,
        "volume_ml": Decimal(1),
        "test_code": "hb",
        "username": "pharmacist2",  # the account a staff-management service acts on
        "current_password": PASSWORD,
        "new_password": "a new long enough passphrase",
        "audit_filter": audit_log.AuditFilter(),
    }


Arguments = Callable[[Clinic], dict[str, Any]]

# What a service needs beyond the shared names above (or instead of them), to pass its own validation.
ARGUMENTS: dict[str, Arguments] = {
    "audit_log.find_patients": lambda c: {"text": "Reid"},
    "audit_log.record_export": lambda c: {"events": 0, "file_name": "audit.xlsx"},
    "auth.set_role": lambda c: {"role": Role.NURSE},
    "administrations.administration_log": lambda c: {"log_filter": adm.LogFilter()},
    "administrations.check_dose": lambda c: {"request": c.w.request()},
    "administrations.record_dose": lambda c: {"request": c.w.request()},
    "administrations.amend_administration": lambda c: {"note": "Given after breakfast"},
    "administrations.record_external_doses": lambda c: {"days": [TODAY]},
    "auth.create_user": lambda c: {
        "username": "newnurse",
        "full_name": "New Nurse",
        "role": Role.NURSE,
        "password": "a long enough password",
    },
    "clinic.set_clinic_contact": lambda c: {"name": "Riverside Clinic", "phone": "01632 960 000"},
    "clinic.set_dose_rules": lambda c: {"raw": clinic.dose_rules_raw(c.session)},
    "clinic.set_lab_bands": lambda c: {"raw": clinic.lab_bands_raw(c.session)},
    "clinic.set_open_days": lambda c: {"days": frozenset({0, 1, 2, 3, 4})},
    "clinic.set_time_zone": lambda c: {"name": "Europe/London"},
    "history_import.import_history": lambda c: {"path": c.history_path, "dry_run": False},
    "history_import.validate_history": lambda c: {"path": c.history_path},
    "imports.import_patients": lambda c: {"path": c.patients_path, "dry_run": False},
    "imports.validate_file": lambda c: {"path": c.patients_path},
    "imports.write_validated": lambda c: {"checked": c.validated},
    "inventory.adjust_count": lambda c: {"counted": on_hand(c) - 1, "expected": on_hand(c)},
    "inventory.create_product": lambda c: {"data": product_input(manufacturer="Mercury")},
    "inventory.discard_vial": lambda c: {"reason": WasteReason.CONTAMINATED},
    "inventory.draw_dose": lambda c: {"lot_id": c.w.ampoule_lot_id},
    "inventory.link_gtin": lambda c: {"gtin": gtin("0501234567890")},
    "inventory.lookup_scan": lambda c: {"scan": gtin("0501234567890")},
    "inventory.open_vial": lambda c: {"lot_id": c.w.vial_lot_id},
    "inventory.receive_stock": lambda c: {"lot_number": "R9", "expiry": date(2027, 9, 30)},
    "inventory.record_dose_drawn": lambda c: {
        "stock": inv.DoseStock(lot_id=c.w.ampoule_lot_id, vial_id=None, containers=1, volume_ml=Decimal(1)),
        "administration_id": None,
    },
    "inventory.seed_formulary": lambda c: {"entries": []},
    "inventory.update_product": lambda c: {
        "data": product_input(storage_note="Below 25 °C"),
        "expected_version": version(c, Product, c.w.ampoule_id),
    },
    "inventory.return_to_supplier": lambda c: {"note": "Supplier recall R-12"},
    "inventory.supply_home": lambda c: {"patient_id": c.new_patient_id},
    "inventory.waste_containers": lambda c: {"reason": WasteReason.DROPPED_OR_BROKEN},
    "monitoring.complete_task": lambda c: {"lab_result_id": c.lab_id},
    "monitoring.worklist": lambda c: {"name": monitoring.Worklist.TODAY},
    "patients.add_lab_result": lambda c: {
        "context": LabContext.FOLLOW_UP,
        "taken_on": TODAY,
        "value_text": "125",
        "unit": "g/L",
    },
    "patients.create_patient": lambda c: {"data": PatientInput("NEW2", "Ng", "Kai", date(1980, 2, 2))},
    "patients.create_patients": lambda c: {"rows": [PatientInput("NEW3", "Ito", "Mei", date(1975, 3, 3))]},
    "patients.recorded_flags": lambda c: {"patient_ids": [c.w.patient_id]},
    "patients.set_archived": lambda c: {"patient_id": c.new_patient_id, "archived": True},
    "patients.update_patient": lambda c: {
        "data": PatientInput(
            "P1", "Reid", "Ann", date(1950, 5, 5), cause=Cause.PERNICIOUS_ANAEMIA, notes="Prefers mornings"
        ),
        "expected_version": version(c, Patient, c.w.patient_id),
    },
    "plans.create_plan": lambda c: {"patient_id": c.new_patient_id, "data": plan_input(c.w)},
    "plans.end_phase": lambda c: {"on": TODAY},
    "plans.find_template": lambda c: {"code_or_id": "uk_hoc_no_neuro"},
    "plans.save_template": lambda c: {"raw": dict(c.w.templates["uk_hoc_prophylaxis"].raw)},
    "plans.stop_plan": lambda c: {"completed": False},
    "plans.suggest_template": lambda c: {"patient_id": c.new_patient_id},
    "plans.template_names": lambda c: {"ids": [t.id for t in c.w.templates.values()]},
    "plans.update_plan": lambda c: {
        "data": plan_input(c.w, indication="Pernicious anaemia"),
        "reason": "indication recorded",
        "expected_version": version(c, TreatmentPlan, c.w.plan_id),
    },
    "plans.verify_plan": lambda c: {
        "plan_id": c.draft_plan_id,
        "expected_version": version(c, TreatmentPlan, c.draft_plan_id),
    },
    "plans.verify_refusal": lambda c: {"plan": plans.get_plan(c.session, c.w.staff.admin, c.draft_plan_id)},
    "reports.record_export": lambda c: {"kind": reports.ReportKind.USAGE, "rows": 0, "file_name": "u.xlsx"},
}

# Passed whenever a service takes them, even where they are optional: the clinic's time stays fixed.
ALWAYS = {"clock", "today"}


def arguments(c: Clinic, name: str, function: Callable[..., Any], actor: Actor) -> dict[str, Any]:
    given = ARGUMENTS.get(name, lambda _: {})(c)
    shared = common_arguments(c)
    out: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        assert parameter.kind is not parameter.POSITIONAL_ONLY, name
        key = parameter.name
        if key == "session":
            out[key] = c.session
        elif key == "actor":
            out[key] = actor
        elif key in given:
            out[key] = given[key]
        elif key in shared and (parameter.default is parameter.empty or key in ALWAYS):
            out[key] = shared[key]
        elif parameter.default is parameter.empty:
            pytest.fail(f"{name}: no argument for '{key}': add it to ARGUMENTS in {Path(__file__).name}")
    return out


# --- calling a service and judging the outcome -----------------------------------------------------------


def row_counts(c: Clinic) -> dict[str, int]:
    """Every table's row count, in one statement (the audit trail's among them)."""
    counts = [select(func.count()).select_from(table(n, column("id"))).scalar_subquery() for n in c.tables]
    return dict(zip(c.tables, c.session.execute(select(*counts)).one(), strict=True))


@dataclass
class Outcome:
    error: BaseException | None  # raised by the call
    late_error: BaseException | None  # raised while its returned iterator was read
    result: Any
    wrote: str  # what a refused call left behind; '' when nothing


def call(c: Clinic, name: str, function: Callable[..., Any], actor: Actor) -> Outcome:
    session = c.session
    savepoint = session.begin_nested()
    try:
        kwargs = arguments(c, name, function, actor)
        before = row_counts(c)
        error = late_error = None
        result: Any = None
        try:
            result = function(**kwargs)
        except Exception as exc:
            error = exc
        wrote = ""
        if isinstance(error, PermissionDenied):
            pending = [*session.new, *session.dirty, *session.deleted]
            after = row_counts(c)
            changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
            if pending or changed:
                wrote = f"pending {pending!r}, row counts (before, after) {changed}"
        elif isinstance(result, Iterator):
            try:
                result = list(result)
            except Exception as exc:
                late_error = exc
        return Outcome(error, late_error, result, wrote)
    finally:
        savepoint.rollback()


def role_refusals(session: Session, actor: Actor) -> dict[Permission, str]:
    """What `require` says to this role for each permission it lacks: the only refusal that means 'role'."""
    out = {}
    for permission in Permission:
        if not role_can(actor.role, permission):
            with pytest.raises(PermissionDenied) as refused:
                require(session, actor, permission)
            out[permission] = str(refused.value)
    return out


def describe(error: BaseException | None) -> str:
    return "it succeeded" if error is None else f"{type(error).__name__}: {error}"


def judge(
    name: str,
    needs: frozenset[Permission],
    as_text: bool,
    actor: Actor,
    said: dict[Permission, str],
    got: Outcome,
) -> str | None:
    """The problem with one call, or None."""
    who = f"{name} as {actor.role.value}"
    lacking = {p for p in needs if not role_can(actor.role, p)}
    if as_text:
        if lacking and not (got.error is None and got.result):
            return f"{who}: expected the reason it may not, got {describe(got.error)} / {got.result!r}"
        if not lacking and (got.error is not None or got.result != ""):
            return f"{who}: expected no reason (''), got {describe(got.error)} / {got.result!r}"
        return None
    if lacking:
        expected = {said[p] for p in lacking}
        if not (type(got.error) is PermissionDenied and str(got.error) in expected):
            return f"{who}: expected the refusal {' or '.join(sorted(expected))!r}, got {describe(got.error)}"
        if got.wrote:
            return f"{who}: refused, but it wrote {got.wrote}"
        return None
    for when, error in (("called", got.error), ("read", got.late_error)):
        if type(error) is PermissionDenied and str(error) in said.values():
            return f"{who}: refused for its role when {when} ({error}), but the table grants it"
        if error is not None and not isinstance(error, ServiceError):
            return (
                f"{who}: {describe(error)} when {when}; the arguments built for it are wrong: "
                f"fix ARGUMENTS in {Path(__file__).name}"
            )
    return None


# The permission checks run the same SQL on both engines; SQLite keeps the matrix to a few seconds.
sqlite_only = pytest.mark.parametrize("shared_db", ["sqlite"], indirect=True)


def test_a_service_the_matrix_cannot_call_names_its_permissions_in_its_code() -> None:
    table_, found = load_table(), services()
    for name in sorted(table_.not_called & found.keys()):
        source = inspect.getsource(found[name])
        for permission in table_.needs[name]:
            assert f"Permission.{permission.name}" in source, f"{name} does not check {permission.value}"


@sqlite_only
def test_every_service_as_every_role_matches_the_table(world: World, tmp_path: Path) -> None:
    c = make_clinic(world, tmp_path)
    table_ = load_table()
    found = services()
    problems: list[str] = []
    refused = granted = 0
    for actor in actors(world.staff).values():
        said = role_refusals(c.session, actor)
        for name in sorted((found.keys() & table_.needs.keys()) - table_.not_called):
            outcome = call(c, name, found[name], actor)
            needs = table_.needs[name]
            problem = judge(name, needs, name in table_.refusal_as_text, actor, said, outcome)
            if problem:
                problems.append(problem)
            elif all(role_can(actor.role, p) for p in needs):
                granted += 1
            else:
                refused += 1
    assert not problems, "\n".join(problems)
    # Every role is refused something and allowed something: the matrix checks both sides.
    assert refused > 0 and granted > 0


@sqlite_only
def test_a_disabled_account_is_refused_by_every_service_and_nothing_is_written(
    world: World, tmp_path: Path
) -> None:
    """Even a service any signed-in user may call refuses an account disabled since it signed in."""
    c = make_clinic(world, tmp_path)
    table_ = load_table()
    admin = world.staff.admin  # holds every permission: a refusal can only be for the account
    problems = []
    for name, function in sorted(services().items()):
        if name in table_.refusal_as_text | table_.not_called or name not in table_.needs:
            continue
        savepoint = c.session.begin_nested()
        try:
            c.session.execute(update(Staff).where(Staff.id == admin.id).values(active=False))
            got = call(c, name, function, admin)
        finally:
            savepoint.rollback()
        if not isinstance(got.error, PermissionDenied):
            problems.append(f"{name}: a disabled account got {describe(got.error)}")
        elif got.wrote:
            problems.append(f"{name}: refused a disabled account, but it wrote {got.wrote}")
    assert not problems, "\n".join(problems)


def _writes_then_checks(session: Session, actor: Actor, patient_id: int) -> None:
    append_event(session, staff_id=actor.id, action="update", entity="patient", entity_id=patient_id)
    require(session, actor, Permission.ARCHIVE_PATIENTS)


def _checks_nothing(session: Session, actor: Actor, patient_id: int) -> None:
    return None


@sqlite_only
def test_the_matrix_sees_a_write_before_the_refusal_and_a_missing_check(world: World, tmp_path: Path) -> None:
    """The judge itself: a service that audits before it refuses, and one that never checks."""
    c = make_clinic(world, tmp_path)
    nurse = world.staff.nurse
    said = role_refusals(c.session, nurse)
    needs = frozenset({Permission.ARCHIVE_PATIENTS})
    wrote = judge("x.writes", needs, False, nurse, said, call(c, "x.writes", _writes_then_checks, nurse))
    assert wrote is not None and "it wrote" in wrote and "audit_events" in wrote
    unchecked = judge(
        "x.unchecked", needs, False, nurse, said, call(c, "x.unchecked", _checks_nothing, nurse)
    )
    assert unchecked is not None and "expected the refusal 'A nurse may not archive patients" in unchecked
    assert unchecked.endswith("got it succeeded")
