"""Stock rules: beyond-use dates of opened vials, which container to draw from, expiry urgency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum

from b12desk.domain.enums import Container, Formulation, Preservative

DEFAULT_MULTI_DOSE_BEYOND_USE_DAYS = 28  # USP <797>; 16 CCR 1751.9 (clinical-facts 5)
EXPIRY_ALERT_DAYS: tuple[int, ...] = (30, 60, 90)
DEFICIENCY_FORMULATIONS = frozenset({Formulation.CYANOCOBALAMIN, Formulation.HYDROXOCOBALAMIN})


class WasteReason(StrEnum):
    EXPIRED = "expired"
    PAST_DISCARD_BY = "past_discard_by"
    CONTAMINATED = "contaminated"
    DROPPED_OR_BROKEN = "dropped_or_broken"
    DRAWN_NOT_GIVEN = "drawn_not_given"
    EMPTY = "empty"
    OTHER = "other"


WASTE_REASON_LABELS: dict[WasteReason, str] = {
    WasteReason.EXPIRED: "Expired",
    WasteReason.PAST_DISCARD_BY: "Past discard-by date",
    WasteReason.CONTAMINATED: "Contaminated or suspected",
    WasteReason.DROPPED_OR_BROKEN: "Dropped or broken",
    WasteReason.DRAWN_NOT_GIVEN: "Drawn but not given",
    WasteReason.EMPTY: "Empty",
    WasteReason.OTHER: "Other",
}

CONTAINER_LABELS: dict[Container, str] = {
    Container.AMPOULE: "Ampoule",
    Container.SINGLE_DOSE_VIAL: "Single-dose vial",
    Container.MULTI_DOSE_VIAL: "Multi-dose vial",
}


def end_of_day(d: date, zone: tzinfo = UTC) -> datetime:
    """A lot is usable through its expiry date: the last moment of that day in the clinic's zone."""
    return datetime.combine(d, time.max, tzinfo=zone)


def is_expired(expiry: date, moment: datetime, zone: tzinfo) -> bool:
    """Past the end of the expiry day, clinic time."""
    return moment > end_of_day(expiry, zone)


def discard_by(opened_at: datetime, beyond_use_days: int, lot_expiry: date, zone: tzinfo = UTC) -> datetime:
    """Opened + the product's beyond-use days, never later than the end of the lot's expiry day."""
    if beyond_use_days < 0:
        raise ValueError("beyond-use days cannot be negative")
    return min(opened_at + timedelta(days=beyond_use_days), end_of_day(lot_expiry, zone))


def preservatives_from_text(text: str | None) -> frozenset[Preservative] | None:
    """The stored form ("benzyl_alcohol,methylparaben"; "" none; NULL not confirmed) as a set, or None."""
    if text is None:
        return None
    return frozenset(Preservative(code) for code in text.split(",") if code)


def preservatives_to_text(values: frozenset[Preservative] | None) -> str | None:
    if values is None:
        return None
    return ",".join(sorted(v.value for v in values))


def is_multi_use(container: Container) -> bool:
    """Ampoules and single-dose vials are one patient, one use; only multi-dose vials are kept open."""
    return container == Container.MULTI_DOSE_VIAL


def expiry_band(expiry: date, today: date, bands: Sequence[int] = EXPIRY_ALERT_DAYS) -> int | None:
    """0 if expired, else the smallest band (days) the expiry falls within, else None."""
    days = (expiry - today).days
    if days < 0:
        return 0
    for band in sorted(bands):
        if days <= band:
            return band
    return None


@dataclass(frozen=True, slots=True)
class OpenVialOption:
    vial_id: int
    lot_id: int
    discard_by: datetime
    lot_expiry: date
    remaining_ml: Decimal


@dataclass(frozen=True, slots=True)
class LotOption:
    lot_id: int
    expiry: date
    quantity: int


@dataclass(frozen=True, slots=True)
class StockChoice:
    vial_id: int | None
    lot_id: int
    why: str


def choose_stock(
    vials: Sequence[OpenVialOption],
    lots: Sequence[LotOption],
    volume_ml: Decimal,
    now: datetime,
    zone: tzinfo = UTC,
) -> StockChoice | None:
    """The open vial that must be discarded first, then the sealed lot that expires first (FEFO);
    expired lots and vials past discard-by are never offered."""
    usable_vials = [
        v
        for v in vials
        if v.discard_by > now and not is_expired(v.lot_expiry, now, zone) and v.remaining_ml >= volume_ml
    ]
    if usable_vials:
        v = min(usable_vials, key=lambda v: (v.discard_by, v.vial_id))
        return StockChoice(v.vial_id, v.lot_id, "open vial with the earliest discard-by date")
    usable_lots = [lot for lot in lots if not is_expired(lot.expiry, now, zone) and lot.quantity > 0]
    if usable_lots:
        lot = min(usable_lots, key=lambda lot: (lot.expiry, lot.lot_id))
        return StockChoice(None, lot.lot_id, "sealed stock from the lot that expires first")
    return None
