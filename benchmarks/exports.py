"""The administrations workbook on the demo database (20,000 patients, about 1,000,000 administrations),
against a bare openpyxl write-only loop in the same run.

    .venv/bin/python benchmarks/exports.py [--db PATH] [--rows 100000] [--runs 3] [--big 500000]

Speed: ours is workbooks.administrations_workbook as the CLI and GUI call it (permission check, the
count for the progress bar, the log's keyset-paged query in batches, rows made into Excel values, text
guarded against formulas, the parameters sheet, a temporary file renamed into place), for the clinic
days holding the newest --rows administrations. The bare baseline: openpyxl write-only appending the
very same cell values (captured from our run, held in memory beforehand) to one sheet and saving it,
nothing else. A second baseline streams the same rows from a plain sqlite3 cursor into openpyxl (the
instant parsed to a datetime, nothing else converted). Interleaved run for run; ratios are ours / bare.

Memory: peak resident size (getrusage maxrss) of a fresh process exporting about 10,000 and --big rows,
beside a bare process streaming the same rows from a plain sqlite3 cursor into an openpyxl write-only
sheet.

Targets (labels and reports issue): at least 0.8x the bare loop's rate; peak memory under 150 MB at
either size.

The database is only read (the benchmark's exports are not audited); an older schema is migrated in a
copy first, as benchmarks/calendar_tab.py does.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from _common import ROOT, Table, big_database, median, python, runs_text

TARGET_RATIO = 0.8
TARGET_MB = 150.0
SMALL_ROWS = 10_000

BARE_SQL = """
SELECT a.id, a.given_at, p.mrn, p.family_name, p.given_name, a.dose_mcg, a.volume_ml, a.route, a.site,
       a.outcome, a.reaction, a.product_id, l.lot_number, s.full_name, a.status, a.external,
       a.self_administered, a.note, a.amends_id, a.amendment_reason
FROM administrations a
JOIN patients p ON p.id = a.patient_id
JOIN staff s ON s.id = a.given_by_id
LEFT JOIN lots l ON l.id = a.lot_id
WHERE a.given_at >= :start AND a.given_at < :end
ORDER BY a.given_at DESC, a.id DESC
"""


def maxrss_mb() -> float:
    """This process's peak resident size. Linux keeps getrusage's maxrss across exec, so a child
    started from a big parent would report the parent's size: read the peak of its own memory
    (VmHWM) where there is one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def prepared(source: Path) -> Path:
    """The database at the current schema: itself if it is, else a migrated copy (made once)."""
    from b12desk.data import migrate
    from b12desk.data.db import open_database

    db = open_database(f"sqlite:///{source}")
    try:
        current = migrate.current_revision(db) == migrate.head_revision(db)
    finally:
        db.dispose()
    if current:
        return source
    target = Path("/tmp/bench") / f"exports-{source.stem}-{migrate.SCHEMA_HEAD}.sqlite3"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    print(f"copying {source} to {target} and migrating the copy (once)", flush=True)
    shutil.copy(source, partial)
    db = open_database(f"sqlite:///{partial}")
    migrate.upgrade(db, backup_dir=None)
    db.dispose()
    partial.rename(target)
    return target


def _setup(path: Path, rows: int) -> tuple[Any, Any, Any, Any]:
    """The database, an administrator acting (read from the staff table: signing in would write), the
    clinic clock, and the period of clinic days holding the newest `rows` administrations."""
    from sqlalchemy import select

    from b12desk.data.db import open_database
    from b12desk.data.models import Administration, Staff
    from b12desk.domain.enums import Role
    from b12desk.services import clinic
    from b12desk.services.common import Actor
    from b12desk.services.reports import ReportParameters

    db = open_database(f"sqlite:///{path}")
    with db.readers() as s:
        staff = s.scalars(select(Staff).where(Staff.role == Role.ADMIN, Staff.active).limit(1)).one()
        actor = Actor(staff.id, staff.username, staff.full_name, staff.role)
        clock = clinic.clinic_clock(s)
        newest = select(Administration.given_at).order_by(Administration.given_at.desc())
        last = s.scalar(newest.limit(1))
        first = s.scalar(newest.limit(1).offset(rows - 1))
    assert last is not None and first is not None, "the database holds too few administrations"
    return db, actor, clock, ReportParameters(clock.day_of(first), clock.day_of(last))


def child_ours(path: Path, rows: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from b12desk.exports.workbooks import administrations_workbook

    db, actor, clock, parameters = _setup(path, rows)
    with tempfile.TemporaryDirectory() as folder, db.readers() as s:
        started = time.perf_counter()
        result = administrations_workbook(
            s, actor, parameters, Path(folder) / "a.xlsx", clock=clock, audit=False
        )
        seconds = time.perf_counter() - started
    db.dispose()
    return {"rows": result.rows, "seconds": seconds, "maxrss_mb": maxrss_mb()}


def child_bare(path: Path, rows: int) -> dict[str, Any]:
    """A bare stream: plain sqlite3 rows straight into an openpyxl write-only sheet."""
    from openpyxl import Workbook

    sys.path.insert(0, str(ROOT))
    db, _actor, clock, parameters = _setup(path, rows)
    start = clock.start_of_day(parameters.start).astimezone(UTC).replace(tzinfo=None)
    end = clock.start_of_day(date.fromordinal(parameters.end.toordinal() + 1)).astimezone(UTC)
    db.dispose()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    values = {"start": str(start), "end": str(end.replace(tzinfo=None))}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("Administrations")
        n = 0
        cursor = conn.execute(BARE_SQL, values)
        while batch := cursor.fetchmany(2_000):
            for row in batch:
                ws.append(row)
            n += len(batch)
        wb.save(Path(folder) / "b.xlsx")
        seconds = time.perf_counter() - started
    return {"rows": n, "seconds": seconds, "maxrss_mb": maxrss_mb()}


def in_subprocess(kind: str, path: Path, rows: int) -> dict[str, Any]:
    command = [python(), __file__, "--child", kind, "--db", str(path), "--rows", str(rows)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def speed(path: Path, rows: int, runs: int, table: Table) -> None:
    """Ours and the bare loop over the same values, interleaved, in this process."""
    sys.path.insert(0, str(ROOT))
    from openpyxl import Workbook

    from b12desk.exports import workbooks, xlsx

    db, actor, clock, parameters = _setup(path, rows)
    captured: list[list[Any]] = []
    original = xlsx.SheetWriter.append

    def capture(self: xlsx.SheetWriter, values: Any) -> None:
        if self.ws.title == "Administrations":
            captured.append(list(values))
        original(self, values)

    folder = Path(tempfile.mkdtemp(prefix="b12desk-exports-"))
    try:
        xlsx.SheetWriter.append = capture  # type: ignore[method-assign]
        with db.readers() as s:  # the warm-up run: it also collects the values the bare loop writes
            workbooks.administrations_workbook(
                s, actor, parameters, folder / "warm.xlsx", clock=clock, audit=False
            )
        xlsx.SheetWriter.append = original  # type: ignore[method-assign]
        # The captured values stay for the whole run: keep them out of the collector's walks (as the CLI
        # freezes what it has loaded), so that neither side pays for the harness's own objects.
        gc.collect()
        gc.freeze()
        header = [c.header for c in workbooks.ADMINISTRATION_COLUMNS]
        n = len(captured)
        print(f"period {parameters.start} to {parameters.end}: {n:,} administrations", flush=True)

        def ours() -> float:
            with db.readers() as s:
                started = time.perf_counter()
                result = workbooks.administrations_workbook(
                    s, actor, parameters, folder / "ours.xlsx", clock=clock, audit=False
                )
                elapsed = time.perf_counter() - started
            assert result.rows == n
            return elapsed

        def bare() -> float:
            started = time.perf_counter()
            wb = Workbook(write_only=True)
            ws = wb.create_sheet("Administrations")
            ws.append(header)
            for row in captured:
                ws.append(row)
            wb.save(folder / "bare.xlsx")
            return time.perf_counter() - started

        start = clock.start_of_day(parameters.start).astimezone(UTC).replace(tzinfo=None)
        end = clock.start_of_day(date.fromordinal(parameters.end.toordinal() + 1)).astimezone(UTC)
        values = {"start": str(start), "end": str(end.replace(tzinfo=None))}
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

        def bare_stream() -> float:
            """The same rows from a plain sqlite3 cursor, the instant made a datetime, nothing else."""
            started = time.perf_counter()
            wb = Workbook(write_only=True)
            ws = wb.create_sheet("Administrations")
            ws.append(header)
            cursor = conn.execute(BARE_SQL, values)
            parse = datetime.fromisoformat
            while batch := cursor.fetchmany(2_000):
                for row in batch:
                    ws.append((row[0], parse(row[1]), *row[2:]))
            wb.save(folder / "stream.xlsx")
            return time.perf_counter() - started

        ours_s, bare_s, stream_s = [], [], []
        for run in range(runs):
            ours_s.append(ours())
            bare_s.append(bare())
            stream_s.append(bare_stream())
            print(
                f"  run {run + 1}: ours {ours_s[-1]:.2f} s, bare (values in memory) {bare_s[-1]:.2f} s, "
                f"bare (sqlite3 cursor) {stream_s[-1]:.2f} s",
                flush=True,
            )
        conn.close()
    finally:
        xlsx.SheetWriter.append = original  # type: ignore[method-assign]
        captured.clear()
        gc.unfreeze()
        shutil.rmtree(folder, ignore_errors=True)
        db.dispose()
    print(f"ours (s): {runs_text(ours_s)}; bare (s): {runs_text(bare_s)}; stream (s): {runs_text(stream_s)}")
    ours_rate, bare_rate = n / median(ours_s), n / median(bare_s)
    table.add(
        f"{n:,} administrations written (median of {runs})",
        ours_rate,
        "rows/s",
        baseline=("bare openpyxl write-only loop, same values", bare_rate),
        target=f">= {TARGET_RATIO}x the bare rate",
        ok=ours_rate >= TARGET_RATIO * bare_rate,
        digits=0,
    )
    table.add(
        f"{n:,} administrations read and written (median of {runs})",
        ours_rate,
        "rows/s",
        baseline=("bare sqlite3 cursor -> openpyxl write-only, same rows", n / median(stream_s)),
        target=f">= {TARGET_RATIO}x the bare rate",
        ok=ours_rate >= TARGET_RATIO * n / median(stream_s),
        digits=0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, help="the database (default: the cached 20,000-patient demo)")
    parser.add_argument("--rows", type=int, default=100_000, help="administrations for the speed figure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big", type=int, default=500_000, help="administrations for the big memory figure")
    parser.add_argument("--child", choices=("ours", "bare"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = child_ours if args.child == "ours" else child_bare
        print(json.dumps(run(args.db, args.rows)))
        return
    sys.path.insert(0, str(ROOT))
    path = prepared(args.db or big_database())
    print(f"database: {path}", flush=True)
    table = Table("Excel export of administrations (openpyxl write-only, streamed in batches)")
    memory: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for rows in (SMALL_ROWS, args.big):  # first, while this process is small (its children copy it)
        ours = in_subprocess("ours", path, rows)
        bare = in_subprocess("bare", path, rows)
        print(
            f"{rows:,}: ours {ours['rows']:,} rows in {ours['seconds']:.1f} s; "
            f"bare {bare['rows']:,} rows in {bare['seconds']:.1f} s",
            flush=True,
        )
        memory.append((ours, bare))
    speed(path, args.rows, args.runs, table)
    for ours, bare in memory:
        table.add(
            f"peak memory, {ours['rows']:,} rows (own process)",
            ours["maxrss_mb"],
            "MB",
            baseline=("bare sqlite3 cursor -> openpyxl write-only", bare["maxrss_mb"]),
            target=f"< {TARGET_MB:.0f} MB",
            ok=ours["maxrss_mb"] < TARGET_MB,
            digits=0,
        )
    table.print()


if __name__ == "__main__":
    main()
