"""Lab value parsing and patient validation: every input yields a value or a message, nothing else."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from b12desk.data.reference import lab_tests
from b12desk.domain.enums import Sex
from b12desk.domain.labs import LabValueError, parse_lab_value
from b12desk.domain.patients import PatientInput, validate_patient

TESTS = lab_tests()


@given(st.sampled_from(sorted(TESTS)), st.text(max_size=20), st.text(max_size=12))
def test_parse_lab_value_returns_a_value_or_its_own_error(code: str, text: str, unit: str) -> None:
    try:
        value = parse_lab_value(TESTS[code], text, unit)
    except LabValueError as exc:
        assert str(exc).startswith(TESTS[code].name)
    else:
        assert value.unit in TESTS[code].units


def test_every_lab_test_cites_a_source_and_has_units() -> None:
    for test in TESTS.values():
        assert test.source and test.units


def test_qualitative_result() -> None:
    value = parse_lab_value(TESTS["if_antibodies"], " Positive ", "result")
    assert value.value_text == "positive"


def base(**kw: object) -> PatientInput:
    values: dict[str, object] = {
        "mrn": "A1",
        "family_name": "Ng",
        "given_name": "Mo",
        "date_of_birth": date(1950, 1, 1),
    }
    values.update(kw)
    return PatientInput(**values)  # type: ignore[arg-type]


def test_messages_say_what_is_wrong() -> None:
    today = date(2026, 11, 25)
    errors = validate_patient(
        base(
            mrn="",
            given_name="",
            date_of_birth=None,
            email="nope",
            neuro_involvement=True,
            sex=Sex.MALE,
            pregnant_or_breastfeeding=True,
        ),
        today=today,
    )
    assert set(errors) == {
        "mrn",
        "given_name",
        "date_of_birth",
        "email",
        "neuro_symptoms",
        "pregnant_or_breastfeeding",
    }
    assert validate_patient(base(date_of_birth=date(1890, 1, 1)), today=today)["date_of_birth"].endswith(
        "check the year."
    )
    assert validate_patient(base(), today=today) == {}


def test_normalized_trims_and_upper_cases_the_mrn() -> None:
    p = base(mrn="  ab-12 ", family_name=" Ng ").normalized()
    assert (p.mrn, p.family_name) == ("AB-12", "Ng")
