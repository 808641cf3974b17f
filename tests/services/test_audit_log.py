"""The audit trail for reviewers: each filter (user, patient, record, clinic days) picks exactly the events
it names, pages newest first without gaps or repeats, shows each change before and after, exports to a
workbook with formula-like text kept as text, and refuses (writing nothing) whoever may not read it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import b12desk.data.types
from b12desk.data.models import AuditEvent, Patient
from b12desk.domain.enums import InjectionSite, LabContext
from b12desk.exports.audit_workbook import audit_workbook
from b12desk.services import administrations as adm
from b12desk.services import audit_log, patients
from b12desk.services import inventory as inv
from b12desk.services.audit_log import AuditFilter, FieldChange, search_audit
from b12desk.services.common import Actor, PermissionDenied, ValidationFailed
from tests.services.dose_world import CLOCK, LONDON, NOW, TODAY, World, _patient, _verified_plan, at

FORMULA = '=HYPERLINK("http://x.invalid","click")'


def _events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _keys(rows: list[audit_log.AuditRow]) -> list[tuple[str, str, str]]:
    return [(r.action, r.entity, r.entity_id) for r in rows]


def _train(w: World, patient_id: int) -> None:
    w.session.get(Patient, patient_id).self_injection_trained_on = TODAY - timedelta(days=14)  # type: ignore[union-attr]
    w.session.flush()


def _dose(w: World, patient_id: int, plan_id: int, days_later: int = 0) -> adm.AdministrationRow:
    given = NOW + timedelta(days=days_later)
    site = (InjectionSite.DELTOID_LEFT, InjectionSite.DELTOID_RIGHT)[days_later % 4 // 2]
    return adm.record_dose(
        w.session,
        w.staff.nurse,
        w.request(patient_id=patient_id, plan_id=plan_id, given_at=given, site=site),
        clock=at(given),
    )


@pytest.fixture
def system_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The audit trail's own clock (the system's, not the clinic's), set by the test: append a time."""
    times: list[datetime] = [datetime(2026, 12, 1, 10, 0, tzinfo=UTC)]
    monkeypatch.setattr(b12desk.data.types, "system_utcnow", lambda: times[-1])
    yield times


# --- filters -------------------------------------------------------------------------------------------


def test_the_user_filter_returns_exactly_that_persons_events_newest_first(world: World) -> None:
    w = world
    # In the world, pharmacist2 has done one thing: verified the plan.
    rows = search_audit(w.session, w.staff.manager, staff_id=w.staff.pharmacist2.id)
    assert _keys(rows) == [("verify", "treatment_plan", str(w.plan_id))]
    other = _patient(w.session, w.staff.nurse, "P2", family_name="Adams")
    plan = _verified_plan(w.session, w.staff, w.templates, other)
    rows = search_audit(w.session, w.staff.manager, staff_id=w.staff.pharmacist2.id)
    assert _keys(rows) == [
        ("verify", "treatment_plan", str(plan.id)),
        ("verify", "treatment_plan", str(w.plan_id)),
    ]
    assert rows[0].id > rows[1].id
    assert rows[0].who == "Pharmacist2 (pharmacist2)" and rows[0].username == "pharmacist2"
    expected = w.session.scalars(
        select(AuditEvent.id).where(AuditEvent.staff_id == w.staff.nurse.id).order_by(AuditEvent.id.desc())
    ).all()
    assert [r.id for r in search_audit(w.session, w.staff.manager, staff_id=w.staff.nurse.id)] == expected


def test_the_patient_filter_returns_their_record_plans_doses_labs_and_supplies_and_nobody_elses(
    world: World,
) -> None:
    w = world
    other = _patient(w.session, w.staff.nurse, "OTHER1", family_name="Adams")
    other_plan = _verified_plan(w.session, w.staff, w.templates, other)
    other_dose = _dose(w, other, other_plan.id)
    _train(w, other)
    # Supplied home from the same lot as this patient's: a lot event that is not theirs.
    inv.supply_home(
        w.session, w.staff.nurse, patient_id=other, lot_id=w.ampoule_lot_id, quantity=1, clock=CLOCK
    )

    first = _dose(w, w.patient_id, w.plan_id)
    second = _dose(w, w.patient_id, w.plan_id, days_later=2)
    later = at(NOW + timedelta(days=2, hours=1))
    adm.amend_administration(
        w.session,
        w.staff.nurse,
        second.id,
        reason="other arm",
        site=InjectionSite.VENTROGLUTEAL_RIGHT,
        clock=later,
    )
    lab = patients.add_lab_result(
        w.session,
        w.staff.nurse,
        w.patient_id,
        test_code="serum_b12",
        context=LabContext.FOLLOW_UP,
        taken_on=date(2026, 11, 20),
        value_text="350",
        unit="ng/L",
        clock=later,
    )
    _train(w, w.patient_id)
    inv.supply_home(
        w.session, w.staff.nurse, patient_id=w.patient_id, lot_id=w.ampoule_lot_id, quantity=2, clock=later
    )
    inv.supply_home(
        w.session, w.staff.nurse, patient_id=other, lot_id=w.ampoule_lot_id, quantity=1, clock=CLOCK
    )

    rows = search_audit(w.session, w.staff.manager, patient_id=w.patient_id)
    lot = str(w.ampoule_lot_id)
    assert _keys(rows) == [
        ("supplied_home", "lot", lot),
        ("create", "lab_result", str(lab.id)),
        ("amend", "administration", str(second.id)),
        ("create", "administration", str(second.id)),
        ("create", "administration", str(first.id)),
        ("verify", "treatment_plan", str(w.plan_id)),
        ("create", "treatment_plan", str(w.plan_id)),
        ("create", "patient", str(w.patient_id)),
    ]
    # The same events as the patient's History: one rule for which events are a patient's.
    assert len(rows) == len(patients.patient_history(w.session, w.staff.manager, w.patient_id))
    # Paged one at a time, the other patient's supplies on the same lot are skipped, never returned.
    paged: list[audit_log.AuditRow] = []
    after = None
    while page := search_audit(w.session, w.staff.manager, patient_id=w.patient_id, limit=1, after=after):
        paged += page
        after = page[-1].id
    assert paged == rows
    theirs = search_audit(w.session, w.staff.manager, patient_id=other)
    assert ("create", "administration", str(other_dose.id)) in _keys(theirs)
    assert [r.entity for r in theirs].count("lot") == 2
    assert not {r.id for r in theirs} & {r.id for r in rows}


def test_the_record_filter_returns_exactly_that_records_events(world: World) -> None:
    w = world
    dose = _dose(w, w.patient_id, w.plan_id)
    _dose(w, w.patient_id, w.plan_id, days_later=2)
    adm.amend_administration(
        w.session, w.staff.nurse, dose.id, reason="other arm", site=InjectionSite.DELTOID_RIGHT, clock=CLOCK
    )
    rows = search_audit(w.session, w.staff.pharmacist, entity="administration", entity_id=f" {dose.id} ")
    assert _keys(rows) == [
        ("amend", "administration", str(dose.id)),
        ("create", "administration", str(dose.id)),
    ]
    assert rows[0].reason == "other arm"
    doses = search_audit(w.session, w.staff.pharmacist, entity="administration")
    assert {r.entity for r in doses} == {"administration"} and len(doses) == 3
    # A record kind with an id of nothing audited: no events, not an error.
    assert search_audit(w.session, w.staff.pharmacist, entity="administration", entity_id="999999") == []


def test_a_common_record_kind_walks_the_table_and_finds_the_same_events(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    for k in range(3):
        _dose(w, w.patient_id, w.plan_id, days_later=2 * k)
    by_index = search_audit(w.session, w.staff.manager, entity="administration")
    monkeypatch.setattr(audit_log, "COMMON_KIND_EVENTS", 1)  # every kind counts as common now
    assert search_audit(w.session, w.staff.manager, entity="administration") == by_index
    assert search_audit(w.session, w.staff.manager, entity="administration", limit=2) == by_index[:2]
    assert len(by_index) == 3


def test_the_day_filter_keeps_to_clinic_days_both_included(world: World, system_time: list[datetime]) -> None:
    w = world
    # London is on summer time in July: 22:59 UTC on 1 July is 23:59 on 1 July at the clinic, and 23:30
    # UTC is already 00:30 on 2 July.
    stamps = {
        "30 June": datetime(2026, 6, 30, 12, 0, tzinfo=UTC),
        "1 July, late": datetime(2026, 7, 1, 22, 59, tzinfo=UTC),
        "2 July, early": datetime(2026, 7, 1, 23, 30, tzinfo=UTC),
        "2 July, late": datetime(2026, 7, 2, 22, 59, 59, tzinfo=UTC),
        "3 July": datetime(2026, 7, 2, 23, 0, tzinfo=UTC),
    }
    made: dict[str, int] = {}
    for label, moment in stamps.items():
        system_time.append(moment)
        made[label] = _patient(w.session, w.staff.nurse, f"D{len(made)}", family_name="Day")
    clock = at(NOW)

    def patients_on(since: date | None, until: date | None) -> list[int]:
        rows = search_audit(
            w.session, w.staff.manager, entity="patient", since=since, until=until, clock=clock
        )
        return [int(r.entity_id) for r in rows if r.action == "create" and int(r.entity_id) in made.values()]

    july2 = date(2026, 7, 2)
    assert patients_on(july2, july2) == [made["2 July, late"], made["2 July, early"]]
    assert patients_on(date(2026, 7, 1), july2) == [
        made["2 July, late"],
        made["2 July, early"],
        made["1 July, late"],
    ]
    assert patients_on(None, date(2026, 6, 30)) == [made["30 June"]]
    assert patients_on(date(2026, 7, 3), None) == [made["3 July"]]
    row = search_audit(w.session, w.staff.manager, entity="patient", entity_id=str(made["2 July, early"]))[0]
    assert row.at == stamps["2 July, early"] and clock.day_of(row.at) == july2


def test_filters_combine(world: World) -> None:
    w = world
    dose = _dose(w, w.patient_id, w.plan_id)
    rows = search_audit(
        w.session,
        w.staff.manager,
        patient_id=w.patient_id,
        staff_id=w.staff.nurse.id,
        entity="administration",
    )
    assert _keys(rows) == [("create", "administration", str(dose.id))]
    assert (
        search_audit(
            w.session,
            w.staff.manager,
            patient_id=w.patient_id,
            staff_id=w.staff.pharmacist2.id,
            entity="patient",
        )
        == []
    )


# --- paging and changes --------------------------------------------------------------------------------


def test_pages_come_newest_first_without_gaps_or_repeats(world: World) -> None:
    w = world
    for k in range(7):
        _patient(w.session, w.staff.nurse, f"PG{k}", family_name="Page", given_name="Ann" + "e" * k)
    everything = search_audit(w.session, w.staff.manager, staff_id=w.staff.nurse.id, limit=1000)
    pages: list[list[audit_log.AuditRow]] = []
    after = None
    while page := search_audit(w.session, w.staff.manager, staff_id=w.staff.nurse.id, limit=3, after=after):
        pages.append(page)
        after = page[-1].id
    assert [len(p) for p in pages[:-1]] == [3] * (len(pages) - 1) and 1 <= len(pages[-1]) <= 3
    flat = [r for p in pages for r in p]
    assert flat == everything and len(everything) >= 7
    assert [r.id for r in flat] == sorted((r.id for r in flat), reverse=True)
    batches = list(
        audit_log.audit_batches(w.session, w.staff.manager, AuditFilter(staff_id=w.staff.nurse.id), batch=4)
    )
    assert [r for b in batches for r in b] == everything and all(len(b) == 4 for b in batches[:-1])
    total = audit_log.count_audit(w.session, w.staff.manager, AuditFilter(staff_id=w.staff.nurse.id))
    assert total == len(everything)


def test_each_change_is_shown_before_and_after(world: World) -> None:
    w = world
    detail = patients.get_patient(w.session, w.staff.nurse, w.patient_id)
    patients.update_patient(
        w.session,
        w.staff.nurse,
        w.patient_id,
        replace(detail.data, family_name="Reed", allergies="Latex"),
        expected_version=detail.version_id,
        reason="Spelling corrected at the desk",
    )
    rows = search_audit(w.session, w.staff.manager, entity="patient", entity_id=str(w.patient_id))
    edit, created = rows
    assert (edit.action, edit.reason) == ("update", "Spelling corrected at the desk")
    assert edit.changes == (FieldChange("allergies", "", "Latex"), FieldChange("family_name", "Reid", "Reed"))
    assert created.action == "create"
    assert FieldChange("family_name", None, "Reid") in created.changes  # nothing before a creation


# --- choices -------------------------------------------------------------------------------------------


def test_staff_and_patient_choices(world: World) -> None:
    w = world
    _patient(w.session, w.staff.nurse, "ZX9", family_name="Okafor", given_name="Grace")
    _patient(w.session, w.staff.nurse, "ZX10", family_name="Okafor", given_name="Ben")
    staff = audit_log.staff_choices(w.session, w.staff.manager)
    assert {s.username for s in staff} >= {"admin", "nurse", "pharmacist", "pharmacist2", "manager"}
    assert [s.label for s in staff if s.username == "nurse"] == ["Nurse (nurse)"]
    found = audit_log.find_patients(w.session, w.staff.manager, "okafor")
    assert [p.given_name for p in found] == ["Ben", "Grace"]
    assert [p.mrn for p in audit_log.find_patients(w.session, w.staff.manager, "grace oka")] == ["ZX9"]
    # An exact MRN comes first, before MRNs it is only the start of.
    assert [p.mrn for p in audit_log.find_patients(w.session, w.staff.manager, "zx1")] == ["ZX10"]
    assert audit_log.find_patients(w.session, w.staff.manager, "100%_") == []
    with pytest.raises(ValidationFailed) as blank:
        audit_log.find_patients(w.session, w.staff.manager, "  ")
    assert "MRN or a name" in blank.value.errors["patient"]


def test_bad_filters_are_told_what_is_wrong(world: World) -> None:
    w = world
    with pytest.raises(ValidationFailed) as swapped:
        search_audit(w.session, w.staff.manager, since=date(2026, 12, 2), until=date(2026, 12, 1))
    assert "swap them" in swapped.value.errors["until"]
    with pytest.raises(ValidationFailed) as no_kind:
        search_audit(w.session, w.staff.manager, entity_id="12")
    assert "kind of record" in no_kind.value.errors["entity"]
    with pytest.raises(ValidationFailed) as gone:
        search_audit(w.session, w.staff.manager, patient_id=987654)
    assert "search for them again" in gone.value.errors["patient"]
    with pytest.raises(ValidationFailed):
        search_audit(w.session, w.staff.manager, limit=0)


# --- export --------------------------------------------------------------------------------------------


def test_the_export_holds_the_filtered_events_with_formula_like_text_kept_as_text(
    world: World, tmp_path: Path
) -> None:
    w = world
    dose = _dose(w, w.patient_id, w.plan_id)
    adm.amend_administration(
        w.session, w.staff.nurse, dose.id, reason=FORMULA, site=InjectionSite.DELTOID_RIGHT, clock=CLOCK
    )
    detail = patients.get_patient(w.session, w.staff.nurse, w.patient_id)
    patients.update_patient(
        w.session,
        w.staff.nurse,
        w.patient_id,
        replace(detail.data, allergies="@SUM(1,2)"),
        expected_version=detail.version_id,
    )
    chosen = AuditFilter(patient_id=w.patient_id, staff_id=w.staff.nurse.id)
    expected = search_audit(w.session, w.staff.manager, patient_id=w.patient_id, staff_id=w.staff.nurse.id)
    before = _events(w.session)
    path = tmp_path / "audit.xlsx"
    result = audit_workbook(w.session, w.staff.manager, chosen, path, clock=at(NOW))
    assert (result.events, result.cancelled) == (len(expected), False)

    wb = load_workbook(path)
    assert wb.sheetnames == ["Parameters", "Events", "Changes"]
    events = list(wb["Events"].iter_rows(values_only=True))
    assert events[0][:3] == ("Event id", "When (clinic time)", "User")
    assert [row[0] for row in events[1:]] == [r.id for r in expected]
    amend = next(row for row in events[1:] if row[4] == "amend")
    assert amend[7] == FORMULA and amend[5] == "Dose"
    reason_cell = next(c for c in wb["Events"]["H"] if c.value == FORMULA)
    assert reason_cell.data_type == "s"  # text, never a formula
    changes = list(wb["Changes"].iter_rows(values_only=True))
    allergies = next(row for row in changes if row[6] == "allergies")
    assert (allergies[7] or "", allergies[8]) == ("", "@SUM(1,2)")  # an empty cell reads back as None
    at_cell = next(c for c in wb["Changes"]["I"] if c.value == "@SUM(1,2)")
    assert at_cell.data_type == "s"
    parameters = dict(wb["Parameters"].iter_rows(min_row=2, values_only=True))
    assert parameters["User"] == "Nurse (nurse)" and parameters["Patient"].startswith("P1 REID, Ann")
    assert parameters["Events"] == len(expected)

    # The export is itself in the trail: who, with which filter, how many events, which file.
    assert _events(w.session) == before + 1
    note = search_audit(w.session, w.staff.manager, entity="audit", limit=1)[0]
    assert (note.action, note.entity_id, note.staff_id) == ("export", "trail", w.staff.manager.id)
    new = {c.field: c.new for c in note.changes}
    assert new["events"] == len(expected) and new["file"] == "audit.xlsx"
    assert new["filter"] == {"patient_id": w.patient_id, "staff_id": w.staff.nurse.id}


def test_a_cancelled_export_leaves_no_file_and_no_note(world: World, tmp_path: Path) -> None:
    w = world
    before = _events(w.session)
    result = audit_workbook(
        w.session, w.staff.manager, AuditFilter(), tmp_path / "a.xlsx", progress=lambda done, total: False
    )
    assert result.cancelled and list(tmp_path.iterdir()) == [] and _events(w.session) == before


# --- who may ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["nurse"])
def test_a_nurse_is_refused_everything_and_nothing_is_written(world: World, tmp_path: Path, who: str) -> None:
    w = world
    nurse: Actor = getattr(w.staff, who)
    before = _events(w.session)
    for call in (
        lambda: search_audit(w.session, nurse),
        lambda: audit_log.staff_choices(w.session, nurse),
        lambda: audit_log.find_patients(w.session, nurse, "reid"),
        lambda: audit_log.count_audit(w.session, nurse, AuditFilter()),
        lambda: audit_log.audit_batches(w.session, nurse, AuditFilter()),  # refused at the call
        lambda: audit_workbook(w.session, nurse, AuditFilter(), tmp_path / "nurse.xlsx"),
        lambda: audit_log.record_export(w.session, nurse, AuditFilter(), events=1, file_name="x.xlsx"),
    ):
        with pytest.raises(PermissionDenied) as refused:
            call()
        assert "nurse may not read audit" in str(refused.value)
    assert list(tmp_path.iterdir()) == [] and _events(w.session) == before


def test_a_pharmacist_reads_the_trail_but_may_not_carry_it_away(world: World, tmp_path: Path) -> None:
    w = world
    assert search_audit(w.session, w.staff.pharmacist, limit=1)
    before = _events(w.session)
    with pytest.raises(PermissionDenied) as refused:
        audit_workbook(w.session, w.staff.pharmacist, AuditFilter(), tmp_path / "p.xlsx")
    assert "may not export reports" in str(refused.value)
    assert list(tmp_path.iterdir()) == [] and _events(w.session) == before


def test_times_are_shown_in_the_clinic_zone_in_the_export(world: World, tmp_path: Path) -> None:
    w = world
    path = tmp_path / "t.xlsx"
    audit_workbook(w.session, w.staff.admin, AuditFilter(entity="treatment_plan"), path, clock=at(NOW))
    rows = list(load_workbook(path)["Events"].iter_rows(min_row=2, values_only=True))
    stored = search_audit(w.session, w.staff.admin, entity="treatment_plan")
    assert len(rows) == len(stored) == 2
    for exported, event in zip(rows, stored, strict=True):
        local = event.at.astimezone(LONDON).replace(tzinfo=None)
        assert exported[0] == event.id and abs(exported[1] - local) < timedelta(milliseconds=1)
