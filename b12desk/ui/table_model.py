"""One read-only table model for lists of plain rows: each column says what it shows and how it looks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView

T = TypeVar("T")
_ModelIndex = QModelIndex | QPersistentModelIndex

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the row object itself (a service dataclass)
ROW_ID_ROLE = Qt.ItemDataRole.UserRole + 2  # its database id, where it has one
FIRST_FREE_ROLE = Qt.ItemDataRole.UserRole + 3  # where a model's own roles start

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
TOP_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop


def bold_font() -> QFont:
    font = QFont()
    font.setBold(True)
    return font


@dataclass(frozen=True)
class Column(Generic[T]):
    """A column's header, its text, and optionally its alignment, tooltip, colour and font per row."""

    header: str
    display: Callable[[T], str]
    align: Qt.AlignmentFlag | None = None  # None: the view's default
    tooltip: Callable[[T], str | None] | None = None
    foreground: Callable[[T], QColor | None] | None = None
    background: Callable[[T], QColor | None] | None = None
    font: Callable[[T], QFont | None] | None = None


class RowsModel(QAbstractTableModel, Generic[T]):
    """Read-only rows in the order given; subclasses list their columns and may override the looks.

    The per-cell hooks (tooltip, foreground, background, font) default to the column's functions, so a
    model whose look depends on the whole row overrides the hook once instead of repeating it per column.
    """

    columns: Sequence[Column[T]] = ()
    text_tooltips = False  # True: a cell without its own tooltip shows its text (long text is cut off)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[T] = []

    def set_rows(self, rows: Sequence[T]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, i: int) -> T:
        return self._rows[i]

    def rows(self) -> list[T]:
        return list(self._rows)

    def selected(self, view: QAbstractItemView) -> T | None:
        """The row selected in a single-selection view of this model, if any."""
        rows = view.selectionModel().selectedRows()
        return self._rows[rows[0].row()] if rows else None

    def find(self, match: Callable[[T], bool]) -> int | None:
        """The first row for which match is true."""
        return next((i for i, r in enumerate(self._rows) if match(r)), None)

    # --- per-model looks, overridable ------------------------------------------------------------------

    def row_id(self, row: T) -> int | None:
        return None

    def tooltip(self, row: T, column: int) -> str | None:
        col = self.columns[column]
        if col.tooltip is not None:
            return col.tooltip(row)
        return col.display(row) if self.text_tooltips else None

    def foreground(self, row: T, column: int) -> QColor | None:
        f = self.columns[column].foreground
        return f(row) if f is not None else None

    def background(self, row: T, column: int) -> QColor | None:
        f = self.columns[column].background
        return f(row) if f is not None else None

    def font(self, row: T, column: int) -> QFont | None:
        f = self.columns[column].font
        return f(row) if f is not None else None

    def extra(self, row: T, column: int, role: int) -> Any:
        """A model's own roles (from FIRST_FREE_ROLE on)."""
        return None

    # --- QAbstractTableModel ---------------------------------------------------------------------------

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[column].display(row)
        if role == ROW_ROLE:
            return row
        if role == ROW_ID_ROLE:
            return self.row_id(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            align = self.columns[column].align
            return int(align) if align is not None else None
        if role in (Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole):
            hook = self.foreground if role == Qt.ItemDataRole.ForegroundRole else self.background
            colour = hook(row, column)
            return QBrush(colour) if colour is not None else None
        if role == Qt.ItemDataRole.FontRole:
            return self.font(row, column)
        return self.extra(row, column, role)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self.columns):
            return self.columns[section].header
        return None

    def flags(self, index: _ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren


@dataclass(frozen=True)
class SortColumn(Column[T]):
    """A column of a table that sorts itself: what to sort on, its width, and aligned left by default."""

    align: Qt.AlignmentFlag | None = LEFT
    sort_key: Callable[[T], Any] | None = None  # None: sort by the displayed text
    width: int = 100


class SortedRowsModel(RowsModel[T]):
    """Rows that sort themselves on precomputed keys when a header is clicked.

    Until then the rows keep the order they were given in (the service's: by expiry, newest first, ...).
    Headers are aligned like their column.
    """

    columns: Sequence[SortColumn[T]] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._given: list[T] = []
        self._order: list[int] = []  # the given rows' indices in the shown order
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    def set_rows(self, rows: Sequence[T]) -> None:
        self.beginResetModel()
        self._given = list(rows)
        self._arrange()
        self.endResetModel()

    def _arrange(self) -> None:
        self._order = list(range(len(self._given)))
        if 0 <= self._sort_column < len(self.columns):
            column = self.columns[self._sort_column]
            key = column.sort_key or column.display
            keys = [key(r) for r in self._given]
            descending = self._sort_order == Qt.SortOrder.DescendingOrder
            self._order.sort(key=keys.__getitem__, reverse=descending)
        self._rows = [self._given[i] for i in self._order]

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        given = [self._order[p.row()] if p.isValid() else -1 for p in persistent]
        self._sort_column, self._sort_order = column, order
        self._arrange()
        position = {src: row for row, src in enumerate(self._order)}
        new = [
            self.index(position[src], p.column()) if src in position else QModelIndex()
            for p, src in zip(persistent, given, strict=True)
        ]
        self.changePersistentIndexList(persistent, new)
        self.layoutChanged.emit()

    def row_id(self, row: T) -> int | None:
        return getattr(row, "id", None)

    def row_of_id(self, row_id: int) -> int | None:
        return self.find(lambda r: self.row_id(r) == row_id)

    def text(self, row: int, column: int) -> str:
        return self.columns[column].display(self._rows[row])

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.TextAlignmentRole and 0 <= section < len(self.columns):
            align = self.columns[section].align
            return int(align) if align is not None else None
        return super().headerData(section, orientation, role)
