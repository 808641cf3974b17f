"""Every user setting in one typed registry (key, type, default, description), stored with QSettings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from PySide6.QtCore import QByteArray, QSettings

from b12desk.data.db import data_dir
from b12desk.data.private_files import private_file

T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    key: str
    type: type[T]
    default: T
    description: str


MAIN_WINDOW_GEOMETRY: Setting[QByteArray] = Setting(
    "main_window/geometry", QByteArray, QByteArray(), "Size and position of the main window."
)
ROSTER_HEADER_STATE: Setting[QByteArray] = Setting(
    # v2: the columns were reordered (priority first); a saved v1 layout would put them under wrong titles.
    "roster/header_state_v2",
    QByteArray,
    QByteArray(),
    "Roster column widths, order and sort column.",
)
ROSTER_STATUS_FILTER: Setting[str] = Setting(
    "roster/status_filter",
    str,
    "active",
    "Which patients the roster lists: active, due today or overdue, archived or all.",
)

LABEL_LAYOUT: Setting[str] = Setting(
    "labels/layout", str, "a4-21", "The label sheet or roll last printed on (a4-21, letter-30, roll-57x32)."
)
LAST_PRINTER: Setting[str] = Setting("labels/printer", str, "", "The printer labels were last sent to.")
IDLE_LOCK_MINUTES: Setting[int] = Setting(
    # Per workstation: a screen in a consulting room and one at a public front desk need different times.
    "security/idle_lock_minutes",
    int,
    5,
    "Minutes without keyboard or mouse input before this workstation's screen locks (1 to 60).",
)

REGISTRY: tuple[Setting[Any], ...] = (
    MAIN_WINDOW_GEOMETRY,
    ROSTER_HEADER_STATE,
    ROSTER_STATUS_FILTER,
    LABEL_LAYOUT,
    LAST_PRINTER,
    IDLE_LOCK_MINUTES,
)


def _store() -> QSettings:
    # An INI file in the per-user data folder rather than the platform registry: B12DESK_DATA_DIR then
    # keeps a portable install (and every test) self-contained.
    return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)


def get(setting: Setting[T]) -> T:
    value = _store().value(setting.key, setting.default)
    if isinstance(value, setting.type):
        return value
    try:
        converted: T = cast(Any, setting.type)(value)  # QSettings returns strings from INI files
    except (TypeError, ValueError):
        return setting.default
    return converted


def put(setting: Setting[T], value: T) -> None:
    store = _store()
    store.setValue(setting.key, value)
    store.sync()
    private_file(Path(store.fileName()))  # window geometry is harmless, but the folder is private
