"""A patient's treatment record to PDF: pages a second for records of about 10 and about 100 pages through
b12desk.exports.patient_report, beside a bare reportlab platypus loop laying out the same dose and lab
strings as one Table per page-sized chunk (no wrapping, no strike-through, no header or charts) in the
same run.

    .venv/bin/python benchmarks/patient_report.py [--runs 3]

Records are made in memory (frozen dataclasses, no database): every tenth dose corrected, with a reason.
Targets: at least 50 pages a second at both sizes; linear (pages a second at ~100 pages within 20% of
that at ~10); ours within 2.5 times the bare loop.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from _common import Table, median, runs_text
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate
from reportlab.platypus import Table as RLTable

from b12desk.domain.enums import RecordStatus
from b12desk.exports import patient_report as pr
from b12desk.services.label_data import label_date, label_time
from b12desk.services.patient_record import (
    PatientRecord,
    RecordDose,
    RecordLab,
    RecordPatient,
    RecordPhase,
    RecordPlan,
)
from b12desk.services.trends import BandZone, LabTrend, ReferenceBand, TrendPoint, ZoneKind

MIN_PAGES_PER_SECOND = 50.0
LINEARITY = 0.8
TARGET_RATIO = 2.5
LONDON = ZoneInfo("Europe/London")
SITES = ("left ventrogluteal", "right ventrogluteal", "left deltoid", "right deltoid")
NURSES = ("Nora Nurse", "Kwame Mensah", "Alexandra Fitzgerald-Montgomery")


def record(doses: int) -> PatientRecord:
    start = datetime(2016, 1, 4, 9, 30, tzinfo=LONDON)
    dose_rows = tuple(
        RecordDose(
            id=i + 1,
            given_at=start + timedelta(days=3 * i, minutes=i % 50),
            dose_mcg=Decimal(1000),
            volume_ml=Decimal(1),
            route="IM",
            site=SITES[i % 4],
            product="Cobalin-H 1 mL ampoule",
            lot=f"H{i:05d}",
            nurse=NURSES[i % 3],
            outcome="Given",
            reaction="",
            status=RecordStatus.AMENDED if i % 10 == 0 else RecordStatus.CURRENT,
            external=False,
            self_administered=False,
            note="",
            amends_id=None,
            reason="Site recorded on the wrong side" if i % 10 == 0 else "",
            corrected_by="Nora Nurse" if i % 10 == 0 else "",
            corrected_at=start + timedelta(days=3 * i, hours=1) if i % 10 == 0 else None,
        )
        for i in range(doses)
    )
    labs = tuple(
        RecordLab(
            id=i + 1,
            taken_on=date(2016, 1, 1) + timedelta(days=60 * i),
            test="Haemoglobin",
            result=f"{100 + i % 30} g/L",
            band="",
            context="follow up",
            note="",
            status=RecordStatus.CURRENT,
            entered_by="Nora Nurse",
            reason="",
        )
        for i in range(max(doses // 20, 4))
    )
    points = tuple(
        TrendPoint(lab.taken_on, Decimal(100 + i % 30), lab.result, lab.id) for i, lab in enumerate(labs)
    )
    band = ReferenceBand(
        (BandZone(None, Decimal(120), ZoneKind.LOW, "Below normal: under 120 g/L"),),
        "g/L",
        "Shaded: below 120 g/L",
        "monitoring rules",
    )
    trend = LabTrend(
        1, "hb", "Haemoglobin", "g/L", points, band, "", tuple(d.given_at.date() for d in dose_rows), 0, 0
    )
    plan = RecordPlan(
        id=1,
        template="Hydroxocobalamin 1 mg, no neurological involvement (BNF) (v1)",
        drug="Hydroxocobalamin 1,000 mcg/mL",
        dose_text="1,000 mcg (1 mL of 1,000 mcg/mL)",
        route="IM",
        start_date=start.date(),
        status="active",
        prescriber="Dr Shah",
        indication="",
        author="Pat Pharmacist",
        verified_by="Priya Pharmacist",
        verified_at=start - timedelta(days=2),
        verification_meaning="verified formulation, strength and schedule",
        end_reason="",
        override_reason="",
        review_reason="",
        supplied_as="",
        phases=(RecordPhase("Induction: 1,000 mcg (1 mL) IM 3 times a week, 6 doses", None, ""),),
    )
    patient = RecordPatient(
        1, "H2041", "OKAFOR, Grace", date(1958, 3, 14), "female", "Pernicious anaemia", False, "", False,
        (), "Penicillin", None, False,
    )  # fmt: skip
    return PatientRecord(
        patient, (plan,), dose_rows, labs, (trend,), "Riverside B12 Clinic", "020 7946 0000",
        datetime(2026, 12, 1, 10, 0, tzinfo=LONDON), "Nora Nurse", "Europe/London",
    )  # fmt: skip


def ours(rec: PatientRecord) -> tuple[bytes, int]:
    buffer = io.BytesIO()
    pages = pr.write_patient_record(buffer, rec, signer="Nora Nurse")
    return buffer.getvalue(), pages


def bare(rec: PatientRecord, rows_per_page: int = 45) -> tuple[bytes, int]:
    """The same strings, one plain Table per page-sized chunk, nothing else."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm)
    dose_rows = [
        [label_time(d.given_at), d.dose_text, d.route, d.site, d.product, d.lot, d.nurse, d.outcome]
        for d in rec.doses
    ]
    lab_rows = [
        [label_date(lab.taken_on), lab.test, lab.result, lab.band, lab.context, lab.entered_by]
        for lab in rec.labs
    ]
    story = []
    for rows, header, widths in (
        (dose_rows, pr.DOSE_COLUMNS, pr.DOSE_WIDTHS),
        (lab_rows, pr.LAB_COLUMNS, pr.LAB_WIDTHS),
    ):
        for k in range(0, len(rows), rows_per_page):
            table = RLTable([list(header), *rows[k : k + rows_per_page]], colWidths=widths)
            table.setStyle([("FONT", (0, 0), (-1, -1), "Helvetica", 7.6)])
            story.append(table)
    doc.build(story)
    return buffer.getvalue(), int(doc.page)


def timed(fn: Callable[[], tuple[bytes, int]]) -> tuple[float, int]:
    started = time.perf_counter()
    _, pages = fn()
    return time.perf_counter() - started, pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    table = Table(f"A patient's treatment record to PDF (median of {args.runs} runs)")
    rates: dict[int, float] = {}
    for doses in (300, 3300):
        rec = record(doses)
        mine: list[float] = []
        base: list[float] = []
        pages = bare_pages = 0
        for _ in range(args.runs):  # interleaved, run for run
            seconds, pages = timed(lambda rec=rec: ours(rec))
            mine.append(seconds)
            seconds, bare_pages = timed(lambda rec=rec: bare(rec))
            base.append(seconds)
        rate = pages / median(mine)
        rates[pages] = rate
        print(
            f"{doses:,} doses: ours {runs_text(mine)} s for {pages} pages; "
            f"bare {runs_text(base)} s for {bare_pages} pages"
        )
        table.add(
            f"{doses:,} doses, {pages} pages",
            rate,
            "pages/s",
            target=f">= {MIN_PAGES_PER_SECOND:g} pages/s",
            ok=rate >= MIN_PAGES_PER_SECOND,
            digits=0,
        )
        table.add(
            f"{doses:,} doses, time per page",
            1000 * median(mine) / pages,
            "ms",
            baseline=("bare platypus loop", 1000 * median(base) / bare_pages),
            target=f"<= {TARGET_RATIO}x",
            ok=(median(mine) / pages) / (median(base) / bare_pages) <= TARGET_RATIO,
        )
    (small, small_rate), (large, large_rate) = sorted(rates.items())
    table.add(
        f"linearity: pages/s at {large} pages over {small}",
        large_rate / small_rate,
        "",
        target=f">= {LINEARITY}",
        ok=large_rate / small_rate >= LINEARITY,
    )
    table.print()
    return 1 if table.missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
