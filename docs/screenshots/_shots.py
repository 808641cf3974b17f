"""What the screenshot scripts share: a fresh work folder with its own settings, and grabbing a screen
once everything asked of the database worker has reached it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

OUT = Path(__file__).resolve().parent


def prepare(prefix: str) -> Path:
    """A fresh work folder; Qt offscreen unless told otherwise; settings and backups kept in the folder.
    Call it before Qt or b12desk.ui is imported."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["B12DESK_DATA_DIR"] = str(work / "data")
    return work


def settle(timeout: float = 120.0) -> None:
    """Let every database operation asked for finish and reach the screen, then let Qt lay it out."""
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from b12desk.ui.worker import all_workers

    app = QApplication.instance()
    assert app is not None
    for _ in range(3):
        app.processEvents()
    deadline = monotonic() + timeout
    while not all(w.idle() for w in all_workers()):
        if monotonic() > deadline:
            raise TimeoutError(f"database operations still running after {timeout:.0f} s")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    for _ in range(3):
        app.processEvents()


def save(widget: QWidget, name: str) -> None:
    settle()
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
