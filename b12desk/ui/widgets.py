"""Small shared pieces: inline field errors, non-blocking message boxes, the reason-for-change dialog."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from b12desk.domain.dates import read_date

if TYPE_CHECKING:
    from b12desk.ui.ops import OpFailure

INVALID_PROPERTY = "invalid"


class ErrorLabel(QLabel):
    """A red message under a field; takes no space while there is nothing to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fieldError")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def set_error(self, message: str) -> None:
        self.setText(message)
        self.setVisible(bool(message))


class ElidedLabel(QLabel):
    """One line that gives way when space is short: cut with "…", the whole text in its tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setMinimumWidth(40)
        self.setToolTip(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle, rect.width())
        painter.drawText(rect, int(self.alignment()), text)


class MessageLabel(QLabel):
    """A message over a whole list or form (a service's refusal, say); hidden while there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("formSummary")
        self.setWordWrap(True)
        self.hide()

    def show_text(self, text: str) -> None:
        self.setText(text)
        self.setVisible(bool(text))


def mark_invalid(widget: QWidget, invalid: bool) -> None:
    """Highlight a field through the style sheet's [invalid="true"] rule."""
    if bool(widget.property(INVALID_PROPERTY)) == invalid:
        return
    widget.setProperty(INVALID_PROPERTY, invalid)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


class FieldErrors:
    """Which widget and error label belong to each field name a service may report on."""

    def __init__(self) -> None:
        self._fields: dict[str, tuple[QWidget, ErrorLabel]] = {}

    def add(self, name: str, widget: QWidget, label: ErrorLabel) -> None:
        """Register a field; its message goes as soon as the field is edited (not at the next save)."""
        self._fields[name] = (widget, label)
        edited = _edited_signal(widget)
        if edited is not None:
            edited.connect(lambda *_args: self.clear_field(name))

    def clear_field(self, name: str) -> None:
        widget, label = self._fields[name]
        if label.isVisible() or label.text():
            mark_invalid(widget, False)
            label.set_error("")

    def clear(self) -> None:
        for widget, label in self._fields.values():
            mark_invalid(widget, False)
            label.set_error("")

    def show(self, errors: Mapping[str, str]) -> dict[str, str]:
        """Put each message next to its field; return the ones no field claims (shown in the summary)."""
        self.clear()
        claimed = self.in_form_order(errors)
        for name in claimed:
            widget, label = self._fields[name]
            mark_invalid(widget, True)
            label.set_error(errors[name])
        if claimed:
            self._fields[claimed[0]][0].setFocus()
        return {name: message for name, message in errors.items() if name not in self._fields}

    def in_form_order(self, errors: Mapping[str, str]) -> list[str]:
        """The fields with errors, in the order they were added to the form (top to bottom)."""
        return [name for name in self._fields if name in errors]

    def message(self, name: str) -> str:
        label = self._fields[name][1]
        return "" if label.isHidden() else label.text()

    def label(self, name: str) -> ErrorLabel:
        return self._fields[name][1]

    def add_row(self, form: QFormLayout, name: str, text: str, widget: QWidget) -> None:
        """A form row: the field with its error label under it, known by `name`."""
        error = ErrorLabel()
        box = QVBoxLayout()
        box.setSpacing(2)
        box.addWidget(widget)
        box.addWidget(error)
        form.addRow(text, box)
        self.add(name, widget, error)

    def show_failure(
        self, dialog: QWidget, failure: OpFailure, *, unclaimed_field: str | None = None
    ) -> None:
        """A service's refusal beside its fields; what no field claims in a message box (or, with
        `unclaimed_field`, beside that field)."""
        from b12desk.ui.ops import show_failure

        if not failure.fields:
            if unclaimed_field is not None:
                self.show({unclaimed_field: failure.message})
            else:
                show_failure(dialog, failure, dialog.windowTitle())
            return
        unclaimed = self.show(failure.fields)
        if unclaimed:
            show_message(dialog, dialog.windowTitle(), "\n".join(unclaimed.values()))


def _edited_signal(widget: QWidget) -> Any:
    """The signal a person's edit of this kind of field emits (None for a field that is not an input)."""
    if isinstance(widget, QLineEdit):
        return widget.textEdited
    if isinstance(widget, QComboBox):
        return widget.activated
    if isinstance(widget, QAbstractButton) and widget.isCheckable():
        return widget.clicked
    if isinstance(widget, QAbstractSpinBox):
        return widget.editingFinished
    if isinstance(widget, QPlainTextEdit):
        return widget.textChanged
    return None


def form_state(root: QWidget) -> tuple[object, ...]:
    """What a person can have changed in a form: the text, choice or tick of each input under `root`
    (passwords left out). Compared with the state when the form was filled, it says whether closing
    would lose anything."""
    values: list[object] = []
    for w in root.findChildren(QWidget):
        if isinstance(w, QLineEdit):
            if w.echoMode() == QLineEdit.EchoMode.Normal and not w.isReadOnly():
                values.append(w.text())
        elif isinstance(w, QComboBox):
            values.append(w.currentIndex())
        elif isinstance(w, QAbstractButton) and w.isCheckable():
            values.append(w.isChecked())
        elif isinstance(w, QAbstractSpinBox):
            values.append(w.text())
        elif isinstance(w, QPlainTextEdit) and not w.isReadOnly():
            values.append(w.toPlainText())
        elif isinstance(w, QListWidget):  # a list the person builds (dates of doses given elsewhere)
            values.append(tuple(w.item(i).text() for i in range(w.count())))
    return tuple(values)


class DiscardGuard:
    """Mixed into a QDialog: Esc, Cancel or the window's close button on a changed form asks "Discard
    the changes?" first. The dialog calls mark_clean() once it has filled itself in, and again after a
    save it stays open for."""

    _clean_state: tuple[object, ...] | None = None
    discard_prompt: QMessageBox | None = None

    def showEvent(self, event: QShowEvent) -> None:
        if self._clean_state is None:  # as filled in when first shown; a dialog that fills in later
            self.mark_clean()  # calls mark_clean() again then
        super().showEvent(event)  # type: ignore[misc]

    def mark_clean(self) -> None:
        assert isinstance(self, QWidget)
        self._clean_state = form_state(self)

    def has_changes(self) -> bool:
        assert isinstance(self, QWidget)
        return self._clean_state is not None and form_state(self) != self._clean_state

    def reject(self) -> None:
        assert isinstance(self, QDialog)
        if not self.has_changes():
            QDialog.reject(self)
            return
        if self.discard_prompt is not None and self.discard_prompt.isVisible():
            return

        def discard() -> None:
            self._clean_state = None
            QDialog.reject(self)

        self.discard_prompt = confirm(
            self,
            "Discard changes?",
            f"{self.windowTitle()}: what you have entered here has not been saved. Close and lose it?",
            "Discard changes",
            discard,
            no_text="Keep editing",
        )


def show_message(
    parent: QWidget,
    title: str,
    text: str,
    icon: QMessageBox.Icon = QMessageBox.Icon.Warning,
) -> QMessageBox:
    """A window-modal message that does not block the caller (so tests and the event loop carry on)."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def confirm(
    parent: QWidget,
    title: str,
    text: str,
    yes_text: str,
    on_yes: Callable[[], None],
    *,
    no_text: str | None = None,
) -> QMessageBox:
    """Ask before an action that cannot be taken back; `on_yes` runs only for the explicit yes button,
    and the other (Cancel, or `no_text`) is the default."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
    if no_text is None:
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    else:
        box.setDefaultButton(box.addButton(no_text, QMessageBox.ButtonRole.RejectRole))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def clicked(button: QPushButton) -> None:
        if button is yes:
            on_yes()

    box.buttonClicked.connect(clicked)
    box.open()
    return box


class ReasonDialog(QDialog):
    """Asks why (archive, restore, entered-in-error) and hands the reason to a service call.

    `submit(session, actor, reason)` runs on the database worker as a write. A validation message (e.g.
    no reason) shows inline and the dialog stays open; any other refusal, such as a role that may not do
    this, closes it and shows the service's message in a message box.
    """

    def __init__(
        self,
        parent: QWidget,
        ctx: Any,
        *,
        title: str,
        prompt: str,
        action_text: str,
        submit: Callable[..., object],  # (session, actor, reason[, password]) on the worker
        changes: Sequence[str] = (),
        placeholder: str = "",
        ask_password: bool = False,
    ) -> None:
        """ask_password: the act is signed with the signed-in person's password, and `submit` is called
        as submit(session, actor, reason, password)."""
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setMinimumWidth(460)
        self.ctx = ctx
        self._submit = submit
        self._changes = tuple(changes)
        layout = QVBoxLayout(self)
        prompt_label = QLabel(prompt)
        prompt_label.setWordWrap(True)
        layout.addWidget(prompt_label)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText(placeholder)
        layout.addWidget(self.reason)
        self.password: QLineEdit | None = None
        if ask_password:
            self.password = QLineEdit()
            self.password.setEchoMode(QLineEdit.EchoMode.Password)
            self.password.setPlaceholderText("your password, as a signature")
            self.password.setAccessibleName("Password")
            layout.addWidget(QLabel("Password"))
            layout.addWidget(self.password)
        self.error = ErrorLabel()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.addButton(action_text, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _accept(self) -> None:
        from b12desk.ui.ops import run_op

        reason = self.reason.text()
        signed = () if self.password is None else (self.password.text(),)
        run_op(
            self,
            self.ctx,
            lambda session, actor: self._submit(session, actor, reason, *signed),
            lambda _result: self.accept(),
            self._refused,
            write=True,
            changes=self._changes,
        )

    def _refused(self, failure: OpFailure) -> None:
        from b12desk.services.auth import AuthenticationFailed

        if self.password is not None and isinstance(failure.error, AuthenticationFailed):
            self.error.set_error("Wrong password: type your own password again.")
            mark_invalid(self.password, True)
            self.password.clear()
            self.password.setFocus()
            return
        if failure.fields:
            self.error.set_error("\n".join(failure.fields.values()))
            mark_invalid(self.reason, True)
            self.reason.setFocus()
            return
        parent, title = self.parentWidget(), self.windowTitle()  # read before reject() deletes the dialog
        self.reject()
        if parent is not None:
            show_message(parent, title, failure.message)


def setup_record_table(table: QTableView) -> None:
    """Read-only rows, selected whole, one text line high (Qt's default row is roomier than needed)."""
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setHighlightSections(False)


def resize_within_screen(widget: QWidget, width: int, height: int) -> None:
    """The size a window would like, but never more than the screen it opens on has room for (a small
    laptop's 1024 x 700 leaves about 1000 x 650 below the title bar and above the task bar)."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        room = screen.availableGeometry()
        width, height = min(width, room.width() - 24), min(height, room.height() - 48)
    widget.resize(width, height)


def text_width(widget: QWidget, sample: str) -> int:
    """A column width that fits `sample` in the widget's font, with the cell's padding."""
    return widget.fontMetrics().horizontalAdvance(sample) + 18


def format_date(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def format_local_time(value: datetime | None) -> str:
    """Stored times are UTC; people read them in the workstation's zone."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value is not None else ""


def parse_iso_date(text: str, *, example: str = "2026-03-02") -> date | None:
    """'' -> None (the service then asks for the date); otherwise the date, or DateTextError (a
    ValueError) whose text says what is wrong: the shape, or the day the calendar does not have."""
    return read_date(text, example=example) if text.strip() else None


class FitsWrappedText:
    """Mixed into a dialog: on first show, take the height its wrapped labels need at the dialog's width.

    Qt sizes a new dialog from its size hint, which wraps every label at a narrow width, so dialogs with
    long wrapped messages open much taller than they need, with a band of empty space.
    """

    _fitted = False

    def showEvent(self, event: QShowEvent) -> None:
        assert isinstance(self, QWidget)
        super().showEvent(event)  # type: ignore[misc]  # QDialog is next in the MRO
        if not self._fitted:
            self._fitted = True
            self._fit(shrink=True)

    def fit_height(self) -> None:
        """Call after the text changed: grows the dialog once the labels have been laid out again."""
        assert isinstance(self, QWidget)
        QTimer.singleShot(0, self, self._fit)

    def _fit(self, *, shrink: bool = False) -> None:
        assert isinstance(self, QWidget)
        layout = self.layout()
        if layout is None or not layout.hasHeightForWidth():
            return
        needed = layout.totalHeightForWidth(self.width())
        if needed > self.height() or shrink:
            self.resize(self.width(), needed)
