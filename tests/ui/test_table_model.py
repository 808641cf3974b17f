"""The shared read-only table model: headers, texts, looks and roles come from its columns and hooks."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QTableView
from pytestqt.qtbot import QtBot

from b12desk.ui.table_model import (
    LEFT,
    RIGHT,
    ROW_ID_ROLE,
    ROW_ROLE,
    Column,
    RowsModel,
    SortColumn,
    SortedRowsModel,
    bold_font,
)

RED = QColor("#b3261e")


@dataclass(frozen=True)
class Item:
    id: int
    name: str
    count: int


class ItemsModel(RowsModel[Item]):
    columns = (
        Column[Item]("Name", lambda i: i.name, tooltip=lambda i: f"about {i.name}"),
        Column[Item](
            "Count",
            lambda i: f"{i.count:,}",
            RIGHT,
            foreground=lambda i: RED if i.count == 0 else None,
            font=lambda i: bold_font() if i.count == 0 else None,
        ),
    )

    def row_id(self, row: Item) -> int:
        return row.id


def test_columns_give_headers_texts_and_looks(qtbot: QtBot) -> None:
    m = ItemsModel()
    rows = [Item(7, "Vial", 1200), Item(8, "Ampoule", 0)]
    m.set_rows(rows)
    assert (m.rowCount(), m.columnCount()) == (2, 2)
    assert [m.headerData(c, Qt.Orientation.Horizontal) for c in range(2)] == ["Name", "Count"]
    assert m.headerData(0, Qt.Orientation.Vertical) is None
    assert [m.data(m.index(r, 1)) for r in range(2)] == ["1,200", "0"]
    assert m.data(m.index(0, 0), Qt.ItemDataRole.ToolTipRole) == "about Vial"
    assert m.data(m.index(0, 1), Qt.ItemDataRole.ToolTipRole) is None  # no tooltip, text_tooltips off
    assert m.data(m.index(0, 0), Qt.ItemDataRole.TextAlignmentRole) is None
    assert m.data(m.index(0, 1), Qt.ItemDataRole.TextAlignmentRole) == int(RIGHT)
    assert m.data(m.index(0, 1), Qt.ItemDataRole.ForegroundRole) is None
    brush = m.data(m.index(1, 1), Qt.ItemDataRole.ForegroundRole)
    assert isinstance(brush, QBrush) and brush.color() == RED
    font = m.data(m.index(1, 1), Qt.ItemDataRole.FontRole)
    assert isinstance(font, QFont) and font.bold()
    assert m.data(m.index(1, 0), ROW_ROLE) == rows[1]
    assert m.data(m.index(1, 0), ROW_ID_ROLE) == 8
    assert m.row(0) == rows[0] and m.rows() == rows
    assert m.find(lambda i: i.name == "Ampoule") == 1
    assert m.find(lambda i: i.name == "Syringe") is None


def test_text_tooltips_repeat_the_cell_text(qtbot: QtBot) -> None:
    class Plain(RowsModel[Item]):
        columns = (Column[Item]("Name", lambda i: i.name),)
        text_tooltips = True

    m = Plain()
    m.set_rows([Item(1, "A long product name", 1)])
    assert m.data(m.index(0, 0), Qt.ItemDataRole.ToolTipRole) == "A long product name"
    assert m.data(m.index(0, 0), ROW_ID_ROLE) is None
    assert m.data(m.index(5, 0)) is None


def test_selected_is_the_row_selected_in_a_view(qtbot: QtBot) -> None:
    m = ItemsModel()
    m.set_rows([Item(1, "Vial", 1), Item(2, "Ampoule", 2)])
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(m)
    view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    assert m.selected(view) is None
    view.selectRow(1)
    assert m.selected(view) == Item(2, "Ampoule", 2)


class SortedItems(SortedRowsModel[Item]):
    columns = (
        SortColumn[Item]("Name", lambda i: i.name, sort_key=lambda i: i.name.casefold()),
        SortColumn[Item]("Count", lambda i: f"{i.count:,}", RIGHT, sort_key=lambda i: i.count),
    )


def test_sorted_rows_keep_the_given_order_until_sorted_and_follow_a_selection(qtbot: QtBot) -> None:
    m = SortedItems()
    m.set_rows([Item(1, "b", 1200), Item(2, "A", 30), Item(3, "c", 400)])
    assert [i.id for i in m.rows()] == [1, 2, 3]
    assert m.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.TextAlignmentRole) == int(RIGHT)
    assert m.data(m.index(0, 0), Qt.ItemDataRole.TextAlignmentRole) == int(LEFT)
    kept = QPersistentModelIndex(m.index(0, 0))  # the "b" row
    m.sort(1)  # by the count, not by its text ("1,200" < "30")
    assert [i.id for i in m.rows()] == [2, 3, 1]
    assert kept.row() == 2 and m.text(2, 0) == "b"
    m.sort(0, Qt.SortOrder.DescendingOrder)
    assert [i.name for i in m.rows()] == ["c", "b", "A"]
    assert m.row_of_id(2) == 2 and m.data(m.index(2, 0), ROW_ID_ROLE) == 2
    m.set_rows([Item(4, "a", 1), Item(5, "z", 2)])  # a reload keeps the chosen sort
    assert [i.name for i in m.rows()] == ["z", "a"]
