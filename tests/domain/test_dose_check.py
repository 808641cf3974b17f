"""The dose check on plain values: every rule, by changing one fact of a valid dose; the time-zone edges."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from b12desk.data.reference import read_resource_json
from b12desk.domain.dose_check import (
    DoseAttempt,
    DoseFacts,
    DoseRules,
    ExpectedDose,
    LotFacts,
    PastDose,
    PatientFacts,
    PlanFacts,
    ProductFacts,
    RulesError,
    Severity,
    SiteRule,
    VialFacts,
    check_dose,
    parse_dose_rules,
    product_range_problem,
)
from b12desk.domain.enums import (
    AdministrationOutcome,
    Container,
    Formulation,
    InjectionSite,
    PhaseKind,
    PlanStatus,
    Preservative,
    Route,
)

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON)
RULES = parse_dose_rules(read_resource_json("dose_safety.json"))
AMPOULE_LOT = LotFacts(11, product_id=1, lot_number="H1", expiry=date(2027, 6, 30), quantity=10)
AMPOULE = ProductFacts(
    id=1,
    label="Hydroxocobalamin 1,000 mcg/mL, 1 mL ampoule (Cobalin-H)",
    formulation=Formulation.HYDROXOCOBALAMIN,
    strength_mcg_per_ml=Decimal(1000),
    container=Container.AMPOULE,
    volume_ml=Decimal(1),
    for_deficiency=True,
    preservatives=frozenset(),
)
MDV = ProductFacts(
    id=2,
    label="Cyanocobalamin 1,000 mcg/mL, 10 mL multi-dose vial",
    formulation=Formulation.CYANOCOBALAMIN,
    strength_mcg_per_ml=Decimal(1000),
    container=Container.MULTI_DOSE_VIAL,
    volume_ml=Decimal(10),
    for_deficiency=True,
    preservatives=frozenset({Preservative.BENZYL_ALCOHOL}),
)
MDV_LOT = LotFacts(21, product_id=2, lot_number="C7", expiry=date(2027, 3, 31), quantity=4)
OPEN_VIAL = VialFacts(31, MDV_LOT, is_open=True, discard_by=NOW + timedelta(days=20), remaining_ml=Decimal(5))


def valid(**changes: object) -> DoseFacts:
    """A dose that passes every rule: induction dose 3, an ampoule, the ventrogluteal, now."""
    facts = DoseFacts(
        attempt=DoseAttempt(
            patient_id=7,
            given_at=NOW,
            dose_mcg=Decimal(1000),
            route=Route.IM,
            site=InjectionSite.VENTROGLUTEAL_LEFT,
        ),
        patient=PatientFacts(7, archived=False),
        plan=PlanFacts(
            id=3,
            patient_id=7,
            status=PlanStatus.ACTIVE,
            formulation=Formulation.HYDROXOCOBALAMIN,
            strength_mcg_per_ml=Decimal(1000),
            route=Route.IM,
            start_date=date(2026, 11, 27),
        ),
        expected=ExpectedDose(PhaseKind.INDUCTION, 3, Decimal(1000), min_interval_days=2),
        product=AMPOULE,
        lot=AMPOULE_LOT,
        vial=None,
        history=(
            PastDose(1, datetime(2026, 11, 27, 10, tzinfo=LONDON), InjectionSite.VENTROGLUTEAL_RIGHT),
            PastDose(2, datetime(2026, 11, 29, 10, tzinfo=LONDON), InjectionSite.DELTOID_LEFT),
        ),
        rules=RULES,
        now=NOW,
        zone=LONDON,
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def attempt(**changes: object) -> DoseAttempt:
    return replace(valid().attempt, **changes)  # type: ignore[arg-type]


def codes(facts: DoseFacts) -> dict[str, Severity]:
    return {f.code: f.severity for f in check_dose(facts)}


def test_the_valid_dose_has_no_findings() -> None:
    assert check_dose(valid()) == ()


H, W = Severity.HARD_STOP, Severity.WARNING


@pytest.mark.parametrize(
    ("name", "facts", "code", "kind"),
    [
        ("archived", lambda: valid(patient=PatientFacts(7, archived=True)), "patient_archived", H),
        ("no plan", lambda: valid(plan=None, expected=None), "no_plan", H),
        (
            "draft plan",
            lambda: valid(plan=replace(valid().plan, status=PlanStatus.DRAFT)),  # type: ignore[type-var]
            "plan_not_verified",
            H,
        ),
        (
            "stopped plan",
            lambda: valid(plan=replace(valid().plan, status=PlanStatus.STOPPED)),  # type: ignore[type-var]
            "plan_not_verified",
            H,
        ),
        (
            "another patient's plan",
            lambda: valid(plan=replace(valid().plan, patient_id=8)),  # type: ignore[type-var]
            "plan_other_patient",
            H,
        ),
        (
            "lot of another product",
            lambda: valid(lot=replace(AMPOULE_LOT, product_id=9)),
            "stock_other_product",
            H,
        ),
        (
            "not for deficiency",
            lambda: valid(product=replace(AMPOULE, for_deficiency=False)),
            "product_not_for_deficiency",
            H,
        ),
        (
            "antidote typed in as for deficiency",
            lambda: valid(
                product=replace(AMPOULE, strength_mcg_per_ml=Decimal(25000), volume_ml=Decimal(200))
            ),
            "product_out_of_range",
            H,
        ),
        (
            "formulation differs",
            lambda: valid(
                plan=replace(valid().plan, formulation=Formulation.CYANOCOBALAMIN)  # type: ignore[type-var]
            ),
            "formulation_mismatch",
            H,
        ),
        (
            "strength differs from the verified one",
            lambda: valid(product=replace(AMPOULE, strength_mcg_per_ml=Decimal(500), volume_ml=Decimal(2))),
            "strength_mismatch",
            H,
        ),
        ("dose in mcg typed for mg", lambda: valid(attempt=attempt(dose_mcg=Decimal(1))), "dose_mismatch", H),
        ("route differs", lambda: valid(attempt=attempt(route=Route.SC, site=None)), "route_mismatch", H),
        ("IV", lambda: valid(attempt=attempt(route=Route.IV)), "route_iv", H),
        ("no site", lambda: valid(attempt=attempt(site=None)), "site_missing", H),
        (
            "site switched off",
            lambda: valid(attempt=attempt(site=InjectionSite.DORSOGLUTEAL_LEFT)),
            "site_disabled",
            H,
        ),
        (
            "in the future",
            lambda: valid(attempt=attempt(given_at=NOW + timedelta(minutes=6))),
            "time_in_future",
            H,
        ),
        (
            "second dose the same day",
            lambda: valid(
                history=(*valid().history, PastDose(3, NOW - timedelta(hours=2), InjectionSite.DELTOID_RIGHT))
            ),
            "second_dose_same_day",
            H,
        ),
        ("lot expired", lambda: valid(lot=replace(AMPOULE_LOT, expiry=date(2026, 11, 30))), "lot_expired", H),
        ("no sealed containers", lambda: valid(lot=replace(AMPOULE_LOT, quantity=0)), "lot_empty", H),
        ("no lot for an ampoule", lambda: valid(lot=None), "lot_missing", H),
        ("no product", lambda: valid(product=None), "product_missing", H),
        (
            "Leber's with cyanocobalamin",
            lambda: valid(
                patient=PatientFacts(7, archived=False, lebers_disease=True),
                plan=replace(valid().plan, formulation=Formulation.CYANOCOBALAMIN),  # type: ignore[type-var]
                product=replace(AMPOULE, formulation=Formulation.CYANOCOBALAMIN),
            ),
            "lebers_cyanocobalamin",
            H,
        ),
        (
            "hypersensitivity without an override",
            lambda: valid(patient=PatientFacts(7, archived=False, b12_hypersensitivity=True)),
            "hypersensitivity",
            H,
        ),
        (
            "benzyl alcohol in the product",
            lambda: valid(
                patient=PatientFacts(7, archived=False, benzyl_alcohol_sensitivity=True),
                product=replace(AMPOULE, preservatives=frozenset({Preservative.BENZYL_ALCOHOL})),
            ),
            "benzyl_alcohol",
            H,
        ),
        (
            "preservatives not confirmed",
            lambda: valid(
                patient=PatientFacts(7, archived=False, benzyl_alcohol_sensitivity=True),
                product=replace(AMPOULE, preservatives=None),
            ),
            "preservatives_unknown",
            W,
        ),
        (
            "backdated two days",
            lambda: valid(
                attempt=attempt(given_at=NOW - timedelta(hours=25)),
                history=valid().history[:1],
            ),
            "backdated",
            W,
        ),
        (
            "the day after the last induction dose",
            lambda: valid(attempt=attempt(given_at=datetime(2026, 11, 30, 10, tzinfo=LONDON))),
            "interval_too_short",
            W,
        ),
        (
            "same site as last time",
            lambda: valid(attempt=attempt(site=InjectionSite.DELTOID_LEFT)),
            "same_site_as_last",
            W,
        ),
        (
            "not given, no reason",
            lambda: valid(attempt=attempt(outcome=AdministrationOutcome.REFUSED)),
            "reason_missing",
            H,
        ),
    ],
)
def test_one_fact_changed_gives_its_finding(name: str, facts: object, code: str, kind: Severity) -> None:
    found = codes(facts())  # type: ignore[operator]
    assert found.get(code) == kind, f"{name}: {found}"


def test_hypersensitivity_with_a_pharmacists_override_goes_ahead() -> None:
    facts = valid(
        patient=PatientFacts(7, archived=False, b12_hypersensitivity=True),
        plan=replace(valid().plan, hypersensitivity_override=True),  # type: ignore[type-var]
    )
    assert "hypersensitivity" not in codes(facts)


def test_lebers_allows_hydroxocobalamin() -> None:
    assert check_dose(valid(patient=PatientFacts(7, archived=False, lebers_disease=True))) == ()


def test_benzyl_alcohol_is_read_from_structured_data_not_the_label() -> None:
    sensitive = PatientFacts(7, archived=False, benzyl_alcohol_sensitivity=True)
    free = replace(AMPOULE, label="Contains no benzyl alcohol", preservatives=frozenset())
    assert check_dose(valid(patient=sensitive, product=free)) == ()


# --- multi-dose vials -------------------------------------------------------------------------------------


def vial_dose(**changes: object) -> DoseFacts:
    base = valid(
        product=MDV,
        lot=None,
        vial=OPEN_VIAL,
        plan=replace(valid().plan, formulation=Formulation.CYANOCOBALAMIN),  # type: ignore[type-var]
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_dose_from_an_open_vial_passes() -> None:
    assert check_dose(vial_dose()) == ()


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        (lambda: vial_dose(vial=None), "vial_missing"),
        (lambda: vial_dose(vial=replace(OPEN_VIAL, is_open=False)), "vial_discarded"),
        (
            lambda: vial_dose(vial=replace(OPEN_VIAL, discard_by=NOW - timedelta(minutes=1))),
            "vial_past_discard_by",
        ),
        (lambda: vial_dose(vial=replace(OPEN_VIAL, remaining_ml=Decimal("0.5"))), "vial_insufficient"),
        (
            lambda: vial_dose(vial=replace(OPEN_VIAL, lot=replace(MDV_LOT, product_id=1))),
            "stock_other_product",
        ),
        (lambda: vial_dose(lot=replace(MDV_LOT, id=99)), "stock_mismatch"),
        (lambda: valid(vial=OPEN_VIAL), "stock_mismatch"),  # a vial named for an ampoule
    ],
)
def test_vial_rules(facts: object, code: str) -> None:
    assert codes(facts()).get(code) == H  # type: ignore[operator]


def test_a_100_mcg_per_ml_vial_for_a_1000_mcg_dose_is_10_ml_and_refused() -> None:
    weak = replace(MDV, strength_mcg_per_ml=Decimal(100), volume_ml=Decimal(30))
    facts = vial_dose(
        product=weak,
        vial=replace(OPEN_VIAL, remaining_ml=Decimal(30)),
        plan=replace(vial_dose().plan, strength_mcg_per_ml=Decimal(100)),  # type: ignore[type-var]
    )
    found = codes(facts)
    assert found["volume_above_site_max"] == H  # 10 mL into one muscle
    one_ml = replace(weak, volume_ml=Decimal(1))
    assert codes(replace(facts, product=one_ml))["volume_above_container"] == H


def test_expiry_and_discard_by_are_checked_at_now_when_the_dose_is_backdated() -> None:
    """A dose given yesterday and recorded today: the lot that expired last night is refused."""
    yesterday = NOW - timedelta(days=1)
    facts = valid(
        attempt=attempt(given_at=yesterday),
        history=valid().history[:1],
        lot=replace(AMPOULE_LOT, expiry=yesterday.date()),
    )
    assert codes(facts)["lot_expired"] == H


# --- time zones ----------------------------------------------------------------------------------------


TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9: the clinic's day ends 9 hours before UTC's
LOS_ANGELES = ZoneInfo("America/Los_Angeles")  # UTC-8 in December


def _at(moment: datetime, zone: ZoneInfo, expiry: date) -> dict[str, Severity]:
    return codes(
        valid(
            attempt=attempt(given_at=moment),
            now=moment,
            zone=zone,
            history=(),
            lot=replace(AMPOULE_LOT, expiry=expiry),
        )
    )


def test_a_lot_expiring_today_east_of_greenwich_expires_at_local_midnight() -> None:
    expiry = date(2026, 12, 1)
    # 23:00 in Tokyo on the expiry day: usable. 01:00 the next morning: expired, though UTC is still 12-01.
    assert "lot_expired" not in _at(datetime(2026, 12, 1, 14, 0, tzinfo=UTC), TOKYO, expiry)
    late = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert late.date() == expiry
    assert _at(late, TOKYO, expiry)["lot_expired"] == H


def test_a_lot_expiring_today_west_of_greenwich_stays_usable_until_local_midnight() -> None:
    expiry = date(2026, 12, 1)
    # 21:00 in Los Angeles on the expiry day (05:00 UTC the next day): still usable.
    evening = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert "lot_expired" not in _at(evening, LOS_ANGELES, expiry)
    # 00:30 local on 12-02: expired.
    assert _at(datetime(2026, 12, 2, 8, 30, tzinfo=UTC), LOS_ANGELES, expiry)["lot_expired"] == H


def test_the_same_day_is_the_clinics_calendar_day() -> None:
    """23:30 and 00:30 clinic time are two days, though one UTC day in Tokyo."""
    first = datetime(2026, 12, 1, 23, 30, tzinfo=TOKYO)
    second = first + timedelta(hours=1)
    assert first.astimezone(UTC).date() == second.astimezone(UTC).date()
    facts = valid(
        attempt=attempt(given_at=second, site=InjectionSite.DELTOID_RIGHT),
        now=second,
        zone=TOKYO,
        history=(PastDose(1, first, InjectionSite.VENTROGLUTEAL_LEFT),),
        expected=ExpectedDose(PhaseKind.INDUCTION, 2, Decimal(1000), min_interval_days=1),
    )
    assert codes(facts) == {}
    in_london = replace(facts, zone=LONDON)  # the same two instants, one London day
    assert codes(in_london)["second_dose_same_day"] == H


# --- doses given elsewhere -----------------------------------------------------------------------------


def elsewhere(day: date, **plan_changes: object) -> DoseFacts:
    return valid(
        attempt=attempt(
            given_at=datetime(day.year, day.month, day.day, 12, tzinfo=LONDON), site=None, external=True
        ),
        product=None,
        lot=None,
        history=(),
        plan=replace(valid().plan, **plan_changes),  # type: ignore[type-var]
    )


def test_a_dose_given_elsewhere_skips_the_stock_and_site_rules() -> None:
    assert check_dose(elsewhere(date(2026, 11, 28))) == ()


def test_a_dose_given_elsewhere_before_the_plan_starts_needs_a_continuing_plan() -> None:
    before = date(2026, 11, 20)
    assert codes(elsewhere(before))["before_plan_start"] == H
    assert check_dose(elsewhere(before, continues_elsewhere=True)) == ()


def test_a_dose_given_elsewhere_in_the_future_is_refused() -> None:
    assert codes(elsewhere(date(2026, 12, 3)))["time_in_future"] == H


# --- the rules as data ---------------------------------------------------------------------------------


def test_shipped_rules_cite_sources_and_switch_off_dorsogluteal() -> None:
    raw = read_resource_json("dose_safety.json")
    for group, entry in raw["injection_sites"].items():
        assert entry["source"], group
    assert not RULES.site_rule(InjectionSite.DORSOGLUTEAL_RIGHT).enabled
    assert RULES.site_rule(InjectionSite.DELTOID_LEFT).max_volume_ml == 1
    assert RULES.strength_min_mcg_per_ml == 100 and RULES.strength_max_mcg_per_ml == 5000


def test_product_range_names_the_range() -> None:
    message = product_range_problem(Decimal(25000), Decimal(200), RULES)
    assert message is not None and "100 mcg/mL to 5,000 mcg/mL" in message and "30 mL" in message
    assert product_range_problem(Decimal(1000), Decimal(30), RULES) is None
    assert product_range_problem(Decimal(1000), Decimal(31), RULES) is not None


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda r: r["injection_sites"].pop("deltoid"), "deltoid"),
        (lambda r: r["injection_sites"]["deltoid"].update(max_volume_ml=0), "positive"),
        (lambda r: [s.update(enabled=False) for s in r["injection_sites"].values()], "at least one"),
        (lambda r: r["deficiency_products"].update(strength_min_mcg_per_ml=9000), "above the highest"),
        (lambda r: r["injection_sites"].update(gluteus={"max_volume_ml": 1}), "unknown"),
    ],
)
def test_bad_rules_data_is_refused_naming_the_part(change: object, says: str) -> None:
    raw = read_resource_json("dose_safety.json")
    change(raw)  # type: ignore[operator]
    with pytest.raises(RulesError, match=says):
        parse_dose_rules(raw)


def test_site_rules_are_per_muscle_on_both_sides() -> None:
    rules = DoseRules(
        sites={
            g: SiteRule(True, Decimal(1))
            for g in ("deltoid", "vastus_lateralis", "ventrogluteal", "dorsogluteal")
        },
        strength_min_mcg_per_ml=Decimal(100),
        strength_max_mcg_per_ml=Decimal(5000),
        container_max_ml=Decimal(30),
    )
    assert rules.site_rule(InjectionSite.VASTUS_LATERALIS_RIGHT) is rules.sites["vastus_lateralis"]
    assert len(rules.enabled_sites()) == 8


def test_a_cobalt_allergy_is_a_caution_to_acknowledge_not_a_stop() -> None:
    patient = replace(valid().patient, cobalt_allergy=True)
    assert codes(valid(patient=patient)) == {"cobalt_allergy": W}
    (finding,) = check_dose(valid(patient=patient))
    assert "counsel" in finding.message and "cobalt" in finding.message


def test_no_injection_is_recorded_against_an_oral_plan() -> None:
    plan = replace(valid().plan, route=Route.ORAL, formulation=Formulation.CYANOCOBALAMIN)
    found = codes(valid(plan=plan, product=None, lot=None, expected=None))
    assert found["oral_plan"] == H


def test_a_dose_while_the_plan_waits_for_its_response_review_is_a_warning() -> None:
    plan = replace(valid().plan, awaiting_review=True)
    assert codes(valid(plan=plan, expected=None)) == {"awaiting_review": W}
    declined = attempt(outcome=AdministrationOutcome.REFUSED, note="declined today")
    assert "awaiting_review" not in codes(valid(plan=plan, expected=None, attempt=declined))


def test_a_home_dose_needs_the_patients_self_injection_training_before_it() -> None:
    home = attempt(self_administered=True, external=True)
    assert codes(valid(attempt=home, product=None, lot=None))["not_trained_to_self_inject"] == H
    trained = replace(valid().patient, self_injection_trained_on=NOW.date() - timedelta(days=30))
    assert "not_trained_to_self_inject" not in codes(
        valid(attempt=home, patient=trained, product=None, lot=None)
    )
    late = replace(valid().patient, self_injection_trained_on=NOW.date() + timedelta(days=1))
    assert (
        codes(valid(attempt=home, patient=late, product=None, lot=None))["before_self_injection_training"]
        == H
    )


def test_a_reaction_belongs_to_a_dose_that_was_given() -> None:
    from b12desk.domain.enums import Reaction

    refused = attempt(outcome=AdministrationOutcome.REFUSED, note="declined", reaction=Reaction.LOCAL)
    assert codes(valid(attempt=refused))["reaction_without_dose"] == H
    assert check_dose(valid(attempt=attempt(reaction=Reaction.LOCAL))) == ()


def _past(days_ago: int, site: InjectionSite) -> PastDose:
    return PastDose(days_ago, NOW - timedelta(days=days_ago), site)


def test_the_site_suggested_is_the_least_recently_used_one_the_clinic_allows() -> None:
    from b12desk.domain.dose_check import suggest_site

    assert suggest_site((), RULES) == InjectionSite.VENTROGLUTEAL_LEFT  # preferred, never used
    history = (_past(2, InjectionSite.VENTROGLUTEAL_LEFT), _past(9, InjectionSite.VENTROGLUTEAL_RIGHT))
    assert suggest_site(history, RULES) == InjectionSite.VASTUS_LATERALIS_LEFT  # never used beats rested
    every = tuple(
        _past(n + 1, s)
        for n, s in enumerate(
            (
                InjectionSite.DELTOID_RIGHT,
                InjectionSite.DELTOID_LEFT,
                InjectionSite.VASTUS_LATERALIS_RIGHT,
                InjectionSite.VASTUS_LATERALIS_LEFT,
                InjectionSite.VENTROGLUTEAL_RIGHT,
                InjectionSite.VENTROGLUTEAL_LEFT,
            )
        )
    )
    assert suggest_site(every, RULES) == InjectionSite.VENTROGLUTEAL_LEFT  # rested longest (6 days)
    # Dorsogluteal is off in the shipped rules: never suggested, however rested.
    assert all(
        suggest_site(every[:k], RULES)
        not in (InjectionSite.DORSOGLUTEAL_LEFT, InjectionSite.DORSOGLUTEAL_RIGHT)
        for k in range(7)
    )
    only_deltoid = replace(
        RULES,
        sites={g: replace(r, enabled=g == "deltoid") for g, r in RULES.sites.items()},
    )
    assert suggest_site((_past(1, InjectionSite.DELTOID_LEFT),), only_deltoid) == InjectionSite.DELTOID_RIGHT
