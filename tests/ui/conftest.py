"""GUI test fixtures: a committed SQLite database of the test's own, wrapped as the app opens it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.data.migrate import UpgradeResult
from b12desk.domain.enums import Cause
from b12desk.domain.patients import PatientInput
from b12desk.services import clinic, patients
from b12desk.services.common import Actor
from b12desk.services.startup import OpenedDatabase
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
