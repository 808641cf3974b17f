"""The operation helper: the GUI thread never runs SQL or waits; busy cursor, progress with Cancel, one
translation of refusals, readers that never wait behind a writer, and the test guard itself."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QProgressDialog, QPushButton, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from b12desk.data.db import BUSY_MESSAGE, Database, sqlite_path
from b12desk.data.models import Patient
from b12desk.services.common import Actor, Conflict, ValidationFailed
from b12desk.ui import ops, worker
from b12desk.ui.context import PATIENTS
from tests.conftest import Staffing
from tests.ui.conftest import UI_PACKAGE, GuiThreadSqlGuard, MakeContext


@pytest.fixture
def asynchronous() -> Iterator[None]:
    """run_op as the app has it: it returns at once, and the result comes back later."""
    ops.WAIT_FOR_RESULTS = False
    yield
    ops.WAIT_FOR_RESULTS = True


def test_run_op_returns_at_once_and_calls_back_on_the_gui_thread(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, asynchronous: None
) -> None:
    ctx = make_ctx(staff.nurse)
    seen: list[tuple[str, bool]] = []

    def op(session: Session, actor: Actor) -> int:
        seen.append(("op", threading.current_thread() is threading.main_thread()))
        time.sleep(0.2)
        return int(session.scalar(select(func.count()).select_from(Patient)) or 0)

    def done(count: int) -> None:
        seen.append(("done", threading.current_thread() is threading.main_thread()))

    ops.run_op(host, ctx, op, done)
    assert ("done", True) not in seen  # run_op returned before the op had finished and called back
    assert not worker.worker_for(ctx.db).idle()
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert seen == [("op", False), ("done", True)]
    assert worker.worker_for(ctx.db).idle()


def test_a_slow_op_shows_a_busy_cursor_then_a_progress_dialog_with_cancel(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget, asynchronous: None
) -> None:
    ctx = make_ctx(staff.manager)
    host.show()
    outcome: list[str] = []

    def op(session: Session, actor: Actor, progress: ops.Progress) -> str:
        session.execute(text("UPDATE patients SET notes = 'touched'"))  # a write to be rolled back
        for step in range(100):
            progress.report(step, 100, f"Step {step}")
            time.sleep(0.02)
        return "finished"

    ops.run_op_with_progress(
        host, ctx, op, outcome.append, lambda f: outcome.append(f.kind), label="Working", write=True
    )
    qtbot.waitUntil(lambda: QApplication.overrideCursor() is not None, timeout=2000)
    assert QApplication.overrideCursor().shape() == Qt.CursorShape.WaitCursor
    qtbot.waitUntil(lambda: host.findChild(QProgressDialog) is not None, timeout=3000)
    dialog = host.findChild(QProgressDialog)
    assert dialog is not None and dialog.isVisible()
    cancel = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Cancel")
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(outcome), timeout=5000)
    assert outcome == ["cancelled"]
    assert QApplication.overrideCursor() is None
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Patient).where(Patient.notes == "touched")) == 0


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (ValidationFailed({"mrn": "Enter the MRN."}), "invalid", "Enter the MRN."),
        (StaleDataError("version mismatch"), "conflict", "changed by someone else"),
        (Conflict("The plan changed since you opened it."), "conflict", "changed since you opened"),
        (
            OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked")),
            "busy",
            BUSY_MESSAGE,
        ),
    ],
)
def test_refusals_are_translated_once(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    error: Exception,
    kind: str,
    words: str,
) -> None:
    def op(session: Session, actor: Actor) -> None:
        raise error

    failures: list[ops.OpFailure] = []
    ops.run_op(host, make_ctx(staff.nurse), op, lambda _r: None, failures.append)
    assert [f.kind for f in failures] == [kind]
    assert words in failures[0].message
    if kind == "invalid":
        assert failures[0].fields == {"mrn": "Enter the MRN."}


def test_changes_are_announced_after_a_write(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    ctx = make_ctx(staff.nurse)
    with qtbot.waitSignal(ctx.bus.changed) as changed:
        ops.run_op(host, ctx, lambda s, a: None, lambda _r: None, write=True, changes=(PATIENTS,))
    assert changed.args == [PATIENTS]


def test_a_reader_does_not_wait_behind_a_writer(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    """Another process holds the write lock (an import, say): the roster still reads, at once."""
    ctx = make_ctx(staff.nurse)
    path = sqlite_path(db.url)
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE staff SET full_name = full_name")
    try:
        counts: list[int] = []
        ops.run_op(
            host,
            ctx,
            lambda s, a: int(s.scalar(select(func.count()).select_from(Patient)) or 0),
            counts.append,
        )
        # Read while the other still holds the lock (a waiting reader would fail after the busy timeout).
        assert counts == [0]
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_no_callback_for_a_window_closed_while_its_op_ran(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, asynchronous: None
) -> None:
    window = QWidget()
    called: list[object] = []

    def op(session: Session, actor: Actor) -> int:
        time.sleep(0.2)
        return 1

    ops.run_op(window, make_ctx(staff.nurse), op, called.append)
    window.deleteLater()
    qtbot.waitUntil(lambda: worker.worker_for(make_ctx(staff.nurse).db).idle(), timeout=5000)
    assert called == []


@pytest.mark.sql_on_gui_thread_on_purpose
def test_the_guard_catches_sql_run_from_gui_code_on_the_gui_thread(
    db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    """Code of b12desk/ui/ that queried on the GUI thread is reported; the same query through run_op,
    or from the test's own set-up, is not."""
    source = "def read(db):\n    with db.readers() as s:\n        return s.scalar(text('SELECT 1'))\n"
    namespace: dict[str, Any] = {"text": text}
    exec(compile(source, UI_PACKAGE + "pretend_widget.py", "exec"), namespace)  # a widget's code
    with GuiThreadSqlGuard() as guard:
        with db.readers() as s:  # the test's own set-up
            s.scalar(text("SELECT 1"))
        ops.run_op(host, make_ctx(staff.nurse), lambda s, a: s.scalar(text("SELECT 1")), lambda _r: None)
        assert guard.violations == []
        namespace["read"](db)
    assert guard.violations and all("pretend_widget.py" in v for v in guard.violations)


def test_a_preloaded_sign_in_and_roster_arrive_after_the_current_event_and_a_refusal_is_translated(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    """ui.preload queues the sign-in and the roster on the worker before Qt is up; on_future hands
    them over like run_op does: on the GUI thread, never inside the caller's frame."""
    from b12desk.ui.preload import begin_sign_in
    from tests.conftest import PASSWORD

    db = make_ctx(staff.nurse).db
    good = begin_sign_in(db, "nurse", PASSWORD)
    actor, _clock = good.signed_in.result(timeout=10)
    assert actor.id == staff.nurse.id
    good.roster.result(timeout=10)  # done already: the handing over must still wait for the loop
    rows: list[int] = []
    ops.on_future(host, good.roster, lambda result: rows.append(len(result)))
    assert rows == []
    qtbot.waitUntil(lambda: len(rows) == 1, timeout=5000)

    bad = begin_sign_in(db, "nurse", "not the password")
    refusals: list[ops.OpFailure] = []
    ops.on_future(host, bad.roster, rows.append, refusals.append)
    qtbot.waitUntil(lambda: len(refusals) == 1, timeout=5000)
    assert refusals[0].kind == "denied" and "wrong password" in refusals[0].message
    assert len(rows) == 1  # no rows for a failed sign-in
    qtbot.waitUntil(lambda: worker.worker_for(db).idle(), timeout=5000)
