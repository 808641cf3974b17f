"""Tools > Users and roles… (administrators) and File > Change my password… (everyone): what the auth
service decides, shown; refusals beside their field or in a message, with nothing written."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from b12desk.data.db import Database
from b12desk.data.models import AuditEvent, Staff
from b12desk.services import auth
from b12desk.ui.main_window import MainWindow
from b12desk.ui.users_dialog import ChangePasswordDialog, NewUserDialog, UsersDialog
from tests.conftest import PASSWORD, Staffing
from tests.ui.conftest import MakeContext


def _audit(db: Database) -> int:
    with db.sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _staff(db: Database, username: str) -> Staff:
    with db.sessions() as s:
        found = s.scalar(select(Staff).where(Staff.username == username))
        assert found is not None
        return found


def _open_box(host: QWidget) -> QMessageBox:
    boxes = [b for b in host.findChildren(QMessageBox) if b.isVisible()]
    assert boxes, "no message box is open"
    return boxes[-1]


def _click(box: QMessageBox, text: str) -> None:
    button = next(b for b in box.buttons() if b.text() == text)
    assert isinstance(button, QPushButton)
    button.click()


def _dialog(qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget) -> UsersDialog:
    dialog = UsersDialog(make_ctx(staff.admin), parent=host)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.model.rowCount() > 0)
    return dialog


def _select(dialog: UsersDialog, username: str) -> None:
    row = dialog.model.find(lambda a: a.username == username)
    assert row is not None
    dialog.table.selectRow(row)


def test_a_locked_account_shows_and_an_admin_unlocks_it(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    for _ in range(auth.MAX_FAILED_SIGN_INS):
        with pytest.raises(auth.AuthenticationFailed):
            auth.sign_in(db, username="nurse", password="wrong at the desk")
    dialog = _dialog(qtbot, make_ctx, staff, host)
    assert [a.username for a in dialog.model.rows()] == [
        "admin",
        "manager",
        "nurse",
        "pharmacist",
        "pharmacist2",
    ]
    _select(dialog, "nurse")
    row = dialog.model.find(lambda a: a.username == "nurse")
    shown = dialog.model.index(row, 4).data()
    assert shown.startswith("Locked until")
    _select(dialog, "manager")
    assert not dialog.unlock_button.isEnabled()
    _select(dialog, "nurse")
    assert dialog.unlock_button.isEnabled()
    dialog.unlock_button.click()
    _click(_open_box(dialog), "Unlock")
    qtbot.waitUntil(lambda: _staff(db, "nurse").locked_until is None)
    qtbot.waitUntil(lambda: dialog.model.index(row, 4).data() == "")
    assert auth.sign_in(db, username="nurse", password=PASSWORD).username == "nurse"


def test_adding_a_user_with_a_weak_password_says_why_beside_it(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    users = _dialog(qtbot, make_ctx, staff, host)
    add = NewUserDialog(make_ctx(staff.admin), users)
    add.on_done = users._after
    add.show()
    add.username.setText("nora")
    add.full_name.setText("Nora Nurse")
    add.passwords.password.setText("password123")
    add.passwords.repeat.setText("password123")
    before = _audit(db)
    add.submit()
    assert "most commonly used" in add.errors.message("password")
    assert _audit(db) == before
    add.passwords.password.setText("lighthouse pebble ferry")
    add.passwords.repeat.setText("lighthouse pebble fery")
    add.submit()
    assert "differ" in add.errors.message("repeat")
    add.passwords.repeat.setText("lighthouse pebble ferry")
    add.submit()
    qtbot.waitUntil(lambda: users.model.find(lambda a: a.username == "nora") is not None)
    assert auth.sign_in(db, username="nora", password="lighthouse pebble ferry").full_name == "Nora Nurse"


def test_disabling_the_last_administrator_is_refused_and_nothing_is_written(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    dialog = _dialog(qtbot, make_ctx, staff, host)
    _select(dialog, "admin")
    assert dialog.disable_button.text() == "Disable…"
    before = _audit(db)
    dialog.disable_button.click()
    from b12desk.ui.widgets import ReasonDialog

    reason = next(d for d in dialog.findChildren(ReasonDialog) if d.isVisible())
    reason.reason.setText("testing")
    reason.ok_button.click()
    box = _open_box(dialog)
    assert "only active administrator" in box.text()
    assert _audit(db) == before and _staff(db, "admin").active


def test_only_administrators_may_open_it(qtbot: QtBot, make_ctx: MakeContext, staff: Staffing) -> None:
    for who, enabled in ((staff.nurse, False), (staff.manager, False), (staff.admin, True)):
        window = MainWindow(make_ctx(who))
        qtbot.addWidget(window)
        assert window.users_action.isEnabled() is enabled
        if not enabled:
            assert "Only an administrator" in window.users_action.toolTip()
        assert window.change_password_action.isEnabled()  # everyone changes their own


def test_changing_my_password_checks_the_current_one(
    qtbot: QtBot, db: Database, make_ctx: MakeContext, staff: Staffing, host: QWidget
) -> None:
    dialog = ChangePasswordDialog(make_ctx(staff.nurse), host)
    dialog.show()
    dialog.current.setText("not my password")
    dialog.passwords.password.setText("quiet river morning")
    dialog.passwords.repeat.setText("quiet river morning")
    dialog.submit()
    assert "current password is wrong" in dialog.errors.message("current_password")
    dialog.current.setText(PASSWORD)
    dialog.submit()
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert auth.sign_in(db, username="nurse", password="quiet river morning").username == "nurse"
