"""What every window of a signed-in session shares: the database, who is signed in, and the change signal."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from b12desk.clock import Clock
from b12desk.data.db import Database
from b12desk.services.common import Actor

# What a "data changed" notification names; each tab decides whether it cares. The one list of topics.
PATIENTS = "patients"
LABS = "labs"
PLANS = "plans"  # any plan write: the roster shows regimen, phase and next due
TEMPLATES = "templates"  # a template or the clinic's open days
STOCK = "stock"  # products, lots, vials
DOSES = "doses"  # a dose recorded or corrected
CLINIC = "clinic"  # clinic settings: time zone, sites, dose-safety limits


class DataBus(QObject):
    """One signal, emitted after every successful write, saying which kind of data changed."""

    changed = Signal(str)

    def notify(self, what: str) -> None:
        self.changed.emit(what)


@dataclass
class AppContext:
    db: Database
    actor: Actor
    demo: bool
    bus: DataBus
    clock: Clock  # the clinic's time zone, read at sign-in; "today" on every screen is the clinic's day

    def describe_db(self) -> str:
        return self.db.describe()
