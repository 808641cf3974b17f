"""Labels from the screens: the give-dose screen offers the syringe label once a dose is saved, the log
prints it for any dose given, opening a vial offers its label; the preview follows the layout and start
position; printing sends the PDF's pages to the printer (a PDF-file printer here) at their size."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from b12desk.data.db import Database
from b12desk.data.models import AuditEvent
from b12desk.exports.labels import LAYOUTS
from b12desk.services import patients
from b12desk.ui import settings
from b12desk.ui.printing import LabelPrintDialog, RecordPrintDialog
from tests.conftest import Staffing
from tests.ui.conftest import MakeContext
from tests.ui.test_administration import Clinic, clinic_world, give_dose_flow, make_tab  # noqa: F401


def _pdfinfo(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def _dialogs(host: QWidget) -> list[LabelPrintDialog]:
    return [d for d in host.findChildren(LabelPrintDialog) if d.isVisible()]


def test_the_give_dose_screen_offers_the_syringe_label_which_prints_at_its_sheets_size(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    clinic_world: Clinic,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings.put(settings.LABEL_LAYOUT, "a4-21")
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    administration_id = give_dose_flow(qtbot, tab, clinic_world)
    [offered] = _dialogs(host)  # offered as soon as the dose is saved: one click from printing
    assert offered.kind == "syringe" and offered.ids == (administration_id,)
    assert offered.pages == 1 and offered.document.pageCount() == 1
    assert offered.print_button.isEnabled() and "1 label on 1 page" in offered.summary.text()

    # Printed to a PDF-file printer: the page count and the sheet's size.
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printed = tmp_path / "printed.pdf"
    printer.setOutputFileName(str(printed))
    assert offered.print_pdf(printer) == 1
    info = _pdfinfo(printed)
    assert info["Pages"] == "1"
    width, _x, height = info["Page size"].split()[:3]
    assert (round(float(width)), round(float(height))) == (595, 842)  # A4 in points

    # A partly used sheet: the label at position 21 and a roll layout; each remembered for next time.
    offered.start.setValue(21)
    assert offered.pages == 1
    offered.layout_choice.setCurrentIndex(offered.layout_choice.findData("roll-57x32"))
    assert not offered.start.isEnabled() and offered.pages == 1
    assert settings.get(settings.LABEL_LAYOUT) == "roll-57x32"
    roll = tmp_path / "roll.pdf"
    printer.setOutputFileName(str(roll))
    assert offered.print_pdf(printer) == 1
    width, _x, height = _pdfinfo(roll)["Page size"].split()[:3]
    layout = LAYOUTS["roll-57x32"]
    assert (round(float(width)), round(float(height))) == (
        round(layout.page_width),
        round(layout.page_height),
    )
    saved = offered.save_pdf(tmp_path / "saved.pdf")
    assert saved is not None and saved.read_bytes().startswith(b"%PDF") and _pdfinfo(saved)["Pages"] == "1"
    offered.close()

    # From the log: the same label for the dose selected; off for a row that is not a dose given.
    assert tab.select_log_row(administration_id)
    assert tab.label_button.isEnabled()
    again = tab.print_syringe_label()
    assert isinstance(again, LabelPrintDialog) and again.ids == (administration_id,)
    again.close()


def test_a_label_that_cannot_be_read_says_why_and_prints_nothing(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    clinic_world: Clinic,  # noqa: F811
) -> None:
    dialog = LabelPrintDialog(make_ctx(staff.nurse), "syringe", [999_999], parent=host)
    dialog.show()
    assert dialog.message.text() and "999999" in dialog.message.text().replace(",", "")
    assert not dialog.print_button.isEnabled() and not dialog.save_button.isEnabled()
    assert dialog.print_pdf(QPrinter()) == 0


@pytest.mark.parametrize("layout", ["a4-21", "letter-30"])
def test_two_labels_from_the_last_position_of_a_sheet_take_two_pages(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    clinic_world: Clinic,  # noqa: F811
    layout: str,
) -> None:
    dialog = LabelPrintDialog(make_ctx(staff.nurse), "lot", [clinic_world.good_lot_id] * 2, parent=host)
    dialog.show()
    dialog.layout_choice.setCurrentIndex(dialog.layout_choice.findData(layout))
    assert dialog.pages == 1
    dialog.start.setValue(LAYOUTS[layout].per_page)
    assert dialog.pages == 2 and dialog.document.pageCount() == 2
    assert "2 labels on 2 pages" in dialog.summary.text()


def test_a_patients_treatment_record_is_previewed_from_their_history_and_its_export_audited(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    db: Database,
    clinic_world: Clinic,  # noqa: F811
    tmp_path: Path,
) -> None:
    from b12desk.ui.history_dialog import HistoryDialog

    with db.sessions() as s:
        row = next(r for r in patients.roster(s, staff.nurse) if r.id == clinic_world.patient_id)
    history = HistoryDialog(make_ctx(staff.nurse), row, parent=host)
    history.show()
    record = history.print_record()
    assert isinstance(record, RecordPrintDialog)
    assert record.pages >= 1 and record.document.pageCount() == record.pages
    saved = record.save_pdf(tmp_path / "record.pdf")
    assert saved is not None
    text = subprocess.run(["pdftotext", str(saved), "-"], capture_output=True, text=True, check=True).stdout
    assert "OKAFOR, Grace" in text and "Verified by" in text and f"Page 1 of {record.pages}" in text
    with db.sessions() as s:
        exports = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "export", AuditEvent.entity == "patient")
        ).all()
        assert [e.entity_id for e in exports] == [str(clinic_world.patient_id)]
