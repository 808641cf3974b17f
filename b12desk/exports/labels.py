"""Labels as PDF with reportlab: syringe, opened vial, patient dose card, lot and shelf labels, on A4 sheets
of 21, US Letter sheets of 30 or single roll labels; text shrunk to fit, never cut; barcodes drawn straight
on the canvas (Code 128, GS1 DataMatrix)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.ecc200datamatrix import ECC200DataMatrix
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import inch, mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from b12desk.services.label_data import (
    DoseCard,
    Label,
    LotLabel,
    SyringeLabel,
    VialLabel,
    label_date,
    label_day,
    label_time,
)

MIN_FONT_PT = 6.0  # below this a label is not reliably legible: refuse rather than print it
LEADING = 1.18  # line height as a multiple of the font size
GROW = 1.4  # text may grow this much to fill a larger label (a 57 x 32 mm roll against a 1 in high one)
REGULAR, BOLD = "Helvetica", "Helvetica-Bold"
FNC1_CODEWORD = 232  # Data Matrix: the first codeword of a GS1 DataMatrix
MODULE_MIN = 0.25 * mm  # 2D modules smaller than this print badly on 203 dpi label printers


class LabelError(ValueError):
    """A label cannot be printed as asked; the message says why and what to do instead."""


class TextDoesNotFit(LabelError):
    def __init__(self, text: str, width: float, needed: float) -> None:
        self.text, self.width, self.needed = text, width, needed
        super().__init__(
            f"'{text}' does not fit on the label even at {MIN_FONT_PT:g} pt: it needs "
            f"{needed / mm:.0f} mm and the label has {width / mm:.0f} mm. Nothing was cut; use a larger "
            "layout (a4-21 or roll-57x32) or shorten the text at its source."
        )


# --- layouts -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    """A sheet (or roll) of labels; all measures in points, from the page's top-left for the margins."""

    name: str
    title: str
    page_width: float
    page_height: float
    label_width: float
    label_height: float
    columns: int = 1
    rows: int = 1
    left: float = 0.0  # page edge to the first column
    top: float = 0.0  # page edge to the first row
    gap_x: float = 0.0  # between columns
    gap_y: float = 0.0  # between rows
    padding: float = 2 * mm  # label edge to its text: labels are die-cut with ~1 mm tolerance

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def origin(self, position: int) -> tuple[float, float]:
        """The bottom-left corner of a label: position 0 is top-left, then along the row."""
        row, column = divmod(position, self.columns)
        x = self.left + column * (self.label_width + self.gap_x)
        y = self.page_height - self.top - row * (self.label_height + self.gap_y) - self.label_height
        return x, y


LAYOUTS: dict[str, Layout] = {
    # Avery L7160 and its equivalents: 63.5 x 38.1 mm, 3 x 7, 2.54 mm between columns.
    "a4-21": Layout(
        "a4-21",
        "A4 sheet of 21 (L7160, 63.5 x 38.1 mm)",
        A4[0],
        A4[1],
        63.5 * mm,
        38.1 * mm,
        columns=3,
        rows=7,
        left=7.25 * mm,
        top=15.15 * mm,
        gap_x=2.5 * mm,
    ),
    # Avery 5160 and its equivalents: 2.625 x 1 in, 3 x 10, 0.125 in between columns.
    "letter-30": Layout(
        "letter-30",
        "US Letter sheet of 30 (5160, 2.625 x 1 in)",
        LETTER[0],
        LETTER[1],
        2.625 * inch,
        1 * inch,
        columns=3,
        rows=10,
        left=0.1875 * inch,
        top=0.5 * inch,
        gap_x=0.125 * inch,
        padding=1.6 * mm,
    ),
    # A single label per page, as label printers (Zebra, Brother, DYMO) take it from the PDF.
    "roll-57x32": Layout("roll-57x32", "roll label 57 x 32 mm", 57 * mm, 32 * mm, 57 * mm, 32 * mm),
}


# --- text ----------------------------------------------------------------------------------------------


def fit_size(text: str, font: str, size: float, width: float) -> float:
    """The largest size up to `size` at which `text` fits `width`; TextDoesNotFit below MIN_FONT_PT."""
    natural = float(stringWidth(text, font, size))
    if natural <= width:
        return size
    fitted = math.floor(size * width / natural * 10) / 10  # widths scale with the size
    if fitted < MIN_FONT_PT:
        raise TextDoesNotFit(text, width, stringWidth(text, font, MIN_FONT_PT))
    return fitted


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    size: float = 8.0
    font: str = REGULAR
    space_before: float = 0.0  # extra gap above, as a multiple of the size
    wrap: bool = False  # may break at spaces onto further lines (indented) before it is shrunk


def _wrapped(lines: Sequence[Line], width: float) -> list[Line]:
    out: list[Line] = []
    for line in lines:
        if not line.wrap:
            out.append(line)
            continue
        text = line.text
        # A little shrinking reads better than a break: wrap only what would lose more than 15%.
        while (
            line.wrap
            and " " in text.strip()
            and stringWidth(text, line.font, max(line.size * 0.85, MIN_FONT_PT)) > width
        ):
            words = text.split(" ")
            k = len(words) - 1
            while k > 1 and stringWidth(" ".join(words[:k]), line.font, line.size) > width:
                k -= 1
            out.append(replace(line, text=" ".join(words[:k]).rstrip(), wrap=False))
            text = "   " + " ".join(words[k:]).strip()
            line = replace(line, space_before=0.0)
        out.append(replace(line, text=text, wrap=False))
    return out


def draw_lines(
    canvas: Canvas,
    lines: Sequence[Line],
    x: float,
    top: float,
    width: float,
    height: float,
    *,
    grow: float = 1.0,
) -> None:
    """Lines from `top` down: long ones marked `wrap` broken at spaces, then all scaled together to fit
    the height (or grown by up to `grow` to fill it), then each shrunk to fit the width."""
    lines = _wrapped(lines, width)
    needed = sum(line.size * (LEADING + line.space_before) for line in lines)
    scale = min(grow, height / needed) if needed else 1.0
    if needed and min(line.size for line in lines) * scale < MIN_FONT_PT:
        raise LabelError(
            f"The label holds {len(lines)} lines, too many to print at {MIN_FONT_PT:g} pt in "
            f"{height / mm:.0f} mm; use a larger layout (a4-21 or roll-57x32)."
        )
    # Lines of one style keep one size: the smallest any of them needs to fit the width.
    sizes: dict[tuple[float, str], float] = {}
    for line in lines:
        key = (line.size, line.font)
        size = sizes.get(key, line.size * scale)
        sizes[key] = fit_size(line.text, line.font, size, width) if line.text else size
    y = top
    for line in lines:
        step = line.size * scale
        y -= step * (LEADING + line.space_before)
        if line.text:
            size = sizes[line.size, line.font]
            canvas.setFont(line.font, size)
            canvas.drawString(x, y + step * (LEADING - 1) * 0.5, line.text)


def dates_text(days: Sequence[date]) -> str:
    """ "Thu 3 Dec, Sat 5 Dec, Tue 8 Dec 2026": the year once when all share it."""
    if not days:
        return ""
    if len({d.year for d in days}) == 1:
        return ", ".join(f"{d:%a} {d.day} {d:%b}" for d in days) + f" {days[0].year}"
    return ", ".join(label_day(d) for d in days)


# --- barcodes ------------------------------------------------------------------------------------------


class GS1DataMatrix(ECC200DataMatrix):  # type: ignore[misc] # reportlab ships no type hints
    """reportlab's ECC200 (44 x 44, C40) with the FNC1 first codeword that makes it a GS1 DataMatrix, and
    the last lone C40 value sent as ASCII as ISO/IEC 16022 asks (reportlab pads it, which some scanners
    read as an extra character)."""

    def _encode_c40(self, value: str) -> list[int]:
        per_char = [self._encode_c40_char(c) for c in value]
        values = [v for chunk in per_char for v in chunk]
        tail: list[int] = []
        if len(values) % 3 == 1 and len(per_char[-1]) == 1 and ord(value[-1]) < 128:
            values.pop()
            tail = [254, ord(value[-1]) + 1]  # unlatch, then the character in ASCII
        else:
            while len(values) % 3:
                values.append(0)
        codewords = [FNC1_CODEWORD, 230]
        for i in range(0, len(values), 3):
            total = values[i] * 1600 + values[i + 1] * 40 + values[i + 2] + 1
            codewords += [total // 256, total % 256]
        codewords += tail or [254]
        if len(codewords) > self.cw_data:
            raise LabelError(f"'{value}' is too long for a 44 x 44 DataMatrix.")
        if len(codewords) < self.cw_data:
            codewords.append(129)
            while len(codewords) < self.cw_data:
                r = ((149 * (len(codewords) + 1)) % 253) + 1
                codewords.append((129 + r) % 254)
        return codewords


@lru_cache(maxsize=256)
def datamatrix_runs(value: str) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """The symbol's modules as (row from the bottom, first column, length) runs of dark modules, so
    one rectangle is drawn per run rather than one per module (a 44 x 44 symbol: ~450 against ~1,000)."""
    symbol = GS1DataMatrix(value)
    symbol.validate()
    matrix = symbol.encode()
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append((y, start, x - start))
            else:
                x += 1
    return len(matrix), tuple(runs)


def draw_datamatrix(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    """A GS1 DataMatrix of `value` (an element string such as 01...17...10...) as a `size` square."""
    modules, runs = datamatrix_runs(value)
    module = size / modules
    path = canvas.beginPath()
    for row, column, length in runs:
        path.rect(x + column * module, y + row * module, length * module, module)
    canvas.drawPath(path, stroke=0, fill=1)


def draw_code128(canvas: Canvas, value: str, x: float, y: float, width: float, height: float) -> None:
    """A Code 128 as wide as fits `width` (bars no thinner than 0.19 mm), GS1-128 when value starts
    with FNC1 ("\\xf1"), drawn straight on the canvas."""
    probe = Code128(value, barWidth=1, quiet=0)
    bar = min(width / (probe.width + 20), 0.5 * mm)  # room for the 10-module quiet zone each side
    if bar < 0.19 * mm:
        raise LabelError(f"The barcode of '{value.lstrip(chr(0xF1))}' is too long for the label width.")
    symbol = Code128(value, barWidth=bar, barHeight=height, quiet=0)
    symbol.drawOn(canvas, x + (width - symbol.width) / 2, y)


@dataclass(frozen=True, slots=True)
class Barcode:
    """What a label's barcode encodes: kind "datamatrix" (GS1, FNC1 added by the symbol) or "code128"."""

    kind: str
    value: str
    human_readable: str


def barcode_for(label: LotLabel) -> Barcode | None:
    """A lot: its GS1 DataMatrix of (01) GTIN (17) expiry (10) lot. A shelf: its GTIN as GS1-128. None
    when the product has no GTIN recorded (the label says so)."""
    if not label.gtin:
        return None
    if label.is_shelf:
        return Barcode("code128", "\xf1" + label.gs1_element_string, label.gs1_human_readable)
    return Barcode("datamatrix", label.gs1_element_string, label.gs1_human_readable)


# --- the labels ----------------------------------------------------------------------------------------


def _syringe(canvas: Canvas, label: SyringeLabel, x: float, y: float, w: float, h: float) -> None:
    where = f"{label.route}, {label.site}" if label.site else f"{label.route} (site not recorded)"
    drawn = f"{label_time(label.given_at)}  by {label.initials}"
    lines = [
        Line(label.patient, 11, BOLD),
        Line(f"MRN {label.mrn}   DOB {label_date(label.date_of_birth)}", 7.5),
        Line(label.drug, 9, BOLD, 0.25),
        Line(label.dose_text, 12, BOLD),
        Line(where, 8),
        Line(f"{drawn}  lot {label.lot}" if label.lot else drawn, 7),
    ]
    draw_lines(canvas, lines, x, y + h, w, h, grow=GROW)


def _vial(canvas: Canvas, label: VialLabel, x: float, y: float, w: float, h: float) -> None:
    lines = [
        Line(label.product, 9.5, BOLD),
        Line(label.pack, 7),
        Line(f"Lot {label.lot}   Exp {label_date(label.expiry)}", 8),
        Line(f"Opened {label_time(label.opened_at)}", 8, REGULAR, 0.2),
        Line(f"DISCARD BY {label_time(label.discard_by)}", 10, BOLD),
        Line(f"Opened by {label.opened_by} ({label.opened_by_initials})", 7),
    ]
    draw_lines(canvas, lines, x, y + h, w, h, grow=GROW)


def _card(canvas: Canvas, label: DoseCard, x: float, y: float, w: float, h: float) -> None:
    if label.clinic_phone:
        clinic = f"{label.clinic_name}  {label.clinic_phone}".strip()
    else:  # said plainly rather than left out: the patient must know to ask for the number
        clinic = f"{label.clinic_name}: clinic phone not set" if label.clinic_name else "Clinic phone not set"
    following = f"Next: {dates_text(label.next_doses)}" if label.next_doses else "Next: ask the clinic"
    formulation = label.drug.partition(" ")[0]
    kinds = dict.fromkeys(what for _, what in label.checks)
    lines = [
        Line(f"{label.patient}   {label.mrn}", 9, BOLD),
        Line(f"{formulation}. Cause: {label.cause}", 7, wrap=True),
        *(Line(text, 7, wrap=True) for text in label.phases),
        Line(following, 7.5, BOLD, 0.15, wrap=True),
        *(
            Line(f"{what}: {dates_text([day for day, w in label.checks if w == what])}", 7, wrap=True)
            for what in kinds
        ),
        Line(clinic, 7.5, BOLD, 0.15, wrap=True),
    ]
    draw_lines(canvas, lines, x, y + h, w, h, grow=GROW)


def _lot(canvas: Canvas, label: LotLabel, x: float, y: float, w: float, h: float) -> None:
    barcode = barcode_for(label)
    formulation, _, strength = label.product.partition(" ")
    if label.is_shelf:
        lines = [
            Line(formulation, 10, BOLD),
            Line(strength, 9, BOLD),
            Line(label.pack, 7.5, wrap=True),
            Line(label.storage, 6.5, wrap=True),
        ]
        if barcode is None:
            lines.append(Line("No GTIN recorded: no barcode", 7, BOLD, 0.3))
            draw_lines(canvas, lines, x, y + h, w, h)
            return
        text_h = 6.0 * LEADING
        bars_h = min(10 * mm, h * 0.32)
        draw_lines(canvas, lines, x, y + h, w, h - bars_h - text_h - 1 * mm, grow=GROW)
        draw_code128(canvas, barcode.value, x, y + text_h, w, bars_h)
        draw_lines(canvas, [Line(barcode.human_readable, 6.5)], x, y + text_h, w, text_h)
        return
    lines = [
        Line(formulation, 9, BOLD),
        Line(strength, 8, BOLD),
        Line(label.pack, 6.5, wrap=True),
        Line(f"LOT {label.lot}", 9.5, BOLD),
        Line(f"EXP {label_date(label.expiry)}" if label.expiry else "", 9, BOLD),
    ]
    if barcode is None:
        lines.append(Line("No GTIN recorded: no barcode", 7, BOLD, 0.2))
        draw_lines(canvas, lines, x, y + h, w, h)
        return
    text_h = 6.5 * LEADING
    side = min(h - text_h - 0.5 * mm, 20 * mm, w * 0.36)
    if side / 44 < MODULE_MIN:
        raise LabelError("The label is too small for a DataMatrix that scanners can read.")
    draw_datamatrix(canvas, barcode.value, x, y + h - side, side)
    gap = 2.5 * mm
    draw_lines(canvas, lines, x + side + gap, y + h, w - side - gap, side)  # beside the symbol, over its text
    draw_lines(canvas, [Line(barcode.human_readable, 6.5)], x, y + h - side, w, text_h)


_DRAW: dict[type, Any] = {SyringeLabel: _syringe, VialLabel: _vial, DoseCard: _card, LotLabel: _lot}


def draw_label(canvas: Canvas, label: Label, x: float, y: float, layout: Layout) -> None:
    """One label with its bottom-left corner at (x, y), inside the layout's padding."""
    pad = layout.padding
    _DRAW[type(label)](
        canvas, label, x + pad, y + pad, layout.label_width - 2 * pad, layout.label_height - 2 * pad
    )


# --- the document --------------------------------------------------------------------------------------


def check_start(layout: Layout, start: int) -> None:
    if start < 1:
        raise LabelError(f"The start position counts from 1 (the top-left label), not {start}.")
    if start > layout.per_page:
        where = "a roll prints one label a page" if layout.per_page == 1 else f"a sheet has {layout.per_page}"
        raise LabelError(f"Start position {start} is beyond the {layout.title}: {where}.")


def write_labels(
    target: str | Path | IO[bytes],
    labels: Sequence[Label],
    layout: Layout,
    start: int = 1,
    *,
    outlines: bool = False,
    title: str = "b12desk labels",
) -> int:
    """Write the labels to a PDF, the first at `start` (1 = top-left, along the rows) of a partly used
    sheet; returns the number of pages. `outlines` draws each label's edge (for proofs, not for printing).
    Raises LabelError, before anything is written, when a label's text cannot fit legibly."""
    check_start(layout, start)
    if not labels:
        raise LabelError("No labels to print.")
    out: Any = str(target) if isinstance(target, Path) else target
    canvas = Canvas(out, pagesize=(layout.page_width, layout.page_height), pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("b12desk")
    position = start - 1
    pages = 1
    for label in labels:
        if position == layout.per_page:
            canvas.showPage()
            pages += 1
            position = 0
        x, y = layout.origin(position)
        if outlines:
            canvas.setStrokeGray(0.75)
            canvas.setLineWidth(0.3)
            canvas.roundRect(x, y, layout.label_width, layout.label_height, 1.5 * mm, stroke=1, fill=0)
        draw_label(canvas, label, x, y, layout)
        position += 1
    canvas.showPage()
    canvas.save()
    return pages
