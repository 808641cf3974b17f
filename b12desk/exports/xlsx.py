"""A streaming Excel writer: openpyxl write-only sheets with a frozen header, autofilter and widths, and
text that can never become a formula."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from b12desk.services.common import ServiceError

# Text starting with these is what Excel (and LibreOffice, Google Sheets) would read as a formula when
# typed, or as a formula or DDE command in CSV ("=HYPERLINK(...)", "+cmd", "-2+3", "@SUM(...)"); a
# leading tab or carriage return hides such a start from a casual look. OWASP "CSV injection".
FORMULA_STARTS = frozenset("=+-@\t\r")
# Characters that XML 1.0 (and so an .xlsx) cannot hold; openpyxl refuses them with IllegalCharacterError.
_ILLEGAL = frozenset(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)))
_ILLEGAL_TABLE = {ord(c): "\ufffd" for c in _ILLEGAL}
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]").search
EXCEL_MAX_TEXT = 32_767  # characters in one cell
SAMPLE_ROWS = 100  # rows read for the column widths before the sheet's first row is written
MIN_WIDTH, MAX_WIDTH = 8, 60
_HEADER_FONT = Font(bold=True)


class ExportFailed(ServiceError):
    """The workbook could not be written (a folder that does not exist, no permission, a full disk)."""


class ColumnType(StrEnum):
    TEXT = "text"
    INT = "int"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    MIXED = "mixed"  # any of the others, row by row (the parameters sheet's values)


_TYPE_WIDTH = {ColumnType.DATE: 12, ColumnType.DATETIME: 19, ColumnType.BOOL: 8}


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    type: ColumnType = ColumnType.TEXT
    width: float | None = None  # None: from the header and the first rows


def clean_text(value: str) -> str:
    """The text as a cell can hold it: characters XML forbids become U+FFFD, and at most 32,767 of them."""
    if not _ILLEGAL.isdisjoint(value):
        value = value.translate(_ILLEGAL_TABLE)
    if len(value) > EXCEL_MAX_TEXT:
        value = value[: EXCEL_MAX_TEXT - 1] + "…"
    return value


def needs_guard(value: str) -> bool:
    return bool(value) and value[0] in FORMULA_STARTS


def safe_text(ws: Any, value: str) -> Any:
    """A cell value for `value` that is stored as text, never as a formula.

    openpyxl makes any string starting with "=" a formula (data_type "f"). A guarded cell is written with
    data_type "s" (a plain string: no spreadsheet evaluates it) and the quotePrefix style Excel itself
    sets when a user types an apostrophe first, so that editing the cell keeps it text too. The value
    round-trips unchanged (no apostrophe is added to it). Other text is returned as a plain str (the
    fast path: openpyxl stores it as an inline string)."""
    value = clean_text(value)
    if not needs_guard(value):
        return value
    cell = WriteOnlyCell(ws, value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def _text_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, float):
        return len(f"{value:,.3f}".rstrip("0").rstrip("."))
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = str(value)
    return max((len(line) for line in text.splitlines()), default=len(text))


class SheetWriter:
    """One data sheet: header row in bold and frozen, autofilter over the rows written, column widths
    from the header and the first SAMPLE_ROWS rows. Values must already be Excel types: str, int,
    float, Decimal, bool, date, naive datetime (clinic time) or None."""

    def __init__(self, wb: Workbook, title: str, columns: Sequence[Column]) -> None:
        self.ws = wb.create_sheet(title=title[:31])
        self.columns = tuple(columns)
        self._text_indexes = tuple(i for i, c in enumerate(self.columns) if c.type == ColumnType.TEXT)
        self._mixed_indexes = tuple(i for i, c in enumerate(self.columns) if c.type == ColumnType.MIXED)
        self._buffer: list[list[Any]] | None = []
        self.rows = 0

    def append(self, values: Sequence[Any]) -> None:
        """One row; a list given is taken over (its text cells may be replaced by guarded cells)."""
        row = values if values.__class__ is list else list(values)
        ws = self.ws
        starts = FORMULA_STARTS
        texts = []
        for i in self._text_indexes:  # inline: this runs for every text cell of every row
            v = row[i]
            if v.__class__ is not str:
                if v is None:
                    continue
                v = row[i] = str(v)
            if v and v[0] in starts:
                row[i] = safe_text(ws, v)
            else:
                texts.append(v)
        # One search over the row's other text for characters XML forbids, and one length check.
        joined = "\n".join(texts)
        if _FORBIDDEN(joined) is not None or (
            len(joined) > EXCEL_MAX_TEXT and max(map(len, texts)) > EXCEL_MAX_TEXT
        ):
            for i in self._text_indexes:
                v = row[i]
                if v.__class__ is str:
                    row[i] = safe_text(ws, v)
        for i in self._mixed_indexes:
            v = row[i]
            if isinstance(v, str):
                row[i] = safe_text(ws, v)
        self.rows += 1
        if self._buffer is not None:
            self._buffer.append(row)
            if len(self._buffer) >= SAMPLE_ROWS:
                self._start()
        else:
            ws.append(row)

    def extend(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.append(row)

    def _start(self) -> None:
        """Widths and the frozen header go before the first row (write-only sheets stream in order)."""
        buffered, self._buffer = self._buffer or [], None
        ws = self.ws
        for index, column in enumerate(self.columns):
            width = column.width
            if width is None:
                sample = max((_text_width(_plain(r[index])) for r in buffered), default=0)
                width = max(len(column.header) + 2, sample + 2, _TYPE_WIDTH.get(column.type, MIN_WIDTH))
                width = min(max(width, MIN_WIDTH), MAX_WIDTH)
            ws.column_dimensions[get_column_letter(index + 1)].width = width
        ws.freeze_panes = "A2"
        header = []
        for column in self.columns:
            cell = safe_text(ws, column.header)
            if isinstance(cell, str):
                cell = WriteOnlyCell(ws, cell)
            cell.font = _HEADER_FONT
            header.append(cell)
        ws.append(header)
        for row in buffered:
            ws.append(row)

    def close(self) -> int:
        """Flush what is buffered and set the autofilter over header and rows; the rows written."""
        if self._buffer is not None:
            self._start()
        last = get_column_letter(len(self.columns))
        self.ws.auto_filter.ref = f"A1:{last}{self.rows + 1}"
        return self.rows


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Cell) else value


def new_workbook() -> Workbook:
    return Workbook(write_only=True)


def writable_target(path: Path) -> Path:
    """A temporary file beside `path` (so the finished workbook is renamed into place in one step and a
    cancelled or failed export leaves nothing behind); ExportFailed at once if the folder is unwritable."""
    if path.is_dir():
        raise ExportFailed(f"{path} is a folder: give a file name ending in .xlsx.")
    folder = path.parent
    if not folder.is_dir():
        raise ExportFailed(f"Cannot write {path}: the folder {folder} does not exist.")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".xlsx.part", dir=folder)
    except OSError as exc:
        raise ExportFailed(f"Cannot write {path}: {exc.strerror or exc}.") from None
    os.close(fd)
    return Path(name)


def save(wb: Workbook, temporary: Path, path: Path) -> None:
    try:
        wb.save(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ExportFailed(f"Cannot write {path}: {exc.strerror or exc}.") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def discard(wb: Workbook, temporary: Path) -> None:
    """Forget a workbook that will not be saved: its sheets' temporary files and the target's."""
    for ws in wb.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None:
            continue
        with contextlib.suppress(Exception):  # a sheet never written to has no stream to close
            writer.close()
        with contextlib.suppress(Exception):
            writer.cleanup()
    temporary.unlink(missing_ok=True)
