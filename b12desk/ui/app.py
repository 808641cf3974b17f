"""Start the desktop app: sign in (the dialog, or the credentials given), then the main window."""

from __future__ import annotations

import os
import sys
import time
import traceback
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from b12desk.services import clinic
from b12desk.services.common import Actor, ServiceError
from b12desk.services.startup import OpenedDatabase
from b12desk.ui import style
from b12desk.ui.context import AppContext, DataBus
from b12desk.ui.login import LoginDialog, sign_in
from b12desk.ui.main_window import MainWindow

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
    error = ""
    if username and password is not None:
        try:
            actor = sign_in(opened.db, username, password)
        except ServiceError as exc:
            error = str(exc)
    if actor is None:
        if exit_after_shown:
            print(f"b12desk: cannot sign in: {error or 'no user name and password given'}", file=sys.stderr)
            return 1
        login = LoginDialog(opened.db, demo=opened.demo, username=username or "", error=error)
        if login.exec() != QDialog.DialogCode.Accepted or login.actor is None:
            return 0
        actor = login.actor

    with opened.db.sessions() as s:
        clock = clinic.clinic_clock(s)
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
            app.quit()

        window.roster.first_painted.connect(report)
        QTimer.singleShot(30_000, app.quit)  # never hang a benchmark run
    window.show()
    code = app.exec()
    window.deleteLater()
    return code


def show_startup_error(message: str) -> int:
    """The database could not be opened: say why in a window too, since a desktop icon has no terminal."""
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("b12desk")
    box = QMessageBox(QMessageBox.Icon.Critical, "b12desk cannot start", message)
    box.exec()
    return 1
