"""A patient's laboratory results: read them, add one, mark a wrong one entered-in-error, and follow one
test's results, or the symptom scores, on a chart with the doses marked."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import LabContext, RecordStatus
from b12desk.domain.lab_bands import BAND_LABELS, Band
from b12desk.domain.labs import LabTestDef
from b12desk.domain.units import format_number
from b12desk.services import patients, trends
from b12desk.services.common import Actor
from b12desk.services.patients import LabRow, RosterRow
from b12desk.services.reference import lab_tests
from b12desk.services.trends import ChartedTest, LabTrend, SymptomTrend
from b12desk.ui.context import DOSES, LABS, AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.style import ERROR_RED, WARNING_AMBER
from b12desk.ui.table_model import FIRST_FREE_ROLE, ROW_ID_ROLE, Column, RowsModel
from b12desk.ui.trend_chart import LabTrendChart, SymptomTrendChart
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    MessageLabel,
    ReasonDialog,
    form_state,
    parse_iso_date,
    resize_within_screen,
    setup_record_table,
)

LAB_ID_ROLE = ROW_ID_ROLE
LAB_STATUS_ROLE = FIRST_FREE_ROLE

CONTEXT_LABELS = {LabContext.BASELINE: "Baseline", LabContext.FOLLOW_UP: "Follow-up"}
STATUS_LABELS = {
    RecordStatus.CURRENT: "Current",
    RecordStatus.AMENDED: "Amended",
    RecordStatus.ENTERED_IN_ERROR: "Entered in error",
}
_STRUCK_GREY = QColor("#8a8a8a")
CANONICAL_PLACES = Decimal("0.01")
BAND_COLUMN = 5


def result_text(lab: LabRow) -> str:
    test = lab_tests().get(lab.test_code)
    if test is not None and test.qualitative:
        return lab.value_text
    return f"{lab.value_text} {lab.unit}"


def canonical_text(lab: LabRow) -> str:
    test = lab_tests().get(lab.test_code)
    if test is not None and test.qualitative:
        return ""
    if lab.value_canonical is None:
        return "no conversion"
    # The stored conversion is exact; two decimals are as much as any B12 work-up reads.
    shown = lab.value_canonical.quantize(CANONICAL_PLACES, rounding=ROUND_HALF_UP)
    return f"{format_number(shown)} {lab.canonical_unit}"


_BAND_COLOURS = {Band.DEFICIENT: QColor(ERROR_RED), Band.INDETERMINATE: QColor(WARNING_AMBER)}


def band_text(lab: LabRow) -> str:
    return BAND_LABELS[lab.band] if lab.band is not None and not _wrong(lab) else ""


def _band_tooltip(lab: LabRow) -> str | None:
    return lab.band_advice or None


def latest_advice(rows: list[LabRow]) -> str:
    """What the newest current result of each banded test asks for next (an indeterminate B12)."""
    seen: set[str] = set()
    notes = []
    for lab in rows:  # newest first
        if lab.status != RecordStatus.CURRENT or lab.band is None or lab.test_code in seen:
            continue
        seen.add(lab.test_code)
        if lab.band_advice:
            notes.append(f"{lab.test_name} {result_text(lab)} on {lab.taken_on}: {lab.band_advice}")
    return "\n".join(notes)


def _wrong(lab: LabRow) -> bool:
    return lab.status == RecordStatus.ENTERED_IN_ERROR


def _canonical_tooltip(lab: LabRow) -> str | None:
    if lab.value_canonical is None and canonical_text(lab):
        return f"No conversion from {lab.unit} to {lab.canonical_unit} is defined."
    return None


class LabsModel(RowsModel[LabRow]):
    """A result entered in error stays listed, struck through and grey."""

    columns = (
        Column[LabRow]("Test", lambda lab: lab.test_name),
        Column[LabRow]("Context", lambda lab: CONTEXT_LABELS.get(lab.context, str(lab.context))),
        Column[LabRow]("Date taken", lambda lab: lab.taken_on.isoformat()),
        Column[LabRow]("Result", result_text),
        Column[LabRow]("Canonical value", canonical_text, tooltip=_canonical_tooltip),
        Column[LabRow]("Band", band_text, tooltip=_band_tooltip),
        Column[LabRow]("Status", lambda lab: STATUS_LABELS.get(lab.status, str(lab.status))),
        Column[LabRow]("Entered by", lambda lab: lab.entered_by),
    )

    def lab(self, row: int) -> LabRow:
        return self.row(row)

    def row_id(self, row: LabRow) -> int:
        return row.id

    def tooltip(self, row: LabRow, column: int) -> str | None:
        if _wrong(row):
            return "Entered in error: kept for the record, not used clinically."
        return super().tooltip(row, column)

    def foreground(self, row: LabRow, column: int) -> QColor | None:
        if _wrong(row):
            return _STRUCK_GREY
        if column == BAND_COLUMN and row.band is not None:
            return _BAND_COLOURS.get(row.band)
        return None

    def font(self, row: LabRow, column: int) -> QFont | None:
        if not _wrong(row):
            return None
        font = QFont()
        font.setStrikeOut(True)
        return font

    def extra(self, row: LabRow, column: int, role: int) -> Any:
        return row.status if role == LAB_STATUS_ROLE else None


class LabsDialog(DiscardGuard, QDialog):
    def __init__(self, ctx: AppContext, patient: RosterRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.patient = patient
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        who = f"{patient.family_name.upper()}, {patient.given_name}"
        self.setWindowTitle(f"Laboratory results — {who} ({patient.mrn})")
        self.tests = lab_tests()

        heading = QLabel(
            f"<b>{escape(who)}</b> &nbsp; MRN {escape(patient.mrn)} &nbsp; born {patient.date_of_birth}"
        )
        heading.setTextFormat(Qt.TextFormat.RichText)

        self.model = LabsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_record_table(self.table)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((200, 80, 90, 110, 115, 105, 110, 90)):
            self.table.setColumnWidth(column, width)
        self.empty_label = QLabel("No laboratory results recorded yet.")
        self.empty_label.setObjectName("muted")
        self.advice = MessageLabel()  # an indeterminate B12's next test: advice, not an error
        self.advice.setObjectName("advice")

        self.mark_button = QPushButton("Mark entered in error…")
        self.mark_button.setEnabled(False)
        table_buttons = QHBoxLayout()
        table_buttons.addWidget(self.empty_label)
        table_buttons.addStretch(1)
        table_buttons.addWidget(self.mark_button)

        # --- the add-a-result form ---
        self.errors = FieldErrors()
        self.test = QComboBox()
        for test in self.tests.values():
            self.test.addItem(test.name, test.code)
        self.context = QComboBox()
        for context, label in CONTEXT_LABELS.items():
            self.context.addItem(label, context)
        self.taken_on = QLineEdit(ctx.clock.today().isoformat())
        self.taken_on.setPlaceholderText("YYYY-MM-DD")
        self.taken_on.setMaxLength(10)
        self.value = QLineEdit()
        self.value.setPlaceholderText("number as reported")
        self.choice = QComboBox()
        self.value_stack = QStackedWidget()
        self.value_stack.addWidget(self.value)
        self.value_stack.addWidget(self.choice)
        self.value_stack.setFixedHeight(self.value.sizeHint().height())
        self.unit = QComboBox()
        self.unit_label = QLabel("Unit")
        self.note = QLineEdit()
        self.note.setPlaceholderText("optional")
        self.add_button = QPushButton("Add result")
        self.summary = MessageLabel()

        form = self.form = QGroupBox("Add a result")
        grid = QGridLayout(form)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)

        def place(row: int, col: int, label: QLabel, widget: QWidget, field: str, marks: QWidget) -> None:
            grid.addWidget(label, row, col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(widget, row, col + 1)
            error = ErrorLabel()
            grid.addWidget(error, row + 1, col + 1)
            self.errors.add(field, marks, error)

        place(0, 0, QLabel("Test"), self.test, "test", self.test)
        place(0, 2, QLabel("Context"), self.context, "context", self.context)
        place(2, 0, QLabel("Date taken"), self.taken_on, "taken_on", self.taken_on)
        place(2, 2, QLabel("Note"), self.note, "note", self.note)
        # A qualitative choice cannot be wrong, so only the typed value is highlighted.
        place(4, 0, QLabel("Result"), self.value_stack, "value", self.value)
        place(4, 2, self.unit_label, self.unit, "unit", self.unit)
        grid.addWidget(self.summary, 6, 0, 1, 4)
        add_row = QHBoxLayout()
        add_row.addStretch(1)
        add_row.addWidget(self.add_button)
        grid.addLayout(add_row, 7, 0, 1, 4)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        # --- the results, and their trends ---
        results_page = QWidget()
        results = QVBoxLayout(results_page)
        results.addWidget(self.table, 1)
        results.addWidget(self.advice)
        results.addLayout(table_buttons)

        self.trend_test = QComboBox()
        self.trend_test.setMinimumContentsLength(34)
        self.trend_test.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.trend_chart = LabTrendChart()
        self.trend_page = QWidget()
        trend = QVBoxLayout(self.trend_page)
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("Test"))
        chooser.addWidget(self.trend_test)
        chooser.addStretch(1)
        trend.addLayout(chooser)
        trend.addWidget(self.trend_chart, 1)

        self.symptom_chart = SymptomTrendChart()
        self.symptoms_page = QWidget()
        QVBoxLayout(self.symptoms_page).addWidget(self.symptom_chart)

        self.tabs = QTabWidget()
        self.tabs.addTab(results_page, "Results")
        self.tabs.addTab(self.trend_page, "Trend")
        self.tabs.addTab(self.symptoms_page, "Symptoms")
        self.tabs.setTabToolTip(
            1, "One test's results over time, its reference band shaded, the doses marked."
        )
        self.tabs.setTabToolTip(2, "The symptom scores recorded at visits, over time, the doses marked.")

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(form)
        layout.addWidget(close)
        resize_within_screen(self, 980, 720)

        self.test.currentIndexChanged.connect(self._test_changed)
        self.add_button.clicked.connect(self.add_result)
        self.mark_button.clicked.connect(self.mark_entered_in_error)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.trend_test.activated.connect(self.load_trend)
        self._test_changed()
        ctx.bus.changed.connect(self._data_changed)
        self.reload()

    # The add-a-result form is what closing could lose; the chart's choice of test is not.
    def mark_clean(self) -> None:
        self._clean_state = form_state(self.form)

    def has_changes(self) -> bool:
        return self._clean_state is not None and form_state(self.form) != self._clean_state

    def _data_changed(self, what: str) -> None:
        if what == LABS:
            self.reload()
        if what in (LABS, DOSES):
            self._tab_changed()

    def _tab_changed(self) -> None:
        """A chart is read when its tab is shown, and again when what it shows changes."""
        page = self.tabs.currentWidget()
        if page is self.trend_page:
            self.load_trend()
        elif page is self.symptoms_page:
            self.load_symptoms()

    def load_trend(self) -> None:
        """The chosen test's trend, and the tests there are to choose from (the patient's numeric tests,
        haemoglobin first), in one operation."""
        patient_id, wanted = self.patient.id, self.trend_test.currentData()

        def read(session: Session, actor: Actor) -> tuple[list[ChartedTest], LabTrend]:
            tests = trends.charted_tests(session, actor, patient_id)
            codes = [t.code for t in tests]
            code = wanted if wanted in codes else (codes[0] if codes else trends.PREFERRED_TESTS[0])
            return tests, trends.lab_trend(session, actor, patient_id, code)

        run_op(
            self,
            self.ctx,
            read,
            self._trend_loaded,
            lambda failure: self._summary(failure.message),
            quiet=True,
        )

    def _trend_loaded(self, result: tuple[list[ChartedTest], LabTrend]) -> None:
        tests, trend = result
        self.trend_test.blockSignals(True)
        self.trend_test.clear()
        for test in tests:
            many = "s" if test.results != 1 else ""
            self.trend_test.addItem(f"{test.name} ({test.unit}), {test.results} result{many}", test.code)
        self.trend_test.setCurrentIndex(self.trend_test.findData(trend.test_code))
        self.trend_test.setEnabled(bool(tests))
        self.trend_test.blockSignals(False)
        self.trend_chart.show_trend(trend)

    def load_symptoms(self) -> None:
        patient_id = self.patient.id
        run_op(
            self,
            self.ctx,
            lambda s, actor: trends.symptom_trend(s, actor, patient_id),
            self._symptoms_loaded,
            lambda failure: self._summary(failure.message),
            quiet=True,
        )

    def _symptoms_loaded(self, trend: SymptomTrend) -> None:
        self.symptom_chart.show_trend(trend)

    def current_test(self) -> LabTestDef:
        return self.tests[self.test.currentData()]

    def _test_changed(self) -> None:
        test = self.current_test()
        qualitative = bool(test.qualitative)
        self.value_stack.setCurrentWidget(self.choice if qualitative else self.value)
        self.choice.clear()
        for option in test.qualitative:
            self.choice.addItem(option.capitalize(), option)
        self.unit.clear()
        for unit in test.units:
            self.unit.addItem(unit, unit)
        if len(test.units) > 1:
            # No default: the unit is read off the report (a B12 in ng/L taken for pmol/L reads 35% high).
            self.unit.setPlaceholderText("Choose the unit reported…")
            self.unit.setCurrentIndex(-1)
        self.unit.setVisible(not qualitative)
        self.unit_label.setVisible(not qualitative)

    def reload(self) -> None:
        patient_id = self.patient.id
        run_op(
            self,
            self.ctx,
            lambda s, actor: patients.list_labs(s, actor, patient_id),
            self._loaded,
            lambda failure: self._summary(failure.message),
            quiet=True,
        )

    def _loaded(self, rows: list[LabRow]) -> None:
        self.model.set_rows(rows)
        self.empty_label.setVisible(not rows)
        self.advice.show_text(latest_advice(rows))
        self._selection_changed()

    def _selection_changed(self) -> None:
        lab = self.selected_lab()
        self.mark_button.setEnabled(lab is not None and lab.status == RecordStatus.CURRENT)

    def selected_lab(self) -> LabRow | None:
        return self.model.selected(self.table)

    def _summary(self, text: str) -> None:
        self.summary.show_text(text)

    def add_result(self) -> None:
        test = self.current_test()
        date_problem = ""
        try:
            taken_on = parse_iso_date(self.taken_on.text())
        except ValueError as exc:
            taken_on, date_problem = None, str(exc)
        value_text = self.choice.currentData() if test.qualitative else self.value.text()
        unit = test.canonical_unit if test.qualitative else self.unit.currentData()
        patient_id, context, note = self.patient.id, self.context.currentData(), self.note.text()

        def add(session: Session, actor: Actor) -> LabRow:
            return patients.add_lab_result(
                session,
                actor,
                patient_id,
                test_code=test.code,
                context=context,
                taken_on=taken_on,
                value_text=value_text or "",
                unit=unit or "",
                note=note,
            )

        def refused(failure: OpFailure) -> None:
            errors = dict(failure.fields)
            if date_problem:
                errors["taken_on"] = date_problem
            if not errors:
                self.errors.clear()
                self._summary(failure.message)
                return
            unclaimed = self.errors.show(errors)
            self._summary("\n".join(["The result was not added.", *unclaimed.values()]))

        run_op(self, self.ctx, add, self._added, refused, write=True, changes=(LABS,))

    def _added(self, _row: LabRow) -> None:
        self.errors.clear()
        self._summary("")
        self.value.clear()
        self.note.clear()
        self.mark_clean()  # the result is saved: closing now loses nothing
        self.reload()

    def mark_entered_in_error(self) -> ReasonDialog | None:
        lab = self.selected_lab()
        if lab is None:
            return None

        def submit(session: Session, actor: Actor, reason: str) -> None:
            patients.mark_lab_entered_in_error(session, actor, lab.id, reason=reason)

        dialog = ReasonDialog(
            self,
            self.ctx,
            changes=(LABS,),
            title="Mark result entered in error",
            prompt=(
                f"Mark {lab.test_name} {result_text(lab)} of {lab.taken_on} as entered in error? It stays "
                "readable, struck through, and is no longer used. Enter the right result as a new one. Why "
                "is it wrong?"
            ),
            action_text="Mark entered in error",
            submit=submit,
            placeholder="e.g. wrong patient, wrong unit, typing error",
        )
        dialog.open()
        return dialog
