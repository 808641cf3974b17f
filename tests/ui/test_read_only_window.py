"""A window opened while another b12desk writes to the database says, for as long as it is open, that
nothing can be saved in it."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.data.migrate import UpgradeResult
from b12desk.services.startup import OpenedDatabase
from b12desk.ui.app import Desktop
from b12desk.ui.main_window import MainWindow
from tests.conftest import Staffing
from tests.ui.conftest import MakeContext

REASON = (
    "Another b12desk (process 4242, started at 2026-12-02 08:15) is writing to this database; this one "
    "opens it read-only: nothing can be saved until that one closes."
)


def _window(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, reason: str | None
) -> MainWindow:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    opened = OpenedDatabase(
        db=db, demo=False, upgrade=UpgradeResult(None, "head", None), read_only_reason=reason
    )
    ctx = make_ctx(staff.nurse)
    window = Desktop(opened, app).start(ctx.actor, ctx.clock)
    qtbot.addWidget(window)
    return window


def test_a_read_only_window_says_so_in_its_status_bar_and_title(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, tmp_path: Path
) -> None:
    window = _window(qtbot, db, make_ctx, staff, REASON)
    badge = window.findChild(QLabel, "readOnlyBadge")
    assert badge is not None and badge.isVisible()
    assert badge.text() == "Read-only" and badge.toolTip() == REASON
    sentence = window.findChild(QLabel, "readOnlySentence")  # the whole sentence, across the top
    assert sentence is not None and sentence.isVisible() and sentence.text() == f"Read-only. {REASON}"
    window.resize(1024, 700)
    QApplication.processEvents()
    assert sentence.height() >= sentence.heightForWidth(sentence.width())  # no line of it cut off
    assert window.windowTitle().endswith("— read-only")
    if os.environ.get("B12DESK_SCREENSHOT_DIR"):
        window.grab().save(str(Path(os.environ["B12DESK_SCREENSHOT_DIR"]) / "read_only.png"))


def test_a_writing_window_has_no_such_badge(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing
) -> None:
    window = _window(qtbot, db, make_ctx, staff, None)
    assert window.findChild(QLabel, "readOnlyBadge") is None
    assert "read-only" not in window.windowTitle()
