"""A small clinic for dose tests: one patient on a verified plan, an ampoule lot and an open vial, and a
clinic clock fixed at Tuesday 1 December 2026, 10:00 London time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from b12desk.clock import Clock, fixed_clock
from b12desk.domain.enums import Cause, Container, Formulation, InjectionSite, Preservative
from b12desk.domain.patients import PatientInput
from b12desk.services import administrations as adm
from b12desk.services import clinic, patients, plans
from b12desk.services import inventory as inv
from b12desk.services.common import Actor
from tests.conftest import PASSWORD, Staffing

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON)  # a Tuesday
CLOCK = fixed_clock(NOW, LONDON)
TODAY = NOW.date()


def at(moment: datetime) -> Clock:
    return fixed_clock(moment, LONDON)


# --- a small clinic with one patient on a verified plan --------------------------------------------------


@dataclass
class World:
    session: Session
    staff: Staffing
    patient_id: int
    plan_id: int
    ampoule_id: int
    ampoule_lot_id: int
    vial_product_id: int
    vial_lot_id: int
    vial_id: int
    templates: dict[str, plans.TemplateRow]

    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return f"World(patient {self.patient_id}, plan {self.plan_id})"

    def request(self, **changes: Any) -> adm.DoseRequest:
        base = adm.DoseRequest(
            patient_id=self.patient_id,
            plan_id=self.plan_id,
            dose_mcg=Decimal(1000),
            site=InjectionSite.VENTROGLUTEAL_LEFT,
            product_id=self.ampoule_id,
            lot_id=self.ampoule_lot_id,
            given_at=NOW,
        )
        return replace(base, **changes)

    def vial_request(self, **changes: Any) -> adm.DoseRequest:
        values: dict[str, Any] = {"product_id": self.vial_product_id, "lot_id": None, "vial_id": self.vial_id}
        return self.request(**(values | changes))


def _product(session: Session, actor: Actor, **kw: Any) -> int:
    values: dict[str, Any] = {
        "formulation": Formulation.HYDROXOCOBALAMIN,
        "manufacturer": "Advanz",
        "brand": "Cobalin-H",
        "strength_mcg_per_ml": Decimal(1000),
        "container": Container.AMPOULE,
        "volume_ml": Decimal(1),
        "preservatives": frozenset(),
    }
    values.update(kw)
    return inv.create_product(session, actor, inv.ProductInput(**values)).id


def _lot(
    session: Session, actor: Actor, product_id: int, number: str, expiry: date, clock: Clock = CLOCK
) -> int:
    return inv.receive_stock(
        session, actor, product_id=product_id, lot_number=number, expiry=expiry, quantity=10, clock=clock
    ).id


def _patient(session: Session, actor: Actor, mrn: str = "P1", **kw: Any) -> int:
    values: dict[str, Any] = {
        "mrn": mrn,
        "family_name": "Reid",
        "given_name": "Ann",
        "date_of_birth": date(1950, 5, 5),
        "cause": Cause.PERNICIOUS_ANAEMIA,
    }
    values.update(kw)
    return patients.create_patient(session, actor, PatientInput(**values)).id


def _verified_plan(
    w_session: Session,
    staff: Staffing,
    templates: dict[str, plans.TemplateRow],
    patient_id: int,
    *,
    code: str = "uk_hoc_no_neuro",
    start: date = TODAY,
    clock: Clock = CLOCK,
    **kw: Any,
) -> plans.PlanRow:
    t = templates[code]
    data = plans.PlanInput(
        template_id=t.id,
        formulation=t.formulation,
        dose_mcg=kw.pop("dose_mcg", t.definition.phases[0].dose_mcg),
        route=t.definition.route,
        start_date=start,
        prescriber="Dr Shah",
        **kw,
    )
    plan = plans.create_plan(w_session, staff.pharmacist, patient_id, data, clock=clock)
    return plans.verify_plan(
        w_session,
        staff.pharmacist2,
        plan.id,
        password=PASSWORD,
        expected_version=plan.version_id,
        clock=clock,
    )


def make_world(session: Session, staff: Staffing) -> World:
    plans.ensure_shipped_templates(session)
    templates = {t.code: t for t in plans.list_templates(session, staff.admin)}
    clinic.set_time_zone(session, staff.admin, "Europe/London")
    patient_id = _patient(session, staff.nurse)
    plan = _verified_plan(session, staff, templates, patient_id)
    ampoule = _product(session, staff.pharmacist)
    ampoule_lot = _lot(session, staff.nurse, ampoule, "H1", date(2027, 6, 30))
    vial_product = _product(
        session,
        staff.pharmacist,
        manufacturer="Actavis",
        brand="",
        container=Container.MULTI_DOSE_VIAL,
        volume_ml=Decimal(30),
        preservatives=frozenset({Preservative.METHYLPARABEN, Preservative.PROPYLPARABEN}),
    )
    vial_lot = _lot(session, staff.nurse, vial_product, "A1", date(2027, 3, 31))
    vial = inv.open_vial(session, staff.nurse, lot_id=vial_lot, clock=at(NOW - timedelta(days=2)))
    return World(
        session, staff, patient_id, plan.id, ampoule, ampoule_lot, vial_product, vial_lot, vial.id, templates
    )
