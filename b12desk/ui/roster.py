"""The roster tab: every patient in one table, filtered and sorted inside the model for 20,000+ rows."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import CAUSE_LABELS, Cause
from b12desk.services import patients
from b12desk.services.common import Actor
from b12desk.services.patients import PatientDetail, RosterRow
from b12desk.ui import settings
from b12desk.ui.context import DOSES, PATIENTS, PLANS, AppContext
from b12desk.ui.ops import on_future, run_op
from b12desk.ui.style import ERROR_RED, WARNING_AMBER
from b12desk.ui.widgets import ReasonDialog, setup_record_table, text_width

PATIENT_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ARCHIVED_ROLE = Qt.ItemDataRole.UserRole + 2
ROSTER_ROW_ROLE = Qt.ItemDataRole.UserRole + 3

STATUS_ACTIVE = "active"
STATUS_DUE = "due"
STATUS_ARCHIVED = "archived"
STATUS_ALL = "all"
STATUS_FILTERS = {
    STATUS_ACTIVE: "Active",
    STATUS_DUE: "Due today or overdue",
    STATUS_ARCHIVED: "Archived",
    STATUS_ALL: "All",
}

ARCHIVED_GREY = QColor("#7a7a7a")
_ModelIndex = QModelIndex | QPersistentModelIndex


def fold(text: str) -> str:
    """Case- and accent-insensitive form for search: 'José' and 'jose' are the same."""
    text = text.casefold()
    if text.isascii():
        return text
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def search_key(mrn: str, family: str, given: str) -> str:
    """Every word a search word may start: the MRN and each name word, with the parts of a hyphenated
    or apostrophed name and the name run together ("O'Brien-Smith": o'brien-smith, o, brien, smith,
    obriensmith), each after a space, so that a search is `" " + word in key`."""
    words: list[str] = []
    for word in fold(f"{mrn} {family} {given}").split():
        words.append(word)
        parts = [p for p in re.split(r"[-'’.]", word) if p]
        if len(parts) > 1:
            words.extend(parts)
            words.append("".join(parts))
    return " " + " ".join(words)


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class Column:
    title: str
    display: Callable[[RosterRow, date], str]
    sort_key: Callable[[RosterRow, date], Any]
    sample: str  # text the column is sized to show; longer values are elided, with a tooltip
    align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft


def _due_key(r: RosterRow, _t: date) -> tuple[bool, int]:
    return (r.next_due is None, r.next_due.toordinal() if r.next_due else 0)


DUE_LATER, DUE_NOW, DUE_OVERDUE = 0, 1, 2  # nothing due yet (or no plan), due now, past its window
DUE_WORDS = {DUE_NOW: "due", DUE_OVERDUE: "overdue"}
OVERDUE_RED = QColor(ERROR_RED)
_BOLD = QFont()
_BOLD.setBold(True)
DUE_AMBER = QColor(WARNING_AMBER)


def due_state(r: RosterRow, today: date) -> int:
    """As the Administration tab's due list says it: due from its date, overdue once its window has
    passed (archived patients are never due)."""
    if r.archived or r.next_due is None or r.next_due > today:
        return DUE_LATER
    if r.next_due_window_end is not None and r.next_due_window_end < today:
        return DUE_OVERDUE
    return DUE_NOW


def due_text(r: RosterRow, today: date) -> str:
    """The date with a word that survives a selected row and colour blindness: 'today', 'due', 'overdue'."""
    if r.next_due is None:
        return ""
    state = due_state(r, today)
    if state == DUE_LATER:
        return r.next_due.isoformat()
    word = "today" if state == DUE_NOW and r.next_due == today else DUE_WORDS[state]
    return f"{r.next_due.isoformat()} · {word}"


_SHORTER = (
    ("Hydroxocobalamin", "Hydroxo"),
    ("Cyanocobalamin", "Cyano"),
    ("neurological involvement", "neuro"),
    ("with neuro", "+ neuro"),
    ("monthly after bariatric surgery", "bariatric, monthly"),
    ("after bariatric surgery", "post-bariatric"),
    ("common US practice", "US practice"),
    ("optic atrophy and tobacco amblyopia", "/ amblyopia"),
)


def short_regimen(name: str) -> str:
    """A regimen's name short enough for its column (the full name is the cell's tooltip): the source in
    brackets and anything after a colon left out, the long drug words abbreviated."""
    text = re.sub(r"\s*\([^)]*\)", "", name).split(":")[0].strip()
    for long, short in _SHORTER:
        text = text.replace(long, short)
    if len(text) <= SHORT_REGIMEN_CHARS:
        return text
    cut = text[: SHORT_REGIMEN_CHARS - 1]
    return cut[: cut.rfind(" ")].rstrip(" ,") + "…"  # at a word's end


SHORT_REGIMEN_CHARS = 34

# The columns a clinic needs first come first (at 1024 px they fit with no scrolling); the last one
# stretches to the window's edge.
COLUMNS: tuple[Column, ...] = (
    Column("MRN", lambda r, _t: r.mrn, lambda r, _t: r.mrn, "DEMO0000000"),
    Column(
        "Family name",
        lambda r, _t: r.family_name,
        lambda r, _t: (fold(r.family_name), fold(r.given_name)),
        "Worthington-Smythe",  # most family names whole; longer ones elide, with a tooltip
    ),
    Column(
        "Given name",
        lambda r, _t: r.given_name,
        lambda r, _t: (fold(r.given_name), fold(r.family_name)),
        "Given name ▲",
    ),
    Column(
        "Date of birth",
        lambda r, _t: r.date_of_birth.isoformat(),
        lambda r, _t: r.date_of_birth.toordinal(),
        "Date of birth",
    ),
    Column(
        "Age",
        lambda r, t: str(age_on(r.date_of_birth, t)),
        lambda r, t: age_on(r.date_of_birth, t),
        "Age ▲",
        align=Qt.AlignmentFlag.AlignRight,
    ),
    Column("Next due", due_text, _due_key, "2026-12-01 · overdue__"),  # bold when due: wider
    Column(
        "Status", lambda r, _t: "Archived" if r.archived else "Active", lambda r, _t: r.archived, "Archived"
    ),
    Column("Phase", lambda r, _t: r.phase.capitalize(), lambda r, _t: r.phase, "Maintenance"),
    Column(
        "Regimen",
        lambda r, _t: short_regimen(r.regimen),
        lambda r, _t: fold(r.regimen),
        "Cyano 1,000 mcg bariatric, monthly__",  # the longest shipped one, whole
    ),
    Column(
        "Neuro",
        lambda r, _t: "Yes" if r.neuro_involvement else "No",
        lambda r, _t: r.neuro_involvement,
        "Neuro",
    ),
    Column(
        "Cause",
        lambda r, _t: CAUSE_LABELS[r.cause],
        lambda r, _t: CAUSE_LABELS[r.cause],
        "Medication: nitrous oxide",
    ),
)
COL_MRN, COL_FAMILY, COL_GIVEN, COL_DOB, COL_AGE, COL_NEXT_DUE = range(6)
COL_STATUS, COL_PHASE, COL_REGIMEN, COL_NEURO, COL_CAUSE = range(6, 11)
TOOLTIP_COLUMNS = frozenset({COL_FAMILY, COL_GIVEN, COL_CAUSE})  # can be longer than their column
_ALIGNMENTS = tuple(int(c.align | Qt.AlignmentFlag.AlignVCenter) for c in COLUMNS)  # data() asks often
_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren


@dataclass(frozen=True)
class PreparedRoster:
    """Rows with their folded search keys and their order by one column: built by `prepare_roster` off
    the GUI thread (with the read, on the database worker), so that showing them is a swap."""

    rows: list[RosterRow]
    today: date
    search_keys: list[str]
    sort_column: int
    sort_keys: list[Any]
    order: list[int]  # every row, sorted by sort_column ascending


def prepare_roster(rows: Sequence[RosterRow], today: date, sort_column: int) -> PreparedRoster:
    rows = list(rows)
    search_keys = [search_key(r.mrn, r.family_name, r.given_name) for r in rows]
    key = COLUMNS[sort_column].sort_key
    sort_keys = [key(r, today) for r in rows]
    order = sorted(range(len(rows)), key=sort_keys.__getitem__)
    return PreparedRoster(rows, today, search_keys, sort_column, sort_keys, order)


class RosterModel(QAbstractTableModel):
    """Rows in `_rows`; what the view sees is `_visible`, a list of indices into them.

    Search keys are folded once on load and each column's sort keys once on first use, so a keystroke
    is a few list comprehensions over ints and short strings rather than millions of calls to data().
    """

    def __init__(self, today: date, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[RosterRow] = []
        self._search_keys: list[str] = []
        self._sort_keys: dict[int, list[Any]] = {}
        self._order: list[int] = []  # every row, in the current sort order
        self._visible: list[int] = []  # the rows that pass the filters, in sort order
        self._today = today
        self._sort_column = COL_FAMILY
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._words: list[str] = []
        self._status = STATUS_ACTIVE
        self._cause: Cause | None = None
        self._base: list[int] | None = None  # _order through the status and cause filters (no words)

    # --- loading, filtering, sorting -------------------------------------------------------------------

    def set_rows(self, rows: Sequence[RosterRow], today: date | None = None) -> None:
        self.set_prepared(prepare_roster(rows, today or self._today, self._sort_column))

    def set_prepared(self, prepared: PreparedRoster) -> None:
        """Show rows prepared elsewhere (prepare_roster); the current sort and filters apply."""
        self.beginResetModel()
        self._rows = prepared.rows
        self._today = prepared.today
        self._search_keys = prepared.search_keys
        self._sort_keys = {prepared.sort_column: prepared.sort_keys}
        if prepared.sort_column == self._sort_column and self._sort_order == Qt.SortOrder.AscendingOrder:
            self._order = prepared.order
        else:  # sorted otherwise meanwhile, or descending
            self._order = self._sorted_order()
        self._base = None
        self._visible = self._filtered()
        self.endResetModel()

    def sort_column(self) -> int:
        return self._sort_column

    def set_search(self, text: str) -> None:
        words = fold(text).split()
        if words == self._words:
            return
        previous, self._words = self._words, words
        if (
            previous
            and len(words) >= len(previous)
            and all(
                new.startswith(old) if i == len(previous) - 1 else new == old
                for i, (old, new) in enumerate(zip(previous, words, strict=False))
            )
        ):
            # Typing on: every row that matches now matched before, so only the rows shown are searched.
            keys, shown = self._search_keys, self._visible
            starts = [" " + w for w in words]  # each word starts a name word or the MRN
            self._relayout(lambda: [i for i in shown if all(s in keys[i] for s in starts)])
            return
        self._refilter()

    def set_status_filter(self, status: str) -> None:
        if status not in STATUS_FILTERS:
            raise ValueError(f"unknown status filter {status!r}")
        if status != self._status:
            self._status = status
            self._base = None
            self._refilter()

    def set_cause_filter(self, cause: Cause | None) -> None:
        if cause != self._cause:
            self._cause = cause
            self._base = None
            self._refilter()

    def _refilter(self) -> None:
        """A new filter: the rows that stay keep their selection, and the view only re-lays out (no
        reset of the scroll position, header and selection, which cost most of a keystroke)."""
        self._relayout(self._filtered)

    def _relayout(self, compute: Callable[[], list[int]]) -> None:
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        sources = [
            self._visible[p.row()] if p.isValid() and p.row() < len(self._visible) else -1 for p in persistent
        ]
        self._visible = compute()
        if persistent:
            position = {src: row for row, src in enumerate(self._visible)}
            new = [
                self.index(position[src], p.column()) if src in position else QModelIndex()
                for p, src in zip(persistent, sources, strict=True)
            ]
            self.changePersistentIndexList(persistent, new)
        self.layoutChanged.emit()

    def _filtered(self) -> list[int]:
        if self._base is None:
            rows = self._order
            if self._status == STATUS_DUE:
                data, today = self._rows, self._today
                rows = [i for i in rows if due_state(data[i], today) != DUE_LATER]
            elif self._status != STATUS_ALL:
                want_archived = self._status == STATUS_ARCHIVED
                data = self._rows
                rows = [i for i in rows if data[i].archived == want_archived]
            if self._cause is not None:
                cause, data = self._cause, self._rows
                rows = [i for i in rows if data[i].cause == cause]
            self._base = rows
        rows = self._base
        keys = self._search_keys
        for word in self._words:
            start = " " + word  # the start of a name word or of the MRN, not anywhere inside one
            rows = [i for i in rows if start in keys[i]]
        return rows

    def _keys_for(self, column: int) -> list[Any]:
        keys = self._sort_keys.get(column)
        if keys is None:
            key, today = COLUMNS[column].sort_key, self._today
            keys = self._sort_keys[column] = [key(r, today) for r in self._rows]
        return keys

    def _sorted_order(self) -> list[int]:
        keys = self._keys_for(self._sort_column)
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        return sorted(range(len(self._rows)), key=keys.__getitem__, reverse=descending)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self._sort_column, self._sort_order = column, order

        def resorted() -> list[int]:
            self._order = self._sorted_order()
            self._base = None
            return self._filtered()

        self._relayout(resorted)

    # --- queries ---------------------------------------------------------------------------------------

    def sort_state(self) -> tuple[int, Qt.SortOrder]:
        return self._sort_column, self._sort_order

    def total_count(self) -> int:
        return len(self._rows)

    def visible_count(self) -> int:
        return len(self._visible)

    def due_counts(self) -> tuple[int, int]:
        """(due now, overdue) among every patient, whatever the filters."""
        states = [due_state(r, self._today) for r in self._rows]
        return states.count(DUE_NOW), states.count(DUE_OVERDUE)

    def roster_row(self, row: int) -> RosterRow:
        return self._rows[self._visible[row]]

    def row_of_patient(self, patient_id: int) -> int | None:
        for row, src in enumerate(self._visible):
            if self._rows[src].id == patient_id:
                return row
        return None

    # --- QAbstractTableModel ---------------------------------------------------------------------------

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._visible):
            return None
        r = self._rows[self._visible[index.row()]]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.display(r, self._today)
        if role == PATIENT_ID_ROLE:
            return r.id
        if role == ARCHIVED_ROLE:
            return r.archived
        if role == ROSTER_ROW_ROLE:
            return r
        if role == Qt.ItemDataRole.ForegroundRole:
            if r.archived:
                return QBrush(ARCHIVED_GREY)
            if index.column() == COL_NEXT_DUE:
                state = due_state(r, self._today)
                return QBrush(OVERDUE_RED if state == DUE_OVERDUE else DUE_AMBER) if state else None
            return None
        if role == Qt.ItemDataRole.FontRole and index.column() == COL_NEXT_DUE and due_state(r, self._today):
            return _BOLD
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _ALIGNMENTS[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            if index.column() in TOOLTIP_COLUMNS:
                return column.display(r, self._today) or None
            if index.column() == COL_REGIMEN:
                return r.regimen or None
            if index.column() == COL_NEXT_DUE and r.next_due is not None and r.next_due_window_end:
                return f"Next dose due {r.next_due}; overdue after {r.next_due_window_end}"
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section].title
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(COLUMNS[section].align | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: _ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return _ROW_FLAGS


class RosterTab(QWidget):
    """Search, filter and act on patients; the services decide what each signed-in role may do."""

    first_painted = Signal()  # the roster has been drawn with its rows (start-up timing)
    loaded = Signal()  # the rows have arrived from the database
    due_counts_changed = Signal(str)  # e.g. "Due: 4 · overdue: 2", for the status bar

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = RosterModel(ctx.clock.today(), self)
        self._painted = False
        self._has_rows = False  # the first paint that counts for start-up timing shows the rows

        self.search = QLineEdit()
        self.search.setPlaceholderText("Start of names or MRN, e.g. adams ana")
        self.search.setClearButtonEnabled(True)
        self.status_filter = QComboBox()
        for key, label in STATUS_FILTERS.items():
            self.status_filter.addItem(label, key)
        self.cause_filter = QComboBox()
        self.cause_filter.addItem("All causes", None)
        for cause, label in CAUSE_LABELS.items():
            self.cause_filter.addItem(label, cause)
        self.count_label = QLabel()
        self.count_label.setObjectName("muted")

        filters = QHBoxLayout()
        filters.addWidget(QLabel("Search:"))
        filters.addWidget(self.search, 3)
        filters.addSpacing(12)
        filters.addWidget(QLabel("Show:"))
        filters.addWidget(self.status_filter)
        filters.addSpacing(12)
        filters.addWidget(QLabel("Cause:"))
        filters.addWidget(self.cause_filter, 1)
        filters.addSpacing(12)
        filters.addWidget(self.count_label)

        self.table = QTableView()
        self.table.setModel(self.model)
        setup_record_table(self.table)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        # Fixed row heights, and widths from sample text: "resize to contents" would measure 20,000 rows.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        for i, column in enumerate(COLUMNS):
            self.table.setColumnWidth(i, text_width(self.table, column.sample))
        header.setSortIndicator(COL_FAMILY, Qt.SortOrder.AscendingOrder)
        saved = settings.get(settings.ROSTER_HEADER_STATE)
        if not saved.isEmpty():
            header.restoreState(saved)
        self.table.setSortingEnabled(True)  # sorts the model by the header's indicator
        self.table.viewport().installEventFilter(self)

        self.add_button = QPushButton("Add patient…")
        self.edit_button = QPushButton("Edit…")
        self.labs_button = QPushButton("Labs…")
        self.history_button = QPushButton("History…")
        self.plans_button = QPushButton("Plans…")
        self.archive_button = QPushButton("Archive…")
        buttons = QHBoxLayout()
        for b in (
            self.add_button,
            self.edit_button,
            self.labs_button,
            self.plans_button,
            self.history_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.archive_button)

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

        status = settings.get(settings.ROSTER_STATUS_FILTER)
        self.status_filter.setCurrentIndex(max(0, self.status_filter.findData(status)))
        self.model.set_status_filter(self.status_filter.currentData())

        # Keystrokes are coalesced: the filter runs once for all the keys typed before the event loop
        # comes round again (a 0 ms timer), so a fast typist never waits for a filter per key.
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(0)
        self._search_timer.timeout.connect(self.apply_search)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.status_filter.currentIndexChanged.connect(self._status_changed)
        self.cause_filter.currentIndexChanged.connect(self._cause_changed)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_count)
        self.model.layoutChanged.connect(self._update_count)
        self.table.doubleClicked.connect(lambda _i: self.edit_selected())
        self.add_button.clicked.connect(self.add_patient)
        self.edit_button.clicked.connect(self.edit_selected)
        self.labs_button.clicked.connect(self.open_labs)
        self.history_button.clicked.connect(self.open_history)
        self.plans_button.clicked.connect(self.open_plans)
        self.archive_button.clicked.connect(self.archive_or_restore)
        ctx.bus.changed.connect(self._data_changed)
        self._update_buttons()
        self._update_count()

    # --- loading and filters ---------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the roster again (on the database worker), keeping the filters, sort and selection."""
        if not self.model.total_count():
            self.count_label.setText("Loading patients…")
        today, column = self.ctx.clock.today(), self.model.sort_column()

        def read(session: Session, actor: Actor) -> PreparedRoster:
            return prepare_roster(patients.roster(session, actor), today, column)  # all off the GUI thread

        run_op(self, self.ctx, read, self._loaded, quiet=True, title="Roster")

    def show_preloaded(self, rows: Future[list[RosterRow]]) -> None:
        """The first rows, read at start-up while the window was being built (ui.preload)."""
        self.count_label.setText("Loading patients…")
        today, column = self.ctx.clock.today(), self.model.sort_column()
        on_future(
            self,
            rows,
            lambda rows: self._loaded(prepare_roster(rows, today, column)),
            lambda _failure: self.reload(),
            title="Roster",
        )

    def _loaded(self, prepared: PreparedRoster) -> None:
        self._has_rows = True
        keep = self.selected_patient_id()
        self.model.set_prepared(prepared)
        self._reselect(keep)
        due, overdue = self.model.due_counts()
        self.due_counts_changed.emit(
            f"Due: {due:,} · overdue: {overdue:,}" if due or overdue else "Nobody due"
        )
        self.loaded.emit()

    def _data_changed(self, what: str) -> None:
        # A plan or a dose changes the regimen, phase and next due columns.
        if what in (PATIENTS, PLANS, DOSES):
            self.reload()

    def apply_search(self) -> None:
        """Filter by what the search box says now (the coalescing timer calls this)."""
        self._search_timer.stop()
        keep = self.selected_patient_id()
        self.model.set_search(self.search.text())
        self._reselect(keep)

    def _status_changed(self) -> None:
        keep = self.selected_patient_id()
        status = self.status_filter.currentData()
        self.model.set_status_filter(status)
        settings.put(settings.ROSTER_STATUS_FILTER, status)
        self._reselect(keep)

    def _cause_changed(self) -> None:
        keep = self.selected_patient_id()
        self.model.set_cause_filter(self.cause_filter.currentData())
        self._reselect(keep)

    def _reselect(self, patient_id: int | None) -> None:
        row = self.model.row_of_patient(patient_id) if patient_id is not None else None
        if row is not None:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))
        self._update_buttons()

    def _update_count(self) -> None:
        shown, total = self.model.visible_count(), self.model.total_count()
        noun = "patient" if total == 1 else "patients"
        self.count_label.setText(f"{shown:,} of {total:,} {noun}")

    def _update_buttons(self) -> None:
        row = self.selected_row()
        for b in (
            self.edit_button,
            self.labs_button,
            self.plans_button,
            self.history_button,
            self.archive_button,
        ):
            b.setEnabled(row is not None)
        self.archive_button.setText("Restore…" if row is not None and row.archived else "Archive…")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        painting = event.type() == QEvent.Type.Paint and watched is self.table.viewport()
        if painting and self._has_rows and not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)  # after this paint has finished
        return super().eventFilter(watched, event)

    def save_state(self) -> None:
        settings.put(settings.ROSTER_HEADER_STATE, self.table.horizontalHeader().saveState())

    # --- selection and actions -------------------------------------------------------------------------

    def selected_row(self) -> RosterRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.roster_row(rows[0].row()) if rows else None

    def selected_patient_id(self) -> int | None:
        row = self.selected_row()
        return row.id if row is not None else None

    def select_patient(self, patient_id: int) -> bool:
        self._reselect(patient_id)
        return self.selected_patient_id() == patient_id

    def add_patient(self) -> None:
        from b12desk.ui.patient_dialog import PatientDialog

        dialog = PatientDialog(self.ctx, parent=self)
        dialog.saved.connect(self._reselect_after_save)
        dialog.open()

    def edit_selected(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        run_op(
            self,
            self.ctx,
            lambda s, actor: patients.get_patient(s, actor, row.id),
            self._edit,
            title="Edit patient",
        )

    def _edit(self, detail: PatientDetail) -> None:
        from b12desk.ui.patient_dialog import PatientDialog

        dialog = PatientDialog(self.ctx, detail=detail, parent=self)
        dialog.saved.connect(self._reselect_after_save)
        dialog.open()

    def _reselect_after_save(self, patient_id: int) -> None:
        if self.model.row_of_patient(patient_id) is None and self.search.text():
            self.search.clear()  # a new patient the current search hides: show them anyway
        self._reselect(patient_id)

    def open_labs(self) -> None:
        from b12desk.ui.labs_dialog import LabsDialog

        row = self.selected_row()
        if row is not None:
            LabsDialog(self.ctx, row, parent=self).open()

    def open_history(self) -> None:
        from b12desk.ui.history_dialog import HistoryDialog

        row = self.selected_row()
        if row is not None:
            HistoryDialog(self.ctx, row, parent=self).open()

    def open_plans(self) -> None:
        from b12desk.ui.plans import PatientPlansDialog  # loaded when first used

        row = self.selected_row()
        if row is not None:
            PatientPlansDialog(self.ctx, row.id, parent=self).open()

    def archive_or_restore(self) -> ReasonDialog | None:
        row = self.selected_row()
        if row is None:
            return None
        archive = not row.archived
        who = f"{row.family_name.upper()}, {row.given_name} ({row.mrn})"

        def submit(session: Session, actor: Actor, reason: str) -> object:
            return patients.set_archived(session, actor, row.id, archived=archive, reason=reason)

        if archive:
            dialog = ReasonDialog(
                self,
                self.ctx,
                changes=(PATIENTS,),
                title="Archive patient",
                prompt=f"Archive {who}? The record is kept and can be restored. Why is it archived?",
                action_text="Archive",
                submit=submit,
                placeholder="e.g. moved away, treatment finished, deceased",
            )
        else:
            dialog = ReasonDialog(
                self,
                self.ctx,
                changes=(PATIENTS,),
                title="Restore patient",
                prompt=f"Bring {who} back onto the active roster? Why?",
                action_text="Restore",
                submit=submit,
                placeholder="e.g. returned to the clinic",
            )
        dialog.open()
        return dialog
