"""Recording a dose through the service, on both engines: each rule refuses with one fact changed from a
valid dose, and a refusal writes nothing at all (no dose, stock movement, audit event or schedule change).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from b12desk.clock import Clock, fixed_clock
from b12desk.data.models import (
    Administration,
    AuditEvent,
    DoseAcknowledgement,
    Lot,
    Patient,
    ScheduledEvent,
    StockMovement,
    TreatmentPlan,
    Vial,
)
from b12desk.domain.enums import (
    AdministrationOutcome,
    Cause,
    Container,
    EventKind,
    EventStatus,
    Formulation,
    InjectionSite,
    MovementKind,
    PlanStatus,
    Preservative,
    RecordStatus,
    Route,
    VialStatus,
)
from b12desk.domain.stock import WasteReason
from b12desk.services import administrations as adm
from b12desk.services import auth, clinic, patients, plans
from b12desk.services import inventory as inv
from b12desk.services.common import PermissionDenied, ValidationFailed
from tests.conftest import PASSWORD
from tests.services.dose_world import (
    CLOCK,
    LONDON,
    NOW,
    World,
    _lot,
    _patient,
    _product,
    _verified_plan,
    at,
)


def snapshot(session: Session) -> dict[str, Any]:
    """Everything a dose could write: if this is unchanged, nothing at all was written."""
    session.expire_all()
    return {
        "administrations": session.execute(
            select(Administration.id, Administration.status).order_by(Administration.id)
        ).all(),
        "acknowledgements": session.scalar(select(func.count()).select_from(DoseAcknowledgement)),
        "movements": session.scalar(select(func.count()).select_from(StockMovement)),
        "audit": session.scalar(select(func.max(AuditEvent.id))),
        "events": session.execute(
            select(
                ScheduledEvent.id, ScheduledEvent.status, ScheduledEvent.due_on, ScheduledEvent.window_end
            ).order_by(ScheduledEvent.id)
        ).all(),
        "lots": session.execute(select(Lot.id, Lot.quantity_on_hand).order_by(Lot.id)).all(),
        "vials": session.execute(select(Vial.id, Vial.remaining_ml, Vial.status).order_by(Vial.id)).all(),
        "plans": session.execute(
            select(TreatmentPlan.id, TreatmentPlan.status).order_by(TreatmentPlan.id)
        ).all(),
    }


def refused(w: World, request: adm.DoseRequest, code: str, clock: Clock = CLOCK) -> adm.DoseRefused:
    """Record `request`; expect DoseRefused naming `code` as a hard stop, and no write at all."""
    before = snapshot(w.session)
    with pytest.raises(adm.DoseRefused) as caught:
        adm.record_dose(w.session, w.staff.nurse, request, clock=clock)
    stops = {f.code for f in caught.value.findings if f.blocks}
    assert code in stops, caught.value.findings
    assert snapshot(w.session) == before
    return caught.value


def warned(
    w: World, request: adm.DoseRequest, code: str, clock: Clock = CLOCK, **extra_acks: str
) -> adm.AdministrationRow:
    """Expect `code` as a warning: refused (nothing written) until acknowledged with reason and password,
    then saved with the acknowledgement."""
    before = snapshot(w.session)
    with pytest.raises(adm.DoseRefused) as caught:
        adm.record_dose(w.session, w.staff.nurse, request, clock=clock)
    assert code in {f.code for f in caught.value.unacknowledged}
    assert not any(f.blocks for f in caught.value.findings), caught.value.findings
    assert snapshot(w.session) == before
    acks = {code: "checked with the patient"} | extra_acks
    with pytest.raises(ValidationFailed, match="password"):
        adm.record_dose(w.session, w.staff.nurse, request, acknowledged=acks, clock=clock)
    with pytest.raises(auth.AuthenticationFailed):
        adm.record_dose(w.session, w.staff.nurse, request, acknowledged=acks, password="wrong", clock=clock)
    assert snapshot(w.session) == before
    row = adm.record_dose(
        w.session, w.staff.nurse, request, acknowledged=acks, password=PASSWORD, clock=clock
    )
    assert code in {a.code for a in row.acknowledgements}
    assert any(a.reason == "checked with the patient" for a in row.acknowledgements)
    return row


def give(w: World, request: adm.DoseRequest, clock: Clock = CLOCK) -> adm.AdministrationRow:
    return adm.record_dose(w.session, w.staff.nurse, request, clock=clock)


# --- the valid dose --------------------------------------------------------------------------------------


def test_the_valid_dose_is_saved_with_its_movement_audit_and_schedule(world: World) -> None:
    w = world
    check = adm.check_dose(w.session, w.staff.nurse, w.request(), clock=CLOCK)
    assert check.findings == ()
    assert check.volume_ml == 1 and check.expected is not None and check.expected.number == 1
    before = snapshot(w.session)
    row = give(w, w.request())
    after = snapshot(w.session)
    assert row.status == RecordStatus.CURRENT and row.volume_ml == 1 and row.lot_id == w.ampoule_lot_id
    assert after["movements"] == before["movements"] + 1
    moved = w.session.scalar(select(StockMovement).where(StockMovement.administration_id == row.id))
    assert moved is not None and moved.kind == MovementKind.DOSE_DRAWN and moved.containers == -1
    audit = w.session.scalar(
        select(AuditEvent).where(AuditEvent.entity == "administration", AuditEvent.entity_id == str(row.id))
    )
    assert audit is not None
    lot = w.session.get(Lot, w.ampoule_lot_id)
    assert lot is not None and lot.quantity_on_hand == 9
    done = w.session.scalars(
        select(ScheduledEvent.label).where(
            ScheduledEvent.plan_id == w.plan_id,
            ScheduledEvent.kind == EventKind.DOSE,
            ScheduledEvent.status == EventStatus.DONE,
        )
    ).all()
    assert done == ["Induction dose 1: 1,000 mcg"]
    assert w.session.get(TreatmentPlan, w.plan_id).status == PlanStatus.ACTIVE  # type: ignore[union-attr]


def test_a_dose_from_the_open_vial_draws_its_volume(world: World) -> None:
    w = world
    row = give(w, w.vial_request())
    vial = w.session.get(Vial, w.vial_id)
    assert vial is not None and vial.remaining_ml == 29 and row.vial_id == w.vial_id


def test_recording_a_dose_updates_only_the_events_that_change(world: World) -> None:
    w = world
    before = {
        e.id: (e.status, e.due_on)
        for e in w.session.scalars(select(ScheduledEvent).where(ScheduledEvent.plan_id == w.plan_id))
    }
    give(w, w.request())
    w.session.expire_all()
    after = {
        e.id: (e.status, e.due_on)
        for e in w.session.scalars(select(ScheduledEvent).where(ScheduledEvent.plan_id == w.plan_id))
    }
    assert set(after) == set(before)  # no event re-created
    changed = [i for i in before if before[i] != after[i]]
    assert len(changed) == 1 and after[changed[0]][0] == EventStatus.DONE


# --- each rule with one fact changed ----------------------------------------------------------------------


def test_patient_archived_since_the_plan_was_verified(world: World) -> None:
    patients.set_archived(world.session, world.staff.manager, world.patient_id, archived=True, reason="moved")
    refused(world, world.request(), "patient_archived")


def test_plan_not_verified(world: World) -> None:
    w = world
    other = _patient(w.session, w.staff.nurse, "P2")
    t = w.templates["uk_hoc_no_neuro"]
    draft = plans.create_plan(
        w.session,
        w.staff.pharmacist,
        other,
        plans.PlanInput(t.id, t.formulation, Decimal(1000), Route.IM, NOW.date(), "Dr Shah"),
        clock=CLOCK,
    )
    refused(w, w.request(patient_id=other, plan_id=draft.id), "plan_not_verified")


def test_plan_stopped(world: World) -> None:
    plans.stop_plan(
        world.session, world.staff.pharmacist, world.plan_id, completed=False, reason="moved", clock=CLOCK
    )
    refused(world, world.request(), "plan_not_verified")


def test_plan_of_another_patient(world: World) -> None:
    other = _patient(world.session, world.staff.nurse, "P2")
    refused(world, world.request(patient_id=other), "plan_other_patient")


def test_lot_of_another_product(world: World) -> None:
    refused(world, world.request(lot_id=world.vial_lot_id), "stock_other_product")


def test_vial_of_another_product(world: World) -> None:
    refused(world, world.vial_request(product_id=world.ampoule_id), "stock_mismatch")


def test_product_not_for_deficiency(world: World) -> None:
    w = world
    antidote = _product(
        w.session,
        w.staff.pharmacist,
        manufacturer="Merck",
        brand="Cyanokit",
        strength_mcg_per_ml=Decimal(25000),
        container=Container.SINGLE_DOSE_VIAL,
        volume_ml=Decimal(200),
        for_deficiency=False,
    )
    lot = _lot(w.session, w.staff.nurse, antidote, "X1", date(2027, 1, 31))
    refused(w, w.request(product_id=antidote, lot_id=lot), "product_not_for_deficiency")


def test_a_product_outside_the_deficiency_range_cannot_be_saved(world: World) -> None:
    w = world
    before = snapshot(w.session)
    with pytest.raises(ValidationFailed) as caught:
        _product(
            w.session,
            w.staff.pharmacist,
            manufacturer="Typed in wrongly",
            strength_mcg_per_ml=Decimal(25000),
            container=Container.SINGLE_DOSE_VIAL,
            volume_ml=Decimal(200),
        )
    assert "100 mcg/mL to 5,000 mcg/mL" in caught.value.errors["strength_mcg_per_ml"]
    with pytest.raises(ValidationFailed) as caught:
        _product(w.session, w.staff.pharmacist, manufacturer="Big", volume_ml=Decimal(200), brand="x")
    assert "at most 30 mL" in caught.value.errors["volume_ml"]
    assert snapshot(w.session) == before


def test_a_product_already_stored_outside_the_range_is_still_refused_at_the_dose(world: World) -> None:
    """Rules are checked at the moment of the act: a product saved before the range was tightened."""
    w = world
    raw = clinic.dose_rules_raw(w.session)
    raw["deficiency_products"]["strength_max_mcg_per_ml"] = 500
    clinic.set_dose_rules(w.session, w.staff.pharmacist, raw, reason="local formulary")
    refused(w, w.request(), "product_out_of_range")


def test_formulation_differs_from_the_plan(world: World) -> None:
    w = world
    cnc = _product(
        w.session, w.staff.pharmacist, formulation=Formulation.CYANOCOBALAMIN, manufacturer="Fresenius"
    )
    lot = _lot(w.session, w.staff.nurse, cnc, "C1", date(2027, 1, 31))
    refused(w, w.request(product_id=cnc, lot_id=lot), "formulation_mismatch")


def test_strength_differs_from_the_verified_strength(world: World) -> None:
    w = world
    weak = _product(
        w.session, w.staff.pharmacist, strength_mcg_per_ml=Decimal(500), volume_ml=Decimal(2), brand="Half"
    )
    lot = _lot(w.session, w.staff.nurse, weak, "W1", date(2027, 1, 31))
    refused(w, w.request(product_id=weak, lot_id=lot), "strength_mismatch")


def test_a_change_of_strength_goes_back_for_verification(world: World) -> None:
    w = world
    plan = plans.get_plan(w.session, w.staff.nurse, w.plan_id)
    t = w.templates["uk_hoc_no_neuro"]
    edited = plans.update_plan(
        w.session,
        w.staff.pharmacist,
        w.plan_id,
        plans.PlanInput(
            t.id,
            t.formulation,
            Decimal(1000),
            Route.IM,
            NOW.date(),
            "Dr Shah",
            strength_mcg_per_ml=Decimal(500),
        ),
        expected_version=plan.version_id,
        reason="only 500 mcg/mL in stock",
        clock=CLOCK,
    )
    assert edited.status == PlanStatus.DRAFT
    queue = {i.plan.id: i for i in plans.verification_queue(w.session, w.staff.pharmacist2)}
    assert queue[w.plan_id].changes["strength_mcg_per_ml"] == ("1000", "500")


def test_dose_differs_from_the_plans_dose_whatever_unit(world: World) -> None:
    w = world
    refused(w, w.request(dose_mcg=Decimal(1)), "dose_mismatch")  # "1" typed meaning 1 mg
    from b12desk.domain.units import parse_dose_mcg

    row = give(w, w.request(dose_mcg=parse_dose_mcg("1 mg")))  # the same dose in mg is the plan's
    assert row.dose_mcg == 1000


def _weak_plan_world(w: World, container: Container, volume: Decimal) -> tuple[adm.DoseRequest, int]:
    """A patient whose plan was verified for a 100 mcg/mL product, and that product in stock."""
    weak = _product(
        w.session,
        w.staff.pharmacist,
        manufacturer="Weak",
        strength_mcg_per_ml=Decimal(100),
        container=container,
        volume_ml=volume,
    )
    lot = _lot(w.session, w.staff.nurse, weak, "V100", date(2027, 1, 31))
    other = _patient(w.session, w.staff.nurse, "P2")
    plan = _verified_plan(w.session, w.staff, w.templates, other, strength_mcg_per_ml=Decimal(100))
    if container == Container.MULTI_DOSE_VIAL:
        vial = inv.open_vial(w.session, w.staff.nurse, lot_id=lot, clock=CLOCK)
        return w.request(
            patient_id=other, plan_id=plan.id, product_id=weak, lot_id=None, vial_id=vial.id
        ), weak
    return w.request(patient_id=other, plan_id=plan.id, product_id=weak, lot_id=lot), weak


def test_volume_above_the_sites_maximum(world: World) -> None:
    request, _ = _weak_plan_world(world, Container.MULTI_DOSE_VIAL, Decimal(30))
    error = refused(world, request, "volume_above_site_max")  # 1,000 mcg of 100 mcg/mL = 10 mL
    assert "10 mL" in str(error)


def test_volume_above_one_container(world: World) -> None:
    request, _ = _weak_plan_world(world, Container.AMPOULE, Decimal(1))
    refused(world, request, "volume_above_container")


def test_lebers_disease_flagged_after_verification(world: World) -> None:
    """Set through the roster the flag sends the plan back; set any other way, the check still sees it."""
    w = world
    other = _patient(w.session, w.staff.nurse, "P2")
    cnc = _product(
        w.session, w.staff.pharmacist, formulation=Formulation.CYANOCOBALAMIN, manufacturer="Fresenius"
    )
    lot = _lot(w.session, w.staff.nurse, cnc, "C1", date(2027, 1, 31))
    plan = _verified_plan(w.session, w.staff, w.templates, other, code="us_cnc_common")
    request = w.request(patient_id=other, plan_id=plan.id, product_id=cnc, lot_id=lot)
    w.session.execute(update(Patient).where(Patient.id == other).values(flag_lebers_disease=True))
    refused(w, request, "lebers_cyanocobalamin")


def test_hypersensitivity_flagged_after_verification(world: World) -> None:
    w = world
    w.session.execute(
        update(Patient).where(Patient.id == w.patient_id).values(flag_b12_hypersensitivity=True)
    )
    refused(w, w.request(), "hypersensitivity")


def test_benzyl_alcohol_from_the_products_structured_preservatives(world: World) -> None:
    w = world
    benzyl = _product(
        w.session, w.staff.pharmacist, brand="With BA", preservatives=frozenset({Preservative.BENZYL_ALCOHOL})
    )
    lot = _lot(w.session, w.staff.nurse, benzyl, "B1", date(2027, 1, 31))
    w.session.execute(
        update(Patient).where(Patient.id == w.patient_id).values(flag_benzyl_alcohol_sensitivity=True)
    )
    refused(w, w.request(product_id=benzyl, lot_id=lot), "benzyl_alcohol")
    give(w, w.request())  # the preservative-free ampoule is fine


def test_a_contraindication_flag_changed_in_the_roster_returns_the_plan_to_the_queue(world: World) -> None:
    w = world
    detail = patients.get_patient(w.session, w.staff.nurse, w.patient_id)
    patients.update_patient(
        w.session,
        w.staff.nurse,
        w.patient_id,
        replace(detail.data, flag_b12_hypersensitivity=True),
        expected_version=detail.version_id,
    )
    plan = plans.get_plan(w.session, w.staff.nurse, w.plan_id)
    assert plan.status == PlanStatus.DRAFT
    assert "Cobalt or B12 hypersensitivity recorded" in plan.review_reason
    queue = plans.verification_queue(w.session, w.staff.pharmacist2)
    assert [i.plan.review_reason for i in queue if i.plan.id == w.plan_id] == [plan.review_reason]
    refused(w, w.request(), "plan_not_verified")
    # And the pharmacist cannot simply verify it again: the flag stops the verification.
    with pytest.raises(ValidationFailed, match="hypersensitive"):
        plans.verify_plan(
            w.session, w.staff.pharmacist2, w.plan_id, password=PASSWORD, expected_version=plan.version_id
        )


def test_verification_refuses_an_archived_patient_or_lebers_with_cyanocobalamin(world: World) -> None:
    w = world
    other = _patient(w.session, w.staff.nurse, "P2")
    t = w.templates["us_cnc_common"]
    draft = plans.create_plan(
        w.session,
        w.staff.pharmacist,
        other,
        plans.PlanInput(t.id, t.formulation, Decimal(1000), Route.IM, NOW.date(), "Dr Shah"),
        clock=CLOCK,
    )
    w.session.execute(update(Patient).where(Patient.id == other).values(flag_lebers_disease=True))
    before = snapshot(w.session)
    with pytest.raises(ValidationFailed, match="Leber"):
        plans.verify_plan(
            w.session, w.staff.pharmacist2, draft.id, password=PASSWORD, expected_version=draft.version_id
        )
    w.session.execute(
        update(Patient).where(Patient.id == other).values(flag_lebers_disease=False, archived=True)
    )
    with pytest.raises(ValidationFailed, match="archived"):
        plans.verify_plan(
            w.session, w.staff.pharmacist2, draft.id, password=PASSWORD, expected_version=draft.version_id
        )
    assert snapshot(w.session) == before


def test_time_in_the_future(world: World) -> None:
    refused(world, world.request(given_at=NOW + timedelta(minutes=6)), "time_in_future")
    give(world, world.request(given_at=NOW + timedelta(minutes=4)))  # a workstation's clock a little ahead


def test_backdated_more_than_a_day_needs_a_reason(world: World) -> None:
    w = world
    later = at(NOW + timedelta(hours=25))
    row = warned(w, w.request(), "backdated", clock=later)
    assert row.given_at == NOW


def test_a_second_dose_the_same_day(world: World) -> None:
    w = world
    give(w, w.request(given_at=NOW - timedelta(hours=2)))
    refused(w, w.request(site=InjectionSite.VENTROGLUTEAL_RIGHT), "second_dose_same_day")


def test_sooner_than_the_phases_minimum_interval(world: World) -> None:
    w = world
    give(w, w.request(given_at=NOW - timedelta(days=1)), clock=CLOCK)
    warned(w, w.request(site=InjectionSite.VENTROGLUTEAL_RIGHT), "interval_too_short")


def test_lot_expired_at_the_later_of_the_recorded_time_and_now(world: World) -> None:
    w = world
    short = _lot(w.session, w.staff.nurse, w.ampoule_id, "S1", NOW.date())
    # Given today at 10:00, recorded the next morning: the lot expired at midnight, so it is refused.
    next_morning = at(NOW + timedelta(hours=20))
    refused(w, w.request(lot_id=short), "lot_expired", clock=next_morning)
    # Recorded late the same evening: the lot is still in date.
    give(w, w.request(lot_id=short), clock=at(NOW.replace(hour=23, minute=50)))


def test_vial_past_its_discard_by_date(world: World) -> None:
    w = world
    old_vial = inv.open_vial(
        w.session, w.staff.nurse, lot_id=w.vial_lot_id, clock=at(NOW - timedelta(days=29))
    )
    refused(w, w.vial_request(vial_id=old_vial.id), "vial_past_discard_by")


def test_not_enough_left_in_the_vial(world: World) -> None:
    w = world
    w.session.execute(update(Vial).where(Vial.id == w.vial_id).values(remaining_ml=Decimal("0.4")))
    refused(w, w.vial_request(), "vial_insufficient")


def test_a_site_the_clinic_switched_off(world: World) -> None:
    refused(world, world.request(site=InjectionSite.DORSOGLUTEAL_LEFT), "site_disabled")


def test_a_site_switched_back_on_is_accepted(world: World) -> None:
    w = world
    raw = clinic.dose_rules_raw(w.session)
    raw["injection_sites"]["dorsogluteal"]["enabled"] = True
    clinic.set_dose_rules(w.session, w.staff.pharmacist, raw, reason="trained staff")
    give(w, w.request(site=InjectionSite.DORSOGLUTEAL_LEFT))


def test_the_same_site_as_last_time(world: World) -> None:
    w = world
    give(w, w.request(given_at=NOW - timedelta(days=2)), clock=at(NOW - timedelta(days=2)))
    warned(w, w.request(), "same_site_as_last")


def test_a_vial_emptied_by_another_workstation_meanwhile_writes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check passed, then the stock went before the write: the conditional update refuses, and not
    even the administration row is left behind, whatever the caller then does with its transaction."""
    w = world
    original = inv.reserve_dose_stock

    def race(session: Session, **kw: Any) -> inv.DoseStock:
        session.execute(update(Vial).where(Vial.id == w.vial_id).values(remaining_ml=Decimal("0.5")))
        session.execute(
            StockMovement.__table__.insert().values(
                lot_id=w.vial_lot_id,
                vial_id=w.vial_id,
                kind=MovementKind.WASTED,
                containers=0,
                volume_ml=Decimal("-29.5"),
                reason="another workstation",
                staff_id=w.staff.nurse.id,
                at=NOW,
            )
        )
        return original(session, **kw)

    monkeypatch.setattr(inv, "reserve_dose_stock", race)
    w.session.flush()
    count = w.session.scalar(select(func.count()).select_from(Administration))
    with pytest.raises(inv.StockUnavailable, match=r"holds 0\.5 mL"):
        give(w, w.vial_request())
    assert w.session.scalar(select(func.count()).select_from(Administration)) == count


# --- the clinic clock -----------------------------------------------------------------------------------


def test_east_of_greenwich_an_expired_lot_is_refused_at_local_midnight(world: World) -> None:
    w = world
    clinic.set_time_zone(w.session, w.staff.admin, "Asia/Tokyo")
    expiry = date(2026, 12, 1)
    lot = _lot(
        w.session,
        w.staff.nurse,
        w.ampoule_id,
        "T1",
        expiry,
        clock=fixed_clock(datetime(2026, 11, 30, 12, tzinfo=LONDON), "Asia/Tokyo"),
    )
    moment = datetime(2026, 12, 1, 16, 0, tzinfo=ZoneInfo("UTC"))  # 01:00 on 12-02 in Tokyo
    clock = fixed_clock(moment, "Asia/Tokyo")
    assert clinic.clinic_clock(w.session).zone_name == "Asia/Tokyo"
    refused(w, w.request(lot_id=lot, given_at=moment), "lot_expired", clock=clock)


def test_services_use_the_clinic_zone_by_default(world: World) -> None:
    w = world
    clinic.set_time_zone(w.session, w.staff.admin, "America/Los_Angeles")
    clock = clinic.clinic_clock(w.session)
    assert clock.zone_name == "America/Los_Angeles"
    with pytest.raises(ValidationFailed, match="IANA"):
        clinic.set_time_zone(w.session, w.staff.admin, "Europe/Londn")


# --- doses given elsewhere -------------------------------------------------------------------------------


def test_doses_given_elsewhere_go_through_the_same_check(world: World) -> None:
    w = world
    before = snapshot(w.session)
    with pytest.raises(adm.DoseRefused) as caught:
        adm.record_external_doses(
            w.session,
            w.staff.nurse,
            plan_id=w.plan_id,
            days=[NOW.date(), NOW.date() + timedelta(days=3)],
            clock=CLOCK,
        )
    assert {f.code for f in caught.value.findings if f.blocks} == {"time_in_future"}
    assert snapshot(w.session) == before  # the good date went back with the bad one
    with pytest.raises(adm.DoseRefused) as caught:
        adm.record_external_doses(
            w.session, w.staff.nurse, plan_id=w.plan_id, days=[NOW.date() - timedelta(days=10)], clock=CLOCK
        )
    assert "before_plan_start" in {f.code for f in caught.value.findings}
    assert "continuing" in str(caught.value)
    assert snapshot(w.session) == before
    rows = adm.record_external_doses(
        w.session, w.staff.nurse, plan_id=w.plan_id, days=[NOW.date()], clock=CLOCK
    )
    assert rows[0].external and rows[0].lot_id is None
    assert snapshot(w.session)["lots"] == before["lots"]  # nothing drawn here


def test_a_plan_continuing_treatment_from_elsewhere_takes_earlier_doses_and_keeps_its_tasks(
    world: World,
) -> None:
    w = world
    other = _patient(w.session, w.staff.nurse, "P2")
    plan = _verified_plan(w.session, w.staff, w.templates, other, continues_elsewhere=True)
    queue_snapshot = w.session.get(TreatmentPlan, plan.id).verified_snapshot  # type: ignore[union-attr]
    assert '"continues_elsewhere":true' in queue_snapshot
    adm.record_external_doses(
        w.session,
        w.staff.nurse,
        plan_id=plan.id,
        days=[NOW.date() - timedelta(days=4), NOW.date() - timedelta(days=2)],
        clock=CLOCK,
    )
    schedule = plans.plan_schedule(w.session, w.staff.nurse, plan.id, today=NOW.date())
    nxt = schedule.next_dose()
    assert nxt is not None and nxt.number == 3 and nxt.due >= NOW.date()
    due = w.session.scalars(
        select(ScheduledEvent).where(
            ScheduledEvent.plan_id == plan.id, ScheduledEvent.status == EventStatus.DUE
        )
    ).all()
    assert all(e.due_on >= NOW.date() for e in due)  # nothing overdue before the plan began
    assert any(e.label == "Baseline serum B12" for e in due)  # the baseline labs are not lost


# --- corrections -----------------------------------------------------------------------------------------


def test_entered_in_error_returns_the_volume_to_a_usable_vial(world: World) -> None:
    w = world
    row = give(w, w.vial_request())
    before_schedule = plans.plan_schedule(w.session, w.staff.nurse, w.plan_id, today=NOW.date())
    assert before_schedule.next_dose().number == 2  # type: ignore[union-attr]
    with pytest.raises(auth.AuthenticationFailed):
        adm.mark_entered_in_error(
            w.session, w.staff.nurse, row.id, reason="wrong patient", password="x", clock=CLOCK
        )
    marked, stock = adm.mark_entered_in_error(
        w.session,
        w.staff.nurse,
        row.id,
        reason="recorded for the wrong patient",
        password=PASSWORD,
        clock=CLOCK,
    )
    assert (
        marked.status == RecordStatus.ENTERED_IN_ERROR
        and marked.amendment_reason == "recorded for the wrong patient"
    )
    assert marked.corrected_by == "Nurse" and "returned to vial" in stock
    vial = w.session.get(Vial, w.vial_id)
    assert vial is not None and vial.remaining_ml == 30
    schedule = plans.plan_schedule(w.session, w.staff.nurse, w.plan_id, today=NOW.date())
    assert schedule.next_dose().number == 1  # type: ignore[union-attr]
    actions = w.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.entity == "administration", AuditEvent.entity_id == str(row.id))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["create", "entered_in_error"]
    assert adm.get_administration(w.session, w.staff.nurse, row.id).status == RecordStatus.ENTERED_IN_ERROR
    with pytest.raises(ValidationFailed, match="already entered in error"):
        adm.mark_entered_in_error(
            w.session, w.staff.nurse, row.id, reason="again", password=PASSWORD, clock=CLOCK
        )


def test_entered_in_error_from_a_discarded_vial_returns_nothing_but_says_why(world: World) -> None:
    w = world
    row = give(w, w.vial_request())
    inv.discard_vial(
        w.session, w.staff.nurse, vial_id=w.vial_id, reason=WasteReason.CONTAMINATED, clock=CLOCK
    )
    _, stock = adm.mark_entered_in_error(
        w.session, w.staff.nurse, row.id, reason="duplicate entry", password=PASSWORD, clock=CLOCK
    )
    assert "nothing returned" in stock
    vial = w.session.get(Vial, w.vial_id)
    assert vial is not None and vial.remaining_ml == 0 and vial.status == VialStatus.DISCARDED
    note = w.session.scalar(
        select(StockMovement).where(
            StockMovement.administration_id == row.id, StockMovement.kind == MovementKind.DOSE_RETURNED
        )
    )
    assert note is not None and note.volume_ml == 0 and "duplicate entry" in note.reason


def test_entered_in_error_puts_an_ampoule_back_in_its_lot(world: World) -> None:
    w = world
    row = give(w, w.request())
    adm.mark_entered_in_error(
        w.session, w.staff.nurse, row.id, reason="never given", password=PASSWORD, clock=CLOCK
    )
    lot = w.session.get(Lot, w.ampoule_lot_id)
    assert lot is not None and lot.quantity_on_hand == 10


def test_amending_the_site_keeps_the_original_readable_and_marked(world: World) -> None:
    w = world
    row = give(w, w.request())
    new = adm.amend_administration(
        w.session,
        w.staff.nurse,
        row.id,
        site=InjectionSite.DELTOID_RIGHT,
        reason="site written wrongly",
        clock=CLOCK,
    )
    assert new.id != row.id and new.amends_id == row.id and new.site == InjectionSite.DELTOID_RIGHT
    old = adm.get_administration(w.session, w.staff.nurse, row.id)
    assert old.status == RecordStatus.AMENDED and old.site == InjectionSite.VENTROGLUTEAL_LEFT
    lot = w.session.get(Lot, w.ampoule_lot_id)
    assert lot is not None and lot.quantity_on_hand == 9  # the same draw, not another
    # a correction of a correction returns the one drawn container once
    adm.mark_entered_in_error(
        w.session, w.staff.nurse, new.id, reason="never given", password=PASSWORD, clock=CLOCK
    )
    w.session.expire_all()
    assert w.session.get(Lot, w.ampoule_lot_id).quantity_on_hand == 10  # type: ignore[union-attr]


def test_amending_the_time_is_checked_like_a_dose(world: World) -> None:
    w = world
    first = give(w, w.request(given_at=NOW - timedelta(days=2)), clock=at(NOW - timedelta(days=2)))
    second = give(w, w.request(site=InjectionSite.DELTOID_LEFT))
    before = snapshot(w.session)
    with pytest.raises(ValidationFailed, match="already given"):
        adm.amend_administration(
            w.session,
            w.staff.nurse,
            second.id,
            given_at=first.given_at + timedelta(hours=1),
            reason="time",
            clock=CLOCK,
        )
    with pytest.raises(ValidationFailed, match="future"):
        adm.amend_administration(
            w.session, w.staff.nurse, second.id, given_at=NOW + timedelta(hours=2), reason="time", clock=CLOCK
        )
    assert snapshot(w.session) == before
    moved = adm.amend_administration(
        w.session,
        w.staff.nurse,
        second.id,
        given_at=NOW - timedelta(hours=1),
        reason="clock was wrong",
        clock=CLOCK,
    )
    assert moved.given_at == NOW - timedelta(hours=1)


def test_a_refused_dose_is_recorded_with_its_reason_and_draws_nothing(world: World) -> None:
    w = world
    refused(w, w.request(outcome=AdministrationOutcome.REFUSED), "reason_missing")
    before = snapshot(w.session)
    row = give(w, w.request(outcome=AdministrationOutcome.REFUSED, note="patient declined today"))
    assert row.outcome == AdministrationOutcome.REFUSED and row.volume_ml == 0
    assert snapshot(w.session)["lots"] == before["lots"]


def test_a_pharmacist_cannot_record_a_dose(world: World) -> None:
    from b12desk.services.common import PermissionDenied

    before = snapshot(world.session)
    with pytest.raises(PermissionDenied):
        adm.record_dose(world.session, world.staff.pharmacist, world.request(), clock=CLOCK)
    assert snapshot(world.session) == before


def test_a_cobalt_allergy_recorded_since_verification_needs_the_nurses_acknowledgement(world: World) -> None:
    w = world
    w.session.execute(update(Patient).where(Patient.id == w.patient_id).values(flag_cobalt_allergy=True))
    warned(w, w.request(), "cobalt_allergy")


def test_an_oral_plan_takes_no_injection(world: World) -> None:
    """Oral B12 is taken at home: a verified oral plan has no dose to record against it."""
    w = world
    other = _patient(w.session, w.staff.nurse, "OR1", cause=Cause.MEDICATION_METFORMIN)
    plan = _verified_plan(
        w.session,
        w.staff,
        w.templates,
        other,
        code="oral_cnc",
        supplied_as="Cyanocobalamin 1,000 mcg tablets, 28",
    )
    refused(w, w.request(patient_id=other, plan_id=plan.id), "oral_plan")


def test_a_dose_after_the_fda_daily_week_waits_for_the_response_review(world: World) -> None:
    """Seven daily doses given: the alternate-day phase waits for a review recording a response."""
    w = world
    other = _patient(w.session, w.staff.nurse, "FDA1")
    start = NOW.date() - timedelta(days=10)
    plan = _verified_plan(
        w.session, w.staff, w.templates, other, code="us_cnc_fda", start=start, dose_mcg=Decimal(100)
    )
    for k in range(7):
        given = NOW - timedelta(days=9 - k)
        adm.record_dose(
            w.session,
            w.staff.nurse,
            w.request(
                patient_id=other,
                plan_id=plan.id,
                given_at=given,
                dose_mcg=Decimal(100),
                external=True,
                product_id=None,
                lot_id=None,
                site=(InjectionSite.DELTOID_LEFT, InjectionSite.DELTOID_RIGHT)[k % 2],
            ),
            clock=at(given),
        )
    schedule = plans.plan_schedule(w.session, w.staff.nurse, plan.id, today=NOW.date())
    assert schedule.waiting_for_review == 0 and schedule.next_dose() is None
    eighth = w.request(
        patient_id=other,
        plan_id=plan.id,
        dose_mcg=Decimal(100),
        external=True,
        product_id=None,
        lot_id=None,
        site=InjectionSite.DELTOID_RIGHT,
    )
    before = snapshot(w.session)
    with pytest.raises(adm.DoseRefused) as caught:
        adm.record_dose(w.session, w.staff.nurse, eighth, clock=CLOCK)
    assert {f.code for f in caught.value.unacknowledged} == {"awaiting_review"}
    assert snapshot(w.session) == before
    # The review records a response: the alternate-day phase follows once a second pharmacist has verified
    # it (until then the plan is a draft and no dose is recorded), and the dose needs no acknowledgement.
    ended = plans.end_phase(
        w.session, w.staff.pharmacist, plan.id, on=NOW.date(), reason="Reticulocytes rising", clock=CLOCK
    )
    assert ended.status == PlanStatus.DRAFT and "ended at a review" in ended.review_reason
    with pytest.raises(adm.DoseRefused):
        give(w, replace(eighth, given_at=NOW))
    with pytest.raises(PermissionDenied):  # the pharmacist who ended the phase does not verify it
        plans.verify_plan(
            w.session,
            w.staff.pharmacist,
            plan.id,
            password=PASSWORD,
            expected_version=ended.version_id,
            clock=CLOCK,
        )
    plans.verify_plan(
        w.session,
        w.staff.pharmacist2,
        plan.id,
        password=PASSWORD,
        expected_version=ended.version_id,
        clock=CLOCK,
    )
    schedule = plans.plan_schedule(w.session, w.staff.nurse, plan.id, today=NOW.date())
    nxt = schedule.next_dose()
    assert schedule.waiting_for_review is None and nxt is not None and nxt.phase_index == 1
    assert give(w, replace(eighth, given_at=NOW)).dose_mcg == Decimal(100)
