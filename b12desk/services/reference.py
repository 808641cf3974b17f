"""Reference data the screens show (laboratory tests, the seed formulary): read through the services, so
the GUI depends on nothing below them but the database handle."""

from __future__ import annotations

from typing import Any

from b12desk.data.reference import ReferenceDataError, formulary, lab_tests

__all__ = ["ReferenceDataError", "lab_tests", "seed_formulary_entries"]


def seed_formulary_entries() -> list[dict[str, Any]]:
    """The shipped seed formulary as product values; ReferenceDataError if a pharmacist's edit broke it."""
    return [entry.product_values() for entry in formulary()]
