"""Demo data generator on fresh SQLite and PostgreSQL databases: deterministic, consistent, readable by the
services; plus the seed formulary and regimen templates it is built from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from b12desk.data.audit import canonical_json, verify_chain
from b12desk.data.db import Database, open_database
from b12desk.data.migrate import upgrade
from b12desk.data.models import (
    Administration,
    AuditEvent,
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
from b12desk.data.reference import formulary, lab_tests
from b12desk.domain.enums import (
    AdministrationOutcome,
    Cause,
    Container,
    EventKind,
    EventStatus,
    Formulation,
    InjectionSite,
    LabContext,
    MovementKind,
    PlanStatus,
    Role,
    Route,
    VialStatus,
)
from b12desk.domain.gs1 import gtin_check_digit, valid_gtin
from b12desk.domain.patients import PatientInput
from b12desk.domain.regimens import TemplateError, parse_template
from b12desk.services import administrations, auth, demo_data, patients, plans
from b12desk.services.common import Actor, ValidationFailed
from b12desk.services.startup import DEMO_PASSWORD, DEMO_USERS
from tests.clinic_time import clinic_now, clinic_today
from tests.conftest import Staffing, create_pg_database, drop_pg_database

TODAY = date(2026, 3, 2)  # a Monday
PATIENTS = 300
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _empty_sqlite(path: Path) -> Database:
    db = open_database(f"sqlite:///{path}")
    upgrade(db, backup_dir=None)
    return db


@dataclass
class Generated:
    db: Database
    stats: demo_data.DemoStats
    today: date


@pytest.fixture(scope="module", params=ENGINES)
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Generated]:
    """One demo clinic per engine, generated into a fresh empty database and shared by the read-only tests."""
    if request.param == "sqlite":
        db = _empty_sqlite(tmp_path_factory.mktemp("demo") / "demo.sqlite3")
        cleanup = db.dispose
    else:
        server: str = request.getfixturevalue("pg_server_url")
        url = create_pg_database(server)
        db = open_database(url)
        upgrade(db, backup_dir=None)

        def cleanup() -> None:
            db.dispose()
            drop_pg_database(server, url)

    stats = demo_data.generate(db, patients=PATIENTS, years=2, seed=5, today=TODAY, create_demo_users=True)
    try:
        yield Generated(db, stats, TODAY)
    finally:
        cleanup()


def _digest(db: Database, *models: type) -> str:
    h = hashlib.sha256()
    with db.engine.connect() as conn:
        for model in models:
            table = model.__table__  # type: ignore[attr-defined]
            for row in conn.execute(select(table).order_by(table.c.id)):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def _nurse(session: Session) -> Actor:
    return auth.authenticate(session, username="nurse", password=DEMO_PASSWORD)


# --- determinism and refusal -------------------------------------------------------------------------------


def test_same_seed_and_day_give_identical_rows(tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        db = _empty_sqlite(tmp_path / f"{name}.sqlite3")
        demo_data.generate(db, patients=80, years=2, seed=seed, today=TODAY, create_demo_users=True)
        digests.append(
            _digest(db, Patient, TreatmentPlan, PlanPhase, Administration, LabResult, Lot, StockMovement)
        )
        db.dispose()
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_refuses_a_database_that_has_patients(generated: Generated) -> None:
    with pytest.raises(demo_data.DemoDataRefused, match=f"already holds {PATIENTS:,} patients"):
        demo_data.generate(
            generated.db, patients=5, years=1, seed=1, today=generated.today, create_demo_users=True
        )


def test_asks_for_at_least_one_patient_and_year(tmp_path: Path) -> None:
    db = _empty_sqlite(tmp_path / "x.sqlite3")
    with pytest.raises(ValidationFailed) as err:
        demo_data.generate(db, patients=0, years=0, seed=1, create_demo_users=True)
    assert set(err.value.errors) == {"patients", "years"}
    db.dispose()


def test_stats_count_what_was_written(generated: Generated) -> None:
    stats = generated.stats
    with Session(generated.db.engine) as s:
        for model in (Patient, TreatmentPlan, Administration, StockMovement, Lot, Vial, LabResult):
            assert stats.counts[model.__tablename__] == s.scalar(select(func.count()).select_from(model))
    assert stats.total_rows == sum(stats.counts.values())
    assert stats.rows_per_second > 0


# --- the clinic --------------------------------------------------------------------------------------------


def test_demo_staff_are_made_once_and_can_sign_in(generated: Generated) -> None:
    with Session(generated.db.engine) as s:
        staff = {u.username: u for u in s.scalars(select(Staff))}
        assert set(staff) == {username for username, _, _ in DEMO_USERS}
        assert len({u.password_hash for u in staff.values()}) == 1  # hashed once, reused
        assert _nurse(s).role == Role.NURSE


def test_a_plan_one_demo_pharmacist_writes_the_other_verifies(generated: Generated) -> None:
    with Session(generated.db.engine) as s:  # rolled back when it closes: the clinic stays as generated
        writer = auth.authenticate(s, username="pharmacist", password=DEMO_PASSWORD)
        checker = auth.authenticate(s, username="pharmacist2", password=DEMO_PASSWORD)
        assert writer.role == checker.role == Role.PHARMACIST and writer.id != checker.id
        patient = patients.create_patient(
            s,
            writer,
            PatientInput(mrn="NEW1", family_name="Reid", given_name="Ann", date_of_birth=date(1950, 5, 5)),
        )
        t = next(t for t in plans.list_templates(s, writer) if t.code == "uk_hoc_no_neuro")
        plan = plans.create_plan(
            s,
            writer,
            patient.id,
            plans.PlanInput(t.id, t.formulation, Decimal(1000), Route.IM, generated.today, "Dr A"),
        )
        verified = plans.verify_plan(
            s, checker, plan.id, password=DEMO_PASSWORD, expected_version=plan.version_id
        )
        assert (
            verified.verified_by == "Petra Pharmacist (demo)" and verified.author == "Phil Pharmacist (demo)"
        )


def test_existing_staff_do_the_work(fresh_db: tuple[Database, Staffing]) -> None:
    db, staffing = fresh_db
    demo_data.generate(db, patients=40, years=1, seed=3, today=TODAY, create_demo_users=True)
    with Session(db.engine) as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == 5  # no demo users added
        pharmacists = {staffing.pharmacist.id, staffing.pharmacist2.id}
        for plan in s.scalars(select(TreatmentPlan).where(TreatmentPlan.verified_by_id.is_not(None))):
            assert plan.verified_by_id in pharmacists
            assert plan.author_id not in pharmacists


def test_every_cause_appears_with_a_realistic_mix(generated: Generated) -> None:
    with Session(generated.db.engine) as s:
        counts = dict(s.execute(select(Patient.cause, func.count()).group_by(Patient.cause)).all())
        assert set(counts) == set(Cause)
        assert max(counts, key=lambda c: counts[c]) == Cause.PERNICIOUS_ANAEMIA
        neuro = s.scalar(select(func.count()).where(Patient.neuro_involvement)) or 0
        archived = s.scalar(select(func.count()).where(Patient.archived)) or 0
        mrns = s.scalar(select(func.count(func.distinct(Patient.mrn)))) or 0
    assert 0.12 < neuro / PATIENTS < 0.30
    assert 0 < archived / PATIENTS < 0.08
    assert mrns == PATIENTS


def test_plans_follow_the_cause_and_are_verified_by_another_person(generated: Generated) -> None:
    with Session(generated.db.engine) as s:
        rows = s.execute(
            select(TreatmentPlan, Patient, RegimenTemplate.code)
            .join(Patient, Patient.id == TreatmentPlan.patient_id)
            .join(RegimenTemplate, RegimenTemplate.id == TreatmentPlan.template_id)
        ).all()
        assert {code for _, _, code in rows} >= {
            "uk_hoc_no_neuro",
            "uk_hoc_neuro",
            "uk_hoc_prophylaxis",
            "us_cnc_common",
            "post_bariatric",
        }
        for plan, patient, code in rows:
            if patient.neuro_involvement:
                assert code == "uk_hoc_neuro"
            if patient.flag_lebers_disease:
                assert plan.formulation == Formulation.HYDROXOCOBALAMIN
            if plan.status == PlanStatus.DRAFT:
                assert plan.verified_by_id is None
                continue
            assert plan.verified_by_id is not None and plan.verified_by_id != plan.author_id
            assert s.get(Staff, plan.verified_by_id).role == Role.PHARMACIST  # type: ignore[union-attr]
            assert plan.verification_meaning == "verified formulation, strength and schedule"
            assert plan.verified_at is not None and plan.verified_at.date() < plan.start_date


def test_verified_snapshot_matches_what_the_plan_service_records(generated: Generated) -> None:
    """Otherwise the verification queue would report every demo plan as changed since verification."""
    with Session(generated.db.engine) as s:
        for plan in s.scalars(
            select(TreatmentPlan).where(TreatmentPlan.verified_by_id.is_not(None)).limit(50)
        ):
            assert plan.verified_snapshot == canonical_json(plans._snapshot(plan))


def test_induction_ends_and_maintenance_stays_open(generated: Generated) -> None:
    with Session(generated.db.engine) as s:
        for plan in s.scalars(select(TreatmentPlan).where(TreatmentPlan.status == PlanStatus.ACTIVE)):
            phases = list(
                s.scalars(select(PlanPhase).where(PlanPhase.plan_id == plan.id).order_by(PlanPhase.seq))
            )
            open_phases = [p for p in phases if p.ended_on is None]
            assert open_phases, f"plan {plan.id} has no phase running"
            if phases[-1].started_on is not None:  # reached maintenance: every earlier phase has ended
                assert all(p.ended_on is not None and p.end_reason for p in phases[:-1])
                assert phases[-1].ended_on is None


def test_outstanding_events_are_what_the_schedule_engine_gives(generated: Generated) -> None:
    """Recording the next dose replaces a plan's due events with the engine's: they must be the same."""
    with Session(generated.db.engine) as s:
        nurse = _nurse(s)
        live = list(
            s.scalars(
                select(TreatmentPlan.id)
                .where(TreatmentPlan.status.in_(plans.LIVE))
                .order_by(TreatmentPlan.id)
                .limit(40)
            )
        )
        assert live
        for plan_id in live:
            schedule = plans.plan_schedule(s, nurse, plan_id, today=generated.today)
            expected = sorted(d.due for d in schedule.outstanding())
            due = sorted(
                s.scalars(
                    select(ScheduledEvent.due_on).where(
                        ScheduledEvent.plan_id == plan_id,
                        ScheduledEvent.kind == EventKind.DOSE,
                        ScheduledEvent.status == EventStatus.DUE,
                    )
                )
            )
            assert due == expected, f"plan {plan_id}"
            done_or_due = {
                (e.label, e.due_on)
                for e in s.scalars(
                    select(ScheduledEvent).where(
                        ScheduledEvent.plan_id == plan_id, ScheduledEvent.kind != EventKind.DOSE
                    )
                )
            }
            plan = s.get(TreatmentPlan, plan_id)
            assert plan is not None
            for task in schedule.tasks:
                if task.due >= plan.start_date:
                    assert (task.label, task.due) in done_or_due, f"plan {plan_id}: {task.label} {task.due}"


def test_administrations_follow_plan_product_and_stock(generated: Generated) -> None:
    with Session(generated.db.engine) as s:
        rows = s.execute(
            select(Administration, Product, Lot, TreatmentPlan)
            .join(Product, Product.id == Administration.product_id)
            .join(TreatmentPlan, TreatmentPlan.id == Administration.plan_id)
            .outerjoin(Lot, Lot.id == Administration.lot_id)
        ).all()
        assert len(rows) == generated.stats.counts["administrations"]
        outcomes = {a.outcome for a, _, _, _ in rows}
        assert outcomes == set(AdministrationOutcome)
        sites = {a.site for a, _, _, _ in rows}
        assert InjectionSite.VENTROGLUTEAL_LEFT in sites and InjectionSite.DORSOGLUTEAL_RIGHT in sites
        site_counts = {site: sum(1 for a, _, _, _ in rows if a.site == site) for site in sites}
        assert site_counts[InjectionSite.VENTROGLUTEAL_LEFT] > site_counts[InjectionSite.DORSOGLUTEAL_LEFT]
        for a, product, lot, plan in rows:
            assert a.volume_ml == (a.dose_mcg / product.strength_mcg_per_ml)
            assert product.formulation == plan.formulation and product.for_deficiency
            assert a.route == plan.route
            assert a.given_at.date() < generated.today and a.given_at.date() >= plan.start_date
            assert a.given_at.weekday() < 5  # the clinic is open Monday to Friday
            if a.outcome == AdministrationOutcome.GIVEN:
                assert lot is not None and lot.product_id == product.id and lot.expiry >= a.given_at.date()
                assert (a.site is not None) == (a.route == Route.IM)
            else:
                assert lot is None and a.site is None


def test_each_lot_holds_the_sum_of_its_ledger_and_never_went_negative(generated: Generated) -> None:
    with Session(generated.db.engine) as s:
        lots = {lot.id: lot for lot in s.scalars(select(Lot))}
        running = dict.fromkeys(lots, 0)
        for m in s.scalars(select(StockMovement).order_by(StockMovement.at, StockMovement.id)):
            running[m.lot_id] += m.containers
            assert running[m.lot_id] >= 0, f"lot {m.lot_id} below zero at movement {m.id}"
            if m.kind == MovementKind.WASTED:
                assert m.waste_reason is not None
        for lot_id, lot in lots.items():
            assert lot.quantity_on_hand == running[lot_id] >= 0
        today = generated.today
        expiries = [lot.expiry for lot in lots.values() if lot.quantity_on_hand > 0]
        assert any(e < today for e in expiries)  # expired stock awaiting destruction
        for band in (30, 60, 90):
            assert any(
                today + timedelta(days=band - 30) <= e <= today + timedelta(days=band) for e in expiries
            )


def test_vials_respect_discard_by_and_their_volume_ledger(generated: Generated) -> None:
    with Session(generated.db.engine) as s:
        vials = list(s.scalars(select(Vial)))
        assert vials
        volume = dict(
            s.execute(
                select(StockMovement.vial_id, func.sum(StockMovement.volume_ml))
                .where(StockMovement.vial_id.is_not(None))
                .group_by(StockMovement.vial_id)
            ).all()
        )
        end_of_today = datetime.combine(generated.today, datetime.min.time(), tzinfo=UTC)
        for vial in vials:
            lot = s.get(Lot, vial.lot_id)
            product = s.get(Product, lot.product_id)  # type: ignore[union-attr]
            assert lot is not None and product is not None
            assert product.container == Container.MULTI_DOSE_VIAL
            assert vial.discard_by.date() <= lot.expiry
            assert vial.discard_by <= vial.opened_at + timedelta(days=product.beyond_use_days or 28)
            assert Decimal(str(volume[vial.id])).quantize(Decimal("0.001")) == vial.remaining_ml
            if vial.status == VialStatus.OPEN:
                assert vial.discard_by > end_of_today and vial.remaining_ml > 0
            else:
                assert vial.remaining_ml == 0 and vial.discarded_at is not None and vial.discard_reason


def test_labs_are_stored_as_the_lab_service_stores_them(generated: Generated) -> None:
    tests = lab_tests()
    with Session(generated.db.engine) as s:
        labs = list(s.scalars(select(LabResult)))
        assert {lab.context for lab in labs} == set(LabContext)
        for lab in labs:
            test = tests[lab.test_code]
            assert lab.canonical_unit == test.canonical_unit and lab.unit in test.units
            assert lab.taken_on < generated.today
            if lab.value is not None:
                factor = test.units[lab.unit]
                assert factor is not None and lab.value_canonical is not None
                assert abs(lab.value * factor - lab.value_canonical) < Decimal("0.01")
                if test.plausible:
                    assert test.plausible[0] <= lab.value_canonical <= test.plausible[1]
            else:
                assert lab.value_text in test.qualitative


def test_one_audit_event_closes_the_load_and_the_chain_verifies(generated: Generated) -> None:
    with Session(generated.db.engine) as s:
        assert verify_chain(s).ok
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "demo_data")))
        assert len(events) == 1
        assert (
            json.loads(events[0].new_values)["administrations"] == generated.stats.counts["administrations"]
        )


def test_a_demo_patients_history_shows_what_the_load_wrote_and_what_was_done_since(
    generated: Generated,
) -> None:
    """The load writes one audit event for the whole clinic, yet each demo patient's history holds their
    plans (written, verified), doses and labs, read from the records and said to be demo data; a lab
    added since comes from its audit event, once."""
    with generated.db.sessions.begin() as s:
        nurse = _nurse(s)
        patient_id = s.scalar(
            select(Administration.patient_id)
            .group_by(Administration.patient_id)
            .order_by(func.count().desc(), Administration.patient_id)
            .limit(1)
        )
        assert patient_id is not None

        def count(model: type[Administration] | type[LabResult] | type[TreatmentPlan]) -> int:
            return (
                s.scalar(select(func.count()).select_from(model).where(model.patient_id == patient_id)) or 0
            )

        history = patients.patient_history(s, nurse, patient_id)
        actions = [e.action for e in history]
        assert actions.count("dose create") == count(Administration) > 0
        assert actions.count("lab create") == count(LabResult) > 0
        assert actions.count("plan create") == count(TreatmentPlan) > 0
        assert actions.count("plan verify") == count(TreatmentPlan)  # every demo plan is verified
        reasons = {e.reason for e in history}
        assert reasons == {"Demo data, written in bulk (no audit event of its own)."}, reasons
        assert [e.at for e in history] == sorted((e.at for e in history), reverse=True)
        doses = [e for e in history if e.action == "dose create"]
        lots = {e.changes["lot"][1] for e in doses} - {None}  # a dose not given draws no lot
        assert lots and all(isinstance(lot, str) and not lot.isdigit() for lot in lots)  # numbers, not ids
        assert all(e.who != "system" for e in history)

        patients.add_lab_result(
            s,
            nurse,
            patient_id,
            test_code="hb",
            context=LabContext.FOLLOW_UP,
            taken_on=generated.today,
            value_text="131",
            unit="g/L",
        )
        again = patients.patient_history(s, nurse, patient_id)
        assert [e.action for e in again].count("lab create") == count(LabResult)
        assert again[0].action == "lab create" and again[0].reason == ""  # from its audit event
        s.rollback()


def test_the_services_work_on_after_the_load(generated: Generated) -> None:
    """New rows get fresh ids (PostgreSQL sequences moved past the explicit ones) and a real dose can be
    recorded for a demo patient, drawn from demo stock."""
    with generated.db.sessions.begin() as s:
        nurse = _nurse(s)
        created = patients.create_patient(
            s,
            nurse,
            PatientInput(
                mrn="NEW-1", family_name="Example", given_name="Ann", date_of_birth=date(1970, 1, 1)
            ),
        )
        assert created.id > PATIENTS
        lab = patients.add_lab_result(
            s,
            nurse,
            created.id,
            test_code="hb",
            context=LabContext.BASELINE,
            taken_on=generated.today - timedelta(days=1),
            value_text="101",
            unit="g/L",
        )
        assert lab.id > generated.stats.counts["lab_results"]
        s.rollback()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_dose_can_be_recorded_against_demo_stock_today(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if engine == "sqlite":
        db = _empty_sqlite(tmp_path / "today.sqlite3")
        server = url = None
    else:
        server = request.getfixturevalue("pg_server_url")
        url = create_pg_database(server)
        db = open_database(url)
        upgrade(db, backup_dir=None)
    try:
        demo_data.generate(db, patients=60, years=1, seed=9, create_demo_users=True)  # up to the real today
        with db.sessions.begin() as s:
            nurse = _nurse(s)
            candidates = s.scalars(
                select(TreatmentPlan)
                .where(TreatmentPlan.status == PlanStatus.ACTIVE, TreatmentPlan.route == Route.IM)
                .where(TreatmentPlan.formulation == Formulation.HYDROXOCOBALAMIN)
                .order_by(TreatmentPlan.id)
            ).all()
            lot = s.scalars(
                select(Lot)
                .join(Product, Product.id == Lot.product_id)
                .where(Product.container == Container.AMPOULE, Lot.quantity_on_hand > 0)
                .where(Lot.expiry >= clinic_today())
                .order_by(Lot.expiry)
            ).first()
            assert lot is not None
            before = lot.quantity_on_hand
            moves_before = s.scalar(select(func.max(StockMovement.id)))
            # The first active plan whose patient may have a dose today (not one dosed already today).
            for plan in candidates:
                request = administrations.DoseRequest(
                    patient_id=plan.patient_id,
                    plan_id=plan.id,
                    given_at=clinic_now() - timedelta(minutes=1),
                    dose_mcg=Decimal(plan.dose_mcg),
                    site=InjectionSite.VENTROGLUTEAL_LEFT,
                    product_id=lot.product_id,
                    lot_id=lot.id,
                )
                check = administrations.check_dose(s, nurse, request)
                if not check.hard_stops:
                    break
            else:
                raise AssertionError("no demo patient can have a dose today")
            row = administrations.record_dose(
                s,
                nurse,
                request,
                acknowledged={w.code: "demo: checked with the patient" for w in check.warnings},
                password=DEMO_PASSWORD,
            )
            assert row.id > s.scalar(select(func.min(Administration.id)))  # type: ignore[operator]
            s.refresh(lot)
            assert lot.quantity_on_hand == before - 1
            assert (s.scalar(select(func.max(StockMovement.id))) or 0) > (moves_before or 0)
    finally:
        db.dispose()
        if server is not None and url is not None:
            drop_pg_database(server, url)


# --- the reference data it is built from --------------------------------------------------------------------


# Packs whose barcode the FDA NDC directory lists, and which is not '003' + NDC (clinical-facts 4).
LISTED_UPC = {"68083-561-25": "0368083449254"}


def test_formulary_gtins_are_valid_and_us_ones_come_from_the_ndc_or_the_listed_upc() -> None:
    products = formulary()
    codes = [c for p in products for c in (p.gtin, p.unit_gtin) if c is not None]
    assert len(set(codes)) == len(codes)  # a pack's or a vial's code names one product
    for p in products:
        assert p.gtin is not None and len(p.gtin) == 14 and valid_gtin(p.gtin), p.key
        assert p.source
        if p.ndc in LISTED_UPC:
            assert p.gtin == "0" + LISTED_UPC[p.ndc], p.key
            assert LISTED_UPC[p.ndc] in p.source
        elif p.ndc:
            body = "003" + p.ndc.replace("-", "")
            assert p.gtin == body + str(gtin_check_digit(body)), p.key
        if p.unit_ndc:  # a vial's own code, derived from its unit NDC the same way
            body = "003" + p.unit_ndc.replace("-", "")
            assert p.unit_gtin == body + str(gtin_check_digit(body)), p.key
        if p.container == Container.MULTI_DOSE_VIAL:
            assert p.beyond_use_days == 28
        else:
            assert p.beyond_use_days is None
    by_ndc = {p.ndc: p for p in products}
    assert by_ndc["0517-0031-25"].gtin == "00305170031251"  # clinical-facts 8: UPC 305170031251
    cyanokit = next(p for p in products if p.brand == "Cyanokit")
    assert cyanokit.formulation == Formulation.OTHER and not cyanokit.for_deficiency
    assert all(p.for_deficiency for p in products if p is not cyanokit)
    assert all(
        p.preservative == "benzyl alcohol 1.5%"
        for p in products
        if p.formulation == Formulation.CYANOCOBALAMIN
    )


def test_regimen_templates_load_and_parse_as_the_plan_service_reads_them() -> None:
    templates = {t.code: t for t in (parse_template(raw) for raw in plans.shipped_templates())}
    assert set(templates) == {
        "uk_hoc_no_neuro",
        "uk_hoc_neuro",
        "uk_hoc_prophylaxis",
        "us_cnc_fda",
        "us_cnc_common",
        "post_bariatric_treatment",
        "post_bariatric",
        "uk_hoc_lebers",
        "oral_cnc",
        "custom",
    }
    no_neuro = templates["uk_hoc_no_neuro"].phases
    assert (no_neuro[0].times_per_week, no_neuro[0].dose_count, no_neuro[1].interval_days) == (3, 6, 90)
    assert no_neuro[1].dose_count is None and no_neuro[1].interval_days_range == (60, 90)
    assert templates["uk_hoc_neuro"].phases[0].dose_count is None  # a clinical review ends it
    fda = templates["us_cnc_fda"].phases
    assert [p.dose_mcg for p in fda] == [Decimal(100)] * 4 and fda[-1].interval_days == 30
    assert Route.DEEP_SC in templates["us_cnc_common"].routes
    potassium = [task for task in no_neuro[0].tasks if task.lab_test_code == "potassium"]
    assert [(t.offset_days, t.window_days, t.condition) for t in potassium] == [
        (1, 1, None),
        (3, 1, "severe_anaemia"),
    ]
    assert fda[0].ends_with_review and not any(p.ends_with_review for p in fda[1:])
    assert templates["oral_cnc"].phases[0].taken_at_home and templates["oral_cnc"].routes == (Route.ORAL,)
    assert templates["custom"].phases == ()


def test_a_template_naming_an_unknown_lab_test_is_refused() -> None:
    raw = plans.shipped_templates()[0]
    broken = {
        **raw,
        "phases": [
            {
                **raw["phases"][0],
                "tasks": [{"kind": "lab", "lab_test_code": "nope", "label": "x", "offset_days": 0}],
            }
        ],
    }
    with pytest.raises(TemplateError, match="'nope' is not a known laboratory test"):
        parse_template(broken, lab_codes=lab_tests())
