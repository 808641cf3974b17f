"""Trend charts: the labs dialog's Trend and Symptoms tabs, and the chart widget on its own."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCharts import QDateTimeAxis
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy.orm import Session

from b12desk.data.db import Database
from b12desk.domain.enums import InjectionSite, LabContext
from b12desk.services import administrations as adm
from b12desk.services import patients
from b12desk.services.trends import LabTrend, TrendPoint
from b12desk.ui.labs_dialog import LabsDialog
from b12desk.ui.trend_chart import LabTrendChart, chart_time
from tests.conftest import PASSWORD, Staffing
from tests.services.dose_world import CLOCK, NOW, World, at, make_world
from tests.ui.conftest import AddPatient, MakeContext

DOSE_TIMES = (NOW, NOW + timedelta(days=2), NOW + timedelta(days=4))
SITES = (InjectionSite.VENTROGLUTEAL_LEFT, InjectionSite.VENTROGLUTEAL_RIGHT)


def _lab(s: Session, staff: Staffing, pid: int, test: str, day: date, value: str, unit: str) -> int:
    row = patients.add_lab_result(
        s,
        staff.nurse,
        pid,
        test_code=test,
        context=LabContext.FOLLOW_UP,
        taken_on=day,
        value_text=value,
        unit=unit,
        clock=CLOCK,
    )
    return row.id


def _patient_with_results(db: Database, staff: Staffing) -> int:
    """Three doses with symptoms scored; three haemoglobins (one in g/dL) and one wrong; one B12."""
    with db.sessions.begin() as s:
        w: World = make_world(s, staff)
        for n, moment in enumerate(DOSE_TIMES):
            request = w.request(
                given_at=moment, site=SITES[n % 2], symptoms={"fatigue": 3 - n, "tingling": 2, "balance": 1}
            )
            adm.record_dose(s, staff.nurse, request, clock=at(moment))
        _lab(s, staff, w.patient_id, "hb", date(2026, 11, 28), "9.2", "g/dL")
        _lab(s, staff, w.patient_id, "hb", date(2026, 12, 1), "96", "g/L")
        wrong = _lab(s, staff, w.patient_id, "hb", date(2026, 12, 1), "160", "g/L")
        patients.mark_lab_entered_in_error(s, staff.nurse, wrong, reason="wrong patient")
        _lab(s, staff, w.patient_id, "hb", date(2026, 12, 1), "101", "g/L")
        _lab(s, staff, w.patient_id, "serum_b12", date(2026, 11, 28), "110", "ng/L")
        return w.patient_id


def _open(db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget, pid: int) -> LabsDialog:
    with db.sessions.begin() as s:
        row = next(r for r in patients.roster(s, staff.nurse) if r.id == pid)
    dialog = LabsDialog(make_ctx(staff.nurse), row, parent=host)
    dialog.show()
    return dialog


def test_the_trend_tab_charts_haemoglobin_with_its_band_and_the_dose_days(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    pid = _patient_with_results(db, staff)
    dialog = _open(db, staff, make_ctx, host, pid)
    dialog.tabs.setCurrentWidget(dialog.trend_page)

    chart = dialog.trend_chart
    assert [dialog.trend_test.itemData(i) for i in range(dialog.trend_test.count())] == ["hb", "serum_b12"]
    assert dialog.trend_test.currentText() == "Haemoglobin (g/L), 3 results"
    assert chart.stack.currentWidget() is chart.view
    assert chart.title.text() == "Haemoglobin (g/L)"
    (series,) = chart.value_series
    assert series.count() == 3  # the one entered in error is left out
    assert [series.at(i).y() for i in range(3)] == [92.0, 96.0, 101.0]  # 9.2 g/dL charted as 92 g/L
    assert series.at(0).x() == chart_time(date(2026, 11, 28))
    (band,) = chart.band_series
    assert band.name() == "Below normal: under 120 g/L"
    assert band.upperSeries().at(0).y() == 120.0
    assert "1 result entered in error not charted." in chart.subtitle.text()
    # The doses: one dashed line each, under one legend entry.
    assert chart.dose_days == (date(2026, 12, 1), date(2026, 12, 3), date(2026, 12, 5))
    (doses,) = chart.dose_series
    assert doses.name() == "B12 dose given (3)"
    assert sorted({doses.at(i).x() for i in range(doses.count())}) == [chart_time(d) for d in chart.dose_days]
    axis = chart.time_axis
    assert isinstance(axis, QDateTimeAxis) and axis.titleText() == "Date"
    assert axis.min().date().toPython() <= date(2026, 11, 28) and axis.max().date().toPython() >= date(
        2026, 12, 5
    )
    assert chart.value_axis is not None and chart.value_axis.titleText() == "Haemoglobin (g/L)"

    # Serum B12: in pmol/L, against NICE NG239's two zones.
    dialog.trend_test.setCurrentIndex(dialog.trend_test.findData("serum_b12"))
    dialog.trend_test.activated.emit(dialog.trend_test.currentIndex())
    assert chart.title.text() == "Serum B12 (pmol/L)"
    assert chart.value_series[0].count() == 1
    assert chart.value_series[0].at(0).y() == float(Decimal(110) * Decimal("0.738"))
    assert [b.name() for b in chart.band_series] == [
        "Deficient: below 180 ng/L",
        "Indeterminate: 180 to 350 ng/L",
    ]
    assert "deficient below 180 ng/L (132.8 pmol/L)" in chart.subtitle.text()
    assert "NICE NG239" in chart.subtitle.text()
    assert not dialog.has_changes()  # choosing what to chart is nothing to lose on closing


def test_a_result_added_while_the_trend_is_shown_appears_on_it(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    pid = _patient_with_results(db, staff)
    dialog = _open(db, staff, make_ctx, host, pid)
    dialog.tabs.setCurrentWidget(dialog.trend_page)
    assert dialog.trend_chart.value_series[0].count() == 3
    dialog.test.setCurrentIndex(dialog.test.findData("hb"))
    dialog.unit.setCurrentIndex(dialog.unit.findData("g/L"))
    dialog.taken_on.setText("2026-11-30")
    dialog.value.setText("94")
    dialog.add_result()
    assert dialog.trend_chart.value_series[0].count() == 4
    assert dialog.trend_test.currentText() == "Haemoglobin (g/L), 4 results"


def test_the_symptoms_tab_charts_each_scored_symptom(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    pid = _patient_with_results(db, staff)
    dialog = _open(db, staff, make_ctx, host, pid)
    dialog.tabs.setCurrentWidget(dialog.symptoms_page)
    chart = dialog.symptom_chart
    assert chart.stack.currentWidget() is chart.view
    assert [s.name() for s in chart.value_series] == [
        "Fatigue (line)",
        "Tingling or numbness (line)",
        "Balance (line)",
    ]
    assert [s.count() for s in chart.value_series] == [3, 3, 3]
    fatigue = chart.value_series[0]
    assert [round(fatigue.at(i).y()) for i in range(3)] == [3, 2, 1]
    assert chart.value_axis is not None and chart.value_axis.titleText() == "Score"
    assert chart.value_axis.categoriesLabels() == ["0 none", "1 mild", "2 moderate", "3 severe"]  # type: ignore[attr-defined]
    assert chart.dose_series[0].name() == "B12 dose given (3)"
    assert "3 visits with scores" in chart.subtitle.text()


def test_a_dose_entered_in_error_leaves_the_charts(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    pid = _patient_with_results(db, staff)
    with db.sessions.begin() as s:
        last = adm.patient_administrations(s, staff.nurse, pid)[0]
        adm.mark_entered_in_error(
            s, staff.nurse, last.id, reason="wrong patient", password=PASSWORD, clock=at(DOSE_TIMES[-1])
        )
    dialog = _open(db, staff, make_ctx, host, pid)
    dialog.tabs.setCurrentWidget(dialog.symptoms_page)
    assert dialog.symptom_chart.dose_days == (date(2026, 12, 1), date(2026, 12, 3))
    assert [s.count() for s in dialog.symptom_chart.value_series] == [2, 2, 2]


def test_no_results_and_no_scores_are_said_plainly(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget, add_patient: AddPatient
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = _open(db, staff, make_ctx, host, pid)
    dialog.tabs.setCurrentWidget(dialog.trend_page)
    chart = dialog.trend_chart
    assert chart.stack.currentWidget() is chart.empty
    assert chart.empty.text() == "No haemoglobin results yet"
    assert chart.value_series == [] and not dialog.trend_test.isEnabled()
    dialog.tabs.setCurrentWidget(dialog.symptoms_page)
    assert dialog.symptom_chart.empty.text() == "No symptom scores recorded yet"
    assert dialog.symptom_chart.stack.currentWidget() is dialog.symptom_chart.empty


def test_a_chart_without_a_range_in_the_data_says_so(qtbot: QtBot) -> None:
    chart = LabTrendChart()
    qtbot.addWidget(chart)
    reason = "No reference range for MCV in the clinic's laboratory data: charted without a band."
    trend = LabTrend(
        patient_id=1,
        test_code="mcv",
        test_name="MCV",
        unit="fL",
        points=(
            TrendPoint(date(2026, 1, 5), Decimal(112), "112 fL", 1),
            TrendPoint(date(2026, 3, 2), Decimal(98), "98 fL", 2),
        ),
        band=None,
        no_band_reason=reason,
        dose_days=(),
        left_out_in_error=0,
        left_out_unconverted=2,
    )
    chart.show_trend(trend)
    assert chart.band_series == [] and chart.dose_series == []
    assert chart.subtitle.text() == f"{reason} 2 results in a unit with no conversion to fL not charted."
    assert chart.value_series[0].count() == 2
    assert chart.point_near(chart_time(date(2026, 3, 1))) == trend.points[1]
    chart.show_trend(LabTrend(1, "mcv", "MCV", "fL", (), None, reason, (), 0, 0))
    assert chart.empty.text() == "No MCV results yet" and chart.value_series == []
