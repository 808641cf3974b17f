"""GUI test fixtures: a committed SQLite database of the test's own, wrapped as the app opens it."""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, event

import b12desk.ui
from b12desk.data.db import Database
from b12desk.data.migrate import UpgradeResult
from b12desk.domain.enums import Cause
from b12desk.domain.patients import PatientInput
from b12desk.services import clinic, patients
from b12desk.services.common import Actor
from b12desk.services.startup import OpenedDatabase
from b12desk.ui import ops, worker
from b12desk.ui.context import AppContext, DataBus
from tests.conftest import Staffing

MakeContext = Callable[[Actor], AppContext]
# The offscreen platform cannot pass a window's minimum size to a window system and says so on every
# dialog with a layout; it is not a fault of the app, so only this exact message is let through.
OFFSCREEN_SIZE_HINTS = r"^This plugin does not support propagateSizeHints\(\)$"
AddPatient = Callable[..., int]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_SIZE_HINTS))


UI_PACKAGE = str(Path(b12desk.ui.__file__).parent) + os.sep


class GuiThreadSqlGuard:
    """Records every SQL statement that the GUI's own code (a frame in b12desk/ui/) runs on the GUI
    thread. A test's own set-up may use the database directly: only statements reached from ui count."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        stack = traceback.extract_stack()
        if any(frame.filename.startswith(UI_PACKAGE) for frame in stack):
            where = "".join(traceback.format_list([f for f in stack if "b12desk" in f.filename][-6:]))
            self.violations.append(f"{statement.split()[0]} on the GUI thread, from:\n{where}")

    def __enter__(self) -> GuiThreadSqlGuard:
        event.listen(Engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self)


@pytest.fixture(autouse=True)
def no_sql_on_the_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test in which the GUI's own code runs a SQL statement on the GUI thread, or that leaves
    the database worker with an operation whose result never reached the screen.

    Operations run on the worker; WAIT_FOR_RESULTS makes run_op return once the result is on the screen,
    so each test reads it on the next line (a test of the waiting itself switches it off).
    """
    previous = ops.WAIT_FOR_RESULTS
    ops.WAIT_FOR_RESULTS = True
    try:
        with GuiThreadSqlGuard() as guard:
            yield
    finally:
        ops.WAIT_FOR_RESULTS = previous
    if request.node.get_closest_marker("sql_on_gui_thread_on_purpose"):
        guard.violations.clear()  # the test of the guard itself
    busy = [w for w in worker.all_workers() if not w.idle()]
    worker.stop_all_workers()
    assert not guard.violations, "SQL ran on the GUI thread:\n" + "\n".join(guard.violations[:3])
    assert not busy, "the test ended with database operations still running or not yet delivered"


@pytest.fixture
def db(fresh_db: tuple[Database, Staffing]) -> Database:  # overrides the shared, rolled-back one
    return fresh_db[0]


@pytest.fixture
def staff(fresh_db: tuple[Database, Staffing]) -> Staffing:
    return fresh_db[1]


@pytest.fixture
def host(qtbot: QtBot) -> QWidget:
    """A parent for dialogs under test, as the roster tab or main window is in the app.

    A parentless dialog is owned by Python; if the last reference to it is a closure held by one of its
    own child dialogs, destroying that child would destroy the parent, and the child again, mid-delete.
    """
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def opened(db: Database) -> OpenedDatabase:
    return OpenedDatabase(db=db, demo=False, upgrade=UpgradeResult(None, "head", None))


@pytest.fixture
def make_ctx(db: Database) -> MakeContext:
    def make(actor: Actor) -> AppContext:
        with db.sessions() as s:
            clock = clinic.clinic_clock(s)
        return AppContext(db=db, actor=actor, demo=False, bus=DataBus(), clock=clock)

    return make


@pytest.fixture
def add_patient(db: Database, staff: Staffing) -> AddPatient:
    """Commit a patient through the service, as another workstation would; returns its id."""

    def add(mrn: str, family: str, given: str, **extra: object) -> int:
        values: dict[str, object] = {
            "mrn": mrn,
            "family_name": family,
            "given_name": given,
            "date_of_birth": date(1960, 5, 17),
            "cause": Cause.PERNICIOUS_ANAEMIA,
        }
        values.update(extra)
        with db.sessions.begin() as s:
            return patients.create_patient(s, staff.nurse, PatientInput(**values)).id  # type: ignore[arg-type]

    return add
