"""The idle lock: after a set time without keyboard or mouse input, a main window hides every patient
detail behind a lock screen that asks for the signed-in person's password."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from html import escape

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QSinglePointEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid
from sqlalchemy.orm import Session

from b12desk.services import auth
from b12desk.services.common import Actor
from b12desk.ui import settings
from b12desk.ui.context import AppContext
from b12desk.ui.login import ROLE_LABELS
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.widgets import ErrorLabel

MIN_MINUTES = 1
MAX_MINUTES = 60
LOCKED_TITLE = "b12desk — screen locked"

# Input a person makes. Timers, repaints, worker results and the app's own refreshes never arrive as
# one of these, so they cannot keep a session open.
_INPUT_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.InputMethod,  # text typed through an input method arrives without key presses
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.NonClientAreaMouseButtonPress,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
        QEvent.Type.TouchUpdate,
        QEvent.Type.TabletPress,
    }
)
# Moves count only when the pointer is somewhere new: Qt sends moves of its own when a widget appears
# or disappears under a pointer that stands still.
_MOVE_EVENTS = frozenset({QEvent.Type.MouseMove, QEvent.Type.NonClientAreaMouseMove, QEvent.Type.TabletMove})
_BLOCKED_WHILE_LOCKED = frozenset(
    {
        QEvent.Type.KeyRelease,
        QEvent.Type.ShortcutOverride,
        QEvent.Type.Shortcut,
        QEvent.Type.MouseButtonRelease,
        QEvent.Type.MouseMove,
        QEvent.Type.TouchEnd,
    }
)
_WINDOW_TYPES_NOT_KEPT = (Qt.WindowType.Popup, Qt.WindowType.ToolTip)


def idle_minutes() -> int:
    """This workstation's idle time, kept within 1 to 60 minutes whatever the settings file says."""
    return min(max(settings.get(settings.IDLE_LOCK_MINUTES), MIN_MINUTES), MAX_MINUTES)


def _awake_clock() -> Callable[[], float]:
    """A monotonic clock that keeps counting while the computer sleeps, where the system has one: a
    laptop closed for an hour wakes up locked, not with an hour still to go."""
    if hasattr(time, "CLOCK_BOOTTIME"):  # Linux
        boottime = time.CLOCK_BOOTTIME
        return lambda: time.clock_gettime(boottime)
    if sys.platform == "darwin":  # CLOCK_MONOTONIC counts sleep there; time.monotonic() does not
        monotonic = time.CLOCK_MONOTONIC
        return lambda: time.clock_gettime(monotonic)
    return time.monotonic


def unlock_op(password: str) -> Callable[[Session, Actor], auth.SignInAttempt]:
    """The one check of a password at the lock screen: the auth service's sign-in attempt, for the person
    signed in. In a writer's transaction that commits even when the password is wrong, so that a wrong
    password counts towards the lockout (and is audited) exactly as at the sign-in window."""

    def op(session: Session, actor: Actor) -> auth.SignInAttempt:
        return auth.attempt_sign_in(session, username=actor.username, password=password)

    return op


def describe_idle(idle_ms: int) -> str:
    if idle_ms % 60_000 == 0:
        minutes = idle_ms // 60_000
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    seconds = idle_ms / 1000
    return f"{seconds:g} second{'' if seconds == 1 else 's'}"


def idle_reason(idle_ms: int) -> str:
    return f"The screen was locked after {describe_idle(idle_ms)} without activity."


MANUAL_REASON = "The screen was locked from the File menu."
RESUMED_REASON = "Someone else signed in at this workstation meanwhile; your work is as you left it."


def owned_by(widget: QWidget, window: QWidget) -> bool:
    """A window opened from `window` (its parent chain leads there)."""
    parent = widget.parentWidget()
    while parent is not None:
        if parent is window:
            return True
        parent = parent.parentWidget()
    return False


def _inside(obj: QObject, root: QObject) -> bool:
    node: QObject | None = obj
    while node is not None:
        if node is root:
            return True
        node = node.parent()
    return False


def _depth(widget: QWidget) -> int:
    depth = 0
    parent = widget.parentWidget()
    while parent is not None:
        depth, parent = depth + 1, parent.parentWidget()
    return depth


class LockScreen(QWidget):
    """What a locked main window shows instead of its tabs: who is signed in, why the screen locked, and
    a password field. Opaque, and built from the signed-in person alone: it has no patient data to show."""

    unlock_requested = Signal(str)
    switch_requested = Signal()

    def __init__(
        self, actor: Actor, idle_ms: int, *, can_switch: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("lockScreen")
        self.setAutoFillBackground(True)
        role = ROLE_LABELS.get(actor.role.value, actor.role.value)

        title = QLabel("Screen locked")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        self.who = QLabel(f"Signed in: <b>{escape(actor.full_name)}</b> ({escape(actor.username)}) — {role}")
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setObjectName("muted")
        self.set_reason(idle_reason(idle_ms))
        kept = QLabel(
            "Patient records are hidden until you unlock. Anything you had open, saved or not, is kept "
            "as you left it."
        )
        kept.setWordWrap(True)
        kept.setObjectName("muted")

        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(f"password for {actor.username}")
        self.password.returnPressed.connect(self._unlock_clicked)
        password_label = QLabel("&Password")
        password_label.setBuddy(self.password)
        self.error = ErrorLabel()
        self.error.setObjectName("inlineError")
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self._unlock_clicked)
        self.switch_button = QPushButton("Sign in as someone else")
        self.switch_button.setToolTip(
            f"Another person signs in; {actor.full_name}'s work stays locked and is back after they sign out"
        )
        self.switch_button.clicked.connect(self.switch_requested)
        self.switch_button.setVisible(can_switch)
        self.can_switch = can_switch

        card = QFrame()
        card.setObjectName("lockCard")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setMaximumWidth(520)
        box = QVBoxLayout(card)
        box.setContentsMargins(24, 20, 24, 20)
        box.addWidget(title)
        box.addWidget(self.who)
        box.addWidget(self.why)
        box.addSpacing(8)
        box.addWidget(password_label)
        box.addWidget(self.password)
        box.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addWidget(self.unlock_button)
        buttons.addStretch(1)
        buttons.addWidget(self.switch_button)
        box.addLayout(buttons)
        box.addSpacing(8)
        box.addWidget(kept)

        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def set_reason(self, text: str) -> None:
        self.why.setText(text)

    def set_checking(self, checking: bool) -> None:
        self.unlock_button.setEnabled(not checking)  # one check at a time (argon2 takes a moment)
        self.switch_button.setEnabled(not checking)

    def _unlock_clicked(self) -> None:
        if not self.unlock_button.isEnabled():
            return
        password = self.password.text()
        if not password:
            self.error.set_error("Enter your password to unlock.")
            self.password.setFocus()
            return
        self.unlock_requested.emit(password)


class IdleLock(QObject):
    """Locks `window` after `idle_ms` without input, or when asked; unlocks on the signed-in person's
    password.

    Activity is what the person does: an application-wide event filter takes key presses, clicks, wheel,
    touch and pointer moves to somewhere new, and nothing else. Each one only notes the time (a monotonic
    clock); one single-shot timer, armed for the time still to go, checks when it fires and re-arms.

    Locking swaps the window's central widget for the opaque lock screen, hides the menu and status bars
    and every window the main window owns (dialogs, message boxes, forms half filled in), and hides any
    that opens while locked; unlocking shows them again as they were. Shortcuts of the locked window do
    nothing while it is locked.
    """

    locked_changed = Signal(bool)
    switch_requested = Signal()  # "Sign in as someone else" on the lock screen

    def __init__(
        self,
        window: QMainWindow,
        ctx: AppContext,
        *,
        idle_ms: int | None = None,
        can_switch: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(window)  # lives and dies with the window; Qt then drops the event filter too
        self.window = window
        self.ctx = ctx
        self.idle_ms = idle_ms if idle_ms is not None else idle_minutes() * 60_000
        self._clock = clock or _awake_clock()
        self._last_input = self._clock()
        self._last_pointer: QPointF | None = None
        self.locked = False
        self._hidden: list[QWidget] = []  # the windows hidden by the lock, to show again on unlock
        self._bars: list[QWidget] = []
        self._title = ""
        self._focus: QWidget | None = None

        self.lock_screen = LockScreen(ctx.actor, self.idle_ms, can_switch=can_switch)
        self.lock_screen.unlock_requested.connect(self.try_unlock)
        self.lock_screen.switch_requested.connect(self.switch_requested)
        content = window.takeCentralWidget()
        self.stack = QStackedWidget()
        if content is not None:
            self.stack.addWidget(content)
        self.stack.addWidget(self.lock_screen)
        window.setCentralWidget(self.stack)
        self.content = content

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.check)
        self._timer.start(self.idle_ms)
        app = QApplication.instance()
        assert app is not None
        app.installEventFilter(self)

    # --- activity ------------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if self.locked:
            return self._filter_while_locked(watched, kind)
        if kind in _INPUT_EVENTS:
            self._input()
        elif kind in _MOVE_EVENTS and isinstance(event, QSinglePointEvent):
            where = event.globalPosition()
            if where != self._last_pointer:
                self._last_pointer = where
                self._input()
        return False

    def _filter_while_locked(self, watched: QObject, kind: QEvent.Type) -> bool:
        """True to drop the event: nothing reaches the locked session but through the lock screen."""
        if kind in _INPUT_EVENTS or kind in _BLOCKED_WHILE_LOCKED:
            # Keys, clicks and the locked window's shortcuts (Ctrl+Q, ...) for anything of the session
            # but the lock screen: dropped, even if a hidden form has kept the keyboard focus.
            return self._ours(watched)
        if not isinstance(watched, QWidget):
            return False
        if kind == QEvent.Type.Show:
            self._shown_while_locked(watched)
        elif kind == QEvent.Type.WindowActivate and watched is not self.window and self._ours(watched):
            QTimer.singleShot(0, self, self.take_focus)  # a hidden form became active: the lock takes over
        elif kind == QEvent.Type.Close and watched in self._hidden:
            self._hidden.remove(watched)  # closed by its own code meanwhile: not to come back
        return False

    def _input(self) -> None:
        if self.locked:
            return
        now = self._clock()
        if (now - self._last_input) * 1000 >= self.idle_ms:
            # The time ran out unnoticed (the computer slept, the timer fired late): this input comes
            # too late to keep the screen open.
            self.lock()
            return
        self._last_input = now

    def idle_for_ms(self) -> float:
        return (self._clock() - self._last_input) * 1000

    def check(self) -> None:
        """The timer fired: lock if the time is up, or wait for the rest of it."""
        if self.locked:
            return
        remaining = self.idle_ms - self.idle_for_ms()
        if remaining <= 0:
            self.lock(idle_reason(self.idle_ms))
        else:
            self._timer.start(max(1, int(remaining + 0.999)))

    def _ours(self, obj: QObject) -> bool:
        return _inside(obj, self.window) and not _inside(obj, self.lock_screen)

    # --- locking -------------------------------------------------------------------------------------

    def lock_now(self) -> None:
        """File > Lock screen: locked at once, before anyone else comes to the desk."""
        self.lock(MANUAL_REASON)

    def lock(self, reason: str = "") -> None:
        if self.locked or not isValid(self.window):
            return
        self.lock_screen.set_reason(reason or idle_reason(self.idle_ms))
        self.locked = True
        self._timer.stop()
        focus = QApplication.focusWidget()
        self._focus = focus if focus is not None and self._ours(focus) else None
        while (popup := QApplication.activePopupWidget()) is not None:  # menus, combo lists: closed
            popup.close()
        self._hidden = [
            w
            for w in QApplication.topLevelWidgets()
            if w.isVisible() and w.windowType() not in _WINDOW_TYPES_NOT_KEPT and owned_by(w, self.window)
        ]
        for widget in sorted(self._hidden, key=_depth, reverse=True):  # a message box before its dialog
            widget.hide()
        self._bars = [
            bar
            for bar in (self.window.menuBar(), self.window.statusBar())
            if bar is not None and bar.isVisible()
        ]
        for bar in self._bars:
            bar.hide()
        self._title = self.window.windowTitle()
        self.window.windowTitleChanged.connect(self._title_changed)
        self.window.setWindowTitle(LOCKED_TITLE)
        self.stack.setCurrentWidget(self.lock_screen)
        self.lock_screen.error.set_error("")
        self.lock_screen.password.clear()
        self.lock_screen.set_checking(False)
        self.take_focus()
        self.locked_changed.emit(True)

    def take_focus(self) -> None:
        """The keyboard goes to the password field: never to a hidden form that still had it."""
        if not self.locked or not self.window.isVisible():
            return
        self.window.activateWindow()
        self.lock_screen.password.setFocus()

    def _title_changed(self, title: str) -> None:
        if self.locked and title != LOCKED_TITLE:  # the window updated its title while locked: keep it
            self._title = title  # for after the unlock, and keep the locked title on screen now
            self.window.setWindowTitle(LOCKED_TITLE)

    def _shown_while_locked(self, widget: QWidget) -> None:
        """A window of the locked session opened meanwhile (an answer from the database worker, say):
        hidden at once, and shown after the unlock."""
        if not widget.isWindow() or widget is self.window or not owned_by(widget, self.window):
            return
        if widget.windowType() in _WINDOW_TYPES_NOT_KEPT:
            QTimer.singleShot(0, widget, widget.close)
            return
        if widget not in self._hidden:
            self._hidden.append(widget)
        # Not inside its own show(): just after it, before anything is painted. With the widget as the
        # context, a window deleted meanwhile is simply skipped.
        QTimer.singleShot(0, widget, partial(self._hide_if_locked, widget))

    def _hide_if_locked(self, widget: QWidget) -> None:
        if self.locked and widget in self._hidden:
            widget.hide()

    def unlock(self) -> None:
        if not self.locked:
            return
        self.locked = False
        self.window.windowTitleChanged.disconnect(self._title_changed)
        self.window.setWindowTitle(self._title)
        self.lock_screen.password.clear()
        self.lock_screen.error.set_error("")
        if self.content is not None:
            self.stack.setCurrentWidget(self.content)
        for bar in self._bars:
            if isValid(bar):
                bar.show()
        hidden, self._hidden = self._hidden, []
        for widget in sorted(hidden, key=_depth):  # a dialog before the message box asked from it
            if isValid(widget):
                widget.show()
        if self._focus is not None and isValid(self._focus) and self._focus.isVisible():
            self._focus.setFocus()
        self._focus = None
        self._last_input = self._clock()
        self._timer.start(self.idle_ms)
        self.locked_changed.emit(False)

    def try_unlock(self, password: str) -> None:
        self.lock_screen.set_checking(True)
        self.lock_screen.error.set_error("")
        run_op(
            self.lock_screen,
            self.ctx,
            unlock_op(password),
            self._password_accepted,
            self._password_refused,
            write=True,
            quiet=True,
        )

    def _password_accepted(self, attempt: auth.SignInAttempt) -> None:
        self.lock_screen.set_checking(False)
        actor = attempt.actor
        if actor is None:  # refused; the failure was committed (counted and audited)
            self._password_refused(OpFailure("denied", attempt.message))
            return
        if actor.id != self.ctx.actor.id:  # cannot happen through unlock_op; never unlock for another
            self._password_refused(OpFailure("denied", "That is not the signed-in person's account."))
            return
        self.unlock()

    def _password_refused(self, failure: OpFailure) -> None:
        self.lock_screen.set_checking(False)
        self.lock_screen.password.clear()
        self.lock_screen.password.setFocus()
        self.lock_screen.error.set_error(
            f"{failure.message} The screen stays locked: try again, or sign in as someone else."
            if self.lock_screen.can_switch
            else f"{failure.message} The screen stays locked: try again."
        )
