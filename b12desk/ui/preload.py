"""Start-up with the credentials given: sign in and read the roster on the database worker at once,
before Qt is imported and while the window is built (argon2 and SQLite run without the GIL).

Free of Qt by design: `python -m b12desk --user NAME` calls `begin_sign_in` as soon as the database is
open, then imports the desktop. The worker is the GUI's one database worker, so these two operations
are queued like any other, in order, and every later one comes after them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.data.db import Database
from b12desk.services import auth, clinic, patients
from b12desk.services.common import Actor
from b12desk.services.patients import RosterRow
from b12desk.ui.worker import worker_for


@dataclass(frozen=True)
class SignInPreload:
    username: str
    signed_in: Future[tuple[Actor, Clock]]  # the signed-in user and the clinic's clock
    roster: Future[list[RosterRow]]  # the roster as that user may read it (fails as the sign-in does)


def sign_in_op(username: str, password: str) -> Callable[[Session], tuple[auth.SignInAttempt, Clock]]:
    """The sign-in attempt, and the clinic's clock every screen of the session counts days by. In a
    writer's transaction, which commits even when the password is wrong: the failure is counted towards
    the lockout and audited. The caller refuses a failed attempt (`SignInAttempt.accepted`)."""

    def op(session: Session) -> tuple[auth.SignInAttempt, Clock]:
        attempt = auth.attempt_sign_in(session, username=username, password=password)
        return attempt, clinic.clinic_clock(session)

    return op


def begin_sign_in(db: Database, username: str, password: str) -> SignInPreload:
    worker = worker_for(db)
    op = sign_in_op(username, password)

    def sign_in() -> tuple[Actor, Clock]:
        with db.sessions.begin() as session:
            attempt, clock = op(session)
        return attempt.accepted(), clock  # raised after the commit, which keeps the failure counted

    signed_in = worker.call(sign_in)

    def roster() -> list[RosterRow]:
        actor, _clock = signed_in.result()  # already settled: the worker runs one job after the other
        with db.readers.begin() as session:
            return patients.roster(session, actor)

    return SignInPreload(username, signed_in, worker.call(roster))
