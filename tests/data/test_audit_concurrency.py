"""Several workstations writing at once still leave one unbroken audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from b12desk.data.audit import verify_chain
from b12desk.data.db import Database, open_database
from b12desk.data.migrate import upgrade
from b12desk.domain.patients import PatientInput
from b12desk.services import patients
from tests.conftest import Staffing, _seed_staff, create_pg_database, drop_pg_database

WRITERS, EACH = 4, 15


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def committed_db(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[tuple[Database, Staffing]]:
    if request.param == "sqlite":
        db, staffing = request.getfixturevalue("fresh_db")
        yield db, staffing
        return
    server = request.getfixturevalue("pg_server_url")
    url = create_pg_database(server)
    db = open_database(url)
    upgrade(db, backup_dir=None)
    staffing = _seed_staff(db)
    yield db, staffing
    db.dispose()
    drop_pg_database(server, url)


def test_concurrent_writers_keep_the_chain(committed_db: tuple[Database, Staffing]) -> None:
    db, staff = committed_db
    # Each writer has its own engine, as a separate workstation would.
    engines = [open_database(db.url) for _ in range(WRITERS)]

    def write(n: int) -> None:
        for i in range(EACH):
            with engines[n].sessions.begin() as s:
                patients.create_patient(
                    s,
                    staff.nurse,
                    PatientInput(
                        mrn=f"W{n}-{i}",
                        family_name="Writer",
                        given_name="ABCD"[n],
                        date_of_birth=date(1960, 1, 1),
                    ),
                )

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
    for e in engines:
        e.dispose()
    with db.sessions() as s:
        report = verify_chain(s)
        assert report.ok, report.problem
        assert len(patients.roster(s, staff.nurse)) == WRITERS * EACH
