"""Labels on screen and on paper: a preview of the PDF, the layout and start position, then Print… (to the
printer chosen in a QPrintDialog, the last one remembered) or Save PDF….

Pages are rendered from the PDF itself (QtPdf) onto the printer at its resolution, so what prints is what
the preview showed and what `b12desk labels` writes.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRect, QSize, QSizeF, Qt
from PySide6.QtGui import QPageLayout, QPageSize, QPainter
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtPrintSupport import QPrintDialog, QPrinter, QPrinterInfo
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.exports.labels import LAYOUTS, LabelError, write_labels
from b12desk.services import label_data
from b12desk.services.common import Actor, ServiceError
from b12desk.ui import settings
from b12desk.ui.context import AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.widgets import MessageLabel, resize_within_screen, show_message


class PrintError(RuntimeError):
    """The printer could not take the job; the text says so."""


def print_pdf(document: QPdfDocument, printer: QPrinter) -> int:
    """Each page of the PDF onto the printer, at the printer's resolution and the PDF's page size;
    returns the number of pages sent."""
    pages = document.pageCount()
    if pages == 0:
        raise PrintError("There is nothing to print.")
    first = document.pagePointSize(0)
    printer.setFullPage(True)
    printer.setPageLayout(
        QPageLayout(
            QPageSize(QSizeF(first.width(), first.height()), QPageSize.Unit.Point),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
        )
    )
    painter = QPainter()
    if not painter.begin(printer):
        raise PrintError("The printer did not accept the job: check it is on and has labels in it.")
    try:
        dpi = printer.resolution()
        for page in range(pages):
            if page:
                printer.newPage()
            size = document.pagePointSize(page)
            pixels = QSize(round(size.width() / 72 * dpi), round(size.height() / 72 * dpi))
            image = document.render(page, pixels)
            painter.drawImage(QRect(0, 0, pixels.width(), pixels.height()), image)
    finally:
        painter.end()
    return pages


# What a label dialog prints: a kind, and the record ids it is read from.
LABEL_KINDS: dict[str, tuple[str, Callable[..., Any]]] = {
    "syringe": ("Syringe label", label_data.syringe_label),
    "vial": ("Opened-vial label", label_data.vial_label),
    "card": ("Patient dose card", label_data.dose_card),
    "lot": ("Lot label", label_data.lot_label),
    "shelf": ("Shelf label", label_data.shelf_label),
}


class PdfPrintDialog(QDialog):
    """A PDF previewed as it will print, then Print… or Save PDF…. Subclasses say how the PDF is built
    (`build_pdf`, run on the database worker) and may add controls to `bar`."""

    default_name = "b12desk.pdf"

    def __init__(self, ctx: AppContext, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(f"{title} — print")
        self.pdf = QByteArray()
        self.pages = 0
        self._buffer: QBuffer | None = None
        self.document = QPdfDocument(self)
        self.view = QPdfView()
        self.view.setDocument(self.document)
        self.view.setPageMode(QPdfView.PageMode.MultiPage)
        self.view.setZoomMode(QPdfView.ZoomMode.FitInView)
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.message = MessageLabel()
        self.print_button = QPushButton("Print…")
        self.print_button.setDefault(True)
        self.save_button = QPushButton("Save PDF…")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.print_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.bar = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.addLayout(self.bar)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        resize_within_screen(self, 760, 720)
        self.print_button.clicked.connect(lambda: self.print_pdf())
        self.save_button.clicked.connect(lambda: self.save_pdf())

    def pdf_job(self) -> Callable[[Session, Actor], tuple[bytes, int]]:
        """What builds the PDF and counts its pages on the database worker, with what the screen says now
        taken here, on the GUI thread (the worker never touches a widget)."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.pages} page{'s' if self.pages != 1 else ''}."

    def rebuild(self) -> None:
        """Read the data as it is now and draw it, on the worker; the preview follows."""
        job = self.pdf_job()
        run_op(self, self.ctx, job, self._built, self._refused, quiet=True, title=self.windowTitle())

    def _built(self, result: tuple[bytes, int]) -> None:
        data, self.pages = result
        self.pdf = QByteArray(data)
        self.document.close()
        self._buffer = QBuffer(self)
        self._buffer.setData(self.pdf)
        self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self.document.load(self._buffer)
        self.summary.setText(self.describe())
        self.message.show_text("")
        self.print_button.setEnabled(True)
        self.save_button.setEnabled(True)

    def _refused(self, failure: OpFailure) -> None:
        self.message.show_text(failure.message)
        self.print_button.setEnabled(False)
        self.save_button.setEnabled(False)

    def print_pdf(self, printer: QPrinter | None = None) -> int:
        """Print to `printer`, or to the one chosen in the print dialog (the last one used is offered)."""
        if self.document.pageCount() == 0:
            return 0
        if printer is None:
            printer = QPrinter(QPrinter.PrinterMode.HighResolution)
            last = settings.get(settings.LAST_PRINTER)
            if last and any(p.printerName() == last for p in QPrinterInfo.availablePrinters()):
                printer.setPrinterName(last)
            dialog = QPrintDialog(printer, self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return 0
            settings.put(settings.LAST_PRINTER, printer.printerName())
        try:
            pages = print_pdf(self.document, printer)
        except PrintError as exc:
            show_message(self, "Printing", str(exc))
            return 0
        self.summary.setText(f"Sent {pages} page{'s' if pages != 1 else ''} to the printer.")
        return pages

    def save_pdf(self, path: Path | None = None) -> Path | None:
        if path is None:
            name, _filter = QFileDialog.getSaveFileName(self, "Save as PDF", self.default_name, "PDF (*.pdf)")
            if not name:
                return None
            path = Path(name)
        try:
            path.write_bytes(bytes(self.pdf.data()))
        except OSError as exc:
            why = exc.strerror or str(exc)
            show_message(self, "Save PDF", f"Cannot write {path}: {why}. Choose another folder.")
            return None
        self.summary.setText(f"Saved {path}.")
        return path


class LabelPrintDialog(PdfPrintDialog):
    """The labels previewed as they will print; the sheet (or roll) and start position chosen first."""

    default_name = "labels.pdf"

    def __init__(self, ctx: AppContext, kind: str, ids: Sequence[int], parent: QWidget | None = None) -> None:
        title, self._read = LABEL_KINDS[kind]
        super().__init__(ctx, title, parent)
        self.kind = kind
        self.ids = tuple(ids)
        self.layout_choice = QComboBox()
        for sheet in LAYOUTS.values():
            self.layout_choice.addItem(sheet.title, sheet.name)
        remembered = settings.get(settings.LABEL_LAYOUT)
        self.layout_choice.setCurrentIndex(max(0, self.layout_choice.findData(remembered)))
        self.start = QSpinBox()
        self.start.setToolTip("On a partly used sheet: the first free label, 1 = top-left, along the rows.")
        self.start.setPrefix("start at label ")
        self.bar.addWidget(QLabel("Labels"))
        self.bar.addWidget(self.layout_choice, 1)
        self.bar.addWidget(self.start)
        self.layout_choice.currentIndexChanged.connect(lambda _i: self._layout_changed())
        self.start.valueChanged.connect(lambda _v: self.rebuild())
        self._layout_changed()

    def current_layout(self) -> Any:
        return LAYOUTS[self.layout_choice.currentData()]

    def _layout_changed(self) -> None:
        layout = self.current_layout()
        self.start.blockSignals(True)
        self.start.setRange(1, layout.per_page)
        self.start.setEnabled(layout.per_page > 1)
        self.start.blockSignals(False)
        settings.put(settings.LABEL_LAYOUT, layout.name)
        self.rebuild()

    def pdf_job(self) -> Callable[[Session, Actor], tuple[bytes, int]]:
        layout, start, ids, read = self.current_layout(), self.start.value(), self.ids, self._read

        def build(session: Session, actor: Actor) -> tuple[bytes, int]:
            labels = [read(session, actor, i) for i in ids]
            out = io.BytesIO()
            try:
                pages = write_labels(out, labels, layout, start)
            except LabelError as exc:  # text that cannot fit legibly: said, never cut
                raise ServiceError(str(exc)) from None
            return out.getvalue(), pages

        return build

    def describe(self) -> str:
        n = len(self.ids)
        return (
            f"{n} label{'s' if n != 1 else ''} on {self.pages} page{'s' if self.pages != 1 else ''} "
            f"of {self.current_layout().title}."
        )


class RecordPrintDialog(PdfPrintDialog):
    """A patient's treatment record: plans and their verification, every dose, labs with trends,
    corrections struck through, signature lines. Each one made is recorded in the audit trail."""

    def __init__(self, ctx: AppContext, patient_id: int, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "Treatment record", parent)
        self.patient_id = patient_id
        self.default_name = "treatment-record.pdf"
        self.rebuild()

    def pdf_job(self) -> Callable[[Session, Actor], tuple[bytes, int]]:
        from b12desk.exports.patient_report import write_patient_record
        from b12desk.services.patient_record import patient_record

        patient_id = self.patient_id

        def build(session: Session, actor: Actor) -> tuple[bytes, int]:
            record = patient_record(session, actor, patient_id)
            out = io.BytesIO()
            pages = write_patient_record(out, record, signer=actor.full_name)
            return out.getvalue(), pages

        return build

    def rebuild(self) -> None:
        run_op(
            self,
            self.ctx,
            self.pdf_job(),
            self._built,
            self._refused,
            write=True,  # the export is audited, in the same transaction as the read
            quiet=True,
            title=self.windowTitle(),
        )


__all__ = [
    "LABEL_KINDS",
    "LabelError",
    "LabelPrintDialog",
    "PdfPrintDialog",
    "PrintError",
    "RecordPrintDialog",
    "print_pdf",
]
