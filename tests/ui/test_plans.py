"""Plan screens: editor with live preview, verification queue, patient plans and history, templates."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QCheckBox, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from b12desk.data.db import Database
from b12desk.data.models import Administration
from b12desk.domain.enums import Cause, Container, Formulation, InjectionSite, PlanStatus, Presentation, Route
from b12desk.domain.schedule import DoseStatus
from b12desk.services import administrations, plans
from b12desk.services import inventory as inv
from b12desk.services.common import Actor, PermissionDenied
from b12desk.ui.plans import (
    DUE_DATE_ROLE,
    RECORD_ID_ROLE,
    STATUS_ROLE,
    PatientPlansDialog,
    PlanEditorDialog,
)
from b12desk.ui.style import ERROR_RED
from b12desk.ui.templates import TemplatesDialog
from b12desk.ui.verification import FIRST_VERIFICATION, VerificationQueueDialog
from tests.clinic_time import clinic_today
from tests.conftest import PASSWORD, Staffing
from tests.ui.conftest import AddPatient, MakeContext

MONDAY = date(2026, 1, 5)
# uk_hoc_no_neuro, three times a week, clinic open Monday to Friday (tests/services/test_plans.py).
FIRST_SIX = [date(2026, 1, d) for d in (5, 7, 9, 12, 14, 16)]

Templates = dict[str, plans.TemplateRow]
OpenEditor = Callable[..., PlanEditorDialog]


@pytest.fixture
def templates(db: Database, staff: Staffing) -> Templates:
    with db.sessions.begin() as s:
        plans.ensure_shipped_templates(s)
        return {t.code: t for t in plans.list_templates(s, staff.admin)}


@pytest.fixture
def open_editor(make_ctx: MakeContext, host: QWidget, templates: Templates) -> OpenEditor:
    def open_as(actor: Actor, patient_id: int, plan: plans.PlanRow | None = None) -> PlanEditorDialog:
        dialog = PlanEditorDialog(make_ctx(actor), patient_id, plan, parent=host)
        dialog.show()
        return dialog

    return open_as


def _plan_input(t: plans.TemplateRow, **kw: object) -> plans.PlanInput:
    values: dict[str, object] = {
        "template_id": t.id,
        "formulation": t.formulation,
        "dose_mcg": Decimal(1000),
        "route": Route.IM,
        "start_date": clinic_today(),
        "prescriber": "Dr A",
    }
    values.update(kw)
    return plans.PlanInput(**values)  # type: ignore[arg-type]


def _create(db: Database, actor: Actor, patient_id: int, t: plans.TemplateRow, **kw: object) -> plans.PlanRow:
    with db.sessions.begin() as s:
        return plans.create_plan(s, actor, patient_id, _plan_input(t, **kw))


def _verify(db: Database, actor: Actor, plan: plans.PlanRow) -> plans.PlanRow:
    with db.sessions.begin() as s:
        return plans.verify_plan(s, actor, plan.id, password=PASSWORD, expected_version=plan.version_id)


def _plans(db: Database, staff: Staffing, patient_id: int) -> list[plans.PlanRow]:
    with db.sessions.begin() as s:
        return plans.plans_for_patient(s, staff.nurse, patient_id)


def _click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def _tick(qtbot: QtBot, box: QCheckBox) -> None:
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


# --- the editor ----------------------------------------------------------------------------------------


def test_create_a_plan_through_the_editor_with_its_preview(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    open_editor: OpenEditor,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_editor(staff.pharmacist, pid)
    assert dialog.template.currentData() == templates["uk_hoc_no_neuro"].id
    assert dialog.formulation.text() == "Hydroxocobalamin"
    assert dialog.strength.currentText() == "1,000 mcg/mL"
    assert dialog.dose.text() == "1000"
    assert dialog.volume.text() == "= 1 mL of 1,000 mcg/mL"
    assert dialog.route.currentData() == Route.IM and dialog.route.count() == 1  # IM only for HOC
    assert "BNF" in dialog.template_info.text() and "⚠" in dialog.template_info.text()

    dialog.start_date.clear()
    qtbot.keyClicks(dialog.start_date, MONDAY.isoformat())
    assert dialog.weekday.text() == "Monday"
    assert dialog.preview_model.dose_dates()[:6] == FIRST_SIX
    first = dialog.preview_model.index(0, 0)
    assert dialog.preview_model.data(first, DUE_DATE_ROLE) == MONDAY
    assert dialog.preview_model.data(dialog.preview_model.index(0, 4)) == "1,000 mcg (1 mL of 1,000 mcg/mL)"
    assert dialog.preview_model.data(dialog.preview_model.index(0, 3)) == "Induction 1 of 6"
    labels = [e.what for e in dialog.preview_model.records()]
    assert "Reticulocyte response at 7-10 days" in labels
    potassium = [e.due for e in dialog.preview_model.records() if "Potassium" in e.what]
    assert potassium == [MONDAY + timedelta(days=1)]  # 24-48 hours after the first dose, for everyone
    _tick(qtbot, dialog.severe_anaemia)  # severe anaemia adds a second check at 3-4 days
    potassium = [e.due for e in dialog.preview_model.records() if "Potassium" in e.what]
    assert potassium == [MONDAY + timedelta(days=1), MONDAY + timedelta(days=3)]
    dialog.dose.clear()
    qtbot.keyClicks(dialog.dose, "500")
    assert dialog.volume.text() == "= 0.5 mL of 1,000 mcg/mL"
    dialog.dose.clear()
    qtbot.keyClicks(dialog.dose, "1,000")
    assert dialog.volume.text() == "= 1 mL of 1,000 mcg/mL"

    qtbot.keyClicks(dialog.prescriber, "Dr A. Shah")
    qtbot.keyClicks(dialog.indication, "Pernicious anaemia, Hb 84 g/L")
    with qtbot.waitSignal(dialog.ctx.bus.changed) as changed:
        _click(qtbot, dialog.save_button)
    assert changed.args == ["plans"]
    assert not dialog.isVisible()
    [saved] = _plans(db, staff, pid)
    assert saved.status == PlanStatus.DRAFT
    assert (saved.template_code, saved.dose_mcg, saved.start_date) == ("uk_hoc_no_neuro", 1000, MONDAY)
    assert saved.prescriber == "Dr A. Shah" and saved.conditions == frozenset({"severe_anaemia"})
    assert saved.dose_text == "1,000 mcg (1 mL of 1,000 mcg/mL)"
    assert saved.strength_mcg_per_ml == 1000 and not saved.continues_elsewhere


def test_a_plan_continuing_treatment_begun_elsewhere_is_marked_for_the_pharmacist(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    open_editor: OpenEditor,
    make_ctx: MakeContext,
    host: QWidget,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_editor(staff.pharmacist, pid)
    qtbot.keyClicks(dialog.prescriber, "Dr A. Shah")
    _tick(qtbot, dialog.continues_elsewhere)
    _click(qtbot, dialog.save_button)
    [saved] = _plans(db, staff, pid)
    assert saved.continues_elsewhere
    queue = VerificationQueueDialog(make_ctx(staff.pharmacist2), parent=host)
    queue.show()
    assert "treatment begun at another clinic" in queue.details.toPlainText()


@pytest.mark.parametrize(
    ("extra", "code", "words"),
    [
        ({}, "uk_hoc_no_neuro", "Pernicious anaemia; not recorded (treated as a deficiency with anaemia"),
        (
            {"neuro_involvement": True, "neuro_symptoms": "numb feet"},
            "uk_hoc_neuro",
            "Pernicious anaemia; not recorded; neurological involvement: ",
        ),
        (
            {"cause": Cause.POST_BARIATRIC, "presentation": Presentation.PREVENTION},
            "post_bariatric",
            "Post-bariatric surgery; at risk: prevention only: ",
        ),
        (
            {"cause": Cause.DIETARY, "presentation": Presentation.ANAEMIA},
            "uk_hoc_no_neuro",
            "Dietary; deficiency with anaemia: Dietary deficiency with anaemia is treated first",
        ),
        (
            {"cause": Cause.MEDICATION_METFORMIN, "presentation": Presentation.DEFICIENCY},
            "oral_cnc",
            "Medication: metformin; deficiency without anaemia: ",
        ),
    ],
)
def test_the_suggested_template_follows_the_patients_cause(
    staff: Staffing,
    add_patient: AddPatient,
    open_editor: OpenEditor,
    templates: Templates,
    extra: dict[str, object],
    code: str,
    words: str,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace", **extra)
    dialog = open_editor(staff.pharmacist, pid)
    assert dialog.template.currentData() == templates[code].id
    assert dialog.suggestion.text().startswith(f"Suggested from the record → {templates[code].name} (v1). ")
    assert words in dialog.suggestion.text()


def test_choosing_another_template_brings_its_formulation_routes_and_dose(
    qtbot: QtBot, staff: Staffing, add_patient: AddPatient, open_editor: OpenEditor, templates: Templates
) -> None:
    dialog = open_editor(staff.pharmacist, add_patient("H1", "Okafor", "Grace"))
    dialog.template.setCurrentIndex(dialog.template.findData(templates["us_cnc_fda"].id))
    assert dialog.formulation.text().startswith("Cyanocobalamin")
    assert dialog.dose.text() == "100" and dialog.volume.text() == "= 0.1 mL of 1,000 mcg/mL"
    assert [dialog.route.itemData(i) for i in range(dialog.route.count())] == [Route.IM, Route.DEEP_SC]
    assert Route.IV not in [dialog.route.itemData(i) for i in range(dialog.route.count())]
    what = {e.what for e in dialog.preview_model.records() if e.kind.value == "dose"}
    assert what == {"100 mcg (0.1 mL of 1,000 mcg/mL)"}


def test_one_mcg_typed_for_one_mg_is_refused_beside_the_dose_and_nothing_is_saved(
    qtbot: QtBot, db: Database, staff: Staffing, add_patient: AddPatient, open_editor: OpenEditor
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_editor(staff.pharmacist, pid)
    dialog.dose.clear()
    qtbot.keyClicks(dialog.dose, "1")
    qtbot.keyClicks(dialog.prescriber, "Dr A. Shah")
    _click(qtbot, dialog.save_button)
    assert dialog.isVisible()
    message = dialog.field_error("dose_mcg")
    assert "outside the template's range" in message and "check mcg against mg" in message
    assert dialog.errors.label("dose_mcg").isVisible()
    assert dialog.dose.property("invalid")
    assert "Dose" in dialog.summary.text()
    assert _plans(db, staff, pid) == []
    # "1 mg" is read as what it says, 1,000 mcg, and the volume shows it.
    dialog.dose.clear()
    qtbot.keyClicks(dialog.dose, "1 mg")
    assert dialog.volume.text() == "= 1 mL of 1,000 mcg/mL"
    # A decimal comma is never guessed at: "1,5" could be 1.5 or 15.
    dialog.dose.clear()
    qtbot.keyClicks(dialog.dose, "1,5")
    assert "write decimals with a point" in dialog.volume.text()
    _click(qtbot, dialog.save_button)
    assert "write decimals with a point" in dialog.field_error("dose_mcg")
    assert _plans(db, staff, pid) == []


def test_lebers_disease_blocks_cyanocobalamin_beside_the_formulation(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    open_editor: OpenEditor,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace", flag_lebers_disease=True)
    dialog = open_editor(staff.pharmacist, pid)
    assert "Recorded: Leber" in dialog.header.text()
    dialog.template.setCurrentIndex(dialog.template.findData(templates["us_cnc_common"].id))
    qtbot.keyClicks(dialog.prescriber, "Dr A. Shah")
    _click(qtbot, dialog.save_button)
    assert "optic atrophy" in dialog.field_error("formulation")
    assert _plans(db, staff, pid) == []


def test_a_nurse_cannot_save_a_plan(
    qtbot: QtBot, db: Database, staff: Staffing, add_patient: AddPatient, open_editor: OpenEditor
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = open_editor(staff.nurse, pid)
    qtbot.keyClicks(dialog.prescriber, "Dr A. Shah")
    _click(qtbot, dialog.save_button)
    assert dialog.isVisible() and "may not prescribe plans" in dialog.summary.text()
    assert _plans(db, staff, pid) == []


def test_hypersensitivity_reveals_the_override_and_saves_with_reason_and_password(
    qtbot: QtBot, db: Database, staff: Staffing, add_patient: AddPatient, open_editor: OpenEditor
) -> None:
    pid = add_patient("H1", "Okafor", "Grace", flag_b12_hypersensitivity=True)
    dialog = open_editor(staff.pharmacist, pid)
    assert dialog.override_box.isHidden()
    qtbot.keyClicks(dialog.prescriber, "Dr A. Shah")
    _click(qtbot, dialog.save_button)
    assert dialog.override_box.isVisible()
    assert "hypersensitive to cobalt or vitamin B12" in dialog.override_message.text()
    assert "documented reason" in dialog.field_error("hypersensitivity")
    assert _plans(db, staff, pid) == []
    qtbot.keyClicks(dialog.override_reason, "intradermal test dose tolerated")
    _click(qtbot, dialog.save_button)
    assert "password" in dialog.field_error("password")
    qtbot.keyClicks(dialog.password, "not my password")
    _click(qtbot, dialog.save_button)
    assert dialog.field_error("password") == "Unknown user name or wrong password."
    assert dialog.password.text() == "" and _plans(db, staff, pid) == []
    qtbot.keyClicks(dialog.password, PASSWORD)
    _click(qtbot, dialog.save_button)
    assert not dialog.isVisible()
    [saved] = _plans(db, staff, pid)
    assert saved.override_reason == "intradermal test dose tolerated"


def test_editing_a_verified_plan_asks_why_and_warns_it_returns_to_draft(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    open_editor: OpenEditor,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    plan = _verify(db, staff.pharmacist2, _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"]))
    dialog = open_editor(staff.pharmacist2, pid, plan)
    assert dialog.change_warning.isVisible() and "returns it to draft" in dialog.change_warning.text()
    assert dialog.prescriber.text() == "Dr A" and dialog.dose.text() == "1000"
    dialog.prescriber.clear()
    qtbot.keyClicks(dialog.prescriber, "Dr B")
    _click(qtbot, dialog.save_button)
    assert "Say why" in dialog.field_error("reason")
    assert _plans(db, staff, pid)[0].status == PlanStatus.VERIFIED
    qtbot.keyClicks(dialog.change_reason, "care moved to Dr B's list")
    _click(qtbot, dialog.save_button)
    assert not dialog.isVisible()
    [edited] = _plans(db, staff, pid)
    assert edited.status == PlanStatus.DRAFT and edited.prescriber == "Dr B"


# --- the verification queue ----------------------------------------------------------------------------


def _open_queue(make_ctx: MakeContext, host: QWidget, actor: Actor) -> VerificationQueueDialog:
    dialog = VerificationQueueDialog(make_ctx(actor), parent=host)
    dialog.show()
    return dialog


def test_the_author_cannot_verify_and_another_pharmacist_can_with_a_password(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    plan = _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"])

    queue = _open_queue(make_ctx, host, staff.pharmacist)
    assert queue.model.rowCount() == 1 and queue.selected_plan_id() == plan.id
    assert queue.model.changes_text(0) == FIRST_VERIFICATION
    assert queue.schedule_model.rowCount() > 0  # the selected plan's schedule
    assert "Dr A" in queue.details.toPlainText()
    assert queue.model.data(queue.model.index(0, 4)) == "Pharmacist (you)"
    # The author is told before any password is asked for: Verify is off, and its tooltip says why.
    assert not queue.verify_button.isEnabled()
    assert queue.verify_button.toolTip() == "You wrote this plan: a second pharmacist verifies it."
    assert queue.verify_reason.text() == queue.verify_button.toolTip()  # and beside the button
    assert queue.verify_selected() is None
    with db.sessions.begin() as s, pytest.raises(PermissionDenied, match="another pharmacist must verify it"):
        plans.verify_plan(s, staff.pharmacist, plan.id, password=PASSWORD, expected_version=plan.version_id)
    assert _plans(db, staff, pid)[0].status == PlanStatus.DRAFT

    other = _open_queue(make_ctx, host, staff.pharmacist2)
    assert other.verify_button.isEnabled() and other.model.data(other.model.index(0, 4)) == "Pharmacist"
    sign = other.verify_selected()
    assert sign is not None
    qtbot.keyClicks(sign.password, "wrong password")
    _click(qtbot, sign.verify_button)
    assert sign.isVisible() and sign.error.text() == "Unknown user name or wrong password."
    qtbot.keyClicks(sign.password, PASSWORD)
    with qtbot.waitSignal(other.ctx.bus.changed) as changed:
        _click(qtbot, sign.verify_button)
    assert changed.args == ["plans"]
    [verified] = _plans(db, staff, pid)
    assert verified.status == PlanStatus.VERIFIED and verified.verified_by == "Pharmacist2"
    assert verified.verification_meaning == "verified formulation, strength and schedule"
    assert other.model.rowCount() == 0 and "Nothing to verify" in other.notice.text()
    assert "Verified Okafor, Grace" in other.notice.text()


def test_the_verify_dialog_states_what_the_signature_means(
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    _create(db, staff.pharmacist, add_patient("H1", "Okafor", "Grace"), templates["uk_hoc_no_neuro"])
    queue = _open_queue(make_ctx, host, staff.pharmacist2)
    sign = queue.verify_selected()
    assert sign is not None
    texts = " ".join(label.text() for label in sign.findChildren(type(queue.notice)))
    assert "I verify the formulation, strength and schedule of this plan." in texts
    assert "Pharmacist2" in texts and "OKAFOR" not in texts and "Okafor, Grace (H1)" in texts
    assert sign.password.echoMode() == sign.password.EchoMode.Password


def test_a_nurse_sees_the_services_refusal(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"])
    queue = _open_queue(make_ctx, host, staff.nurse)
    assert queue.message.isVisible() and "A nurse may not verify plans" in queue.message.text()
    assert queue.model.rowCount() == 0 and not queue.verify_button.isEnabled()
    # The patient's plans dialog says so on Verify… before any password; the service refuses a nurse too.
    dialog = PatientPlansDialog(make_ctx(staff.nurse), pid, parent=host)
    dialog.show()
    assert not dialog.verify_button.isEnabled() and dialog.verify_plan() is None
    assert dialog.verify_button.toolTip() == "A nurse may not verify plans; a pharmacist can."
    [plan] = _plans(db, staff, pid)
    with db.sessions.begin() as s, pytest.raises(PermissionDenied, match="A nurse may not verify plans"):
        plans.verify_plan(s, staff.nurse, plan.id, password=PASSWORD, expected_version=plan.version_id)
    assert _plans(db, staff, pid)[0].status == PlanStatus.DRAFT


def test_the_queue_shows_what_changed_since_the_last_verification(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    open_editor: OpenEditor,
    templates: Templates,
) -> None:
    first = add_patient("H1", "Okafor", "Grace")
    second = add_patient("H2", "Reid", "Ann")
    _create(db, staff.pharmacist, first, templates["uk_hoc_no_neuro"])
    plan = _verify(db, staff.pharmacist, _create(db, staff.pharmacist2, second, templates["uk_hoc_no_neuro"]))
    editor = open_editor(staff.pharmacist2, second, plan)
    editor.prescriber.clear()
    qtbot.keyClicks(editor.prescriber, "Dr B")
    qtbot.keyClicks(editor.change_reason, "care moved")
    _click(qtbot, editor.save_button)
    assert not editor.isVisible()

    queue = _open_queue(make_ctx, host, staff.pharmacist)
    texts = [queue.model.changes_text(r) for r in range(queue.model.rowCount())]
    assert texts == [FIRST_VERIFICATION, "prescriber: Dr A -> Dr B"]
    changed = queue.model.index(1, queue.model.COL_CHANGES)
    assert isinstance(queue.model.data(changed, Qt.ItemDataRole.BackgroundRole), QBrush)
    assert (
        queue.model.data(queue.model.index(0, queue.model.COL_CHANGES), Qt.ItemDataRole.BackgroundRole)
        is None
    )
    assert queue.select_plan(plan.id)
    assert "prescriber: Dr A -> Dr B" in queue.details.toPlainText()
    # The editor wrote this version, so the first pharmacist verifies it.
    sign = queue.verify_selected()
    assert sign is not None
    qtbot.keyClicks(sign.password, PASSWORD)
    _click(qtbot, sign.verify_button)
    assert [p.status for p in _plans(db, staff, second)] == [PlanStatus.VERIFIED]


def test_the_queue_words_each_changed_value_as_people_read_it(
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    t = templates["uk_hoc_no_neuro"]
    plan = _verify(db, staff.pharmacist, _create(db, staff.pharmacist2, pid, t, start_date=MONDAY))
    with db.sessions.begin() as s:
        plans.update_plan(
            s,
            staff.pharmacist2,
            plan.id,
            _plan_input(t, start_date=MONDAY + timedelta(days=7), conditions=frozenset({"severe_anaemia"})),
            expected_version=plan.version_id,
            reason="Hb 62 g/L",
        )
    queue = _open_queue(make_ctx, host, staff.pharmacist)
    assert queue.model.changes_text(0) == (
        "start date: 2026-01-05 -> 2026-01-12; conditions: (none) -> severe anaemia"
    )


def test_the_queue_names_a_changed_template(
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    plan = _verify(db, staff.pharmacist, _create(db, staff.pharmacist2, pid, templates["uk_hoc_no_neuro"]))
    with db.sessions.begin() as s:
        plans.update_plan(
            s,
            staff.pharmacist2,
            plan.id,
            _plan_input(templates["uk_hoc_prophylaxis"]),
            expected_version=plan.version_id,
            reason="prophylaxis only",
        )
    queue = _open_queue(make_ctx, host, staff.pharmacist)
    assert queue.model.changes_text(0) == (
        "template: Hydroxocobalamin 1 mg, no neurological involvement (BNF) (v1) -> "
        "Hydroxocobalamin 1 mg prophylaxis (BNF) (v1)"
    )


# --- a patient's plans ---------------------------------------------------------------------------------


def _stock(db: Database, staff: Staffing) -> tuple[int, int]:
    with db.sessions.begin() as s:
        product = inv.create_product(
            s,
            staff.pharmacist,
            inv.ProductInput(
                formulation=Formulation.HYDROXOCOBALAMIN,
                manufacturer="Advanz",
                strength_mcg_per_ml=Decimal(1000),
                container=Container.AMPOULE,
                volume_ml=Decimal(1),
            ),
        )
        lot = inv.receive_stock(
            s,
            staff.nurse,
            product_id=product.id,
            lot_number="H1",
            expiry=clinic_today() + timedelta(days=300),
            quantity=10,
        )
        return product.id, lot.id


def test_patient_plans_show_schedule_with_overdue_in_red_and_history(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    start = clinic_today() - timedelta(days=21)
    plan = _verify(
        db,
        staff.pharmacist2,
        _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"], start_date=start, prescriber="Dr A"),
    )
    product_id, lot_id = _stock(db, staff)
    with db.sessions.begin() as s:
        administrations.record_dose(
            s,
            staff.nurse,
            administrations.DoseRequest(
                patient_id=pid,
                plan_id=plan.id,
                given_at=datetime.combine(start, time(10), UTC),
                dose_mcg=Decimal(1000),
                site=InjectionSite.DELTOID_LEFT,
                product_id=product_id,
                lot_id=lot_id,
            ),
            acknowledged={"backdated": "entered from the paper record"},
            password=PASSWORD,
        )
    dialog = PatientPlansDialog(make_ctx(staff.pharmacist), pid, parent=host)
    dialog.show()
    assert dialog.model.rowCount() == 1 and dialog.selected_plan_id() == plan.id
    row = [dialog.model.data(dialog.model.index(0, c)) for c in range(dialog.model.columnCount())]
    assert row[0] == "Active" and row[2] == "1,000 mcg (1 mL of 1,000 mcg/mL)" and row[3] == "IM"
    assert row[5] == "Dr A" and row[6].startswith("Pharmacist2, ")
    assert row[6].endswith("(verified formulation, strength and schedule)")
    m = dialog.schedule_model
    first = m.index(0, 0)
    assert m.data(first, STATUS_ROLE) == DoseStatus.OVERDUE
    assert m.data(m.index(0, m.COL_STATUS)) == "Overdue"
    brush = m.data(first, Qt.ItemDataRole.ForegroundRole)
    assert isinstance(brush, QBrush) and brush.color().name() == ERROR_RED
    assert m.data(m.index(0, m.COL_PHASE)) == "Induction 2 of 6"
    statuses = {m.data(m.index(r, 0), STATUS_ROLE) for r in range(m.rowCount())}
    assert DoseStatus.PLANNED in statuses and DoseStatus.GIVEN not in statuses
    assert "Doses given so far: 1." in dialog.schedule_note.text()
    h = dialog.history_model
    actions = [h.data(h.index(r, 2)) for r in range(h.rowCount())]
    assert actions == ["Verified", "Created (draft)"]
    created = h.data(h.index(1, 3))
    assert "dose: 1,000 mcg" in created and "prescriber: Dr A" in created and "patient" not in created
    assert dialog.verify_button.isEnabled() is False and dialog.end_phase_button.isEnabled()


def test_stop_and_end_phase_from_the_patients_plans(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace", neuro_involvement=True, neuro_symptoms="numb feet")
    plan = _verify(db, staff.pharmacist2, _create(db, staff.pharmacist, pid, templates["uk_hoc_neuro"]))
    dialog = PatientPlansDialog(make_ctx(staff.pharmacist), pid, parent=host)
    dialog.show()
    review = dialog.end_phase()
    assert review is not None
    _click(qtbot, review.ok_button)
    assert review.isVisible() and "review's finding" in review.errors.message("reason")
    qtbot.keyClicks(review.reason, "no further improvement")
    with qtbot.waitSignal(dialog.ctx.bus.changed):
        _click(qtbot, review.ok_button)
    assert not review.isVisible()
    [after] = _plans(db, staff, pid)
    assert after.phases[0].ended_on == clinic_today()
    # The next phase changes what is given: the plan is back with a pharmacist, its schedule a preview.
    assert after.status == PlanStatus.DRAFT and "ended at a review" in after.review_reason
    assert any(e.phase.startswith("Maintenance") for e in dialog.schedule_model.records())
    history = [dialog.history_model.data(dialog.history_model.index(r, 2)) for r in range(2)]
    assert history == ["Back to the pharmacist to verify again", "Phase ended at review"]
    assert not dialog.verify_button.isEnabled()  # who ended the phase does not verify it

    stop = dialog.stop_plan()
    assert stop is not None
    _click(qtbot, stop.ok_button)  # stopping maintenance while pernicious anaemia persists needs a reason
    assert "relapse" in stop.errors.message("reason")
    qtbot.keyClicks(stop.reason, "moved to oral, informed choice")
    _click(qtbot, stop.ok_button)
    assert not stop.isVisible()
    assert _plans(db, staff, pid)[0].status == PlanStatus.STOPPED
    assert dialog.model.data(dialog.model.index(0, 0)) == "Stopped"
    assert not dialog.edit_button.isEnabled() and not dialog.stop_button.isEnabled()
    assert "nothing more is scheduled" in dialog.schedule_note.text()
    assert plan.id == dialog.selected_plan_id()


def test_end_phase_takes_a_past_review_date_typed_in_the_dialog(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace", neuro_involvement=True, neuro_symptoms="numb feet")
    start = clinic_today() - timedelta(days=60)
    _verify(
        db, staff.pharmacist2, _create(db, staff.pharmacist, pid, templates["uk_hoc_neuro"], start_date=start)
    )
    dialog = PatientPlansDialog(make_ctx(staff.pharmacist), pid, parent=host)
    dialog.show()
    review = dialog.end_phase()
    assert review is not None and review.on_date.text() == clinic_today().isoformat()
    reviewed = clinic_today() - timedelta(days=20)
    review.on_date.clear()
    qtbot.keyClicks(review.on_date, reviewed.isoformat())
    qtbot.keyClicks(review.reason, "induction completed elsewhere")
    _click(qtbot, review.ok_button)
    assert not review.isVisible()
    [after] = _plans(db, staff, pid)
    assert after.phases[0].ended_on == reviewed
    assert after.phases[0].end_reason == "induction completed elsewhere"


def test_a_nurse_reads_plans_but_the_prescribing_buttons_are_off(
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"])
    dialog = PatientPlansDialog(make_ctx(staff.nurse), pid, parent=host)
    dialog.show()
    assert dialog.model.rowCount() == 1
    assert not dialog.new_button.isEnabled() and "may not prescribe" in dialog.new_button.toolTip()
    assert not dialog.edit_button.isEnabled()


def test_new_plan_from_the_patients_plans_selects_it(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    dialog = PatientPlansDialog(make_ctx(staff.pharmacist), pid, parent=host)
    dialog.show()
    assert dialog.model.rowCount() == 0 and "No treatment plan yet" in dialog.notice.text()
    editor = dialog.new_plan()
    assert editor is not None
    qtbot.keyClicks(editor.prescriber, "Dr A. Shah")
    _click(qtbot, editor.save_button)
    assert dialog.model.rowCount() == 1
    assert dialog.selected_plan_id() == _plans(db, staff, pid)[0].id
    # Its author cannot verify it, and is told so before typing a password; a second pharmacist can.
    assert not dialog.verify_button.isEnabled() and dialog.verify_plan() is None
    assert dialog.verify_button.toolTip() == "You wrote this plan: a second pharmacist verifies it."
    other = PatientPlansDialog(make_ctx(staff.pharmacist2), pid, parent=host)
    other.show()
    assert other.verify_button.isEnabled() and other.verify_plan() is not None


def _doses_in_db(db: Database, plan_id: int) -> int:
    with db.sessions.begin() as s:
        return s.scalar(select(func.count()).where(Administration.plan_id == plan_id)) or 0


def test_a_nurse_enters_doses_given_elsewhere_and_the_schedule_moves_to_maintenance(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    start = clinic_today() - timedelta(days=30)
    plan = _verify(
        db,
        staff.pharmacist2,
        _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"], start_date=start),
    )
    dialog = PatientPlansDialog(make_ctx(staff.nurse), pid, parent=host)
    dialog.show()
    assert dialog.external_button.isEnabled()
    assert dialog.schedule_model.records()[0].phase == "Induction 1 of 6"
    external = dialog.doses_elsewhere()
    assert external is not None
    assert external.dose.text() == "1,000 mcg (1 mL of 1,000 mcg/mL)"
    assert external.route.text().startswith("IM")

    qtbot.keyClicks(external.date, "12/03/2026")
    _click(qtbot, external.add_button)
    assert "YYYY-MM-DD" in external.field_error("given_at") and external.entered_dates() == []
    days = [start + timedelta(days=n) for n in (11, 0, 2, 4, 7, 9)]  # typed out of order
    for day in days:
        external.date.clear()
        qtbot.keyClicks(external.date, day.isoformat())
        _click(qtbot, external.add_button)
    assert external.entered_dates() == sorted(days)
    assert external.field_error("given_at") == ""
    qtbot.keyClicks(external.note, "Cobalin-H at St Mary's")
    with qtbot.waitSignal(dialog.ctx.bus.changed) as changed:
        _click(qtbot, external.save_button)
    assert changed.args == ["doses"]
    assert not external.isVisible()

    with db.sessions.begin() as s:
        given = list(s.scalars(select(Administration).where(Administration.plan_id == plan.id)))
    assert sorted(a.given_at.date() for a in given) == sorted(days)
    assert all(a.external and a.product_id is None and a.note == "Cobalin-H at St Mary's" for a in given)
    assert _plans(db, staff, pid)[0].status == PlanStatus.ACTIVE
    doses = [e for e in dialog.schedule_model.records() if e.kind.value == "dose"]
    assert doses[0].phase.startswith("Maintenance")
    assert "Doses given so far: 6." in dialog.schedule_note.text()
    assert "6 doses given elsewhere recorded." in dialog.notice.text()


def test_doses_given_elsewhere_refuse_bad_dates_at_entry_and_enter_never_saves(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    start = clinic_today() - timedelta(days=30)
    plan = _verify(
        db,
        staff.pharmacist2,
        _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"], start_date=start),
    )
    dialog = PatientPlansDialog(make_ctx(staff.nurse), pid, parent=host)
    dialog.show()
    external = dialog.doses_elsewhere()
    assert external is not None
    # Enter in the date field puts the date in the list and saves nothing.
    qtbot.keyClicks(external.date, start.isoformat())
    qtbot.keyClick(external.date, Qt.Key.Key_Return)
    assert external.isVisible() and external.entered_dates() == [start]
    assert _doses_in_db(db, plan.id) == 0
    # A future date, or one before the plan starts, never reaches the list.
    future = clinic_today() + timedelta(days=3)
    qtbot.keyClicks(external.date, future.isoformat())
    qtbot.keyClick(external.date, Qt.Key.Key_Return)
    assert "in the future" in external.field_error("given_at")
    external.date.clear()
    qtbot.keyClicks(external.date, (start - timedelta(days=7)).isoformat())
    _click(qtbot, external.add_button)
    assert "before the plan starts" in external.field_error("given_at")
    assert "continuing" in external.field_error("given_at")
    assert external.entered_dates() == [start]
    # The day after the first: sooner than the induction allows, so a warning to acknowledge first.
    external.date.clear()
    qtbot.keyClicks(external.date, (start + timedelta(days=1)).isoformat())
    _click(qtbot, external.add_button)
    _click(qtbot, external.save_button)
    assert external.isVisible() and "Nothing was saved." in external.summary.text()
    assert external.findings.warning_codes() == ["interval_too_short"]
    assert not external.findings.has_hard_stop()
    assert _doses_in_db(db, plan.id) == 0  # all or none
    external.findings.acknowledge("interval_too_short", "the other clinic gave them on consecutive days")
    qtbot.keyClicks(external.findings.password, PASSWORD)
    _click(qtbot, external.save_button)
    assert not external.isVisible()
    assert _doses_in_db(db, plan.id) == 2
    assert _plans(db, staff, pid)[0].status == PlanStatus.ACTIVE


def test_doses_given_elsewhere_is_off_for_a_draft_plan_and_the_service_refuses_one(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    draft = _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"])
    dialog = PatientPlansDialog(make_ctx(staff.nurse), pid, parent=host)
    dialog.show()
    assert dialog.selected_plan_id() == draft.id
    assert not dialog.external_button.isEnabled()
    external = dialog.doses_elsewhere()  # reached anyway: the service has the last word
    assert external is not None
    qtbot.keyClicks(external.date, clinic_today().isoformat())
    _click(qtbot, external.save_button)
    assert external.isVisible() and "Nothing was saved." in external.summary.text()
    assert any("until a pharmacist verifies it" in m for m in external.findings.messages())
    assert external.findings.has_hard_stop()
    assert _doses_in_db(db, draft.id) == 0


def test_a_pharmacist_sees_doses_given_elsewhere_off_with_the_reason(
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    _verify(db, staff.pharmacist2, _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"]))
    dialog = PatientPlansDialog(make_ctx(staff.pharmacist), pid, parent=host)
    dialog.show()
    assert not dialog.external_button.isEnabled()
    assert "may not record doses" in dialog.external_button.toolTip()


# --- templates -----------------------------------------------------------------------------------------


def test_templates_show_phases_preview_and_save_a_new_version(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    dialog = TemplatesDialog(make_ctx(staff.pharmacist), parent=host)
    dialog.show()
    assert dialog.model.rowCount() == len(templates)
    assert dialog.select_code("uk_hoc_no_neuro")
    assert "Induction: 1,000 mcg 3 times a week, for 6 doses" in dialog.details.toPlainText()
    assert "Reticulocyte response at 7-10 days" in dialog.details.toPlainText()
    dialog.preview_start.setText(MONDAY.isoformat())
    assert dialog.preview_model.dose_dates()[:6] == FIRST_SIX

    assert dialog.select_code("uk_hoc_prophylaxis")
    raw = json.loads(dialog.json_edit.toPlainText())
    assert raw == templates["uk_hoc_prophylaxis"].raw
    dialog.json_edit.setPlainText("{ not json")
    _click(qtbot, dialog.save_button)
    assert "Not valid JSON at line 1" in dialog.json_error.text()
    raw["phases"][0]["interval_days"] = 0
    dialog.json_edit.setPlainText(json.dumps(raw))
    qtbot.keyClicks(dialog.reason, "local protocol")
    _click(qtbot, dialog.save_button)
    assert "interval_days must be at least 1" in dialog.json_error.text()
    raw["phases"][0]["interval_days"] = 60
    dialog.json_edit.setPlainText(json.dumps(raw))
    dialog.reason.clear()
    _click(qtbot, dialog.save_button)
    assert "Say why the template changes" in dialog.reason_error.text()
    qtbot.keyClicks(dialog.reason, "local protocol: every 2 months")
    with qtbot.waitSignal(dialog.ctx.bus.changed):
        _click(qtbot, dialog.save_button)
    selected = dialog.selected_template()
    assert selected is not None and (selected.code, selected.version) == ("uk_hoc_prophylaxis", 2)
    assert selected.definition.phases[0].interval_days == 60
    assert "version 2" in dialog.notice.text()


def test_a_nurse_reads_templates_read_only(
    make_ctx: MakeContext, staff: Staffing, host: QWidget, templates: Templates
) -> None:
    dialog = TemplatesDialog(make_ctx(staff.nurse), parent=host)
    dialog.show()
    assert dialog.model.rowCount() == len(templates)
    assert dialog.json_edit.isReadOnly() and not dialog.save_button.isEnabled()
    assert not dialog.days_button.isEnabled()


def test_clinic_open_days_move_the_preview(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    dialog = TemplatesDialog(make_ctx(staff.pharmacist), parent=host)
    dialog.show()
    assert [b.isChecked() for b in dialog.day_boxes] == [True] * 5 + [False] * 2
    for box in dialog.day_boxes:
        box.setChecked(False)
    _click(qtbot, dialog.days_button)
    assert "at least one day" in dialog.days_error.text()
    for box in dialog.day_boxes:
        box.setChecked(True)
    _click(qtbot, dialog.days_button)
    assert dialog.days_error.text() == "" or dialog.days_error.isHidden()
    with db.sessions.begin() as s:
        assert plans.open_days(s) == frozenset(range(7))
    assert dialog.select_code("uk_hoc_prophylaxis")
    dialog.preview_start.setText(MONDAY.isoformat())
    assert dialog.preview_model.dose_dates()[:2] == [MONDAY, MONDAY + timedelta(days=90)]  # a Sunday now


# --- models and parsing --------------------------------------------------------------------------------


def test_every_table_model_passes_the_model_tester(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    open_editor: OpenEditor,
    templates: Templates,
    qtmodeltester: ModelTester,
) -> None:
    pid = add_patient("H1", "Okafor", "Grace")
    other = add_patient("H2", "Reid", "Ann")
    plan = _verify(db, staff.pharmacist, _create(db, staff.pharmacist2, pid, templates["uk_hoc_no_neuro"]))
    with db.sessions.begin() as s:
        plans.update_plan(
            s,
            staff.pharmacist2,
            plan.id,
            _plan_input(
                templates["uk_hoc_no_neuro"], prescriber="Dr B", start_date=clinic_today() - timedelta(9)
            ),
            expected_version=plan.version_id,
            reason="x",
        )
    _create(db, staff.pharmacist, other, templates["uk_hoc_neuro"])

    editor = open_editor(staff.pharmacist, pid)
    assert editor.preview_model.rowCount() > 10
    qtmodeltester.check(editor.preview_model)
    plans_dialog = PatientPlansDialog(make_ctx(staff.pharmacist), pid, parent=host)
    assert plans_dialog.model.rowCount() == 1 and plans_dialog.history_model.rowCount() == 3
    assert plans_dialog.schedule_model.rowCount() > 0
    qtmodeltester.check(plans_dialog.model)
    qtmodeltester.check(plans_dialog.history_model)
    qtmodeltester.check(plans_dialog.schedule_model)
    queue = VerificationQueueDialog(make_ctx(staff.pharmacist), parent=host)
    assert queue.model.rowCount() == 2
    assert queue.model.data(queue.model.index(0, 0), RECORD_ID_ROLE) == plan.id
    qtmodeltester.check(queue.model)
    qtmodeltester.check(queue.schedule_model)
    templates_dialog = TemplatesDialog(make_ctx(staff.pharmacist), parent=host)
    qtmodeltester.check(templates_dialog.model)
    qtmodeltester.check(templates_dialog.preview_model)


# --- wiring into the roster and the main window --------------------------------------------------------


def test_roster_opens_the_plans_and_refreshes_its_regimen_after_a_verification(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    make_ctx: MakeContext,
    host: QWidget,
    templates: Templates,
) -> None:
    from b12desk.ui.roster import COL_REGIMEN, RosterTab

    pid = add_patient("H1", "Okafor", "Grace")
    _create(db, staff.pharmacist, pid, templates["uk_hoc_no_neuro"])
    tab = RosterTab(make_ctx(staff.pharmacist2), parent=host)
    host.show()
    tab.reload()
    assert not tab.plans_button.isEnabled()
    assert tab.select_patient(pid) and tab.plans_button.isEnabled()
    assert tab.model.data(tab.model.index(0, COL_REGIMEN)) == ""  # a draft is not a regimen yet
    _click(qtbot, tab.plans_button)
    dialog = tab.findChild(PatientPlansDialog)
    assert dialog is not None and dialog.isVisible() and dialog.patient_id == pid
    sign = dialog.verify_plan()
    assert sign is not None
    qtbot.keyClicks(sign.password, PASSWORD)
    _click(qtbot, sign.verify_button)
    regimen = tab.model.index(0, COL_REGIMEN)  # the column may shorten the name; its tooltip holds it whole
    assert tab.model.data(regimen, Qt.ItemDataRole.ToolTipRole) == templates["uk_hoc_no_neuro"].name
    assert tab.selected_patient_id() == pid


def test_main_window_treatment_menu_opens_the_queue_and_the_templates(
    qtbot: QtBot, make_ctx: MakeContext, staff: Staffing, templates: Templates
) -> None:
    from b12desk.ui.main_window import MainWindow

    window = MainWindow(make_ctx(staff.pharmacist))
    qtbot.addWidget(window)
    window.load()
    window.show()
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    treatment = menus["&Treatment"]
    assert [a.text() for a in treatment.actions()] == [
        "&Verification queue…",
        "&Regimen templates…",
        "&Clinic settings…",
    ]
    window.verification_action.trigger()
    queue = window.findChild(VerificationQueueDialog)
    assert queue is not None and queue.isVisible()
    queue.close()
    window.regimen_templates_action.trigger()
    dialog = window.findChild(TemplatesDialog)
    assert dialog is not None and dialog.isVisible() and dialog.model.rowCount() == len(templates)
    dialog.close()


def test_an_oral_plan_records_what_was_supplied_instead_of_a_strength(
    qtbot: QtBot,
    db: Database,
    staff: Staffing,
    add_patient: AddPatient,
    open_editor: OpenEditor,
    templates: Templates,
) -> None:
    pid = add_patient(
        "H9", "Okafor", "Grace", cause=Cause.MEDICATION_METFORMIN, presentation=Presentation.DEFICIENCY
    )
    dialog = open_editor(staff.pharmacist, pid)
    assert dialog.template.currentData() == templates["oral_cnc"].id  # NG239: oral, and review the metformin
    assert "MHRA" in dialog.suggestion.text()
    assert dialog.supplied_as.isVisible() and not dialog.strength.isVisible()
    assert dialog.route.currentData() == Route.ORAL
    assert dialog.preview_model.dose_dates() == []  # taken at home: no injection is scheduled
    assert any(e.what.startswith("Review at 3 months") for e in dialog.preview_model.records())
    qtbot.keyClicks(dialog.prescriber, "Dr A. Shah")
    _click(qtbot, dialog.save_button)
    assert dialog.isVisible() and "takes home" in dialog.errors.message("supplied_as")
    qtbot.keyClicks(dialog.supplied_as, "Cyanocobalamin 1,000 mcg tablets, one a day, 28")
    _click(qtbot, dialog.save_button)
    assert not dialog.isVisible()
    [saved] = _plans(db, staff, pid)
    assert (saved.route, saved.supplied_as) == (Route.ORAL, "Cyanocobalamin 1,000 mcg tablets, one a day, 28")
    assert saved.dose_text == "1,000 mcg by mouth"
    # Back to an injection template: the strength returns and the supply is not kept.
    again = open_editor(staff.pharmacist, pid)
    again.template.setCurrentIndex(again.template.findData(templates["uk_hoc_no_neuro"].id))
    assert again.strength.isVisible() and not again.supplied_as.isVisible()
