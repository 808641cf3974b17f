"""The demo sign-in window: two pharmacists, and the reason there are two."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
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
