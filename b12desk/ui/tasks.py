"""Run slow work (imports, big queries) on a pool thread and hand the result back to the GUI thread."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QApplication
from shiboken6 import isValid

BUSY_CURSOR_AFTER_MS = 300
_running: set[_Relay] = set()  # keeps each relay alive until its job reports back


class _Relay(QObject):
    """Lives in the GUI thread, so signals emitted from the worker arrive there, queued."""

    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:
            self._relay.failed.emit(exc)
            return
        self._relay.done.emit(result)


def run_in_background(
    owner: QObject,
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_failed: Callable[[Exception], None],
) -> None:
    """`fn` runs on a pool thread and must open its own Session; the callbacks run on the GUI thread.

    A busy cursor appears only if the work outlasts ~300 ms, so quick checks do not flicker.
    """
    relay = _Relay()  # no parent: it must outlive an owner closed while the job runs
    _running.add(relay)
    busy = {"cursor": False, "finished": False}

    def show_busy() -> None:
        if not busy["finished"]:
            busy["cursor"] = True
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)

    def finish() -> bool:
        busy["finished"] = True
        if busy["cursor"]:
            QApplication.restoreOverrideCursor()
        _running.discard(relay)
        relay.deleteLater()
        return isValid(owner)  # the window that asked may have been closed meanwhile

    def done(result: Any) -> None:
        if finish():
            on_done(result)

    def failed(exc: Exception) -> None:
        if finish():
            on_failed(exc)

    relay.done.connect(done)
    relay.failed.connect(failed)
    QTimer.singleShot(BUSY_CURSOR_AFTER_MS, relay, show_busy)  # dies with the relay when done
    QThreadPool.globalInstance().start(_Job(fn, relay))


def report_unexpected(exc: BaseException) -> None:
    """A bug, not a refusal: let the installed excepthook print (and, in tests, fail) as for GUI code."""
    sys.excepthook(type(exc), exc, exc.__traceback__)
