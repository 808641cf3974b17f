"""Reference data shipped in resources/ (lab tests, later the seed formulary and regimen templates)."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from b12desk.domain.labs import LabTestDef


def read_resource_text(name: str) -> str:
    return (resources.files("b12desk.resources") / name).read_text(encoding="utf-8")


def read_resource_json(name: str) -> Any:
    return json.loads(read_resource_text(name))


@cache
def lab_tests() -> dict[str, LabTestDef]:
    out: dict[str, LabTestDef] = {}
    for t in read_resource_json("lab_tests.json")["tests"]:
        plausible = t.get("plausible")
        out[t["code"]] = LabTestDef(
            code=t["code"],
            name=t["name"],
            canonical_unit=t["canonical_unit"],
            units={u: (None if f is None else Decimal(str(f))) for u, f in t["units"].items()},
            plausible=(Decimal(str(plausible[0])), Decimal(str(plausible[1]))) if plausible else None,
            qualitative=tuple(t.get("qualitative", ())),
            source=t["source"],
        )
    return out
