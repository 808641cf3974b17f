"""Each shipped template's monitoring, against a table written by hand from its source.

Days count from the phase's first dose (offset 0 is the day of the first dose, "day 1" as labels
say); the window is how many days after it a task is still on time. A row is
(phase, test or "review", offset, window, condition, repeat), and a template's table is the whole list:
a task added to or dropped from the data file fails here until the table agrees.
"""

from __future__ import annotations

import pytest

from b12desk.data.reference import lab_tests, shipped_regimen_templates
from b12desk.domain.regimens import TemplateDef, parse_template

Row = tuple[int, str, int, int, str | None, int | None]

# Baseline before treatment: FBC (Hb, MCV, platelets), reticulocytes, serum B12, folate, iron
# (clinical-facts 2, FDA cyanocobalamin label).
BASELINE: list[Row] = [
    (0, "serum_b12", 0, 0, None, None),
    (0, "hb", 0, 0, None, None),
    (0, "mcv", 0, 0, None, None),
    (0, "platelets", 0, 0, None, None),
    (0, "reticulocytes", 0, 0, None, None),
    (0, "folate", 0, 0, None, None),
    (0, "ferritin", 0, 0, None, None),
]
# Potassium 24-48 h after the first dose for every established deficiency, again at 3-4 days in severe
# anaemia (FDA label: the first 48 hours; Neo-Cytamen SmPC: hypokalaemia in initial therapy).
POTASSIUM: list[Row] = [
    (0, "potassium", 1, 1, None, None),
    (0, "potassium", 3, 1, "severe_anaemia", None),
]
# Platelets in the first weeks (Neo-Cytamen SmPC): at 7-10 days and at 4 weeks.
PLATELETS: list[Row] = [(0, "platelets", 7, 3, None, None), (0, "platelets", 28, 7, None, None)]
# Reticulocytes at 7-10 days (NHS Lothian); FBC and reticulocytes at 8 weeks; symptoms at 3 months
# (1 month if pregnant or breastfeeding), NICE NG239.
RESPONSE: list[Row] = [
    (0, "reticulocytes", 7, 3, None, None),
    (0, "hb", 56, 7, None, None),
    (0, "mcv", 56, 7, None, None),
    (0, "reticulocytes", 56, 7, None, None),
    (0, "review", 90, 14, None, None),
    (0, "review", 30, 7, "pregnant_or_breastfeeding", None),
]


def yearly(phase: int) -> list[Row]:
    return [(phase, "review", 365, 30, None, 365)]


EXPECTED: dict[str, list[Row]] = {
    "uk_hoc_no_neuro": BASELINE + POTASSIUM + PLATELETS + RESPONSE + yearly(1),
    # With neurological involvement, a review every 3 weeks asks whether there is still improvement.
    "uk_hoc_neuro": BASELINE
    + POTASSIUM
    + PLATELETS
    + RESPONSE
    + [(0, "review", 21, 7, None, 21)]
    + yearly(1),
    # Prophylaxis: no deficiency being treated, so no response checks; a baseline B12 and count.
    "uk_hoc_prophylaxis": [
        (0, "serum_b12", 0, 0, None, None),
        (0, "hb", 0, 0, None, None),
        (0, "mcv", 0, 0, None, None),
        *yearly(0),
    ],
    # FDA label: baseline with haematocrit; haematocrit and reticulocytes daily on days 5-7 (offsets
    # 4-6); the response review on day 7 before alternate-day doses; haematocrit until normal after.
    "us_cnc_fda": [
        (0, "serum_b12", 0, 0, None, None),
        (0, "hb", 0, 0, None, None),
        (0, "haematocrit", 0, 0, None, None),
        (0, "mcv", 0, 0, None, None),
        (0, "platelets", 0, 0, None, None),
        (0, "reticulocytes", 0, 0, None, None),
        (0, "folate", 0, 0, None, None),
        (0, "ferritin", 0, 0, None, None),
        *POTASSIUM,
        *[
            (0, test, day - 1, 0, None, None)
            for day in (5, 6, 7)
            for test in ("haematocrit", "reticulocytes")
        ],
        (0, "review", 6, 1, None, None),
        *PLATELETS,
        *[row for row in RESPONSE if row[1] != "reticulocytes" or row[2] != 7],
        (1, "haematocrit", 3, 1, None, 3),
        (2, "haematocrit", 3, 2, None, 7),
        *yearly(3),
    ],
    "us_cnc_common": BASELINE + POTASSIUM + PLATELETS + RESPONSE + yearly(2),
    # ASMBS: an established deficiency after bariatric surgery is treated first, then monthly.
    "post_bariatric_treatment": BASELINE + POTASSIUM + PLATELETS + RESPONSE + yearly(2),
    "post_bariatric": [
        (0, "serum_b12", 0, 0, None, None),
        (0, "hb", 0, 0, None, None),
        (0, "mcv", 0, 0, None, None),
        *yearly(0),
    ],
    # Leber's optic atrophy (SmPC): not a deficiency treatment; a baseline, then a visual review every
    # 4 weeks of the twice-weekly phase until no further improvement.
    "uk_hoc_lebers": [
        (0, "serum_b12", 0, 0, None, None),
        (0, "hb", 0, 0, None, None),
        (0, "mcv", 0, 0, None, None),
        (1, "review", 28, 7, None, 28),
        *yearly(2),
    ],
    # Oral B12 at home: a baseline, the 3-month review (NICE NG239) and a yearly review.
    "oral_cnc": [
        (0, "serum_b12", 0, 0, None, None),
        (0, "hb", 0, 0, None, None),
        (0, "mcv", 0, 0, None, None),
        (0, "review", 90, 14, None, None),
        *yearly(0),
    ],
    "custom": [],
}

TREATMENT = ("uk_hoc_no_neuro", "uk_hoc_neuro", "us_cnc_fda", "us_cnc_common", "post_bariatric_treatment")


def shipped() -> dict[str, TemplateDef]:
    return {
        t.code: t for t in (parse_template(raw, lab_codes=lab_tests()) for raw in shipped_regimen_templates())
    }


def rows(template: TemplateDef) -> list[Row]:
    return [
        (
            index,
            task.lab_test_code or "review",
            task.offset_days,
            task.window_days,
            task.condition,
            task.repeat_every_days,
        )
        for index, phase in enumerate(template.phases)
        for task in phase.tasks
    ]


def test_every_shipped_template_has_a_hand_written_table() -> None:
    assert set(shipped()) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_the_templates_monitoring_is_the_hand_written_table(code: str) -> None:
    assert sorted(rows(shipped()[code]), key=repr) == sorted(EXPECTED[code], key=repr)


@pytest.mark.parametrize("code", TREATMENT)
def test_every_treatment_template_checks_potassium_after_the_first_dose_and_not_on_its_day(code: str) -> None:
    first = shipped()[code].phases[0]
    potassium = [t for t in first.tasks if t.lab_test_code == "potassium" and t.condition is None]
    assert [(t.offset_days, t.window_days) for t in potassium] == [(1, 1)]  # 24 to 48 hours after


def test_every_task_cites_its_source() -> None:
    for raw in shipped_regimen_templates():
        for phase in raw.get("phases", []):
            for task in phase.get("tasks", []):
                assert task.get("source"), (raw["code"], task["label"])
