"""The Administration tab end to end: the due list, the give-dose screen (a scan typed, a hard stop, a
warning signed, a click on the body map, the save), and the log (filters, corrections, entered in error)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from b12desk.clock import fixed_clock
from b12desk.data.db import Database
from b12desk.data.models import Administration, DoseAcknowledgement, Lot, StockMovement
from b12desk.domain.enums import (
    AdministrationOutcome,
    Container,
    Formulation,
    InjectionSite,
    MovementKind,
    Reaction,
    RecordStatus,
)
from b12desk.services import administrations as adm
from b12desk.services import history_import, plans
from b12desk.services import inventory as inv
from b12desk.services.common import Actor
from b12desk.ui.administration import AdministrationTab, CorrectDoseDialog, SupplyHomeDialog
from b12desk.ui.give_dose import GiveDoseDialog
from b12desk.ui.history_import_dialog import HistoryImportDialog
from b12desk.ui.widgets import ReasonDialog
from tests.clinic_time import clinic_now, clinic_today
from tests.conftest import PASSWORD, Staffing
from tests.ui.conftest import AddPatient, MakeContext
from tests.ui.test_inventory import scanner_types

GTIN = "05000456012348"
TODAY = clinic_today()
NOW = clinic_now()


@dataclass
class Clinic:
    patient_id: int
    plan_id: int
    product_id: int
    expired_lot: str
    good_lot_id: int


def _plan(db: Database, staff: Staffing, patient_id: int, **kw: object) -> int:
    with db.sessions.begin() as s:
        plans.ensure_shipped_templates(s)
        template = next(t for t in plans.list_templates(s, staff.admin) if t.code == "uk_hoc_no_neuro")
        plan = plans.create_plan(
            s,
            staff.pharmacist,
            patient_id,
            plans.PlanInput(
                template_id=template.id,
                formulation=template.formulation,
                dose_mcg=Decimal(1000),
                route=template.definition.route,
                start_date=kw.pop("start", TODAY),  # type: ignore[arg-type]
                prescriber="Dr Shah",
                **kw,  # type: ignore[arg-type]
            ),
        )
        plans.verify_plan(s, staff.pharmacist2, plan.id, password=PASSWORD, expected_version=plan.version_id)
        return plan.id


@pytest.fixture
def clinic_world(db: Database, staff: Staffing, add_patient: AddPatient) -> Clinic:
    """Patient H1 (a cobalt allergy on record: a caution to acknowledge) on a verified plan starting
    today; hydroxocobalamin ampoules in two lots, one of them expired since it was received."""
    patient_id = add_patient("H1", "Okafor", "Grace", flag_cobalt_allergy=True)
    plan_id = _plan(db, staff, patient_id)
    with db.sessions.begin() as s:
        product = inv.create_product(
            s,
            staff.pharmacist,
            inv.ProductInput(
                formulation=Formulation.HYDROXOCOBALAMIN,
                manufacturer="Advanz",
                brand="Cobalin-H",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.AMPOULE,
                volume_ml=Decimal(1),
                gtin=GTIN,
                preservatives=frozenset(),
            ),
        ).id
        inv.receive_stock(
            s,
            staff.nurse,
            product_id=product,
            lot_number="OLD1",
            expiry=TODAY - timedelta(days=10),
            quantity=5,
            clock=fixed_clock(NOW - timedelta(days=300)),
        )
        good = inv.receive_stock(
            s,
            staff.nurse,
            product_id=product,
            lot_number="GOOD1",
            expiry=TODAY + timedelta(days=300),
            quantity=5,
        ).id
    return Clinic(patient_id, plan_id, product, "OLD1", good)


def make_tab(qtbot: QtBot, make_ctx: MakeContext, actor: Actor, host: QWidget) -> AdministrationTab:
    tab = AdministrationTab(make_ctx(actor), parent=host)
    host.resize(1300, 800)
    tab.resize(1300, 800)
    host.show()
    tab.show()
    qtbot.waitUntil(lambda: tab.log.rowCount() >= 0 and not tab.log.is_loading())
    return tab


def give_dose_flow(qtbot: QtBot, tab: AdministrationTab, w: Clinic) -> int:
    """The nurse's whole give-dose flow from the due list; returns the saved record's id."""
    assert [r.mrn for r in tab.due.rows()] == ["H1"]
    tab.due_table.selectRow(0)
    dialog = tab.open_give_dose(tab.selected_due().patient_id)  # type: ignore[union-attr]
    assert isinstance(dialog, GiveDoseDialog)
    qtbot.waitUntil(lambda: dialog.context is not None)
    assert "OKAFOR" in dialog.patient_label.text() and "cobalt allergy" in dialog.patient_label.text()
    assert "draw 1 mL" in dialog.dose_label.text()
    assert not dialog.save_button.isEnabled()  # identity not yet confirmed
    dialog.identity.setChecked(True)

    # The expired ampoule is scanned: a hard stop, in red, that cannot be acknowledged.
    expiry = (TODAY - timedelta(days=10)).strftime("%y%m%d")
    scanner_types(qtbot, dialog.scan, f"01{GTIN}17{expiry}10{w.expired_lot}")
    assert dialog.stock is not None and dialog.stock.lot_number == "OLD1"
    dialog.run_check()
    assert dialog.findings.has_hard_stop()
    assert any("expired" in m for m in dialog.findings.messages())
    assert not dialog.save_button.isEnabled()

    # The good lot instead, from the suggested stock: only the warning is left.
    index = next(i for i in range(dialog.stock_choice.count()) if "GOOD1" in dialog.stock_choice.itemText(i))
    assert dialog.stock_choice.itemText(index).startswith("Suggested: ")
    dialog.stock_choice.setCurrentIndex(index)
    site = dialog.body_map.center(InjectionSite.VENTROGLUTEAL_RIGHT).toPoint()
    qtbot.mouseClick(dialog.body_map, Qt.MouseButton.LeftButton, pos=site)
    assert dialog.body_map.selected() == InjectionSite.VENTROGLUTEAL_RIGHT
    assert dialog.site.currentData() == InjectionSite.VENTROGLUTEAL_RIGHT
    dialog.run_check()
    assert not dialog.findings.has_hard_stop()
    assert dialog.findings.warning_codes() == ["cobalt_allergy"]
    assert not dialog.save_button.isEnabled()  # the warning is not yet acknowledged

    dialog.findings.acknowledge("cobalt_allergy", "counselled; patient agrees")
    assert not dialog.save_button.isEnabled()  # the signature is missing
    qtbot.keyClicks(dialog.findings.password, PASSWORD)
    assert dialog.save_button.isEnabled()
    saved: list[int] = []
    dialog.saved.connect(saved.append)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert saved and not dialog.isVisible()
    return saved[0]


def test_the_whole_flow_from_the_due_list_to_the_log_then_entered_in_error(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, db: Database, clinic_world: Clinic
) -> None:
    w = clinic_world
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    ModelTester(qtbot).check(tab.log)
    record_id = give_dose_flow(qtbot, tab, w)

    with db.sessions() as s:
        record = s.get(Administration, record_id)
        assert record is not None
        assert (record.site, record.outcome, record.lot_id) == (
            InjectionSite.VENTROGLUTEAL_RIGHT,
            AdministrationOutcome.GIVEN,
            w.good_lot_id,
        )
        ack = s.scalars(
            select(DoseAcknowledgement).where(DoseAcknowledgement.administration_id == record_id)
        ).one()
        assert (ack.code, ack.reason, ack.staff_id) == (
            "cobalt_allergy",
            "counselled; patient agrees",
            staff.nurse.id,
        )
        assert s.get(Lot, w.good_lot_id).quantity_on_hand == 4  # type: ignore[union-attr]

    # The tab heard of the dose: the patient is no longer due, and the log shows the record on top.
    qtbot.waitUntil(lambda: tab.log.rowCount() == 1 and not tab.log.is_loading())
    assert tab.due.rows() == []
    row = tab.log.row(0)
    assert row.id == record_id and tab.log.text(row, 6) == "right ventrogluteal"

    # The second flow: that record is marked entered in error from the log.
    assert tab.select_log_row(record_id)
    dialog = tab.mark_selected_in_error()
    assert isinstance(dialog, ReasonDialog) and dialog.password is not None
    qtbot.keyClicks(dialog.reason, "recorded for the wrong patient")
    qtbot.keyClicks(dialog.password, "not my password")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "Wrong password" in dialog.error.text()  # nothing written
    with db.sessions() as s:
        assert s.get(Administration, record_id).status == RecordStatus.CURRENT  # type: ignore[union-attr]
    qtbot.keyClicks(dialog.password, PASSWORD)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    qtbot.waitUntil(
        lambda: not tab.log.is_loading() and tab.log.row(0).status == RecordStatus.ENTERED_IN_ERROR
    )
    index = tab.log.index(0, 2)
    assert tab.log.data(index, Qt.ItemDataRole.FontRole).strikeOut()  # struck through, still readable
    assert tab.log.data(tab.log.index(0, 11)) == "Entered in error: recorded for the wrong patient"
    assert tab.log.data(index) == "OKAFOR, Grace" or "Okafor" in tab.log.data(index)
    assert not tab.error_button.isEnabled() and not tab.correct_button.isEnabled()
    with db.sessions() as s:
        assert s.get(Lot, w.good_lot_id).quantity_on_hand == 5  # type: ignore[union-attr]  # back to stock
        assert s.scalar(select(func.count()).select_from(Administration)) == 1  # nothing deleted
    qtbot.waitUntil(lambda: [r.mrn for r in tab.due.rows()] == ["H1"])  # due again


def test_the_log_is_filtered_and_paged_in_the_database(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    db: Database,
    clinic_world: Clinic,
    add_patient: AddPatient,
    tmp_path: Path,
) -> None:
    """More doses than one page: the view asks for the next page as it scrolls; filters narrow it."""
    other = add_patient("H2", "Lindqvist", "Erik")
    _plan(db, staff, other, continues_elsewhere=True)
    days = [TODAY - timedelta(days=3 * n) for n in range(adm.LOG_PAGE + 20, 0, -1)]
    history = tmp_path / "history.csv"
    history.write_text("mrn,given_at\n" + "".join(f"H2,{d.isoformat()}\n" for d in days), encoding="utf-8")
    with db.sessions.begin() as s:
        report = history_import.import_history(s, staff.pharmacist, history, dry_run=False)
        assert report.imported == len(days), report.problems[:3]
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    qtbot.waitUntil(lambda: tab.log.rowCount() == adm.LOG_PAGE)
    assert tab.log.has_more() and "scroll for more" in tab.count_label.text()
    tab.log_table.scrollToBottom()
    qtbot.waitUntil(lambda: tab.log.rowCount() == len(days))
    assert not tab.log.has_more()
    given = [tab.log.row(i).given_at for i in range(tab.log.rowCount())]
    assert given == sorted(given, reverse=True)  # newest first across the pages

    tab.date_from.setText((TODAY - timedelta(days=30)).isoformat())
    tab.apply_filter()
    qtbot.waitUntil(lambda: not tab.log.is_loading() and tab.log.rowCount() == 10)
    tab.date_from.setText("01/12/2026")
    tab.apply_filter()
    assert "YYYY-MM-DD" in tab.filter_error.text()
    tab.clear_filters()
    tab.patient.setText("H1")
    tab.apply_filter()
    qtbot.waitUntil(lambda: not tab.log.is_loading() and tab.log.rowCount() == 0)
    assert tab.count_label.text() == "No records match the filters."
    tab.clear_filters()
    tab.outcome.setCurrentIndex(tab.outcome.findData(AdministrationOutcome.REFUSED))
    qtbot.waitUntil(lambda: not tab.log.is_loading() and tab.log.rowCount() == 0)
    tab.outcome.setCurrentIndex(tab.outcome.findData(AdministrationOutcome.GIVEN))
    qtbot.waitUntil(lambda: not tab.log.is_loading() and tab.log.rowCount() == adm.LOG_PAGE)
    assert tab.log.text(tab.log.row(0), 7) == "Given elsewhere"


def test_a_site_is_corrected_from_the_log_and_the_original_stays_struck_through(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, db: Database, clinic_world: Clinic
) -> None:
    w = clinic_world
    with db.sessions.begin() as s:
        row = adm.record_dose(
            s,
            staff.nurse,
            adm.DoseRequest(
                patient_id=w.patient_id,
                plan_id=w.plan_id,
                dose_mcg=Decimal(1000),
                site=InjectionSite.DELTOID_LEFT,
                product_id=w.product_id,
                lot_id=w.good_lot_id,
            ),
            acknowledged={"cobalt_allergy": "counselled"},
            password=PASSWORD,
        )
    tab = make_tab(qtbot, make_ctx, staff.nurse, host)
    qtbot.waitUntil(lambda: tab.log.rowCount() == 1)
    assert tab.select_log_row(row.id)
    dialog = tab.correct_selected()
    assert isinstance(dialog, CorrectDoseDialog)
    dialog.site.setCurrentIndex(dialog.site.findData(InjectionSite.DELTOID_RIGHT))
    dialog.save()
    assert dialog.isVisible() and "Say why" in dialog.errors.message("reason")  # a reason is required
    qtbot.keyClicks(dialog.reason, "the other arm, written wrongly")
    dialog.save()
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: tab.log.rowCount() == 2 and not tab.log.is_loading())
    texts = {tab.log.row(i).status: tab.log.row(i) for i in range(2)}
    assert texts[RecordStatus.CURRENT].site == InjectionSite.DELTOID_RIGHT
    old = texts[RecordStatus.AMENDED]
    assert old.site == InjectionSite.DELTOID_LEFT  # the original, still readable
    i = tab.log.find(old.id)
    assert i is not None and tab.log.data(tab.log.index(i, 0), Qt.ItemDataRole.FontRole).strikeOut()
    assert "the other arm, written wrongly" in tab.log.data(tab.log.index(i, 11))


def test_vials_supplied_home_need_a_trained_patient(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    db: Database,
    clinic_world: Clinic,
    add_patient: AddPatient,
) -> None:
    w = clinic_world
    dialog = SupplyHomeDialog(make_ctx(staff.nurse), "H1", parent=host)
    dialog.open()
    qtbot.waitUntil(lambda: dialog.context is not None)
    assert "not recorded as trained" in dialog.patient_label.text()
    dialog.quantity.setValue(2)
    assert dialog.lot.count() == 1 and dialog.save_button.isEnabled(), dialog.lot.count()
    dialog.save()
    assert dialog.isVisible() and "not recorded as trained" in dialog.errors.message("patient")
    trained = add_patient(
        "H3", "Mbeki", "Sipho", self_injection_trained_on=TODAY, self_injection_trainer="RN Shaw"
    )
    _plan(db, staff, trained)
    dialog.mrn.setText("H3")
    dialog.find_patient()
    assert "trained to self-inject" in dialog.patient_label.text()
    dialog.lot.setCurrentIndex(dialog.lot.findData(w.good_lot_id))
    dialog.save()
    assert not dialog.isVisible()
    with db.sessions() as s:
        movement = s.scalars(
            select(StockMovement).where(StockMovement.kind == MovementKind.SUPPLIED_HOME)
        ).one()
        assert (movement.patient_id, movement.lot_id) == (trained, w.good_lot_id)


def test_the_history_import_dialog_names_a_bad_line_then_imports(
    qtbot: QtBot,
    make_ctx: MakeContext,
    staff: Staffing,
    host: QWidget,
    db: Database,
    add_patient: AddPatient,
    tmp_path: Path,
) -> None:
    pid = add_patient("H4", "Novak", "Ivana")
    _plan(db, staff, pid, continues_elsewhere=True)
    path = tmp_path / "history.csv"
    path.write_text("mrn,given_at,dose\nH4,2026-08-03,1000\nH4,2026-08-05,1 mcg\n", encoding="utf-8")
    dialog = HistoryImportDialog(make_ctx(staff.pharmacist), parent=host)
    dialog.open()
    dialog.check_file(path)
    assert [p.line for p in dialog.problems.rows()] == [3]
    assert not dialog.import_button.isEnabled()
    path.write_text("mrn,given_at,dose\nH4,2026-08-03,1000\nH4,2026-08-05,1 mg\n", encoding="utf-8")
    dialog.check_file(path)
    assert dialog.import_button.isEnabled() and "Nothing has been written yet" in dialog.summary.text()
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Administration)) == 0
    dialog.import_file()
    assert "Imported 2 dose records" in dialog.summary.text()
    with db.sessions() as s:
        assert s.scalar(select(func.count()).where(Administration.external.is_(True))) == 2


def test_the_give_dose_screen_says_what_is_wrong_as_it_is_filled_in(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, host: QWidget, clinic_world: Clinic
) -> None:
    w = clinic_world
    dialog = GiveDoseDialog(make_ctx(staff.nurse), parent=host)
    dialog.open()
    assert not dialog.stock_box.isEnabled() and "Choose the patient first" in dialog.plan_label.text()
    scanner_types(qtbot, dialog.mrn, "NOBODY")
    assert dialog.context is None and "NOBODY" in dialog.errors.message("mrn")
    dialog.mrn.clear()
    scanner_types(qtbot, dialog.mrn, "H1")  # the wristband
    assert dialog.context is not None and dialog.context.patient.id == w.patient_id
    assert not dialog.self_administered.isEnabled()  # not trained to self-inject
    dialog.identity.setChecked(True)

    # An allergic reaction: the advice to get help at once, in red, before anything is saved.
    dialog.reaction.setCurrentIndex(dialog.reaction.findData(Reaction.ALLERGIC))
    assert dialog.allergic.isVisibleTo(dialog) and "urgent medical help" in dialog.allergic.text()
    # Refused: no reaction can go with it, and a reason is required.
    dialog.outcome.setCurrentIndex(dialog.outcome.findData(AdministrationOutcome.REFUSED))
    assert not dialog.reaction.isEnabled() and dialog.reaction.currentData() == Reaction.NONE
    dialog.run_check()
    assert any("Say why the dose was not given" in m for m in dialog.findings.messages())
    assert not dialog.save_button.isEnabled()
    qtbot.keyClicks(dialog.note, "patient declined today")
    dialog.run_check()
    assert not dialog.findings.has_hard_stop() and dialog.save_button.isEnabled()

    # A time that cannot be read is said beside the field; a time in the future is a hard stop.
    dialog.given_at.setText("tomorrow")
    dialog.run_check()
    assert "YYYY-MM-DD HH:MM" in dialog.errors.message("given_at")
    dialog.given_at.setText((NOW + timedelta(days=1)).strftime("%Y-%m-%d %H:%M"))
    dialog.run_check()
    assert (
        any("in the future" in m for m in dialog.findings.messages()) and not dialog.save_button.isEnabled()
    )
