"""The schema is owned by Alembic: the head constant matches the scripts and a fresh upgrade has no drift."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from b12desk.data import audit, migrate
from b12desk.data.audit import verify_chain
from b12desk.data.db import Database, open_database
from b12desk.data.integrity import check_database
from b12desk.data.models import Administration, AuditEvent, Base, Product, TreatmentPlan
from b12desk.services import demo_data
from tests.conftest import create_pg_database, drop_pg_database


def test_schema_head_constant_matches_the_migration_scripts(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert migrate.head_revision(db) == migrate.SCHEMA_HEAD


def test_upgrade_from_empty_matches_the_models(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    result = migrate.upgrade(db, backup_dir=tmp_path / "backups")
    assert (result.from_revision, result.to_revision) == (None, migrate.SCHEMA_HEAD)
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    again = migrate.upgrade(db, backup_dir=tmp_path / "backups")
    assert not again.changed and again.backup is None
    db.dispose()


# --- upgrading a database that holds data --------------------------------------------------------------


def _migrate_to(db: Database, revision: str, *, down: bool = False) -> None:
    migrate.migrate_to(db, revision, downgrade=down)


def _check_constraints(db: Database) -> dict[str, set[tuple[str | None, str]]]:
    inspector = inspect(db.engine)
    out = {}
    for table in inspector.get_table_names():
        out[table] = {
            (c["name"], " ".join(c["sqltext"].split())) for c in inspector.get_check_constraints(table)
        }
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        yield db
        db.dispose()
        return
    server = request.getfixturevalue("pg_server_url")
    url = create_pg_database(server)
    db = open_database(url)
    yield db
    db.dispose()
    drop_pg_database(server, url)


def _generate_before_audit_keys(
    monkeypatch: pytest.MonkeyPatch, db: Database, *, patients: int, years: int, seed: int
) -> None:
    """Demo data as a clinic wrote it before 0006: the audit chained with plain SHA-256, and no key_id
    column (today's models name it, so it stands in, empty, while the data is written)."""
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_events ADD COLUMN key_id VARCHAR(16)"))
    with monkeypatch.context() as before_keys:
        before_keys.setattr(audit, "signing_key", lambda _last: None)
        demo_data.generate(
            db, patients=patients, years=years, seed=seed, today=date(2026, 11, 30), create_demo_users=True
        )
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_events DROP COLUMN key_id"))


def test_a_database_filled_at_the_previous_revision_upgrades_and_passes_db_check(
    blank_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline is frozen: a clinic's existing data (at 0001, its audit chained with plain SHA-256 as
    before keys existed) upgrades to head and stays consistent; new events are signed after the old ones."""
    db = blank_db
    _migrate_to(db, "0001")
    assert migrate.current_revision(db) == "0001"
    _generate_before_audit_keys(monkeypatch, db, patients=40, years=2, seed=5)
    with db.engine.connect() as conn:
        plans_before = conn.execute(text("SELECT COUNT(*) FROM treatment_plans")).scalar()
        doses_before = conn.execute(text("SELECT COUNT(*) FROM administrations")).scalar()
    result = migrate.upgrade(db, backup_dir=None)
    assert (result.from_revision, result.to_revision) == ("0001", migrate.SCHEMA_HEAD)
    assert check_database(db) == []
    with db.sessions() as s:
        assert verify_chain(s).ok
        assert s.scalar(select(func.count()).select_from(TreatmentPlan)) == plans_before
        assert s.scalar(select(func.count()).select_from(Administration)) == doses_before
        strengths = set(s.scalars(select(TreatmentPlan.strength_mcg_per_ml).distinct()))
        assert strengths == {Decimal(1000)}  # every demo product is 1,000 mcg/mL
        preservatives = dict(s.execute(select(Product.preservative, Product.preservatives)).all())
        assert preservatives["benzyl alcohol 1.5%"] == "benzyl_alcohol"
        snapshot = s.scalar(
            select(TreatmentPlan.verified_snapshot).where(TreatmentPlan.verified_snapshot != "").limit(1)
        )
        assert snapshot is not None and '"strength_mcg_per_ml":"1000"' in snapshot
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    with db.sessions.begin() as s:
        audit.append_event(s, staff_id=None, action="check", entity="clinic", entity_id=1)
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.key_id.is_(None))) > 0
        assert s.scalar(select(AuditEvent.key_id).order_by(AuditEvent.id.desc()).limit(1)) is not None
        assert verify_chain(s).ok


def test_the_migrated_check_constraints_equal_a_fresh_databases(blank_db: Database, tmp_path: Path) -> None:
    """Alembic does not compare CHECK constraints: the new movement kind and strength check are compared
    here, between a database migrated step by step and one created from the models."""
    migrated = blank_db
    _migrate_to(migrated, "0001")
    _migrate_to(migrated, "head")
    fresh = open_database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    if migrated.engine.dialect.name == "sqlite":
        Base.metadata.create_all(fresh.engine)
        made = _check_constraints(fresh)
        assert {t: c for t, c in _check_constraints(migrated).items() if t != "alembic_version"} == made
    movement = {n: sql for n, sql in _check_constraints(migrated)["stock_movements"]}
    assert "dose_returned" in movement["ck_stock_movements_movement_kind"]
    assert "ck_treatment_plans_strength_positive" in {
        n for n, _ in _check_constraints(migrated)["treatment_plans"]
    }
    fresh.dispose()


def test_the_dose_safety_revision_can_be_taken_back(blank_db: Database) -> None:
    db = blank_db
    _migrate_to(db, "head")
    _migrate_to(db, "0001", down=True)
    assert migrate.current_revision(db) == "0001"
    assert "dose_acknowledgements" not in inspect(db.engine).get_table_names()
    _migrate_to(db, "head")
    assert migrate.current_revision(db) == migrate.SCHEMA_HEAD


def test_a_clinic_at_0002_upgrades_with_nothing_assumed_about_its_patients(
    blank_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 0003 columns arrive empty-handed: what is treated is 'not recorded' (so the treatment template
    is suggested, never under-treating), no cobalt caution, no supply; the seed's derived Gland Pharma
    pack code becomes the UPC the FDA NDC directory lists."""
    db = blank_db
    _migrate_to(db, "0002")
    _generate_before_audit_keys(monkeypatch, db, patients=30, years=1, seed=9)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE products SET gtin = '00368083561253' WHERE gtin = '00368083449254'"))
        patients_before = conn.execute(text("SELECT COUNT(*) FROM patients")).scalar()
    migrate.upgrade(db, backup_dir=None)
    assert check_database(db) == []
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT presentation, flag_cobalt_allergy FROM patients")).all()
        assert [(p, bool(f)) for p, f in rows] == [("not_recorded", False)]
        assert conn.execute(text("SELECT COUNT(*) FROM patients")).scalar() == patients_before
        assert conn.execute(text("SELECT DISTINCT supplied_as FROM treatment_plans")).scalars().all() == [""]
        gtins = set(conn.execute(text("SELECT gtin FROM products")).scalars())
        assert "00368083449254" in gtins and "00368083561253" not in gtins
    with db.sessions() as s:
        assert verify_chain(s).ok


def test_a_clinic_at_0004_keeps_its_events_through_0005_and_back(
    blank_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0005 adds who closed a task and how: existing events arrive with no closer and an empty note, and
    the revision can be taken back with the events intact."""
    db = blank_db
    _migrate_to(db, "0004")
    _generate_before_audit_keys(monkeypatch, db, patients=20, years=1, seed=5)
    with db.engine.connect() as conn:
        before = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT status) FROM scheduled_events")).one()
    migrate.upgrade(db, backup_dir=None)
    assert check_database(db) == []
    with db.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT status) FROM scheduled_events")).one()
            == before
        )
        notes = conn.execute(
            text("SELECT DISTINCT close_note, closed_by_id, lab_result_id FROM scheduled_events")
        )
        assert notes.all() == [("", None, None)]
    _migrate_to(db, "0004", down=True)
    columns = {c["name"] for c in inspect(db.engine).get_columns("scheduled_events")}
    assert not columns & {"closed_at", "closed_by_id", "close_note", "lab_result_id"}
    with db.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT status) FROM scheduled_events")).one()
            == before
        )
    _migrate_to(db, "head")
    assert migrate.current_revision(db) == migrate.SCHEMA_HEAD
