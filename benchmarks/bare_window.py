"""The start-up baseline: a bare PySide6 window showing a database's patients in a 20,000-row table.

    python benchmarks/bare_window.py PATH.sqlite3

Plain sqlite3 reads the patients, a minimal table model holds them, and the time from process start
(B12DESK_T0, set by the launcher just before spawning) to the table's first paint with its rows is
printed as `SHOWN <seconds> rows=<n>`: what any Qt program pays to show such a table.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QTableView

COLUMNS = ("mrn", "family_name", "given_name", "date_of_birth", "sex", "cause", "archived")


class Rows(QAbstractTableModel):
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.rows = rows

    def rowCount(self, parent: Any = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Any = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return str(self.rows[index.row()][index.column()])
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None


class FirstPaint(QObject):
    def __init__(self, app: QApplication, started: float, rows: int) -> None:
        super().__init__()
        self.app, self.started, self.rows, self.done = app, started, rows, False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self.done:
            self.done = True
            QTimer.singleShot(0, self.report)  # after this paint has finished
        return False

    def report(self) -> None:
        print(f"SHOWN {time.time() - self.started:.3f} rows={self.rows}", flush=True)
        self.app.quit()


def main() -> int:
    started = float(os.environ.get("B12DESK_T0", time.time()))
    app = QApplication(["bare-window"])
    with sqlite3.connect(sys.argv[1]) as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM patients ORDER BY family_name").fetchall()
    window = QMainWindow()
    table = QTableView()
    table.setModel(Rows(rows))
    window.setCentralWidget(table)
    window.resize(1200, 700)
    watcher = FirstPaint(app, started, len(rows))
    table.viewport().installEventFilter(watcher)
    window.show()
    QTimer.singleShot(30_000, app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
