"""Demo data generator benchmark: a 20,000-patient clinic into a fresh SQLite file, rows/s and peak memory.

    .venv/bin/python benchmarks/demo_data.py                  # 20,000 patients, 2 years
    .venv/bin/python benchmarks/demo_data.py --million        # 20,000 patients, 10 years: ~1M administrations
    .venv/bin/python benchmarks/demo_data.py --db postgresql+psycopg://user@host/empty_db

Target: at least 50,000 rows/s overall on SQLite (everything from the empty migrated file to the commit).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

TARGET_ROWS_PER_SECOND = 50_000


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
    parser.add_argument("--db", help="an empty database URL instead of a temporary SQLite file")
    args = parser.parse_args(argv)
    if args.million:
        args.years = 10

    started = time.perf_counter()
    from b12desk.clock import system_clock
    from b12desk.data.db import open_database
    from b12desk.data.migrate import upgrade
    from b12desk.services import demo_data

    with tempfile.TemporaryDirectory(prefix="b12desk-bench-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"
        db = open_database(url)
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
        size = Path(tmp, "demo.sqlite3").stat().st_size if not args.db else None
        db.dispose()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    if sys.platform == "darwin":
        peak_mb /= 1024  # bytes on macOS
    print(f"\n{args.patients:,} patients, {args.years} years, seed {args.seed}")
    for table, count in stats.counts.items():
        print(f"  {table:<20} {count:>12,}")
    print(f"  {'total':<20} {stats.total_rows:>12,}")
    print(f"seconds:          {stats.seconds:.1f}")
    print(f"rows per second:  {stats.rows_per_second:,.0f}  (target >= {TARGET_ROWS_PER_SECOND:,})")
    print(f"peak memory:      {peak_mb:,.0f} MB (maxrss of the whole process)")
    if size is not None:
        print(f"database file:    {size / 1e6:,.0f} MB")
    ok = stats.rows_per_second >= TARGET_ROWS_PER_SECOND
    print("PASS" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
