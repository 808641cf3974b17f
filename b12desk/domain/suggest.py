"""Which regimen template the patient's record points to, and why (resources/causes.json as data).

Pure: the cause's entry, what is treated (the patient's presentation), neurologic involvement and the
Leber's flag in; a template code (or none) and the sentence shown beside the suggestion out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from b12desk.domain.enums import CAUSE_LABELS, PRESENTATION_LABELS, Cause, Formulation, Presentation

# A presentation not recorded is treated as a deficiency with anaemia: never under-treat.
_SITUATION = {
    Presentation.NOT_RECORDED: "anaemia",
    Presentation.ANAEMIA: "anaemia",
    Presentation.DEFICIENCY: "deficiency",
    Presentation.PREVENTION: "prevention",
}
HOC_FALLBACK = {True: "uk_hoc_neuro", False: "uk_hoc_no_neuro"}


@dataclass(frozen=True, slots=True)
class Suggestion:
    code: str | None  # None: the prescriber chooses
    why: str


def suggest_template(
    causes: Mapping[str, Any],
    *,
    cause: Cause,
    presentation: Presentation,
    neuro: bool,
    lebers: bool,
    formulations: Mapping[str, Formulation],
) -> Suggestion:
    """`causes` is causes.json as read; `formulations` the active templates by code (a suggested code
    that is not among them suggests nothing)."""
    entry: Mapping[str, Any] = causes["causes"].get(cause.value, causes["causes"]["unknown"])
    situation = "neuro" if neuro else _SITUATION[presentation]
    code = entry.get(situation)
    facts = f"{CAUSE_LABELS[cause]}; {PRESENTATION_LABELS[presentation].lower()}"
    if neuro:
        facts += "; neurological involvement"
    if presentation == Presentation.NOT_RECORDED and not neuro:
        facts += " (treated as a deficiency with anaemia until recorded)"
    why = str(entry.get("why", {}).get(situation) or causes.get("situations", {}).get(situation, ""))
    if code is not None and lebers and formulations.get(code) == Formulation.CYANOCOBALAMIN:
        code = HOC_FALLBACK[neuro]
        why += " Leber's disease: hydroxocobalamin instead, never cyanocobalamin (optic atrophy)."
    if code is None or code not in formulations:
        return Suggestion(None, f"{facts}: no template is suggested. {why}".strip())
    return Suggestion(code, f"{facts}: {why}".strip())
