"""A patient's laboratory results and symptom scores over time, with the dates of their doses, for charts.

API (each takes the session and the acting staff member, needs READ_PATIENTS, and reads in one call):

- ``lab_trend(session, actor, patient_id, test_code, *, clock=None) -> LabTrend``: one test's current
  results in the test's canonical unit, oldest first (entered-in-error and amended results left out, and
  counted), the zones of its reference band as data gives them, and the days doses were given.
- ``symptom_trend(session, actor, patient_id, *, clock=None) -> SymptomTrend``: each symptom's scores
  (0 none to 3 severe) at the visits where they were recorded, and the days doses were given.
- ``charted_tests(session, actor, patient_id) -> list[ChartedTest]``: the numeric tests the patient has
  current results of, the chart's choice of analyte.

Reference bands are never written in code: serum and active B12's come from the clinic laboratory's
decision thresholds (clinic.lab_bands, NICE NG239's by default), haemoglobin's lower limit of normal for
the patient's sex from the monitoring rules (resources/monitoring.json); a test with neither has no band,
and the result says so. Days are the clinic's calendar days (a dose at 00:30 belongs to that day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from b12desk.clock import Clock
from b12desk.data.models import Administration, LabResult, Patient, SymptomScore
from b12desk.data.reference import lab_tests, read_resource_json
from b12desk.domain.enums import SYMPTOM_SCALE, SYMPTOMS, AdministrationOutcome, RecordStatus, Sex
from b12desk.domain.permissions import Permission
from b12desk.domain.units import format_number
from b12desk.services import clinic, monitoring
from b12desk.services.common import Actor, NotFound, ValidationFailed, require

# The test a patient's chart opens on: haemoglobin first (UK guidance follows the response with the full
# blood count rather than rechecking B12 during injections, clinical-facts 2), then serum B12.
PREFERRED_TESTS = ("hb", "serum_b12")


class ZoneKind(StrEnum):
    LOW = "low"  # deficient, or below the lower limit of normal
    BORDERLINE = "borderline"  # indeterminate: a second-line test decides


@dataclass(frozen=True, slots=True)
class BandZone:
    """A shaded stretch of the value axis, in the test's canonical unit; None: open on that side."""

    low: Decimal | None
    high: Decimal | None
    kind: ZoneKind
    label: str  # "Deficient: below 180 ng/L"


@dataclass(frozen=True, slots=True)
class ReferenceBand:
    zones: tuple[BandZone, ...]  # lowest first
    unit: str  # the test's canonical unit, the unit of every zone's limits
    summary: str  # one line for the chart: what is shaded, in the data's own unit
    source: str  # where the figures come from, as the data names it


@dataclass(frozen=True, slots=True)
class TrendPoint:
    day: date
    value: Decimal  # in the test's canonical unit
    as_reported: str  # "245 ng/L": the value and unit the laboratory reported
    lab_id: int


@dataclass(frozen=True, slots=True)
class LabTrend:
    patient_id: int
    test_code: str
    test_name: str
    unit: str  # the canonical unit every point is in
    points: tuple[TrendPoint, ...]  # oldest first
    band: ReferenceBand | None
    no_band_reason: str  # why there is no band ("" when there is one)
    dose_days: tuple[date, ...]  # days a dose was given (current records), oldest first
    left_out_in_error: int  # results marked entered-in-error (or replaced), not charted
    left_out_unconverted: int  # results in a unit with no conversion to the canonical one


@dataclass(frozen=True, slots=True)
class SymptomPoint:
    day: date
    score: int  # 0 none, 1 mild, 2 moderate, 3 severe


@dataclass(frozen=True, slots=True)
class SymptomSeries:
    code: str  # a key of domain.enums.SYMPTOMS
    label: str
    points: tuple[SymptomPoint, ...]  # oldest first; visits where it was not asked are left out


@dataclass(frozen=True, slots=True)
class SymptomTrend:
    patient_id: int
    series: tuple[SymptomSeries, ...]  # in the order of SYMPTOMS, every symptom, even one never scored
    scale: tuple[str, ...]  # the words of scores 0 to 3
    dose_days: tuple[date, ...]
    visits: int  # visits with any score recorded


@dataclass(frozen=True, slots=True)
class ChartedTest:
    code: str
    name: str
    unit: str
    results: int  # current results with a value in the canonical unit


def _patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"No patient with id {patient_id}.")
    return patient


def _dose_days(session: Session, patient_id: int, clock: Clock) -> tuple[date, ...]:
    given = session.scalars(
        select(Administration.given_at)
        .where(
            Administration.patient_id == patient_id,
            Administration.outcome == AdministrationOutcome.GIVEN,
            Administration.status == RecordStatus.CURRENT,
        )
        .order_by(Administration.given_at)
    )
    return tuple(sorted({clock.day_of(moment) for moment in given}))


def charted_tests(session: Session, actor: Actor, patient_id: int) -> list[ChartedTest]:
    """The tests with something to chart, haemoglobin and serum B12 first, then by name."""
    require(session, actor, Permission.READ_PATIENTS)
    _patient(session, patient_id)
    counts = session.execute(
        select(LabResult.test_code, func.count())
        .where(
            LabResult.patient_id == patient_id,
            LabResult.status == RecordStatus.CURRENT,
            LabResult.value_canonical.is_not(None),
        )
        .group_by(LabResult.test_code)
    ).all()
    tests = lab_tests()
    out = [
        ChartedTest(code, tests[code].name, tests[code].canonical_unit, int(n))
        for code, n in counts
        if code in tests and not tests[code].qualitative
    ]
    rank = {code: n for n, code in enumerate(PREFERRED_TESTS)}
    out.sort(key=lambda t: (rank.get(t.code, len(rank)), t.name.lower()))
    return out


def lab_trend(
    session: Session, actor: Actor, patient_id: int, test_code: str, *, clock: Clock | None = None
) -> LabTrend:
    require(session, actor, Permission.READ_PATIENTS)
    patient = _patient(session, patient_id)
    test = lab_tests().get(test_code)
    if test is None:
        raise ValidationFailed({"test": f"Unknown laboratory test '{test_code}'."})
    if test.qualitative:
        raise ValidationFailed(
            {
                "test": f"{test.name} is reported in words ({', '.join(test.qualitative)}) "
                "and cannot be charted."
            }
        )
    clock = clock or clinic.clinic_clock(session)
    rows = session.execute(
        select(
            LabResult.id,
            LabResult.taken_on,
            LabResult.value_canonical,
            LabResult.value_text,
            LabResult.unit,
            LabResult.status,
        )
        .where(LabResult.patient_id == patient_id, LabResult.test_code == test.code)
        .order_by(LabResult.taken_on, LabResult.id)
    ).all()
    points: list[TrendPoint] = []
    in_error = unconverted = 0
    for lab_id, taken_on, canonical, value_text, unit, status in rows:
        if status != RecordStatus.CURRENT:
            in_error += 1
        elif canonical is None:
            unconverted += 1
        else:
            points.append(
                TrendPoint(taken_on, Decimal(canonical).normalize(), f"{value_text} {unit}", lab_id)
            )
    band = _reference_band(session, test.code, test.canonical_unit, patient.sex)
    return LabTrend(
        patient_id=patient_id,
        test_code=test.code,
        test_name=test.name,
        unit=test.canonical_unit,
        points=tuple(points),
        band=band,
        no_band_reason=""
        if band is not None
        else f"No reference range for {test.name} in the clinic's laboratory data: charted without a band.",
        dose_days=_dose_days(session, patient_id, clock),
        left_out_in_error=in_error,
        left_out_unconverted=unconverted,
    )


def _figure(value: Decimal) -> str:
    return format_number(value.quantize(Decimal("0.1")).normalize())


def _reference_band(session: Session, test_code: str, unit: str, sex: Sex) -> ReferenceBand | None:
    bands = clinic.lab_bands(session)
    thresholds = bands.tests.get(test_code)
    if thresholds is not None:
        low = thresholds.deficient_below * thresholds.factor
        high = thresholds.indeterminate_below * thresholds.factor
        given = thresholds.unit

        def both(figure: Decimal, canonical: Decimal) -> str:
            shown = f"{format_number(figure)} {given}"
            return shown if given == unit else f"{shown} ({_figure(canonical)} {unit})"

        deficient, indeterminate = thresholds.deficient_below, thresholds.indeterminate_below
        return ReferenceBand(
            zones=(
                BandZone(None, low, ZoneKind.LOW, f"Deficient: below {format_number(deficient)} {given}"),
                BandZone(
                    low,
                    high,
                    ZoneKind.BORDERLINE,
                    f"Indeterminate: {format_number(deficient)} to {format_number(indeterminate)} {given}",
                ),
            ),
            unit=unit,
            summary=f"Shaded: deficient below {both(deficient, low)}, indeterminate to "
            f"{both(indeterminate, high)}; {bands.laboratory}.",
            source=thresholds.source or bands.source,
        )
    rules = monitoring.monitoring_rules()
    if test_code == rules.hb_test_code and rules.hb_normal_low:
        normal_low = rules.hb_normal_low.get(sex, min(rules.hb_normal_low.values()))
        who = {Sex.FEMALE: "for a woman", Sex.MALE: "for a man"}.get(sex, "(sex not recorded: the lower one)")
        limit = f"{format_number(normal_low)} {unit}"
        return ReferenceBand(
            zones=(BandZone(None, normal_low, ZoneKind.LOW, f"Below normal: under {limit}"),),
            unit=unit,
            summary=f"Shaded: below the lower limit of normal {who}, {limit} (the clinic's monitoring rules)",
            source=monitoring_source(),
        )
    return None


def monitoring_source() -> str:
    """Where the monitoring rules' haemoglobin figures come from, as resources/monitoring.json says."""
    rule = read_resource_json("monitoring.json").get("not_responding", {})
    return str(rule.get("source", "resources/monitoring.json"))


def symptom_trend(
    session: Session, actor: Actor, patient_id: int, *, clock: Clock | None = None
) -> SymptomTrend:
    """Each symptom's scores by visit day; scores kept with a dose entered in error are left out."""
    require(session, actor, Permission.READ_PATIENTS)
    _patient(session, patient_id)
    clock = clock or clinic.clinic_clock(session)
    dose = aliased(Administration)
    columns = [getattr(SymptomScore, code) for code in SYMPTOMS]
    rows = session.execute(
        select(SymptomScore.scored_at, *columns)
        .outerjoin(dose, dose.id == SymptomScore.administration_id)
        .where(
            SymptomScore.patient_id == patient_id,
            or_(dose.id.is_(None), dose.status != RecordStatus.ENTERED_IN_ERROR),
        )
        .order_by(SymptomScore.scored_at, SymptomScore.id)
    ).all()
    points: dict[str, list[SymptomPoint]] = {code: [] for code in SYMPTOMS}
    visits = 0
    for scored_at, *scores in rows:
        day = clock.day_of(scored_at)
        if any(score is not None for score in scores):
            visits += 1
        for code, score in zip(SYMPTOMS, scores, strict=True):
            if score is not None:
                points[code].append(SymptomPoint(day, int(score)))
    return SymptomTrend(
        patient_id=patient_id,
        series=tuple(SymptomSeries(code, label, tuple(points[code])) for code, label in SYMPTOMS.items()),
        scale=SYMPTOM_SCALE,
        dose_days=_dose_days(session, patient_id, clock),
        visits=visits,
    )
