"""Shared fixtures: migrated SQLite and PostgreSQL databases, signed-in staff, savepoint-per-test sessions."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One audit key for the whole run (and the CLI processes it starts), outside every test's data folder: the
# session's template databases are signed with it before any test changes B12DESK_DATA_DIR.
os.environ.setdefault(
    "B12DESK_AUDIT_KEY_FILE", str(Path(tempfile.mkdtemp(prefix="b12desk-audit-key-")) / "audit.key")
)

from b12desk.data.db import Database, open_database
from b12desk.data.migrate import upgrade
from b12desk.domain.enums import Role
from b12desk.services import auth
from b12desk.services.common import Actor

# No per-example deadline: a busy shared machine makes any time limit fail at random. Speed is measured
# by the scripts in benchmarks/, never by the test suite.
settings.register_profile("b12desk", deadline=None)
settings.load_profile("b12desk")

PG_URL_ENV = "B12DESK_TEST_PG_URL"
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Staffing:
    admin: Actor
    nurse: Actor
    pharmacist: Actor
    pharmacist2: Actor
    manager: Actor


def _seed_staff(db: Database) -> Staffing:
    with db.sessions.begin() as s:
        admin = auth.create_first_admin(s, username="admin", full_name="Ada Admin", password=PASSWORD)
        made = {
            name: auth.create_user(
                s, admin, username=name, full_name=name.title(), role=role, password=PASSWORD
            )
            for name, role in (
                ("nurse", Role.NURSE),
                ("pharmacist", Role.PHARMACIST),
                ("pharmacist2", Role.PHARMACIST),
                ("manager", Role.MANAGER),
            )
        }
    return Staffing(admin=admin, **made)


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real per-user data folder or a database named in the environment."""
    monkeypatch.setenv("B12DESK_DATA_DIR", str(tmp_path / "userdata"))
    monkeypatch.delenv("B12DESK_DATABASE_URL", raising=False)
    monkeypatch.delenv("B12DESK_PASSWORD", raising=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Staffing]:
    """A migrated SQLite file with staff, copied for every test that needs its own committed database."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    db = open_database(f"sqlite:///{path}")
    upgrade(db, backup_dir=None)
    staffing = _seed_staff(db)
    db.dispose()
    return path, staffing


@pytest.fixture(scope="session")
def _sqlite_shared(
    sqlite_template: tuple[Path, Staffing], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, Staffing]]:
    path, staffing = sqlite_template
    copy = tmp_path_factory.mktemp("shared") / "shared.sqlite3"
    shutil.copy(path, copy)
    db = open_database(f"sqlite:///{copy}")
    yield db, staffing
    db.dispose()


def pg_admin_url() -> str | None:
    url = os.environ.get(PG_URL_ENV)
    if not url and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {PG_URL_ENV} is not set: PostgreSQL tests must run in CI, not skip.")
    return url


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = pg_admin_url()
    if not url:
        pytest.skip(f"no PostgreSQL server: set {PG_URL_ENV}=postgresql+psycopg://user@host/db")
    return url


def create_pg_database(server_url: str) -> str:
    """A fresh, empty database on the test server; returns its URL."""
    name = f"b12desk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _pg_shared(pg_server_url: str) -> Iterator[tuple[Database, Staffing]]:
    url = create_pg_database(pg_server_url)
    db = open_database(url)
    upgrade(db, backup_dir=None)
    staffing = _seed_staff(db)
    yield db, staffing
    db.dispose()
    drop_pg_database(pg_server_url, url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_db(request: pytest.FixtureRequest) -> tuple[Database, Staffing]:
    """A migrated database with staff, shared by the session; tests use `session` to stay isolated."""
    fixture = "_sqlite_shared" if request.param == "sqlite" else "_pg_shared"
    result: tuple[Database, Staffing] = request.getfixturevalue(fixture)
    return result


@pytest.fixture
def db(shared_db: tuple[Database, Staffing]) -> Database:
    return shared_db[0]


@pytest.fixture
def staff(shared_db: tuple[Database, Staffing]) -> Staffing:
    return shared_db[1]


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """One outer transaction per test, rolled back at the end; service calls run in savepoints within it."""
    connection = db.engine.connect()
    outer = connection.begin()
    s = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def fresh_db(sqlite_template: tuple[Path, Staffing], tmp_path: Path) -> Iterator[tuple[Database, Staffing]]:
    """A committed SQLite database of this test's own (GUI, CLI and import tests), with staff."""
    path, staffing = sqlite_template
    copy = tmp_path / "b12desk.sqlite3"
    shutil.copy(path, copy)
    db = open_database(f"sqlite:///{copy}")
    yield db, staffing
    db.dispose()
