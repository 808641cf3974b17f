"""The idle lock: a main window left without input hides every patient detail behind a password, only a
person's input keeps it open, and another person may sign in meanwhile without losing the first one's
unsaved form."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from time import monotonic
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QLabel,
    QLineEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from b12desk.data.db import Database
from b12desk.data.models import AuditEvent, Staff
from b12desk.services import clinic
from b12desk.services.common import Actor
from b12desk.services.startup import OpenedDatabase
from b12desk.ui import settings
from b12desk.ui.app import Desktop
from b12desk.ui.context import PATIENTS, AppContext
from b12desk.ui.idle_lock import LOCKED_TITLE, RESUMED_REASON, IdleLock, idle_minutes
from b12desk.ui.main_window import MainWindow
from b12desk.ui.patient_dialog import PatientDialog
from b12desk.ui.widgets import show_message
from tests.conftest import PASSWORD, Staffing
from tests.ui.conftest import AddPatient, MakeContext

SCREENS = Path(os.environ.get("B12DESK_TEST_SCREENS", Path(__file__).resolve().parents[2] / "test-output"))
PATIENT_WORDS = ("Okafor", "Grace", "Abernathy", "Jonas", "H1", "H2")


@pytest.fixture(autouse=True)
def _nothing_left_on_screen(qtbot: QtBot) -> Iterator[None]:
    """Each test counts the windows on screen: none of an earlier test's may still be there."""
    yield
    for widget in _app().topLevelWidgets():
        if widget.isVisible():
            widget.hide()  # not close(): a changed form would ask "Discard changes?"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms / 1000


def _app() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app


def _desktop(qtbot: QtBot, opened: OpenedDatabase, actor: Actor, *, idle_ms: int | None) -> Desktop:
    desktop = Desktop(opened, _app(), idle_ms=idle_ms)
    with opened.db.sessions() as s:
        clock = clinic.clinic_clock(s)
    window = desktop.start(actor, clock)
    qtbot.addWidget(window)
    qtbot.waitExposed(window)
    return desktop


def _window_with_lock(qtbot: QtBot, ctx: AppContext, clock: FakeClock) -> IdleLock:
    """A main window with a lock on a clock the test moves; its timer is far off, the test calls check()."""
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    lock = IdleLock(window, ctx, idle_ms=60_000, clock=clock)
    window.load()
    window.show()
    qtbot.waitExposed(window)
    return lock


def _current(desktop: Desktop) -> tuple[MainWindow, IdleLock]:
    assert desktop.window is not None and desktop.lock is not None
    return desktop.window, desktop.lock


def _open_record_with_an_edit(qtbot: QtBot, window: MainWindow) -> PatientDialog:
    window.roster.table.selectRow(0)
    window.roster.edit_selected()
    record = next(w for w in _app().topLevelWidgets() if isinstance(w, PatientDialog) and w.isVisible())
    qtbot.keyClicks(record.given_name, " Ada")
    assert record.has_changes()
    return record


def _visible_windows() -> list[QWidget]:
    return [w for w in _app().topLevelWidgets() if w.isVisible() and w.isWindow()]


def _visible_texts(root: QWidget) -> list[str]:
    """Every text a person can see in `root` and its visible descendants, the cells of lists included."""
    texts = [root.windowTitle()]
    for widget in [root, *root.findChildren(QWidget)]:
        if not widget.isVisible():
            continue
        if isinstance(widget, QAbstractItemView) and (model := widget.model()) is not None:
            texts += [
                str(model.index(row, column).data())
                for row in range(model.rowCount())
                for column in range(model.columnCount())
            ]
        elif isinstance(widget, (QLabel, QLineEdit, QAbstractButton)):
            texts.append(widget.text())
        texts.append(widget.toolTip())
    return texts


def _unlock(qtbot: QtBot, lock: IdleLock, password: str) -> None:
    qtbot.keyClicks(lock.lock_screen.password, password)
    qtbot.mouseClick(lock.lock_screen.unlock_button, Qt.MouseButton.LeftButton)


def test_locks_after_the_idle_time_without_input(
    qtbot: QtBot, opened: OpenedDatabase, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    started = monotonic()
    desktop = _desktop(qtbot, opened, staff.nurse, idle_ms=300)
    window, lock = _current(desktop)
    ticker = QTimer()  # an app's timer going on all the while
    ticker.timeout.connect(window.roster.table.viewport().update)
    ticker.start(10)
    try:
        qtbot.waitUntil(lambda: lock.locked, timeout=10_000)  # nobody touches anything
    finally:
        ticker.stop()
    assert monotonic() - started >= 0.3  # not before its time
    assert lock.stack.currentWidget() is lock.lock_screen
    assert not window.roster.isVisible()
    assert "locked after 0.3 seconds without activity" in lock.lock_screen.why.text()


def test_a_key_press_or_a_pointer_move_before_the_time_keeps_it_unlocked(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    clock = FakeClock()
    lock = _window_with_lock(qtbot, make_ctx(staff.nurse), clock)
    window = lock.window
    assert isinstance(window, MainWindow)
    table = window.roster.table

    clock.advance(50_000)
    qtbot.keyClick(table, Qt.Key.Key_Down)
    clock.advance(50_000)  # 100 s since the start, 50 s since the key
    lock.check()
    assert not lock.locked
    # Re-armed for the 10 s still to go (a coarse timer may fire up to 5% late).
    assert lock._timer.isActive() and 9_000 <= lock._timer.remainingTime() <= 10_500

    qtbot.mouseMove(table.viewport(), QPoint(20, 20))
    clock.advance(50_000)
    qtbot.mouseMove(table.viewport(), QPoint(60, 30))  # moved somewhere new: counts
    clock.advance(50_000)
    lock.check()
    assert not lock.locked
    # Qt's own moves for a pointer standing still (a widget appeared under it): not a person's input.
    viewport = table.viewport()
    still = QPointF(viewport.mapToGlobal(QPoint(60, 30)))
    for _ in range(3):
        moved = QMouseEvent(
            QEvent.Type.MouseMove,
            QPointF(60, 30),
            still,
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(viewport, moved)
    clock.advance(15_000)  # 65 s since the pointer last went somewhere
    lock.check()
    assert lock.locked


def test_input_that_comes_after_the_time_ran_out_locks_instead(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, add_patient: AddPatient
) -> None:
    """The computer slept, or the timer fired late: the first key after that must not keep it open."""
    add_patient("H1", "Okafor", "Grace")
    clock = FakeClock()
    lock = _window_with_lock(qtbot, make_ctx(staff.nurse), clock)
    clock.advance(59_000)
    qtbot.keyClick(lock.window, Qt.Key.Key_Down)
    assert not lock.locked
    clock.advance(61_000)
    qtbot.keyClick(lock.window, Qt.Key.Key_Down)
    assert lock.locked


def test_a_repeating_timer_and_data_changes_do_not_keep_it_unlocked(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    clock = FakeClock()
    lock = _window_with_lock(qtbot, make_ctx(staff.nurse), clock)
    window = lock.window
    assert isinstance(window, MainWindow)
    ticks: list[int] = []
    refreshes: list[str] = []
    window.ctx.bus.changed.connect(refreshes.append)

    def tick() -> None:
        ticks.append(1)
        window.roster.table.viewport().update()  # a repaint, as a clock or a progress bar makes

    def refresh() -> None:
        add_patient(f"R{len(refreshes)}", "Refreshed", "Row")
        window.ctx.bus.notify(PATIENTS)  # the roster reloads from the database worker

    clock.advance(59_000)  # the last second of the idle time: timers and refreshes go on for it
    ticker = QTimer()
    ticker.timeout.connect(tick)
    ticker.start(10)
    refresher = QTimer()
    refresher.timeout.connect(refresh)
    refresher.start(50)
    try:
        qtbot.waitUntil(lambda: len(ticks) >= 20 and len(refreshes) >= 3, timeout=15_000)
    finally:
        ticker.stop()
        refresher.stop()
    assert window.roster.model.rowCount() >= 4  # the refreshes did reach the screen
    assert not lock.locked
    clock.advance(1_000)
    lock.check()  # the timer firing: none of that counted as someone at the desk
    assert lock.locked


def test_the_locked_window_shows_no_patient_data(
    qtbot: QtBot, opened: OpenedDatabase, staff: Staffing, add_patient: AddPatient, tmp_path: Path
) -> None:
    add_patient("H1", "Okafor", "Grace")
    desktop = _desktop(qtbot, opened, staff.nurse, idle_ms=60 * 60_000)
    window, lock = _current(desktop)
    window.resize(1024, 700)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts reach the active window only
    qtbot.keyClick(window.roster.table, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # File > Lock
    assert lock.locked
    _unlock(qtbot, lock, PASSWORD)
    assert not lock.locked
    record = _open_record_with_an_edit(qtbot, window)
    assert any("Okafor" in text for text in _visible_texts(window))  # the check does see names
    assert any("Grace Ada" in text for text in _visible_texts(record))

    window.lock_action.trigger()  # from the File menu; the idle time does the same
    assert lock.locked
    assert _visible_windows() == [window]  # the record is hidden, not closed
    assert not record.isVisible()
    assert not window.tabs.isVisible() and not window.roster.table.isVisible()
    assert not window.menuBar().isVisible() and not window.statusBar().isVisible()
    assert window.windowTitle() == LOCKED_TITLE
    assert not [w for w in window.findChildren(QAbstractItemView) if w.isVisible()]
    texts = _visible_texts(window)
    assert not [t for t in texts if any(word in t for word in PATIENT_WORDS)], texts
    assert any("Nurse" in t for t in texts) and any("from the File menu" in t for t in texts)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is lock.lock_screen.password)
    qtbot.keyClicks(record.given_name, "X")  # typed at a hidden form: it never gets there
    assert record.given_name.text() == "Grace Ada"

    # The picture does not change when the patients behind it do.
    before = window.grab().toImage()
    SCREENS.mkdir(parents=True, exist_ok=True)
    before.save(str(SCREENS / "idle_lock_locked.png"))
    add_patient("H2", "Abernathy", "Jonas")
    window.ctx.bus.notify(PATIENTS)
    assert window.roster.model.rowCount() == 2  # the roster behind the lock did reload
    after = window.grab().toImage()
    assert isinstance(after, QImage) and after == before

    # A window of the locked session that opens meanwhile is hidden too, and back after the unlock.
    box = show_message(window, "Okafor", "Grace Okafor: saved.")
    qtbot.waitUntil(lambda: not box.isVisible())
    assert _visible_windows() == [window]
    # The locked window's own shortcuts do nothing (Quit would close it).
    qtbot.keyClick(lock.lock_screen.password, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert window.isVisible() and lock.locked

    _unlock(qtbot, lock, PASSWORD)
    assert not lock.locked
    assert record.isVisible() and box.isVisible()
    assert window.windowTitle().startswith("b12desk — ") and window.windowTitle() != LOCKED_TITLE
    assert window.menuBar().isVisible() and window.statusBar().isVisible() and window.roster.table.isVisible()
    box.close()


def test_a_wrong_password_keeps_it_locked_says_so_and_counts_towards_the_lockout(
    qtbot: QtBot, opened: OpenedDatabase, db: Database, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    desktop = _desktop(qtbot, opened, staff.nurse, idle_ms=60 * 60_000)
    window, lock = _current(desktop)
    lock.lock()
    with db.sessions() as s:
        audit_before = s.scalar(select(func.count()).select_from(AuditEvent))
        hash_before = s.scalar(select(Staff.password_hash).where(Staff.username == "nurse"))

    qtbot.mouseClick(lock.lock_screen.unlock_button, Qt.MouseButton.LeftButton)  # nothing typed
    assert lock.locked
    assert lock.lock_screen.error.text() == "Enter your password to unlock."

    _unlock(qtbot, lock, "not the password")
    assert lock.locked
    assert lock.lock_screen.error.isVisible()
    message = lock.lock_screen.error.text()
    assert "wrong password" in message and "The screen stays locked" in message
    assert lock.lock_screen.password.text() == ""  # cleared for the next attempt
    assert lock.lock_screen.unlock_button.isEnabled()
    assert not window.roster.isVisible()
    with db.sessions() as s:
        # One event, the failed attempt, and one more wrong password towards the lockout: as at sign-in.
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == audit_before + 1
        last = s.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        assert last is not None and last.action == "sign_in_failed"
        nurse = s.scalar(select(Staff).where(Staff.username == "nurse"))
        assert nurse is not None and nurse.password_hash == hash_before and nurse.failed_sign_ins == 1

    # Another person's password does not open this person's screen.
    _unlock(qtbot, lock, PASSWORD.upper())
    assert lock.locked


def test_the_right_password_unlocks_and_the_unsaved_edit_is_still_there(
    qtbot: QtBot, opened: OpenedDatabase, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    desktop = _desktop(qtbot, opened, staff.nurse, idle_ms=60 * 60_000)
    window, lock = _current(desktop)
    record = _open_record_with_an_edit(qtbot, window)
    lock.lock()
    assert not record.isVisible()
    _unlock(qtbot, lock, PASSWORD)
    assert not lock.locked
    assert record.isVisible() and record.given_name.text() == "Grace Ada" and record.has_changes()
    assert lock.lock_screen.password.text() == ""
    assert lock._timer.isActive()  # counting again from the unlock


def test_someone_else_signs_in_and_out_and_the_first_users_form_survives(
    qtbot: QtBot, opened: OpenedDatabase, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    desktop = _desktop(qtbot, opened, staff.nurse, idle_ms=60 * 60_000)
    first, first_lock = _current(desktop)
    record = _open_record_with_an_edit(qtbot, first)
    first_lock.lock()
    qtbot.mouseClick(first_lock.lock_screen.switch_button, Qt.MouseButton.LeftButton)
    login = desktop.login
    assert login is not None
    assert _visible_windows() == [login]  # the nurse's window and form: hidden, not closed
    assert login.username.text() == "" and login.password.text() == ""

    qtbot.keyClicks(login.username, "pharmacist")
    qtbot.keyClicks(login.password, PASSWORD)
    qtbot.mouseClick(login.sign_in_button, Qt.MouseButton.LeftButton)
    second, _second_lock = _current(desktop)
    qtbot.addWidget(second)
    assert second is not first and second.ctx.actor.username == "pharmacist"
    assert second.ctx.bus is not first.ctx.bus  # a session of their own
    assert _visible_windows() == [second]
    assert not any("Ada" in text for text in _visible_texts(second))
    assert desktop.suspended == [(first, first_lock)]

    box = second.sign_out()  # nothing of theirs unsaved: the nurse's form is not theirs to be asked about
    assert box is None
    assert desktop.window is first and desktop.lock is first_lock and not desktop.suspended
    assert _visible_windows() == [first]
    assert first_lock.locked and not record.isVisible()
    assert first_lock.lock_screen.why.text() == RESUMED_REASON

    _unlock(qtbot, first_lock, PASSWORD)
    assert not first_lock.locked
    assert record.isVisible() and record.given_name.text() == "Grace Ada" and record.has_changes()


def test_cancelling_or_signing_in_as_oneself_brings_the_locked_window_back(
    qtbot: QtBot, opened: OpenedDatabase, staff: Staffing, add_patient: AddPatient
) -> None:
    add_patient("H1", "Okafor", "Grace")
    desktop = _desktop(qtbot, opened, staff.nurse, idle_ms=60 * 60_000)
    window, lock = _current(desktop)
    record = _open_record_with_an_edit(qtbot, window)
    lock.lock()

    lock.lock_screen.switch_button.click()
    assert desktop.login is not None
    desktop.login.reject()  # Cancel: back to the lock, still locked
    assert desktop.window is window and lock.locked and _visible_windows() == [window]

    lock.lock_screen.switch_button.click()
    login = desktop.login
    assert login is not None
    qtbot.keyClicks(login.username, "nurse")
    qtbot.keyClicks(login.password, PASSWORD)
    qtbot.mouseClick(login.sign_in_button, Qt.MouseButton.LeftButton)
    assert desktop.window is window and not lock.locked  # the password is proved: the same window
    assert record.isVisible() and record.given_name.text() == "Grace Ada"


@pytest.mark.parametrize(("stored", "minutes"), [(7, 7), ("12", 12), ("soon", 5), (0, 1), (500, 60)])
def test_the_idle_time_comes_from_the_workstation_setting(
    qtbot: QtBot, opened: OpenedDatabase, staff: Staffing, stored: object, minutes: int
) -> None:
    assert idle_minutes() == settings.IDLE_LOCK_MINUTES.default == 5
    unchecked: settings.Setting[Any] = settings.IDLE_LOCK_MINUTES
    settings.put(unchecked, stored)  # any value, as a settings file edited by hand may hold
    assert idle_minutes() == minutes
    desktop = _desktop(qtbot, opened, staff.nurse, idle_ms=None)
    _window, lock = _current(desktop)
    assert lock.idle_ms == minutes * 60_000
    assert f"locked after {minutes} minute{'' if minutes == 1 else 's'} without activity" in (
        lock.lock_screen.why.text()
    )
    assert settings.IDLE_LOCK_MINUTES in settings.REGISTRY
