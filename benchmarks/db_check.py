"""The command line on the 1,000,000-administration database: `db check`, the audit chain, and
`patient list --json`, each beside a bare baseline measured in the same run.

    .venv/bin/python benchmarks/db_check.py [--db PATH.sqlite3] [--runs 3]

Without --db the 20,000-patient, 1,000,000-administration demo database is generated once (cached).
- `b12desk db check` (quick_check, foreign keys, stock ledger, audit chain), process start to exit,
  beside plain sqlite3 running PRAGMA quick_check and foreign_key_check on the same file.
  Target: under 10 s.
- The audit chain: 100,000 patients are imported into a copy (100,000 chained events), then
  verify_chain reads and re-hashes them, beside a bare loop of sqlite3 reading the same rows and
  signing each one's fields with HMAC-SHA256. Target: at least 100,000 events a second.
- `b12desk patient list --json` for 20,000 patients, process start to exit, beside a bare Python
  process reading the same patients with sqlite3 and printing them with json. Target: under 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEMO_PASSWORD, ROOT, Table, app_env, big_database, median, python, runs_text

CHECK_TARGET_S = 10.0
CHAIN_TARGET = 100_000
LIST_TARGET_S = 1.0
CHAIN_PATIENTS = 100_000

BARE_LIST = r"""
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.row_factory = sqlite3.Row
columns = "id, mrn, family_name, given_name, date_of_birth, sex, cause, archived"
rows = conn.execute(f"SELECT {columns} FROM patients")
sys.stdout.write(json.dumps([dict(r) for r in rows]))
"""


def timed_process(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{' '.join(command[:5])} failed (exit {done.returncode})")
    return seconds, done.stdout


def bare_checks(path: Path) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    return time.perf_counter() - started


def chain_database(tmp: Path) -> Path:
    """A database with CHAIN_PATIENTS imported: as many audit events, chained."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from import_csv import write_csv

    from b12desk.data.db import open_database
    from b12desk.data.migrate import upgrade
    from b12desk.services import auth, imports

    path = tmp / "chain.sqlite3"
    csv_path = tmp / "patients.csv"
    write_csv(csv_path, CHAIN_PATIENTS)
    db = open_database(f"sqlite:///{path}")
    upgrade(db, backup_dir=None)
    with db.sessions.begin() as s:
        actor = auth.create_first_admin(s, username="admin", full_name="Admin", password=DEMO_PASSWORD * 3)
    with db.sessions.begin() as s:
        imports.import_patients(s, actor, csv_path, dry_run=False)
    db.dispose()
    return path


def time_chain(path: Path) -> tuple[int, float]:
    from b12desk.data.audit import verify_chain
    from b12desk.data.db import open_database

    db = open_database(f"sqlite:///{path}")
    with db.readers.begin() as s:
        started = time.perf_counter()
        report = verify_chain(s)
        seconds = time.perf_counter() - started
    db.dispose()
    assert report.ok, report.problem
    return report.events_checked, seconds


def bare_chain(path: Path) -> tuple[int, float]:
    """sqlite3 reads the same rows; an HMAC-SHA256 (as the chain is signed) of each one's fields, joined.
    No checking, no encoding."""
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    count = 0
    key = hashlib.sha256(b"any 32-byte key").digest()

    digest = hmac.digest
    cursor = conn.execute(
        "SELECT id, at, staff_id, action, entity, entity_id, old_values, new_values, reason, prev_hash, hash "
        "FROM audit_events ORDER BY id"
    )
    while rows := cursor.fetchmany(20_000):
        for row in rows:
            digest(key, "\x1f".join(map(str, row[:9])).encode("utf-8"), "sha256").hex()
            count += 1
    seconds = time.perf_counter() - started
    conn.close()
    return count, seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, help="a demo SQLite file (default: the cached large one)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (default 3)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    path = args.db or big_database()
    tmp = Path(tempfile.mkdtemp(prefix="b12desk-cli-bench-"))
    env = app_env(tmp / "data", B12DESK_PASSWORD=DEMO_PASSWORD)
    url = f"sqlite:///{path}"

    check, check_bare, listing, listing_bare = [], [], [], []
    bare_checks(path)  # warm the file cache
    for _ in range(args.runs):
        seconds, out = timed_process([python(), "-m", "b12desk", "db", "check", "--db", url], env)
        check.append(seconds)
        check_bare.append(bare_checks(path))
        seconds, out = timed_process(
            [python(), "-m", "b12desk", "patient", "list", "--json", "--db", url, "--user", "admin"], env
        )
        listing.append(seconds)
        patients = len(json.loads(out))
        listing_bare.append(timed_process([python(), "-c", BARE_LIST, str(path)], env)[0])
    print(f"database: {path}")
    print(f"db check (s):               {runs_text(check)}   bare: {runs_text(check_bare)}")
    print(f"patient list --json (s):    {runs_text(listing)}   bare: {runs_text(listing_bare)}")

    print(f"importing {CHAIN_PATIENTS:,} patients into a fresh file for the chain…", flush=True)
    chain_path = chain_database(tmp)
    chain = [time_chain(chain_path) for _ in range(args.runs)]
    chain_bare = [bare_chain(chain_path) for _ in range(args.runs)]
    events = chain[0][0]
    rates = [n / s for n, s in chain]
    bare_rates = [n / s for n, s in chain_bare]
    print(f"audit chain of {events:,} events (events/s): {runs_text(rates, '{:,.0f}')}")
    print(f"  bare sqlite3 + HMAC-SHA256 loop:    {runs_text(bare_rates, '{:,.0f}')}")

    table = Table("The command line on the large database (medians)")
    value = median(check)
    table.add(
        "b12desk db check",
        value,
        "s",
        baseline=("sqlite3 quick_check + foreign_key_check", median(check_bare)),
        target=f"< {CHECK_TARGET_S:.0f} s",
        ok=value < CHECK_TARGET_S,
    )
    value = median(rates)
    table.add(
        "audit chain verified",
        value,
        "events/s",
        baseline=("sqlite3 + HMAC-SHA256 loop", median(bare_rates)),
        target=f">= {CHAIN_TARGET:,}",
        ok=value >= CHAIN_TARGET,
        digits=0,
    )
    value = median(listing)
    table.add(
        f"b12desk patient list --json ({patients:,})",
        value,
        "s",
        baseline=("python + sqlite3 + json", median(listing_bare)),
        target=f"< {LIST_TARGET_S:.0f} s",
        ok=value < LIST_TARGET_S,
    )
    table.print()
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if table.missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
