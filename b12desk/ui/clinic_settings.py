"""Clinic settings: the time zone, the dose-safety limits every dose is checked against, and the
laboratory's decision thresholds every B12 result is banded by.

Pharmacists and administrators change them (the service refuses anyone else); everybody can read them.
A change of limits or thresholds needs a reason and is audited with its old and new values.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.clock import Clock, system_zone_name, time_zone_names
from b12desk.domain.dose_check import SITE_GROUPS
from b12desk.domain.permissions import Permission, role_can
from b12desk.domain.units import QuantityError, format_number, parse_number, parse_strength, parse_volume_ml
from b12desk.services import clinic
from b12desk.services.common import Actor
from b12desk.services.reference import lab_tests
from b12desk.ui.context import CLINIC, LABS, AppContext
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.widgets import DiscardGuard, ErrorLabel, FieldErrors, FitsWrappedText, MessageLabel

BANDED_TESTS = ("serum_b12", "active_b12")  # the tests NG239 gives decision thresholds for
SITE_NAMES = {
    "deltoid": "Deltoid",
    "vastus_lateralis": "Vastus lateralis",
    "ventrogluteal": "Ventrogluteal",
    "dorsogluteal": "Dorsogluteal",
}


# What the dialog reads: the time zone, the dose rules, the laboratory bands, the name and phone.
_Values = tuple[str, dict[str, Any], dict[str, Any], clinic.ClinicContact]


class ClinicSettingsDialog(DiscardGuard, FitsWrappedText, QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Clinic settings")
        self.errors = FieldErrors()
        self.summary = MessageLabel()
        # Built from the shipped limits; the clinic's own values replace them once read.
        self.zone_name = system_zone_name()
        self.raw: dict[str, Any] = clinic.shipped_dose_rules_raw()
        self.lab_raw: dict[str, Any] = clinic.shipped_lab_bands_raw()
        self.contact = clinic.ClinicContact()
        can_edit = role_can(ctx.actor.role, Permission.CONFIGURE_CLINIC)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        if not can_edit:
            note = QLabel("Your role can read these settings; a pharmacist or an administrator changes them.")
            note.setObjectName("muted")
            note.setWordWrap(True)
            layout.addWidget(note)

        zone_box = QGroupBox("The clinic")
        zone_grid = QGridLayout(zone_box)
        zone_grid.setColumnStretch(1, 1)
        self.clinic_name = QLineEdit()
        self.clinic_name.setPlaceholderText("e.g. Riverside B12 Clinic")
        self.clinic_phone = QLineEdit()
        self.clinic_phone.setPlaceholderText("e.g. 020 7946 0000")
        self.clinic_phone.setMaximumWidth(260)
        for edit in (self.clinic_name, self.clinic_phone):
            edit.setToolTip("Printed on each patient's dose card, so that they can call the clinic.")
        self.time_zone = QComboBox()
        self.time_zone.setEditable(True)
        self.time_zone.addItems(time_zone_names())
        completer = QCompleter(time_zone_names(), self.time_zone)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.time_zone.setCompleter(completer)
        zone_help = QLabel(
            "Every workstation counts days in this zone: a lot expiring on a date is usable until "
            f"midnight here. This computer is set to {escape(system_zone_name())}."
        )
        zone_help.setObjectName("muted")
        zone_help.setWordWrap(True)
        self._row(zone_grid, 0, "clinic_name", "Name", self.clinic_name)
        self._row(zone_grid, 2, "clinic_phone", "Phone", self.clinic_phone)
        self._row(zone_grid, 4, "time_zone", "Time zone", self.time_zone)
        zone_grid.addWidget(zone_help, 6, 0, 1, 2)
        doses_page = QWidget()
        doses_layout = QVBoxLayout(doses_page)
        doses_layout.setContentsMargins(0, 6, 0, 0)
        doses_layout.addWidget(zone_box)

        sites_box = QGroupBox("Intramuscular injection sites (both sides)")
        sites_grid = QGridLayout(sites_box)
        sites_grid.setColumnStretch(2, 1)
        sites_grid.addWidget(QLabel("<b>Used</b>"), 0, 0)
        sites_grid.addWidget(QLabel("<b>Most in one injection</b>"), 0, 1)
        sites_grid.addWidget(QLabel("<b>Source</b>"), 0, 2)
        self.site_used: dict[str, QCheckBox] = {}
        self.site_max: dict[str, QDoubleSpinBox] = {}
        self.site_source: dict[str, QLabel] = {}
        for row, group in enumerate(SITE_GROUPS, start=1):
            used = QCheckBox(SITE_NAMES[group])
            most = QDoubleSpinBox()
            most.setDecimals(1)
            most.setRange(0.1, 10)
            most.setSingleStep(0.5)
            most.setSuffix(" mL")
            most.setMaximumWidth(110)
            source = QLabel()
            source.setWordWrap(True)
            source.setObjectName("muted")
            self.site_source[group] = source
            sites_grid.addWidget(used, row, 0)
            sites_grid.addWidget(most, row, 1, Qt.AlignmentFlag.AlignTop)
            sites_grid.addWidget(source, row, 2)
            self.site_used[group], self.site_max[group] = used, most
        sites_error = ErrorLabel()
        sites_grid.addWidget(sites_error, len(SITE_GROUPS) + 1, 0, 1, 3)
        self.errors.add("sites", sites_box, sites_error)
        doses_layout.addWidget(sites_box)

        limits_box = QGroupBox("Products for deficiency, and dose times")
        limits_grid = QGridLayout(limits_box)
        limits_grid.setColumnStretch(1, 1)
        self.strength_min = QLineEdit()
        self.strength_max = QLineEdit()
        self.container_max = QLineEdit()
        self.future_minutes = QSpinBox()
        self.future_minutes.setRange(0, 60)
        self.future_minutes.setSuffix(" minutes")
        self.backdate_hours = QSpinBox()
        self.backdate_hours.setRange(1, 336)
        self.backdate_hours.setSuffix(" hours")
        rows = (
            ("strength_min", "Lowest strength (mcg/mL)", self.strength_min),
            ("strength_max", "Highest strength (mcg/mL)", self.strength_max),
            ("container_max", "Largest container (mL)", self.container_max),
            ("future_minutes", "A dose time may be ahead of the clock by", self.future_minutes),
            ("backdate_hours", "A reason is needed when recorded later than", self.backdate_hours),
        )
        for i, (name, text, widget) in enumerate(rows):
            widget.setMaximumWidth(160)
            self._row(limits_grid, 2 * i, name, text, widget)
        doses_layout.addWidget(limits_box)
        doses_layout.addStretch(1)

        self.tabs = QTabWidget()
        self.tabs.addTab(doses_page, "Clinic and doses")
        self.tabs.addTab(self._laboratory_page(), "Laboratory thresholds")
        layout.addWidget(self.tabs)

        reason_grid = QGridLayout()
        reason_grid.setColumnStretch(1, 1)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText(
            "why the limits or thresholds change, e.g. local policy on dorsogluteal, the local laboratory"
        )
        self._row(reason_grid, 0, "reason", "Reason for change", self.reason)
        layout.addLayout(reason_grid)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setEnabled(False)  # until the clinic's values are read
        self.can_edit = can_edit
        if not can_edit:
            self.save_button.setToolTip("A pharmacist or an administrator changes the clinic settings.")
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(760)
        self._show_values()

        def read(session: Session, _actor: Actor) -> _Values:
            return (
                clinic.time_zone_name(session),
                clinic.dose_rules_raw(session),
                clinic.lab_bands_raw(session),
                clinic.clinic_contact(session),
            )

        run_op(self, ctx, read, self._loaded, quiet=True)

    def _laboratory_page(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        grid.setColumnStretch(4, 1)
        intro = QLabel(
            "Each serum B12 and active B12 result is shown as deficient, indeterminate or not deficient "
            "against these figures; an indeterminate one asks for the second-line test. Shipped with NICE "
            "NG239's: enter your laboratory's own where they differ."
        )
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        grid.addWidget(intro, 0, 0, 1, 5)
        self.laboratory = QLineEdit()
        self._row(grid, 1, "laboratory", "Laboratory", self.laboratory)
        grid.addWidget(self.laboratory, 1, 1, 1, 4)
        for column, title in enumerate(
            ("Unit", "Deficient below", "Indeterminate below", "Advice when indeterminate")
        ):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 3, column + 1)
        self.lab_fields: dict[str, tuple[QComboBox, QLineEdit, QLineEdit, QLineEdit]] = {}
        tests = lab_tests()
        for n, code in enumerate(BANDED_TESTS):
            test = tests[code]
            unit = QComboBox()
            for name, factor in test.units.items():
                if factor is not None:
                    unit.addItem(name, name)
            low, high, advice = QLineEdit(), QLineEdit(), QLineEdit()
            for field in (low, high):
                field.setMaximumWidth(110)
            row = 4 + 2 * n
            test_label = QLabel(test.name.split(" (")[0])  # "Active B12", not its long chemical name
            test_label.setToolTip(test.name)
            grid.addWidget(test_label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column, widget in enumerate((unit, low, high, advice), start=1):
                grid.addWidget(widget, row, column)
            error = ErrorLabel()
            grid.addWidget(error, row + 1, 1, 1, 4)
            self.errors.add(f"lab_{code}", low, error)
            self.lab_fields[code] = (unit, low, high, advice)
        lab_error = ErrorLabel()
        grid.addWidget(lab_error, 4 + 2 * len(BANDED_TESTS), 0, 1, 5)
        self.errors.add("lab_bands", self.laboratory, lab_error)
        self.lab_source = QLabel()
        self.lab_source.setWordWrap(True)
        self.lab_source.setObjectName("muted")
        grid.addWidget(self.lab_source, 5 + 2 * len(BANDED_TESTS), 0, 1, 5)
        self.ng239_button = QPushButton("Use NICE NG239's figures")
        self.ng239_button.clicked.connect(self._use_ng239)
        grid.addWidget(self.ng239_button, 6 + 2 * len(BANDED_TESTS), 0, 1, 2, Qt.AlignmentFlag.AlignLeft)
        grid.setRowStretch(7 + 2 * len(BANDED_TESTS), 1)
        return page

    def _use_ng239(self) -> None:
        self.lab_raw = clinic.shipped_lab_bands_raw()
        self._show_lab_values()

    def _show_lab_values(self) -> None:
        self.laboratory.setText(str(self.lab_raw.get("laboratory", "")))
        entries = self.lab_raw.get("tests", {})
        sources = []
        for code, (unit, low, high, advice) in self.lab_fields.items():
            entry = entries.get(code, {})
            index = unit.findData(entry.get("unit"))
            unit.setCurrentIndex(max(index, 0))
            low.setText(format_number(Decimal(str(entry.get("deficient_below", "")))) if entry else "")
            high.setText(format_number(Decimal(str(entry.get("indeterminate_below", "")))) if entry else "")
            advice.setText(str(entry.get("advice", "")))
            advice.setCursorPosition(0)  # the start of a long sentence, not its end
            advice.setToolTip(advice.text())
            if entry.get("source"):
                sources.append(str(entry["source"]))
        self.lab_source.setText(escape("Source: " + "; ".join(sources)) if sources else "")

    def read_lab_bands(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The thresholds as data, and the fields whose numbers cannot be read."""
        raw = copy.deepcopy(self.lab_raw)
        problems: dict[str, str] = {}
        raw["laboratory"] = self.laboratory.text().strip()
        tests = dict(raw.get("tests", {}))
        for code, (unit, low, high, advice) in self.lab_fields.items():
            entry = dict(tests.get(code, {}))
            entry["unit"] = unit.currentData()
            for key, field in (("deficient_below", low), ("indeterminate_below", high)):
                try:
                    value = parse_number(field.text(), what=f"{lab_tests()[code].name}:")
                except QuantityError as exc:
                    problems[f"lab_{code}"] = str(exc)
                    continue
                entry[key] = int(value) if value == value.to_integral_value() else float(value)
            entry["advice"] = advice.text().strip()
            tests[code] = entry
        raw["tests"] = tests
        return raw, problems

    def _loaded(self, values: _Values) -> None:
        self.zone_name, self.raw, self.lab_raw, self.contact = values
        self._show_values()
        self.save_button.setEnabled(self.can_edit)
        self.mark_clean()

    def _show_values(self) -> None:
        self.time_zone.setCurrentText(self.zone_name)
        self.clinic_name.setText(self.contact.name)
        self.clinic_phone.setText(self.contact.phone)
        for group in SITE_GROUPS:
            entry = self.raw["injection_sites"][group]
            self.site_used[group].setChecked(bool(entry.get("enabled", True)))
            self.site_max[group].setValue(float(entry["max_volume_ml"]))
            self.site_source[group].setText(escape(str(entry.get("source", ""))))
        products = self.raw["deficiency_products"]
        timing = self.raw.get("timing", {})
        self.strength_min.setText(format_number(Decimal(str(products["strength_min_mcg_per_ml"]))))
        self.strength_max.setText(format_number(Decimal(str(products["strength_max_mcg_per_ml"]))))
        self.container_max.setText(format_number(Decimal(str(products["container_max_ml"]))))
        self.future_minutes.setValue(int(timing.get("future_tolerance_minutes", 5)))
        self.backdate_hours.setValue(int(timing.get("backdate_reason_after_hours", 24)))
        self._show_lab_values()

    def _row(self, grid: QGridLayout, row: int, name: str, text: str, widget: QWidget) -> None:
        label = QLabel(text)
        label.setBuddy(widget)
        error = ErrorLabel()
        grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if widget.maximumWidth() < 1000:  # a short field keeps to the left of its column
            grid.addWidget(widget, row, 1, Qt.AlignmentFlag.AlignLeft)
        else:
            grid.addWidget(widget, row, 1)
        grid.addWidget(error, row + 1, 1)
        self.errors.add(name, widget, error)

    def read_rules(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The limits as data, and the fields whose numbers cannot be read."""
        raw = copy.deepcopy(self.raw)
        problems: dict[str, str] = {}
        for group in SITE_GROUPS:
            entry = raw["injection_sites"][group]
            entry["enabled"] = self.site_used[group].isChecked()
            entry["max_volume_ml"] = float(Decimal(str(self.site_max[group].value())))
        products = raw["deficiency_products"]
        for name, key, parse in (
            ("strength_min", "strength_min_mcg_per_ml", parse_strength),
            ("strength_max", "strength_max_mcg_per_ml", parse_strength),
            ("container_max", "container_max_ml", parse_volume_ml),
        ):
            try:
                value = parse(getattr(self, name).text())
            except QuantityError as exc:
                problems[name] = str(exc)
                continue
            products[key] = int(value) if value == value.to_integral_value() else float(value)
        raw.setdefault("timing", {})
        raw["timing"]["future_tolerance_minutes"] = self.future_minutes.value()
        raw["timing"]["backdate_reason_after_hours"] = self.backdate_hours.value()
        return raw, problems

    def save(self) -> None:
        rules, problems = self.read_rules()
        lab_bands, lab_problems = self.read_lab_bands()
        problems |= lab_problems
        if problems:
            self.errors.show(problems)
            self._show_tab_of(problems)
            self.summary.show_text("Nothing was saved: correct the highlighted numbers.")
            return
        if not any(entry["enabled"] for entry in rules["injection_sites"].values()):
            self.errors.show({"sites": "Keep at least one injection site switched on."})
            self.summary.show_text("Nothing was saved.")
            return
        zone = self.time_zone.currentText().strip()
        zone_changed, rules_changed = zone != self.zone_name, rules != self.raw
        bands_changed = lab_bands != self.lab_raw
        reason = self.reason.text()
        name, phone = self.clinic_name.text(), self.clinic_phone.text()
        contact_changed = (" ".join(name.split()), " ".join(phone.split())) != (
            self.contact.name,
            self.contact.phone,
        )

        def write(session: Session, actor: Actor) -> Clock | None:
            if contact_changed:
                clinic.set_clinic_contact(session, actor, name=name, phone=phone)
            clock = clinic.set_time_zone(session, actor, zone) if zone_changed else None
            if rules_changed:
                clinic.set_dose_rules(session, actor, rules, reason=reason)
            if bands_changed:
                clinic.set_lab_bands(session, actor, lab_bands, reason=reason)
            return clock

        run_op(self, self.ctx, write, self._saved, self._refused, write=True, changes=(CLINIC, LABS))

    def _saved(self, clock: Clock | None) -> None:
        if clock is not None:
            self.ctx.clock = clock  # every screen's "today" follows the clinic's new zone
        self.accept()

    def _refused(self, failure: OpFailure) -> None:
        errors = dict(failure.fields)
        if "rules" in errors:
            errors["sites"] = errors.pop("rules")
        unclaimed = self.errors.show(errors) if errors else {}
        self._show_tab_of(errors)
        if not errors:
            self.errors.clear()
            unclaimed = {"": failure.message}
        self.summary.show_text("\n".join(["Nothing was saved.", *unclaimed.values()]))

    def _show_tab_of(self, errors: dict[str, str]) -> None:
        """Bring the page with the first field in error to the front."""
        if errors and all(name.startswith("lab") for name in errors):
            self.tabs.setCurrentIndex(1)
        elif errors and not any(name in ("reason",) for name in errors):
            self.tabs.setCurrentIndex(0)

    def field_error(self, name: str) -> str:
        return self.errors.message(name)
