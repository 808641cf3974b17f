"""Four processes draw at once from stock holding less than they ask for: never negative, never oversold."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from b12desk.data.db import Database, open_database
from b12desk.data.migrate import upgrade
from b12desk.domain.enums import Container, Formulation, Role
from b12desk.services import inventory as inv
from b12desk.services.common import Actor
from tests.clinic_time import clinic_today
from tests.conftest import Staffing, _seed_staff, create_pg_database, drop_pg_database

PROCESSES, ATTEMPTS = 4, 6


def _worker(
    url: str, actor: tuple[int, str, str, str], target: dict[str, int], barrier: Any, results: Any
) -> None:
    db = open_database(url)
    who = Actor(actor[0], actor[1], actor[2], Role(actor[3]))
    barrier.wait()
    ok = 0
    for _ in range(ATTEMPTS):
        try:
            with db.sessions.begin() as s:
                if "vial_id" in target:
                    inv.draw_dose(s, who, vial_id=target["vial_id"], volume_ml=Decimal(1))
                else:
                    inv.draw_dose(s, who, lot_id=target["lot_id"], volume_ml=Decimal(1))
            ok += 1
        except inv.StockUnavailable:
            pass
    results.put(ok)
    db.dispose()


@pytest.fixture
def pg_db(pg_server_url: str) -> Iterator[tuple[Database, Staffing]]:
    url = create_pg_database(pg_server_url)
    db = open_database(url)
    upgrade(db, backup_dir=None)
    staffing = _seed_staff(db)
    yield db, staffing
    db.dispose()
    drop_pg_database(pg_server_url, url)


def _race(db: Database, nurse: Actor, target: dict[str, int]) -> int:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    actor = (nurse.id, nurse.username, nurse.full_name, nurse.role.value)
    procs = [
        ctx.Process(target=_worker, args=(db.url, actor, target, barrier, results)) for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    total = sum(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return total


@pytest.mark.postgres
def test_four_processes_never_oversell(pg_db: tuple[Database, Staffing]) -> None:
    db, staff = pg_db
    expiry = clinic_today() + timedelta(days=365)
    with db.sessions.begin() as s:
        mdv = inv.create_product(
            s,
            staff.pharmacist,
            inv.ProductInput(
                formulation=Formulation.CYANOCOBALAMIN,
                manufacturer="Hikma",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.MULTI_DOSE_VIAL,
                volume_ml=Decimal(10),
            ),
        )
        amp = inv.create_product(
            s,
            staff.pharmacist,
            inv.ProductInput(
                formulation=Formulation.HYDROXOCOBALAMIN,
                manufacturer="Advanz",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.AMPOULE,
                volume_ml=Decimal(1),
            ),
        )
        mdv_lot = inv.receive_stock(
            s, staff.nurse, product_id=mdv.id, lot_number="V1", expiry=expiry, quantity=1
        )
        amp_lot = inv.receive_stock(
            s, staff.nurse, product_id=amp.id, lot_number="A1", expiry=expiry, quantity=7
        )
        vial = inv.open_vial(s, staff.nurse, lot_id=mdv_lot.id)

    # 4 x 6 = 24 doses of 1 mL asked from a 10 mL vial, and 24 ampoules from a lot of 7.
    assert _race(db, staff.nurse, {"vial_id": vial.id}) == 10
    assert _race(db, staff.nurse, {"lot_id": amp_lot.id}) == 7

    with db.sessions.begin() as s:
        lot = inv.list_lots(s, staff.nurse, amp.id, include_empty=True)[0]
        assert lot.quantity == 0
        history = inv.lot_history(s, staff.nurse, amp_lot.id)
        assert sum(m.containers for m in history) == 0
        drawn = [m for m in inv.lot_history(s, staff.nurse, mdv_lot.id) if m.kind.value == "dose_drawn"]
        assert len(drawn) == 10
    from b12desk.data.integrity import check_database

    assert check_database(db) == []
