"""Users and roles (administrators): accounts with their role, whether they are disabled or locked out,
and the actions on them; and Change my password, for everyone. Every rule (the last administrator, the
password rules) is the auth service's: this screen shows what it decided."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.clock import system_utcnow as utcnow
from b12desk.domain.enums import Role
from b12desk.domain.permissions import Permission, role_can
from b12desk.services import auth
from b12desk.services.auth import StaffAccount
from b12desk.services.common import Actor
from b12desk.ui.context import AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.table_model import Column, RowsModel, bold_font
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    ReasonDialog,
    confirm,
    format_local_time,
    resize_within_screen,
    setup_record_table,
    show_message,
)

ROLE_TEXT = {
    Role.NURSE: "Nurse",
    Role.PHARMACIST: "Pharmacist",
    Role.MANAGER: "Manager",
    Role.ADMIN: "Administrator",
}
NO_ACCESS = "Only an administrator manages users and roles."
RED = QColor("#b00020")
GREY = QColor("#6b6b6b")


def _sign_in_text(account: StaffAccount, now: datetime) -> str:
    if account.locked(now):
        return f"Locked until {format_local_time(account.locked_until)}"
    if account.failed_sign_ins:
        return f"{account.failed_sign_ins} wrong password{'s' if account.failed_sign_ins != 1 else ''}"
    return ""


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class AccountsModel(RowsModel[StaffAccount]):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.now = utcnow()
        self.columns = (
            Column(
                "User", lambda a: a.username, font=lambda a: bold_font() if a.role == Role.ADMIN else None
            ),
            Column("Full name", lambda a: a.full_name),
            Column("Role", lambda a: ROLE_TEXT[a.role]),
            Column(
                "Account",
                lambda a: "Active" if a.active else "Disabled",
                foreground=lambda a: None if a.active else GREY,
            ),
            Column(
                "Sign-in",
                lambda a: _sign_in_text(a, self.now),
                foreground=lambda a: RED if a.locked(self.now) else None,
            ),
        )

    def set_rows(self, rows: Any) -> None:
        self.now = utcnow()
        super().set_rows(rows)

    def row_id(self, row: StaffAccount) -> int | None:
        return row.id


class _PasswordFields:
    """A new password typed twice; the two must agree before the service sees it."""

    def __init__(self, form: QFormLayout, errors: FieldErrors, label: str = "New password") -> None:
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName(label)
        self.password.setPlaceholderText(f"at least {auth.MIN_PASSWORD_LENGTH} characters; a few words")
        self.repeat = QLineEdit()
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat.setAccessibleName("Repeat the password")
        errors.add_row(form, "password", label, self.password)
        errors.add_row(form, "repeat", "Repeat it", self.repeat)
        self.errors = errors

    def value(self) -> str | None:
        if self.password.text() != self.repeat.text():
            self.errors.show({"repeat": "The two passwords differ: type the same one twice."})
            return None
        return self.password.text()


class _FormDialog(DiscardGuard, QDialog):
    """A small form whose Save runs one service call on the worker; field errors show beside fields."""

    def __init__(self, ctx: AppContext, parent: QWidget, title: str, action_text: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setMinimumWidth(460)
        self.ctx = ctx
        self.errors = FieldErrors()
        self.layout_ = QVBoxLayout(self)
        self.form = QFormLayout()
        self.layout_.addLayout(self.form)
        self.error = ErrorLabel()
        self.layout_.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.addButton(action_text, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        self.on_done: Callable[[object], None] | None = None

    def finish_layout(self) -> None:
        self.layout_.addWidget(self.buttons)
        self.mark_clean()

    def call(self, op: Callable[[Session, Actor], object]) -> None:
        self.ok_button.setEnabled(False)
        run_op(self, self.ctx, op, self._done, self._refused, write=True, changes=("staff",))

    def _done(self, result: object) -> None:
        self.mark_clean()
        if self.on_done is not None:
            self.on_done(result)
        self.accept()

    def _refused(self, failure: OpFailure) -> None:
        self.ok_button.setEnabled(True)
        if failure.fields:
            unclaimed = self.errors.show(failure.fields)
            self.error.set_error("\n".join(unclaimed.values()))
        else:
            self.error.set_error(failure.message)

    def submit(self) -> None:
        raise NotImplementedError


class NewUserDialog(_FormDialog):
    def __init__(self, ctx: AppContext, parent: QWidget) -> None:
        super().__init__(ctx, parent, "Add user", "Add user")
        self.username = QLineEdit()
        self.username.setPlaceholderText("e.g. nora.nurse")
        self.full_name = QLineEdit()
        self.full_name.setPlaceholderText("as it should appear in records")
        self.role = QComboBox()
        for role in (Role.NURSE, Role.PHARMACIST, Role.MANAGER, Role.ADMIN):
            self.role.addItem(ROLE_TEXT[role], role)
        self.errors.add_row(self.form, "username", "User name", self.username)
        self.errors.add_row(self.form, "full_name", "Full name", self.full_name)
        self.errors.add_row(self.form, "role", "Role", self.role)
        self.passwords = _PasswordFields(self.form, self.errors, "Password")
        note = _note(
            "Hand the password over in person. Each person signs in with their own account: what they "
            "record carries their name."
        )
        self.layout_.addWidget(note)
        self.finish_layout()

    def submit(self) -> None:
        password = self.passwords.value()
        if password is None:
            return
        username, full_name, role = self.username.text(), self.full_name.text(), self.role.currentData()
        self.call(
            lambda s, actor: auth.create_user(
                s, actor, username=username, full_name=full_name, role=role, password=password
            )
        )


class RoleDialog(_FormDialog):
    def __init__(self, ctx: AppContext, parent: QWidget, account: StaffAccount) -> None:
        super().__init__(ctx, parent, f"Change the role of {account.username}", "Change role")
        self.account = account
        self.role = QComboBox()
        for role in (Role.NURSE, Role.PHARMACIST, Role.MANAGER, Role.ADMIN):
            self.role.addItem(ROLE_TEXT[role], role)
        self.role.setCurrentIndex(self.role.findData(account.role))
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why, for the audit trail")
        self.form.addRow("Now", QLabel(f"{account.full_name}: {ROLE_TEXT[account.role]}"))
        self.errors.add_row(self.form, "role", "New role", self.role)
        self.errors.add_row(self.form, "reason", "Reason", self.reason)
        self.finish_layout()

    def submit(self) -> None:
        username, role, reason = self.account.username, self.role.currentData(), self.reason.text()
        self.call(lambda s, actor: auth.set_role(s, actor, username=username, role=role, reason=reason))


class ResetPasswordDialog(_FormDialog):
    def __init__(self, ctx: AppContext, parent: QWidget, account: StaffAccount) -> None:
        super().__init__(ctx, parent, f"Reset the password of {account.username}", "Reset password")
        self.account = account
        self.form.addRow("Account", QLabel(f"{account.username} ({account.full_name})"))
        self.passwords = _PasswordFields(self.form, self.errors)
        self.layout_.addWidget(_note("This also lifts a lockout. Hand the password over in person."))
        self.finish_layout()

    def submit(self) -> None:
        password = self.passwords.value()
        if password is None:
            return
        username = self.account.username
        self.call(lambda s, actor: auth.reset_password(s, actor, username=username, new_password=password))


class ChangePasswordDialog(_FormDialog):
    """File > Change my password…: anyone, their own, proving the current one first."""

    def __init__(self, ctx: AppContext, parent: QWidget) -> None:
        super().__init__(ctx, parent, "Change my password", "Change password")
        self.current = QLineEdit()
        self.current.setEchoMode(QLineEdit.EchoMode.Password)
        self.current.setAccessibleName("Current password")
        self.form.addRow("Signed in", QLabel(f"{ctx.actor.full_name} ({ctx.actor.username})"))
        self.errors.add_row(self.form, "current_password", "Current password", self.current)
        self.passwords = _PasswordFields(self.form, self.errors)
        self.finish_layout()
        self.on_done = self._changed

    def submit(self) -> None:
        password = self.passwords.value()
        if password is None:
            return
        current = self.current.text()
        self.call(
            lambda s, actor: auth.change_own_password(
                s, actor, current_password=current, new_password=password
            )
        )

    def _changed(self, _result: object) -> None:
        parent = self.parentWidget()
        if parent is not None:
            show_message(
                parent, "Change my password", "Your password was changed.", QMessageBox.Icon.Information
            )


class UsersDialog(QDialog):
    """Every account, with what an administrator may do to the one selected."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Users and roles")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        intro = _note(
            f"After {auth.MAX_FAILED_SIGN_INS} wrong passwords in a row an account is locked for "
            f"{int(auth.LOCKOUT_STEPS[0].total_seconds() // 60)} minutes, longer each time after. "
            "There is always at least one active administrator."
        )
        layout.addWidget(intro)
        self.model = AccountsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_record_table(self.table)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(self.change_role)
        layout.addWidget(self.table, 1)
        self.status = ErrorLabel()
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add user…")
        self.add_button.clicked.connect(self.add_user)
        self.role_button = QPushButton("Change role…")
        self.role_button.clicked.connect(self.change_role)
        self.disable_button = QPushButton("Disable…")
        self.disable_button.clicked.connect(self.toggle_active)
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.clicked.connect(self.unlock)
        self.reset_button = QPushButton("Reset password…")
        self.reset_button.clicked.connect(self.reset_password)
        for button in (self.add_button, self.role_button, self.disable_button, self.unlock_button):
            row.addWidget(button)
        row.addWidget(self.reset_button)
        row.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        row.addWidget(close)
        layout.addLayout(row)
        resize_within_screen(self, 860, 480)
        self._selection_changed()
        self.refresh()

    # --- data ---------------------------------------------------------------------------------------------

    def refresh(self, select_id: int | None = None) -> None:
        selected = self.model.selected(self.table)
        keep = select_id if select_id is not None else (selected.id if selected else None)
        run_op(self, self.ctx, auth.list_accounts, lambda rows: self._show(rows, keep), self._failed)

    def _show(self, rows: list[StaffAccount], select_id: int | None) -> None:
        self.model.set_rows(rows)
        for column in range(self.model.columnCount() - 1):
            self.table.resizeColumnToContents(column)
        if select_id is not None:
            found = self.model.find(lambda a: a.id == select_id)
            if found is not None:
                self.table.selectRow(found)
        self._selection_changed()

    def _failed(self, failure: OpFailure) -> None:
        self.status.set_error(failure.message)

    def selected(self) -> StaffAccount | None:
        return self.model.selected(self.table)

    def _selection_changed(self, *_args: object) -> None:
        account = self.selected()
        now = utcnow()
        for button in (self.role_button, self.disable_button, self.reset_button):
            button.setEnabled(account is not None)
        self.unlock_button.setEnabled(
            account is not None and (account.locked(now) or account.failed_sign_ins > 0)
        )
        self.disable_button.setText("Enable…" if account is not None and not account.active else "Disable…")

    # --- actions ------------------------------------------------------------------------------------------

    def _after(self, result: object) -> None:
        self.status.set_error("")
        self.refresh(getattr(result, "id", None))

    def add_user(self) -> None:
        dialog = NewUserDialog(self.ctx, self)
        dialog.on_done = self._after
        dialog.open()

    def change_role(self, *_args: object) -> None:
        account = self.selected()
        if account is None:
            return
        dialog = RoleDialog(self.ctx, self, account)
        dialog.on_done = self._after
        dialog.open()

    def reset_password(self) -> None:
        account = self.selected()
        if account is None:
            return
        dialog = ResetPasswordDialog(self.ctx, self, account)
        dialog.on_done = self._after
        dialog.open()

    def toggle_active(self) -> None:
        account = self.selected()
        if account is None:
            return
        username = account.username
        change = auth.disable_user if account.active else auth.enable_user
        if account.active:
            title, action = f"Disable {username}", "Disable"
            prompt = (
                f"{account.full_name} will no longer be able to sign in; what they recorded keeps their "
                "name. Why?"
            )
        else:
            title, action = f"Enable {username}", "Enable"
            prompt = f"{account.full_name} may sign in again. Why?"

        def submit(session: Session, actor: Actor, reason: str) -> object:
            return change(session, actor, username=username, reason=reason)

        dialog = ReasonDialog(
            self, self.ctx, title=title, prompt=prompt, action_text=action, submit=submit, changes=("staff",)
        )
        dialog.finished.connect(self._reason_closed)
        dialog.open()

    def _reason_closed(self, _code: int) -> None:
        self.refresh()

    def unlock(self) -> None:
        account = self.selected()
        if account is None:
            return
        username = account.username
        confirm(
            self,
            "Unlock account",
            f"Unlock {username} ({account.full_name})? Do this once you know the wrong passwords were "
            "theirs.",
            "Unlock",
            lambda: run_op(
                self,
                self.ctx,
                lambda s, actor: auth.unlock_user(s, actor, username=username),
                self._after,
                self._failed,
                write=True,
                changes=("staff",),
            ),
        )


def users_action(window: QWidget, ctx: AppContext) -> QAction:
    """Tools > Users and roles…: enabled for administrators, greyed with the reason for others."""
    action = QAction("&Users and roles…", window)
    if role_can(ctx.actor.role, Permission.MANAGE_STAFF):
        action.setStatusTip("Add users, change roles, disable, unlock, reset passwords")
    else:
        action.setEnabled(False)
        action.setStatusTip(NO_ACCESS)
        action.setToolTip(NO_ACCESS)

    def open_users() -> None:
        UsersDialog(ctx, parent=window).open()

    action.triggered.connect(open_users)
    return action


def change_password_action(window: QWidget, ctx: AppContext) -> QAction:
    action = QAction("Change my &password…", window)
    action.setStatusTip("Change the password you sign in with")

    def open_change() -> None:
        ChangePasswordDialog(ctx, window).open()

    action.triggered.connect(open_change)
    return action
