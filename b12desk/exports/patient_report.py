"""A patient's treatment record as a PDF (reportlab platypus, built-in Helvetica): a header and footer on
every page (clinic, patient, MRN, date of birth, printed at, page N of M), the patient and their flags
(allergies in red), plans and their verification, every dose record with site, lot and nurse (corrected
and entered-in-error ones struck through, the reason beneath), laboratory results, a trend chart per
analyte (reference band shaded, dose days marked) and signature lines.

Long tables are laid out one `Table` per page: a flowable of pre-measured rows hands platypus exactly
the rows that fit the space left, so the time is linear in the length of the record.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Circle, Drawing, Line, Polygon, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from b12desk.domain.units import format_number
from b12desk.exports.xlsx import ExportFailed
from b12desk.services.label_data import label_date, label_time
from b12desk.services.patient_record import PatientRecord, RecordDose, RecordLab
from b12desk.services.trends import LabTrend, ZoneKind

REGULAR, BOLD, ITALIC = "Helvetica", "Helvetica-Bold", "Helvetica-Oblique"
PAGE = A4
MARGIN = 15 * mm
HEADER_H = 17 * mm  # above the frame
FOOTER_H = 11 * mm  # below the frame
CELL_SIZE, CELL_LEADING = 7.6, 9.2
PAD_V, PAD_H = 2.0, 3.0
INK = colors.HexColor("#1a1a1a")
MUTED = colors.HexColor("#5f6368")
STRUCK = colors.HexColor("#7a7a7a")
RULE = colors.HexColor("#c8ccd0")
HEAD_FILL = colors.HexColor("#e8edf2")
ZEBRA = colors.HexColor("#f6f8fa")
ALERT = colors.HexColor("#b00020")
NOTE_INK = colors.HexColor("#8a4b00")
BAND_FILL = {ZoneKind.LOW: colors.HexColor("#f8d7da"), ZoneKind.BORDERLINE: colors.HexColor("#fff3cd")}
DOSE_MARK = colors.HexColor("#1f5fa8")
LINE_INK = colors.HexColor("#202a44")
MEANING = "I have reviewed this treatment record and it is complete and accurate."

_S = {
    "title": ParagraphStyle("title", fontName=BOLD, fontSize=15, leading=19, textColor=INK, spaceAfter=2),
    "h2": ParagraphStyle(
        "h2", fontName=BOLD, fontSize=11.5, leading=15, textColor=INK, spaceBefore=9, spaceAfter=4
    ),
    "h3": ParagraphStyle("h3", fontName=BOLD, fontSize=9.5, leading=12, textColor=INK, spaceBefore=6),
    "body": ParagraphStyle("body", fontName=REGULAR, fontSize=8.8, leading=11.5, textColor=INK),
    "small": ParagraphStyle("small", fontName=REGULAR, fontSize=7.6, leading=9.6, textColor=MUTED),
    "alert": ParagraphStyle("alert", fontName=BOLD, fontSize=9, leading=12, textColor=ALERT),
    "cell": ParagraphStyle("cell", fontName=REGULAR, fontSize=8.2, leading=10.4, textColor=INK),
    "key": ParagraphStyle("key", fontName=BOLD, fontSize=8.2, leading=10.4, textColor=MUTED),
}


def _p(text: str, style: str = "body") -> Paragraph:
    return Paragraph(text, _S[style])


def _x(text: object) -> str:
    """Text made safe for a Paragraph: <, > and & escaped."""
    return escape(str(text))


def _when(moment: datetime | None) -> str:
    return "" if moment is None else label_time(moment)


# --- tables of many rows: one Table per page --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    cells: tuple[tuple[str, ...], ...]  # each cell's lines, already wrapped to its column
    height: float
    struck: bool = False
    note: bool = False  # a line beneath the row before, across the table (the reason for a correction)
    keep_with_previous: bool = False
    zebra: bool = False


def _lines(text: str, width: float, font: str = REGULAR) -> tuple[str, ...]:
    if not text:
        return ("",)
    if stringWidth(text, font, CELL_SIZE) <= width:
        return (text,)
    return tuple(simpleSplit(text, font, CELL_SIZE, width)) or ("",)


def _row(texts: Sequence[str], widths: Sequence[float], **kw: Any) -> _Row:
    cells = tuple(_lines(t, w - 2 * PAD_H) for t, w in zip(texts, widths, strict=True))
    height = max(len(c) for c in cells) * CELL_LEADING + 2 * PAD_V
    return _Row(cells, height, **kw)


def _note_row(text: str, widths: Sequence[float], indent: int = 1) -> _Row:
    width = sum(widths[indent:]) - 2 * PAD_H
    lines = tuple(simpleSplit(text, ITALIC, CELL_SIZE, width)) or ("",)
    cells = (("",) * 1,) * indent + (lines,) + (("",),) * (len(widths) - indent - 1)
    return _Row(cells, len(lines) * CELL_LEADING + 2 * PAD_V, note=True, keep_with_previous=True)


class _StruckTable(Table):  # type: ignore[misc] # reportlab ships no type hints
    """A Table that draws a line through the text of its struck rows, as a corrected record is shown."""

    def __init__(self, data: Any, struck: Sequence[int], **kw: Any) -> None:
        super().__init__(data, **kw)
        self._struck = struck

    def draw(self) -> None:
        super().draw()
        if not self._struck:
            return
        c = self.canv
        c.saveState()
        c.setStrokeColor(STRUCK)
        c.setLineWidth(0.7)
        for r in self._struck:
            top = self._rowpositions[r]
            for k, text in enumerate(self._cellvalues[r]):
                x = self._colpositions[k] + PAD_H
                for n, line in enumerate(str(text).split("\n")):
                    if not line:
                        continue
                    y = top - PAD_V - CELL_SIZE - n * CELL_LEADING + CELL_SIZE * 0.32
                    c.line(x, y, x + stringWidth(line, REGULAR, CELL_SIZE), y)
        c.restoreState()


class RowsFlowable(Flowable):  # type: ignore[misc]
    """Pre-measured rows under a repeated header, laid out as one Table per page-sized chunk."""

    def __init__(self, header: Sequence[str], widths: Sequence[float], rows: Sequence[_Row]) -> None:
        super().__init__()
        self.header = _row(header, widths)
        self.widths = list(widths)
        self.rows = list(rows)
        self._height = self.header.height + sum(r.height for r in self.rows)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        self.width = sum(self.widths)
        return self.width, self._height

    def _fit(self, height: float) -> int:
        used, n = self.header.height, 0
        for row in self.rows:
            if used + row.height > height:
                break
            used += row.height
            n += 1
        while 0 < n < len(self.rows) and self.rows[n].keep_with_previous:
            n -= 1  # never part a record from the reason beneath it
        return n

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:
        n = self._fit(availHeight)
        if n == 0:
            return []
        return [self.table(self.rows[:n]), RowsFlowable.__new__(RowsFlowable)._rest(self, self.rows[n:])]

    def _rest(self, parent: RowsFlowable, rows: list[_Row]) -> RowsFlowable:
        Flowable.__init__(self)
        self.header, self.widths, self.rows = parent.header, parent.widths, rows
        self._height = self.header.height + sum(r.height for r in rows)
        return self

    def draw(self) -> None:
        table = self.table(self.rows)
        table.wrapOn(self.canv, self.width, self._height)
        table.drawOn(self.canv, 0, 0)

    def table(self, rows: Sequence[_Row]) -> Table:
        data = (
            ["\n".join(cell) for cell in self.header.cells],
            *(["\n".join(cell) for cell in row.cells] for row in rows),
        )
        style: list[tuple[Any, ...]] = [
            ("FONT", (0, 0), (-1, 0), BOLD, CELL_SIZE, CELL_LEADING),
            ("FONT", (0, 1), (-1, -1), REGULAR, CELL_SIZE, CELL_LEADING),
            ("TEXTCOLOR", (0, 0), (-1, -1), INK),
            ("BACKGROUND", (0, 0), (-1, 0), HEAD_FILL),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), PAD_H),
            ("RIGHTPADDING", (0, 0), (-1, -1), PAD_H),
            ("TOPPADDING", (0, 0), (-1, -1), PAD_V),
            ("BOTTOMPADDING", (0, 0), (-1, -1), PAD_V),
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, LINE_INK),
            ("LINEBELOW", (0, -1), (-1, -1), 0.5, RULE),
        ]
        struck = []
        for i, row in enumerate(rows, start=1):
            if row.zebra:
                style.append(("BACKGROUND", (0, i), (-1, i), ZEBRA))
            if row.struck:
                struck.append(i)
                style.append(("TEXTCOLOR", (0, i), (-1, i), STRUCK))
            if row.note:
                style.append(("SPAN", (1, i), (-1, i)))
                style.append(("FONT", (1, i), (-1, i), ITALIC, CELL_SIZE, CELL_LEADING))
                style.append(("TEXTCOLOR", (1, i), (-1, i), NOTE_INK))
        table = _StruckTable(
            data,
            struck,
            colWidths=self.widths,
            rowHeights=[self.header.height, *(r.height for r in rows)],
        )
        table.setStyle(TableStyle(style))
        return table


# --- the sections ----------------------------------------------------------------------------------------


def _frame_width() -> float:
    return float(PAGE[0] - 2 * MARGIN)


def _key_values(pairs: Sequence[tuple[str, str]], *, key_width: float = 40 * mm) -> Table:
    data = [[_p(_x(k), "key"), _p(v, "cell")] for k, v in pairs]
    table = Table(data, colWidths=[key_width, _frame_width() - key_width])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                ("TOPPADDING", (0, 0), (-1, -1), 1.2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
            ]
        )
    )
    return table


def _patient_section(record: PatientRecord) -> list[Flowable]:
    p = record.patient
    out: list[Flowable] = [_p("Patient", "h2")]
    pairs = [
        ("Name", f"<b>{_x(p.name)}</b>"),
        ("MRN", _x(p.mrn)),
        ("Date of birth", _x(label_date(p.date_of_birth))),
        ("Sex", _x(p.sex)),
        ("Cause of deficiency", _x(p.cause)),
        (
            "Neurological involvement",
            ("Yes" + (f": {_x(p.neuro_symptoms)}" if p.neuro_symptoms else ""))
            if p.neuro_involvement
            else "No",
        ),
    ]
    if p.pregnant_or_breastfeeding:
        pairs.append(("Pregnancy", "Pregnant or breastfeeding"))
    if p.self_injection_trained_on:
        pairs.append(("Self-injection", f"Trained on {_x(label_date(p.self_injection_trained_on))}"))
    if p.archived:
        pairs.append(("Status", "Archived"))
    out.append(_key_values(pairs))
    out.append(_p("Contraindications, cautions and allergies", "h3"))
    alerts = [*p.flags, *([f"Allergies: {p.allergies}"] if p.allergies else [])]
    if alerts:
        out.extend(_p(f"&#9632; {_x(text)}", "alert") for text in alerts)
    else:
        out.append(_p("None recorded. No known allergies."))
    return out


def _plans_section(record: PatientRecord) -> list[Flowable]:
    out: list[Flowable] = [_p("Treatment plans and their verification", "h2")]
    if not record.plans:
        out.append(_p("No treatment plan recorded."))
    for plan in record.plans:
        verified = (
            f"<b>{_x(plan.verified_by)}</b>, {_x(_when(plan.verified_at))} &#8212; meaning: "
            f"&#8220;{_x(plan.verification_meaning)}&#8221;"
            if plan.verified_by
            else '<font color="#b00020">Not verified</font>'
        )
        phases = "<br/>".join(
            _x(ph.text)
            + (f" &#8212; ended {_x(label_date(ph.ended_on))}: {_x(ph.end_reason)}" if ph.ended_on else "")
            for ph in plan.phases
        )
        pairs = [
            ("Drug and dose", f"{_x(plan.drug)}: {_x(plan.dose_text)} {_x(plan.route)}"),
            ("Phases", phases or "&#8212;"),
            ("Start", _x(label_date(plan.start_date))),
            (
                "Prescriber",
                _x(plan.prescriber) + (f" &#8212; {_x(plan.indication)}" if plan.indication else ""),
            ),
            ("Written by", _x(plan.author)),
            ("Verified by", verified),
        ]
        if plan.supplied_as:
            pairs.append(("Supplied as", _x(plan.supplied_as)))
        for key, value in (
            ("Override reason", plan.override_reason),
            ("Back for review", plan.review_reason),
            ("Ended", plan.end_reason),
        ):
            if value:
                pairs.append((key, _x(value)))
        title = f"Plan {plan.id}: {_x(plan.template)} &#8212; <i>{_x(plan.status)}</i>"
        out.append(KeepTogether([_p(title, "h3"), Spacer(1, 2), _key_values(pairs)]))
    return out


DOSE_COLUMNS = ("Date and time", "Dose", "Route", "Site", "Product", "Lot", "Nurse", "Outcome")
DOSE_WIDTHS = tuple(w * mm for w in (25, 24, 12, 28, 34, 16, 23, 18))


def _dose_rows(doses: Sequence[RecordDose]) -> list[_Row]:
    by_id = {d.id: d for d in doses}
    rows: list[_Row] = []
    for n, d in enumerate(doses):
        outcome = d.outcome
        if d.reaction:
            outcome += f"; reaction: {d.reaction}"
        extra = []
        if d.external:
            extra.append("given elsewhere")
        if d.self_administered:
            extra.append("self-administered")
        where = ", ".join([d.site or "site not recorded", *extra]) if d.route != "by mouth" else ""
        texts = (label_time(d.given_at), d.dose_text, d.route, where, d.product, d.lot, d.nurse, outcome)
        rows.append(_row(texts, DOSE_WIDTHS, struck=d.struck, zebra=n % 2 == 1))
        words = []
        if d.struck:
            what = "Corrected" if d.status.value == "amended" else "Entered in error"
            by = f" by {d.corrected_by}" if d.corrected_by else ""
            on = f" on {label_time(d.corrected_at)}" if d.corrected_at else ""
            words.append(f"{what}{by}{on}. Reason: {d.reason or 'not given'}.")
        elif d.amends_id is not None:
            old = by_id.get(d.amends_id)
            when = f" of {label_time(old.given_at)}" if old else ""
            words.append(f"Replaces the record{when}. Reason: {d.reason or 'not given'}.")
        if d.note:
            words.append(f"Note: {d.note}")
        if words:
            rows.append(_note_row(" ".join(words), DOSE_WIDTHS))
    return rows


LAB_COLUMNS = ("Taken on", "Test", "Result", "Band", "Context", "Entered by")
LAB_WIDTHS = tuple(w * mm for w in (24, 52, 28, 27, 22, 27))


def _lab_rows(labs: Sequence[RecordLab]) -> list[_Row]:
    rows: list[_Row] = []
    for n, lab in enumerate(labs):
        texts = (label_date(lab.taken_on), lab.test, lab.result, lab.band, lab.context, lab.entered_by)
        rows.append(_row(texts, LAB_WIDTHS, struck=lab.struck, zebra=n % 2 == 1))
        words = []
        if lab.struck:
            words.append(f"Entered in error. Reason: {lab.reason or 'not given'}.")
        if lab.note:
            words.append(f"Note: {lab.note}")
        if words:
            rows.append(_note_row(" ".join(words), LAB_WIDTHS))
    return rows


def _table_section(
    title: str, empty: str, header: Sequence[str], widths: Sequence[float], rows: list[_Row], caption: str
) -> list[Flowable]:
    out: list[Flowable] = [CondPageBreak(40 * mm), _p(title, "h2")]
    if not rows:
        return [*out, _p(empty)]
    if caption:
        out.append(_p(caption, "small"))
        out.append(Spacer(1, 3))
    out.append(RowsFlowable(header, widths, rows))
    return out


# --- the trend chart ---------------------------------------------------------------------------------------


def _nice_step(rough: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten: axis steps a reader can count in."""
    power = 10.0 ** math.floor(math.log10(rough))
    return next(float(k * power) for k in (1, 2, 2.5, 5, 10) if k * power >= rough)


def trend_chart(trend: LabTrend, width: float, height: float = 58 * mm) -> Drawing:
    """Values over time, the reference band's zones shaded, a mark under each day a dose was given."""
    d = Drawing(width, height)
    left, right, bottom, top = 34.0, 8.0, 30.0, 14.0
    pw, ph = width - left - right, height - bottom - top
    d.add(String(0, height - 10, f"{trend.test_name} ({trend.unit})", fontName=BOLD, fontSize=9))
    points = trend.points
    days = [p.day for p in points] + list(trend.dose_days)
    if not points:
        d.add(Rect(left, bottom, pw, ph, strokeColor=RULE, fillColor=None, strokeWidth=0.6))
        d.add(
            String(
                left + pw / 2,
                bottom + ph / 2,
                "No results recorded",
                fontName=ITALIC,
                fontSize=9,
                fillColor=MUTED,
                textAnchor="middle",
            )
        )
        return d
    first, last = min(days), max(days)
    span = max((last - first).days, 1)

    def x_of(day: date) -> float:
        return left + 8 + (pw - 16) * (day - first).days / span

    values = [float(p.value) for p in points]
    limits = [float(z.high) for z in (trend.band.zones if trend.band else ()) if z.high is not None]
    step = _nice_step(max([*values, *limits]) * 1.1 / 4 or 1.0)
    top_value = step * math.ceil(max([*values, *limits]) * 1.1 / step)
    low_value = 0.0

    def y_of(value: float) -> float:
        return bottom + ph * (value - low_value) / (top_value - low_value)

    if trend.band is not None:
        for zone in trend.band.zones:
            lo = float(zone.low) if zone.low is not None else low_value
            hi = min(float(zone.high), top_value) if zone.high is not None else top_value
            d.add(
                Rect(
                    left, y_of(lo), pw, y_of(hi) - y_of(lo), fillColor=BAND_FILL[zone.kind], strokeColor=None
                )
            )
    d.add(Rect(left, bottom, pw, ph, strokeColor=MUTED, fillColor=None, strokeWidth=0.6))
    value = 0.0
    while value <= top_value + step / 100:
        y = y_of(value)
        d.add(Line(left - 3, y, left, y, strokeColor=MUTED, strokeWidth=0.5))
        d.add(Line(left, y, left + pw, y, strokeColor=RULE, strokeWidth=0.25))
        d.add(
            String(
                left - 5,
                y - 2.5,
                format_number(Decimal(str(round(value, 2))).normalize()),
                fontName=REGULAR,
                fontSize=6.5,
                fillColor=MUTED,
                textAnchor="end",
            )
        )
        value += step
    ticks = 5 if span >= 5 else span
    for k in range(ticks + 1):
        day = date.fromordinal(first.toordinal() + round(span * k / ticks))
        x = x_of(day)
        d.add(Line(x, bottom, x, bottom - 3, strokeColor=MUTED, strokeWidth=0.5))
        d.add(
            String(
                x,
                bottom - 11,
                label_date(day),
                fontName=REGULAR,
                fontSize=6.5,
                fillColor=MUTED,
                textAnchor="middle",
            )
        )
    for day in trend.dose_days:  # a small triangle above the axis on each dose day
        x = x_of(day)
        d.add(
            Polygon(
                [x - 2, bottom + 0.5, x + 2, bottom + 0.5, x, bottom + 4.5],
                fillColor=DOSE_MARK,
                strokeColor=None,
            )
        )
    coords = [c for p in points for c in (x_of(p.day), y_of(float(p.value)))]
    if len(points) > 1:
        d.add(PolyLine(coords, strokeColor=LINE_INK, strokeWidth=1.2))
    for p in points:
        x, y = x_of(p.day), y_of(float(p.value))
        d.add(Circle(x, y, 2.2, fillColor=LINE_INK, strokeColor=colors.white, strokeWidth=0.6))
        if len(points) <= 12:
            d.add(
                String(
                    x,
                    y + 4.5,
                    _figure(p.value),
                    fontName=REGULAR,
                    fontSize=6.5,
                    fillColor=INK,
                    textAnchor="middle",
                )
            )
    # legend under the axis labels
    y = 3.0
    d.add(Polygon([left, y + 1, left + 4, y + 1, left + 2, y + 5], fillColor=DOSE_MARK, strokeColor=None))
    d.add(String(left + 7, y + 1, "dose given", fontName=REGULAR, fontSize=6.5, fillColor=MUTED))
    x = left + 50
    for zone in trend.band.zones if trend.band else ():
        d.add(Rect(x, y, 8, 5, fillColor=BAND_FILL[zone.kind], strokeColor=RULE, strokeWidth=0.3))
        d.add(String(x + 11, y + 1, zone.label, fontName=REGULAR, fontSize=6.5, fillColor=MUTED))
        x += 16 + stringWidth(zone.label, REGULAR, 6.5)
    return d


def _figure(value: Decimal) -> str:
    return format_number(value.quantize(Decimal("1") if value >= 20 else Decimal("0.1")).normalize())


def _trend_section(record: PatientRecord) -> list[Flowable]:
    out: list[Flowable] = [CondPageBreak(75 * mm), _p("Laboratory trends", "h2")]
    for trend in record.trends:
        notes = [(trend.band.summary if trend.band else trend.no_band_reason).rstrip(".") + "."]
        if trend.left_out_in_error:
            notes.append(f"{trend.left_out_in_error} result(s) entered in error are not charted.")
        out.append(
            KeepTogether([trend_chart(trend, _frame_width()), _p(_x(" ".join(notes)), "small"), Spacer(1, 8)])
        )
    return out


def _signature_section(record: PatientRecord, signer: str | None) -> list[Flowable]:
    def block(title: str, name: str) -> Table:
        blank = "_" * 34
        rows = [
            [_p(f"<b>{_x(title)}</b>", "body"), ""],
            [_p("Name", "key"), _p(_x(name) if name else blank, "body")],
            [_p("Signature", "key"), _p(blank, "body")],
            [_p("Date and time", "key"), _p("____ / ____ / ________&nbsp;&nbsp;&nbsp;____ : ____", "body")],
            [_p("Meaning", "key"), _p(f"&#8220;{_x(MEANING)}&#8221;", "body")],
        ]
        table = Table(rows, colWidths=[30 * mm, _frame_width() - 30 * mm])
        table.setStyle(
            TableStyle(
                [
                    ("SPAN", (0, 0), (-1, 0)),
                    ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                    ("TOPPADDING", (0, 1), (-1, -1), 7),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("BOX", (0, 0), (-1, -1), 0.5, RULE),
                    ("LEFTPADDING", (0, 0), (-1, -1), 6),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                ]
            )
        )
        return table

    return [
        CondPageBreak(95 * mm),
        _p("Review and signatures", "h2"),
        _p(
            "Sign by hand. Each signature means what its line says, and is dated and timed by the signer.",
            "small",
        ),
        Spacer(1, 4),
        KeepTogether([block("Reviewed by", signer or ""), Spacer(1, 8), block("Second reviewer", "")]),
    ]


# --- the page: header, footer, page N of M ------------------------------------------------------------------


def _numbered_canvas(footer_right_x: float) -> type[Canvas]:
    class NumberedCanvas(Canvas):  # type: ignore[misc]
        """Holds each page until the end so every footer can say "Page N of M"."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self.setFont(REGULAR, 7.5)
                self.setFillColor(MUTED)
                self.drawRightString(footer_right_x, MARGIN - 2, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas


def _on_page(record: PatientRecord, printed: str) -> Any:
    p = record.patient
    clinic = record.clinic_name or "Clinic name not set"
    who = f"{p.name}   MRN {p.mrn}   DOB {label_date(p.date_of_birth)}"

    def draw(canvas: Canvas, doc: BaseDocTemplate) -> None:
        width, height = PAGE
        canvas.saveState()
        top = height - MARGIN + 4
        canvas.setFillColor(INK)
        canvas.setFont(BOLD, 10)
        canvas.drawString(MARGIN, top, clinic)
        canvas.setFont(REGULAR, 8)
        canvas.setFillColor(MUTED)
        if record.clinic_phone:
            canvas.drawString(MARGIN + stringWidth(clinic, BOLD, 10) + 8, top, record.clinic_phone)
        canvas.drawRightString(width - MARGIN, top, "Treatment record: vitamin B12")
        canvas.setFillColor(INK)
        canvas.setFont(BOLD, 9)
        canvas.drawString(MARGIN, top - 12, who)
        canvas.setStrokeColor(LINE_INK)
        canvas.setLineWidth(0.8)
        canvas.line(MARGIN, top - 17, width - MARGIN, top - 17)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, MARGIN + 6, width - MARGIN, MARGIN + 6)
        canvas.setFont(REGULAR, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, MARGIN - 2, printed)
        canvas.restoreState()

    return draw


def _story(record: PatientRecord, signer: str | None) -> list[Flowable]:
    p = record.patient
    counts = (
        f"{len(record.plans)} plan(s), {len(record.doses)} dose record(s), {len(record.labs)} laboratory "
        f"result(s). Times are clinic time ({_x(record.zone_name)})."
    )
    story: list[Flowable] = [
        _p(f"Treatment record of {_x(p.name)}", "title"),
        _p(counts, "small"),
        *_patient_section(record),
        *_plans_section(record),
        *_table_section(
            "Doses",
            "No dose recorded.",
            DOSE_COLUMNS,
            DOSE_WIDTHS,
            _dose_rows(record.doses),
            "Oldest first. Corrected and entered-in-error records are struck through, with the reason "
            "beneath; doses in mcg with the volume in mL.",
        ),
        *_table_section(
            "Laboratory results",
            "No laboratory result recorded.",
            LAB_COLUMNS,
            LAB_WIDTHS,
            _lab_rows(record.labs),
            "Oldest first, as reported. Results entered in error are struck through, with the reason.",
        ),
        *_trend_section(record),
        *_signature_section(record, signer),
    ]
    return story


def _build(out: IO[bytes] | str, record: PatientRecord, now: datetime, signer: str | None) -> int:
    printed = f"Printed {label_time(now)} ({record.zone_name}) by {record.printed_by}"
    doc = BaseDocTemplate(
        out,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + HEADER_H,
        bottomMargin=MARGIN + FOOTER_H,
        title=f"Treatment record: {record.patient.name} ({record.patient.mrn})",
        author=record.clinic_name or "b12desk",
        creator="b12desk",
        invariant=True,
    )
    frame = Frame(
        doc.leftMargin,
        doc.bottomMargin,
        doc.width,
        doc.height,
        id="body",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates([PageTemplate(id="record", frames=[frame], onPage=_on_page(record, printed))])
    doc.build(_story(record, signer), canvasmaker=_numbered_canvas(PAGE[0] - MARGIN))
    return int(doc.page)


def write_patient_record(
    target: Path | IO[bytes],
    record: PatientRecord,
    *,
    now: datetime | None = None,
    signer: str | None = None,
) -> int:
    """Write the record as a PDF and return its number of pages. A path is written through a temporary
    file beside it and renamed into place, so a failure leaves no half-made PDF; ExportFailed says why."""
    moment = now or record.printed_at
    if not isinstance(target, Path):
        return _build(target, record, moment, signer)
    if target.is_dir():
        raise ExportFailed(f"{target} is a folder: give a file name ending in .pdf.")
    folder = target.parent
    if not folder.is_dir():
        raise ExportFailed(f"Cannot write {target}: the folder {folder} does not exist.")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".pdf.part", dir=folder)
    except OSError as exc:
        raise ExportFailed(f"Cannot write {target}: {exc.strerror or exc}.") from None
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            pages = _build(handle, record, moment, signer)
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise ExportFailed(f"Cannot write {target}: {exc.strerror or exc}.") from None
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return pages
