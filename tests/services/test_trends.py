"""Trend charts' data: a test's results in its canonical unit, its band from the data, the dose days, and
the symptom scores by visit."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from b12desk.domain.enums import InjectionSite, LabContext, Role, Sex
from b12desk.services import administrations as adm
from b12desk.services import clinic, patients, trends
from b12desk.services.common import Actor, NotFound, PermissionDenied, ValidationFailed
from b12desk.services.trends import ZoneKind
from tests.conftest import PASSWORD
from tests.services.dose_world import CLOCK, NOW, World, at

NG_PER_L = Decimal("0.738")  # resources/lab_tests.json: 1 ng/L = 0.738 pmol/L


def lab(w: World, test: str, day: date, value: str, unit: str) -> patients.LabRow:
    return patients.add_lab_result(
        w.session,
        w.staff.nurse,
        w.patient_id,
        test_code=test,
        context=LabContext.FOLLOW_UP,
        taken_on=day,
        value_text=value,
        unit=unit,
        clock=CLOCK,
    )


_SITES = (InjectionSite.VENTROGLUTEAL_LEFT, InjectionSite.VENTROGLUTEAL_RIGHT)


def dose(w: World, moment: datetime, **symptoms: int) -> adm.AdministrationRow:
    """A dose given here at that moment, left and right sites taken in turn."""
    site = _SITES[len(adm.patient_administrations(w.session, w.staff.nurse, w.patient_id)) % 2]
    return adm.record_dose(
        w.session, w.staff.nurse, w.request(given_at=moment, site=site, symptoms=symptoms), clock=at(moment)
    )


def test_points_are_in_date_order_in_the_canonical_unit_without_results_in_error(world: World) -> None:
    w = world
    # Entered out of order, in both units the laboratory may report, one of them wrong.
    lab(w, "hb", date(2026, 11, 30), "101", "g/L")
    lab(w, "hb", date(2026, 11, 20), "9.2", "g/dL")
    wrong = lab(w, "hb", date(2026, 11, 25), "150", "g/L")
    patients.mark_lab_entered_in_error(w.session, w.staff.nurse, wrong.id, reason="wrong patient")
    lab(w, "serum_b12", date(2026, 11, 20), "120", "ng/L")  # another test: not on this chart

    trend = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "hb", clock=CLOCK)

    assert (trend.test_name, trend.unit) == ("Haemoglobin", "g/L")
    assert [(p.day, p.value) for p in trend.points] == [
        (date(2026, 11, 20), Decimal(92)),
        (date(2026, 11, 30), Decimal(101)),
    ]
    assert [p.as_reported for p in trend.points] == ["9.2 g/dL", "101 g/L"]
    assert trend.left_out_in_error == 1 and trend.left_out_unconverted == 0


def test_serum_b12_in_mixed_units_is_charted_in_pmol_per_l_against_the_clinics_thresholds(
    world: World,
) -> None:
    w = world
    lab(w, "serum_b12", date(2026, 11, 1), "110", "ng/L")
    lab(w, "serum_b12", date(2026, 11, 20), "150", "pmol/L")
    lab(w, "serum_b12", date(2026, 11, 29), "420", "pg/mL")

    trend = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "serum_b12", clock=CLOCK)

    assert trend.unit == "pmol/L"
    assert [p.value for p in trend.points] == [110 * NG_PER_L, Decimal(150), 420 * NG_PER_L]
    band = trend.band
    assert band is not None and trend.no_band_reason == ""
    # NICE NG239 (resources/lab_bands.json): deficient below 180 ng/L, indeterminate to 350 ng/L.
    low, borderline = band.zones
    assert (low.low, low.high, low.kind) == (None, 180 * NG_PER_L, ZoneKind.LOW)
    assert (borderline.low, borderline.high, borderline.kind) == (
        180 * NG_PER_L,
        350 * NG_PER_L,
        ZoneKind.BORDERLINE,
    )
    assert low.label == "Deficient: below 180 ng/L"
    assert borderline.label == "Indeterminate: 180 to 350 ng/L"
    assert band.summary == (
        "Shaded: deficient below 180 ng/L (132.8 pmol/L), indeterminate to 350 ng/L (258.3 pmol/L); "
        "NICE NG239 thresholds (no local laboratory set)."
    )
    assert "NICE NG239" in band.source

    # The clinic's own laboratory replaces NG239's figures, and the chart follows.
    local = clinic.shipped_lab_bands_raw() | {"laboratory": "City Hospital biochemistry"}
    local["tests"] = dict(local["tests"]) | {
        "serum_b12": {"unit": "pmol/L", "deficient_below": 150, "indeterminate_below": 250, "advice": "MMA."}
    }
    clinic.set_lab_bands(w.session, w.staff.pharmacist, local, reason="local laboratory")
    band = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "serum_b12", clock=CLOCK).band
    assert band is not None
    assert [(z.low, z.high) for z in band.zones] == [(None, Decimal(150)), (Decimal(150), Decimal(250))]
    assert band.zones[0].label == "Deficient: below 150 pmol/L"
    assert (
        band.summary
        == "Shaded: deficient below 150 pmol/L, indeterminate to 250 pmol/L; City Hospital biochemistry."
    )


def test_haemoglobin_is_shaded_below_the_normal_limit_for_the_patients_sex(world: World) -> None:
    w = world
    lab(w, "hb", date(2026, 11, 20), "92", "g/L")
    detail = patients.get_patient(w.session, w.staff.nurse, w.patient_id)
    trend = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "hb", clock=CLOCK)
    assert trend.band is not None
    assert [(z.low, z.high) for z in trend.band.zones] == [(None, Decimal(120))]  # sex not recorded: lower
    assert "sex not recorded" in trend.band.summary

    from dataclasses import replace

    patients.update_patient(
        w.session,
        w.staff.nurse,
        w.patient_id,
        replace(detail.data, sex=Sex.MALE),
        expected_version=detail.version_id,
        clock=CLOCK,
    )
    band = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "hb", clock=CLOCK).band
    assert band is not None and band.zones[0].high == Decimal(130)  # monitoring.json: WHO 2011, men
    assert band.zones[0].label == "Below normal: under 130 g/L"
    assert "for a man" in band.summary and "WHO 2011" in band.source


def test_a_test_without_a_range_in_the_data_has_no_band_and_says_so(world: World) -> None:
    w = world
    lab(w, "mcv", date(2026, 11, 20), "112", "fL")
    lab(w, "reticulocytes", date(2026, 11, 20), "2.5", "%")  # no conversion from % to x10^9/L
    mcv = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "mcv", clock=CLOCK)
    assert mcv.band is None
    assert (
        mcv.no_band_reason
        == "No reference range for MCV in the clinic's laboratory data: charted without a band."
    )
    retics = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "reticulocytes", clock=CLOCK)
    assert retics.points == () and retics.left_out_unconverted == 1
    empty = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "folate", clock=CLOCK)
    assert empty.points == () and empty.left_out_in_error == 0


def test_dose_days_are_the_clinic_days_of_the_doses_given_and_not_entered_in_error(world: World) -> None:
    w = world
    dose(w, NOW)
    dose(w, datetime(2026, 12, 3, 23, 50, tzinfo=NOW.tzinfo))  # late in the evening: still that day
    wrong = dose(w, NOW + timedelta(days=5))
    later = at(NOW + timedelta(days=5, hours=1))
    adm.mark_entered_in_error(
        w.session, w.staff.nurse, wrong.id, reason="wrong patient", password=PASSWORD, clock=later
    )

    trend = trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "hb", clock=later)
    assert trend.dose_days == (date(2026, 12, 1), date(2026, 12, 3))
    assert (
        trends.symptom_trend(w.session, w.staff.nurse, w.patient_id, clock=later).dose_days == trend.dose_days
    )


def test_symptom_scores_by_visit_each_symptom_a_series(world: World) -> None:
    w = world
    dose(w, NOW, fatigue=3, tingling=2, balance=1, memory_mood=2, appetite=1)
    dose(w, NOW + timedelta(days=2), fatigue=2, tingling=2, appetite=0)  # balance and mood not asked
    wrong = dose(w, NOW + timedelta(days=4), fatigue=0, tingling=0, balance=0, memory_mood=0, appetite=0)
    dose(w, NOW + timedelta(days=6))  # no symptoms recorded at this visit
    later = at(NOW + timedelta(days=6, hours=1))
    adm.mark_entered_in_error(
        w.session, w.staff.nurse, wrong.id, reason="wrong patient", password=PASSWORD, clock=later
    )

    trend = trends.symptom_trend(w.session, w.staff.nurse, w.patient_id, clock=later)

    assert trend.visits == 2
    assert trend.scale == ("none", "mild", "moderate", "severe")
    assert [s.code for s in trend.series] == ["fatigue", "tingling", "balance", "memory_mood", "appetite"]
    by_code = {s.code: [(p.day, p.score) for p in s.points] for s in trend.series}
    assert by_code["fatigue"] == [(date(2026, 12, 1), 3), (date(2026, 12, 3), 2)]
    assert by_code["balance"] == [(date(2026, 12, 1), 1)]
    assert trend.series[1].label == "Tingling or numbness"
    assert trend.dose_days == (date(2026, 12, 1), date(2026, 12, 3), date(2026, 12, 7))


def test_charted_tests_are_the_patients_numeric_tests_haemoglobin_first(world: World) -> None:
    w = world
    lab(w, "mcv", date(2026, 11, 20), "112", "fL")
    lab(w, "serum_b12", date(2026, 11, 20), "110", "ng/L")
    lab(w, "hb", date(2026, 11, 20), "92", "g/L")
    lab(w, "hb", date(2026, 11, 27), "99", "g/L")
    lab(w, "if_antibodies", date(2026, 11, 20), "positive", "result")  # words: nothing to chart
    wrong = lab(w, "folate", date(2026, 11, 20), "3", "nmol/L")
    patients.mark_lab_entered_in_error(w.session, w.staff.nurse, wrong.id, reason="wrong patient")
    charted = trends.charted_tests(w.session, w.staff.nurse, w.patient_id)
    assert [(t.code, t.results, t.unit) for t in charted] == [
        ("hb", 2, "g/L"),
        ("serum_b12", 1, "pmol/L"),
        ("mcv", 1, "fL"),
    ]


def test_refusals(world: World) -> None:
    w = world
    with pytest.raises(ValidationFailed) as words:
        trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "if_antibodies", clock=CLOCK)
    assert "cannot be charted" in words.value.errors["test"]
    with pytest.raises(ValidationFailed):
        trends.lab_trend(w.session, w.staff.nurse, w.patient_id, "vitamin_z", clock=CLOCK)
    with pytest.raises(NotFound):
        trends.symptom_trend(w.session, w.staff.nurse, 999_999, clock=CLOCK)
    gone = Actor(id=999_999, username="gone", full_name="Gone", role=Role.NURSE)
    for read in (
        lambda: trends.lab_trend(w.session, gone, w.patient_id, "hb", clock=CLOCK),
        lambda: trends.symptom_trend(w.session, gone, w.patient_id, clock=CLOCK),
        lambda: trends.charted_tests(w.session, gone, w.patient_id),
    ):
        with pytest.raises(PermissionDenied):
            read()
