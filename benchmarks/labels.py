"""Labels to PDF: 3,000 labels through b12desk.exports.labels, beside a bare reportlab canvas loop drawing
the same text and barcodes at fixed sizes (no fitting, no checks) in the same run.

    .venv/bin/python benchmarks/labels.py [--labels 3000] [--runs 3]

Three sets, each on A4 sheets of 21: syringe labels (text only), lot labels with a GS1 DataMatrix each
(every lot different, so no symbol is reused), shelf labels with a GS1-128 barcode each.
Target: ours within 1.5 times the bare loop.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from _common import Table, median, runs_text
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.ecc200datamatrix import ECC200DataMatrix
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from b12desk.domain.gs1 import gtin_check_digit
from b12desk.exports import labels as lb
from b12desk.services.label_data import LotLabel, SyringeLabel, label_date, label_time

TARGET_RATIO = 1.5
LONDON = ZoneInfo("Europe/London")
FAMILIES = ("Okafor", "Reid", "Fitzgerald-Montgomery", "Ng", "Kowalski", "Adeyemi", "Brown", "Chen")
GIVEN = ("Grace", "Ann", "Alexandra Josephine", "Li", "Marek", "Tola", "Sam", "Wei")


def syringes(n: int) -> list[SyringeLabel]:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=LONDON)
    return [
        SyringeLabel(
            administration_id=i,
            patient=f"{FAMILIES[i % 8].upper()}, {GIVEN[i % 8]}",
            mrn=f"H{10000 + i}",
            date_of_birth=date(1940 + i % 60, 1 + i % 12, 1 + i % 28),
            drug="Hydroxocobalamin 1,000 mcg/mL",
            brand="Cobalin-H",
            dose_mcg=Decimal(1000),
            volume_ml=Decimal(1),
            route="IM",
            site="left ventrogluteal",
            given_at=start + timedelta(minutes=5 * i),
            initials="NN",
            lot=f"H{i:05d}",
        )
        for i in range(n)
    ]


def gtin(i: int) -> str:
    body = f"0501234{i:06d}"
    return body + str(gtin_check_digit(body))


def lots(n: int, *, shelf: bool = False) -> list[LotLabel]:
    return [
        LotLabel(
            product="Hydroxocobalamin 1,000 mcg/mL",
            pack="1 mL ampoule, Cobalin-H",
            lot="" if shelf else f"H{i:05d}K",
            expiry=None if shelf else date(2027, 1 + i % 12, 1 + i % 28),
            gtin=gtin(i),
            storage="Store below 25 °C; protect from light.",
            lot_id=None if shelf else i + 1,
            product_id=i + 1,
        )
        for i in range(n)
    ]


# --- the bare loop: the same strings and barcodes, fixed sizes, nothing checked ----------------------------


def bare(labels: Sequence[SyringeLabel | LotLabel]) -> bytes:
    layout = lb.LAYOUTS["a4-21"]
    buffer = io.BytesIO()
    c = Canvas(buffer, pagesize=(layout.page_width, layout.page_height), pageCompression=1)
    pad = layout.padding
    for n, label in enumerate(labels):
        position = n % layout.per_page
        if n and position == 0:
            c.showPage()
        x, y = layout.origin(position)
        x, top = x + pad, y + layout.label_height - pad
        if isinstance(label, SyringeLabel):
            rows = [
                ("Helvetica-Bold", 11, label.patient),
                ("Helvetica", 7.5, f"MRN {label.mrn}   DOB {label_date(label.date_of_birth)}"),
                ("Helvetica-Bold", 9, label.drug),
                ("Helvetica-Bold", 12, label.dose_text),
                ("Helvetica", 8, f"{label.route}, {label.site}"),
                ("Helvetica", 7, f"{label_time(label.given_at)}  by {label.initials}  lot {label.lot}"),
            ]
        elif label.is_shelf:
            rows = [
                ("Helvetica-Bold", 10, "Hydroxocobalamin"),
                ("Helvetica-Bold", 9, "1,000 mcg/mL"),
                ("Helvetica", 7.5, label.pack),
                ("Helvetica", 6.5, label.storage),
            ]
            Code128("\xf1" + label.gs1_element_string, barWidth=0.33 * mm, barHeight=9 * mm).drawOn(
                c, x, y + 4 * mm
            )
            c.setFont("Helvetica", 6.5)
            c.drawString(x, y + pad, label.gs1_human_readable)
        else:
            symbol = ECC200DataMatrix(label.gs1_element_string, barWidth=20 * mm / 44)
            symbol.validate()
            symbol.encode()
            symbol.x = symbol.y = 0  # drawOn moves the origin; the symbol draws from its own x, y
            symbol.drawOn(c, x, top - 20 * mm)
            x += 22.5 * mm
            rows = [
                ("Helvetica-Bold", 9, "Hydroxocobalamin"),
                ("Helvetica-Bold", 8, "1,000 mcg/mL"),
                ("Helvetica", 6.5, label.pack),
                ("Helvetica-Bold", 10, f"LOT {label.lot}"),
                ("Helvetica-Bold", 9, f"EXP {label_date(label.expiry or date.min)}"),
            ]
            c.setFont("Helvetica", 6.5)
            c.drawString(x - 22.5 * mm, top - 23 * mm, label.gs1_human_readable)
        for font, size, text in rows:
            top -= size * 1.18
            c.setFont(font, size)
            c.drawString(x, top, text)
    c.showPage()
    c.save()
    return buffer.getvalue()


def ours(labels: Sequence[SyringeLabel | LotLabel]) -> bytes:
    lb.datamatrix_runs.cache_clear()  # every run encodes its symbols afresh, as the bare loop does
    buffer = io.BytesIO()
    lb.write_labels(buffer, labels, lb.LAYOUTS["a4-21"])
    return buffer.getvalue()


def timed(fn: Callable[[], bytes]) -> tuple[float, int]:
    started = time.perf_counter()
    size = len(fn())
    return time.perf_counter() - started, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sets = {
        "syringe labels": syringes(args.labels),
        "lot labels, GS1 DataMatrix each": lots(args.labels),
        "shelf labels, GS1-128 each": lots(args.labels, shelf=True),
    }
    table = Table(f"{args.labels:,} labels to PDF on A4 sheets of 21 (median of {args.runs} runs)")
    for name, labels in sets.items():
        mine: list[float] = []
        base: list[float] = []
        for _ in range(args.runs):  # interleaved, run for run
            seconds, our_size = timed(lambda labels=labels: ours(labels))
            mine.append(seconds)
            seconds, bare_size = timed(lambda labels=labels: bare(labels))
            base.append(seconds)
        print(
            f"{name}: ours {runs_text(mine)} s ({our_size:,} bytes); "
            f"bare {runs_text(base)} s ({bare_size:,} bytes)"
        )
        ratio = median(mine) / median(base)
        table.add(
            f"{args.labels:,} {name}",
            median(mine),
            "s",
            baseline=("bare reportlab loop", median(base)),
            target=f"<= {TARGET_RATIO}x",
            ok=ratio <= TARGET_RATIO,
        )
    table.print()
    return 1 if table.missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
