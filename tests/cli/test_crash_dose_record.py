"""Power cut while a dose is saved: `b12desk dose record` and a process recording doses in a loop are
killed (SIGKILL: nothing runs after it) at random moments, more than fifty times. Afterwards the database
check passes, every dose that was saved has its stock movement and its audit event, nothing refers to a
dose that was not saved, and the stock on hand is exactly what the saved doses left.

The moments are drawn from a seeded generator, so a failure names the seed that reproduces it. Nothing
here depends on how fast the machine is: the delays are scaled by a run time measured first.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from b12desk.clock import Clock
from b12desk.data.db import Database
from b12desk.data.models import Administration, AuditEvent, Lot, Patient, StockMovement, Vial
from b12desk.domain.enums import AdministrationOutcome, Container, MovementKind, Preservative, Role
from b12desk.services import auth, clinic, plans
from b12desk.services import inventory as inv
from tests.conftest import PASSWORD, Staffing
from tests.services.dose_world import _patient, _product, _verified_plan

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("B12DESK_CRASH_SEED", "20261202"))
CLI_KILLS = 16  # `b12desk dose record` processes killed
LOOP_KILLS = 36  # processes recording doses one after another, killed
LOOP_DOSES = 4  # doses each loop process is given to record
REPO = Path(__file__).resolve().parents[2]

# Records doses through the service, one action (one transaction) at a time, as the desktop app does.
# Loading Python, SQLAlchemy and b12desk takes a second or two, so one process loads them (and compiles
# a dose's statements once) and forks a worker for each batch: the worker is what gets killed. Workers
# say on stdout where they are, so the test knows what the kill interrupted.
LOOP_SCRIPT = """
import json, os, sys
from decimal import Decimal
from b12desk.data.db import open_database
from b12desk.domain.enums import InjectionSite, Role
from b12desk.services import administrations as adm
from b12desk.services.common import Actor

url, nurse_id, warm = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
db = open_database(url)
nurse = Actor(id=nurse_id, username="nurse", full_name="Nurse", role=Role.NURSE)

def request(patient_id, plan_id, product_id, lot_id, vial_id):
    return adm.DoseRequest(
        patient_id=patient_id, plan_id=plan_id, dose_mcg=Decimal(1000),
        site=InjectionSite.VENTROGLUTEAL_RIGHT, product_id=product_id, lot_id=lot_id, vial_id=vial_id,
    )

def say(text):  # one write each, so the loader's lines and its worker's never interleave
    os.write(1, text.encode() + b"\\n")

with db.readers() as s:
    adm.check_dose(s, nurse, request(*warm))
db.engine.dispose()
say("ready")
for line in sys.stdin:
    jobs = json.loads(line)
    hold, release = os.pipe()
    pid = os.fork()
    if pid:
        say(f"worker {pid}")  # before the worker says anything
        os.write(release, b"x")
        os.close(hold), os.close(release)
        _, status = os.waitpid(pid, 0)
        say(f"end {status}")
        continue
    os.read(hold, 1)
    db.engine.dispose(close=False)  # the worker's own connections, never the parent's
    for job in jobs:
        say(f"begin {job[0]}")
        with db.sessions.begin() as s:
            row = adm.record_dose(s, nurse, request(*job))
        say(f"commit {job[0]} {row.id}")
    say("done")
    os._exit(0)
"""


@dataclass(frozen=True)
class Job:
    """One dose to record: a patient on a verified plan, and the stock to draw it from."""

    mrn: str
    patient_id: int
    plan_id: int
    product_id: int
    lot_id: int | None
    lot_number: str | None
    vial_id: int | None

    def loop_args(self) -> list[int | None]:
        return [self.patient_id, self.plan_id, self.product_id, self.lot_id, self.vial_id]

    def cli_args(self) -> list[str]:
        stock = ["--lot", str(self.lot_number)] if self.vial_id is None else ["--vial", str(self.vial_id)]
        return ["--patient", self.mrn, "--product", str(self.product_id), *stock]


@dataclass(frozen=True)
class Stock:
    lot_id: int
    lot_quantity: int
    vial_ml: dict[int, Decimal]


def _clinic(db: Database, staff: Staffing, patients: int) -> tuple[list[Job], Stock]:
    """Stock and `patients` patients on verified plans, each to have one dose today."""
    with db.sessions.begin() as s:
        plans.ensure_shipped_templates(s)
        templates = {t.code: t for t in plans.list_templates(s, staff.admin)}
        clock: Clock = clinic.clinic_clock(s)  # the CLI records doses at the real time
        today = clock.today()
        # A pharmacist whose signature is cheap to check: a plan per patient needs one, and the hash of
        # the shared test accounts costs a tenth of a second or more each time.
        light = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(auth, "_hasher", light)
            signer = auth.create_user(
                s, staff.admin, username="rx", full_name="Rx Signer", role=Role.PHARMACIST, password=PASSWORD
            )
            signing = replace(staff, pharmacist2=signer)
            ampoule = _product(s, staff.pharmacist, preservatives=frozenset())
            lot = inv.receive_stock(
                s,
                staff.nurse,
                product_id=ampoule,
                lot_number="K1",
                expiry=today + timedelta(days=365),
                quantity=patients,
                clock=clock,
            )
            vial_product = _product(
                s,
                staff.pharmacist,
                manufacturer="Actavis",
                brand="",
                container=Container.MULTI_DOSE_VIAL,
                volume_ml=Decimal(30),
                preservatives=frozenset({Preservative.METHYLPARABEN}),
            )
            vial_lot = inv.receive_stock(
                s,
                staff.nurse,
                product_id=vial_product,
                lot_number="V1",
                expiry=today + timedelta(days=365),
                quantity=10,
                clock=clock,
            )
            vials = [inv.open_vial(s, staff.nurse, lot_id=vial_lot.id, clock=clock).id for _ in range(4)]
            jobs = []
            for n in range(patients):
                mrn = f"K{n:04d}"
                patient_id = _patient(s, staff.nurse, mrn=mrn)
                plan = _verified_plan(s, signing, templates, patient_id, start=today, clock=clock)
                if n % 3 == 2:  # every third dose from an open vial, the others from ampoules
                    job = Job(mrn, patient_id, plan.id, vial_product, None, None, vials[n % len(vials)])
                else:
                    job = Job(mrn, patient_id, plan.id, ampoule, lot.id, "K1", None)
                jobs.append(job)
    return jobs, Stock(lot.id, patients, {v: Decimal(30) for v in vials})


def _dosed(db: Database, patient_ids: Sequence[int]) -> set[int]:
    """The patients among these who have a saved dose."""
    with db.readers() as s:
        return set(
            s.scalars(select(Administration.patient_id).where(Administration.patient_id.in_(patient_ids)))
        )


def _cli(job: Job, url: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "b12desk", "dose", "record", *job.cli_args(), "--dose", "1 mg"]
    argv += ["--site", "ventrogluteal_left", "--db", url, "--user", "nurse"]
    env = os.environ | {"B12DESK_PASSWORD": PASSWORD}
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_killed_dose_recording_leaves_every_saved_dose_whole(
    fresh_db: tuple[Database, Staffing], tmp_path: Path
) -> None:
    db, staff = fresh_db
    url = db.url
    rng = random.Random(SEED)
    print(f"\ncrash test seed {SEED} (set B12DESK_CRASH_SEED to repeat another)")
    patients = 3 + CLI_KILLS * 2 + (LOOP_KILLS + 2) * LOOP_DOSES
    jobs, stock = _clinic(db, staff, patients)
    queue = iter(jobs)
    spare: list[Job] = []  # patients handed to a worker killed before it began their dose

    def take() -> Job:
        job = spare.pop() if spare else next(queue, None)
        assert job is not None, "more processes finished before their kill than planned: raise `patients`"
        return job

    tally: Counter[str] = Counter()
    confirmed: set[int] = set()  # patients whose dose a process said it saved
    begun: set[int] = set()  # patients whose dose some process began (the CLI's: all it ran for)

    # --- the real command line -------------------------------------------------------------------------
    durations = []
    for _ in range(3):  # complete runs first: the typical run time scales the kill delays
        job = take()
        begun.add(job.patient_id)
        started = time.monotonic()
        proc = _cli(job, url)
        out, err = proc.communicate()
        durations.append(time.monotonic() - started)
        assert proc.returncode == 0, err.decode()
        assert out.startswith(b"Recorded dose "), out
        confirmed.add(job.patient_id)
    typical = statistics.median(durations)
    cli_kills = 0
    while cli_kills < CLI_KILLS:
        job = take()
        begun.add(job.patient_id)
        proc = _cli(job, url)
        time.sleep(rng.uniform(0, typical))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            cli_kills += 1
        out, err = proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            saved = job.patient_id in _dosed(db, [job.patient_id])
            tally["cli: killed, dose saved before the kill" if saved else "cli: killed, nothing saved"] += 1
            if saved:
                confirmed.add(job.patient_id)
        else:
            assert proc.returncode == 0, err.decode()
            tally["cli: finished before the kill"] += 1
            confirmed.add(job.patient_id)

    # --- the service in a loop -------------------------------------------------------------------------
    script = tmp_path / "dose_loop.py"
    script.write_text(LOOP_SCRIPT, encoding="utf-8")
    first = take()
    argv = [sys.executable, str(script), url, str(staff.nurse.id), json.dumps(first.loop_args())]
    # Unbuffered: each line is read as the worker writes it, and none is left in a buffer at a kill.
    pipe = subprocess.PIPE
    env = os.environ | {"PYTHONPATH": str(REPO)}  # this source tree, as `python -m b12desk` runs it
    loader = subprocess.Popen(argv, cwd=REPO, env=env, bufsize=0, stdin=pipe, stdout=pipe, stderr=pipe)
    assert loader.stdin is not None and loader.stdout is not None
    to_loader, from_loader = loader.stdin, loader.stdout

    def said() -> list[str]:
        line = from_loader.readline().decode()
        assert line, f"the dose loop stopped: {loader.communicate()[1].decode()}"
        return line.split()

    assert said() == ["ready"]

    def worker(batch: list[Job]) -> int:
        to_loader.write(json.dumps([j.loop_args() for j in batch]).encode() + b"\n")
        words = said()
        assert words[0] == "worker", words
        return int(words[1])

    def outcome() -> tuple[list[list[str]], int]:
        """What the worker said, up to its end, and how it ended."""
        lines = []
        while (words := said())[0] != "end":
            lines.append(words)
        return lines, int(words[1])

    # One complete run first: how long one dose takes.
    batch = [take() for _ in range(LOOP_DOSES)]
    started = time.monotonic()
    worker(batch)
    lines, status = outcome()
    per_dose = (time.monotonic() - started) / LOOP_DOSES
    assert status == 0 and lines[-1] == ["done"], lines
    confirmed.update(j.patient_id for j in batch)
    begun.update(j.patient_id for j in batch)
    loop_kills = 0
    while loop_kills < LOOP_KILLS:
        batch = [take() for _ in range(LOOP_DOSES)]
        pid = worker(batch)
        time.sleep(rng.uniform(0, LOOP_DOSES * per_dose))
        with contextlib.suppress(ProcessLookupError):  # gone already, the loader not yet told
            os.kill(pid, signal.SIGKILL)
        lines, status = outcome()
        confirmed |= {int(w[1]) for w in lines if w[0] == "commit"}
        begun |= {int(w[1]) for w in lines if w[0] == "begin"}
        spare.extend(j for j in batch if j.patient_id not in begun)
        last = lines[-1] if lines else ["started"]
        if not os.WIFSIGNALED(status):
            assert status == 0 and last == ["done"], lines
            tally["loop: finished before the kill"] += 1
            continue
        loop_kills += 1
        tally["loop: doses saved by workers that were then killed"] += sum(w[0] == "commit" for w in lines)
        if last[0] == "done":
            tally["loop: killed on its way out, every dose saved"] += 1
        elif last[0] != "begin":
            tally["loop: killed between two doses"] += 1
        elif int(last[1]) in _dosed(db, [int(last[1])]):
            tally["loop: killed mid-dose, after its commit"] += 1  # saved; the worker could not say so
            confirmed.add(int(last[1]))
        else:
            tally["loop: killed mid-dose, rolled back"] += 1
    _, err = loader.communicate()  # its input ends: the loader stops
    assert loader.returncode == 0, err.decode()

    print(
        f"{cli_kills + loop_kills} kills (cli run time ~{typical:.2f} s, ~{per_dose * 1000:.0f} ms a dose):"
    )
    for what, n in sorted(tally.items()):
        print(f"  {n:3d}  {what}")
    assert cli_kills + loop_kills >= 50

    # --- afterwards ------------------------------------------------------------------------------------
    check = subprocess.run(
        [sys.executable, "-m", "b12desk", "db", "check", "--db", url],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("OK:"), check.stdout
    never_started = {j.patient_id for j in jobs} - begun
    _every_saved_dose_is_whole(db, jobs, confirmed, never_started, stock)


def _every_saved_dose_is_whole(
    db: Database, jobs: list[Job], confirmed: set[int], never_started: set[int], stock: Stock
) -> None:
    with db.readers() as s:
        doses = {a.id: a for a in s.scalars(select(Administration))}
        patients = set(s.scalars(select(Patient.id)))
        moves = list(s.scalars(select(StockMovement).where(StockMovement.administration_id.is_not(None))))
        audit = list(s.scalars(select(AuditEvent).where(AuditEvent.entity.in_(["administration", "lot"]))))
        lot_quantity = s.scalar(select(Lot.quantity_on_hand).where(Lot.id == stock.lot_id))
        vial_ml = dict(s.execute(select(Vial.id, Vial.remaining_ml).where(Vial.id.in_(stock.vial_ml))).all())
    dosed = {a.patient_id for a in doses.values()}
    assert confirmed <= dosed, "a dose a process reported saved is missing"
    assert not never_started & dosed, "a dose no process began is in the database"
    assert all(a.patient_id in patients for a in doses.values())
    assert len(dosed) == len(doses), "a patient has two doses: one was saved twice"
    assert all(a.outcome == AdministrationOutcome.GIVEN and not a.external for a in doses.values())

    drawn = Counter(m.administration_id for m in moves if m.kind == MovementKind.DOSE_DRAWN)
    created = Counter(
        int(e.entity_id) for e in audit if e.entity == "administration" and e.action == "create"
    )
    lot_events = Counter(
        json.loads(e.new_values).get("administration")
        for e in audit
        if e.entity == "lot" and e.action == MovementKind.DOSE_DRAWN.value
    )
    for dose_id in doses:
        assert drawn[dose_id] == 1, f"dose {dose_id} has {drawn[dose_id]} stock movements"
        assert created[dose_id] == 1, f"dose {dose_id} has {created[dose_id]} creation audit events"
        assert lot_events[dose_id] == 1, f"dose {dose_id}'s draw has {lot_events[dose_id]} audit events"
    orphans = (set(drawn) | set(created) | set(lot_events)) - set(doses)
    assert not orphans, f"stock movements or audit events refer to doses that do not exist: {orphans}"

    # The stock is exactly what the saved doses left: nothing drawn twice, nothing drawn for nothing.
    by_patient = {j.patient_id: j for j in jobs}
    from_lot = sum(1 for a in doses.values() if by_patient[a.patient_id].vial_id is None)
    assert lot_quantity == stock.lot_quantity - from_lot
    for vial_id, start in stock.vial_ml.items():
        used = sum(1 for a in doses.values() if by_patient[a.patient_id].vial_id == vial_id)
        assert Decimal(str(vial_ml[vial_id])) == start - used, f"vial {vial_id}"
