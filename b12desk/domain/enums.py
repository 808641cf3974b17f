"""The closed vocabularies of the domain, stored by value in the database."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    MANAGER = "manager"
    ADMIN = "admin"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Cause(StrEnum):
    """Cause of B12 deficiency, as the roster records it; it chooses the regimen template later."""

    DIETARY = "dietary"
    PERNICIOUS_ANAEMIA = "pernicious_anaemia"
    MALABSORPTION_GI_DISEASE = "malabsorption_gi_disease"
    GASTRECTOMY = "gastrectomy"
    ILEAL_RESECTION = "ileal_resection"
    POST_BARIATRIC = "post_bariatric"
    MEDICATION_METFORMIN = "medication_metformin"
    MEDICATION_ACID_SUPPRESSION = "medication_acid_suppression"
    MEDICATION_NITROUS_OXIDE = "medication_nitrous_oxide"
    MEDICATION_OTHER = "medication_other"
    UNKNOWN = "unknown"


CAUSE_LABELS: dict[Cause, str] = {
    Cause.DIETARY: "Dietary",
    Cause.PERNICIOUS_ANAEMIA: "Pernicious anaemia",
    Cause.MALABSORPTION_GI_DISEASE: "Malabsorption: GI disease",
    Cause.GASTRECTOMY: "Malabsorption: gastrectomy",
    Cause.ILEAL_RESECTION: "Malabsorption: ileal resection",
    Cause.POST_BARIATRIC: "Post-bariatric surgery",
    Cause.MEDICATION_METFORMIN: "Medication: metformin",
    Cause.MEDICATION_ACID_SUPPRESSION: "Medication: PPI or H2 blocker",
    Cause.MEDICATION_NITROUS_OXIDE: "Medication: nitrous oxide",
    Cause.MEDICATION_OTHER: "Medication: other",
    Cause.UNKNOWN: "Unknown",
}


class Presentation(StrEnum):
    """What is being treated: with the cause and neurologic involvement it chooses the template suggested
    (a treatment phase for an established deficiency, prophylaxis or oral treatment for prevention)."""

    NOT_RECORDED = "not_recorded"
    ANAEMIA = "deficiency_with_anaemia"
    DEFICIENCY = "deficiency_without_anaemia"
    PREVENTION = "prevention"


PRESENTATION_LABELS: dict[Presentation, str] = {
    Presentation.NOT_RECORDED: "Not recorded",
    Presentation.ANAEMIA: "Deficiency with anaemia",
    Presentation.DEFICIENCY: "Deficiency without anaemia",
    Presentation.PREVENTION: "At risk: prevention only",
}

SEX_LABELS: dict[Sex, str] = {
    Sex.FEMALE: "Female",
    Sex.MALE: "Male",
    Sex.OTHER: "Other",
    Sex.UNKNOWN: "Not recorded",
}


class Formulation(StrEnum):
    CYANOCOBALAMIN = "cyanocobalamin"
    HYDROXOCOBALAMIN = "hydroxocobalamin"
    OTHER = "other"  # e.g. the 5 g IV cyanide antidote: stocked elsewhere, never for deficiency


class Container(StrEnum):
    AMPOULE = "ampoule"
    SINGLE_DOSE_VIAL = "single_dose_vial"
    MULTI_DOSE_VIAL = "multi_dose_vial"


class Route(StrEnum):
    IM = "im"
    DEEP_SC = "deep_sc"
    SC = "sc"
    IV = "iv"
    ORAL = "oral"


class InjectionSite(StrEnum):
    DELTOID_LEFT = "deltoid_left"
    DELTOID_RIGHT = "deltoid_right"
    VASTUS_LATERALIS_LEFT = "vastus_lateralis_left"
    VASTUS_LATERALIS_RIGHT = "vastus_lateralis_right"
    VENTROGLUTEAL_LEFT = "ventrogluteal_left"
    VENTROGLUTEAL_RIGHT = "ventrogluteal_right"
    DORSOGLUTEAL_LEFT = "dorsogluteal_left"
    DORSOGLUTEAL_RIGHT = "dorsogluteal_right"


SITE_LABELS: dict[InjectionSite, str] = {
    InjectionSite.DELTOID_LEFT: "left deltoid",
    InjectionSite.DELTOID_RIGHT: "right deltoid",
    InjectionSite.VASTUS_LATERALIS_LEFT: "left vastus lateralis",
    InjectionSite.VASTUS_LATERALIS_RIGHT: "right vastus lateralis",
    InjectionSite.VENTROGLUTEAL_LEFT: "left ventrogluteal",
    InjectionSite.VENTROGLUTEAL_RIGHT: "right ventrogluteal",
    InjectionSite.DORSOGLUTEAL_LEFT: "left dorsogluteal",
    InjectionSite.DORSOGLUTEAL_RIGHT: "right dorsogluteal",
}


class VialStatus(StrEnum):
    OPEN = "open"
    DISCARDED = "discarded"


class MovementKind(StrEnum):
    RECEIVED = "received"
    OPENED = "opened"
    DOSE_DRAWN = "dose_drawn"
    WASTED = "wasted"
    ADJUSTED = "adjusted"
    RETURNED = "returned"  # to the supplier
    # A dose entered in error: its volume or container back to stock, or a note saying why not.
    DOSE_RETURNED = "dose_returned"
    SUPPLIED_HOME = "supplied_home"  # vials given to a patient trained to self-inject


class PlanStatus(StrEnum):
    DRAFT = "draft"
    VERIFIED = "verified"
    ACTIVE = "active"
    COMPLETED = "completed"
    STOPPED = "stopped"


class PhaseKind(StrEnum):
    INDUCTION = "induction"
    MAINTENANCE = "maintenance"


class EventKind(StrEnum):
    DOSE = "dose"
    LAB = "lab"
    REVIEW = "review"


class EventStatus(StrEnum):
    DUE = "due"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class AdministrationOutcome(StrEnum):
    GIVEN = "given"
    REFUSED = "refused"  # by the patient
    HELD = "held"  # for a clinical reason
    NOT_GIVEN = "not_given"  # no stock, or another reason


OUTCOME_LABELS: dict[AdministrationOutcome, str] = {
    AdministrationOutcome.GIVEN: "Given",
    AdministrationOutcome.REFUSED: "Refused by the patient",
    AdministrationOutcome.HELD: "Held for a clinical reason",
    AdministrationOutcome.NOT_GIVEN: "Not given (no stock, other)",
}


class Reaction(StrEnum):
    """What the nurse saw after the injection."""

    NONE = "none"
    LOCAL = "local"  # pain, redness or swelling at the site
    ALLERGIC = "allergic"  # seek urgent care; flags the patient


REACTION_LABELS: dict[Reaction, str] = {
    Reaction.NONE: "None",
    Reaction.LOCAL: "Pain, redness or swelling at the site",
    Reaction.ALLERGIC: "Allergic reaction",
}

# Symptoms scored at each visit, each 0 (none) to 3 (severe), so the response can be followed.
SYMPTOMS: dict[str, str] = {
    "fatigue": "Fatigue",
    "tingling": "Tingling or numbness",
    "balance": "Balance",
    "memory_mood": "Memory or mood",
    "appetite": "Appetite",
}
SYMPTOM_SCALE = ("none", "mild", "moderate", "severe")


class Preservative(StrEnum):
    """Preservatives a product may contain, as structured data: a sensitivity is checked against these."""

    BENZYL_ALCOHOL = "benzyl_alcohol"
    METHYLPARABEN = "methylparaben"
    PROPYLPARABEN = "propylparaben"
    CHLOROBUTANOL = "chlorobutanol"
    PHENOL = "phenol"


PRESERVATIVE_LABELS: dict[Preservative, str] = {
    Preservative.BENZYL_ALCOHOL: "Benzyl alcohol",
    Preservative.METHYLPARABEN: "Methylparaben",
    Preservative.PROPYLPARABEN: "Propylparaben",
    Preservative.CHLOROBUTANOL: "Chlorobutanol",
    Preservative.PHENOL: "Phenol",
}


class RecordStatus(StrEnum):
    """Clinical records are never deleted: a wrong one is marked, and a correction links to it."""

    CURRENT = "current"
    AMENDED = "amended"
    ENTERED_IN_ERROR = "entered_in_error"


class LabContext(StrEnum):
    BASELINE = "baseline"
    FOLLOW_UP = "follow_up"
