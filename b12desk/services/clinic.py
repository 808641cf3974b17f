"""Clinic-wide settings shared by every workstation: time zone, open days, the dose-safety limits, the
laboratory's decision thresholds for B12 results, and the clinic's name and phone (printed on dose cards).

Each is a row of clinic_settings holding JSON; a change is audited with its old and new values. Defaults
come from the computer (time zone) and from resources/dose_safety.json (limits, with their sources).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from b12desk.clock import Clock, UnknownTimeZone, system_zone_name, zone_named
from b12desk.data.audit import append_event
from b12desk.data.models import AuditEvent, ClinicSetting
from b12desk.data.reference import lab_tests, read_resource_json
from b12desk.data.types import utcnow
from b12desk.domain.dose_check import DoseRules, RulesError, parse_dose_rules
from b12desk.domain.lab_bands import LabBands, LabBandsError, parse_lab_bands
from b12desk.domain.permissions import Permission
from b12desk.services.common import Actor, ValidationFailed, require

TIME_ZONE_KEY = "clinic_time_zone"
OPEN_DAYS_KEY = "clinic_open_days"
DOSE_RULES_KEY = "dose_safety_rules"
LAB_BANDS_KEY = "lab_decision_thresholds"
CLINIC_NAME_KEY = "clinic_name"
CLINIC_PHONE_KEY = "clinic_phone"
CLINIC_NAME_MAX = 120
CLINIC_PHONE_MAX = 40
DEFAULT_OPEN_DAYS = frozenset(range(5))  # Monday to Friday


def _read(session: Session, key: str) -> Any | None:
    row = session.get(ClinicSetting, key)
    return None if row is None else json.loads(row.value)


def _write(session: Session, actor: Actor, key: str, value: Any, *, reason: str = "") -> None:
    """Store a setting and audit the change (nothing is written when the value is the same)."""
    row = session.get(ClinicSetting, key)
    old = None if row is None else json.loads(row.value)
    if old == value:
        return
    text = json.dumps(value, sort_keys=True)
    if row is None:
        session.add(ClinicSetting(key=key, value=text, updated_by_id=actor.id))
    else:
        row.value, row.updated_by_id, row.updated_at = text, actor.id, utcnow()
    session.flush()
    append_event(
        session,
        staff_id=actor.id,
        action="update",
        entity="clinic_setting",
        entity_id=key,
        old={"value": old},
        new={"value": value},
        reason=reason,
    )


# --- time zone -----------------------------------------------------------------------------------------


def time_zone_name(session: Session) -> str:
    """The clinic's IANA zone: as set, else the computer's."""
    stored = _read(session, TIME_ZONE_KEY)
    return str(stored) if stored else system_zone_name()


def clinic_clock(session: Session) -> Clock:
    """The real time in the clinic's zone: what every service uses when no clock is passed."""
    name = time_zone_name(session)
    try:
        return Clock(zone_named(name))
    except UnknownTimeZone:  # a zone this computer's tz database lacks: fall back, never fail a read
        return Clock(zone_named(system_zone_name()))


def set_time_zone(session: Session, actor: Actor, name: str) -> Clock:
    require(session, actor, Permission.CONFIGURE_CLINIC)
    try:
        zone = zone_named(name)
    except UnknownTimeZone as exc:
        raise ValidationFailed({"time_zone": str(exc)}) from None
    _write(session, actor, TIME_ZONE_KEY, name.strip())
    return Clock(zone)


# --- the clinic's name and phone ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClinicContact:
    """What a patient's dose card prints so they can call; empty until someone with the right sets it."""

    name: str = ""
    phone: str = ""


def clinic_contact(session: Session) -> ClinicContact:
    name, phone = _read(session, CLINIC_NAME_KEY), _read(session, CLINIC_PHONE_KEY)
    return ClinicContact(name=str(name or ""), phone=str(phone or ""))


def set_clinic_contact(session: Session, actor: Actor, *, name: str, phone: str) -> ClinicContact:
    """Set the name and phone printed on dose cards; each change is audited with its old value."""
    require(session, actor, Permission.CONFIGURE_CLINIC)
    name, phone = " ".join(name.split()), " ".join(phone.split())
    errors: dict[str, str] = {}
    if len(name) > CLINIC_NAME_MAX:
        errors["clinic_name"] = f"The clinic's name may have at most {CLINIC_NAME_MAX} characters."
    if len(phone) > CLINIC_PHONE_MAX:
        errors["clinic_phone"] = f"The phone number may have at most {CLINIC_PHONE_MAX} characters."
    elif phone and not all(ch.isdigit() or ch in " +-()./ext" for ch in phone.lower()):
        errors["clinic_phone"] = (
            "Write the phone number with digits, spaces and + - ( ) (e.g. 020 7946 0000)."
        )
    if errors:
        raise ValidationFailed(errors)
    for key, value in ((CLINIC_NAME_KEY, name), (CLINIC_PHONE_KEY, phone)):
        if value or _read(session, key) is not None:  # clearing a setting never set is no change
            _write(session, actor, key, value)
    return ClinicContact(name=name, phone=phone)


# --- open days -----------------------------------------------------------------------------------------


def open_days(session: Session) -> frozenset[int]:
    stored = _read(session, OPEN_DAYS_KEY)
    return DEFAULT_OPEN_DAYS if stored is None else frozenset(int(d) for d in stored)


def set_open_days(session: Session, actor: Actor, days: frozenset[int]) -> None:
    require(session, actor, Permission.EDIT_TEMPLATES)
    if not days or not all(0 <= d <= 6 for d in days):
        raise ValidationFailed({"open_days": "Choose at least one day the clinic gives injections."})
    _write(session, actor, OPEN_DAYS_KEY, sorted(days))


# --- dose-safety limits --------------------------------------------------------------------------------


def shipped_dose_rules_raw() -> dict[str, Any]:
    data: dict[str, Any] = read_resource_json("dose_safety.json")
    return data


def dose_rules_raw(session: Session) -> dict[str, Any]:
    """The limits in their data form: the clinic's own where set, the shipped defaults otherwise."""
    stored = _read(session, DOSE_RULES_KEY)
    return dict(stored) if isinstance(stored, dict) else shipped_dose_rules_raw()


def dose_rules(session: Session) -> DoseRules:
    try:
        return parse_dose_rules(dose_rules_raw(session))
    except RulesError:
        # A stored value that no longer parses must not switch the checks off: use the shipped limits.
        return parse_dose_rules(shipped_dose_rules_raw())


def set_dose_rules(session: Session, actor: Actor, raw: dict[str, Any], *, reason: str) -> DoseRules:
    """A pharmacist changes the clinic's limits (sites switched off, site volumes, product range)."""
    require(session, actor, Permission.CONFIGURE_CLINIC)
    if not reason.strip():
        raise ValidationFailed({"reason": "Say why the limits change (e.g. local policy on dorsogluteal)."})
    try:
        rules = parse_dose_rules(raw)
    except (RulesError, ValueError, TypeError) as exc:
        raise ValidationFailed({"rules": f"The limits cannot be used: {exc}"}) from None
    _write(session, actor, DOSE_RULES_KEY, raw, reason=reason.strip())
    return rules


# --- laboratory thresholds -----------------------------------------------------------------------------


def shipped_lab_bands_raw() -> dict[str, Any]:
    data: dict[str, Any] = read_resource_json("lab_bands.json")
    return data


def lab_bands_raw(session: Session) -> dict[str, Any]:
    """The decision thresholds in their data form: the clinic's laboratory's where set, else NG239's."""
    stored = _read(session, LAB_BANDS_KEY)
    return dict(stored) if isinstance(stored, dict) else shipped_lab_bands_raw()


def lab_bands(session: Session) -> LabBands:
    try:
        return parse_lab_bands(lab_bands_raw(session), lab_tests())
    except LabBandsError:
        # A stored value that no longer parses (a test renamed since): NG239's, never no bands at all.
        return parse_lab_bands(shipped_lab_bands_raw(), lab_tests())


def set_lab_bands(session: Session, actor: Actor, raw: dict[str, Any], *, reason: str) -> LabBands:
    """A pharmacist enters the clinic's own laboratory's thresholds in place of NG239's."""
    require(session, actor, Permission.CONFIGURE_CLINIC)
    if not reason.strip():
        raise ValidationFailed(
            {"reason": "Say why the thresholds change (e.g. the local laboratory's ranges)."}
        )
    try:
        bands = parse_lab_bands(raw, lab_tests())
    except LabBandsError as exc:
        raise ValidationFailed({"lab_bands": str(exc)}) from None
    _write(session, actor, LAB_BANDS_KEY, raw, reason=reason.strip())
    return bands


def holds_demo_data(session: Session) -> bool:
    """Whether `b12desk demo-data` (or demo mode) ever filled this database: it says so in the audit."""
    found = session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.entity == "database", AuditEvent.entity_id == "demo", AuditEvent.action == "demo_data"
        )
        .limit(1)
    )
    return found is not None
