"""The clinic's audit trail for those who review it: every event, filtered by who, which patient, which
record and which clinic days, newest first, paged from the database, with each change as before and after.

The audit table can hold millions of rows. Reads are keyset pages (id descending, `after` the last id of
the page before), so a page costs the same at the start of the trail as deep into it, and nothing ever
reads the whole table. A patient's events are found as their History finds them
(services.patients.patient_events: their record, labs, plans, doses and supplies home, by the
(entity, entity_id) index).

API (all need READ_AUDIT):
- ``search_audit(session, actor, *, staff_id, patient_id, entity, entity_id, since, until, limit, after)``
- ``audit_batches(...)`` every matching event, in pages, for an export;
- ``count_audit(...)``, ``staff_choices(...)``, ``find_patients(...)``, ``describe_filter(...)``;
- ``authorize_export`` / ``record_export``: an export also needs EXPORT_REPORTS, and is itself audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from b12desk.clock import Clock
from b12desk.data.audit import append_event
from b12desk.data.models import AuditEvent, Patient, Staff
from b12desk.domain.permissions import Permission
from b12desk.services import clinic, patients
from b12desk.services.common import Actor, ValidationFailed, require

PAGE = 200  # events per page of the viewer: a screenful many times over, read in a few milliseconds
EXPORT_BATCH = 2_000  # events per read while exporting
MAX_PAGE = 10_000
MAX_ID_LENGTH = 64  # AuditEvent.entity and entity_id are String(64)
PATIENT_MATCHES = 25  # patients offered for one search
COMMON_KIND_EVENTS = 5_000  # more events than this of one kind: walk the table, not the index

# The kinds of record the services audit, in the words of the screens. An entity not listed here (one a
# later version adds) is still shown and filtered on, by its own name.
RECORD_KINDS: dict[str, str] = {
    "patient": "Patient",
    "treatment_plan": "Treatment plan",
    "administration": "Dose",
    "lab_result": "Lab result",
    "lot": "Stock lot",
    "product": "Product",
    "regimen_template": "Regimen template",
    "scheduled_event": "Monitoring task",
    "staff": "Staff account",
    "clinic_setting": "Clinic setting",
    "patient_csv": "Patient import (CSV)",
    "administration_file": "Dose history import",
    "report": "Report export",
    "audit": "Audit trail export",
    "database": "Database",
}
EXPORT_ENTITY = "audit"
EXPORT_ENTITY_ID = "trail"


def kind_label(entity: str) -> str:
    return RECORD_KINDS.get(entity, entity.replace("_", " ").capitalize())


class FieldChange(NamedTuple):
    """One field of an event: its value before (None when the event created it) and after."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime  # aware, UTC
    staff_id: int | None
    username: str  # "" for the system (start-up, demo data)
    full_name: str
    action: str
    entity: str
    entity_id: str
    reason: str
    changes: tuple[FieldChange, ...]

    @property
    def who(self) -> str:
        if self.staff_id is None:
            return "system"
        return f"{self.full_name} ({self.username})" if self.full_name else self.username


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to show; None (or blank) is "any". Days are clinic days, both included."""

    staff_id: int | None = None
    patient_id: int | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: date | None = None
    until: date | None = None

    def validated(self) -> AuditFilter:
        """The same filter with blanks as None, or ValidationFailed naming each field that is wrong."""
        entity = (self.entity or "").strip() or None
        entity_id = (self.entity_id or "").strip() or None
        errors: dict[str, str] = {}
        if entity_id is not None and entity is None:
            errors["entity"] = "Choose the kind of record the id belongs to (e.g. Dose), or clear the id."
        if entity is not None and len(entity) > MAX_ID_LENGTH:
            errors["entity"] = f"A record kind has at most {MAX_ID_LENGTH} characters."
        if entity_id is not None and len(entity_id) > MAX_ID_LENGTH:
            errors["entity_id"] = (
                f"A record id has at most {MAX_ID_LENGTH} characters; check what was pasted."
            )
        if self.since is not None and self.until is not None and self.since > self.until:
            errors["until"] = (
                f"The 'To' day ({self.until.isoformat()}) is before the 'From' day "
                f"({self.since.isoformat()}): swap them, or clear one."
            )
        if errors:
            raise ValidationFailed(errors)
        return AuditFilter(self.staff_id, self.patient_id, entity, entity_id, self.since, self.until)

    def as_dict(self) -> dict[str, Any]:
        """The filter as the export's audit event records it."""
        values = {
            "staff_id": self.staff_id,
            "patient_id": self.patient_id,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return {k: v for k, v in values.items() if v is not None}


def value_text(value: Any) -> str:
    """An audited value as text: '' for none, JSON for lists and mappings, the value itself otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _changes(old_json: str, new_json: str) -> tuple[dict[str, Any], dict[str, Any]]:
    old, new = json.loads(old_json or "{}"), json.loads(new_json or "{}")
    # A value that is not a mapping (never written by append_event, but the column is plain text).
    return (old if isinstance(old, dict) else {"value": old}), (
        new if isinstance(new, dict) else {"value": new}
    )


def _walks_the_table(session: Session, entity: str) -> bool:
    """Whether a filter on the kind of record alone should walk the table rather than its index (SQLite).

    SQLite takes the (entity, entity_id) index for `entity = ?` whatever the count, then sorts every match
    to find the newest: 2.3 s for the doses of a million-event trail, against a few milliseconds walking
    the table newest first until the page is full. A rare kind is the other way round, so ask the index
    (a few thousand entries at most) which one this is. PostgreSQL's planner weighs this itself."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    common = session.scalar(
        select(AuditEvent.id).where(AuditEvent.entity == entity).limit(1).offset(COMMON_KIND_EVENTS)
    )
    return common is not None


class _Query:
    """A validated filter turned into SQL conditions, and the post-filter a patient's lot events need."""

    def __init__(self, session: Session, audit_filter: AuditFilter, clock: Clock | None) -> None:
        f = audit_filter.validated()
        self.filter = f
        self.conditions: list[Any] = []
        self.patient: patients.PatientEvents | None = None
        if f.staff_id is not None:
            self.conditions.append(AuditEvent.staff_id == f.staff_id)
        if f.entity is not None:
            if f.entity_id is None and f.patient_id is None and _walks_the_table(session, f.entity):
                # An expression (entity || '') is a term SQLite cannot answer from an index.
                self.conditions.append(AuditEvent.entity.concat("") == f.entity)
            else:
                self.conditions.append(AuditEvent.entity == f.entity)
        if f.entity_id is not None:
            self.conditions.append(AuditEvent.entity_id == f.entity_id)
        if f.since is not None or f.until is not None:
            clock = clock or clinic.clinic_clock(session)
            if f.since is not None:
                self.conditions.append(AuditEvent.at >= clock.start_of_day(f.since))
            if f.until is not None:
                self.conditions.append(AuditEvent.at < clock.start_of_day(f.until + timedelta(days=1)))
        if f.patient_id is not None:
            if session.get(Patient, f.patient_id) is None:
                raise ValidationFailed(
                    {"patient": "That patient is not in this database; search for them again."}
                )
            self.patient = patients.patient_events(session, f.patient_id)
            self.conditions.append(self.patient.condition())

    def page(self, session: Session, *, limit: int, after: int | None) -> list[AuditRow]:
        """Up to `limit` events with ids below `after`, newest first."""
        out: list[AuditRow] = []
        before = after
        while len(out) < limit:
            want = limit - len(out)
            stmt = (
                select(
                    AuditEvent.id,
                    AuditEvent.at,
                    AuditEvent.staff_id,
                    Staff.username,
                    Staff.full_name,
                    AuditEvent.action,
                    AuditEvent.entity,
                    AuditEvent.entity_id,
                    AuditEvent.reason,
                    AuditEvent.old_values,
                    AuditEvent.new_values,
                )
                .outerjoin(Staff, Staff.id == AuditEvent.staff_id)
                .where(*self.conditions)
                .order_by(AuditEvent.id.desc())
                .limit(want)
            )
            if before is not None:
                stmt = stmt.where(AuditEvent.id < before)
            rows = session.execute(stmt).all()
            for event_id, at, staff_id, username, full_name, action, entity, entity_id, reason, o, n in rows:
                old, new = _changes(o, n)
                if self.patient is not None and not self.patient.keeps(entity, new):
                    continue  # a supply home from the same lot to someone else
                fields = sorted(set(old) | set(new))
                out.append(
                    AuditRow(
                        id=event_id,
                        at=at,
                        staff_id=staff_id,
                        username=username or "",
                        full_name=full_name or "",
                        action=action,
                        entity=entity,
                        entity_id=entity_id,
                        reason=reason or "",
                        changes=tuple(FieldChange(k, old.get(k), new.get(k)) for k in fields),
                    )
                )
            if len(rows) < want:
                break  # the trail is exhausted
            before = rows[-1][0]  # some were another patient's: read on from the last one looked at
        return out

    def count(self, session: Session) -> int:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(*self.conditions)) or 0


def search_audit(
    session: Session,
    actor: Actor,
    *,
    staff_id: int | None = None,
    patient_id: int | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = PAGE,
    after: int | None = None,
    clock: Clock | None = None,
) -> list[AuditRow]:
    """One page of the events that match every filter given, newest first; the next page is
    `after=<the last row's id>`. Days are clinic days (`clock`'s zone), both included."""
    require(session, actor, Permission.READ_AUDIT)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed({"limit": f"Ask for between 1 and {MAX_PAGE:,} events at a time."})
    audit_filter = AuditFilter(staff_id, patient_id, entity, entity_id, since, until)
    return _Query(session, audit_filter, clock).page(session, limit=limit, after=after)


def audit_batches(
    session: Session,
    actor: Actor,
    audit_filter: AuditFilter,
    *,
    batch: int = EXPORT_BATCH,
    clock: Clock | None = None,
) -> Iterator[list[AuditRow]]:
    """Every matching event, newest first, in pages of `batch`: what an export streams. The permission
    and the filter are checked at the call, before the first page is asked for."""
    require(session, actor, Permission.READ_AUDIT)
    query = _Query(session, audit_filter, clock)

    def pages() -> Iterator[list[AuditRow]]:
        after: int | None = None
        while True:
            page = query.page(session, limit=batch, after=after)
            if page:
                yield page
            if len(page) < batch:
                return
            after = page[-1].id

    return pages()


def count_audit(
    session: Session, actor: Actor, audit_filter: AuditFilter, *, clock: Clock | None = None
) -> int:
    """How many events match (an upper bound with a patient filter: a lot's supplies to others count)."""
    require(session, actor, Permission.READ_AUDIT)
    return _Query(session, audit_filter, clock).count(session)


# --- the choices of the filters ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffChoice:
    id: int
    username: str
    full_name: str
    role: str
    active: bool

    @property
    def label(self) -> str:
        text = f"{self.full_name} ({self.username})" if self.full_name else self.username
        return text if self.active else f"{text}, inactive"


def staff_choices(session: Session, actor: Actor) -> list[StaffChoice]:
    """Everyone who may appear in the trail, former staff too (their events stay), by name."""
    require(session, actor, Permission.READ_AUDIT)
    rows = session.execute(
        select(Staff.id, Staff.username, Staff.full_name, Staff.role, Staff.active).order_by(
            func.lower(Staff.full_name), Staff.username
        )
    ).all()
    return [StaffChoice(i, u, n, r.value, bool(a)) for i, u, n, r, a in rows]


@dataclass(frozen=True, slots=True)
class PatientChoice:
    id: int
    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date
    archived: bool

    @property
    def label(self) -> str:
        text = (
            f"{self.mrn}  {self.family_name.upper()}, {self.given_name}  ({self.date_of_birth.isoformat()})"
        )
        return f"{text}, archived" if self.archived else text


def find_patients(
    session: Session, actor: Actor, text: str, *, limit: int = PATIENT_MATCHES
) -> list[PatientChoice]:
    """Patients whose MRN is `text`, or whose MRN or names start with it (archived ones too: their
    events stay in the trail); an exact MRN first, then by name."""
    require(session, actor, Permission.READ_AUDIT)
    words = text.split()
    if not words:
        raise ValidationFailed({"patient": "Type an MRN or a name (family or given, or both) to search for."})
    conditions = []
    for word in words[:4]:
        like = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                func.lower(Patient.mrn).like(like, escape="\\"),
                func.lower(Patient.family_name).like(like, escape="\\"),
                func.lower(Patient.given_name).like(like, escape="\\"),
            )
        )
    exact = func.lower(Patient.mrn) == text.strip().lower()
    rows = session.execute(
        select(
            Patient.id,
            Patient.mrn,
            Patient.family_name,
            Patient.given_name,
            Patient.date_of_birth,
            Patient.archived,
        )
        .where(or_(exact, and_(*conditions)))  # every word matches the MRN or a name
        .order_by(exact.desc(), func.lower(Patient.family_name), func.lower(Patient.given_name), Patient.id)
        .limit(limit)
    ).all()
    return [PatientChoice(i, m, f, g, d, bool(a)) for i, m, f, g, d, a in rows]


def describe_filter(session: Session, actor: Actor, audit_filter: AuditFilter) -> list[tuple[str, str]]:
    """The filter in words, for the export's first sheet: (what, which)."""
    require(session, actor, Permission.READ_AUDIT)
    f = audit_filter.validated()
    who = "Anyone"
    if f.staff_id is not None:
        staff = session.get(Staff, f.staff_id)
        who = f"{staff.full_name} ({staff.username})" if staff else f"Staff id {f.staff_id}"
    patient_text = "Any"
    if f.patient_id is not None:
        patient = session.get(Patient, f.patient_id)
        patient_text = (
            f"{patient.mrn} {patient.family_name.upper()}, {patient.given_name}"
            if patient
            else f"Patient id {f.patient_id}"
        )
    return [
        ("User", who),
        ("Patient", patient_text),
        ("Record kind", kind_label(f.entity) if f.entity else "Any"),
        ("Record id", f.entity_id or "Any"),
        ("From (clinic day)", f.since.isoformat() if f.since else "The first event"),
        ("To (clinic day, inclusive)", f.until.isoformat() if f.until else "The latest event"),
    ]


# --- exporting -----------------------------------------------------------------------------------------


def authorize_export(session: Session, actor: Actor) -> None:
    """Refuse before anything is read or written. Reading the trail on screen needs READ_AUDIT; carrying
    it away needs EXPORT_REPORTS as well, as every other bulk export does: the old and new values hold
    patients' names, dates of birth, allergies and doses."""
    require(session, actor, Permission.READ_AUDIT)
    require(session, actor, Permission.EXPORT_REPORTS)


def record_export(
    session: Session, actor: Actor, audit_filter: AuditFilter, *, events: int, file_name: str
) -> None:
    """The trail's own note that part of it left the database: who, with which filter, how many events."""
    authorize_export(session, actor)
    append_event(
        session,
        staff_id=actor.id,
        action="export",
        entity=EXPORT_ENTITY,
        entity_id=EXPORT_ENTITY_ID,
        new={"filter": audit_filter.validated().as_dict(), "events": events, "file": file_name},
    )
