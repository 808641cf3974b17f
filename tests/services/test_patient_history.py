"""A patient's history: every audited event about them (record, labs, plans, doses, supplies home), newest
first, read with the same few statements however long the record is."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update

from b12desk.data.models import Patient
from b12desk.domain.enums import InjectionSite, LabContext
from b12desk.services import administrations as adm
from b12desk.services import inventory as inv
from b12desk.services import patients, plans
from tests.conftest import PASSWORD
from tests.services.dose_world import CLOCK, NOW, TODAY, World, _patient, _verified_plan, at
from tests.services.test_statement_counts import statements_for


def _train(w: World, patient_id: int) -> None:
    w.session.execute(
        update(Patient)
        .where(Patient.id == patient_id)
        .values(self_injection_trained_on=TODAY - timedelta(days=14), self_injection_trainer="Nurse A")
    )


_SITES = (InjectionSite.DELTOID_LEFT, InjectionSite.DELTOID_RIGHT)


def _dose(w: World, patient_id: int, plan_id: int, days_later: int = 0) -> adm.AdministrationRow:
    """A dose on the clinic's day NOW + days_later, on the deltoids in turn."""
    given = NOW + timedelta(days=days_later)
    return adm.record_dose(
        w.session,
        w.staff.nurse,
        w.request(patient_id=patient_id, plan_id=plan_id, given_at=given, site=_SITES[days_later % 4 // 2]),
        clock=at(given),
    )


def test_the_history_holds_plans_doses_corrections_labs_and_supplies_newest_first(world: World) -> None:
    w = world
    # Someone else on the same lot: none of their events may show in this patient's history.
    other = _patient(w.session, w.staff.nurse, "OTHER1", family_name="Adams")
    other_plan = _verified_plan(w.session, w.staff, w.templates, other)
    _dose(w, other, other_plan.id)
    _train(w, other)
    inv.supply_home(
        w.session, w.staff.nurse, patient_id=other, lot_id=w.ampoule_lot_id, quantity=1, clock=CLOCK
    )

    first = _dose(w, w.patient_id, w.plan_id)
    second = _dose(w, w.patient_id, w.plan_id, days_later=2)
    later = at(NOW + timedelta(days=2, hours=1))
    adm.amend_administration(
        w.session,
        w.staff.nurse,
        second.id,
        reason="other arm",
        site=InjectionSite.VENTROGLUTEAL_RIGHT,
        clock=later,
    )
    adm.mark_entered_in_error(
        w.session, w.staff.nurse, first.id, reason="wrong patient's chart", password=PASSWORD, clock=later
    )
    patients.add_lab_result(
        w.session,
        w.staff.nurse,
        w.patient_id,
        test_code="serum_b12",
        context=LabContext.FOLLOW_UP,
        taken_on=date(2026, 11, 20),
        value_text="350",
        unit="ng/L",
        clock=later,
    )
    _train(w, w.patient_id)
    inv.supply_home(
        w.session, w.staff.nurse, patient_id=w.patient_id, lot_id=w.ampoule_lot_id, quantity=2, clock=later
    )
    plans.stop_plan(
        w.session, w.staff.pharmacist, w.plan_id, completed=False, reason="moved away", clock=later
    )

    history = patients.patient_history(w.session, w.staff.manager, w.patient_id)
    assert [h.action for h in history] == [
        "plan stop",
        "supply supplied_home",
        "lab create",
        "dose entered_in_error",
        "dose amend",
        "dose create",
        "dose create",
        "plan verify",
        "plan create",
        "create",
    ]
    stop, supply, _lab, error, amend, given, _, verify, written, _ = history
    assert (stop.who, stop.reason) == ("pharmacist", "moved away")
    assert (verify.who, written.who, given.who) == ("pharmacist2", "pharmacist", "nurse")
    assert written.changes["template_id"][1] == f"{w.templates['uk_hoc_no_neuro'].name} (v1)"
    assert supply.changes["lot"] == (None, "H1") and supply.changes["containers"] == (None, -2)
    assert given.changes["lot"] == (None, "H1") and given.changes["patient"] == (None, w.patient_id)
    assert amend.changes["site"] == (
        InjectionSite.DELTOID_RIGHT.value,
        InjectionSite.VENTROGLUTEAL_RIGHT.value,
    )
    assert error.reason == "wrong patient's chart"
    assert all(h.at for h in history) and history == sorted(history, key=lambda h: h.at, reverse=True)


def test_a_longer_record_is_read_with_the_same_statements(world: World) -> None:
    w = world

    def read() -> object:
        return patients.patient_history(w.session, w.staff.nurse, w.patient_id)

    _dose(w, w.patient_id, w.plan_id)
    _train(w, w.patient_id)
    inv.supply_home(
        w.session, w.staff.nurse, patient_id=w.patient_id, lot_id=w.ampoule_lot_id, quantity=1, clock=CLOCK
    )
    short = statements_for(w.session, read)
    for k in (2, 4, 6, 8):
        _dose(w, w.patient_id, w.plan_id, days_later=k)
    for _ in range(3):
        inv.supply_home(
            w.session, w.staff.nurse, patient_id=w.patient_id, lot_id=w.vial_lot_id, quantity=1, clock=CLOCK
        )
    assert len(patients.patient_history(w.session, w.staff.nurse, w.patient_id)) == 12
    assert statements_for(w.session, read) == short
