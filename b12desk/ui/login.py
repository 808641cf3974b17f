"""Sign-in: user name and password checked by the auth service; demo accounts listed in demo mode only."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from b12desk.clock import Clock
from b12desk.data.db import Database
from b12desk.domain.enums import Role
from b12desk.services import auth
from b12desk.services.auth import SignInAttempt
from b12desk.services.common import Actor
from b12desk.services.startup import DEMO_PASSWORD
from b12desk.ui.ops import OpFailure, run_db
from b12desk.ui.preload import sign_in_op
from b12desk.ui.widgets import ErrorLabel

ROLE_LABELS = {"nurse": "Nurse", "pharmacist": "Pharmacist", "manager": "Manager", "admin": "Administrator"}
USERNAME_ROLE = Qt.ItemDataRole.UserRole + 1


class LoginDialog(QDialog):
    def __init__(
        self,
        db: Database,
        *,
        demo: bool,
        username: str = "",
        error: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.db = db
        self.actor: Actor | None = None
        self.clock: Clock | None = None
        self.setWindowTitle("Sign in — b12desk")

        title = QLabel("b12desk")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel("Vitamin B12 injection desk")
        subtitle.setObjectName("muted")
        database = QLabel(f"Database: {db.describe()}")
        database.setObjectName("muted")
        database.setWordWrap(True)
        database.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.username = QLineEdit(username)
        self.username.setPlaceholderText("your user name")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        self.error = ErrorLabel()
        self.error.setObjectName("inlineError")
        self.error.set_error(error)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.sign_in_button = buttons.addButton("Sign in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.sign_in_button.setDefault(True)
        buttons.accepted.connect(self.try_sign_in)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addSpacing(6)
        layout.addWidget(database)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addWidget(self.error)
        self.demo_users: QListWidget | None = None
        if demo:
            layout.addWidget(self._demo_panel())
        layout.addWidget(buttons)
        self.setMinimumWidth(440)
        (self.password if username else self.username).setFocus()

    def _demo_panel(self) -> QGroupBox:
        panel = QGroupBox(f"Demo database: practice accounts, password: {DEMO_PASSWORD}")
        panel.setObjectName("demoPanel")
        self.demo_explain = explain = QLabel(
            "Synthetic patients only. These accounts exist in the demo database alone, each with the "
            f"password <b>{DEMO_PASSWORD}</b>. Click one to fill it in."
        )
        explain.setWordWrap(True)
        self.demo_users = QListWidget()
        self.demo_users.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.demo_users.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.demo_users.itemClicked.connect(self._demo_user_clicked)
        self.demo_users.itemActivated.connect(self._demo_user_clicked)
        layout = QVBoxLayout(panel)
        layout.addWidget(explain)
        layout.addWidget(self.demo_users)

        def failed(failure: OpFailure) -> None:
            explain.setText(f"The demo accounts could not be listed: {failure.message}")

        run_db(self, self.db, auth.list_staff, self._show_demo_users, failed, quiet=True)
        return panel

    def _show_demo_users(self, staff: list[Actor]) -> None:
        assert self.demo_users is not None
        if sum(1 for person in staff if person.role == Role.PHARMACIST) > 1:
            self.demo_explain.setText(
                self.demo_explain.text() + " A plan one pharmacist writes, the other verifies: nobody "
                "verifies their own."
            )
        for person in staff:
            role = ROLE_LABELS.get(person.role.value, person.role.value)
            item = QListWidgetItem(
                f"{person.username}  –  {role}, {person.full_name}  (password: {DEMO_PASSWORD})"
            )
            item.setData(USERNAME_ROLE, person.username)
            self.demo_users.addItem(item)
        row_height = self.demo_users.sizeHintForRow(0) if staff else self.fontMetrics().height()
        self.demo_users.setFixedHeight(row_height * max(1, len(staff)) + 2 * self.demo_users.frameWidth() + 4)
        self.demo_users.setMinimumWidth(
            self.demo_users.sizeHintForColumn(0) + 2 * self.demo_users.frameWidth() + 8
        )
        if self.isVisible():  # the list came after the window was shown: fit the window to it
            layout = self.layout()
            assert layout is not None
            layout.activate()
            self.resize(max(self.width(), self.minimumSizeHint().width()), 1)  # as wide as the list,
            self.adjustSize()  # as tall as the wrapped text then needs

    def _demo_user_clicked(self, item: QListWidgetItem) -> None:
        self.username.setText(item.data(USERNAME_ROLE))
        self.password.setText(DEMO_PASSWORD)  # demo mode only: the shared practice password
        self.error.set_error("")
        self.sign_in_button.setFocus()

    def try_sign_in(self) -> None:
        self.sign_in_button.setEnabled(False)  # one attempt at a time (argon2 takes a moment)
        # A writer: a sign-in may upgrade the stored password hash.
        run_db(
            self,
            self.db,
            sign_in_op(self.username.text(), self.password.text()),
            self._signed_in,
            self._refused,
            write=True,
            quiet=True,
        )

    def _signed_in(self, result: tuple[SignInAttempt, Clock]) -> None:
        attempt, clock = result
        if attempt.actor is None:  # refused: the failure was committed (counted and audited)
            self._refuse(attempt.message)
            return
        self.actor, self.clock = attempt.actor, clock
        self.accept()

    def _refused(self, failure: OpFailure) -> None:
        self._refuse(failure.message)

    def _refuse(self, message: str) -> None:
        self.sign_in_button.setEnabled(True)
        self.error.set_error(message)
        self._fit_height()  # a lockout message takes three lines: show all of them
        self.password.clear()
        self.password.setFocus()

    def _fit_height(self) -> None:
        layout = self.layout()
        if layout is None:
            return
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        self.resize(self.width(), max(self.height(), needed))
