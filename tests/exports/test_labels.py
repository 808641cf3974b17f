"""Labels as PDF: each layout's pages and page size, the start position on a partly used sheet, text shrunk
and never cut, ISMP doses, the GS1 barcodes, and who may print what. The PDFs are read with poppler."""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from b12desk.domain.enums import AdministrationOutcome, Route
from b12desk.domain.gs1 import gtin_check_digit, parse_gs1
from b12desk.exports import labels as lb
from b12desk.services import administrations as adm
from b12desk.services import clinic
from b12desk.services import inventory as inv
from b12desk.services import label_data as ld
from b12desk.services.common import NotFound, PermissionDenied, ValidationFailed
from tests.conftest import Staffing
from tests.services.dose_world import CLOCK, NOW, World, make_world

GTIN = "0501234500012" + str(gtin_check_digit("0501234500012"))


def pdf_text(path: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(
        ["pdftotext", "-layout", *pages, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_info(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


@pytest.fixture
def world(session: Session, staff: Staffing) -> World:
    return make_world(session, staff)


@pytest.fixture
def syringe(world: World) -> ld.SyringeLabel:
    dose = adm.record_dose(world.session, world.staff.nurse, world.request(), clock=CLOCK)
    return ld.syringe_label(world.session, world.staff.nurse, dose.id, clock=CLOCK)


# --- layouts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "size_pts", "per_page"),
    [
        ("a4-21", "595.276 x 841.89", 21),
        ("letter-30", "612 x 792", 30),
        ("roll-57x32", "161.575 x 90.7087", 1),
    ],
)
def test_each_layout_has_its_page_size_and_labels_per_page(
    syringe: ld.SyringeLabel, tmp_path: Path, name: str, size_pts: str, per_page: int
) -> None:
    layout = lb.LAYOUTS[name]
    assert layout.per_page == per_page
    count = 31
    pages = lb.write_labels(tmp_path / "l.pdf", [syringe] * count, layout)
    info = pdf_info(tmp_path / "l.pdf")
    assert pages == int(info["Pages"]) == math.ceil(count / per_page)
    assert info["Page size"].startswith(size_pts)
    assert pdf_text(tmp_path / "l.pdf", 1).count("MRN P1") == min(count, per_page)


def test_sheet_geometry_matches_the_label_stock() -> None:
    a4, letter = lb.LAYOUTS["a4-21"], lb.LAYOUTS["letter-30"]
    # The last column and row end inside the page with margins like the first's.
    for layout in (a4, letter):
        right = layout.left + layout.columns * layout.label_width + (layout.columns - 1) * layout.gap_x
        bottom = layout.top + layout.rows * layout.label_height + (layout.rows - 1) * layout.gap_y
        assert layout.page_width - right == pytest.approx(layout.left, abs=1)
        assert layout.page_height - bottom == pytest.approx(layout.top, abs=1)
    assert a4.label_width / lb.mm == pytest.approx(63.5) and a4.label_height / lb.mm == pytest.approx(38.1)
    assert letter.label_width / lb.inch == 2.625 and letter.label_height / lb.inch == 1


def test_printing_starts_at_the_first_free_position_of_a_partly_used_sheet(
    syringe: ld.SyringeLabel, tmp_path: Path
) -> None:
    layout = lb.LAYOUTS["a4-21"]
    assert layout.origin(0) == (layout.left, layout.page_height - layout.top - layout.label_height)
    assert lb.write_labels(tmp_path / "l.pdf", [syringe] * 3, layout, start=20) == 2
    assert pdf_text(tmp_path / "l.pdf", 1).count("MRN P1") == 2  # positions 20 and 21
    assert pdf_text(tmp_path / "l.pdf", 2).count("MRN P1") == 1
    # The text of position 20 lies in the bottom row, the middle column.
    bbox = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(tmp_path / "l.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    x, y = (float(v) for v in re.search(r'xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>REID', bbox).groups())  # type: ignore[union-attr]
    x20, y20 = layout.origin(19)
    assert x20 < x < x20 + layout.label_width
    assert layout.page_height - y20 - layout.label_height < y < layout.page_height - y20


@pytest.mark.parametrize(
    ("layout", "start"), [("a4-21", 22), ("letter-30", 31), ("roll-57x32", 2), ("a4-21", 0)]
)
def test_a_start_beyond_the_sheet_is_refused(
    syringe: ld.SyringeLabel, tmp_path: Path, layout: str, start: int
) -> None:
    with pytest.raises(lb.LabelError, match=r"position|counts from 1"):
        lb.write_labels(tmp_path / "l.pdf", [syringe], lb.LAYOUTS[layout], start=start)
    assert not (tmp_path / "l.pdf").exists()


# --- text ----------------------------------------------------------------------------------------------


def test_syringe_label_says_the_dose_ismp_style(syringe: ld.SyringeLabel, tmp_path: Path) -> None:
    half = replace(
        syringe, dose_mcg=Decimal("500.000"), volume_ml=Decimal("0.500")
    )  # as stored: Numeric(8, 3)
    lb.write_labels(tmp_path / "s.pdf", [syringe, half], lb.LAYOUTS["a4-21"])
    text = pdf_text(tmp_path / "s.pdf")
    for expected in (
        "REID, Ann",
        "MRN P1",
        "DOB 5 May 1950",
        "Hydroxocobalamin 1,000 mcg/mL",
        "1,000 mcg in 1 mL",
        "500 mcg in 0.5 mL",
        "IM, left ventrogluteal",
        "1 Dec 2026 10:00",
        "by N",
        "lot H1",
    ):
        assert expected in text
    assert "µg" not in text and "μg" not in text
    assert not re.search(r"\d\.0\b|\d\.\d*0 m", text), "no trailing zeros"
    assert not re.search(r"(?<![\d,])\.\d", text), "always a leading zero"


def test_a_long_name_is_shrunk_to_fit_and_printed_whole(syringe: ld.SyringeLabel, tmp_path: Path) -> None:
    long = replace(syringe, patient="FITZGERALD-MONTGOMERY-SMYTHE, Alexandra Josephine")
    layout = lb.LAYOUTS["letter-30"]
    width = layout.label_width - 2 * layout.padding
    size = lb.fit_size(long.patient, lb.BOLD, 11, width)
    assert lb.MIN_FONT_PT <= size < 11
    assert lb.stringWidth(long.patient, lb.BOLD, size) <= width
    lb.write_labels(tmp_path / "l.pdf", [long], layout)
    raw = subprocess.run(
        ["pdftotext", "-raw", str(tmp_path / "l.pdf"), "-"], capture_output=True, text=True
    ).stdout
    assert long.patient in raw


def test_text_that_cannot_fit_legibly_is_refused_not_cut(syringe: ld.SyringeLabel, tmp_path: Path) -> None:
    too_long = replace(syringe, patient="X" * 60 + ", " + "Y" * 40)
    with pytest.raises(lb.TextDoesNotFit, match="does not fit on the label even at 6 pt") as caught:
        lb.write_labels(tmp_path / "l.pdf", [syringe, too_long], lb.LAYOUTS["letter-30"])
    assert caught.value.text == too_long.patient
    assert "Nothing was cut" in str(caught.value)
    assert not (tmp_path / "l.pdf").exists()


def test_opened_vial_label(world: World, tmp_path: Path) -> None:
    label = ld.vial_label(world.session, world.staff.nurse, world.vial_id, clock=CLOCK)
    assert label.opened_by_initials == "N"
    lb.write_labels(tmp_path / "v.pdf", [label], lb.LAYOUTS["roll-57x32"])
    text = pdf_text(tmp_path / "v.pdf")
    for expected in (
        "Hydroxocobalamin 1,000 mcg/mL",
        "30 mL multi-dose vial, Actavis",
        "Lot A1",
        "Exp 31 Mar 2027",
        "Opened 29 Nov 2026 10:00",
        "DISCARD BY",
        "Opened by Nurse",
    ):
        assert expected in text


def test_dose_card_says_the_cause_schedule_next_visits_and_that_the_phone_is_not_set(
    world: World, tmp_path: Path
) -> None:
    card = ld.dose_card(world.session, world.staff.nurse, world.patient_id, clock=CLOCK)
    assert card.cause == "Pernicious anaemia"
    assert card.phases[0].startswith("Induction: 1,000 mcg (1 mL) IM")
    assert card.phases[-1].startswith("Maintenance: 1,000 mcg (1 mL) IM every")
    assert card.next_doses and all(d >= NOW.date() for d in card.next_doses)
    assert card.checks and all(d > NOW.date() and what == "Blood test" for d, what in card.checks)
    lb.write_labels(tmp_path / "c.pdf", [card], lb.LAYOUTS["a4-21"])
    text = pdf_text(tmp_path / "c.pdf")
    assert "Clinic phone not set" in text and "Pernicious anaemia" in text and "Next:" in text
    for layout in lb.LAYOUTS.values():  # fits every layout
        lb.write_labels(tmp_path / "any.pdf", [card], layout)


def test_clinic_name_and_phone_are_audited_settings_printed_on_the_card(world: World, tmp_path: Path) -> None:
    s, staff = world.session, world.staff
    assert clinic.clinic_contact(s) == clinic.ClinicContact("", "")
    with pytest.raises(PermissionDenied):
        clinic.set_clinic_contact(s, staff.nurse, name="X", phone="1")
    with pytest.raises(ValidationFailed, match="digits"):
        clinic.set_clinic_contact(s, staff.admin, name="Riverside", phone="call us!")
    clinic.set_clinic_contact(s, staff.admin, name="Riverside  B12 Clinic", phone="020 7946 0000")
    assert clinic.clinic_contact(s) == clinic.ClinicContact("Riverside B12 Clinic", "020 7946 0000")
    card = ld.dose_card(s, staff.nurse, world.patient_id, clock=CLOCK)
    lb.write_labels(tmp_path / "c.pdf", [card], lb.LAYOUTS["roll-57x32"])
    text = pdf_text(tmp_path / "c.pdf")
    assert "Riverside B12 Clinic" in text and "020 7946 0000" in text and "not set" not in text
    from sqlalchemy import select

    from b12desk.data.models import AuditEvent

    audited = s.scalars(select(AuditEvent.entity_id).where(AuditEvent.entity == "clinic_setting")).all()
    assert {"clinic_name", "clinic_phone"} <= set(audited)


# --- barcodes ------------------------------------------------------------------------------------------


def test_lot_label_carries_a_gs1_datamatrix_of_gtin_expiry_and_lot(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv.link_gtin(world.session, world.staff.pharmacist, world.ampoule_id, GTIN)
    label = ld.lot_label(world.session, world.staff.nurse, world.ampoule_lot_id)
    barcode = lb.barcode_for(label)
    assert barcode == lb.Barcode("datamatrix", f"01{GTIN}17270630" + "10H1", f"(01){GTIN}(17)270630(10)H1")
    scanned = parse_gs1(barcode.value)  # what a scanner hands back reads as the lot again
    assert (scanned.gtin, scanned.expiry, scanned.lot) == (GTIN, date(2027, 6, 30), "H1")
    codewords = lb.GS1DataMatrix(barcode.value)._encode_c40(barcode.value)
    assert codewords[:2] == [lb.FNC1_CODEWORD, 230]  # FNC1 first: a GS1 DataMatrix, then C40
    drawn: list[str] = []
    real = lb.draw_datamatrix
    monkeypatch.setattr(lb, "draw_datamatrix", lambda c, value, *a: (drawn.append(value), real(c, value, *a)))
    lb.write_labels(tmp_path / "lot.pdf", [label], lb.LAYOUTS["letter-30"])
    assert drawn == [barcode.value]
    text = pdf_text(tmp_path / "lot.pdf")
    assert "LOT H1" in text and "EXP 30 Jun 2027" in text and f"(01){GTIN}(17)270630(10)H1" in text


def test_shelf_label_has_a_gs1_128_barcode_and_a_product_without_gtin_says_so(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv.link_gtin(world.session, world.staff.pharmacist, world.ampoule_id, GTIN)
    shelf = ld.shelf_label(world.session, world.staff.nurse, world.ampoule_id)
    assert lb.barcode_for(shelf) == lb.Barcode("code128", f"\xf101{GTIN}", f"(01){GTIN}")
    drawn: list[str] = []
    real = lb.draw_code128
    monkeypatch.setattr(lb, "draw_code128", lambda c, value, *a: (drawn.append(value), real(c, value, *a)))
    bare = ld.shelf_label(world.session, world.staff.nurse, world.vial_product_id)
    no_gtin_lot = ld.lot_label(world.session, world.staff.nurse, world.vial_lot_id)
    assert lb.barcode_for(bare) is None and lb.barcode_for(no_gtin_lot) is None
    lb.write_labels(tmp_path / "shelf.pdf", [shelf, bare, no_gtin_lot], lb.LAYOUTS["a4-21"])
    assert drawn == [f"\xf101{GTIN}"]
    assert pdf_text(tmp_path / "shelf.pdf").count("No GTIN recorded: no barcode") == 2


# --- who may print what --------------------------------------------------------------------------------


def test_refusals(world: World) -> None:
    s, staff = world.session, world.staff
    with pytest.raises(PermissionDenied):
        ld.vial_label(s, staff.manager, world.vial_id)
    with pytest.raises(PermissionDenied):
        ld.lot_label(s, staff.manager, world.ampoule_lot_id)
    with pytest.raises(PermissionDenied):
        ld.shelf_label(s, staff.manager, world.ampoule_id)
    with pytest.raises(NotFound, match="No dose record with id 999999"):
        ld.syringe_label(s, staff.nurse, 999999)
    with pytest.raises(NotFound, match="No opened vial"):
        ld.vial_label(s, staff.nurse, 999999)
    with pytest.raises(NotFound, match="No lot"):
        ld.lot_label(s, staff.nurse, 999999)
    with pytest.raises(NotFound, match="No patient"):
        ld.dose_card(s, staff.nurse, 999999)
    refused = adm.record_dose(
        s, staff.nurse, world.request(outcome=AdministrationOutcome.REFUSED, note="declined"), clock=CLOCK
    )
    with pytest.raises(ld.NoLabel, match="not given"):
        ld.syringe_label(s, staff.nurse, refused.id)


def test_route_words_avoid_error_prone_abbreviations() -> None:
    assert ld.ROUTE_TEXT[Route.SC] == "subcut" and ld.ROUTE_TEXT[Route.DEEP_SC] == "deep subcut"


def test_cli_layout_names_match_the_layouts() -> None:
    from b12desk.cli_labels import LAYOUT_NAMES

    assert set(LAYOUT_NAMES) == set(lb.LAYOUTS)
