"""demo-data into SQLite: rows a second, beside plain sqlite3 executemany of the very same rows.

    .venv/bin/python benchmarks/demo_data.py                  # 20,000 patients, 2 years
    .venv/bin/python benchmarks/demo_data.py --million        # 20,000 patients, 10 years: ~1M administrations

The generator fills a freshly migrated SQLite file (everything from the empty file to the commit). The
baseline, in the same run, copies every row it wrote into an empty file with the same schema and the
same settings (WAL, synchronous=NORMAL, foreign keys on, the same page cache), with plain sqlite3
executemany, one transaction, tables in dependency order; only the executemany calls and the commit
are timed, not reading the rows back. Target: the generator at least half the baseline's rate.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, Table

TARGET_RATIO = 0.5
BATCH = 50_000


def baseline_copy(source: Path, target: Path) -> tuple[int, float]:
    """Plain sqlite3: the same rows into the same schema; (rows, seconds spent inserting)."""
    sys.path.insert(0, str(ROOT))
    from b12desk.data.models import Base

    src = sqlite3.connect(source)
    dst = sqlite3.connect(target, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-65536"):
        dst.execute(f"PRAGMA {pragma}")
    ddl = src.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "ORDER BY type = 'index', rowid"  # tables first, then their indexes
    ).fetchall()
    for (statement,) in ddl:
        dst.execute(statement)
    rows_copied, seconds = 0, 0.0
    dst.execute("BEGIN")
    for table in Base.metadata.sorted_tables:  # parents before children, as foreign keys need
        columns = [r[1] for r in src.execute(f"PRAGMA table_info({table.name})")]
        insert = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        cursor = src.execute(f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY rowid")
        while batch := cursor.fetchmany(BATCH):
            started = time.perf_counter()
            dst.executemany(insert, batch)
            seconds += time.perf_counter() - started
            rows_copied += len(batch)
    started = time.perf_counter()
    dst.execute("COMMIT")
    seconds += time.perf_counter() - started
    src.close()
    dst.close()
    return rows_copied, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--million", action="store_true", help="the 1,000,000-administration run (--years 10)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    if args.million:
        args.years = 10

    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    from b12desk.clock import system_clock
    from b12desk.data.db import open_database
    from b12desk.data.migrate import upgrade
    from b12desk.services import demo_data

    with tempfile.TemporaryDirectory(prefix="b12desk-bench-") as tmp:
        path = Path(tmp) / "demo.sqlite3"
        db = open_database(f"sqlite:///{path}")
        upgrade(db, backup_dir=None)
        print(f"database: {db.describe()}  (imports and migration {time.perf_counter() - started:.1f} s)")

        def progress(stage: str, rows: int) -> None:
            print(f"  {stage}: {rows:,}", flush=True)

        stats = demo_data.generate(
            db,
            patients=args.patients,
            years=args.years,
            seed=args.seed,
            progress=progress,
            today=system_clock().today(),
        )
        db.dispose()
        size = path.stat().st_size
        generated_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        copied, copy_seconds = baseline_copy(path, Path(tmp) / "baseline.sqlite3")

    print(f"\n{args.patients:,} patients, {args.years} years, seed {args.seed}")
    for name, count in stats.counts.items():
        print(f"  {name:<20} {count:>12,}")
    print(f"  {'total':<20} {stats.total_rows:>12,}  in {stats.seconds:.1f} s; file {size / 1e6:,.0f} MB")
    print(f"baseline: {copied:,} rows (the whole file) by plain sqlite3 executemany in {copy_seconds:.1f} s")
    rate, base_rate = stats.rows_per_second, copied / copy_seconds
    table = Table("demo-data into SQLite")
    table.add(
        "demo-data rows a second",
        rate,
        "rows/s",
        baseline=("plain sqlite3 executemany, same rows", base_rate),
        target=f">= {TARGET_RATIO}x",
        ok=rate >= TARGET_RATIO * base_rate,
        digits=0,
    )
    table.add("peak memory of the generating process", generated_peak, "MB", digits=0)
    table.print()
    return 1 if table.missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
