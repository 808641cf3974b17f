"""Parse what a keyboard-wedge scanner types from a medicine pack's GS1 DataMatrix (or its printed form).

Accepts the raw form with GS (ASCII 29) separators, the human-readable "(01)...(17)..." form, a "]d2"
symbology prefix, and a final variable-length field without a separator. Refuses a wrong GTIN check
digit, an impossible expiry date or a truncated field, saying which.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date

GS = "\x1d"
# What some scanners or keyboard layouts send instead of GS; configurable by the caller.
DEFAULT_GS_SUBSTITUTES: tuple[str, ...] = ("<GS>", "{GS}", "^]", "\u241d")
SYMBOLOGY_PREFIXES = ("]d2", "]C1", "]Q3", "]e0", "]d1")

# Fixed-length AIs: (AI, data length). From the GS1 General Specifications, the predefined-length table.
_FIXED: dict[str, int] = {
    "00": 18,
    "01": 14,
    "02": 14,
    "03": 14,
    "04": 16,
    "11": 6,
    "12": 6,
    "13": 6,
    "14": 6,
    "15": 6,
    "16": 6,
    "17": 6,
    "18": 6,
    "19": 6,
    "20": 2,
    "31": 6,
    "32": 6,
    "33": 6,
    "34": 6,
    "35": 6,
    "36": 6,
    "41": 13,
}
# AI length (digits) for AIs with a fixed-length data field whose AI itself is longer than two digits.
_AI_DIGITS_BY_PREFIX: dict[str, int] = {
    "23": 3,
    "24": 3,
    "25": 3,
    "31": 4,
    "32": 4,
    "33": 4,
    "34": 4,
    "35": 4,
    "36": 4,
    "39": 4,
    "40": 3,
    "41": 3,
    "42": 3,
    "70": 4,
    "71": 3,
    "72": 4,
    "80": 4,
    "81": 4,
    "82": 4,
}
_VARIABLE_MAX: dict[str, int] = {
    "10": 20,
    "21": 20,
    "22": 20,
    "30": 8,
    "37": 8,
    "240": 30,
    "241": 30,
    "250": 30,
    "251": 30,
    "400": 30,
    "401": 30,
    "402": 17,
    "403": 30,
    "7003": 10,
    "710": 20,
    "711": 20,
    "712": 20,
    "713": 20,
    "714": 20,
}
_FIXED_LONG: dict[str, int] = {
    "410": 13,
    "411": 13,
    "412": 13,
    "413": 13,
    "414": 13,
    "415": 13,
    "416": 13,
    "417": 13,
    "7003": 10,
}
_HUMAN_READABLE = re.compile(r"\((\d{2,4})\)")


class Gs1Error(ValueError):
    """The scan cannot be trusted; the message says which field is wrong and why."""


@dataclass(frozen=True, slots=True)
class Gs1Data:
    gtin: str | None = None
    expiry: date | None = None
    expiry_text: str | None = None  # as printed, YYMMDD, for comparison by meaning
    lot: str | None = None
    serial: str | None = None
    other: dict[str, str] = field(default_factory=dict)

    @property
    def ndc_digits(self) -> str | None:
        """The US NDC carried inside a GTIN-14 that starts with 003 (digits only: the NDC's own
        hyphenation varies and NDCs are moving to 12 digits, so it is not split here)."""
        if self.gtin and self.gtin.startswith("003"):
            return self.gtin[3:13]
        return None


def gtin_check_digit(body: str) -> int:
    """Mod-10 check digit of a GTIN body (all digits but the last)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def valid_gtin(gtin: str) -> bool:
    return gtin.isdigit() and len(gtin) in (8, 12, 13, 14) and gtin_check_digit(gtin[:-1]) == int(gtin[-1])


def parse_expiry(text: str) -> date:
    """YYMMDD; DD=00 means the last day of the month. Medicine packs in use expire this century."""
    if len(text) != 6 or not text.isdigit():
        raise Gs1Error(f"Expiry (17) '{text}' must be 6 digits YYMMDD.")
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    year = 2000 + yy
    if not 1 <= mm <= 12:
        raise Gs1Error(f"Expiry (17) '{text}' has month {mm:02d}, which does not exist.")
    last = calendar.monthrange(year, mm)[1]
    if dd == 0:
        dd = last
    if dd > last:
        raise Gs1Error(f"Expiry (17) '{text}' is day {dd} of a month with {last} days.")
    return date(year, mm, dd)


def _ai_at(data: str, i: int) -> str:
    two = data[i : i + 2]
    if len(two) < 2 or not two.isdigit():
        raise Gs1Error(f"Expected an application identifier at position {i + 1}, found '{data[i : i + 4]}'.")
    if two in _FIXED or two in ("10", "21", "22", "30", "37"):
        return two
    digits = _AI_DIGITS_BY_PREFIX.get(two, 2)
    if two == "90" or two[0] == "9":
        return two  # company internal, variable length
    ai = data[i : i + digits]
    if len(ai) < digits or not ai.isdigit():
        raise Gs1Error(f"Application identifier at position {i + 1} is cut short.")
    return ai


def _fixed_length(ai: str) -> int | None:
    if ai in _FIXED_LONG:
        return _FIXED_LONG[ai]
    if len(ai) == 2 and ai in _FIXED:
        return _FIXED[ai]
    if len(ai) == 4 and ai[:2] in ("31", "32", "33", "34", "35", "36"):
        return 6
    return None


def _split_raw(data: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    i = 0
    while i < len(data):
        if data[i] == GS:
            i += 1
            continue
        ai = _ai_at(data, i)
        i += len(ai)
        length = _fixed_length(ai)
        if length is not None:
            value = data[i : i + length]
            if len(value) < length or GS in value:
                got = len(value.split(GS)[0])
                raise Gs1Error(f"({ai}) is cut short: it needs {length} characters, the scan has {got}.")
            i += length
        else:
            end = data.find(GS, i)
            end = len(data) if end < 0 else end
            value = data[i:end]
            i = end
        fields.append((ai, value))
    return fields


def _split_human(data: str) -> list[tuple[str, str]]:
    parts = _HUMAN_READABLE.split(data)
    if parts[0].strip():
        raise Gs1Error(f"Text before the first (AI): '{parts[0][:10]}'.")
    return [(parts[k], parts[k + 1].strip()) for k in range(1, len(parts), 2)]


def parse_gs1(scan: str, *, gs_substitutes: tuple[str, ...] = DEFAULT_GS_SUBSTITUTES) -> Gs1Data:
    """Parse one scan; raise Gs1Error with a reason a pharmacist can act on."""
    data = scan.strip("\r\n\t ")
    for prefix in SYMBOLOGY_PREFIXES:
        if data.startswith(prefix):
            data = data[len(prefix) :]
            break
    for sub in gs_substitutes:
        data = data.replace(sub, GS)
    data = data.lstrip(GS)  # a leading FNC1 may arrive as GS
    if not data:
        raise Gs1Error("The scan is empty.")
    fields = _split_human(data.replace(GS, "")) if data.startswith("(") else _split_raw(data)
    if not fields:
        raise Gs1Error("No GS1 fields found in the scan.")
    gtin = expiry = lot = serial = expiry_text = None
    other: dict[str, str] = {}
    for ai, value in fields:
        if ai in _FIXED or _fixed_length(ai) is not None:
            needed = _fixed_length(ai)
            if needed is not None and len(value) != needed:
                raise Gs1Error(f"({ai}) must have {needed} characters, the scan has {len(value)}.")
        elif ai in _VARIABLE_MAX and not 1 <= len(value) <= _VARIABLE_MAX[ai]:
            raise Gs1Error(
                f"({ai}) must have 1 to {_VARIABLE_MAX[ai]} characters, the scan has {len(value)}."
            )
        if ai == "01":
            if not value.isdigit():
                raise Gs1Error(f"GTIN (01) '{value}' must be 14 digits.")
            if gtin_check_digit(value[:-1]) != int(value[-1]):
                expected = gtin_check_digit(value[:-1])
                raise Gs1Error(
                    f"GTIN (01) {value} has check digit {value[-1]}, expected {expected}: "
                    "the scan is misread or the code is damaged."
                )
            gtin = value
        elif ai == "17":
            expiry = parse_expiry(value)
            expiry_text = value
        elif ai == "10":
            lot = value
        elif ai == "21":
            serial = value
        else:
            other[ai] = value
    return Gs1Data(gtin=gtin, expiry=expiry, expiry_text=expiry_text, lot=lot, serial=serial, other=other)


def looks_like_gs1(text: str) -> bool:
    """Cheap test used by dialogs to tell a scan from typing: starts like a GS1 element string."""
    t = text.strip()
    for prefix in SYMBOLOGY_PREFIXES:
        if t.startswith(prefix):
            return True
    return t.startswith(("01", "(01)", GS + "01")) and len(t) >= 16
