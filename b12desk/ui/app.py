"""Start the desktop app: sign in (the dialog, or the credentials given), then the main window."""

from __future__ import annotations

import os
import sys
import time
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from b12desk.clock import Clock
from b12desk.services.common import Actor
from b12desk.services.startup import OpenedDatabase
from b12desk.ui import style
from b12desk.ui.context import AppContext, DataBus
from b12desk.ui.login import LoginDialog, sign_in_op
from b12desk.ui.main_window import MainWindow
from b12desk.ui.ops import OpFailure, run_db, stop_all_workers

T0_ENV = "B12DESK_T0"
_IMPORTED_AT = time.time()


def _started_at() -> float:
    """Process start as time.time(): B12DESK_T0 when the launcher set it, else when this module loaded."""
    try:
        return float(os.environ[T0_ENV])
    except (KeyError, ValueError):
        return _IMPORTED_AT


def peak_memory_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _install_excepthook(app: QApplication) -> None:
    """A bug in a slot shows a message instead of vanishing; the open transaction has rolled back."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        traceback.print_exception(kind, exc, tb)
        window = app.activeWindow()
        if window is not None and not isinstance(exc, KeyboardInterrupt):
            QMessageBox.critical(
                window,
                "Unexpected error",
                f"The action was not completed and nothing was saved.\n\n{kind.__name__}: {exc}",
            )
        elif isinstance(exc, KeyboardInterrupt):
            previous(kind, exc, tb)

    sys.excepthook = hook


def run_gui(
    opened: OpenedDatabase,
    *,
    username: str | None,
    password: str | None,
    exit_after_shown: bool = False,
) -> int:
    """Show the app until the user quits; returns the exit code.

    With `exit_after_shown`, print `ROSTER_SHOWN <seconds since process start> rows=<n> maxrss_mb=<m>`
    once the roster has been painted with every patient loaded, then quit (the start-up benchmark).
    """
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(["b12desk"])
        _install_excepthook(app)
    app.setApplicationName("b12desk")
    app.setOrganizationName("b12desk")
    style.apply(app)

    actor: Actor | None = None
    clock: Clock | None = None
    error = ""
    if username and password is not None:
        # Signed in from the command line: on the database worker like any other call, waiting here
        # (no window is up yet) in a local event loop.
        outcome: dict[str, Any] = {}
        waiting = QEventLoop()

        def done(result: tuple[Actor, Clock]) -> None:
            outcome["result"] = result
            waiting.quit()

        def refused(failure: OpFailure) -> None:
            outcome["error"] = failure.message
            waiting.quit()

        run_db(None, opened.db, sign_in_op(username, password), done, refused, write=True, quiet=True)
        if not outcome:
            waiting.exec()
        if "result" in outcome:
            actor, clock = outcome["result"]
        else:
            error = str(outcome.get("error", ""))
    if actor is None:
        if exit_after_shown:
            print(f"b12desk: cannot sign in: {error or 'no user name and password given'}", file=sys.stderr)
            return 1
        login = LoginDialog(opened.db, demo=opened.demo, username=username or "", error=error)
        if login.exec() != QDialog.DialogCode.Accepted or login.actor is None or login.clock is None:
            return 0
        actor, clock = login.actor, login.clock

    assert clock is not None
    ctx = AppContext(db=opened.db, actor=actor, demo=opened.demo, bus=DataBus(), clock=clock)
    window = MainWindow(ctx)
    window.load()
    if exit_after_shown:

        def report() -> None:
            elapsed = time.time() - _started_at()
            rss = peak_memory_mb()
            memory = f" maxrss_mb={rss:.1f}" if rss is not None else ""
            print(f"ROSTER_SHOWN {elapsed:.3f} rows={window.roster.model.total_count()}{memory}", flush=True)
            window.close()
            # Quit from inside the event loop: a quit asked for before app.exec() starts (the roster
            # can paint while it loads) would leave the loop running, or stop a later one at once.
            QTimer.singleShot(0, app.quit)

        window.roster.first_painted.connect(report)
        QTimer.singleShot(30_000, app.quit)  # never hang a benchmark run
    window.show()
    code = app.exec()
    window.deleteLater()
    stop_all_workers()
    return code


def show_startup_error(message: str) -> int:
    """The database could not be opened: say why in a window too, since a desktop icon has no terminal."""
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("b12desk")
    box = QMessageBox(QMessageBox.Icon.Critical, "b12desk cannot start", message)
    box.exec()
    return 1
