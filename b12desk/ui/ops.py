"""Every database call of the GUI goes through here (after Anki's CollectionOp and QueryOp).

`run_op(parent, ctx, op, on_success)` runs `op(session, actor)` on the one database worker of that
database, a thread of its own that takes operations one at a time, each in a session and transaction of
its own: a reader's (deferred BEGIN on SQLite, so it never waits behind a writer) unless `write=True`.
The GUI thread never waits: a busy cursor appears after 300 ms, a progress dialog after 600 ms (with a
Cancel button when the op reports progress), and the callbacks run on the GUI thread once the op is done,
unless the window that asked has been closed meanwhile. Refusals are translated once, here: a field
error goes to `on_failure` (a form shows it beside its field), anything else becomes a message: a
conflict as "changed by someone else, reload", a busy database as busy, a refusal in its own words.
After a write, each topic in `changes` is announced on the change bus.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QWidget
from shiboken6 import isValid
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from b12desk.data.db import BUSY_MESSAGE, Database, is_busy, read_only_message
from b12desk.services.common import Actor, Conflict, ServiceError, ValidationFailed
from b12desk.ui.worker import Job, worker_for

T = TypeVar("T")

BUSY_CURSOR_AFTER_MS = 300
PROGRESS_AFTER_MS = 600
CONFLICT_MESSAGE = (
    "This record was changed by someone else since you opened it. Nothing was saved: close it, open it "
    "again to see their change, and make yours again."
)

# Tests set this: run_op then waits (in a local event loop, the GUI still painting) until the op is done,
# so a test reads the result on the next line. The op still runs on the worker thread.
WAIT_FOR_RESULTS = False


class OpCancelled(Exception):
    """The user pressed Cancel; the op's transaction is rolled back."""


class Progress:
    """Handed to an op that reports progress: `report` updates the dialog and stops the op on Cancel."""

    def __init__(self, relay: _Relay) -> None:
        self._relay = relay
        self._cancelled = threading.Event()

    def report(self, done: int, total: int | None = None, text: str = "") -> None:
        if self._cancelled.is_set():
            raise OpCancelled
        self._relay.progressed.emit(done, -1 if total is None else total, text)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


@dataclass(frozen=True)
class OpFailure:
    """A refusal in the words the person at the screen needs, and what kind it is."""

    kind: str  # "invalid" (fields), "conflict", "busy", "refused", "denied", "database", "cancelled"
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    error: BaseException | None = None


def describe_failure(error: BaseException) -> OpFailure | None:
    """The translation of an op's exception; None for a bug (which goes to the excepthook)."""
    from b12desk.services.common import PermissionDenied

    if isinstance(error, OpCancelled):
        return OpFailure("cancelled", "Cancelled: nothing was changed.", error=error)
    if isinstance(error, ValidationFailed):
        return OpFailure("invalid", str(error), dict(error.errors), error)
    if isinstance(error, StaleDataError):
        return OpFailure("conflict", CONFLICT_MESSAGE, error=error)
    if isinstance(error, Conflict):
        return OpFailure("conflict", str(error), error=error)
    if isinstance(error, PermissionDenied):
        return OpFailure("denied", str(error), error=error)
    if isinstance(error, ServiceError):
        return OpFailure("refused", str(error), error=error)
    if read_only := read_only_message(error):  # also an audit trail this computer cannot sign
        return OpFailure("refused", read_only, error=error)
    if isinstance(error, SQLAlchemyError):
        if is_busy(error):
            return OpFailure("busy", BUSY_MESSAGE, error=error)
        detail = getattr(error, "orig", None) or error
        return OpFailure(
            "database",
            f"The database could not complete the action; nothing was saved. ({detail})",
            error=error,
        )
    return None


def show_failure(parent: QWidget, failure: OpFailure, title: str = "b12desk") -> QMessageBox | None:
    """The standard way to say a failure that no field claims."""
    from b12desk.ui.widgets import show_message

    if failure.kind == "cancelled" or not isValid(parent):
        return None
    return show_message(parent, title, failure.message)


# --- the worker ------------------------------------------------------------------------------------------


class _Relay(QObject):
    """Lives on the GUI thread: the worker's signals reach it queued, in the GUI thread."""

    finished = Signal(object)
    failed = Signal(object)
    progressed = Signal(int, int, str)


_live: set[_Relay] = set()  # keeps each relay alive until its job has reported back


def run_db(
    parent: QWidget | None,
    db: Database,
    fn: Callable[[Session], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[OpFailure], None] | None = None,
    *,
    write: bool = False,
    progress: bool | str = False,
    quiet: bool = False,
    title: str = "b12desk",
) -> None:
    """The core of run_op, for the one caller with no signed-in user yet (the sign-in itself)."""
    _run(
        parent,
        db,
        lambda session, _reporter: fn(session),
        on_success,
        on_failure,
        write=write,
        label=progress,
        quiet=quiet,
        title=title,
        reports=False,
    )


def _run(
    parent: QWidget | None,
    db: Database,
    body: Callable[[Session, Progress], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[OpFailure], None] | None,
    *,
    write: bool,
    label: bool | str,
    quiet: bool,
    title: str,
    reports: bool,
) -> None:
    relay = _Relay()  # no parent: it outlives a window closed while the op runs
    _live.add(relay)
    worker = worker_for(db)
    reporter = Progress(relay)
    makers = db.sessions if write else db.readers

    def run() -> T:
        with makers.begin() as session:
            return body(session, reporter)

    def deliver(ok: bool, value: Any) -> None:  # on the worker thread: queued on to the GUI thread
        (relay.finished if ok else relay.failed).emit(value)

    state: dict[str, Any] = {"done": False, "cursor": False, "dialog": None}

    def show_busy() -> None:
        if not state["done"] and not quiet:
            state["cursor"] = True
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)

    def show_progress() -> None:
        if state["done"] or quiet or parent is None or not isValid(parent):
            return
        text = label if isinstance(label, str) else "Working…"
        dialog = QProgressDialog(text, "Cancel" if reports else "", 0, 0, parent)
        if reports:
            dialog.canceled.connect(reporter.cancel)
        else:
            dialog.setCancelButton(None)  # nothing to stop safely half-way: it finishes by itself
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.show()
        state["dialog"] = dialog

    def progressed(done: int, total: int, text: str) -> None:
        dialog = state["dialog"]
        if dialog is None or not isValid(dialog):
            return
        if total >= 0:
            dialog.setRange(0, max(total, 1))
            dialog.setValue(min(done, max(total, 1)))
        if text:
            dialog.setLabelText(text)

    def finish() -> bool:
        state["done"] = True
        if state["cursor"]:
            QApplication.restoreOverrideCursor()
        dialog = state["dialog"]
        if dialog is not None and isValid(dialog):
            dialog.close()
            dialog.deleteLater()
        _live.discard(relay)
        relay.deleteLater()
        worker.settled()
        return parent is None or isValid(parent)  # the window that asked may have closed meanwhile

    def finished(result: T) -> None:
        if finish():
            on_success(result)

    def failed(error: BaseException) -> None:
        alive = finish()
        failure = describe_failure(error)
        if failure is None:
            report_unexpected(error)
            return
        if not alive:
            return
        if on_failure is not None:
            on_failure(failure)
        elif parent is not None:
            show_failure(parent, failure, title)

    relay.progressed.connect(progressed)
    QTimer.singleShot(BUSY_CURSOR_AFTER_MS, relay, show_busy)
    QTimer.singleShot(PROGRESS_AFTER_MS, relay, show_progress)
    if not WAIT_FOR_RESULTS:
        relay.finished.connect(finished)
        relay.failed.connect(failed)
        worker.submit(Job(run, deliver))
        return
    # Tests: wait here for the worker (the GUI keeps painting), then call back from this frame, as a
    # synchronous call would, so that what the callbacks post (a dialog's deleteLater) runs afterwards.
    outcome: list[tuple[bool, Any]] = []
    relay.finished.connect(lambda result: outcome.append((True, result)))
    relay.failed.connect(lambda error: outcome.append((False, error)))
    worker.submit(Job(run, deliver))
    app = QCoreApplication.instance()
    assert app is not None
    flags = QEventLoop.ProcessEventsFlag.AllEvents | QEventLoop.ProcessEventsFlag.WaitForMoreEvents
    while not outcome:
        app.processEvents(flags, 50)
    ok, value = outcome[0]
    (finished if ok else failed)(value)


def run_op(
    parent: QWidget | None,
    ctx: Any,  # AppContext (typed loosely: context imports this module)
    op: Callable[[Session, Actor], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[OpFailure], None] | None = None,
    *,
    write: bool = False,
    changes: Sequence[str] = (),
    progress: bool | str = False,
    quiet: bool = False,
    title: str = "b12desk",
) -> None:
    """Run `op(session, actor)` on the database worker; `on_success(result)` on the GUI thread after.

    write: the op writes (a writer's transaction); changes: the change-bus topics to announce after it.
    progress: a string labels the progress dialog shown after 600 ms. quiet: no busy cursor and no
    dialog (a tab filling itself in shows its own "loading" state).
    """
    actor = ctx.actor
    _run(
        parent,
        ctx.db,
        lambda session, _reporter: op(session, actor),
        _announcing(ctx, changes, on_success),
        on_failure,
        write=write,
        label=progress,
        quiet=quiet,
        title=title,
        reports=False,
    )


def run_op_with_progress(
    parent: QWidget | None,
    ctx: Any,
    op: Callable[[Session, Actor, Progress], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[OpFailure], None] | None = None,
    *,
    label: str,
    write: bool = False,
    changes: Sequence[str] = (),
) -> None:
    """As run_op, for a long op that reports progress: its dialog has Cancel, which stops the op at its
    next report and rolls its transaction back."""
    actor = ctx.actor
    _run(
        parent,
        ctx.db,
        lambda session, reporter: op(session, actor, reporter),
        _announcing(ctx, changes, on_success),
        on_failure,
        write=write,
        label=label,
        quiet=False,
        title="b12desk",
        reports=True,
    )


def on_future(
    parent: QWidget | None,
    future: Future[T],
    on_success: Callable[[T], None],
    on_failure: Callable[[OpFailure], None] | None = None,
    *,
    title: str = "b12desk",
) -> None:
    """The result of an operation already queued on the worker (ui.preload), delivered as run_op's are:
    on the GUI thread, after the current event, translated if it failed, dropped if `parent` closed."""
    relay = _Relay()
    _live.add(relay)

    def alive() -> bool:
        _live.discard(relay)
        relay.deleteLater()
        return parent is None or isValid(parent)

    def finished(result: T) -> None:
        if alive():
            on_success(result)

    def failed(error: BaseException) -> None:
        failure = describe_failure(error)
        if failure is None:
            alive()
            report_unexpected(error)
        elif alive():
            if on_failure is not None:
                on_failure(failure)
            elif parent is not None:
                show_failure(parent, failure, title)

    queued = Qt.ConnectionType.QueuedConnection  # never inside the caller's frame, even if already done
    relay.finished.connect(finished, queued)
    relay.failed.connect(failed, queued)

    def done(f: Future[T]) -> None:
        error = f.exception()
        if error is None:
            relay.finished.emit(f.result())
        else:
            relay.failed.emit(error)

    future.add_done_callback(done)


def _announcing(ctx: Any, changes: Sequence[str], on_success: Callable[[T], None]) -> Callable[[T], None]:
    def success(result: T) -> None:
        for topic in changes:
            ctx.bus.notify(topic)
        on_success(result)

    return success


def report_unexpected(exc: BaseException) -> None:
    """A bug, not a refusal: let the installed excepthook print (and, in tests, fail) as for GUI code."""
    sys.excepthook(type(exc), exc, exc.__traceback__)
