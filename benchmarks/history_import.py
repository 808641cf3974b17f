"""Dose-history import: a good file of 10,000 rows, checked and written, against a bare sqlite3 insert.

    .venv/bin/python benchmarks/history_import.py [--rows 10000] [--runs 3]

Set-up (not timed): a fresh migrated SQLite file with 1,000 patients, each on a verified plan that
continues treatment begun elsewhere, and a CSV of their history (six induction doses three times a week,
then maintenance every 90 days; sites rotating), 10 rows a patient. Then, per run, in a copy of that
database:

- ours: `history_import.import_history` (every row parsed, checked by the dose rules, written in bulk,
  each schedule worked out again, an audit event per record) in one transaction, committed;
- the CLI: `b12desk import administrations FILE --user ...` end to end, as a clinic runs it;
- baseline, in the same run: plain sqlite3 reading the same CSV with csv.reader and inserting the rows
  into a bare table of the same columns with executemany in one transaction (no checks, no audit).

Target: the import of 10,000 rows in under 5 s.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from _common import ROOT, Table, app_env, median, python, runs_text

sys.path.insert(0, str(ROOT))

from b12desk.clock import system_clock
from b12desk.data.db import open_database
from b12desk.data.migrate import upgrade
from b12desk.domain.enums import Cause, Role
from b12desk.domain.patients import PatientInput
from b12desk.services import auth, clinic, history_import, patients, plans

TARGET_SECONDS = 5.0
PASSWORD = "benchmark password 1"
SITES = ("left deltoid", "right deltoid", "left ventrogluteal", "right ventrogluteal")


def build_clinic(path: Path, patient_count: int) -> None:
    db = open_database(f"sqlite:///{path}")
    upgrade(db, backup_dir=None)
    with db.sessions.begin() as s:
        admin = auth.create_first_admin(s, username="admin", full_name="Ada Admin", password=PASSWORD)
        pharmacist = auth.create_user(
            s, admin, username="pharm", full_name="Pat Pharm", role=Role.PHARMACIST, password=PASSWORD
        )
        checker = auth.create_user(
            s, admin, username="pharm2", full_name="Sam Check", role=Role.PHARMACIST, password=PASSWORD
        )
        clinic.set_time_zone(s, admin, "Europe/London")
        plans.ensure_shipped_templates(s)
        template = next(t for t in plans.list_templates(s, admin) if t.code == "uk_hoc_no_neuro")
        rows = [
            PatientInput(
                mrn=f"H{n:06d}",
                family_name=f"Family{n}",
                given_name="Pat",
                date_of_birth=date(1950, 1, 1) + timedelta(days=n),
                cause=Cause.PERNICIOUS_ANAEMIA,
            )
            for n in range(patient_count)
        ]
        patients.create_patients(s, admin, rows)
    with db.sessions.begin() as s:
        clock = clinic.clinic_clock(s)
        for row in patients.roster(s, admin):
            plan = plans.create_plan(
                s,
                pharmacist,
                row.id,
                plans.PlanInput(
                    template_id=template.id,
                    formulation=template.formulation,
                    dose_mcg=Decimal(1000),
                    route=template.definition.route,
                    start_date=clock.today(),
                    prescriber="Dr Shah",
                    continues_elsewhere=True,
                ),
                clock=clock,
            )
            plans.verify_plan(
                s, checker, plan.id, password=PASSWORD, expected_version=plan.version_id, clock=clock
            )
    db.dispose()


def write_history(path: Path, patient_count: int, per_patient: int, today: date) -> int:
    """Each patient's doses: induction Mon/Wed/Fri, then every 90 days, ending before today."""
    induction = [0, 2, 4, 7, 9, 11]
    offsets = induction + [11 + 90 * k for k in range(1, per_patient - len(induction) + 1)]
    span = offsets[-1]
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(history_import.COLUMNS)
        for n in range(patient_count):
            first = today - timedelta(days=span + 30 + n % 40)
            first -= timedelta(days=first.weekday())  # a Monday
            for k, offset in enumerate(offsets):
                writer.writerow(
                    [
                        f"H{n:06d}",
                        (first + timedelta(days=offset)).isoformat(),
                        "1000",
                        "im",
                        SITES[k % 4],
                        "",
                        "",
                    ]
                )
                rows += 1
    return rows


def bare_insert(db_path: Path, csv_path: Path) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TABLE bare_doses (id INTEGER PRIMARY KEY, mrn TEXT, given_at TEXT, dose TEXT, route TEXT, "
        "site TEXT, outcome TEXT, note TEXT)"
    )
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        conn.executemany(
            "INSERT INTO bare_doses (mrn, given_at, dose, route, site, outcome, note) VALUES (?,?,?,?,?,?,?)",
            list(reader),
        )
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def ours(db_path: Path, csv_path: Path) -> tuple[float, int]:
    db = open_database(f"sqlite:///{db_path}")
    with db.sessions.begin() as s:
        actor = auth.authenticate(s, username="pharm", password=PASSWORD)
    started = time.perf_counter()
    with db.sessions.begin() as s:
        report = history_import.import_history(s, actor, csv_path, dry_run=False)
    elapsed = time.perf_counter() - started
    db.dispose()
    if not report.ok:
        raise SystemExit(f"the benchmark file was refused: {report.problems[:3]}")
    return elapsed, report.imported


def cli(db_path: Path, csv_path: Path, data_dir: Path) -> float:
    command = [python(), "-m", "b12desk", "import", "administrations", str(csv_path)]
    command += ["--db", f"sqlite:///{db_path}", "--user", "pharm"]
    started = time.perf_counter()
    subprocess.run(
        command,
        env=app_env(data_dir, B12DESK_PASSWORD=PASSWORD),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    per_patient = 10
    patient_count = max(1, args.rows // per_patient)
    with tempfile.TemporaryDirectory(prefix="b12desk-history-") as tmp:
        work = Path(tmp)
        template_db = work / "clinic.sqlite3"
        print(f"setting up {patient_count:,} patients on verified plans…", flush=True)
        build_clinic(template_db, patient_count)
        csv_path = work / "history.csv"
        rows = write_history(csv_path, patient_count, per_patient, system_clock().today())
        print(f"{rows:,} rows written to the history file", flush=True)
        ours_times, cli_times, bare_times = [], [], []
        for run in range(args.runs):
            copy = work / f"run{run}.sqlite3"
            shutil.copy(template_db, copy)
            bare_times.append(bare_insert(work / f"bare{run}.sqlite3", csv_path))
            elapsed, imported = ours(copy, csv_path)
            ours_times.append(elapsed)
            assert imported == rows
            copy_cli = work / f"cli{run}.sqlite3"
            shutil.copy(template_db, copy_cli)
            cli_times.append(cli(copy_cli, csv_path, work / "data"))
        print(f"ours (s): {runs_text(ours_times)}; CLI (s): {runs_text(cli_times)}")
        print(f"bare (s): {runs_text(bare_times)}")
        table = Table(
            f"Dose-history import of {rows:,} rows ({patient_count:,} patients), median of {args.runs} runs"
        )
        bare = median(bare_times)
        table.add(
            "import_history: check and write",
            median(ours_times),
            "s",
            baseline=("sqlite3 csv + executemany", bare),
            target=f"< {TARGET_SECONDS:.0f} s",
            ok=median(ours_times) < TARGET_SECONDS,
        )
        table.add(
            "b12desk import administrations (CLI)",
            median(cli_times),
            "s",
            baseline=("sqlite3 csv + executemany", bare),
            target=f"< {TARGET_SECONDS:.0f} s",
            ok=median(cli_times) < TARGET_SECONDS,
        )
        table.add("rows a second (ours)", rows / median(ours_times), "rows/s", digits=0)
        table.print()


if __name__ == "__main__":
    main()
