"""The demo sign-in window: two pharmacists, and the reason there are two."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.services import auth
from b12desk.ui.login import LoginDialog


def test_the_demo_accounts_say_one_pharmacist_verifies_what_the_other_writes(
    qtbot: QtBot, db: Database
) -> None:
    dialog = LoginDialog(db, demo=True)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.demo_users is not None
    items = [dialog.demo_users.item(i).text() for i in range(dialog.demo_users.count())]
    assert sum(1 for text in items if "Pharmacist," in text) == 2
    assert "A plan one pharmacist writes, the other verifies" in dialog.demo_explain.text()


def test_accounts_listed_after_the_window_is_up_widen_it_so_none_is_cut(qtbot: QtBot, db: Database) -> None:
    """On a real display the accounts arrive from the database after the window is shown: the window then
    grows to show each line whole inside its panel, and shrinks back around the wrapped text."""
    dialog = LoginDialog(db, demo=True)
    qtbot.addWidget(dialog)
    users = dialog.demo_users
    assert users is not None
    staff = [users.item(i).text() for i in range(users.count())]
    users.clear()
    users.setMinimumWidth(0)
    dialog.setMinimumWidth(200)
    dialog.show()
    dialog.resize(200, dialog.height())  # narrower than the list will need
    QApplication.processEvents()
    with db.sessions.begin() as s:
        dialog._show_demo_users(auth.list_staff(s))
    QApplication.processEvents()
    assert [users.item(i).text() for i in range(users.count())] == staff
    panel = users.parentWidget()
    assert users.geometry().right() <= panel.contentsRect().right(), (users.geometry(), panel.contentsRect())
    assert users.viewport().width() >= users.sizeHintForColumn(0)  # each line whole
    assert dialog.height() <= dialog.sizeHint().height() + 1  # no band of empty space
