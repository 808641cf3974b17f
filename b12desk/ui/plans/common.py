"""Words, labels and small HTML pieces shared by the plan screens."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QLabel,
)

from b12desk.domain.enums import CAUSE_LABELS, PRESENTATION_LABELS, EventKind, PlanStatus, Route
from b12desk.domain.regimens import PhaseDef
from b12desk.domain.schedule import DoseStatus
from b12desk.domain.units import (
    format_mcg,
    format_strength,
)
from b12desk.services import patients
from b12desk.services import plans as plan_service
from b12desk.services.patients import PatientDetail
from b12desk.services.plans import PlanRow, TemplateRow
from b12desk.ui.style import ERROR_RED, WARNING_AMBER
from b12desk.ui.table_model import (
    FIRST_FREE_ROLE,
    ROW_ID_ROLE,
)
from b12desk.ui.widgets import (
    format_date,
    format_local_time,
)

# Named roles of the plan screens' tables, besides table_model.ROW_ROLE (the row's dataclass).
RECORD_ID_ROLE = ROW_ID_ROLE  # its database id, where it has one
DUE_DATE_ROLE = FIRST_FREE_ROLE  # schedule rows: the date as a date
STATUS_ROLE = FIRST_FREE_ROLE + 1  # schedule rows: DoseStatus (None in a preview)

PREVIEW_DAYS = 365
DATE_PLACEHOLDER = "YYYY-MM-DD"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ROUTE_SHORT = {Route.IM: "IM", Route.DEEP_SC: "Deep SC", Route.SC: "SC", Route.IV: "IV", Route.ORAL: "Oral"}
ROUTE_LABELS = {
    Route.IM: "IM – intramuscular",
    Route.DEEP_SC: "Deep SC – deep subcutaneous",
    Route.SC: "SC – subcutaneous",
    Route.IV: "IV – intravenous",
    Route.ORAL: "Oral – by mouth, taken at home",
}
SHORT_STATUS = {
    PlanStatus.DRAFT: "Draft – not verified",
    PlanStatus.VERIFIED: "Verified",
    PlanStatus.ACTIVE: "Active",
    PlanStatus.COMPLETED: "Completed",
    PlanStatus.STOPPED: "Stopped",
}
STATUS_LABELS = {
    PlanStatus.DRAFT: "Draft – awaiting verification",
    PlanStatus.VERIFIED: "Verified",
    PlanStatus.ACTIVE: "Active",
    PlanStatus.COMPLETED: "Completed",
    PlanStatus.STOPPED: "Stopped",
}
CONDITION_LABELS = {
    "severe_anaemia": "severe anaemia",
    "pregnant_or_breastfeeding": "pregnant or breastfeeding",
}
SCHEDULE_STATUS_LABELS = {
    DoseStatus.OVERDUE: "Overdue",
    DoseStatus.DUE: "Due",
    DoseStatus.PLANNED: "Planned",
    DoseStatus.GIVEN: "Given",
}
KIND_LABELS = {EventKind.DOSE: "Dose", EventKind.LAB: "Lab test", EventKind.REVIEW: "Review"}
ACTION_LABELS = {
    "create": "Created (draft)",
    "update": "Edited – back to draft",
    "verify": "Verified",
    "end_phase": "Phase ended at review",
    "complete": "Completed",
    "stop": "Stopped",
    "return_for_review": "Back to the pharmacist to verify again",
}
FIELD_LABELS = {
    "template": "Template",
    "formulation": "Formulation",
    "strength_mcg_per_ml": "Strength",
    "dose_mcg": "Dose",
    "route": "Route",
    "start_date": "Start date",
    "prescriber": "Prescriber",
    "indication": "Indication",
    "hypersensitivity": "Override reason",
    "password": "Password",
    "reason": "Reason for change",
}
OVERDUE_RED = QColor(ERROR_RED)
DUE_AMBER = QColor(WARNING_AMBER)


def route_text(route: Route) -> str:
    return ROUTE_SHORT.get(route, route.value)


def conditions_text(conditions: frozenset[str] | set[str]) -> str:
    return ", ".join(CONDITION_LABELS.get(c, c.replace("_", " ")) for c in sorted(conditions)) or "none"


def phase_description(phase: plan_service.PhaseRow) -> str:
    """A plan's phase in the words the template viewer uses, with how a review ended it."""
    text = PhaseDef(
        kind=phase.kind,
        dose_mcg=phase.dose_mcg,
        interval_days=phase.interval_days,
        times_per_week=phase.times_per_week,
        dose_count=phase.dose_count,
    ).describe()
    if phase.ended_on is not None:
        text += f" — ended {format_date(phase.ended_on)}: {phase.end_reason}"
    return text


def verified_text(plan: PlanRow) -> str:
    if plan.verified_by is None:
        return "not verified"
    return f"{plan.verified_by}, {format_local_time(plan.verified_at)} ({plan.verification_meaning})"


CHANGE_LABELS = {
    "template_id": "template",
    "formulation": "formulation",
    "dose_mcg": "dose",
    "strength_mcg_per_ml": "strength",
    "route": "route",
    "start_date": "start date",
    "continues_elsewhere": "continues treatment begun elsewhere",
    "review_reason": "why it came back",
    "prescriber": "prescriber",
    "indication": "indication",
    "conditions": "conditions",
    "override_reason": "override reason",
    "supplied_as": "supplied",
    "status": "status",
    "meaning": "meaning",
    "phase": "phase",
    "ended_on": "ended on",
    "patient_id": "patient",
}
_CHANGE_PART = re.compile(r"^([a-z_]+): (.*)$", re.DOTALL)


def change_value_text(field: str, value: Any, template_names: Mapping[int, str]) -> str:
    """A stored value as people read it: '1000' -> '1,000 mcg', 'im' -> 'IM', a template id -> its name."""
    if value is None or value == "":
        return "(none)"
    text = str(value)
    if field == "template_id" and text.isdigit():
        return template_names.get(int(text), f"template {text}")
    if field in ("dose_mcg", "strength_mcg_per_ml"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        return format_mcg(number) if field == "dose_mcg" else format_strength(number)
    if field == "formulation":
        return text.capitalize()
    if field == "continues_elsewhere":
        return "yes" if text.lower() in ("true", "1", "yes") else "no"
    if field == "route" and text in Route._value2member_map_:
        return route_text(Route(text))
    if field == "conditions":
        return ", ".join(CONDITION_LABELS.get(c, c) for c in sorted(text.split(",")) if c) or "(none)"
    return text


def split_changes(changes: str) -> list[tuple[str, list[str]]]:
    """The audit's "field: old -> new; field: value" text as (field, [old, new] or [value]).

    A piece that does not start with a known field belongs to the value before it (a '; ' typed
    inside an indication, say).
    """
    parts: list[list[str]] = []
    for piece in changes.split("; ") if changes else []:
        match = _CHANGE_PART.match(piece)
        if match and match.group(1) in CHANGE_LABELS:
            parts.append([match.group(1), match.group(2)])
        elif parts:
            parts[-1][1] += "; " + piece
        else:
            parts.append(["", piece])
    out = []
    for field, text in parts:
        old, arrow, new = text.partition(" -> ")
        out.append((field, [old, new] if arrow else [text]))
    return out


def history_template_ids(rows: Sequence[tuple[Any, str, str, str, str]]) -> set[int]:
    return {
        int(v)
        for *_, changes, _reason in rows
        for field, values in split_changes(changes)
        if field == "template_id"
        for v in values
        if v.strip().isdigit()
    }


def history_changes_text(action: str, changes: str, template_names: Mapping[int, str]) -> str:
    lines = []
    for field, values in split_changes(changes):
        if field == "patient_id":
            continue
        if action == "create" and len(values) == 1 and not values[0].strip():
            continue  # a new plan's empty fields say nothing
        shown = " -> ".join(change_value_text(field, v.strip(), template_names) for v in values)
        label = CHANGE_LABELS.get(field, field)
        lines.append(f"{label}: {shown}" if label else shown)
    return "\n".join(lines)


# --- signatures and plan actions -----------------------------------------------------------------------


def plan_summary_line(plan: PlanRow) -> str:
    return (
        f"{plan.patient_name} ({plan.patient_mrn}): {plan.template_name} (v{plan.template_version}), "
        f"{plan.dose_text} {route_text(plan.route)} from {format_date(plan.start_date)}"
    )


def _warning_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(
        f"QLabel {{ color: {WARNING_AMBER}; background: #fff8e6; border: 1px solid #e8c77a;"
        " border-radius: 4px; padding: 6px; }"
    )
    return label


def template_info_html(template: TemplateRow) -> str:
    """Source, phases and notes; each ⚠ (where references disagree) stands out in amber."""
    d = template.definition
    notes = escape(d.notes).replace("⚠", f'<b style="color:{WARNING_AMBER}">⚠</b>')
    phases = "".join(f"<li>{escape(p.describe())}</li>" for p in d.phases) or "<li>No phases yet.</li>"
    return f"<b>Source:</b> {escape(d.source)}<ul style='margin-top:2px; margin-bottom:2px'>{phases}</ul>" + (
        f"<b>Notes:</b> {notes}" if d.notes else ""
    )


def patient_flags(detail: PatientDetail) -> list[str]:
    """Contraindications, cautions and allergies, in the give-dose screen's words."""
    return list(patients.flag_words(detail.data))


def flags_html(flags: Sequence[str]) -> str:
    """The recorded flags as a screen's header shows them: red and bold, never missed ('' when none)."""
    if not flags:
        return ""
    return f'<span style="color:{ERROR_RED}"><b>⚠ Recorded: {escape(", ".join(flags))}</b></span>'


def patient_header_html(detail: PatientDetail) -> str:
    d = detail.data
    neuro = "yes" if d.neuro_involvement else "no"
    text = (
        f"<b>{escape(d.family_name.upper())}, {escape(d.given_name)}</b> &nbsp; MRN {escape(d.mrn)}"
        f" &nbsp;·&nbsp; born {format_date(d.date_of_birth)} &nbsp;·&nbsp; {escape(CAUSE_LABELS[d.cause])}"
        f" &nbsp;·&nbsp; {escape(PRESENTATION_LABELS[d.presentation].lower())}"
        f" &nbsp;·&nbsp; neurologic involvement: {neuro}"
    )
    flags = patient_flags(detail)
    if flags:
        text += "<br>" + flags_html(flags)
    return text


def open_days_text(days: frozenset[int]) -> str:
    if days == frozenset(range(5)):
        return "Monday to Friday"
    if days == frozenset(range(7)):
        return "every day"
    return ", ".join(WEEKDAY_NAMES[d] for d in sorted(days))


def plan_details_html(plan: PlanRow, changed: frozenset[str] = frozenset()) -> str:
    """The whole plan as a table; fields changed since the last verification stand out in amber."""

    def row(key: str, label: str, value: str) -> str:
        style = (
            f' style="background:#fff3cd; color:{WARNING_AMBER}; font-weight:bold"' if key in changed else ""
        )
        return f"<tr><td><b>{escape(label)}</b></td><td{style}>{escape(value)}</td></tr>"

    phases = "".join(f"<li>{escape(phase_description(p))}</li>" for p in plan.phases)
    rows = [
        row("status", "Status", STATUS_LABELS.get(plan.status, plan.status.value)),
        row("template_id", "Template", f"{plan.template_name} (v{plan.template_version})"),
        row("formulation", "Formulation", plan.formulation.value.capitalize()),
        row("supplied_as", "Supplied", plan.supplied_as)
        if plan.route == Route.ORAL
        else row("strength_mcg_per_ml", "Strength", format_strength(plan.strength_mcg_per_ml)),
        row("dose_mcg", "Dose", plan.dose_text),
        row("route", "Route", ROUTE_LABELS.get(plan.route, plan.route.value)),
        row("start_date", "Start", format_date(plan.start_date)),
        row("prescriber", "Prescriber", plan.prescriber),
        row("indication", "Indication", plan.indication or "—"),
        row("conditions", "Conditions", conditions_text(plan.conditions)),
        row("author", "Written by", plan.author),
        row("verified", "Verified", verified_text(plan)),
    ]
    if plan.continues_elsewhere:
        rows.append(
            row(
                "continues_elsewhere",
                "Continues",
                "treatment begun at another clinic: doses dated before the start may be entered",
            )
        )
    if plan.override_reason:
        rows.append(row("override_reason", "Override", plan.override_reason))
    if plan.end_reason:
        rows.append(row("end_reason", "Ended because", plan.end_reason))
    review = (
        f'<p style="color:{ERROR_RED}"><b>Back for verification:</b> {escape(plan.review_reason)}</p>'
        if plan.review_reason
        else ""
    )
    return (
        review
        + "<table cellspacing='0' cellpadding='3'>"
        + "".join(rows)
        + "</table>"
        + (f"<p><b>Phases</b></p><ul style='margin-top:0'>{phases}</ul>" if phases else "")
    )
