"""CSV import of 100,000 patients: rows a second, and how long another workstation's write waits meanwhile.

    .venv/bin/python benchmarks/import_csv.py [--rows 100000]

The file is written first (valid rows, the importer's own columns). Then, in a fresh migrated SQLite
file, `b12desk import patients FILE --user admin` runs as a clinic would run it, while a second process
commits a one-row write every 50 ms (another workstation saving a dose) and records how long each
waited for the lock. Baseline in the same run: plain sqlite3 reading the same CSV with csv.reader and
inserting the same columns with executemany in one transaction (no validation, no audit).
Target: at least 5,000 rows a second; no write kept waiting for minutes.
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, Table, app_env, python

TARGET_ROWS_PER_SECOND = 5_000
PASSWORD = "benchmark password 1"

WRITER = r"""
import sqlite3, sys, time
path, stop = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(path, timeout=600, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE IF NOT EXISTS bench_pings (at REAL)")
waits = []
import os
while not os.path.exists(stop):
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO bench_pings VALUES (?)", (time.time(),))
    conn.execute("COMMIT")
    waits.append(time.perf_counter() - started)
    time.sleep(0.05)
print(f"WAITS {len(waits)} {max(waits):.3f} {sorted(waits)[len(waits) // 2]:.4f}", flush=True)
"""


def letters(n: int) -> str:
    out = ""
    for _ in range(5):
        n, k = divmod(n, 26)
        out = chr(ord("a") + k) + out
    return out.capitalize()


def write_csv(path: Path, rows: int) -> None:
    causes = ("pernicious_anaemia", "dietary", "gastrectomy", "post_bariatric", "unknown")
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["mrn", "family_name", "given_name", "date_of_birth", "sex", "cause", "phone"])
        for n in range(rows):
            born = f"{1930 + n % 70}-{1 + n % 12:02d}-{1 + n % 28:02d}"
            writer.writerow(
                [f"IMP{n:07d}", letters(n), letters(n * 7 + 3), born, "female", causes[n % 5], "01632 960000"]
            )


def baseline(csv_path: Path, schema_from: Path, target: Path) -> float:
    """Plain sqlite3: the same rows, the same columns, one transaction; seconds for read + insert."""
    src = sqlite3.connect(schema_from)
    ddl = src.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'patients' AND sql IS NOT NULL "
        "ORDER BY type = 'index'"
    ).fetchall()
    src.close()
    dst = sqlite3.connect(target, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
        dst.execute(f"PRAGMA {pragma}")
    for (statement,) in ddl:
        dst.execute(statement)
    started = time.perf_counter()
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        now = "2026-12-01 00:00:00"
        columns = [*header, "email", "address", "neuro_involvement", "neuro_symptoms"]
        columns += ["pregnant_or_breastfeeding", "flag_b12_hypersensitivity", "flag_lebers_disease"]
        columns += ["flag_benzyl_alcohol_sensitivity", "allergies", "notes", "archived", "archive_reason"]
        columns += ["created_at", "updated_at", "version_id"]
        extra = ("", "", 0, "", 0, 0, 0, 0, "", "", 0, "", now, now, 1)
        rows = [(*row, *extra) for row in reader]
        dst.execute("BEGIN")
        dst.executemany(
            f"INSERT INTO patients ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
        )
        dst.execute("COMMIT")
    seconds = time.perf_counter() - started
    dst.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="keep the imported database at this path")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="b12desk-import-bench-"))
    csv_path = tmp / "patients.csv"
    write_csv(csv_path, args.rows)
    print(f"{csv_path}: {args.rows:,} rows, {csv_path.stat().st_size / 1e6:.1f} MB")

    db_path = tmp / "import.sqlite3"
    env = app_env(tmp / "data", B12DESK_PASSWORD=PASSWORD, B12DESK_NEW_PASSWORD=PASSWORD)
    url = f"sqlite:///{db_path}"
    subprocess.run([python(), "-m", "b12desk", "db", "upgrade", "--db", url], env=env, check=True)
    subprocess.run(
        [
            python(),
            "-m",
            "b12desk",
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--full-name",
            "Admin",
            "--db",
            url,
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )

    stop = tmp / "stop"
    writer = subprocess.Popen(
        [python(), "-c", WRITER, str(db_path), str(stop)], stdout=subprocess.PIPE, text=True, env=env
    )
    time.sleep(0.5)
    started = time.perf_counter()
    done = subprocess.run(
        [python(), "-m", "b12desk", "import", "patients", str(csv_path), "--user", "admin", "--db", url],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    stop.touch()
    writer_out, _ = writer.communicate(timeout=60)
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit(f"the import failed (exit {done.returncode})")
    print(done.stdout.strip().splitlines()[-1])
    _, pings, longest, typical = writer_out.split()
    imported = sqlite3.connect(db_path).execute("SELECT count(*) FROM patients").fetchone()[0]
    assert imported == args.rows, imported

    base_seconds = baseline(csv_path, db_path, tmp / "baseline.sqlite3")
    rate, base_rate = args.rows / wall, args.rows / base_seconds
    print(f"import (process start to exit, validation and audit included): {wall:.1f} s")
    print(f"another workstation's writes meanwhile: {pings}, median wait {float(typical) * 1000:.0f} ms")
    table = Table(f"CSV import of {args.rows:,} patients")
    table.add(
        "import rows a second (b12desk import patients)",
        rate,
        "rows/s",
        baseline=("plain sqlite3 csv + executemany", base_rate),
        target=f">= {TARGET_ROWS_PER_SECOND:,} rows/s",
        ok=rate >= TARGET_ROWS_PER_SECOND,
        digits=0,
    )
    table.add(
        "longest wait of another workstation's write",
        float(longest),
        "s",
        target="not minutes (< 60 s)",
        ok=float(longest) < 60,
    )
    table.print()
    if args.keep:
        os.replace(db_path, args.keep)
        print(f"database kept: {args.keep}")
    return 1 if table.missed and args.strict else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
