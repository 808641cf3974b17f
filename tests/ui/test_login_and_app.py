"""Signing in through the dialog, refusals without tracebacks, demo accounts only in demo mode, run_gui."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.services.startup import OpenedDatabase
from b12desk.ui.app import run_gui
from b12desk.ui.login import LoginDialog
from tests.conftest import PASSWORD


def _dialog(qtbot: QtBot, db: Database, *, demo: bool = False) -> LoginDialog:
    dialog = LoginDialog(db, demo=demo)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_sign_in_by_typing_and_clicking(qtbot: QtBot, db: Database) -> None:
    dialog = _dialog(qtbot, db)
    qtbot.keyClicks(dialog.username, "nurse")
    qtbot.keyClicks(dialog.password, PASSWORD)
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.actor is not None
    assert dialog.actor.username == "nurse"


def test_wrong_password_shows_the_service_message_and_stays_open(qtbot: QtBot, db: Database) -> None:
    dialog = _dialog(qtbot, db)
    qtbot.keyClicks(dialog.username, "nurse")
    qtbot.keyClicks(dialog.password, "not the password")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.actor is None
    assert dialog.error.isVisible()
    assert dialog.error.text() == "Unknown user name or wrong password."
    assert dialog.password.text() == ""  # cleared for the next attempt


def test_the_sign_in_window_counts_wrong_passwords_and_shows_the_whole_lockout_message(
    qtbot: QtBot, db: Database
) -> None:
    """The sign-in's transaction commits the failure: five at the window lock the account."""
    dialog = _dialog(qtbot, db)
    for _ in range(5):
        dialog.username.setText("nurse")
        qtbot.keyClicks(dialog.password, "not the password")
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert "locked for 5 minutes" in dialog.error.text()
    assert dialog.error.height() >= dialog.error.heightForWidth(dialog.error.width())  # no line cut off
    qtbot.keyClicks(dialog.password, PASSWORD)
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert dialog.actor is None and "is locked for another" in dialog.error.text()


def test_dialog_names_the_database_and_hides_demo_accounts_outside_demo_mode(
    qtbot: QtBot, db: Database
) -> None:
    dialog = _dialog(qtbot, db)
    labels = [w.text() for w in dialog.findChildren(QLabel)]
    assert any(db.describe() in text for text in labels)
    assert dialog.demo_users is None
    assert not any("demo" in text.lower() for text in labels)


def test_demo_mode_lists_accounts_and_a_click_fills_the_name(qtbot: QtBot, db: Database) -> None:
    dialog = _dialog(qtbot, db, demo=True)
    assert dialog.demo_users is not None
    items = [dialog.demo_users.item(i).text() for i in range(dialog.demo_users.count())]
    assert len(items) == 5
    assert any(
        text.startswith("manager") and "Manager" in text and "password: demo" in text for text in items
    )
    manager = next(i for i in range(dialog.demo_users.count()) if items[i].startswith("manager"))
    rect = dialog.demo_users.visualItemRect(dialog.demo_users.item(manager))
    qtbot.mouseClick(dialog.demo_users.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert dialog.username.text() == "manager"


def test_run_gui_signs_in_directly_and_reports_when_the_roster_is_shown(
    qtbot: QtBot,
    opened: OpenedDatabase,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The time is counted from the launcher's B12DESK_T0, not from when the GUI code loaded: pretend the
    # process started 1,000 s ago (how long this machine takes to paint is the benchmark's business).
    monkeypatch.setenv("B12DESK_T0", str(time.time() - 1000))
    assert run_gui(opened, username="admin", password=PASSWORD, exit_after_shown=True) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("ROSTER_SHOWN "))
    seconds = float(line.split()[1])
    assert seconds >= 1000
    assert "rows=0" in line


def test_run_gui_with_wrong_credentials_in_benchmark_mode_fails_cleanly(
    qtbot: QtBot, opened: OpenedDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_gui(opened, username="admin", password="wrong", exit_after_shown=True) == 1
    assert "Unknown user name or wrong password." in capsys.readouterr().err


def test_startup_error_is_shown_in_a_window(qtbot: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from b12desk.ui.app import show_startup_error

    seen: list[tuple[str, str]] = []

    def fake_exec(box: QMessageBox) -> int:
        seen.append((box.windowTitle(), box.text()))
        return 0

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    assert show_startup_error("The SQLite database is on a network share (cifs).") == 1
    assert seen == [("b12desk cannot start", "The SQLite database is on a network share (cifs).")]
