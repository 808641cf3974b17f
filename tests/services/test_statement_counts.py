"""The screens' queries are set-based: the same number of statements for a small clinic and a larger one."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from b12desk.domain.enums import InjectionSite
from b12desk.services import administrations as adm
from b12desk.services import patients, plans
from tests.services.dose_world import CLOCK, NOW, World, _patient, _verified_plan, at


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    engine = session.get_bind().engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_for(session: Session, action: Callable[[], object]) -> int:
    session.expire_all()  # nothing answered from the identity map of an earlier call
    with counted(session) as statements:
        action()
    return len(statements)


_grown = itertools.count()
STARTED = NOW.date() - timedelta(days=30)


def _grow(w: World, patients_more: int, *, verified: bool, doses: int = 0) -> None:
    """More patients, each with a plan (a draft, or verified with doses given), and a longer history."""
    t = w.templates["uk_hoc_no_neuro"]
    for _ in range(patients_more):
        pid = _patient(w.session, w.staff.nurse, f"G{next(_grown):04d}")
        if verified:
            plan = _verified_plan(w.session, w.staff, w.templates, pid, start=STARTED, clock=at(NOW))
            for k in range(doses):
                given = NOW - timedelta(days=2 * (doses - k))
                adm.record_dose(
                    w.session,
                    w.staff.nurse,
                    w.request(
                        patient_id=pid,
                        plan_id=plan.id,
                        given_at=given,
                        site=(InjectionSite.DELTOID_LEFT, InjectionSite.DELTOID_RIGHT)[k % 2],
                        external=True,
                        product_id=None,
                        lot_id=None,
                    ),
                    clock=at(given),
                )
        else:
            plans.create_plan(
                w.session,
                w.staff.pharmacist,
                pid,
                plans.PlanInput(t.id, t.formulation, Decimal(1000), t.definition.route, NOW.date(), "Dr A"),
                clock=CLOCK,
            )


def test_the_verification_queue_takes_the_same_statements_for_2_or_12_plans(world: World) -> None:
    w = world
    _grow(w, 2, verified=False)

    def queue() -> object:
        items = plans.verification_queue(w.session, w.staff.pharmacist2)
        return plans.template_names(w.session, w.staff.pharmacist2, {i.plan.template_id for i in items})

    small = statements_for(w.session, queue)
    _grow(w, 10, verified=False)
    assert len(plans.verification_queue(w.session, w.staff.pharmacist2)) == 12
    assert statements_for(w.session, queue) == small


def test_a_patients_plans_dialog_takes_the_same_statements_for_a_short_or_long_history(world: World) -> None:
    """What the Plans dialog reads: the patient, their plans, the selected plan's history and schedule."""
    w = world
    patient_id = _patient(w.session, w.staff.nurse, "D1")
    plan = _verified_plan(w.session, w.staff, w.templates, patient_id, start=STARTED)

    def dialog() -> object:
        patients.get_patient(w.session, w.staff.nurse, patient_id)
        rows = plans.plans_for_patient(w.session, w.staff.nurse, patient_id)
        history = plans.plan_history(w.session, w.staff.nurse, rows[0].id)
        plans.template_names(w.session, w.staff.nurse, {rows[0].template_id})
        return history, plans.plan_schedule(w.session, w.staff.nurse, rows[0].id, today=NOW.date())

    fresh = statements_for(w.session, dialog)
    for k in range(5):  # five doses given, a longer history and schedule to read
        given = NOW - timedelta(days=10 - 2 * k)
        adm.record_dose(
            w.session,
            w.staff.nurse,
            w.request(
                patient_id=patient_id,
                plan_id=plan.id,
                given_at=given,
                external=True,
                product_id=None,
                lot_id=None,
                site=(InjectionSite.DELTOID_LEFT, InjectionSite.DELTOID_RIGHT)[k % 2],
            ),
            clock=at(given),
        )
    _grow(w, 3, verified=True, doses=2)  # and other patients' doses in the clinic
    assert statements_for(w.session, dialog) == fresh


def test_the_roster_is_one_statement_however_many_patients(world: World) -> None:
    w = world
    small = statements_for(w.session, lambda: patients.roster(w.session, w.staff.nurse))
    _grow(w, 6, verified=True, doses=1)
    assert len(patients.roster(w.session, w.staff.nurse)) == 7
    assert statements_for(w.session, lambda: patients.roster(w.session, w.staff.nurse)) == small
    assert small <= 2  # the permission check and the roster itself
