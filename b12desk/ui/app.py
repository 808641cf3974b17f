"""Start the desktop app: sign in (the dialog, or the credentials given), then the main window."""

from __future__ import annotations

import gc
import os
import sys
import time
import traceback
from concurrent.futures import Future
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QToolBar,
    QWidget,
)

from b12desk.clock import Clock
from b12desk.services.common import Actor
from b12desk.services.patients import RosterRow
from b12desk.services.startup import OpenedDatabase
from b12desk.ui import style
from b12desk.ui.context import AppContext, DataBus
from b12desk.ui.idle_lock import RESUMED_REASON, IdleLock
from b12desk.ui.login import LoginDialog
from b12desk.ui.main_window import MainWindow
from b12desk.ui.ops import describe_failure
from b12desk.ui.preload import SignInPreload, begin_sign_in
from b12desk.ui.worker import stop_all_workers

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
    preload: SignInPreload | None = None,
) -> int:
    """Show the app until the user quits; returns the exit code.

    With `exit_after_shown`, print `ROSTER_SHOWN <seconds since process start> rows=<n> maxrss_mb=<m>`
    once the roster has been painted with every patient loaded, then quit (the start-up benchmark).
    """
    # The modules loaded so far (SQLAlchemy's, Qt's, ours) live as long as the process: keep their
    # objects out of the cyclic collector's walks, which otherwise rescan them all every time a
    # screenful of rows is built (Python's gc.freeze, for applications that load a lot at start).
    gc.freeze()
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
    if preload is None and username and password is not None:
        preload = begin_sign_in(opened.db, username, password)
    if preload is not None:
        # Signed in from the command line, on the database worker (started before Qt was loaded when
        # the command line did it); waiting here is waiting with no window up yet.
        try:
            actor, clock = preload.signed_in.result()
        except Exception as exc:
            failure = describe_failure(exc)
            if failure is None:
                raise
            error = failure.message
            username = preload.username
    roster = preload.roster if preload is not None and actor is not None else None
    if actor is None:
        if exit_after_shown:
            print(f"b12desk: cannot sign in: {error or 'no user name and password given'}", file=sys.stderr)
            return 1
        login = LoginDialog(opened.db, demo=opened.demo, username=username or "", error=error)
        if login.exec() != QDialog.DialogCode.Accepted or login.actor is None or login.clock is None:
            return 0
        actor, clock = login.actor, login.clock

    assert clock is not None
    desktop = Desktop(opened, app)
    window = desktop.start(actor, clock, roster, show=False)
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
    for session_window in [desktop.window, *(suspended for suspended, _lock in desktop.suspended)]:
        if session_window is not None:
            session_window.deleteLater()
    stop_all_workers()
    return code


class Desktop(QObject):
    """One signed-in person after another in one process. Sign out (or switch user) closes the main
    window, and every dialog it owns, before the sign-in window asks who is next; nothing of the
    previous person stays on screen. Closing the sign-in window then quits.

    Each main window locks itself after the workstation's idle time (ui.idle_lock). From a lock screen,
    "Sign in as someone else" keeps the locked window, with whatever it had open, hidden and intact
    while another person signs in and works in a session of their own; when they sign out, the locked
    window comes back, still locked, for its owner's password. Windows waiting so are `suspended`,
    newest last."""

    def __init__(self, opened: OpenedDatabase, app: QApplication, *, idle_ms: int | None = None) -> None:
        super().__init__()
        self.opened = opened
        self.app = app
        self.idle_ms = idle_ms  # None: the workstation's setting, read at each sign-in
        self.window: MainWindow | None = None
        self.lock: IdleLock | None = None
        self.suspended: list[tuple[MainWindow, IdleLock]] = []
        self.login: LoginDialog | None = None

    def start(
        self, actor: Actor, clock: Clock, roster: Future[list[RosterRow]] | None = None, *, show: bool = True
    ) -> MainWindow:
        ctx = AppContext(db=self.opened.db, actor=actor, demo=self.opened.demo, bus=DataBus(), clock=clock)
        window = MainWindow(ctx)
        window.signed_out.connect(self.signed_out)
        lock = IdleLock(window, ctx, idle_ms=self.idle_ms, can_switch=True)
        lock.switch_requested.connect(self.sign_in_someone_else)
        window.lock_action.triggered.connect(lock.lock_now)
        window.lock_action.setEnabled(True)
        window.load(roster)
        if self.opened.read_only_reason:
            _show_read_only(window, self.opened.read_only_reason)
        self.window, self.lock = window, lock
        if show:
            window.show()
        return window

    def signed_out(self) -> None:
        old, self.window, self.lock = self.window, None, None
        if self.suspended:
            self._resume(old)
            return
        login = self._login()
        login.rejected.connect(self.app.quit)
        login.show()  # first, so that closing the main window does not end the application
        self._close_session(old, keep=login)

    def _login(self) -> LoginDialog:
        login = LoginDialog(self.opened.db, demo=self.opened.demo)
        login.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        login.accepted.connect(self._signed_in)  # a bound method: the dialog is deleted on close
        self.login = login
        return login

    def _close_session(self, old: MainWindow | None, *, keep: QWidget) -> None:
        for widget in self.app.topLevelWidgets():  # the main window and every dialog it opened
            if widget is not keep and widget.isVisible():
                widget.hide()  # not close(): a form's "Discard changes?" was asked at sign-out already
        if old is not None:
            old.close()
            old.deleteLater()

    def _signed_in(self) -> None:
        login, self.login = self.login, None
        if login is None or login.actor is None or login.clock is None:
            return
        if self.suspended and self.suspended[-1][0].ctx.actor.id == login.actor.id:
            # The locked window's own user signed in: their password is proved, their work is back.
            window, lock = self.suspended.pop()
            self.window, self.lock = window, lock
            window.show()
            lock.unlock()
            return
        self.start(login.actor, login.clock)

    def sign_in_someone_else(self) -> None:
        """From the current window's lock screen: that window, locked, waits hidden while another person
        signs in."""
        window, lock = self.window, self.lock
        if window is None or lock is None or not lock.locked:
            return
        self.suspended.append((window, lock))
        self.window = self.lock = None
        login = self._login()
        login.rejected.connect(self._sign_in_cancelled)
        login.show()  # first, so that hiding the locked window does not end the application
        window.hide()

    def _sign_in_cancelled(self) -> None:
        self.login = None
        self._resume(None)

    def _resume(self, old: MainWindow | None) -> None:
        """The newest suspended window comes back as it was left: locked."""
        window, lock = self.suspended.pop()
        self.window, self.lock = window, lock
        window.show()  # first, so that closing the other one does not end the application
        lock.lock_screen.set_reason(RESUMED_REASON)
        lock.take_focus()
        self._close_session(old, keep=window)


def _show_read_only(window: MainWindow, reason: str) -> None:
    """Another b12desk holds the database: said in full in a bar across the top, and by a short badge in
    the status bar, for as long as the window is open (the status bar alone is too full at 1024 px to hold
    the sentence)."""
    look = "background: #fff3cd; color: #664d03; padding: 2px 6px;"
    label = QLabel("Read-only")
    label.setObjectName("readOnlyBadge")
    label.setToolTip(reason)
    label.setStyleSheet(f"QLabel#readOnlyBadge {{ {look} font-weight: bold; }}")
    window.statusBar().addPermanentWidget(label)
    bar = QToolBar("Read-only", window)
    bar.setObjectName("readOnlyBar")
    bar.setMovable(False)
    bar.setFloatable(False)
    bar.toggleViewAction().setEnabled(False)  # not one to switch off by accident
    sentence = QLabel(f"Read-only. {reason}")
    sentence.setObjectName("readOnlySentence")
    sentence.setWordWrap(True)
    sentence.setStyleSheet(f"QLabel#readOnlySentence {{ {look} }}")
    sentence.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    bar.addWidget(sentence)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    window.setWindowTitle(f"{window.windowTitle()} — read-only")


def show_startup_error(message: str) -> int:
    """The database could not be opened: say why in a window too, since a desktop icon has no terminal."""
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("b12desk")
    box = QMessageBox(QMessageBox.Icon.Critical, "b12desk cannot start", message)
    box.exec()
    return 1
