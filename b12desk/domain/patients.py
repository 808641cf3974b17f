"""What a patient record must hold to be saved: one message per wrong field, saying how to fix it."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date
from enum import StrEnum
from typing import Any

from b12desk.domain.enums import Cause, Presentation, Sex

MRN_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-/]{0,31}$")
OLDEST_PLAUSIBLE_AGE_YEARS = 125
MAX_NAME = 100
MAX_TEXT = 4000


@dataclass(frozen=True, slots=True)
class PatientInput:
    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date | None
    sex: Sex = Sex.UNKNOWN
    phone: str = ""
    email: str = ""
    address: str = ""
    cause: Cause = Cause.UNKNOWN
    presentation: Presentation = Presentation.NOT_RECORDED
    neuro_involvement: bool = False
    neuro_symptoms: str = ""
    pregnant_or_breastfeeding: bool = False
    flag_b12_hypersensitivity: bool = False
    flag_lebers_disease: bool = False
    flag_benzyl_alcohol_sensitivity: bool = False
    flag_cobalt_allergy: bool = False  # a caution to counsel on, beside the contraindications
    self_injection_trained_on: date | None = None  # trained to self-inject: may report home doses
    self_injection_trainer: str = ""
    allergies: str = ""
    notes: str = ""

    def normalized(self) -> PatientInput:
        """Trim whitespace and upper-case the MRN so 'ab123 ' and 'AB123' are the same patient."""
        trimmed: dict[str, Any] = {
            f.name: getattr(self, f.name).strip()
            for f in fields(self)
            if isinstance(getattr(self, f.name), str) and not isinstance(getattr(self, f.name), StrEnum)
        }
        trimmed["mrn"] = trimmed["mrn"].upper()
        return replace(self, **trimmed)


PATIENT_FIELD_LABELS = {
    "mrn": "MRN",
    "family_name": "Family name",
    "given_name": "Given name",
    "date_of_birth": "Date of birth",
    "sex": "Sex",
    "phone": "Phone",
    "email": "Email",
    "address": "Address",
    "cause": "Cause of deficiency",
    "presentation": "What is treated",
    "neuro_involvement": "Neurologic involvement",
    "neuro_symptoms": "Neurologic symptoms",
    "pregnant_or_breastfeeding": "Pregnant or breastfeeding",
    "flag_b12_hypersensitivity": "Cobalt or B12 hypersensitivity",
    "flag_lebers_disease": "Leber's disease",
    "flag_benzyl_alcohol_sensitivity": "Benzyl alcohol sensitivity",
    "flag_cobalt_allergy": "Cobalt allergy: counsel",
    "self_injection_trained_on": "Trained to self-inject on",
    "self_injection_trainer": "Trained by",
    "allergies": "Allergies",
    "notes": "Notes",
}

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_PATTERN = re.compile(r"^[0-9+()\-. ]{5,30}$")


def validate_patient(p: PatientInput, *, today: date) -> dict[str, str]:
    """Return {field: message} for every problem; empty when the record can be saved."""
    errors: dict[str, str] = {}
    if not p.mrn:
        errors["mrn"] = "Enter the MRN (the hospital number on the patient's wristband or letter)."
    elif not MRN_PATTERN.match(p.mrn):
        errors["mrn"] = "MRN may hold letters, digits, '-' and '/', up to 32 characters."
    for name in ("family_name", "given_name"):
        value = getattr(p, name)
        label = PATIENT_FIELD_LABELS[name]
        if not value:
            errors[name] = f"Enter the {label.lower()}."
        elif len(value) > MAX_NAME:
            errors[name] = f"{label} is longer than {MAX_NAME} characters."
        elif any(ch.isdigit() for ch in value):
            errors[name] = f"{label} contains a digit; check it was typed in the right box."
    if p.date_of_birth is None:
        errors["date_of_birth"] = "Enter the date of birth (YYYY-MM-DD)."
    elif p.date_of_birth > today:
        errors["date_of_birth"] = f"Date of birth {p.date_of_birth.isoformat()} is in the future."
    elif today.year - p.date_of_birth.year > OLDEST_PLAUSIBLE_AGE_YEARS:
        errors["date_of_birth"] = (
            f"Date of birth {p.date_of_birth.isoformat()} makes the patient older than "
            f"{OLDEST_PLAUSIBLE_AGE_YEARS}; check the year."
        )
    if p.email and not EMAIL_PATTERN.match(p.email):
        errors["email"] = f"'{p.email}' is not an email address (name@example.org)."
    if p.phone and not PHONE_PATTERN.match(p.phone):
        errors["phone"] = "Phone may hold digits, spaces and + ( ) - . only."
    if p.neuro_involvement and not p.neuro_symptoms:
        errors["neuro_symptoms"] = (
            "Describe the neurologic symptoms (e.g. paraesthesia, ataxia): they decide the regimen."
        )
    if p.self_injection_trained_on is not None:
        if p.self_injection_trained_on > today:
            errors["self_injection_trained_on"] = "The training date is in the future."
        if not p.self_injection_trainer:
            errors["self_injection_trainer"] = "Name who trained the patient to self-inject."
    elif p.self_injection_trainer:
        errors["self_injection_trained_on"] = "Enter the date the patient was trained to self-inject."
    if p.pregnant_or_breastfeeding and p.sex == Sex.MALE:
        errors["pregnant_or_breastfeeding"] = "Pregnancy or breastfeeding is recorded for a male patient."
    for name in ("address", "allergies", "notes", "neuro_symptoms"):
        if len(getattr(p, name)) > MAX_TEXT:
            errors[name] = f"{PATIENT_FIELD_LABELS[name]} is longer than {MAX_TEXT} characters."
    return errors
