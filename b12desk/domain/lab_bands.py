"""Where a B12 result falls against a laboratory's decision thresholds (NICE NG239's by default).

Pure: the thresholds come in as data (resources/lab_bands.json, or the clinic's own laboratory's, kept in
the clinic settings), are checked here, and are compared in the test's canonical unit, whatever unit the
result or the thresholds were written in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from b12desk.domain.labs import LabTestDef


class Band(StrEnum):
    DEFICIENT = "deficient"
    INDETERMINATE = "indeterminate"
    NOT_DEFICIENT = "not_deficient"


BAND_LABELS = {
    Band.DEFICIENT: "Deficient",
    Band.INDETERMINATE: "Indeterminate",
    Band.NOT_DEFICIENT: "Not deficient",
}


class LabBandsError(ValueError):
    """Thresholds that cannot be used; the message names the test and the figure."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    test_code: str
    unit: str  # the unit the two figures are written in
    deficient_below: Decimal
    indeterminate_below: Decimal
    advice: str  # shown with an indeterminate result
    source: str
    factor: Decimal  # unit -> the test's canonical unit

    def band(self, canonical: Decimal) -> Band:
        if canonical < self.deficient_below * self.factor:
            return Band.DEFICIENT
        if canonical < self.indeterminate_below * self.factor:
            return Band.INDETERMINATE
        return Band.NOT_DEFICIENT

    def describe(self) -> str:
        return (
            f"deficient below {self.deficient_below} {self.unit}, indeterminate to "
            f"{self.indeterminate_below} {self.unit}"
        )


@dataclass(frozen=True, slots=True)
class LabBands:
    laboratory: str
    source: str
    tests: Mapping[str, Thresholds]

    def band(self, test_code: str, canonical: Decimal | None) -> tuple[Band, str] | None:
        """The band of a result in its canonical unit, and the advice that goes with it; None when the
        laboratory has no thresholds for the test or the result has no canonical value."""
        thresholds = self.tests.get(test_code)
        if thresholds is None or canonical is None:
            return None
        band = thresholds.band(canonical)
        return band, thresholds.advice if band == Band.INDETERMINATE else ""


def _figure(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    try:
        value = Decimal(str(raw[key]))
    except KeyError:
        raise LabBandsError(f"{where}: '{key}' is missing.") from None
    except InvalidOperation:
        raise LabBandsError(f"{where}: {key} '{raw[key]}' is not a number.") from None
    if not value.is_finite() or value <= 0:
        raise LabBandsError(f"{where}: {key} must be a positive number.")
    return value


def parse_lab_bands(raw: Mapping[str, Any], tests: Mapping[str, LabTestDef]) -> LabBands:
    """Build and check a laboratory's thresholds; every problem names the test and the figure."""
    laboratory = str(raw.get("laboratory", "")).strip()
    if not laboratory:
        raise LabBandsError("Name the laboratory the thresholds come from.")
    entries = raw.get("tests")
    if not isinstance(entries, Mapping):
        raise LabBandsError("The thresholds name no tests.")
    out: dict[str, Thresholds] = {}
    for code, entry in entries.items():
        test = tests.get(code)
        if test is None:
            raise LabBandsError(f"'{code}' is not a known laboratory test.")
        where = test.name
        if not isinstance(entry, Mapping):
            raise LabBandsError(f"{where}: the thresholds are not in the expected form.")
        unit = str(entry.get("unit", ""))
        factor = test.units.get(unit)
        if factor is None:
            known = ", ".join(u for u, f in test.units.items() if f is not None)
            raise LabBandsError(f"{where}: thresholds in '{unit}' cannot be compared; use {known}.")
        low = _figure(entry, "deficient_below", where)
        high = _figure(entry, "indeterminate_below", where)
        if not low < high:
            raise LabBandsError(
                f"{where}: the indeterminate range must end above where deficiency ends "
                f"({high} {unit} is not above {low} {unit})."
            )
        out[code] = Thresholds(
            code, unit, low, high, str(entry.get("advice", "")), str(entry.get("source", "")), factor
        )
    return LabBands(laboratory, str(raw.get("source", "")), out)
