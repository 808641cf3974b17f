"""Clinic settings from the Treatment menu: a pharmacist switches a site on, with a reason; the dose check
follows at once; a nurse reads but cannot save; a number that cannot be read is said beside its field."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from b12desk.data.db import Database
from b12desk.domain.enums import InjectionSite
from b12desk.services import clinic
from b12desk.ui.clinic_settings import ClinicSettingsDialog
from tests.conftest import Staffing
from tests.ui.conftest import MakeContext


def _open(qtbot: QtBot, make_ctx: MakeContext, actor: object, host: QWidget) -> ClinicSettingsDialog:
    dialog = ClinicSettingsDialog(make_ctx(actor), parent=host)  # type: ignore[arg-type]
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_a_pharmacist_switches_dorsogluteal_on_with_a_reason(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = _open(qtbot, make_ctx, staff.pharmacist, host)
    assert not dialog.site_used["dorsogluteal"].isChecked()  # shipped off: the sciatic nerve
    assert dialog.site_max["deltoid"].value() == 1
    dialog.site_used["dorsogluteal"].setChecked(True)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "Say why" in dialog.field_error("reason")
    with db.sessions() as s:
        assert not clinic.dose_rules(s).site_rule(InjectionSite.DORSOGLUTEAL_LEFT).enabled
    dialog.reason.setText("staff trained in the landmark technique")
    with qtbot.waitSignal(dialog.ctx.bus.changed):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    with db.sessions() as s:
        assert clinic.dose_rules(s).site_rule(InjectionSite.DORSOGLUTEAL_RIGHT).enabled


def test_a_bad_number_or_no_site_at_all_saves_nothing(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = _open(qtbot, make_ctx, staff.pharmacist, host)
    dialog.strength_max.setText("5,000,0")
    dialog.reason.setText("typo")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "not a number" in dialog.field_error("strength_max") or "comma" in dialog.field_error(
        "strength_max"
    )
    dialog.strength_max.setText("5,000")
    for box in dialog.site_used.values():
        box.setChecked(False)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "at least one injection site" in dialog.field_error("sites")
    with db.sessions() as s:
        assert clinic.dose_rules(s).strength_max_mcg_per_ml == Decimal(5000)
        assert len(clinic.dose_rules(s).enabled_sites()) == 6


def test_the_time_zone_changes_the_clock_of_every_screen(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = _open(qtbot, make_ctx, staff.admin, host)
    dialog.time_zone.setCurrentText("Europe/Londn")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "IANA" in dialog.field_error("time_zone")
    dialog.time_zone.setCurrentText("Pacific/Auckland")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert dialog.ctx.clock.zone_name == "Pacific/Auckland"
    with db.sessions() as s:
        assert clinic.time_zone_name(s) == "Pacific/Auckland"


def test_a_nurse_reads_the_settings_but_cannot_save(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = _open(qtbot, make_ctx, staff.nurse, host)
    assert not dialog.save_button.isEnabled()
    assert "pharmacist or an administrator" in dialog.save_button.toolTip()
    dialog.site_used["dorsogluteal"].setChecked(True)
    dialog.reason.setText("try anyway")
    dialog.save()  # the service has the last word
    assert "may not configure clinic" in dialog.summary.text()


def test_a_pharmacist_enters_the_local_laboratorys_b12_thresholds(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = _open(qtbot, make_ctx, staff.pharmacist, host)
    unit, low, high, _advice = dialog.lab_fields["serum_b12"]
    assert (unit.currentData(), low.text(), high.text()) == ("ng/L", "180", "350")  # NICE NG239
    assert "NICE NG239" in dialog.laboratory.text()
    dialog.laboratory.setText("City Hospital biochemistry")
    unit.setCurrentIndex(unit.findData("pmol/L"))
    low.setText("1,48")
    dialog.reason.setText("the local laboratory's reference ranges")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.tabs.currentIndex() == 1
    assert "write decimals with a point" in dialog.field_error("lab_serum_b12")
    low.setText("148")
    high.setText("221")
    with qtbot.waitSignal(dialog.ctx.bus.changed):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    with db.sessions() as s:
        bands = clinic.lab_bands(s)
    assert bands.laboratory == "City Hospital biochemistry"
    assert (bands.tests["serum_b12"].unit, bands.tests["serum_b12"].deficient_below) == (
        "pmol/L",
        Decimal(148),
    )
    assert bands.band("serum_b12", Decimal("150"))[0] == "indeterminate"  # type: ignore[index]


def test_thresholds_that_overlap_are_refused_on_their_page(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = _open(qtbot, make_ctx, staff.pharmacist, host)
    _unit, low, _high, _advice = dialog.lab_fields["active_b12"]
    low.setText("80")
    dialog.reason.setText("local ranges")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.tabs.currentIndex() == 1
    assert "must end above where deficiency ends" in dialog.field_error("lab_bands")
    with db.sessions() as s:
        assert clinic.lab_bands(s).tests["active_b12"].deficient_below == Decimal(25)


def test_the_clinics_name_and_phone_for_the_dose_card_are_set_here(
    qtbot: QtBot, db: Database, staff: Staffing, make_ctx: MakeContext, host: QWidget
) -> None:
    dialog = _open(qtbot, make_ctx, staff.pharmacist, host)
    assert dialog.clinic_name.text() == "" and dialog.clinic_phone.text() == ""
    dialog.clinic_name.setText("Riverside B12 Clinic")
    dialog.clinic_phone.setText("call us!")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "digits" in dialog.field_error("clinic_phone")
    with db.sessions() as s:
        assert clinic.clinic_contact(s) == clinic.ClinicContact()  # nothing saved
    dialog.clinic_phone.setText("020 7946 0000")
    with qtbot.waitSignal(dialog.ctx.bus.changed):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    with db.sessions() as s:
        assert clinic.clinic_contact(s) == clinic.ClinicContact("Riverside B12 Clinic", "020 7946 0000")
    again = _open(qtbot, make_ctx, staff.pharmacist, host)
    assert (again.clinic_name.text(), again.clinic_phone.text()) == ("Riverside B12 Clinic", "020 7946 0000")
