"""Trend charts (QtCharts): one laboratory test's results, or the symptom scores, over time, with the
reference band shaded and the days doses were given marked. Built from the services' plain results
(services.trends), so each chart is shown and tested without a database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from PySide6.QtCharts import (
    QAbstractAxis,
    QAbstractSeries,
    QAreaSeries,
    QCategoryAxis,
    QChart,
    QChartView,
    QDateTimeAxis,
    QLegend,
    QLineSeries,
    QScatterSeries,
    QValueAxis,
)
from PySide6.QtCore import QDate, QDateTime, QMargins, QPointF, Qt, QTime, QTimer
from PySide6.QtGui import QBrush, QColor, QCursor, QFont, QPainter, QPen, QResizeEvent
from PySide6.QtWidgets import QLabel, QStackedWidget, QToolTip, QVBoxLayout, QWidget

from b12desk.domain.units import format_number
from b12desk.services.trends import LabTrend, SymptomTrend, TrendPoint, ZoneKind
from b12desk.ui.style import ERROR_RED

VALUE_BLUE = QColor("#1f5fa8")
DOSE_GREEN = QColor("#2e7d32")
ZONE_COLOURS = {ZoneKind.LOW: QColor(ERROR_RED), ZoneKind.BORDERLINE: QColor("#e0a000")}
ZONE_ALPHA = 38
# One colour and marker per symptom, told apart without colour too (Okabe-Ito palette, distinct shapes).
SYMPTOM_STYLES = (
    ("#d55e00", QScatterSeries.MarkerShape.MarkerShapeCircle),
    ("#0072b2", QScatterSeries.MarkerShape.MarkerShapeRectangle),
    ("#009e73", QScatterSeries.MarkerShape.MarkerShapeTriangle),
    ("#cc79a7", QScatterSeries.MarkerShape.MarkerShapeStar),
    ("#7a6a00", QScatterSeries.MarkerShape.MarkerShapePentagon),
)
DOSE_LABEL = "B12 dose given"
MIN_CHART_HEIGHT = 260
TIME_TICKS = 7
# Where symptoms share a score the lines would hide each other: each is drawn this far off the score.
SYMPTOM_DODGE = (-0.08, -0.04, 0.0, 0.04, 0.08)


def chart_time(day: date) -> float:
    """A clinic day on the time axis: its noon, so a result and a dose on the same day line up."""
    return float(QDateTime(QDate(day.year, day.month, day.day), QTime(12, 0)).toMSecsSinceEpoch())


def shown_value(value: Decimal) -> float:
    """A result as plotted and labelled: four significant figures (72.32 pmol/L, not 72.324)."""
    if not value:
        return 0.0
    places = max(3 - value.adjusted(), 0)
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def lower_first(name: str) -> str:
    """'Haemoglobin' -> 'haemoglobin' in a sentence; 'MCV' and 'B12' stay as they are."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def _day_span(days: Sequence[date]) -> tuple[date, date]:
    first, last = min(days), max(days)
    pad = max(timedelta(days=1), (last - first) * 0.04)
    return first - pad, last + pad


class TrendChartView(QWidget):
    """A title, a line of what the chart shows (the band's source, or that there is none), and the chart;
    or, with nothing to chart, a plain sentence saying so instead of empty axes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = QLabel()
        self.subtitle.setObjectName("muted")
        self.subtitle.setWordWrap(True)
        self.chart = self._new_chart()
        self.view = QChartView(self.chart)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setMinimumHeight(MIN_CHART_HEIGHT)
        self.empty = QLabel()
        self.empty.setObjectName("placeholderTitle")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.empty)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.stack, 1)
        self.value_series: list[QLineSeries] = []
        self.band_series: list[QAreaSeries] = []
        self.dose_series: list[QLineSeries] = []
        self.dose_days: tuple[date, ...] = ()
        self.time_axis: QDateTimeAxis | None = None
        self.value_axis: QAbstractAxis | None = None

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        QTimer.singleShot(0, self._relayout_legend)  # once the chart has its new size

    # --- shared building -------------------------------------------------------------------------------

    def _new_chart(self) -> QChart:
        chart = QChart()
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.setBackgroundRoundness(0)
        chart.layout().setContentsMargins(0, 0, 0, 0)
        legend = chart.legend()
        legend.setAlignment(Qt.AlignmentFlag.AlignBottom)
        legend.setMarkerShape(QLegend.MarkerShape.MarkerShapeFromSeries)
        legend.setFont(QFont(self.font().family(), 9))
        return chart

    def _clear(self) -> None:
        """A new chart for each trend: axes removed from a chart stay drawn on it (QtCharts 6.11)."""
        old, self.chart = self.chart, self._new_chart()
        self.view.setChart(self.chart)
        old.deleteLater()
        self.value_series, self.band_series, self.dose_series = [], [], []
        self.dose_days = ()
        self.time_axis = self.value_axis = None

    def _show_empty(self, text: str) -> None:
        self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty)

    def _attach(self, series: QAbstractSeries) -> None:
        self.chart.addSeries(series)
        assert self.time_axis is not None and self.value_axis is not None
        series.attachAxis(self.time_axis)
        series.attachAxis(self.value_axis)

    def _axes(self, days: Sequence[date], value_axis: QAbstractAxis, value_title: str) -> tuple[float, float]:
        """The time axis over `days` (a little margin each side, ticks on whole days) and the value axis;
        returns the time axis's ends."""
        first, last = _day_span(days)
        span = max(1, (last - first).days)
        ticks = max(2, min(TIME_TICKS, span + 1))
        step = -(-span // (ticks - 1))  # whole days between ticks
        last = first + timedelta(days=step * (ticks - 1))
        start = QDateTime(QDate(first.year, first.month, first.day), QTime(0, 0))
        end = QDateTime(QDate(last.year, last.month, last.day), QTime(0, 0))
        axis = QDateTimeAxis()
        axis.setTitleText("Date")
        axis.setFormat("d MMM yyyy" if span < 400 else "MMM yyyy")
        axis.setTickCount(ticks)
        axis.setRange(start, end)
        value_axis.setTitleText(value_title)
        for a in (axis, value_axis):
            a.setGridLineColor(QColor("#e3e3e3"))
        self.chart.addAxis(axis, Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(value_axis, Qt.AlignmentFlag.AlignLeft)
        self.time_axis, self.value_axis = axis, value_axis
        return float(start.toMSecsSinceEpoch()), float(end.toMSecsSinceEpoch())

    def _relayout_legend(self) -> None:
        # Laid out as the first series arrived, the legend would keep eliding labels it has room for.
        self.chart.legend().layout().invalidate()

    def _dose_lines(self, dose_days: Sequence[date], low: float, high: float) -> None:
        """A dashed vertical line at each dose day, as one series (one legend entry, whatever the number of
        doses): a zigzag whose horizontal legs run beyond the plot area, where the chart clips them."""
        if not dose_days:
            return
        reach = high - low
        below, above = low - reach, high + reach
        line = QLineSeries()
        line.setName(f"{DOSE_LABEL} ({len(dose_days)})")
        line.setPen(QPen(DOSE_GREEN, 1.2, Qt.PenStyle.DashLine))
        for n, day in enumerate(dose_days):
            x = chart_time(day)
            ends = (below, above) if n % 2 == 0 else (above, below)
            line.append(x, ends[0])
            line.append(x, ends[1])
        self._attach(line)
        self.dose_series.append(line)
        self.dose_days = tuple(dose_days)


class LabTrendChart(TrendChartView):
    """One test's results in its canonical unit, the band's zones shaded behind them, doses marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trend: LabTrend | None = None

    def show_trend(self, trend: LabTrend) -> None:
        self.trend = trend
        self._clear()
        self.title.setText(f"{trend.test_name} ({trend.unit})")
        notes = [trend.band.summary if trend.band is not None else trend.no_band_reason]
        if trend.left_out_in_error:
            n = trend.left_out_in_error
            notes.append(f"{n} result{'s' if n != 1 else ''} entered in error not charted.")
        if trend.left_out_unconverted:
            n = trend.left_out_unconverted
            notes.append(
                f"{n} result{'s' if n != 1 else ''} in a unit with no conversion to {trend.unit} not charted."
            )
        self.subtitle.setText(" ".join(note if note.endswith(".") else f"{note}." for note in notes))
        self.subtitle.setToolTip(trend.band.source if trend.band is not None else "")
        if not trend.points:
            self._show_empty(f"No {lower_first(trend.test_name)} results yet")
            return
        self.stack.setCurrentWidget(self.view)
        values = [shown_value(p.value) for p in trend.points]
        limits = [
            float(limit)
            for zone in (trend.band.zones if trend.band is not None else ())
            for limit in (zone.low, zone.high)
            if limit is not None
        ]
        low, high = min(values + limits), max(values + limits)
        pad = max((high - low) * 0.08, abs(high) * 0.02, 1e-9)
        axis = QValueAxis()
        axis.setRange(max(0.0, low - pad) if low >= 0 else low - pad, high + pad)
        axis.applyNiceNumbers()
        axis.setLabelFormat("%g")
        x_from, x_to = self._axes(
            [p.day for p in trend.points] + list(trend.dose_days), axis, f"{trend.test_name} ({trend.unit})"
        )
        y_from, y_to = axis.min(), axis.max()

        for zone in trend.band.zones if trend.band is not None else ():
            z_low = y_from if zone.low is None else max(y_from, float(zone.low))
            z_high = y_to if zone.high is None else min(y_to, float(zone.high))
            upper, lower = QLineSeries(), QLineSeries()
            for x in (x_from, x_to):
                upper.append(x, z_high)
                lower.append(x, z_low)
            area = QAreaSeries(upper, lower)
            upper.setParent(area)  # the area only borrows its edges: they go when it goes
            lower.setParent(area)
            area.setName(zone.label)
            colour = QColor(ZONE_COLOURS[zone.kind])
            colour.setAlpha(ZONE_ALPHA)
            area.setBrush(QBrush(colour))
            area.setPen(QPen(Qt.PenStyle.NoPen))
            self._attach(area)
            self.band_series.append(area)
            legend_colour = QColor(ZONE_COLOURS[zone.kind])
            legend_colour.setAlpha(ZONE_ALPHA * 3)  # a legend swatch as faint as the band is hard to see
            for marker in self.chart.legend().markers(area):
                marker.setShape(QLegend.MarkerShape.MarkerShapeRectangle)
                marker.setBrush(QBrush(legend_colour))
                marker.setPen(QPen(QColor(ZONE_COLOURS[zone.kind]), 1))

        self._dose_lines(trend.dose_days, y_from, y_to)

        series = QLineSeries()
        series.setName(f"{trend.test_name} ({trend.unit})")
        series.setPen(QPen(VALUE_BLUE, 2.2))
        series.setPointsVisible(True)
        series.setMarkerSize(5)
        series.setColor(VALUE_BLUE)
        for point in trend.points:
            series.append(chart_time(point.day), shown_value(point.value))
        if len(trend.points) <= 16:
            series.setPointLabelsVisible(True)
            series.setPointLabelsFormat("@yPoint")
            series.setPointLabelsClipping(False)
            series.setPointLabelsColor(VALUE_BLUE)
        series.hovered.connect(self._hovered)
        self._attach(series)
        self.value_series.append(series)
        self._relayout_legend()

    def point_near(self, x: float) -> TrendPoint | None:
        """The result nearest a place on the time axis (for the hover tip)."""
        if self.trend is None or not self.trend.points:
            return None
        return min(self.trend.points, key=lambda p: abs(chart_time(p.day) - x))

    def _hovered(self, where: QPointF, state: bool) -> None:
        point = self.point_near(where.x())
        if not state or point is None or self.trend is None:
            QToolTip.hideText()
            return
        shown = f"{format_number(point.value.quantize(Decimal('0.01')).normalize())} {self.trend.unit}"
        QToolTip.showText(QCursor.pos(), f"{point.day:%d %b %Y}: {shown} (reported {point.as_reported})")


class SymptomTrendChart(TrendChartView):
    """The symptom scores at each visit, one line per symptom on the 0 to 3 scale, doses marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trend: SymptomTrend | None = None

    def show_trend(self, trend: SymptomTrend) -> None:
        self.trend = trend
        self._clear()
        self.title.setText("Symptom scores at visits")
        scale = ", ".join(f"{n} {word}" for n, word in enumerate(trend.scale))
        self.subtitle.setText(
            f"Scored at visits: {scale}. {trend.visits} visit{'s' if trend.visits != 1 else ''} with scores; "
            "where symptoms share a score their lines are drawn a little apart."
        )
        days = [p.day for s in trend.series for p in s.points]
        if not days:
            self._show_empty("No symptom scores recorded yet")
            return
        self.stack.setCurrentWidget(self.view)
        axis = QCategoryAxis()
        axis.setLabelsPosition(QCategoryAxis.AxisLabelsPosition.AxisLabelsPositionOnValue)
        for score, word in enumerate(trend.scale):
            axis.append(f"{score} {word}", score)
        axis.setRange(-0.25, len(trend.scale) - 1 + 0.25)
        axis.setStartValue(-0.25)
        self._axes(days + list(trend.dose_days), axis, "Score")
        self._dose_lines(trend.dose_days, -0.25, len(trend.scale) - 1 + 0.25)
        for (colour, shape), dodge, symptom in zip(SYMPTOM_STYLES, SYMPTOM_DODGE, trend.series, strict=False):
            if not symptom.points:
                continue
            line = QLineSeries()
            line.setName(f"{symptom.label} (line)")
            line.setPen(QPen(QColor(colour), 2))
            line.setColor(QColor(colour))
            for point in symptom.points:
                line.append(chart_time(point.day), point.score + dodge)
            self._attach(line)
            self.value_series.append(line)
            for marker in self.chart.legend().markers(line):
                marker.setVisible(False)
            # The markers as a series of their own, the one in the legend: each symptom its own shape, told
            # apart without colour.
            marks = QScatterSeries()
            marks.setName(symptom.label)
            marks.setMarkerShape(shape)
            marks.setMarkerSize(9)
            marks.setColor(QColor(colour))
            marks.setBorderColor(QColor(colour))
            for point in symptom.points:
                marks.append(chart_time(point.day), point.score + dodge)
            self._attach(marks)
        self._relayout_legend()
