"""Random dose attempts against random stock and plans: every attempt is all or nothing, and stock on hand
always equals its ledger, whatever the checks decide and whatever fails on the way."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from b12desk.data.models import Administration, AuditEvent, Lot, StockMovement, Vial
from b12desk.domain.enums import AdministrationOutcome, InjectionSite, MovementKind
from b12desk.services import administrations as adm
from b12desk.services import inventory as inv
from b12desk.services.common import ServiceError
from tests.conftest import PASSWORD
from tests.services.dose_world import NOW, World, _patient, at

pytestmark = pytest.mark.slow


def ledger_faults(session: Session) -> list[str]:
    faults = []
    for lot_id, on_hand in session.execute(select(Lot.id, Lot.quantity_on_hand)):
        total = session.scalar(
            select(func.coalesce(func.sum(StockMovement.containers), 0)).where(StockMovement.lot_id == lot_id)
        )
        if on_hand != total or on_hand < 0:
            faults.append(f"lot {lot_id}: {on_hand} on hand, ledger {total}")
    for vial_id, remaining in session.execute(select(Vial.id, Vial.remaining_ml)):
        total = session.scalar(
            select(func.coalesce(func.sum(StockMovement.volume_ml), 0)).where(
                StockMovement.vial_id == vial_id
            )
        )
        if Decimal(remaining) != Decimal(total) or remaining < 0:
            faults.append(f"vial {vial_id}: {remaining} mL, ledger {total}")
    return faults


def mostly(usual: object, *others: object) -> st.SearchStrategy[Any]:
    """The usual value half the time, so that many attempts pass every check and get written."""
    return st.one_of(st.just(usual), st.sampled_from([usual, *others]))


attempts = st.fixed_dictionaries(
    {
        "patient": mostly("own", "other"),
        "stock": mostly("ampoule", "vial", "wrong lot", "vial as lot", "nothing"),
        "dose": mostly(Decimal(1000), Decimal(100), Decimal(1), Decimal(2000)),
        "site": mostly(InjectionSite.DELTOID_RIGHT, *InjectionSite, None),
        "minutes": st.one_of(st.just(0), st.integers(min_value=-3 * 24 * 60, max_value=10)),
        "outcome": mostly(AdministrationOutcome.GIVEN, *AdministrationOutcome),
        "acknowledge": st.booleans(),
        "password": mostly(PASSWORD, "wrong", None),
        "vial_ml": mostly(Decimal(30), Decimal("0.5"), Decimal(1)),
        "lot_quantity": mostly(10, 1, 0),
        "earlier_dose": st.booleans(),
    }
)


def test_every_attempt_is_all_or_nothing_and_stock_matches_its_ledger(world: World) -> None:
    outcomes: list[bool] = []

    # derandomize: the same attempts on every run, so the test cannot pass one day and fail the next
    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(attempt=attempts)
    def run(attempt: dict[str, Any]) -> None:
        outcomes.append(one_attempt(world, attempt))

    run()
    assert True in outcomes and False in outcomes  # both paths were exercised


def one_attempt(w: World, attempt: dict[str, Any]) -> bool:
    """Try one dose; True if it was saved. Asserts all-or-nothing and the ledger either way."""
    s = w.session
    nested = s.begin_nested()  # each example starts from the same clinic
    try:
        if attempt["earlier_dose"]:  # a dose two hours ago, recorded then
            adm.record_dose(s, w.staff.nurse, w.request(given_at=NOW - timedelta(hours=2)), clock=at(NOW))
        # The stock as this example has it: whatever was drawn or moved, always through the ledger.
        vial = s.get(Vial, w.vial_id)
        assert vial is not None
        delta = attempt["vial_ml"] - vial.remaining_ml
        if delta:
            s.execute(update(Vial).where(Vial.id == w.vial_id).values(remaining_ml=attempt["vial_ml"]))
            s.add(
                StockMovement(
                    lot_id=w.vial_lot_id,
                    vial_id=w.vial_id,
                    kind=MovementKind.WASTED if delta < 0 else MovementKind.ADJUSTED,
                    volume_ml=delta,
                    staff_id=w.staff.nurse.id,
                    at=NOW,
                )
            )
        lot = s.get(Lot, w.ampoule_lot_id)
        assert lot is not None
        if lot.quantity_on_hand != attempt["lot_quantity"]:
            inv.adjust_count(
                s,
                w.staff.nurse,
                lot_id=w.ampoule_lot_id,
                counted=attempt["lot_quantity"],
                expected=lot.quantity_on_hand,
                reason="count",
                clock=at(NOW),
            )
        s.flush()
        assert ledger_faults(s) == []

        patient = w.patient_id if attempt["patient"] == "own" else _patient(s, w.staff.nurse, "P9")
        stock = {
            "ampoule": {"product_id": w.ampoule_id, "lot_id": w.ampoule_lot_id},
            "vial": {"product_id": w.vial_product_id, "lot_id": None, "vial_id": w.vial_id},
            "wrong lot": {"product_id": w.ampoule_id, "lot_id": w.vial_lot_id},
            "vial as lot": {"product_id": w.vial_product_id, "lot_id": w.vial_lot_id},
            "nothing": {"product_id": None, "lot_id": None},
        }[attempt["stock"]]
        request = w.request(
            patient_id=patient,
            dose_mcg=attempt["dose"],
            site=attempt["site"],
            given_at=NOW + timedelta(minutes=attempt["minutes"]),
            outcome=attempt["outcome"],
            note="" if attempt["outcome"] == AdministrationOutcome.GIVEN else "declined",
            **stock,
        )
        check = adm.check_dose(s, w.staff.nurse, request, clock=at(NOW))
        acks = {f.code: "random reason" for f in check.warnings} if attempt["acknowledge"] else {}
        before_admins = s.scalar(select(func.count()).select_from(Administration))
        before_moves = s.scalar(select(func.count()).select_from(StockMovement))
        before_audit = s.scalar(select(func.max(AuditEvent.id)))
        saved = None
        # A refusal, a wrong password, stock gone meanwhile: each must have written nothing.
        with contextlib.suppress(ServiceError):
            saved = adm.record_dose(
                s, w.staff.nurse, request, acknowledged=acks, password=attempt["password"], clock=at(NOW)
            )
        s.expire_all()
        admins = s.scalar(select(func.count()).select_from(Administration))
        moves = s.scalar(select(func.count()).select_from(StockMovement))
        audit = s.scalar(select(func.max(AuditEvent.id)))
        if saved is None:
            assert (admins, moves, audit) == (before_admins, before_moves, before_audit)
        else:
            assert admins == before_admins + 1
            assert not check.hard_stops
            record_audit = s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.entity == "administration", AuditEvent.entity_id == str(saved.id))
            )
            assert record_audit == 1
            drawn = s.scalar(
                select(func.count())
                .select_from(StockMovement)
                .where(StockMovement.administration_id == saved.id)
            )
            draws = saved.outcome == AdministrationOutcome.GIVEN and not saved.external
            assert drawn == (1 if draws else 0)
        assert ledger_faults(s) == []
        return saved is not None
    finally:
        nested.rollback()
