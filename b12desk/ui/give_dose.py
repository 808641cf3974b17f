"""Give a dose, on one screen: the patient (two identifiers), the stock (scanned or suggested), the site on
a body map, the outcome, any reaction and today's symptoms, and what the dose check finds before Save.

The screen decides nothing: every finding comes from services.administrations.check_dose, asked again
(on the database worker) each time something changes, and Save stays off until nothing blocks and each
warning is acknowledged with a reason and the nurse's password. The save is one transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from html import escape

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from b12desk.domain.enums import (
    OUTCOME_LABELS,
    REACTION_LABELS,
    SYMPTOM_SCALE,
    SYMPTOMS,
    AdministrationOutcome,
    InjectionSite,
    Reaction,
)
from b12desk.domain.units import format_mcg, format_ml
from b12desk.services import administrations as adm
from b12desk.services import inventory
from b12desk.services.common import Actor
from b12desk.ui.body_map import SITE_NAMES, BodyMapWidget
from b12desk.ui.context import DOSES, PATIENTS, PLANS, STOCK, AppContext
from b12desk.ui.findings import FindingsPanel
from b12desk.ui.inventory_dialogs import ScanLineEdit
from b12desk.ui.ops import OpFailure, run_op
from b12desk.ui.style import ERROR_RED
from b12desk.ui.widgets import (
    DiscardGuard,
    ErrorLabel,
    FieldErrors,
    MessageLabel,
    resize_within_screen,
    show_message,
)

CHECK_AFTER_MS = 250  # typing pauses this long before the check runs again
TIME_FORMAT = "%Y-%m-%d %H:%M"
ALLERGIC_ADVICE = (
    "Allergic reaction: get urgent medical help now (the emergency team, as the clinic's anaphylaxis "
    "protocol says). Saving records it with the dose, flags the patient as hypersensitive and sends "
    "their plan back to the pharmacist."
)


class GiveDoseDialog(DiscardGuard, QDialog):
    """One dose for one patient; `saved(administration_id)` once it is recorded."""

    saved = Signal(int)

    def __init__(self, ctx: AppContext, patient_id: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle("Give a dose")
        self.context: adm.DoseContext | None = None
        self.stock: adm.StockOption | None = None  # chosen from the list or scanned
        self.check: adm.DoseCheck | None = None
        self._check_pending = False
        self._saving = False
        self.errors = FieldErrors()
        self.summary = MessageLabel()

        # --- patient --------------------------------------------------------------------------------
        self.mrn = ScanLineEdit()
        self.mrn.setPlaceholderText("scan the wristband or type the MRN, then Enter")
        self.patient_label = QLabel("No patient chosen yet.")
        self.patient_label.setTextFormat(Qt.TextFormat.RichText)
        self.patient_label.setWordWrap(True)
        self.identity = QCheckBox("I have checked the name and date of birth with the patient")
        self.identity.setToolTip("Two identifiers, asked of the patient, before any dose.")
        patient_box = QGroupBox("Patient")
        grid = QGridLayout(patient_box)
        grid.setColumnStretch(1, 1)
        grid.addWidget(QLabel("MRN"), 0, 0)
        grid.addWidget(self.mrn, 0, 1)
        mrn_error = ErrorLabel()
        grid.addWidget(mrn_error, 1, 1)
        self.errors.add("mrn", self.mrn, mrn_error)
        grid.addWidget(self.patient_label, 2, 0, 1, 2)
        grid.addWidget(self.identity, 3, 0, 1, 2)

        # --- plan and dose --------------------------------------------------------------------------
        self.plan_label = QLabel()
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.RichText)
        self.dose_label = QLabel()
        self.dose_label.setStyleSheet("QLabel { font-size: 13pt; font-weight: bold; }")
        plan_box = QGroupBox("Plan and dose")
        plan_layout = QVBoxLayout(plan_box)
        plan_layout.addWidget(self.plan_label)
        plan_layout.addWidget(self.dose_label)

        # --- stock ----------------------------------------------------------------------------------
        self.scan = ScanLineEdit()
        self.scan.setPlaceholderText("scan the vial or ampoule (GS1 DataMatrix)")
        self.stock_choice = QComboBox()
        self.stock_choice.setPlaceholderText("or choose from the stock on hand")
        self.stock_details = QLabel()
        self.stock_details.setWordWrap(True)
        self.stock_details.setObjectName("muted")
        self.stock_box = QGroupBox("Product, lot and vial")
        stock_grid = QGridLayout(self.stock_box)
        stock_grid.setColumnStretch(1, 1)
        stock_grid.addWidget(QLabel("Scan"), 0, 0)
        stock_grid.addWidget(self.scan, 0, 1)
        scan_error = ErrorLabel()
        stock_grid.addWidget(scan_error, 1, 1)
        self.errors.add("scan", self.scan, scan_error)
        stock_grid.addWidget(QLabel("Stock"), 2, 0)
        stock_grid.addWidget(self.stock_choice, 2, 1)
        stock_grid.addWidget(self.stock_details, 3, 0, 1, 2)

        # --- outcome --------------------------------------------------------------------------------
        self.outcome = QComboBox()
        for outcome, text in OUTCOME_LABELS.items():
            self.outcome.addItem(text, outcome)
        self.note = QLineEdit()
        self.note.setPlaceholderText("why, when not given; anything of note")
        self.reaction = QComboBox()
        for reaction, text in REACTION_LABELS.items():
            self.reaction.addItem(text, reaction)
        self.allergic = QLabel(ALLERGIC_ADVICE)
        self.allergic.setWordWrap(True)
        self.allergic.setStyleSheet(
            f"QLabel {{ color: white; background: {ERROR_RED}; padding: 6px; border-radius: 4px; "
            "font-weight: bold; }"
        )
        self.allergic.hide()
        self.given_at = QLineEdit(ctx.clock.now().strftime(TIME_FORMAT))
        self.given_at.setPlaceholderText("YYYY-MM-DD HH:MM")
        self.given_at.setMaximumWidth(150)
        self.self_administered = QCheckBox("Given at home by the patient (trained to self-inject)")
        self.self_administered.setEnabled(False)
        outcome_box = QGroupBox("Outcome")
        out_grid = QGridLayout(outcome_box)
        out_grid.setColumnStretch(1, 1)
        rows: list[tuple[str, str, QWidget]] = [
            ("outcome", "Outcome", self.outcome),
            ("note", "Reason or note", self.note),
            ("reaction", "Reaction", self.reaction),
            ("given_at", "Time given", self.given_at),
        ]
        for n, (name, text, widget) in enumerate(rows):
            out_grid.addWidget(QLabel(text), 2 * n, 0)
            out_grid.addWidget(widget, 2 * n, 1)
            error = ErrorLabel()
            out_grid.addWidget(error, 2 * n + 1, 1)
            self.errors.add(name, widget, error)
        out_grid.addWidget(self.allergic, 2 * len(rows), 0, 1, 2)
        out_grid.addWidget(self.self_administered, 2 * len(rows) + 1, 0, 1, 2)

        # --- site -----------------------------------------------------------------------------------
        self.body_map = BodyMapWidget()
        self.site = QComboBox()
        self.site.setPlaceholderText("choose on the map, or here")
        for site, name in SITE_NAMES.items():
            self.site.addItem(name.capitalize(), site)
        self.recent_sites = QLabel()
        self.recent_sites.setWordWrap(True)
        self.recent_sites.setObjectName("muted")
        legend = QLabel(
            "Numbers: the last sites (1 the last dose). Green ring: suggested, rested longest. Crossed: "
            "switched off by the clinic. The patient faces you in the front view."
        )
        legend.setWordWrap(True)
        legend.setObjectName("muted")
        self.site_box = QGroupBox("Injection site")
        site_layout = QVBoxLayout(self.site_box)
        site_layout.addWidget(self.body_map, 0, Qt.AlignmentFlag.AlignHCenter)
        site_layout.addWidget(self.site)
        site_error = ErrorLabel()
        site_layout.addWidget(site_error)
        self.errors.add("site", self.site, site_error)
        site_layout.addWidget(self.recent_sites)
        site_layout.addWidget(legend)

        # --- symptoms -------------------------------------------------------------------------------
        self.symptoms: dict[str, QComboBox] = {}
        symptoms_box = QGroupBox("Symptoms today")
        sym_grid = QGridLayout(symptoms_box)
        sym_grid.setColumnStretch(1, 1)
        for n, (code, text) in enumerate(SYMPTOMS.items()):
            combo = QComboBox()
            combo.addItem("not asked", None)
            for score, word in enumerate(SYMPTOM_SCALE):
                combo.addItem(f"{score} {word}", score)
            sym_grid.addWidget(QLabel(text), n, 0)
            sym_grid.addWidget(combo, n, 1)
            self.symptoms[code] = combo

        # --- findings and buttons -------------------------------------------------------------------
        self.findings = FindingsPanel()
        self.checking = QLabel("Checking…")
        self.checking.setObjectName("muted")
        self.checking.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.addButton("Save dose", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setEnabled(False)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)

        left = QVBoxLayout()
        left.addWidget(patient_box)
        left.addWidget(plan_box)
        left.addWidget(self.stock_box)
        left.addWidget(outcome_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.site_box)
        right.addWidget(symptoms_box)
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 3)
        columns.addLayout(right, 2)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addLayout(columns)
        body_layout.addWidget(self.findings)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(scroll, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.checking)
        footer.addStretch(1)
        footer.addWidget(buttons)
        layout.addLayout(footer)
        resize_within_screen(self, 1120, 860)

        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_AFTER_MS)
        self._check_timer.timeout.connect(self.run_check)
        self.mrn.scanned.connect(self.find_patient)
        self.mrn.returnPressed.connect(lambda: self.find_patient(self.mrn.text()))
        self.scan.scanned.connect(self.scan_stock)
        self.stock_choice.currentIndexChanged.connect(self._stock_chosen)
        self.body_map.site_chosen.connect(self._map_chose)
        self.site.currentIndexChanged.connect(self._combo_chose)
        self.outcome.currentIndexChanged.connect(self._outcome_changed)
        self.reaction.currentIndexChanged.connect(self._reaction_changed)
        for signal in (
            self.note.textChanged,
            self.given_at.textChanged,
            self.self_administered.toggled,
            self.identity.toggled,
        ):
            signal.connect(self._changed)
        self.findings.changed.connect(self._update_save)
        self._show_context()
        if patient_id is not None:
            self.load_patient(patient_id)

    # --- loading ------------------------------------------------------------------------------------------

    def find_patient(self, text: str) -> None:
        def find(session: Session, actor: Actor) -> adm.DoseContext:
            pid = adm.find_patient_for_dose(session, actor, text)
            return adm.dose_context(session, actor, pid, clock=self.ctx.clock)

        run_op(self, self.ctx, find, self._loaded, self._refused, quiet=True)

    def load_patient(self, patient_id: int) -> None:
        run_op(
            self,
            self.ctx,
            lambda s, actor: adm.dose_context(s, actor, patient_id, clock=self.ctx.clock),
            self._loaded,
            self._refused,
            quiet=True,
        )

    def _loaded(self, context: adm.DoseContext) -> None:
        self.errors.clear()
        self.context = context
        self.stock = None
        self.identity.setChecked(False)  # a new patient: their identity is checked again
        self.mrn.setText(context.patient.mrn)
        self._show_context()
        self.mark_clean()  # the patient found is not a change to lose; what the nurse enters next is
        self._changed()

    def _show_context(self) -> None:
        c = self.context
        has_patient = c is not None
        for widget in (self.identity, self.stock_box, self.site_box, self.outcome):
            widget.setEnabled(has_patient)
        if c is None:
            self.plan_label.setText("Choose the patient first.")
            self.dose_label.setText("")
            return
        p = c.patient
        flags = (
            f"<br><span style='color:{ERROR_RED}'><b>⚠ Recorded: {escape(', '.join(p.flags))}</b></span>"
            if p.flags
            else ""
        )
        archived = f" <span style='color:{ERROR_RED}'><b>(archived)</b></span>" if p.archived else ""
        self.patient_label.setText(
            f"<span style='font-size:13pt'><b>{escape(p.family_name.upper())}, {escape(p.given_name)}</b>"
            f"</span>{archived}<br>Born <b>{p.date_of_birth.isoformat()}</b> &nbsp; "
            f"MRN {escape(p.mrn)}{flags}"
        )
        trained = p.self_injection_trained_on
        self.self_administered.setEnabled(trained is not None)
        self.self_administered.setToolTip(
            f"Trained on {trained.isoformat()} by {p.self_injection_trainer}." if trained else "Not trained."
        )
        plan = c.plan
        if plan is None:
            self.plan_label.setText(
                f"<span style='color:{ERROR_RED}'>No verified plan: a pharmacist verifies one first.</span>"
            )
        else:
            self.plan_label.setText(
                f"{escape(plan.template_name)} (v{plan.template_version})<br>"
                f"{escape(plan.formulation.value.capitalize())}, verified strength "
                f"<b>{plan.strength_mcg_per_ml.normalize():,f} mcg/mL</b>, route {plan.route.value.upper()}"
            )
        self.stock_choice.blockSignals(True)
        self.stock_choice.clear()
        for option in c.stock:
            prefix = "Suggested: " if option.suggested else ""
            self.stock_choice.addItem(prefix + option.describe(self.ctx.clock), option)
        self.stock_choice.setCurrentIndex(-1)
        self.stock_choice.blockSignals(False)
        if not c.stock and plan is not None:
            self.stock_details.setText(
                "No usable stock of this formulation and strength: receive stock, or open a multi-dose "
                "vial, in Inventory."
            )
        advice = c.sites
        self.body_map.set_sites(enabled=advice.enabled, recent=advice.recent, suggested=advice.suggested)
        for i in range(self.site.count()):
            item = self.site.model().item(i)  # type: ignore[attr-defined]
            item.setEnabled(self.site.itemData(i) in advice.enabled)
        recent = ", ".join(
            f"{n}. {SITE_NAMES[s]} ({at.astimezone(self.ctx.clock.zone):%Y-%m-%d})"
            for n, (at, s) in enumerate(advice.recent, start=1)
        )
        suggested = SITE_NAMES[advice.suggested] if advice.suggested is not None else "none allowed"
        self.recent_sites.setText(f"Last sites: {recent or 'none recorded'}. Suggested: {suggested}.")
        self._show_dose()

    def _show_dose(self) -> None:
        c, check = self.context, self.check
        if c is None or c.plan is None:
            self.dose_label.setText("")
            return
        if check is not None and check.expected is not None and check.volume_ml is not None:
            e = check.expected
            self.dose_label.setText(
                f"{e.phase_kind.value.capitalize()} dose {e.number}: {format_mcg(e.dose_mcg)} — draw "
                f"{format_ml(check.volume_ml)}"
            )
        elif c.volume_ml is not None:
            self.dose_label.setText(f"{format_mcg(c.plan.dose_mcg)} — draw {format_ml(c.volume_ml)}")

    # --- the stock ------------------------------------------------------------------------------------

    def scan_stock(self, text: str) -> None:
        def look(session: Session, actor: Actor) -> inventory.ScanResult:
            return inventory.lookup_scan(session, actor, text, clock=self.ctx.clock)

        run_op(self, self.ctx, look, self._scanned, self._refused, quiet=True)

    def _scanned(self, result: inventory.ScanResult) -> None:
        self.errors.clear()
        if result.product is None or result.lot is None:
            what = "product" if result.product is None else f"lot {result.data.lot or '?'}"
            message = f"This {what} is not in the clinic's stock: receive it in Inventory first."
            self.errors.show({"scan": message})
            return
        lot = result.lot
        # The scanned lot is what will be drawn from, usable or not: the check says what is wrong with it.
        known = [o for o in (self.context.stock if self.context else ()) if o.lot_id == lot.id]
        option = next((o for o in known if o.vial_id is not None), known[0] if known else None)
        if option is None:
            option = adm.StockOption(
                result.product.id,
                result.product.label,
                lot.id,
                lot.lot_number,
                lot.expiry,
                None,
                None,
                None,
                lot.quantity,
                False,
            )
        self._choose_stock(option)

    def _stock_chosen(self, index: int) -> None:
        option = self.stock_choice.itemData(index) if index >= 0 else None
        if isinstance(option, adm.StockOption):
            self._choose_stock(option, from_list=True)

    def _choose_stock(self, option: adm.StockOption, *, from_list: bool = False) -> None:
        self.stock = option
        if not from_list:
            self.stock_choice.blockSignals(True)
            index = next(
                (i for i in range(self.stock_choice.count()) if self.stock_choice.itemData(i) == option), -1
            )
            self.stock_choice.setCurrentIndex(index)
            self.stock_choice.blockSignals(False)
        expired = option.expiry < self.ctx.clock.today()
        self.stock_details.setText(
            ("EXPIRED: " if expired else "") + f"Drawing from: {option.describe(self.ctx.clock)}"
        )
        self.stock_details.setStyleSheet(f"QLabel {{ color: {ERROR_RED}; }}" if expired else "")
        self._changed()

    # --- the site, outcome and reaction -----------------------------------------------------------------

    def _map_chose(self, site: InjectionSite | None) -> None:
        index = self.site.findData(site) if site is not None else -1
        if self.site.currentIndex() != index:
            self.site.blockSignals(True)
            self.site.setCurrentIndex(index)
            self.site.blockSignals(False)
        self._changed()

    def _combo_chose(self, index: int) -> None:
        site = self.site.itemData(index) if index >= 0 else None
        if not self.body_map.select(InjectionSite(site) if site is not None else None):
            self.site.setCurrentIndex(-1)
        self._changed()

    def _outcome_changed(self) -> None:
        given = self.current_outcome() == AdministrationOutcome.GIVEN
        self.reaction.setEnabled(given)
        if not given:
            self.reaction.setCurrentIndex(0)
        self._changed()

    def _reaction_changed(self) -> None:
        self.allergic.setVisible(self.reaction.currentData() == Reaction.ALLERGIC)
        self._changed()

    def current_outcome(self) -> AdministrationOutcome:
        return AdministrationOutcome(self.outcome.currentData())

    # --- checking -------------------------------------------------------------------------------------

    def _changed(self, *_args: object) -> None:
        self._check_pending = True
        self._update_save()
        self._check_timer.start()

    def request(self) -> adm.DoseRequest | None:
        """The dose as the form says now; None while the time cannot be read (said beside the field)."""
        c = self.context
        if c is None:
            return None
        try:
            moment = datetime.strptime(self.given_at.text().strip(), TIME_FORMAT)
        except ValueError:
            self.errors.show({"given_at": "Write the time as YYYY-MM-DD HH:MM, e.g. 2026-12-01 10:30."})
            return None
        given_at = moment.replace(tzinfo=self.ctx.clock.zone)
        home = self.self_administered.isChecked()
        stock = None if home else self.stock
        dose = c.plan.dose_mcg if c.plan is not None else Decimal(0)
        if self.check is not None and self.check.expected is not None:
            dose = self.check.expected.dose_mcg
        site = self.body_map.selected()
        return adm.DoseRequest(
            patient_id=c.patient.id,
            plan_id=c.plan.id if c.plan is not None else None,
            dose_mcg=dose,
            site=site,
            product_id=stock.product_id if stock is not None else None,
            lot_id=stock.lot_id if stock is not None and stock.vial_id is None else None,
            vial_id=stock.vial_id if stock is not None else None,
            given_at=given_at,
            outcome=self.current_outcome(),
            note=self.note.text(),
            reaction=Reaction(self.reaction.currentData()),
            self_administered=home,
            symptoms={
                code: int(combo.currentData())
                for code, combo in self.symptoms.items()
                if combo.currentData() is not None
            },
        )

    def run_check(self) -> None:
        request = self.request()
        if request is None:
            self._check_pending = False
            self._update_save()
            return
        self.errors.clear()
        self.checking.show()

        def check(session: Session, actor: Actor) -> adm.DoseCheck:
            return adm.check_dose(session, actor, request)

        def checked(result: adm.DoseCheck) -> None:
            self.checking.hide()
            if self.request() != request:  # changed meanwhile: the newer check will answer
                return
            self.check = result
            self._check_pending = False
            self.findings.show_findings(result.findings)
            self._show_dose()
            self._update_save()

        run_op(self, self.ctx, check, checked, self._refused, quiet=True)

    def _update_save(self) -> None:
        ready = (
            self.context is not None
            and self.identity.isChecked()
            and self.check is not None
            and not self._check_pending
            and not self._saving
            and not self.findings.has_hard_stop()
            and self.findings.all_acknowledged()
        )
        self.save_button.setEnabled(ready)
        if self.context is not None and not self.identity.isChecked():
            self.save_button.setToolTip("Check the patient's name and date of birth with them first.")
        else:
            self.save_button.setToolTip("")

    # --- saving ---------------------------------------------------------------------------------------

    def save(self) -> None:
        request = self.request()
        if request is None or not self.save_button.isEnabled():
            return
        acknowledged = self.findings.acknowledged()
        password = self.findings.password.text() or None
        changes = [DOSES, STOCK]
        if request.reaction == Reaction.ALLERGIC:
            changes += [PATIENTS, PLANS]
        self._saving = True
        self._update_save()

        def write(session: Session, actor: Actor) -> adm.AdministrationRow:
            return adm.record_dose(session, actor, request, acknowledged=acknowledged, password=password)

        run_op(self, self.ctx, write, self._saved, self._save_refused, write=True, changes=changes)

    def _saved(self, row: adm.AdministrationRow) -> None:
        self._saving = False
        self.saved.emit(row.id)
        if row.reaction == Reaction.ALLERGIC:
            parent = self.parentWidget()
            if parent is not None:
                show_message(parent, "Allergic reaction recorded", ALLERGIC_ADVICE)
        self.accept()

    def _save_refused(self, failure: OpFailure) -> None:
        self._saving = False
        self.summary.show_text(f"The dose was not saved. {failure.message}")
        self._changed()  # the facts may have changed under us: check again

    def _refused(self, failure: OpFailure) -> None:
        self.checking.hide()
        self._check_pending = False
        if failure.fields:
            unclaimed = self.errors.show(failure.fields)
            if unclaimed:
                self.summary.show_text("\n".join(unclaimed.values()))
        else:
            self.summary.show_text(failure.message)
        self._update_save()
