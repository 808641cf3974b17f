"""What the give-dose screen records beyond the checks: reaction, symptoms, home doses by a trained
patient, the due list, the site to use, vials supplied home, and the log with its filters and pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from b12desk.data.models import (
    Administration,
    AuditEvent,
    Patient,
    StockMovement,
    SymptomScore,
    TreatmentPlan,
)
from b12desk.domain.enums import (
    AdministrationOutcome,
    InjectionSite,
    MovementKind,
    PlanStatus,
    Reaction,
)
from b12desk.services import administrations as adm
from b12desk.services import inventory as inv
from b12desk.services import patients, plans
from b12desk.services.common import ValidationFailed
from tests.services.dose_world import CLOCK, NOW, TODAY, World, _patient, _verified_plan, at
from tests.services.test_administrations import refused, snapshot


def give(w: World, request: adm.DoseRequest) -> adm.AdministrationRow:
    return adm.record_dose(w.session, w.staff.nurse, request, clock=CLOCK)


def test_a_local_reaction_and_the_visits_symptoms_are_kept_with_the_dose(world: World) -> None:
    w = world
    symptoms = {"fatigue": 2, "tingling": 1, "balance": 0, "memory_mood": 1, "appetite": 0}
    row = give(w, w.request(reaction=Reaction.LOCAL, symptoms=symptoms))
    assert row.reaction == Reaction.LOCAL
    score = w.session.scalars(select(SymptomScore).where(SymptomScore.administration_id == row.id)).one()
    assert (score.fatigue, score.tingling, score.balance, score.memory_mood, score.appetite) == (
        2,
        1,
        0,
        1,
        0,
    )
    assert score.patient_id == w.patient_id and score.recorded_by_id == w.staff.nurse.id


@pytest.mark.parametrize(
    ("symptoms", "words"),
    [({"fatigue": 4}, "Fatigue: score it 0 (none)"), ({"sleep": 1}, "Unknown symptom 'sleep'")],
)
def test_a_symptom_score_off_the_scale_writes_nothing(
    world: World, symptoms: dict[str, int], words: str
) -> None:
    w = world
    before = snapshot(w.session)
    with pytest.raises(ValidationFailed) as bad:
        give(w, w.request(symptoms=symptoms))
    assert words in bad.value.errors["symptoms"]
    assert snapshot(w.session) == before


def test_an_allergic_reaction_flags_the_patient_and_sends_the_plan_back_in_the_same_transaction(
    world: World,
) -> None:
    w = world
    row = give(w, w.request(reaction=Reaction.ALLERGIC))
    patient = w.session.get(Patient, w.patient_id)
    plan = w.session.get(TreatmentPlan, w.plan_id)
    assert patient is not None and patient.flag_b12_hypersensitivity
    assert plan is not None and plan.status == PlanStatus.DRAFT and "Allergic reaction" in plan.review_reason
    reasons = w.session.scalars(select(AuditEvent.reason).where(AuditEvent.id > 0)).all()
    assert "Allergic reaction recorded with a dose." in reasons
    assert row.reaction == Reaction.ALLERGIC
    # The next dose is stopped: the plan is back with the pharmacist, and the patient is hypersensitive.
    stopped = refused(
        w, w.request(given_at=NOW + timedelta(days=2)), "plan_not_verified", at(NOW + timedelta(days=2))
    )
    assert "hypersensitivity" in {f.code for f in stopped.findings}


def test_a_home_dose_needs_the_training_and_draws_nothing_here(world: World) -> None:
    w = world
    home = w.request(
        self_administered=True, product_id=None, lot_id=None, site=InjectionSite.VASTUS_LATERALIS_LEFT
    )
    refused(w, home, "not_trained_to_self_inject")
    w.session.execute(
        update(Patient)
        .where(Patient.id == w.patient_id)
        .values(self_injection_trained_on=TODAY - timedelta(days=14), self_injection_trainer="Nurse A")
    )
    movements = w.session.scalar(select(func.count()).select_from(StockMovement))
    row = give(w, home)
    assert row.self_administered and row.external and row.site == InjectionSite.VASTUS_LATERALIS_LEFT
    assert w.session.scalar(select(func.count()).select_from(StockMovement)) == movements


def test_vials_supplied_home_are_a_movement_naming_the_trained_patient(world: World) -> None:
    w = world
    with pytest.raises(ValidationFailed, match="not recorded as trained"):
        inv.supply_home(
            w.session,
            w.staff.nurse,
            patient_id=w.patient_id,
            lot_id=w.ampoule_lot_id,
            quantity=2,
            clock=CLOCK,
        )
    w.session.execute(
        update(Patient)
        .where(Patient.id == w.patient_id)
        .values(self_injection_trained_on=TODAY - timedelta(days=14), self_injection_trainer="Nurse A")
    )
    lot = inv.supply_home(
        w.session, w.staff.nurse, patient_id=w.patient_id, lot_id=w.ampoule_lot_id, quantity=2, clock=CLOCK
    )
    assert lot.quantity == 8
    moved = w.session.scalars(
        select(StockMovement).where(StockMovement.kind == MovementKind.SUPPLIED_HOME)
    ).one()
    assert (moved.containers, moved.patient_id) == (-2, w.patient_id)


def test_the_due_list_shows_todays_and_overdue_doses_of_live_plans_of_current_patients(world: World) -> None:
    w = world
    late = _patient(w.session, w.staff.nurse, "LATE1", family_name="Adams")
    _verified_plan(
        w.session,
        w.staff,
        w.templates,
        late,
        start=TODAY - timedelta(days=10),
        clock=at(NOW - timedelta(days=10)),
    )
    stopped = _patient(w.session, w.staff.nurse, "STOP1")
    stop_plan = _verified_plan(w.session, w.staff, w.templates, stopped)
    plans.stop_plan(
        w.session, w.staff.pharmacist, stop_plan.id, completed=False, reason="moved away", clock=CLOCK
    )
    archived = _patient(w.session, w.staff.nurse, "ARCH1")
    _verified_plan(w.session, w.staff, w.templates, archived)
    patients.set_archived(w.session, w.staff.manager, archived, archived=True, reason="moved away")
    rows = adm.due_list(w.session, w.staff.nurse, today=TODAY)
    assert [r.mrn for r in rows] == ["LATE1", "P1"]  # overdue first; the stopped and archived not at all
    assert rows[0].overdue(TODAY) and not rows[1].overdue(TODAY)
    assert rows[1].label == "Induction dose 1: 1,000 mcg"
    # The roster's "next due" reads the same events: they agree.
    roster = {r.mrn: r.next_due for r in patients.roster(w.session, w.staff.nurse)}
    assert [roster[r.mrn] for r in rows] == [r.due_on for r in rows]
    give(w, w.request())
    assert [r.mrn for r in adm.due_list(w.session, w.staff.nurse, today=TODAY)] == ["LATE1"]


def test_the_site_advice_lists_recent_sites_and_suggests_the_least_recently_used(world: World) -> None:
    w = world
    advice = adm.site_advice(w.session, w.staff.nurse, w.patient_id, clock=CLOCK)
    assert advice.recent == () and advice.suggested == InjectionSite.VENTROGLUTEAL_LEFT
    give(w, w.request())
    later = at(NOW + timedelta(days=2))
    advice = adm.site_advice(w.session, w.staff.nurse, w.patient_id, clock=later)
    assert [s for _, s in advice.recent] == [InjectionSite.VENTROGLUTEAL_LEFT]
    assert advice.suggested == InjectionSite.VENTROGLUTEAL_RIGHT
    assert InjectionSite.DORSOGLUTEAL_LEFT not in advice.enabled  # off in the shipped rules


def test_the_log_filters_and_pages_in_the_database(world: World) -> None:
    w = world
    # Five doses two days apart, the newest today; the middle one refused.
    given = []
    sites = (
        InjectionSite.VENTROGLUTEAL_LEFT,
        InjectionSite.VENTROGLUTEAL_RIGHT,
        None,
        InjectionSite.VASTUS_LATERALIS_LEFT,
        InjectionSite.VASTUS_LATERALIS_RIGHT,
    )
    for k, days_ago in enumerate((8, 6, 4, 2, 0)):
        when = NOW - timedelta(days=days_ago)
        request = w.request(given_at=when, site=sites[k])
        if k == 2:
            request = replace(
                request, outcome=AdministrationOutcome.REFUSED, note="declined today", site=None
            )
        given.append(adm.record_dose(w.session, w.staff.nurse, request, clock=at(when)))
    everything = adm.administration_log(w.session, w.staff.nurse, adm.LogFilter(), clock=CLOCK)
    assert [r.id for r in everything] == [g.id for g in reversed(given)]  # newest first
    page1 = adm.administration_log(w.session, w.staff.nurse, adm.LogFilter(), limit=2, clock=CLOCK)
    page2 = adm.administration_log(
        w.session, w.staff.nurse, adm.LogFilter(), after=page1[-1].key, limit=2, clock=CLOCK
    )
    page3 = adm.administration_log(
        w.session, w.staff.nurse, adm.LogFilter(), after=page2[-1].key, limit=2, clock=CLOCK
    )
    assert [r.id for r in page1 + page2 + page3] == [r.id for r in everything]
    refusals = adm.administration_log(
        w.session, w.staff.nurse, adm.LogFilter(outcome=AdministrationOutcome.REFUSED), clock=CLOCK
    )
    assert [r.note for r in refusals] == ["declined today"]
    window = adm.LogFilter(given_from=TODAY - timedelta(days=4), given_to=TODAY - timedelta(days=2))
    assert len(adm.administration_log(w.session, w.staff.nurse, window, clock=CLOCK)) == 2
    by_name = adm.administration_log(w.session, w.staff.nurse, adm.LogFilter(patient="reid ann"), clock=CLOCK)
    by_mrn = adm.administration_log(w.session, w.staff.nurse, adm.LogFilter(patient="p1"), clock=CLOCK)
    assert len(by_name) == len(by_mrn) == 5
    assert (
        adm.administration_log(w.session, w.staff.nurse, adm.LogFilter(patient="nobody"), clock=CLOCK) == []
    )
    by_lot = adm.administration_log(w.session, w.staff.nurse, adm.LogFilter(lot_number="h1"), clock=CLOCK)
    assert len(by_lot) == 5  # the refused one too: it names the lot it would have come from
    nurse = adm.LogFilter(nurse_id=w.staff.pharmacist.id)
    assert adm.administration_log(w.session, w.staff.nurse, nurse, clock=CLOCK) == []
    assert {r.mrn for r in everything} == {"P1"} and everything[0].patient_name == "REID, Ann"
    assert w.session.scalar(select(func.count()).select_from(Administration)) == 5
    assert everything[0].dose_mcg == Decimal(1000)
