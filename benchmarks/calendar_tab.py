"""The monitoring calendar's month view and each worklist on the demo database (20,000 patients, about
1,000,000 administrations), against the bare SQL query for the same rows in the same run.

    .venv/bin/python benchmarks/calendar_tab.py [--db PATH] [--runs 7] [--month YYYY-MM]

Ours, each time: the service call as a screen makes it (services.monitoring.worklist or month_counts) in
a session of its own: the permission check, the clinic's clock, the one statement and its rows made into
dataclasses. The bare baseline: plain sqlite3 running the same query as hand-written SQL (the same joins,
conditions and order), rows fetched. The two are interleaved run for run, and each figure is checked to
return as many rows as its baseline.

The cached benchmark database is not changed: it is copied once to /tmp/bench (or beside --db) and the
copy migrated to the current schema.

Targets (monitoring issue): each figure under 100 ms and within 2x the bare SQL query for the same rows.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import DEMO_PASSWORD, ROOT, Table, big_database, median, runs_text

# This file is named like the standard library's calendar module (which _strptime imports): take its
# folder off the path again, so that later imports find the standard one.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

TARGET_MS = 100.0
TARGET_RATIO = 2.0

LIVE = "t.status IN ('verified', 'active') AND p.archived = 0"
NEXT_DOSE = """e.status = 'due' AND e.kind = 'dose' AND e.due_on <= :today
  AND e.due_on = (SELECT min(l.due_on) FROM scheduled_events l
                  WHERE l.plan_id = e.plan_id AND l.status = 'due' AND l.kind = 'dose')"""
EVENT_COLUMNS = """e.id, p.id, p.mrn, p.family_name, p.given_name, p.date_of_birth, e.plan_id, e.label,
       e.due_on, e.window_end"""
EVENT_FROM = """FROM scheduled_events e
JOIN patients p ON p.id = e.patient_id
JOIN treatment_plans t ON t.id = e.plan_id"""

HB = """(SELECT r.{column} FROM lab_results r
          WHERE r.patient_id = p.id AND r.test_code = 'hb' AND r.status = 'current'
            AND r.value_canonical IS NOT NULL AND r.taken_on {op} {bound}
          ORDER BY r.taken_on DESC, r.id DESC LIMIT 1)"""
HB_AFTER = HB.format(column="value_canonical", op=">=", bound="date(t.start_date, '56 days')")
NORMAL_LOW = "CASE p.sex WHEN 'male' THEN 130 ELSE 120 END"
SYMPTOMS = """(SELECT coalesce(s.fatigue, 0) + coalesce(s.tingling, 0) + coalesce(s.balance, 0)
                 + coalesce(s.memory_mood, 0) + coalesce(s.appetite, 0)
          FROM symptom_scores s WHERE s.patient_id = p.id AND s.scored_at >= {bound}
          ORDER BY s.scored_at {order}, s.id {order} LIMIT 1)"""

SQL: dict[str, str] = {
    "today": f"""
SELECT {EVENT_COLUMNS}, e.kind {EVENT_FROM}
WHERE {NEXT_DOSE} AND e.window_end >= :today AND {LIVE}
UNION ALL
SELECT {EVENT_COLUMNS}, e.kind {EVENT_FROM}
WHERE e.status = 'due' AND e.kind IN ('lab', 'review') AND e.due_on <= :today AND e.window_end >= :today
  AND {LIVE}""",
    "overdue": f"""
SELECT {EVENT_COLUMNS} {EVENT_FROM}
WHERE {NEXT_DOSE} AND e.window_end < :today AND {LIVE}
ORDER BY e.due_on, p.family_name, p.given_name, e.id""",
    "tasks": f"""
SELECT {EVENT_COLUMNS}, e.kind {EVENT_FROM}
WHERE e.status = 'due' AND e.kind IN ('lab', 'review') AND e.due_on <= :today AND {LIVE}
ORDER BY e.due_on, p.family_name, p.given_name, e.id""",
    "lapsed": f"""
SELECT * FROM (
  SELECT {EVENT_COLUMNS}, ph.interval_days, t.start_date,
         (SELECT a.given_at FROM administrations a
          WHERE a.patient_id = p.id AND a.outcome = 'given' AND a.status = 'current'
          ORDER BY a.given_at DESC LIMIT 1) AS last_dose
  {EVENT_FROM}
  JOIN plan_phases ph ON ph.id = e.phase_id
  WHERE {NEXT_DOSE} AND {LIVE} AND ph.kind = 'maintenance' AND ph.interval_days IS NOT NULL
    AND t.route != 'oral'
)
WHERE last_dose < datetime(:start_of_day, '-' || (interval_days * 3 / 2) || ' days')
   OR (last_dose IS NULL AND start_date < date(:today, -(interval_days * 3 / 2) || ' days'))
ORDER BY due_on, family_name, given_name, id""",
    "ready_for_maintenance": f"""
SELECT p.id, p.mrn, p.family_name, p.given_name, p.date_of_birth, t.id, ph.seq, ph.dose_count, nx.kind,
       nx.interval_days,
       NOT EXISTS (SELECT 1 FROM scheduled_events e
                   WHERE e.plan_id = t.id AND e.status = 'due' AND e.kind = 'dose'),
       (SELECT max(a.given_at) FROM administrations a
        WHERE a.plan_id = t.id AND a.outcome = 'given' AND a.status = 'current') AS last_given
FROM plan_phases ph
JOIN treatment_plans t ON t.id = ph.plan_id
JOIN patients p ON p.id = t.patient_id
JOIN plan_phases nx ON nx.plan_id = ph.plan_id AND nx.seq = ph.seq + 1
WHERE {LIVE} AND ph.kind = 'induction' AND ph.dose_count IS NOT NULL AND ph.ended_on IS NULL
  AND NOT EXISTS (SELECT 1 FROM plan_phases b WHERE b.plan_id = ph.plan_id AND b.seq < ph.seq
                  AND b.ended_on IS NULL)
  AND NOT EXISTS (SELECT 1 FROM scheduled_events e
                  WHERE e.phase_id = ph.id AND e.status = 'due' AND e.kind = 'dose')
  AND last_given IS NOT NULL
ORDER BY p.family_name, p.given_name, t.id""",
    "awaiting_review": f"""
SELECT * FROM (
  SELECT p.id, p.mrn, p.family_name, p.given_name, p.date_of_birth, t.id AS plan_id, ph.seq,
         (SELECT min(e.due_on) FROM scheduled_events e
          WHERE e.phase_id = ph.id AND e.status = 'due' AND e.kind = 'review') AS review_due,
         (SELECT max(e.due_on) FROM scheduled_events e
          WHERE e.phase_id = ph.id AND e.status IN ('done', 'missed') AND e.kind = 'review') AS last_review
  FROM plan_phases ph
  JOIN treatment_plans t ON t.id = ph.plan_id
  JOIN patients p ON p.id = t.patient_id
  WHERE {LIVE} AND ph.kind = 'induction' AND ph.dose_count IS NULL AND ph.ended_on IS NULL
    AND EXISTS (SELECT 1 FROM plan_phases l WHERE l.plan_id = ph.plan_id AND l.seq > ph.seq)
    AND EXISTS (SELECT 1 FROM scheduled_events e
                WHERE e.phase_id = ph.id AND e.status = 'due' AND e.kind = 'dose')
)
WHERE review_due <= :today
   OR (review_due IS NULL AND (last_review IS NULL OR last_review < :repeat_before))
ORDER BY family_name, given_name, plan_id""",
    "not_responding": f"""
WITH candidates AS MATERIALIZED (
  SELECT p.id, p.mrn, p.family_name, p.given_name, p.date_of_birth, t.id AS plan_id,
         {HB.format(column="value_canonical", op="<=", bound="t.start_date")} AS hb_before,
         {HB_AFTER} AS hb_after,
         {HB.format(column="taken_on", op=">=", bound="date(t.start_date, '56 days')")} AS hb_after_on,
         {NORMAL_LOW} AS hb_normal_low,
         {SYMPTOMS.format(bound="t.start_date", order="")} AS symptoms_first,
         {SYMPTOMS.format(bound="date(t.start_date, '90 days')", order="DESC")} AS symptoms_late
  FROM treatment_plans t JOIN patients p ON p.id = t.patient_id
  WHERE {LIVE}
    AND ({HB_AFTER} < {NORMAL_LOW}
         OR EXISTS (SELECT 1 FROM symptom_scores s
                    WHERE s.patient_id = p.id AND s.scored_at >= date(t.start_date, '90 days')))
)
SELECT * FROM candidates
WHERE (hb_after < hb_normal_low AND hb_before IS NOT NULL AND hb_after - hb_before < 10)
   OR (symptoms_first > 0 AND symptoms_late >= symptoms_first)
ORDER BY family_name, given_name, plan_id""",
}

MONTH_SQL = """
SELECT day, kind, status, count(*) FROM (
  SELECT e.due_on AS day, e.kind AS kind,
         CASE WHEN e.status = 'due' AND e.window_end < :today THEN 'overdue' ELSE e.status END AS status
  FROM scheduled_events e JOIN patients p ON p.id = e.patient_id
  WHERE e.due_on >= :first_day AND e.due_on <= :last_day AND p.archived = 0
    AND (e.status IN ('due', 'missed') OR (e.status = 'done' AND e.kind != 'dose'))
  UNION ALL
  SELECT {given_day} AS day, 'dose' AS kind,
         CASE WHEN a.outcome = 'given' THEN 'done' ELSE 'missed' END AS status
  FROM administrations a JOIN patients p ON p.id = a.patient_id
  WHERE a.given_at >= :first_instant AND a.given_at < :after_instant AND a.status = 'current'
    AND p.archived = 0
)
GROUP BY day, kind, status
ORDER BY day, kind, status"""


@dataclass
class Case:
    name: str
    ours: Callable[[], int]
    bare: Callable[[], int]
    ours_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)


def prepared_copy(source: Path) -> Path:
    """The benchmark database at the current schema: a migrated copy, made once per source file."""
    from b12desk.data import migrate
    from b12desk.data.db import open_database

    target_dir = Path("/tmp/bench") if source.resolve().parent == Path("/tmp/bench") else source.parent
    target = target_dir / f"calendar-{source.stem}-{migrate.SCHEMA_HEAD}.sqlite3"
    if target.exists() and target.stat().st_mtime >= source.resolve().stat().st_mtime:
        return target
    partial = target.with_suffix(".partial")
    print(f"copying {source} to {target} and migrating the copy (once)", flush=True)
    started = time.perf_counter()
    shutil.copy(source, partial)
    db = open_database(f"sqlite:///{partial}")
    result = migrate.upgrade(db, backup_dir=None)
    db.dispose()
    partial.rename(target)
    print(
        f"  {result.from_revision} -> {result.to_revision} in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return target


def sqlite_instant(moment: datetime) -> str:
    """An aware instant as the UTC text SQLAlchemy stores on SQLite."""
    from datetime import UTC

    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, help="the database (default: the cached 20,000-patient demo)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--month", help="the month to show, YYYY-MM (default: the clinic's current month)")
    args = parser.parse_args()
    path = prepared_copy(args.db or big_database())
    sys.path.insert(0, str(ROOT))

    from sqlalchemy import func, select

    from b12desk.data.db import open_database
    from b12desk.data.models import Administration, Patient
    from b12desk.services import auth, clinic, monitoring

    db = open_database(f"sqlite:///{path}")
    with db.sessions.begin() as s:
        actor = auth.authenticate(s, username="admin", password=DEMO_PASSWORD)
        clock = clinic.clinic_clock(s)
        doses = s.scalar(select(func.count()).select_from(Administration)) or 0
        people = s.scalar(select(func.count()).select_from(Patient)) or 0
    today = clock.today()
    first = date.fromisoformat(args.month + "-01") if args.month else today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    rules = monitoring.monitoring_rules()
    assert (rules.lapse_factor.numerator, rules.lapse_factor.denominator) == (3, 2), (
        "the bare SQL says x 3 / 2"
    )
    assert rules.hb_min_rise == 10 and rules.hb_after_days == 56 and rules.symptoms_after_days == 90

    bare_conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    params: dict[str, Any] = {
        "today": today.isoformat(),
        "start_of_day": sqlite_instant(clock.start_of_day(today)),
        "repeat_before": (today - timedelta(days=rules.review_repeat_days)).isoformat(),
    }

    def bare(sql: str, values: dict[str, Any]) -> Callable[[], int]:
        def run() -> int:
            return len(bare_conn.execute(sql, values).fetchall())

        return run

    def ours_worklist(name: Any) -> Callable[[], int]:
        def run() -> int:
            with db.sessions.begin() as s:
                return len(monitoring.worklist(s, actor, name, today=today))

        return run

    # The clinic's offset from UTC through the month, as the service works it out: one arm per stretch.
    first_instant, after_instant = clock.start_of_day(first), clock.start_of_day(last + timedelta(days=1))
    stretches: list[tuple[datetime, int]] = []  # (until, offset in minutes), scanned minute by minute
    cursor = first_instant
    offset = clock.local(cursor).utcoffset() or timedelta(0)
    while cursor < after_instant:
        cursor += timedelta(minutes=1)
        now = clock.local(cursor).utcoffset() or timedelta(0)
        if now != offset:
            stretches.append((cursor, int(offset.total_seconds() // 60)))
            offset = now
    stretches.append((after_instant, int(offset.total_seconds() // 60)))
    if len(stretches) == 1:
        given_day = f"date(a.given_at, '{stretches[0][1]} minutes')"
    else:
        arms = " ".join(
            f"WHEN a.given_at < '{sqlite_instant(until)}' THEN date(a.given_at, '{minutes} minutes')"
            for until, minutes in stretches[:-1]
        )
        given_day = f"CASE {arms} ELSE date(a.given_at, '{stretches[-1][1]} minutes') END"
    month_params = params | {
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "first_instant": sqlite_instant(first_instant),
        "after_instant": sqlite_instant(after_instant),
    }

    def ours_month() -> int:
        with db.sessions.begin() as s:
            return len(monitoring.month_counts(s, actor, first, last, today=today))

    cases = [
        Case(
            f"month view {first:%Y-%m}", ours_month, bare(MONTH_SQL.format(given_day=given_day), month_params)
        )
    ]
    cases += [
        Case(f"worklist: {name.value.replace('_', ' ')}", ours_worklist(name), bare(SQL[name.value], params))
        for name in monitoring.Worklist
    ]

    gc.freeze()
    for case in cases:  # warm the page cache and check both return the same rows
        ours_rows, bare_rows = case.ours(), case.bare()
        if ours_rows != bare_rows:
            raise SystemExit(f"{case.name}: ours returned {ours_rows} rows, the bare SQL {bare_rows}")
        print(f"{case.name}: {ours_rows:,} rows", flush=True)
    for _ in range(args.runs):
        for case in cases:
            started = time.perf_counter()
            case.ours()
            case.ours_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            case.bare()
            case.bare_ms.append((time.perf_counter() - started) * 1000)

    table = Table(
        f"Monitoring calendar, {people:,} patients, {doses:,} administrations, today {today}, "
        f"median of {args.runs} runs (ms)"
    )
    for case in cases:
        ours, base = median(case.ours_ms), median(case.bare_ms)
        table.add(
            case.name,
            ours,
            "ms",
            baseline=("bare SQL", base),
            target=f"< {TARGET_MS:.0f} ms, <= {TARGET_RATIO:.0f}x",
            ok=ours < TARGET_MS and ours <= TARGET_RATIO * base,
            digits=1,
        )
        ours_runs, bare_runs = runs_text(case.ours_ms, "{:.1f}"), runs_text(case.bare_ms, "{:.1f}")
        print(f"  {case.name}: ours {ours_runs}; bare {bare_runs}")
    table.print()


if __name__ == "__main__":
    main()
