"""Treatment plans: hand-worked schedules for every shipped template, verification, rules, doses."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from b12desk.data.models import ScheduledEvent
from b12desk.domain.enums import (
    Cause,
    Container,
    EventStatus,
    Formulation,
    InjectionSite,
    PhaseKind,
    PlanStatus,
    Presentation,
    Route,
)
from b12desk.domain.patients import PatientInput
from b12desk.domain.schedule import build_schedule
from b12desk.services import administrations, auth, patients, plans
from b12desk.services import inventory as inv
from b12desk.services.common import PermissionDenied, ValidationFailed
from tests.clinic_time import clinic_today
from tests.conftest import PASSWORD, Staffing

MON_TO_FRI = frozenset(range(5))
START = date(2026, 1, 5)  # a Monday


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


# Worked by hand from each template's text, with the clinic open Monday to Friday: a due date on a
# weekend moves to the Monday, and the next dose counts from the moved date.
EXPECTED_DOSES: dict[str, list[date]] = {
    # 3 times a week for 2 weeks (gaps 2-2-3), then every 90 days from the last induction dose.
    "uk_hoc_no_neuro": [
        d(1, 5),
        d(1, 7),
        d(1, 9),
        d(1, 12),
        d(1, 14),
        d(1, 16),
        d(4, 16),
        d(7, 15),
        d(10, 13),
    ],
    # Alternate days until a review ends it: Sunday the 11th and 18th move to Monday.
    "uk_hoc_neuro": [d(1, 5), d(1, 7), d(1, 9), d(1, 12), d(1, 14), d(1, 16), d(1, 19), d(1, 21)],
    # Every 90 days: 5 Apr, 5 Jul and 4 Oct are Sundays.
    "uk_hoc_prophylaxis": [d(1, 5), d(4, 6), d(7, 6), d(10, 5)],
    # 100 mcg daily x7, alternate days x7, twice a week x5, then every 30 days.
    "us_cnc_fda": [
        d(1, 5),
        d(1, 6),
        d(1, 7),
        d(1, 8),
        d(1, 9),
        d(1, 12),
        d(1, 13),
        d(1, 15),
        d(1, 19),
        d(1, 21),
        d(1, 23),
        d(1, 26),
        d(1, 28),
        d(1, 30),
        d(2, 2),
        d(2, 5),
        d(2, 9),
        d(2, 12),
        d(2, 16),
        d(3, 18),
        d(4, 17),
    ],
    # 1,000 mcg daily x7, weekly x4, then every 30 days (11 April is a Saturday).
    "us_cnc_common": [
        d(1, 5),
        d(1, 6),
        d(1, 7),
        d(1, 8),
        d(1, 9),
        d(1, 12),
        d(1, 13),
        d(1, 20),
        d(1, 27),
        d(2, 3),
        d(2, 10),
        d(3, 12),
        d(4, 13),
    ],
    # 1,000 mcg every 30 days (5 April is a Sunday).
    "post_bariatric": [d(1, 5), d(2, 4), d(3, 6), d(4, 6), d(5, 6)],
    # Treatment first (1,000 mcg daily x7, weekly x4), then ASMBS monthly.
    "post_bariatric_treatment": [
        d(1, 5),
        d(1, 6),
        d(1, 7),
        d(1, 8),
        d(1, 9),
        d(1, 12),
        d(1, 13),
        d(1, 20),
        d(1, 27),
        d(2, 3),
        d(2, 10),
        d(3, 12),
    ],
    # Leber's: daily for 14 doses (weekends move to Monday: only open days), then twice a week until a
    # review ends it (gaps of 3 and 4 days).
    "uk_hoc_lebers": [
        d(1, 5),
        d(1, 6),
        d(1, 7),
        d(1, 8),
        d(1, 9),
        d(1, 12),
        d(1, 13),
        d(1, 14),
        d(1, 15),
        d(1, 16),
        d(1, 19),
        d(1, 20),
        d(1, 21),
        d(1, 22),
        d(1, 26),
        d(1, 29),
        d(2, 2),
    ],
}
# The FDA label's alternate-day phase waits for the response review: the preview stops after 7 doses.
FDA_BEFORE_REVIEW = EXPECTED_DOSES.pop("us_cnc_fda")


@pytest.fixture
def templates(session: Session) -> dict[str, plans.TemplateRow]:
    plans.ensure_shipped_templates(session)
    admin = auth.authenticate(session, username="admin", password=PASSWORD)
    return {t.code: t for t in plans.list_templates(session, admin)}


@pytest.mark.parametrize("code", sorted(EXPECTED_DOSES))
def test_each_shipped_template_gives_the_hand_worked_schedule(
    templates: dict[str, plans.TemplateRow], code: str
) -> None:
    expected = EXPECTED_DOSES[code]
    schedule = plans.preview_schedule(
        templates[code].definition, start=START, days=MON_TO_FRI, until=expected[-1]
    )
    assert [x.due for x in schedule.doses] == expected


def test_the_fda_template_waits_for_the_response_review_before_alternate_days(
    templates: dict[str, plans.TemplateRow],
) -> None:
    definition = templates["us_cnc_fda"].definition
    preview = plans.preview_schedule(definition, start=START, days=MON_TO_FRI, until=d(6, 30))
    assert [x.due for x in preview.doses] == FDA_BEFORE_REVIEW[:7]  # daily x7, then nothing scheduled
    daily = FDA_BEFORE_REVIEW[:7]
    waiting = build_schedule(
        definition.phases, start=START, given=daily, today=d(1, 14), until=d(6, 30), open_days=MON_TO_FRI
    )
    assert waiting.waiting_for_review == 0 and waiting.next_dose() is None
    # The review on 13 January records a response: alternate days from the last daily dose, and on.
    reviewed = build_schedule(
        definition.phases,
        start=START,
        given=daily,
        today=d(1, 13),
        until=FDA_BEFORE_REVIEW[-1],
        open_days=MON_TO_FRI,
        phase_ended_on={0: d(1, 13)},
    )
    assert reviewed.waiting_for_review is None
    assert [x.due for x in reviewed.doses] == FDA_BEFORE_REVIEW
    labels = {(t.label, t.due) for t in preview.tasks}
    for n, day in (
        (5, d(1, 9)),
        (6, d(1, 12)),
        (7, d(1, 12)),
    ):  # days 5-7 of treatment; the 10th, 11th: weekend
        assert (f"Haematocrit, day {n} of treatment", day) in labels
        assert (f"Reticulocytes, day {n} of treatment", day) in labels


def test_an_oral_template_schedules_its_reviews_and_no_injection(
    templates: dict[str, plans.TemplateRow],
) -> None:
    preview = plans.preview_schedule(templates["oral_cnc"].definition, start=START, days=MON_TO_FRI)
    assert preview.doses == ()
    assert (
        "Review at 3 months: symptoms, taking the tablets, and the medicine or diet behind the deficiency",
        d(4, 6),
    ) in {(t.label, t.due) for t in preview.tasks}


def test_hand_worked_tasks_for_the_uk_template(templates: dict[str, plans.TemplateRow]) -> None:
    schedule = plans.preview_schedule(
        templates["uk_hoc_no_neuro"].definition, start=START, days=MON_TO_FRI, until=d(6, 30, 2027)
    )
    due = {(t.label, t.due) for t in schedule.tasks}
    assert ("Reticulocyte response at 7-10 days", d(1, 12)) in due  # first dose + 7
    assert ("Full blood count at 8 weeks: haemoglobin", d(3, 2)) in due  # + 56
    assert ("Symptom review at 3 months", d(4, 6)) in due  # + 90 is Sunday 5 April: the Monday
    yearly = sorted(t.due for t in schedule.tasks if t.label.startswith("Yearly review"))
    assert yearly[0] == d(4, 16, 2027)  # a year after the first maintenance dose
    potassium = [(t.due, t.window_end) for t in schedule.tasks if t.lab_test_code == "potassium"]
    assert potassium == [(d(1, 6), d(1, 7))]  # 24-48 hours after the first dose, never on its day
    severe = plans.preview_schedule(
        templates["uk_hoc_no_neuro"].definition,
        start=START,
        days=MON_TO_FRI,
        conditions=frozenset({"severe_anaemia"}),
    )
    again = [(t.due, t.window_end) for t in severe.tasks if t.lab_test_code == "potassium"]
    assert again == [(d(1, 6), d(1, 7)), (d(1, 8), d(1, 9))]  # and again at 3-4 days
    platelets = sorted(t.due for t in schedule.tasks if t.lab_test_code == "platelets")
    assert platelets == [START, d(1, 12), d(2, 2)]  # baseline, 7-10 days, 4 weeks


def test_a_preview_lists_nothing_after_the_day_it_runs_to(templates: dict[str, plans.TemplateRow]) -> None:
    """Maintenance starts about 3 months in; its first yearly review, 15 months out, is not in 12 months."""
    until = START + timedelta(days=365)
    for code in ("uk_hoc_no_neuro", "uk_hoc_neuro", "oral_cnc"):
        preview = plans.preview_schedule(
            templates[code].definition, start=START, days=MON_TO_FRI, until=until
        )
        late = [(t.label, t.due) for t in preview.tasks if t.due > until]
        assert late == [], code
        assert preview.tasks and max(d.due for d in preview.doses or preview.tasks) <= until
    longer = plans.preview_schedule(
        templates["uk_hoc_no_neuro"].definition, start=START, days=MON_TO_FRI, until=d(6, 30, 2027)
    )
    assert any(t.label.startswith("Yearly review") for t in longer.tasks)  # there, once the span reaches it


def test_every_template_cites_its_source(templates: dict[str, plans.TemplateRow]) -> None:
    assert set(EXPECTED_DOSES) | {"custom"} <= set(templates)
    assert all(t.source for t in templates.values())


# --- plans ---------------------------------------------------------------------------------------------


def make_patient(session: Session, staff: Staffing, **kw: object) -> int:
    values: dict[str, object] = {
        "mrn": "P1",
        "family_name": "Reid",
        "given_name": "Ann",
        "date_of_birth": date(1950, 5, 5),
        "cause": Cause.PERNICIOUS_ANAEMIA,
    }
    values.update(kw)
    return patients.create_patient(session, staff.nurse, PatientInput(**values)).id  # type: ignore[arg-type]


def plan_input(t: plans.TemplateRow, **kw: object) -> plans.PlanInput:
    values: dict[str, object] = {
        "template_id": t.id,
        "formulation": t.formulation,
        "dose_mcg": Decimal(1000),
        "route": Route.IM,
        "start_date": clinic_today(),
        "prescriber": "Dr Shah",
    }
    values.update(kw)
    return plans.PlanInput(**values)  # type: ignore[arg-type]


SUGGESTED: list[tuple[dict[str, object], str | None, str]] = [
    # (the patient's record, the template suggested, words the reason must hold)
    ({}, "uk_hoc_no_neuro", "treated as a deficiency with anaemia until recorded"),
    ({"neuro_involvement": True, "neuro_symptoms": "paraesthesia"}, "uk_hoc_neuro", "alternate days"),
    ({"cause": Cause.DIETARY, "presentation": Presentation.ANAEMIA}, "uk_hoc_no_neuro", "treated first"),
    (
        {"cause": Cause.DIETARY, "presentation": Presentation.PREVENTION},
        "oral_cnc",
        "oral B12 usually suffices",
    ),
    (
        {"cause": Cause.POST_BARIATRIC, "presentation": Presentation.ANAEMIA},
        "post_bariatric_treatment",
        "ASMBS",
    ),
    (
        {"cause": Cause.POST_BARIATRIC, "presentation": Presentation.PREVENTION},
        "post_bariatric",
        "Prevention",
    ),
    ({"cause": Cause.MEDICATION_METFORMIN, "presentation": Presentation.DEFICIENCY}, "oral_cnc", "MHRA"),
    (
        {"cause": Cause.MEDICATION_METFORMIN, "presentation": Presentation.ANAEMIA},
        "uk_hoc_no_neuro",
        "treated",
    ),
    ({"cause": Cause.GASTRECTOMY, "presentation": Presentation.PREVENTION}, "uk_hoc_prophylaxis", "BNF"),
    ({"cause": Cause.UNKNOWN, "presentation": Presentation.PREVENTION}, None, "find the cause"),
    # Leber's disease turns a cyanocobalamin suggestion into hydroxocobalamin.
    (
        {"cause": Cause.POST_BARIATRIC, "presentation": Presentation.ANAEMIA, "flag_lebers_disease": True},
        "uk_hoc_no_neuro",
        "never cyanocobalamin",
    ),
]


@pytest.mark.parametrize(("record", "code", "why"), SUGGESTED)
def test_the_template_suggested_follows_cause_presentation_and_neurology(
    session: Session,
    staff: Staffing,
    templates: dict[str, plans.TemplateRow],
    record: dict[str, object],
    code: str | None,
    why: str,
) -> None:
    pid = make_patient(session, staff, **record)
    suggestion = plans.suggest_template(session, staff.nurse, pid)
    assert (suggestion.template.code if suggestion.template else None) == code
    assert why in suggestion.why


def test_a_dietary_deficiency_with_anaemia_is_suggested_a_treatment_phase(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    """The issue as a clinic met it: dietary anaemia got prophylaxis, with no treatment phase or checks."""
    pid = make_patient(session, staff, cause=Cause.DIETARY, presentation=Presentation.ANAEMIA)
    suggested = plans.suggest_template(session, staff.nurse, pid).template
    assert suggested is not None
    first = suggested.definition.phases[0]
    assert first.kind == PhaseKind.INDUCTION and first.dose_count == 6
    assert {t.lab_test_code for t in first.tasks} >= {
        "reticulocytes",
        "potassium",
        "folate",
        "ferritin",
        "platelets",
    }


def test_self_verification_and_nurse_verification_are_refused(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff)
    plan = plans.create_plan(session, staff.pharmacist, pid, plan_input(templates["uk_hoc_no_neuro"]))
    assert plan.status == PlanStatus.DRAFT
    with pytest.raises(PermissionDenied, match="another pharmacist must verify"):
        plans.verify_plan(
            session, staff.pharmacist, plan.id, password=PASSWORD, expected_version=plan.version_id
        )
    with pytest.raises(PermissionDenied):
        plans.verify_plan(session, staff.nurse, plan.id, password=PASSWORD, expected_version=plan.version_id)
    with pytest.raises(auth.AuthenticationFailed):
        plans.verify_plan(
            session, staff.pharmacist2, plan.id, password="wrong", expected_version=plan.version_id
        )
    verified = plans.verify_plan(
        session, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id
    )
    assert verified.status == PlanStatus.VERIFIED
    assert verified.verified_by == "Pharmacist2"
    assert verified.verification_meaning == "verified formulation, strength and schedule"
    assert verified.verified_at is not None


def _stock(session: Session, staff: Staffing) -> tuple[int, int]:
    product = inv.create_product(
        session,
        staff.pharmacist,
        inv.ProductInput(
            formulation=Formulation.HYDROXOCOBALAMIN,
            manufacturer="Advanz",
            brand="Cobalin-H",
            strength_mcg_per_ml=Decimal(1000),
            container=Container.AMPOULE,
            volume_ml=Decimal(1),
        ),
    )
    lot = inv.receive_stock(
        session,
        staff.nurse,
        product_id=product.id,
        lot_number="H1",
        expiry=clinic_today() + timedelta(days=300),
        quantity=10,
    )
    return product.id, lot.id


def test_no_dose_against_an_unverified_plan(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff)
    product_id, lot_id = _stock(session, staff)
    plan = plans.create_plan(session, staff.pharmacist, pid, plan_input(templates["uk_hoc_no_neuro"]))
    request = administrations.DoseRequest(
        patient_id=pid,
        plan_id=plan.id,
        dose_mcg=Decimal(1000),
        site=InjectionSite.VENTROGLUTEAL_LEFT,
        product_id=product_id,
        lot_id=lot_id,
    )
    with pytest.raises(administrations.DoseRefused, match="until a pharmacist verifies it"):
        administrations.record_dose(session, staff.nurse, request)
    plan = plans.verify_plan(
        session, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id
    )
    row = administrations.record_dose(session, staff.nurse, request)
    assert row.volume_ml == 1
    assert plans.get_plan(session, staff.nurse, plan.id).status == PlanStatus.ACTIVE
    assert inv.list_lots(session, staff.nurse, product_id)[0].quantity == 9


def test_editing_a_verified_plan_returns_it_to_draft_and_shows_the_change(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff)
    plan = plans.create_plan(session, staff.pharmacist, pid, plan_input(templates["uk_hoc_no_neuro"]))
    plan = plans.verify_plan(
        session, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id
    )
    assert session.scalars(
        select(ScheduledEvent).where(
            ScheduledEvent.plan_id == plan.id, ScheduledEvent.status == EventStatus.DUE
        )
    ).first()
    with pytest.raises(ValidationFailed, match="goes back to draft"):
        plans.update_plan(
            session,
            staff.pharmacist2,
            plan.id,
            plan_input(templates["uk_hoc_no_neuro"], prescriber="Dr Okoro"),
            expected_version=plan.version_id,
        )
    edited = plans.update_plan(
        session,
        staff.pharmacist2,
        plan.id,
        plan_input(templates["uk_hoc_no_neuro"], prescriber="Dr Okoro"),
        expected_version=plan.version_id,
        reason="prescriber changed",
    )
    assert edited.status == PlanStatus.DRAFT and edited.verified_by is None
    assert not session.scalars(
        select(ScheduledEvent).where(
            ScheduledEvent.plan_id == plan.id, ScheduledEvent.status == EventStatus.DUE
        )
    ).first()
    queue = plans.verification_queue(session, staff.pharmacist)
    item = next(q for q in queue if q.plan.id == plan.id)
    assert item.previously_verified and item.changes == {"prescriber": ("Dr Shah", "Dr Okoro")}
    # The editor is now the author of this version: the first pharmacist may verify it.
    with pytest.raises(PermissionDenied):
        plans.verify_plan(
            session, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=edited.version_id
        )
    plans.verify_plan(
        session, staff.pharmacist, plan.id, password=PASSWORD, expected_version=edited.version_id
    )
    actions = [h[2] for h in plans.plan_history(session, staff.nurse, plan.id)]
    assert actions == ["verify", "update", "verify", "create"]


def test_lebers_blocks_cyanocobalamin_only(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff, flag_lebers_disease=True)
    with pytest.raises(ValidationFailed, match="optic atrophy"):
        plans.create_plan(session, staff.pharmacist, pid, plan_input(templates["us_cnc_common"]))
    assert plans.create_plan(session, staff.pharmacist, pid, plan_input(templates["uk_hoc_no_neuro"])).id


def test_hypersensitivity_needs_a_reason_and_a_signature(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff, flag_b12_hypersensitivity=True)
    t = templates["uk_hoc_no_neuro"]
    with pytest.raises(ValidationFailed, match="hypersensitive"):
        plans.create_plan(session, staff.pharmacist, pid, plan_input(t))
    with pytest.raises(ValidationFailed, match="password"):
        plans.create_plan(
            session, staff.pharmacist, pid, plan_input(t), override_reason="test dose tolerated"
        )
    with pytest.raises(auth.AuthenticationFailed):
        plans.create_plan(
            session,
            staff.pharmacist,
            pid,
            plan_input(t),
            override_reason="test dose tolerated",
            password="nope",
        )
    plan = plans.create_plan(
        session,
        staff.pharmacist,
        pid,
        plan_input(t),
        override_reason="test dose tolerated",
        password=PASSWORD,
    )
    assert plan.override_reason == "test dose tolerated"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"dose_mcg": Decimal(1)}, "dose_mcg", "outside the template's range"),
        ({"route": Route.IV}, "route", "Never IV"),
        ({"route": Route.DEEP_SC}, "route", "im only"),
        ({"formulation": Formulation.CYANOCOBALAMIN}, "formulation", "is for hydroxocobalamin"),
        ({"prescriber": " "}, "prescriber", "prescriber"),
    ],
)
def test_plan_rules(
    session: Session,
    staff: Staffing,
    templates: dict[str, plans.TemplateRow],
    change: dict[str, object],
    field: str,
    message: str,
) -> None:
    pid = make_patient(session, staff)
    with pytest.raises(ValidationFailed) as err:
        plans.create_plan(session, staff.pharmacist, pid, plan_input(templates["uk_hoc_no_neuro"], **change))
    assert message.lower() in err.value.errors[field].lower()


def test_nurse_cannot_prescribe(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff)
    with pytest.raises(PermissionDenied):
        plans.create_plan(session, staff.nurse, pid, plan_input(templates["uk_hoc_no_neuro"]))


def test_custom_template_needs_phases_first(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff)
    with pytest.raises(ValidationFailed, match="no phases"):
        plans.create_plan(session, staff.pharmacist, pid, plan_input(templates["custom"]))


def test_stopping_maintenance_while_the_cause_persists_needs_a_reason(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff)
    product_id, _lot_id = _stock(session, staff)
    start = clinic_today() - timedelta(days=30)
    plan = plans.create_plan(
        session, staff.pharmacist, pid, plan_input(templates["uk_hoc_no_neuro"], start_date=start)
    )
    plan = plans.verify_plan(
        session, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id
    )
    # the whole induction, given at another clinic: product and site unknown, nothing drawn here
    administrations.record_external_doses(
        session, staff.nurse, plan_id=plan.id, days=[start + timedelta(days=2 * k) for k in range(6)]
    )
    assert inv.list_lots(session, staff.nurse, product_id)[0].quantity == 10
    schedule = plans.plan_schedule(session, staff.nurse, plan.id)
    assert schedule.next_dose() is not None and schedule.next_dose().phase_kind == PhaseKind.MAINTENANCE  # type: ignore[union-attr]
    with pytest.raises(ValidationFailed, match="relapse"):
        plans.stop_plan(session, staff.pharmacist, plan.id, completed=True, reason="")
    ended = plans.stop_plan(
        session, staff.pharmacist, plan.id, completed=True, reason="moved to oral, informed"
    )
    assert ended.status == PlanStatus.COMPLETED


def test_review_ends_the_open_ended_induction(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff, neuro_involvement=True, neuro_symptoms="numb feet")
    plan = plans.create_plan(
        session, staff.pharmacist, pid, plan_input(templates["uk_hoc_neuro"], start_date=clinic_today())
    )
    plan = plans.verify_plan(
        session, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id
    )
    before = plans.plan_schedule(session, staff.nurse, plan.id)
    assert {x.phase_kind for x in before.doses} == {PhaseKind.INDUCTION}
    ended = plans.end_phase(
        session, staff.pharmacist, plan.id, on=clinic_today(), reason="no further improvement"
    )
    assert ended.status == PlanStatus.DRAFT and "Verify phase 2 (maintenance)" in ended.review_reason
    plans.verify_plan(
        session, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=ended.version_id
    )
    after = plans.plan_schedule(session, staff.nurse, plan.id)
    assert after.next_dose() is not None and after.next_dose().phase_kind == PhaseKind.MAINTENANCE  # type: ignore[union-attr]


def test_template_edit_makes_a_new_version_and_plans_keep_theirs(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    pid = make_patient(session, staff)
    t = templates["uk_hoc_prophylaxis"]
    plan = plans.create_plan(session, staff.pharmacist, pid, plan_input(t))
    raw = dict(t.raw)
    raw["phases"] = [dict(raw["phases"][0], interval_days=60)]
    with pytest.raises(PermissionDenied):
        plans.save_template(session, staff.nurse, raw, reason="local protocol")
    new = plans.save_template(session, staff.pharmacist, raw, reason="local protocol: every 2 months")
    assert (new.version, new.definition.phases[0].interval_days) == (t.version + 1, 60)
    assert plans.get_plan(session, staff.nurse, plan.id).template_version == t.version


def test_a_corrected_shipped_template_reaches_a_clinic_that_had_not_edited_it(
    session: Session, staff: Staffing, templates: dict[str, plans.TemplateRow]
) -> None:
    """An older shipped text (no potassium check) gets the correction as a new version; a template the
    clinic edited keeps the clinic's; a plan keeps the version it was verified against."""
    import json

    from b12desk.data.models import RegimenTemplate

    old = session.scalars(select(RegimenTemplate).where(RegimenTemplate.code == "uk_hoc_no_neuro")).one()
    raw = json.loads(old.definition)
    raw["phases"][0]["tasks"] = [
        t for t in raw["phases"][0]["tasks"] if t.get("lab_test_code") != "potassium"
    ]
    old.definition = json.dumps(
        raw, sort_keys=True, separators=(",", ":")
    )  # as an earlier release shipped it
    pid = make_patient(session, staff)
    plan = plans.create_plan(session, staff.pharmacist, pid, plan_input(templates["uk_hoc_no_neuro"]))
    edited = plans.save_template(
        session, staff.pharmacist, plans.shipped_templates()[1] | {"name": "Local neuro"}, reason="local"
    )
    assert plans.ensure_shipped_templates(session) == 1
    rows = {t.code: t for t in plans.list_templates(session, staff.admin)}
    assert rows["uk_hoc_no_neuro"].version == 2
    assert any(t.lab_test_code == "potassium" for t in rows["uk_hoc_no_neuro"].definition.phases[0].tasks)
    assert rows["uk_hoc_neuro"].id == edited.id and rows["uk_hoc_neuro"].name == "Local neuro"
    assert plans.get_plan(session, staff.nurse, plan.id).template_version == 1
    assert plans.ensure_shipped_templates(session) == 0  # once only
